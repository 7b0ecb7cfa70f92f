/**
 * What a no-op build relies on: a fact about a file is computed again exactly
 * when the file changed, whatever its mtime says.
 */
import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "kiln-memo-"));
process.env.KILN_CACHE_DIR = join(dir, "cache");
const { memoByKey, memoByStat } = await import("../../src/stat-memo.js");

const settle = () => new Promise((r) => setTimeout(r, 2100));

describe("facts remembered by file identity", () => {
  const file = join(dir, "input");
  let calls = 0;
  const count = () => memoByStat("test", file, async () => `${++calls}:${readFileSync(file, "utf8")}`);

  beforeAll(async () => {
    writeFileSync(file, "aaaa");
    await settle();
  });

  it("an unchanged file is not read again, and the fact is kept on disk for the next process", async () => {
    expect(await count()).toBe("1:aaaa");
    expect(await count()).toBe("1:aaaa");
    expect(JSON.parse(readFileSync(join(dir, "cache", "stat-memo.json"), "utf8")).entries).toHaveLength(1);
  });

  it("same size, mtime put back: the ctime still tells, and the fact is computed again", async () => {
    const before = (await import("node:fs")).statSync(file);
    writeFileSync(file, "bbbb");
    utimesSync(file, before.atime, before.mtime);
    await settle();
    expect(await count()).toBe("2:bbbb");
  });

  it("a file changed less than two seconds ago is never remembered", async () => {
    writeFileSync(file, "cccc");
    expect(await count()).toBe("3:cccc");
    expect(await count()).toBe("4:cccc");
  });

  it("a key that names its content needs no file", async () => {
    let n = 0;
    const f = () => memoByKey("k", "abc", async () => String(++n));
    expect(await f()).toBe("1");
    expect(await f()).toBe("1");
  });
});
