/**
 * After the run, one line per test file with its wall time (hooks included,
 * so the builds a file's beforeAll waits for are counted where they happen),
 * longest first, with when it ran (seconds into the run): the CI budget is
 * spent per file, and this shows where.
 */
import type { Reporter, TestCase, TestModule, Vitest } from "vitest/node";

export default class DurationsReporter implements Reporter {
  private readonly rows: { project: string; file: string; seconds: number; state: string; ended: number }[] = [];
  /** Tests skipped with a note (ctx.skip(note)): e.g. a proof an earlier run made with the same inputs (proofs.ts). */
  private readonly skipped: string[] = [];
  private started = Date.now();
  private workers = 1;

  onInit(vitest: Vitest): void {
    this.workers = vitest.config.maxWorkers;
  }

  onTestRunStart(): void {
    this.started = Date.now();
    this.rows.length = 0;
    this.skipped.length = 0;
  }

  onTestModuleEnd(m: TestModule): void {
    const d = m.diagnostic();
    const ended = (Date.now() - this.started) / 1000;
    this.rows.push({ project: m.project.name, file: m.moduleId.replace(`${process.cwd()}/`, ""), seconds: (d.collectDuration + d.setupDuration + d.duration) / 1000, state: m.state(), ended });
  }

  onTestCaseResult(t: TestCase): void {
    const r = t.result();
    if (r.state === "skipped" && r.note) this.skipped.push(`  ${t.module.moduleId.replace(`${process.cwd()}/`, "")} > ${t.fullName}\n      ${r.note}`);
  }

  onTestRunEnd(): void {
    if (this.skipped.length > 0) process.stdout.write(`\nSkipped, and why (${this.skipped.length}):\n${this.skipped.join("\n")}\n`);
    if (this.rows.length === 0) return;
    const total = this.rows.reduce((s, r) => s + r.seconds, 0);
    const lines = this.rows
      .sort((a, b) => b.seconds - a.seconds)
      // When each file ran within the run: the files still running at the end are where a run's last minutes go.
      .map((r) => `  ${r.seconds.toFixed(1).padStart(7)} s  ${`${Math.max(0, r.ended - r.seconds).toFixed(0)}-${r.ended.toFixed(0)} s`.padStart(11)}  ${r.project.padEnd(5)} ${r.file}${r.state === "passed" ? "" : `  (${r.state})`}`);
    const wall = (Date.now() - this.started) / 1000;
    process.stdout.write(`\nTest file durations (${this.rows.length} files, ${total.toFixed(0)} s in all, ${this.workers} at a time: ${wall.toFixed(0)} s from first to last):\n${lines.join("\n")}\n`);
  }
}
