/**
 * A rootfs profile is data: rootfs/profiles/<name>.yaml says which packages go
 * in and what is stripped. Validated here, with the path of every bad field.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { suggest } from "../board/load.js";
import { loadDataFile } from "../data-file.js";
import { InputError } from "../errors.js";
import { dataDir } from "../paths.js";
import type { Profile } from "./profile-schema.js";

export type { Profile };

export async function listProfiles(root = join(dataDir("rootfs"), "profiles")): Promise<string[]> {
  return (await readdir(root).catch(() => [] as string[]))
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** A name from rootfs/profiles/, or a path to a .yaml file of one's own. */
export async function loadProfile(nameOrFile: string, root = join(dataDir("rootfs"), "profiles")): Promise<Profile> {
  const isPath = nameOrFile.includes("/") || nameOrFile.endsWith(".yaml");
  const file = isPath ? nameOrFile : join(root, `${nameOrFile}.yaml`);
  if (!existsSync(file)) {
    const names = await listProfiles(root);
    const near = isPath ? undefined : suggest(nameOrFile, names);
    throw new InputError(
      `unknown rootfs profile "${nameOrFile}"${near ? ` (did you mean "${near}"?)` : ""}`,
      `profiles are files in ${root}: ${names.join(", ") || "(none)"}; or give a path to a .yaml file`,
    );
  }
  return loadDataFile(file, "rootfs/profile-schema.js", async (f) => (await import("./profile-schema.js")).parseProfile(await readFile(f, "utf8"), f));
}

