/**
 * Many boards at once, for every command that changes boards (flash, deploy):
 * the boards from --host and --inventory, one listr2 run with a concurrency
 * limit in which one board failing does not stop the others, a summary table,
 * and one error naming every board that failed.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Listr } from "listr2";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { InputError, KilnError } from "../errors.js";
import { StageLog } from "../exec.js";
import { interruptRequested } from "../interrupt.js";
import type { SshTarget } from "./ssh.js";
import { sshTargetFor } from "./ssh-config.js";

export interface FleetOptions {
  host: string[] | string;
  inventory?: string;
  /** groups or hosts of an Ansible inventory */
  limit?: string;
  port?: string;
  user?: string;
  identity?: string;
  acceptNewHostKey: boolean;
  /** ssh -F: the ssh configuration instead of ~/.ssh/config */
  sshConfig?: string;
  parallel: string;
  json: boolean;
  canary?: string;
  maxFailures?: string;
}

const InventorySchema = z.array(
  z.union([
    z.string(),
    z.object({ host: z.string(), port: z.number().int().optional(), user: z.string().optional(), identity: z.string().optional() }).strict(),
  ]),
);

/** A board as a source names it: what is not given comes from the ssh configuration or kiln's defaults. */
interface BoardSpec {
  host: string;
  port?: number | undefined;
  user?: string | undefined;
  identity?: string | undefined;
}

/** `verb` completes "no board to ...", e.g. "flash". */
export async function targetsFrom(opts: Omit<FleetOptions, "parallel" | "json">, verb: string): Promise<SshTarget[]> {
  // Commander hands over a plain string unless the option is declared variadic.
  const specs: BoardSpec[] = [opts.host].flat().map((h) => parseHostSpec(h));
  if (opts.inventory) {
    const text = await readFile(opts.inventory, "utf8");
    let yaml: unknown;
    try {
      yaml = parseYaml(text);
    } catch {
      yaml = undefined; // INI: Ansible's
    }
    if (!Array.isArray(yaml)) {
      // Not kiln's list: Ansible's own formats, through Ansible's own reader.
      const { ansibleHosts, readAnsibleInventory } = await import("./ansible.js");
      for (const h of ansibleHosts(await readAnsibleInventory(opts.inventory), opts.limit)) {
        specs.push({ host: h.host, port: h.port, user: h.user, identity: h.identity ? resolve(h.identity) : undefined });
      }
    }
    if (opts.limit !== undefined && Array.isArray(yaml)) throw new InputError("--limit selects groups of an Ansible inventory", `${opts.inventory} is a kiln inventory (a plain list): leave --limit out, or list only the boards you want`);
    const parsed = InventorySchema.safeParse(Array.isArray(yaml) ? yaml : []);
    if (!parsed.success) throw new InputError(`${opts.inventory}: not a list of hosts: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    // A key named in the inventory is relative to where kiln was started, like every path given to kiln.
    for (const e of parsed.data) {
      if (typeof e === "string") specs.push(parseHostSpec(e));
      else if (!isHostName(e.host)) throw new InputError(`${opts.inventory}: host ${JSON.stringify(e.host)} is not a host name or address`, "give a name or an address; the port goes in port:");
      else specs.push({ ...e, identity: e.identity ? resolve(e.identity) : undefined });
    }
  }
  if (specs.length === 0) throw new InputError(`no board to ${verb}`, "pass --host H (repeatable) or --inventory FILE");
  for (const t of specs) {
    if (t.port !== undefined && (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535)) throw new InputError(`${t.host}: port ${t.port} is not a TCP port`);
  }
  // Each board as ssh would reach it: the entry's own settings, then the command line's, then the ssh configuration.
  return Promise.all(
    specs.map((t) =>
      sshTargetFor({ host: t.host, port: t.port }, { ...opts, user: t.user ?? opts.user, identity: t.identity ?? opts.identity }),
    ),
  );
}

/** The host also names the board's log file and goes to ssh -G: no paths, spaces or options. */
function isHostName(host: string): boolean {
  return host !== "" && !/[\s/\\]/.test(host) && !host.startsWith("-") && !host.includes("..");
}

/**
 * A board as written on the command line: `host`, `host:port`, `[v6]:port`,
 * `[v6]`, or a bare IPv6 address (more than one colon: no port in it).
 */
export function parseHostSpec(spec: string): { host: string; port?: number } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  const hostPort = /^([^:]+):(\d+)$/.exec(spec);
  // More than one colon outside brackets: a bare IPv6 address, which has no port.
  const [host, port] = bracket ? [bracket[1] ?? "", bracket[2]] : hostPort ? [hostPort[1] ?? "", hostPort[2]] : [spec, undefined];
  const oneColonNoPort = !bracket && !hostPort && spec.split(":").length === 2;
  if (oneColonNoPort || !isHostName(host)) {
    throw new InputError(`--host ${JSON.stringify(spec)} is not a host name or address`, "give a name or an address, with :PORT if not 22 ([ADDR]:PORT for IPv6)");
  }
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw new InputError(`--host ${JSON.stringify(spec)}: port ${port} is not 1-65535`, "give the board's SSH port");
  }
  return { host, ...(port !== undefined ? { port: Number(port) } : {}) };
}

/**
 * The same board twice (a name and an address, `h` and `h:22`, in --host and
 * in the inventory) would get two uploads, two flashcfg runs on one partition
 * and a reboot while the other writes: refused before anything is written.
 * First by address, then by the host key each board shows (boards that do not
 * answer are left to fail on their own).
 */
export async function refuseDuplicateBoards(targets: readonly SshTarget[], keyOf: (t: SshTarget) => Promise<string | undefined>): Promise<void> {
  const label = (t: SshTarget) => (t.port === 22 ? t.host : `${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`);
  const groups = (key: (t: SshTarget) => string | undefined) => {
    const by = new Map<string, SshTarget[]>();
    for (const t of targets) {
      const k = key(t);
      if (k !== undefined) by.set(k, [...(by.get(k) ?? []), t]);
    }
    return [...by.entries()].filter(([, ts]) => ts.length > 1);
  };
  // Behind different jump hosts, one address can be two boards.
  const route = (t: SshTarget): string => `${t.via ? `${route(t.via)}>` : ""}${t.host.toLowerCase()}:${t.port}`;
  const same = groups(route);
  if (same.length > 0) {
    throw new InputError(`the same board is given more than once: ${same.map(([, ts]) => ts.map(label).join(" and ")).join("; ")}`, "give each board once (--host and the inventory together); nothing was written");
  }
  if (targets.length < 2) return;
  const keys = new Map<SshTarget, string | undefined>();
  await Promise.all(targets.map(async (t) => keys.set(t, await keyOf(t))));
  const twice = groups((t) => keys.get(t));
  if (twice.length > 0) {
    throw new InputError(
      `the same board under different addresses: ${twice.map(([fp, ts]) => `${ts.map(label).join(" and ")} (host key ${fp})`).join("; ")}`,
      "give each board once; nothing was written",
    );
  }
}

/**
 * A board's log file name: the host as given may hold anything ("../../x",
 * an IPv6 address with colons); the name keeps letters, digits, dots and
 * dashes, plus a short hash so that two hosts never share a log.
 */
export function boardLogName(prefix: string, host: string, port: number): string {
  const safe = host.replace(/[^A-Za-z0-9.-]+/g, "_").replace(/\.{2,}|^\./g, "_").replace(/_+/g, "_").slice(0, 64);
  const tag = createHash("sha256").update(`${host}:${port}`).digest("hex").slice(0, 6);
  return `${prefix}-${safe}-${port}-${tag}.log`;
}

export interface BoardOutcome {
  host: string;
  ok: boolean;
  steps: string[];
  /** how long each step took, to the next one (set by runOnBoards) */
  timings?: { step: string; seconds: number }[];
  error?: string;
  /** why the board was never touched (a failed canary wave, --max-failures reached) */
  notAttempted?: string;
}

/** The whole of an error, as the summary and --json show it: message, tool output, hint. */
export function errorText(err: unknown): string {
  return err instanceof KilnError ? [err.message, ...err.tail, ...(err.hint ? [`hint: ${err.hint}`] : [])].join("\n") : String(err);
}

export interface FleetRun<O extends BoardOutcome> {
  parallel: string;
  json: boolean;
  /** Per-board log file, started afresh for this run. */
  logFile: (t: SshTarget) => string;
  /** The board's outcome before anything ran: the work fills it in. */
  outcome: (t: SshTarget) => O;
  work: (t: SshTarget, log: StageLog, outcome: O, step: (s: string) => void) => Promise<void>;
  /** the first N boards are a wave of their own: the rest start only when all of them passed */
  canary?: number;
  /** no new board starts after this many failures */
  maxFailures?: number;
}

/** --canary and --max-failures as numbers (commander has checked them). */
export function waveOptions(opts: { canary?: string | undefined; maxFailures?: string | undefined }): { canary?: number; maxFailures?: number } {
  return { ...(opts.canary !== undefined ? { canary: Number(opts.canary) } : {}), ...(opts.maxFailures !== undefined ? { maxFailures: Number(opts.maxFailures) } : {}) };
}

/** The waves a rollout runs in: the canaries, then the rest (pure, so the plan can be tested and shown). */
export function rolloutWaves<T>(targets: readonly T[], canary: number | undefined): T[][] {
  if (!canary || canary <= 0 || canary >= targets.length) return [[...targets]];
  return [targets.slice(0, canary), targets.slice(canary)];
}

/** Runs `work` on every board, N at once, in waves; never throws for a board's failure (see failIfAny). */
export async function runOnBoards<O extends BoardOutcome>(targets: readonly SshTarget[], run: FleetRun<O>): Promise<O[]> {
  const outcomes: O[] = [];
  const waves = rolloutWaves(targets, run.canary);
  let failures = 0;
  for (const [i, wave] of waves.entries()) {
    const canaryFailed = i > 0 && failures > 0;
    if (canaryFailed) {
      for (const t of wave) outcomes.push({ ...run.outcome(t), notAttempted: `the canary wave (${waves[0]?.length ?? 0} board(s)) had ${failures} failure(s)` });
      continue;
    }
    await runWave(wave, run, outcomes, () => failures, () => (failures += 1));
  }
  return outcomes;
}

async function runWave<O extends BoardOutcome>(wave: readonly SshTarget[], run: FleetRun<O>, outcomes: O[], failures: () => number, failed: () => void): Promise<void> {
  const tasks = new Listr(
    wave.map((t) => ({
      title: `${t.user}@${t.host}:${t.port}`,
      task: async (_ctx: unknown, task: { output: string; title: string; skip: (message?: string) => void }) => {
        const outcome = run.outcome(t);
        outcomes.push(outcome);
        if (interruptRequested()) {
          outcome.notAttempted = "interrupted (Ctrl-C while another board wrote its flash)";
          task.skip(`not attempted: ${outcome.notAttempted}`);
          return;
        }
        if (run.maxFailures !== undefined && failures() >= run.maxFailures) {
          outcome.notAttempted = `${failures()} board(s) had failed (--max-failures ${run.maxFailures})`;
          task.skip(`not attempted: ${outcome.notAttempted}`);
          return;
        }
        const log = new StageLog(run.logFile(t)).reset();
        try {
          // Each step's duration goes to the board's log and --json: what each part of the work costs.
          let last = Date.now();
          const timings: { step: string; seconds: number }[] = (outcome.timings = []);
          try {
            await run.work(t, log, outcome, (s) => {
              const now = Date.now();
              const previous = outcome.steps.at(-1);
              if (previous !== undefined) timings.push({ step: previous, seconds: Math.round((now - last) / 100) / 10 });
              last = now;
              log.write(`# step: ${s}`);
              task.output = s;
              outcome.steps.push(s);
            });
          } finally {
            // The last step ran until the work ended, in success or failure.
            const final = outcome.steps.at(-1);
            if (final !== undefined) timings.push({ step: final, seconds: Math.round((Date.now() - last) / 100) / 10 });
            for (const x of timings) log.write(`# ${x.seconds.toFixed(1).padStart(6)} s  ${x.step}`);
          }
          outcome.ok = true;
        } catch (err) {
          outcome.error = errorText(err);
          failed();
          throw err;
        }
      },
    })),
    {
      concurrent: Number(run.parallel) || 4,
      exitOnError: false,
      // listr2's own Ctrl-C handler exits at once (127): a board writing its flash must be waited for (interrupt.ts).
      registerSignalListeners: false,
      renderer: run.json ? "silent" : "default",
      fallbackRenderer: run.json ? "silent" : "simple",
      rendererOptions: { collapseErrors: false },
    },
  );
  await tasks.run().catch(() => undefined);
}

/** One line a board: its address and what happened, or the first line of why it failed. */
export function summaryTable(outcomes: readonly BoardOutcome[], okText: (o: BoardOutcome) => string): string {
  const rows = outcomes.map((o) => `${o.host.padEnd(25)} ${o.ok ? okText(o) : o.notAttempted ? `NOT ATTEMPTED: ${o.notAttempted}` : `FAILED: ${o.error?.split("\n")[0] ?? "?"}`}`);
  return `\n${"HOST".padEnd(25)} RESULT\n${rows.join("\n")}\n`;
}

export function failIfAny(outcomes: readonly BoardOutcome[], logs: string): void {
  const failed = outcomes.filter((o) => !o.ok && !o.notAttempted);
  const skipped = outcomes.filter((o) => o.notAttempted);
  // Each board's whole error (tool output, hint) goes to stderr: the table shows only its first line.
  const tail = [...failed.flatMap((o) => `${o.host}: ${o.error ?? "?"}`.split("\n")), ...skipped.map((o) => `${o.host}: not attempted: ${o.notAttempted ?? ""}`)];
  if (failed.length > 0 || skipped.length > 0) {
    const never = skipped.length > 0 ? `; ${skipped.length} never attempted (${skipped.map((o) => o.host).join(", ")})` : "";
    // Ctrl-C while a board wrote its flash: the run ends as an interrupted one (130), after every outcome was reported.
    throw new KilnError(`${failed.length} of ${outcomes.length} board(s) failed${never}`, { exitCode: interruptRequested() ? 130 : 1, tail, hint: `logs: ${logs}` });
  }
}
