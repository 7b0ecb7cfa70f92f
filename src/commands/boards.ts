import { boardJsonSchema, listBoards, loadBoard } from "../board/load.js";
import { KilnError } from "../errors.js";
import { listFragments } from "../kconfig/fragments.js";

export async function boardsCommand(opts: { json: boolean; schema: boolean }): Promise<void> {
  if (opts.schema) {
    process.stdout.write(`${JSON.stringify(await boardJsonSchema(), null, 2)}\n`);
    return;
  }
  const names = await listBoards();
  const results = await Promise.all(
    names.map(async (name) => {
      try {
        const b = await loadBoard(name);
        return { name, ok: true, description: b.description, defconfig: b.kernel.defconfig, fragments: b.kernel.fragments };
      } catch (err) {
        return { name, ok: false, error: err instanceof KilnError ? err.message : String(err) };
      }
    }),
  );
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ boards: results, fragments: await listFragments() }, null, 2)}\n`);
  } else {
    for (const r of results) process.stdout.write(r.ok ? `${r.name.padEnd(18)} ${r.description}\n` : `${r.name.padEnd(18)} INVALID: ${r.error}\n`);
    process.stdout.write(`\nfragments: ${(await listFragments()).join(", ")}\n`);
  }
  const bad = results.filter((r) => !r.ok);
  if (bad.length > 0) throw new KilnError(`${bad.length} board definition(s) are invalid`, { exitCode: 1 });
}
