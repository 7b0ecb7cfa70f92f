/** Rollouts in waves: canaries first, and no new board after too many failures. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type BoardOutcome, failIfAny, rolloutWaves, runOnBoards, summaryTable } from "../../src/remote/fleet.js";
import type { SshTarget } from "../../src/remote/ssh.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-waves-"));
const target = (host: string): SshTarget => ({ host, port: 22, user: "root", acceptNewHostKey: false });

async function rollout(hosts: string[], failing: Set<string>, opts: { canary?: number; maxFailures?: number; parallel?: string }) {
  const touched: string[] = [];
  const outcomes = await runOnBoards<BoardOutcome>(hosts.map(target), {
    parallel: opts.parallel ?? "1",
    json: true,
    ...opts,
    logFile: (t) => join(dir, `${t.host}.log`),
    outcome: (t) => ({ host: t.host, ok: false, steps: [] }),
    work: async (t, _log, _o, step) => {
      touched.push(t.host);
      step("working");
      if (failing.has(t.host)) throw new Error(`${t.host} broke`);
    },
  });
  return { touched, outcomes };
}

describe("rollout waves", () => {
  it("splits the canaries from the rest", () => {
    expect(rolloutWaves(["a", "b", "c"], 1)).toEqual([["a"], ["b", "c"]]);
    expect(rolloutWaves(["a", "b", "c"], undefined)).toEqual([["a", "b", "c"]]);
    expect(rolloutWaves(["a", "b"], 2)).toEqual([["a", "b"]]);
  });

  it("--canary 1 with the first board failing never touches the other two, and says so", async () => {
    const { touched, outcomes } = await rollout(["a", "b", "c"], new Set(["a"]), { canary: 1 });
    expect(touched).toEqual(["a"]);
    expect(outcomes.map((o) => [o.host, o.ok, o.notAttempted !== undefined])).toEqual([["a", false, false], ["b", false, true], ["c", false, true]]);
    expect(summaryTable(outcomes, () => "ok")).toMatch(/b\s+NOT ATTEMPTED: the canary wave \(1 board\(s\)\) had 1 failure\(s\)/);
    expect(() => failIfAny(outcomes, "logs")).toThrow(/1 of 3 board\(s\) failed; 2 never attempted \(b, c\)/);
  });

  it("a passing canary lets the rest go", async () => {
    const { touched, outcomes } = await rollout(["a", "b", "c"], new Set(["c"]), { canary: 1 });
    expect(touched).toEqual(["a", "b", "c"]);
    expect(outcomes.filter((o) => o.notAttempted)).toEqual([]);
  });

  it("--max-failures 1 starts no board after the first failure", async () => {
    const { touched, outcomes } = await rollout(["a", "b", "c", "d"], new Set(["b"]), { maxFailures: 1 });
    expect(touched).toEqual(["a", "b"]);
    expect(outcomes.map((o) => o.notAttempted ?? (o.ok ? "ok" : "failed"))).toEqual(["ok", "failed", "1 board(s) had failed (--max-failures 1)", "1 board(s) had failed (--max-failures 1)"]);
  });
});
