import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cacheDir } from "../../src/paths.js";
import { earlierProof, proofKey, recordProof, stampInputs } from "../support/proofs.js";

describe("records of from-scratch proofs (test/support/proofs.ts)", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.useRealTimers();
  });

  it("a key does not depend on the order of its parts, and changes with any part's value", () => {
    expect(proofKey({ a: "1", b: "2" })).toBe(proofKey({ b: "2", a: "1" }));
    expect(proofKey({ a: "1", b: "2" })).not.toBe(proofKey({ a: "1", b: "3" }));
    expect(proofKey({ a: "1", b: "2" })).not.toBe(proofKey({ a: "1", c: "2" }));
  });

  it("a record stands in only for exactly its key, never with KILN_REPROVE set, and not once older than the proof's limit", async () => {
    vi.stubEnv("KILN_REPROVE", "");
    const name = `unit-${process.pid}`;
    const key = proofKey({ input: "x" });
    expect(earlierProof(name, key)).toBeUndefined();
    await recordProof(name, key);
    expect(earlierProof(name, key)).toMatchObject({ key });
    expect(earlierProof(name, proofKey({ input: "y" }))).toBeUndefined();
    vi.stubEnv("KILN_REPROVE", "1");
    expect(earlierProof(name, key)).toBeUndefined();
    vi.stubEnv("KILN_REPROVE", "0");
    expect(earlierProof(name, key)).toBeDefined();
    vi.useFakeTimers({ now: Date.now() + 3 * 86_400_000, toFake: ["Date"] });
    expect(earlierProof(name, key, 6)).toBeDefined();
    expect(earlierProof(name, key, 2)).toBeUndefined();
  });

  it("another key's record does not replace one (two checkouts each keep theirs); the oldest go beyond four", async () => {
    vi.stubEnv("KILN_REPROVE", "");
    const name = `unit-keep-${process.pid}`;
    const keys = ["a", "b", "c", "d", "e"].map((x) => proofKey({ input: x }));
    for (const k of keys) {
      await recordProof(name, k);
      await new Promise((r) => setTimeout(r, 20)); // distinct modification times: the oldest is the one removed
    }
    expect(earlierProof(name, keys[4] as string)).toBeDefined();
    expect(earlierProof(name, keys[1] as string)).toBeDefined();
    expect(readdirSync(join(cacheDir(), "proofs", name))).toHaveLength(4);
  });

  it("an unreadable record proves nothing", () => {
    vi.stubEnv("KILN_REPROVE", "");
    const name = `unit-bad-${process.pid}`;
    const key = proofKey({ input: "z" });
    mkdirSync(join(cacheDir(), "proofs", name), { recursive: true });
    writeFileSync(join(cacheDir(), "proofs", name, `${key}.json`), "{ not json");
    expect(earlierProof(name, key)).toBeUndefined();
  });

  it("a build directory's stamps give their inputs, not their outputs or dates, and a stage never built counts as none", async () => {
    const out = join(cacheDir(), `stamps-${process.pid}`);
    mkdirSync(join(out, "stamps"), { recursive: true });
    const stamp = (finishedAt: string, config: string) =>
      writeFileSync(join(out, "stamps", "kernel.json"), JSON.stringify({ stage: "kernel", version: 2, inputs: { ".config": config }, outputs: { zImage: { sha256: finishedAt } }, finishedAt }));
    stamp("2026-01-01", "aaa");
    const first = await stampInputs(out, ["kernel", "image"]);
    expect(first).toEqual({ "stamp kernel": JSON.stringify({ ".config": "aaa" }), "stamp image": "none" });
    stamp("2026-02-02", "aaa");
    expect(await stampInputs(out, ["kernel", "image"])).toEqual(first);
    stamp("2026-02-02", "bbb");
    expect(proofKey(await stampInputs(out, ["kernel", "image"]))).not.toBe(proofKey(first));
  });
});
