/**
 * A stage is a list of named steps run in order over one context. listr2 shows
 * progress on a terminal, plain lines in a log or CI, and nothing with --json.
 */
import { Listr } from "listr2";

export interface Step<C> {
  title: string;
  run: (ctx: C, update: (detail: string) => void) => Promise<void>;
  /** Skip the step (with this reason) when it returns a string. */
  skip?: (ctx: C) => string | false;
}

export interface StepOptions {
  quiet: boolean;
}

export async function runSteps<C extends object>(steps: readonly Step<C>[], ctx: C, opts: StepOptions): Promise<C> {
  const tasks = new Listr<C, "default" | "silent", "simple" | "silent">(
    steps.map((s) => ({
      title: s.title,
      skip: s.skip ? (c: C) => s.skip?.(c) ?? false : undefined,
      task: async (c: C, task) => {
        await s.run(c, (detail) => {
          task.output = detail;
        });
      },
    })),
    {
      concurrent: false,
      exitOnError: true,
      renderer: opts.quiet ? "silent" : "default",
      fallbackRenderer: opts.quiet ? "silent" : "simple",
      ctx,
      rendererOptions: { collapseErrors: false, showErrorMessage: false },
      fallbackRendererOptions: {},
    },
  );
  return tasks.run(ctx);
}
