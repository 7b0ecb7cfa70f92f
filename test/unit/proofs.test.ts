import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cacheDir } from "../../src/paths.js";
import { earlierProof, proofKey, recordProof, stampInputs } from "../support/proofs.js";

describe("records of from-scratch proofs (test/support/proofs.ts)", () => {
  afterEach(() => {
    delete process.env.KILN_REPROVE;
  });

  it("a key does not depend on the order of its parts, and changes with any part's value", () => {
    expect(proofKey({ a: "1", b: "2" })).toBe(proofKey({ b: "2", a: "1" }));
    expect(proofKey({ a: "1", b: "2" })).not.toBe(proofKey({ a: "1", b: "3" }));
    expect(proofKey({ a: "1", b: "2" })).not.toBe(proofKey({ a: "1", c: "2" }));
  });

  it("a record stands in only for exactly its key, and never with KILN_REPROVE set", async () => {
    const name = `unit-${process.pid}`;
    const key = proofKey({ input: "x" });
    expect(earlierProof(name, key)).toBeUndefined();
    await recordProof(name, key, { bytes: "abc" });
    expect(earlierProof(name, key)).toMatchObject({ key, facts: { bytes: "abc" } });
    expect(earlierProof(name, proofKey({ input: "y" }))).toBeUndefined();
    process.env.KILN_REPROVE = "1";
    expect(earlierProof(name, key)).toBeUndefined();
  });

  it("a build directory's stamps give their inputs, not their outputs or dates, and a stage never built counts as none", () => {
    const out = join(cacheDir(), `stamps-${process.pid}`);
    mkdirSync(join(out, "stamps"), { recursive: true });
    const stamp = (finishedAt: string, config: string) =>
      writeFileSync(join(out, "stamps", "kernel.json"), JSON.stringify({ stage: "kernel", inputs: { ".config": config }, outputs: { zImage: { sha256: finishedAt } }, finishedAt }));
    stamp("2026-01-01", "aaa");
    const first = stampInputs(out, ["kernel", "image"]);
    expect(first).toEqual({ "stamp kernel": JSON.stringify({ ".config": "aaa" }), "stamp image": "none" });
    stamp("2026-02-02", "aaa");
    expect(stampInputs(out, ["kernel", "image"])).toEqual(first);
    stamp("2026-02-02", "bbb");
    expect(proofKey(stampInputs(out, ["kernel", "image"]))).not.toBe(proofKey(first));
  });
});
