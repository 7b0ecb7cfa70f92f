/**
 * runStage: the one place where a stage is stamped, forced, logged, cached and
 * shown. A stage whose inputs and outputs match its stamp is skipped; one whose
 * inputs were built before anywhere on this machine is restored from the
 * content-addressed cache; otherwise it runs with a fresh log, and when it
 * fails, the file outputs it had before are put back, so a failed run leaves
 * the last good result as it was.
 */
import { existsSync, statSync } from "node:fs";
import { copyFile, link, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { checkStamp, writeStamp } from "../cache.js";
import { KilnError } from "../errors.js";
import { StageLog } from "../exec.js";
import { tempSibling } from "../fsutil.js";
import type { BuildContext, How, Stage, StageOutcome } from "./contract.js";
import { type Display, silentDisplay } from "./display.js";
import { hasEntry, restoreOutputs, storeOutputs } from "./store.js";

export interface StageRun<R> {
  outcome: StageOutcome;
  result: R;
}

export async function runStage<Up, R>(stage: Stage<Up, R>, ctx: BuildContext, up: Up, display: Display = silentDisplay): Promise<StageRun<R>> {
  const t0 = Date.now();
  const row = display.start(stage.name, stage.title(ctx));
  const finish = async (how: How, why: string[]): Promise<StageRun<R>> => {
    const outcome: StageOutcome = { stage: stage.name, ran: how === "built", how, why, seconds: Math.round((Date.now() - t0) / 100) / 10 };
    row.done(outcome);
    return { outcome, result: await stage.result(ctx, up) };
  };
  try {
    const inputs = await stage.inputs(ctx, up);
    const outputs = stage.outputs(ctx);
    const forced = ctx.force.includes(stage.name);
    const fresh = await checkStamp(ctx.outDir, stage.name, inputs);
    if (fresh.fresh && !forced) {
      // An up-to-date result that the cache lost (pruned, or built with --no-cache) is filed again.
      if (stage.cacheable && !hasEntry(stage.name, inputs)) await storeOutputs(stage.name, inputs, ctx.outDir, outputs).catch(() => undefined);
      return await finish("up to date", []);
    }
    const why = forced ? ["--force"] : fresh.why;
    if (!forced && stage.cacheable && ctx.useCache !== false && hasEntry(stage.name, inputs)) {
      row.status("restoring from the cache of earlier builds");
      if (await restoreOutputs(stage.name, inputs, ctx.outDir)) {
        await writeStamp(ctx.outDir, stage.name, inputs, outputs);
        return await finish("cache", why);
      }
    }
    const log = new StageLog(join(ctx.outDir, "logs", stage.logName)).reset();
    log.write(`# ${stage.name} runs: ${why.join(", ")}`);
    const saved = await saveFiles(outputs);
    try {
      await stage.run(ctx, up, { log, status: (t) => row.status(t), signal: ctx.signal });
      const missing = outputs.filter((o) => !existsSync(o));
      if (missing.length > 0) throw new KilnError(`the ${stage.name} stage finished without making ${missing.join(", ")}`, { hint: `this is a bug in kiln; the log is ${log.file}` });
      await writeStamp(ctx.outDir, stage.name, inputs, outputs);
    } catch (err) {
      await saved.restore();
      if (ctx.signal?.aborted) {
        throw new KilnError(`interrupted: the ${stage.name} stage was stopped`, {
          exitCode: 130,
          hint: `what was built before stays in ${ctx.outDir}; the next build resumes from there. Log: ${log.file}`,
        });
      }
      throw err;
    }
    await saved.drop();
    // --no-cache only means "do not take from the cache": what was built here is filed for others.
    if (stage.cacheable) {
      row.status("saving to the cache");
      await storeOutputs(stage.name, inputs, ctx.outDir, outputs).catch((err: unknown) => log.write(`# could not save to the cache: ${String(err)}`));
    }
    return await finish("built", why);
  } catch (err) {
    row.fail(err);
    throw err;
  }
}

interface Saved {
  restore(): Promise<void>;
  drop(): Promise<void>;
}

/**
 * Keep the stage's current file outputs aside while it runs. Small files are
 * copied (tools such as merge_config.sh rewrite a file in place); large ones
 * are hard-linked (stages replace those by rename, never in place).
 */
async function saveFiles(outputs: readonly string[]): Promise<Saved> {
  const kept: { file: string; copy: string }[] = [];
  for (const file of outputs) {
    if (!existsSync(file)) continue;
    const st = statSync(file);
    if (!st.isFile()) continue;
    const copy = tempSibling(file);
    if (st.size < 16 * 1024 * 1024) await copyFile(file, copy);
    else await link(file, copy).catch(() => copyFile(file, copy));
    kept.push({ file, copy });
  }
  return {
    restore: async () => {
      for (const k of kept) await rename(k.copy, k.file).catch(() => undefined);
    },
    drop: async () => {
      for (const k of kept) await rm(k.copy, { force: true });
    },
  };
}
