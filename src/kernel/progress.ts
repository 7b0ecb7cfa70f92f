/**
 * How far a kernel build is: kbuild prints one short line per object it makes
 * ("  CC      kernel/fork.o"); the total is the count of the last full build of
 * the same .config anywhere on this machine (kept in kiln's cache, so a new
 * output directory or clone knows it too), or of the last build, as a guess.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../fsutil.js";
import { cacheDir } from "../paths.js";

const KBUILD_LINE = /^ {2}[A-Z][A-Z0-9_]{1,9} +\S/;

interface Saved {
  byConfig: Record<string, number>;
  last?: number;
}

export class MakeProgress {
  private count = 0;
  private constructor(
    private readonly file: string,
    private readonly configSha: string,
    private readonly saved: Saved,
  ) {}

  static async load(configSha: string): Promise<MakeProgress> {
    const file = join(cacheDir(), "kernel-progress.json");
    let saved: Saved = { byConfig: {} };
    try {
      saved = JSON.parse(await readFile(file, "utf8")) as Saved;
    } catch {
      // first build here
    }
    return new MakeProgress(file, configSha, saved);
  }

  get total(): number | undefined {
    return this.saved.byConfig[this.configSha] ?? this.saved.last;
  }

  /** A status line when `line` is a kbuild step, else undefined. */
  line(line: string): string | undefined {
    if (!KBUILD_LINE.test(line)) return undefined;
    this.count++;
    const total = this.total;
    const what = line.trim().replace(/\s+/, " ");
    if (!total) return `make: ${this.count} steps (no earlier build to compare with): ${what}`;
    const pct = Math.min(99, Math.floor((100 * this.count) / total));
    return `make: ${this.count}/${total} steps (${pct} %): ${what}`;
  }

  /** Only a full build's count is a total: an incremental one makes far fewer. */
  async save(): Promise<void> {
    const known = this.saved.byConfig[this.configSha];
    if (known !== undefined && this.count < known) return;
    this.saved.byConfig[this.configSha] = this.count;
    if (this.count >= (this.saved.last ?? 0) / 2) this.saved.last = this.count;
    await writeFileAtomic(this.file, `${JSON.stringify(this.saved)}\n`);
  }
}
