/**
 * Every path a user gives is resolved once, here, against the directory kiln
 * was started in: stages only ever see absolute paths (make runs inside the
 * kernel tree, where a relative O= would land somewhere else entirely).
 */
import { statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";

/** Option (commander's camelCase key) -> how its value names a file. */
export const PATH_OPTIONS: Record<string, "path" | "name-or-path"> = {
  out: "path",
  kernelSrc: "path",
  image: "path",
  ramdisk: "path",
  baseRamdisk: "path",
  inventory: "path",
  identity: "path",
  authorizedKey: "path",
  rootPasswordFile: "path",
  sshConfig: "path",
  file: "path",
  config: "path",
  manifest: "path",
  fragment: "name-or-path",
  profile: "name-or-path",
  unit: "name-or-path",
};

/**
 * A "name-or-path" value is a path when it looks like one (has a slash, or
 * names an existing file here, not a directory: `--profile bench` in the
 * checkout, which has a bench/ folder, is the profile); otherwise it stays a
 * name (a fragment in kconfig/, a profile in rootfs/profiles/, a probed unit's host).
 */
export function resolveUserPath(value: string, kind: "path" | "name-or-path", cwd: string): string {
  // "-" is standard input, not a file named "-".
  if (value === "" || value === "-" || isAbsolute(value)) return value;
  if (value.startsWith("~/")) return resolve(process.env.HOME ?? "/", value.slice(2));
  if (kind === "name-or-path" && !value.includes("/") && !isFile(resolve(cwd, value))) return value;
  return resolve(cwd, value);
}

const isFile = (p: string): boolean => {
  try {
    return statSync(p, { throwIfNoEntry: false })?.isFile() === true;
  } catch {
    // unreadable (EACCES, a symlink loop): not a file kiln could read, so a name
    return false;
  }
};

export function resolvePathOptions(opts: Record<string, unknown>, cwd: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(PATH_OPTIONS)) {
    const v = opts[key];
    if (typeof v === "string") out[key] = resolveUserPath(v, kind, cwd);
    else if (Array.isArray(v)) out[key] = v.map((x) => (typeof x === "string" ? resolveUserPath(x, kind, cwd) : x));
  }
  return out;
}
