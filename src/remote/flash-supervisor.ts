/**
 * flashcfg runs detached on the board (setsid, its exit code and output into
 * the run's private upload directory), so that neither Ctrl-C, nor a limit of
 * kiln's, nor a dropped link stops it halfway through an erase. kiln only
 * watches: it polls the outcome, reconnects when the link drops, and on Ctrl-C
 * says the board is writing and waits (a second Ctrl-C leaves it writing).
 *
 * The scripts and the outcome parser are pure; superviseFlashcfg is the SSH side.
 */
import { KilnError } from "../errors.js";
import { shellQuote as q } from "../exec.js";
import { whileCritical } from "../interrupt.js";
import { bootId } from "./reboot.js";
import { Remote, type SshTarget } from "./ssh.js";

/** flashcfg's own status file (src/flashcfg/flashcfg.sh): progress, and the outcome of the run holding its lock. */
export const FLASHCFG_STATUS = "/run/kiln-flashcfg.status";

/**
 * The detached run. `feedDeadline`: a trial system keeps the armed watchdog fed
 * from the board itself for as long as flashcfg runs, and leaves it armed (never
 * stopped) when it ends.
 */
export function detachedFlashcfgScript(args: readonly string[], dir: string, feedDeadline?: number): string {
  const cmd = args.map(q).join(" ");
  const inner = [
    ...(feedDeadline !== undefined ? [`busybox watchdog -T ${feedDeadline} -t 5 -F /dev/watchdog & w=$!`] : []),
    `${cmd} >${q(`${dir}/flashcfg.log`)} 2>&1`,
    "rc=$?",
    `echo $rc >${q(`${dir}/flashcfg.rc.tmp`)}`,
    `mv ${q(`${dir}/flashcfg.rc.tmp`)} ${q(`${dir}/flashcfg.rc`)}`,
    ...(feedDeadline !== undefined ? ["kill -9 $w"] : []),
  ].join("; ");
  return [`rm -f ${q(`${dir}/flashcfg.rc`)}`, `setsid sh -c ${q(inner)} </dev/null >/dev/null 2>&1 &`].join("\n");
}

/** What one poll prints: the exit code when flashcfg has ended (first line), then flashcfg's status line. */
export function pollScript(dir: string): string {
  return `cat ${q(`${dir}/flashcfg.rc`)} 2>/dev/null || echo running; tail -n 1 ${FLASHCFG_STATUS} 2>/dev/null; true`;
}

export interface Poll {
  /** flashcfg's exit code, or undefined while it runs */
  rc: number | undefined;
  /** flashcfg's last status line ("writing ... do not power the board off") */
  status: string;
}

export function parsePoll(stdout: string): Poll {
  const [first = "", status = ""] = stdout.split("\n");
  const rc = /^\d+$/.test(first.trim()) ? Number(first.trim()) : undefined;
  // "2026-12-02 09:40:01 writing ...": the date and time are the board's, not news.
  return { rc, status: status.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /, "").trim() };
}

/** What a failed flashcfg leaves, by its exit code (src/flashcfg/flashcfg.sh), and what to do. */
export function flashcfgFailureHint(code: number, vendor: boolean): string {
  if (vendor) return "the vendor's flashcfg gives no detail: the partition may be erased or half-written. Do not power-cycle the board: run kiln flash (or kiln restore) again first";
  switch (code) {
    case 1:
    case 3:
    case 5:
      return "kiln's flashcfg refused before erasing: the partition is as it was";
    case 4:
      return "the partition was erased and is half-written or wrong (flashcfg wrote it twice and the read-back still differs). Do not power-cycle the board: run kiln flash or kiln restore again first";
    default:
      return "the partition may be erased or half-written. Do not power-cycle the board: run kiln flash (or kiln restore) again first";
  }
}

export interface SuperviseOptions {
  /** the run's private directory on the board (the upload's): the exit code and output go there */
  dir: string;
  args: readonly string[];
  feedDeadline?: number;
  /** how long flashcfg may take in all */
  timeoutMs: number;
  step: (s: string) => void;
  /** how long to keep reconnecting after the link dropped */
  reconnectMs?: number;
}

export interface Supervised {
  code: number;
  output: string;
  /** the connection to use from now on (a new one after the link dropped) */
  remote: Remote;
  /** Ctrl-C was pressed while the board wrote: the caller stops after reporting */
  interrupted: boolean;
}

/**
 * Start flashcfg detached and watch it to the end. Throws only when the outcome
 * cannot be known (the board rebooted mid-write, or could not be reached again).
 */
export async function superviseFlashcfg(remote: Remote, target: SshTarget, o: SuperviseOptions): Promise<Supervised> {
  const before = await bootId(remote);
  // Lost as it starts, flashcfg may be writing: the loop below reconnects and reads its status.
  const start = await remote.startDetached(detachedFlashcfgScript(o.args, o.dir, o.feedDeadline));
  if (start && start.code !== 0) throw new KilnError(`cannot start flashcfg on ${target.host}: ${start.stderr.trim()}`, { hint: "nothing was written" });
  const host = target.host;
  const { value, interrupted } = await whileCritical(
    `${host} is writing its flash and must not lose power: kiln waits for flashcfg's outcome (Ctrl-C again leaves it writing; its outcome is in ${FLASHCFG_STATUS} on the board)`,
    async () => {
      let r = remote;
      let lastStatus = "";
      const until = Date.now() + o.timeoutMs;
      while (Date.now() < until) {
        await new Promise((res) => setTimeout(res, 1000));
        let poll: Poll;
        try {
          poll = parsePoll((await r.execScript(pollScript(o.dir), { timeoutMs: 20_000 })).stdout);
        } catch (err) {
          o.step(`the link to ${host} dropped while it writes flash (${(err as Error).message}); reconnecting`);
          r.close();
          r = await reconnect(target, before, o.reconnectMs ?? 300_000, o.step);
          o.step(`reconnected to ${host}: flashcfg still runs there`);
          continue;
        }
        if (poll.status && poll.status !== lastStatus) {
          lastStatus = poll.status;
          o.step(`flashcfg: ${poll.status}`);
        }
        if (poll.rc !== undefined) {
          const output = (await r.execScript(`cat ${q(`${o.dir}/flashcfg.log`)} 2>/dev/null; true`).catch(() => undefined))?.stdout ?? "";
          return { code: poll.rc, output, remote: r };
        }
      }
      throw new KilnError(`flashcfg on ${host} did not finish within ${Math.round(o.timeoutMs / 1000)} s (last: ${lastStatus || "no status"})`, {
        hint: `it may still be writing: do not power-cycle the board; read ${FLASHCFG_STATUS} on it`,
      });
    },
  );
  return { ...value, interrupted };
}

/** Reach the board again; the same boot, or the outcome is unknowable. */
async function reconnect(target: SshTarget, before: string, ms: number, step: (s: string) => void): Promise<Remote> {
  const until = Date.now() + ms;
  let last = "";
  while (Date.now() < until) {
    let r: Remote | undefined;
    try {
      r = await Remote.connect({ ...target, readyTimeoutMs: 8000, acceptNewHostKey: false, knownHostsReadOnly: true });
      const now = await bootId(r);
      if (now !== before) {
        r.close();
        throw new KilnError(`${target.host} rebooted while flashcfg was writing: the partition may be erased or half-written`, {
          hint: "if it booted, run kiln flash (or kiln restore) again now; if it does not boot, recover it over the serial console",
        });
      }
      return r;
    } catch (err) {
      r?.close();
      if (err instanceof KilnError && /rebooted while/.test(err.message)) throw err;
      last = (err as Error).message;
      step(`${target.host} not reachable yet (${last.split("\n")[0] ?? ""})`);
      await new Promise((res) => setTimeout(res, 3000));
    }
  }
  throw new KilnError(`${target.host} could not be reached again within ${Math.round(ms / 1000)} s after the link dropped while it wrote flash (last: ${last})`, {
    hint: `flashcfg may still be running or have finished there: do not power-cycle the board; read ${FLASHCFG_STATUS} on it`,
  });
}
