/**
 * The Debian part of the root: mmdebstrap into a directory, through qemu-user,
 * with the downloaded .debs kept in kiln's cache between builds (mmdebstrap's
 * documented sync-in / sync-out of /var/cache/apt/archives). A suite whose
 * index cannot be downloaded is handled by suites.ts.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { CommandError, KilnError } from "../errors.js";
import { run, shellQuote, type StageLog } from "../exec.js";
import { type SuiteSource, sourceLine } from "./apt-sources.js";
import type { Profile } from "./profile.js";
import { decide, parseFetchFailures, type SuiteFailure } from "./suites.js";

export interface DebootstrapInput {
  profile: Profile;
  suites: SuiteSource[];
  debArch: string;
  target: string;
  debCache: string;
  strictSuites: boolean;
  epoch: number;
  log: StageLog;
  signal?: AbortSignal;
}

export interface DebootstrapResult {
  usedSuites: string[];
  dropped: SuiteFailure[];
  warnings: string[];
  attempts: number;
  /** .debs fetched from the network this time (the rest came from the cache). */
  downloaded: string[];
  cached: number;
}

/** Path patterns dpkg does not unpack, from the profile's strip settings. */
export function dpkgExcludes(profile: Profile): string[] {
  const s = profile.strip;
  const opts: string[] = [];
  if (s.docs) opts.push("path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright");
  if (s.man) opts.push("path-exclude=/usr/share/man/*");
  if (s.info) opts.push("path-exclude=/usr/share/info/*");
  if (s.locales) opts.push("path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias");
  return opts;
}

export function mmdebstrapArgs(input: Omit<DebootstrapInput, "log" | "signal" | "strictSuites">, suites: readonly SuiteSource[]): string[] {
  const { profile } = input;
  const cache = input.debCache;
  return [
    "--mode=root",
    `--architectures=${input.debArch}`,
    `--variant=${profile.variant}`,
    `--components=${profile.components.join(",")}`,
    `--include=${profile.packages.join(",")}`,
    ...dpkgExcludes(profile).map((o) => `--dpkgopt=${o}`),
    "--aptopt=Acquire::Retries \"2\"",
    // mmdebstrap's own merged-/usr hook: otherwise apt satisfies init-system-helpers'
    // "usrmerge | usr-is-merged" with usrmerge, which pulls in perl (~45 MB).
    ...(existsSync(MERGED_USR_HOOKS) ? [`--hook-dir=${MERGED_USR_HOOKS}`] : []),
    // Keep every .deb for sync-out: download/empty and essential/unlink would delete them.
    "--skip=download/empty",
    "--skip=essential/unlink",
    `--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
    `--setup-hook=sync-in ${shellQuote(cache)} /var/cache/apt/archives/`,
    `--customize-hook=sync-out /var/cache/apt/archives ${shellQuote(cache)}`,
    // sync-in brought in the cache's own partial/, owned by whichever user apt ran as in the run that made it (_apt,
    // or root when _apt cannot read the target's path), and apt keeps an existing one as it is. Removed, mmdebstrap's
    // `apt-get clean` makes it anew, so the root does not carry the cache's history.
    `--customize-hook=rm -rf "$1"/var/cache/apt/archives/partial`,
    ...(profile.strip.aptLists ? [`--customize-hook=rm -rf "$1"/var/lib/apt/lists/*`] : []),
    profile.release,
    input.target,
    ...suites.map(sourceLine),
  ];
}

const MERGED_USR_HOOKS = "/usr/share/mmdebstrap/hooks/merged-usr";

async function debs(dir: string): Promise<Set<string>> {
  return new Set((await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".deb")));
}

async function logSize(log: StageLog): Promise<number> {
  return (await stat(log.file).catch(() => ({ size: 0 }))).size;
}

export async function debootstrap(input: DebootstrapInput): Promise<DebootstrapResult> {
  const { log } = input;
  await mkdir(input.debCache, { recursive: true });
  const before = await debs(input.debCache);
  let suites = [...input.suites];
  const dropped: SuiteFailure[] = [];
  const warnings: string[] = [];
  if (!suites.some((s) => s.kind === "base")) {
    throw new KilnError(`no source for the base suite ${input.profile.release}`, {
      hint: `add it to the host's apt sources or give --mirror URI (suites found: ${suites.map((s) => s.suite).join(", ") || "none"})`,
    });
  }
  const failedBefore = new Set<string>();
  for (let attempt = 1; ; attempt++) {
    await rm(input.target, { recursive: true, force: true });
    const from = await logSize(log);
    try {
      await run("mmdebstrap", mmdebstrapArgs(input, suites), {
        log,
        env: { SOURCE_DATE_EPOCH: String(input.epoch) },
        what: "mmdebstrap",
        signal: input.signal,
      });
      const after = await debs(input.debCache);
      return {
        usedSuites: suites.map((s) => s.suite),
        dropped,
        warnings,
        attempts: attempt,
        downloaded: [...after].filter((d) => !before.has(d)).sort(),
        cached: [...after].filter((d) => before.has(d)).length,
      };
    } catch (err) {
      // mmdebstrap leaves a half-made directory: never let it look finished.
      await rm(input.target, { recursive: true, force: true });
      if (!(err instanceof CommandError) || input.signal?.aborted) throw err;
      const text = (await readFile(log.file)).subarray(from).toString("utf8");
      const failures = parseFetchFailures(text, suites);
      if (failures.length === 0 || attempt > 4) throw err;
      for (const f of failures) log.write(`# suite ${f.suite} could not be downloaded: ${f.reason} (${f.url})`);
      // A suite gets one retry; the second failure of the same suite decides.
      const second = failures.some((f) => failedBefore.has(f.suite));
      for (const f of failures) failedBefore.add(f.suite);
      const d = decide(failures, suites, second ? 2 : 1, input.strictSuites);
      if (d.action === "fail") throw new KilnError(d.message, { hint: d.hint, tail: err.tail, exitCode: 3 });
      if (d.action === "retry") {
        log.write(`# retrying once: ${failures.map((f) => f.suite).join(", ")}`);
        continue;
      }
      log.write(`# ${d.warning}`);
      warnings.push(d.warning);
      dropped.push(...d.drop);
      suites = suites.filter((s) => !d.drop.some((f) => f.suite === s.suite));
    }
  }
}
