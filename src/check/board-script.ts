/**
 * Shell scripts kiln runs on a board (`sh -s`), put together from files under
 * src/: shared functions first (lxc-busybox.sh), then the script itself.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { projectRoot } from "../paths.js";

/** The script at src/<path>, after the shell functions every board script may call. */
export async function boardScript(path: string): Promise<string> {
  const parts = await Promise.all(["check/lxc-busybox.sh", path].map((p) => readFile(join(projectRoot, "src", p), "utf8")));
  return parts.join("\n");
}
