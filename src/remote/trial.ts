/**
 * Try before commit: a running kiln image starts the new kernel and ramdisk
 * from RAM with kexec, with the hardware watchdog armed (nowayout) so that a
 * trial that never confirms resets the board into the untouched image in
 * flash. kiln confirms by checking the trial system live, container proof
 * included, and only then writes flash from the trial system itself
 * (flash-supervisor.ts, with the watchdog fed by the board while it writes).
 *
 * What decides each step is pure (kexecParts, the scripts, whichBoot); the
 * SSH side effects are in tryImage.
 */
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { KilnError } from "../errors.js";
import type { UImageHeader } from "../image/uimage.js";
import { bootId } from "./reboot.js";
import { Remote, type SshTarget } from "./ssh.js";
import { removeUpload, uploadVerified } from "./upload.js";

export interface KexecParts {
  /** the zImage as U-Boot would run it (decompressed when the image says gzip); with an appended DTB when the board has one */
  kernel: Buffer;
  ramdisk: Buffer | undefined;
  dtb: Buffer | undefined;
}

/** The uImage cut into what kexec loads: the kernel part decompressed, the ramdisk as it is (the kernel unpacks it), the DTB. */
export function kexecParts(bytes: Buffer, h: UImageHeader): KexecParts {
  const slice = (i: number): Buffer | undefined => {
    const p = h.parts[i];
    return p ? bytes.subarray(p.offset, p.offset + p.size) : undefined;
  };
  const k = slice(0);
  if (!k) throw new KilnError("the image has no kernel part to try");
  let kernel: Buffer = k;
  if (h.compression === "gzip") kernel = gunzipSync(k);
  else if (h.compression !== "none") throw new KilnError(`cannot try an image whose kernel is ${h.compression}-compressed: kexec needs the zImage`);
  return { kernel, ramdisk: h.type === "multi" ? slice(1) : undefined, dtb: h.type === "multi" ? slice(2) : undefined };
}

/** What a board says about itself before the trial: the trial ends only when the board is this system again, or the trial. */
export interface BootState {
  bootId: string;
  release: string;
  cmdline: string;
}

export type Seen = { kind: "same" } | { kind: "trial" } | { kind: "old" } | { kind: "other"; why: string };

/** Which system answers now: the one before the trial, the trial itself, the old image booted again, or something else. */
export function whichBoot(before: BootState, now: BootState, token: string): Seen {
  if (now.bootId === before.bootId) return { kind: "same" };
  if (now.cmdline.split(/\s+/).includes(`kiln.trial=${token}`)) return { kind: "trial" };
  if (now.release === before.release && !/\bkiln\.trial=/.test(now.cmdline)) return { kind: "old" };
  return { kind: "other", why: `a new boot of Linux ${now.release} (${now.cmdline.trim()}), neither the trial nor the image that ran before` };
}

/** Why this board cannot try first, or undefined when it can. */
export const CAPABILITY_SCRIPT = [
  "command -v kexec >/dev/null 2>&1 || { echo 'it has no kexec (kexec-tools; every kiln root filesystem carries it)'; exit 0; }",
  "[ -e /sys/kernel/kexec_loaded ] || { echo 'its kernel cannot kexec (CONFIG_KEXEC)'; exit 0; }",
  "[ -c /dev/watchdog ] || { echo 'it has no watchdog device (/dev/watchdog: the board fragment names its driver)'; exit 0; }",
  "busybox --list 2>/dev/null | grep -qx watchdog || { echo 'its busybox has no watchdog applet to arm the watchdog with'; exit 0; }",
  "grep -q 'kiln\\.trial=' /proc/cmdline && { echo 'it is running a trial right now'; exit 0; }",
  "echo ok",
].join("\n");

export async function trialCapability(remote: Remote): Promise<string | undefined> {
  const r = await remote.execScript(CAPABILITY_SCRIPT);
  const said = r.stdout.trim();
  return said === "ok" ? undefined : said || `the capability check failed: ${r.stderr.trim()}`;
}

export async function bootState(remote: Remote): Promise<BootState> {
  const r = await remote.execScript("uname -r; cat /proc/cmdline");
  const [release = "", cmdline = ""] = r.stdout.split("\n");
  return { bootId: await bootId(remote), release: release.trim(), cmdline: cmdline.trim() };
}

const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

/** The board's extra trial parameters with the deadline filled in (board data: flash.trialCmdline). */
export function trialParams(params: readonly string[], deadline: number): string[] {
  return params.map((p) => p.replace(/\{\{\s*deadline\s*\}\}/g, String(deadline)));
}

/**
 * kexec -l with the running command line, less any earlier trial marker and
 * any earlier value of the board's trial parameters, plus this trial's.
 */
export function loadScript(files: { kernel: string; ramdisk?: string; dtb?: string }, token: string, deadline: number, params: readonly string[] = []): string {
  const args = [`kexec -l ${q(files.kernel)}`, files.ramdisk ? `--initrd=${q(files.ramdisk)}` : "", files.dtb ? `--dtb=${q(files.dtb)}` : ""].filter(Boolean).join(" ");
  const extra = trialParams(params, deadline);
  // The schema allows only [A-Za-z0-9_.,-] in names and values: safe inside sed and double quotes.
  const drop = extra.map((p) => ` -e 's/ *${p.slice(0, p.indexOf("=")).replace(/\./g, "\\.")}=[^ ]*//g'`).join("");
  return [
    "set -e",
    `cmdline=$(sed -e 's/ *kiln\\.trial[.a-z]*=[^ ]*//g'${drop} /proc/cmdline)`,
    `${args} --command-line="$cmdline kiln.trial=${token} kiln.trial.deadline=${deadline}${extra.map((p) => ` ${p}`).join("")}"`,
    "cat /sys/kernel/kexec_loaded",
  ].join("\n");
}

/**
 * Arm the watchdog and jump, detached from the SSH session (it ends with the
 * kernel). busybox watchdog sets the timeout and is then killed without the
 * magic close: with nowayout the watchdog stays armed and nothing feeds it.
 */
export function jumpScript(deadline: number): string {
  return `setsid sh -c 'busybox watchdog -T ${deadline} -t 100000 -F /dev/watchdog & w=$!; sleep 1; kill -9 $w; sync; kexec -e' </dev/null >/dev/null 2>&1 &`;
}

/** Feed the watchdog once (a write pings it; with nowayout the open never stops it). */
export const FEED = "printf x > /dev/watchdog";

export interface TrialOptions {
  remoteDir: string;
  /** seconds the trial has to come up and be confirmed before the watchdog resets the board */
  deadline: number;
  /** the new image's SSH host key: the trial system shows it */
  announcedHostKey: string | undefined;
  /** how long to wait for a boot in all */
  timeoutMs: number;
  /** the board's extra kernel parameters for a trial (flash.trialCmdline) */
  cmdline?: readonly string[];
  step: (s: string) => void;
}

export class TrialFailed extends KilnError {}

/**
 * Load the new kernel, arm the watchdog, kexec, and wait for the trial system.
 * Returns a connection to it; throws TrialFailed (after the board is back on
 * its old image, or with what is known when it is not) otherwise.
 */
export async function startTrial(remote: Remote, target: SshTarget, parts: KexecParts, opts: TrialOptions): Promise<{ trial: Remote; token: string; before: BootState }> {
  const token = randomBytes(6).toString("hex");
  const before = await bootState(remote);
  opts.step(`trial: uploading the kernel${parts.ramdisk ? ", ramdisk" : ""}${parts.dtb ? " and device tree" : ""} for kexec`);
  const uploads: string[] = [];
  try {
    const put = async (data: Buffer, name: string) => {
      const u = await uploadVerified(remote, data, opts.remoteDir, name);
      uploads.push(u.dir);
      return u.path;
    };
    const files = {
      kernel: await put(parts.kernel, "zImage"),
      ...(parts.ramdisk ? { ramdisk: await put(parts.ramdisk, "ramdisk") } : {}),
      ...(parts.dtb ? { dtb: await put(parts.dtb, "board.dtb") } : {}),
    };
    const load = await remote.execScript(loadScript(files, token, opts.deadline, opts.cmdline));
    if (load.code !== 0 || load.stdout.trim().split("\n").pop() !== "1") {
      throw new TrialFailed(`kexec could not load the new kernel: ${(load.stderr || load.stdout).trim().split("\n").slice(-3).join(" | ")}`, { hint: "nothing was changed on the board; flash untouched" });
    }
  } finally {
    // kexec holds its own copy now: the RAM goes back to the board.
    for (const d of uploads) await removeUpload(remote, d);
  }
  opts.step(`trial: watchdog armed (${opts.deadline} s), kexec into the new kernel`);
  await remote.startDetached(jumpScript(opts.deadline));
  remote.close();
  const seen = await waitForBoot(target, before, token, opts);
  if (seen.kind === "trial") return { trial: seen.remote, token, before };
  seen.remote?.close();
  throw new TrialFailed(`trial failed: ${seen.why}; flash untouched`, { hint: "the board runs the image it ran before" });
}

/** After a failed trial: reset the board (kiln's own reboot), then wait for the old image. */
export async function abandonTrial(trial: Remote, target: SshTarget, before: BootState, token: string, why: string, opts: TrialOptions): Promise<never> {
  opts.step("trial: rebooting the board into the image in flash");
  await trial.execScript("(sleep 1; reboot -f || busybox reboot -f) </dev/null >/dev/null 2>&1 &").catch(() => undefined);
  trial.close();
  const seen = await waitForBoot(target, before, token, opts, true);
  seen.remote?.close();
  if (seen.kind === "old") throw new TrialFailed(`trial failed: ${why}; flash untouched`, { hint: "the board is back on the image it ran before" });
  throw new TrialFailed(`trial failed: ${why}; flash untouched, but ${seen.kind === "trial" ? "the trial system is still running" : seen.why}`, { hint: "look at the board's console" });
}

/**
 * Poll until the board answers as a new boot: the trial, or the old image
 * (the trial panicked or the watchdog fired). Host keys: the trial shows the
 * new image's key, the old image the known one; neither is saved here.
 */
async function waitForBoot(
  target: SshTarget,
  before: BootState,
  token: string,
  opts: TrialOptions,
  afterTrial = false,
): Promise<{ kind: "trial"; remote: Remote } | { kind: "old" | "other" | "timeout"; why: string; remote?: Remote }> {
  const deadline = Date.now() + opts.timeoutMs;
  const t0 = Date.now();
  let last = "";
  let shown = -1;
  // A known-hosts file of this wait only: the real one learns the new key when the new image boots from flash.
  const probe: SshTarget = { ...target, acceptNewHostKey: false, readyTimeoutMs: 8000, announcedHostKey: opts.announcedHostKey, knownHostsReadOnly: true };
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    const s = Math.floor((Date.now() - t0) / 30_000);
    if (s !== shown) {
      shown = s;
      opts.step(`trial: waiting for ${afterTrial ? "the old image" : "the trial system"} (${Math.round((Date.now() - t0) / 1000)} s)`);
    }
    let r: Remote;
    try {
      r = await Remote.connect(probe);
    } catch (err) {
      last = (err as Error).message;
      if (/CHANGED/.test(last)) return { kind: "other", why: last };
      continue;
    }
    try {
      const now = await bootState(r);
      const seen = whichBoot(before, now, token);
      if (seen.kind === "same") {
        last = "still the system before the trial";
        r.close();
        continue;
      }
      if (seen.kind === "trial") {
        if (afterTrial) {
          last = "still the trial";
          r.close();
          continue;
        }
        return { kind: "trial", remote: r };
      }
      if (seen.kind === "old") {
        return { kind: "old", why: afterTrial ? "" : "the trial system never answered: the board came back on the image in flash (the trial kernel panicked, hung or lost the network, and the watchdog or the panic timeout reset it)", remote: r };
      }
      return { kind: "other", why: seen.why, remote: r };
    } catch (err) {
      last = (err as Error).message;
      r.close();
    }
  }
  return { kind: "timeout", why: `the board did not answer as a new boot within ${Math.round(opts.timeoutMs / 1000)} s (last: ${last})` };
}
