/**
 * kiln deploy's engine: a live board gets the files and packages of the root a
 * kiln build would give it. `planDeploy` compares what is wanted with what the
 * board has (a pure function); `applyDeploy` changes only the differences, so a
 * second run finds nothing to do.
 */
import { posix } from "node:path";
import { KilnError } from "../errors.js";
import { renderTemplates, type RenderedFile, type TemplateContext } from "../rootfs/templates.js";
import type { BoardFiles, BoardStat } from "./files.js";
import type { Remote } from "./ssh.js";

/** What the board has at a path: absent (undefined), or its kind, mode and, when it may be equal, its bytes. */
export type BoardFile = BoardStat & { content?: Buffer };

export type FileAction = "create" | "update" | "chmod" | "unchanged";

export interface FileStep {
  /** Inside the root, e.g. etc/fstab. */
  path: string;
  action: FileAction;
  why: string;
  content: string;
  mode: number;
}

export type PackageState = { kind: "apt"; installed: ReadonlySet<string> } | { kind: "skipped"; why: string };
export type PackagePlan = { kind: "apt"; install: string[]; present: string[] } | { kind: "skipped"; why: string; wanted: string[] };

export interface DeployPlan {
  files: FileStep[];
  packages: PackagePlan;
  /** Things in the way that kiln will not overwrite (a directory where a file goes). */
  problems: string[];
}

const octal = (mode: number) => `0${mode.toString(8)}`;

function fileStep(want: RenderedFile, have: BoardFile | undefined): Omit<FileStep, "content" | "mode"> {
  const path = want.path;
  if (have === undefined) return { path, action: "create", why: "new" };
  if (have.kind === "symlink") return { path, action: "update", why: "a symlink: replaced by the file" };
  if (have.kind === "other") return { path, action: "update", why: "not a regular file: replaced" };
  const same = have.size === Buffer.byteLength(want.content) && have.content !== undefined && have.content.equals(Buffer.from(want.content));
  if (!same) return { path, action: "update", why: "content differs" };
  if (have.mode !== want.mode) return { path, action: "chmod", why: `mode ${octal(have.mode)}, want ${octal(want.mode)}` };
  return { path, action: "unchanged", why: "same content and mode" };
}

export function planDeploy(wanted: readonly RenderedFile[], current: ReadonlyMap<string, BoardFile>, packages: readonly string[], state: PackageState): DeployPlan {
  const problems: string[] = [];
  const files: FileStep[] = [];
  for (const want of wanted) {
    const have = current.get(want.path);
    if (have?.kind === "dir") {
      problems.push(`/${want.path} is a directory on the board; kiln writes a file there and will not remove a directory`);
      continue;
    }
    files.push({ ...fileStep(want, have), content: want.content, mode: want.mode });
  }
  const unique = [...new Set(packages)];
  const plan: PackagePlan =
    state.kind === "apt"
      ? { kind: "apt", install: unique.filter((p) => !state.installed.has(p)), present: unique.filter((p) => state.installed.has(p)) }
      : { kind: "skipped", why: state.why, wanted: unique };
  return { files, packages: plan, problems };
}

export function writes(plan: DeployPlan): FileStep[] {
  return plan.files.filter((f) => f.action === "create" || f.action === "update");
}

export function changes(plan: DeployPlan): { files: number; packages: number } {
  return { files: plan.files.filter((f) => f.action !== "unchanged").length, packages: plan.packages.kind === "apt" ? plan.packages.install.length : 0 };
}

export const NETWORK_FILE = "etc/network/interfaces" as const;

/** What a system needs to boot and be reached: kiln rewrites these only on a root it built. */
export const BOOT_FILES = ["init", "etc/inittab", "etc/fstab", "etc/hostname", "etc/hosts", NETWORK_FILE] as const;

/**
 * Files of the image that a live system keeps as they are: path -> why.
 * `kilnRoot`: the board runs a root kiln built (its /init is kiln's). On any
 * other system kiln's /init, busybox inittab, fstab and network files would
 * leave it unbootable or unreachable after the next reboot, so only the
 * container files are deployed there.
 */
export function liveSkips(ctx: TemplateContext, kilnRoot = true): Map<string, string> {
  const skips = new Map<string, string>();
  if (!kilnRoot) for (const f of BOOT_FILES) skips.set(f, "the board's own boot and network setup (not a kiln root): left alone");
  // The template only says so; writing it over a live resolv.conf would cut name resolution until the next lease.
  if (ctx.network.dhcp) skips.set("etc/resolv.conf", "its DHCP client writes it");
  return skips;
}

/** The rootfs templates, rendered for this board as the rootfs stage renders them, minus what a live system keeps. */
export async function deployFiles(ctx: TemplateContext, kilnRoot = true): Promise<{ files: RenderedFile[]; skipped: { path: string; why: string }[] }> {
  const skips = liveSkips(ctx, kilnRoot);
  const all = await renderTemplates(ctx);
  return {
    files: all.filter((f) => !skips.has(f.path)),
    skipped: [...skips].map(([path, why]) => ({ path, why })),
  };
}

/** Where a file of the root lives on the board: under $KILN_BOARD_ROOT on a stand-in board, else at /path. */
export const onBoard = (root: string, path: string) => `${root}/${path}`;

export async function readFiles(files: BoardFiles, root: string, wanted: readonly RenderedFile[]): Promise<Map<string, BoardFile>> {
  const current = new Map<string, BoardFile>();
  for (const want of wanted) {
    const path = onBoard(root, want.path);
    const stat = await files.lstat(path);
    if (!stat) continue;
    // Bytes are read only when they may be equal: a different size already says "differs".
    const content = stat.kind === "file" && stat.size === Buffer.byteLength(want.content) ? await files.read(path) : undefined;
    current.set(want.path, { ...stat, content });
  }
  return current;
}

export async function packageState(remote: Remote, packages: readonly string[]): Promise<PackageState> {
  const apt = await remote.execScript("command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1");
  if (apt.code !== 0) return { kind: "skipped", why: "the board has no apt-get" };
  // Exit 1 only means some package is unknown to dpkg, i.e. not installed.
  const r = await remote.exec(["dpkg-query", "-W", "-f", "${Package}\\t${db:Status-Status}\\n", ...packages]);
  const installed = new Set<string>();
  for (const line of r.stdout.split("\n")) {
    const [name, status] = line.split("\t");
    if (name && status?.trim() === "installed") installed.add(name);
  }
  return { kind: "apt", installed };
}

async function aptGet(remote: Remote, args: readonly string[]): Promise<void> {
  const r = await remote.exec(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", ...args], { timeoutMs: 1_800_000 });
  if (r.code !== 0) {
    throw new KilnError(`apt-get ${args[0] ?? ""} exited ${r.code} on ${remote.target.host}`, {
      tail: `${r.stdout}${r.stderr}`.trim().split("\n").slice(-10),
      hint: "no file was written yet; fix the board's apt sources (or pass --no-packages) and run again",
    });
  }
}

/**
 * Packages first, so a package's own copy of a file kiln writes (lxc's
 * default.conf) is replaced; --force-confold keeps a kiln file that is already
 * there. Each file goes to a temporary name and is renamed over the old one: a
 * reader sees the old file or the whole new one.
 */
export async function applyDeploy(remote: Remote, files: BoardFiles, root: string, plan: DeployPlan, step: (s: string) => void): Promise<void> {
  if (plan.problems.length > 0) throw new KilnError(`cannot deploy to ${remote.target.host}: ${plan.problems.join("; ")}`, { hint: "nothing was changed" });
  if (plan.packages.kind === "apt" && plan.packages.install.length > 0) {
    step("apt-get update");
    await aptGet(remote, ["update"]);
    step(`apt-get install ${plan.packages.install.join(" ")}`);
    await aptGet(remote, ["install", "-y", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", ...plan.packages.install]);
  }
  const toWrite = writes(plan);
  const dirs = [...new Set(toWrite.map((f) => posix.dirname(onBoard(root, f.path))))];
  if (dirs.length > 0) {
    const r = await remote.exec(["mkdir", "-p", ...dirs]);
    if (r.code !== 0) throw new KilnError(`cannot make ${dirs.join(", ")} on ${remote.target.host}: ${r.stderr.trim()}`);
  }
  for (const f of toWrite) {
    const dest = onBoard(root, f.path);
    const tmp = `${posix.dirname(dest)}/.${posix.basename(dest)}.kiln-new`;
    step(`writing /${f.path}`);
    await files.write(tmp, f.content, f.mode);
    const mv = await remote.exec(["mv", "-f", tmp, dest]);
    if (mv.code !== 0) throw new KilnError(`cannot rename ${tmp} to ${dest} on ${remote.target.host}: ${mv.stderr.trim()}`);
  }
  for (const f of plan.files.filter((x) => x.action === "chmod")) {
    step(`chmod ${octal(f.mode)} /${f.path}`);
    await files.chmod(onBoard(root, f.path), f.mode);
  }
}
