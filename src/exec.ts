/**
 * Every external command goes through here: fixed locale, stdin closed unless
 * given, output appended to the stage's log file, and one place that turns a
 * failure into a message with the log's last lines.
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { access, constants, rename, rm } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { type ChildProcess, spawn } from "node:child_process";
import type { execa as Execa } from "execa";
import { CommandError, MissingToolError } from "./errors.js";
import { memoByStat } from "./stat-memo.js";

export class StageLog {
  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }

  /** Start a fresh log for a new run of the stage. */
  reset(): this {
    writeFileSync(this.file, "");
    return this;
  }

  write(text: string): void {
    appendFileSync(this.file, text.endsWith("\n") ? text : `${text}\n`);
  }

  tail(lines = 20): string[] {
    let text = "";
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    return text.trimEnd().split("\n").slice(-lines);
  }
}

export interface RunOptions {
  log: StageLog;
  cwd?: string;
  env?: Record<string, string>;
  input?: string;
  /** Short description for the error message, e.g. "olddefconfig". */
  what?: string;
  hint?: string;
  signal?: AbortSignal;
  /** Called with every line of output (stdout and stderr), e.g. to count progress. */
  onLine?: (line: string) => void;
}

export interface RunResult {
  stdout: string;
  exitCode: number;
}

export const FIXED_ENV = { LC_ALL: "C", LANG: "C" } as const;

// execa is loaded when the first command runs: a no-op build runs none and starts faster.
let execaLoaded: Promise<typeof Execa> | undefined;
const loadExeca = (): Promise<typeof Execa> => (execaLoaded ??= import("execa").then((m) => m.execa));

export async function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const { log } = opts;
  log.write(`$ ${[cmd, ...args].map(shellQuote).join(" ")}${opts.cwd ? `    (in ${opts.cwd})` : ""}`);
  const execa = await loadExeca();
  const child = execa(cmd, args, {
    cwd: opts.cwd,
    env: { ...FIXED_ENV, ...opts.env },
    input: opts.input,
    stdin: opts.input === undefined ? "ignore" : "pipe",
    all: true,
    reject: false,
    cancelSignal: opts.signal,
    stripFinalNewline: false,
  });
  let partial = "";
  child.all?.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    log.write(text);
    if (!opts.onLine) return;
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) opts.onLine(l);
  });
  const result = await child;
  if (result.failed) {
    const reason = result.isCanceled
      ? "was interrupted"
      : result.code === "ENOENT"
        ? "could not be started (not installed?)"
        : `exited with code ${String(result.exitCode)}`;
    log.write(`# ${cmd} ${reason}`);
    throw new CommandError(`${opts.what ?? cmd} failed: ${cmd} ${reason}`, {
      tail: log.tail(),
      logFile: log.file,
      hint: opts.hint ?? `the full output is in ${log.file}`,
    });
  }
  return { stdout: typeof result.stdout === "string" ? result.stdout : "", exitCode: result.exitCode ?? 0 };
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

export async function findOnPath(tool: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, tool);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Check a prerequisite before any work starts, naming the package that provides it. */
export async function requireTool(tool: string, aptPackage: string, why: string): Promise<string> {
  const found = await findOnPath(tool);
  if (!found) throw new MissingToolError(tool, aptPackage, why);
  return found;
}

const versions = new Map<string, Promise<string>>();

/**
 * The first line a tool prints about its version ("missing" when it cannot be
 * started): an input of stages. Asked once per binary and remembered by the
 * binary's identity, so a no-op build starts no compiler.
 */
export async function toolVersion(cmd: string, args: string[] = ["--version"]): Promise<string> {
  const key = `${cmd} ${args.join(" ")}`;
  let v = versions.get(key);
  if (!v) {
    v = (async () => {
      const found = cmd.includes("/") ? cmd : await findOnPath(cmd);
      if (!found) return "missing";
      return memoByStat(`version ${args.join(" ")}`, found, () => askVersion(cmd, args));
    })();
    versions.set(key, v);
  }
  return v;
}

async function askVersion(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await (await loadExeca())(cmd, args, { reject: false, stdin: "ignore", env: FIXED_ENV });
    if (r.failed && r.exitCode === undefined) return "missing";
    return `${String(r.stdout)}${String(r.stderr)}`.split("\n")[0]?.trim() ?? "unknown";
  } catch {
    return "missing";
  }
}

/** Run a filter (gzip, lzma, xz) with its standard output going to `output`, via a temporary file. */
export async function runToFile(cmd: string, args: readonly string[], output: string, opts: Omit<RunOptions, "input">): Promise<void> {
  const { log } = opts;
  const tmp = `${output}.tmp-${process.pid}`;
  log.write(`$ ${[cmd, ...args].map(shellQuote).join(" ")} > ${output}`);
  const r = await (await loadExeca())(cmd, args, { env: { ...FIXED_ENV, ...opts.env }, stdin: "ignore", stdout: { file: tmp }, reject: false, cancelSignal: opts.signal });
  if (r.failed) {
    await rm(tmp, { force: true });
    log.write(String(r.stderr));
    throw new CommandError(`${opts.what ?? cmd} failed: ${cmd} ${r.isCanceled ? "was interrupted" : `exited with code ${String(r.exitCode)}`}`, { tail: log.tail(), logFile: log.file, hint: opts.hint });
  }
  await rename(tmp, output);
}

export interface Captured {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  /** the command is not installed */
  missing: boolean;
  timedOut: boolean;
}

/**
 * Run a command whose exit code says little (lxc-checkconfig, mkimage -l):
 * never throws for the command's own failure; the caller reads its output.
 */
export async function capture(cmd: string, args: readonly string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Captured> {
  const r = await (await loadExeca())(cmd, args, { env: { ...FIXED_ENV, ...opts.env }, reject: false, stdin: "ignore", timeout: opts.timeoutMs });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode, missing: r.code === "ENOENT", timedOut: r.timedOut || r.isTerminated };
}

/** Start a long-running program in its own process group (QEMU), stderr piped, outliving kiln when unref'd. */
export function spawnDetached(cmd: string, args: readonly string[]): ChildProcess {
  return spawn(cmd, args, { detached: true, stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * A server of the build machine's (iperf3 -s) for as long as the caller needs
 * it: its output goes to the log, stop() ends it and waits for it.
 */
export async function startServer(cmd: string, args: readonly string[], log: StageLog): Promise<{ stop(): Promise<void>; exited(): boolean }> {
  log.write(`$ ${[cmd, ...args].map(shellQuote).join(" ")} &`);
  const controller = new AbortController();
  let done = false;
  const p = (await loadExeca())(cmd, args, { env: { ...FIXED_ENV }, stdin: "ignore", reject: false, all: true, cancelSignal: controller.signal }).then((r) => {
    done = true;
    log.write(`${String(r.all ?? "")}\n# ${cmd} ended${r.isCanceled ? " (stopped by kiln)" : `, exit ${String(r.exitCode)}`}`);
  });
  return {
    exited: () => done,
    async stop() {
      controller.abort();
      await p;
    },
  };
}
