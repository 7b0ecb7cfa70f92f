/**
 * Expected failures: what went wrong, where, and what to do about it.
 * The CLI prints these without a stack trace; anything else is a bug.
 */
export class KilnError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;
  /** Last lines of a tool's output, shown under the message. */
  readonly tail: string[];

  constructor(message: string, opts: { hint?: string; exitCode?: number; tail?: string[] } = {}) {
    super(message);
    this.name = "KilnError";
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 2;
    this.tail = opts.tail ?? [];
  }
}

/** Bad input from the user: a board, fragment, option or file that is wrong. */
export class InputError extends KilnError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: 2 });
    this.name = "InputError";
  }
}

/** A required host tool or package is missing. */
export class MissingToolError extends KilnError {
  constructor(tool: string, aptPackage: string, why: string) {
    super(`${tool} not found: ${why}`, {
      hint: `install it with: apt-get install ${aptPackage}`,
      exitCode: 2,
    });
    this.name = "MissingToolError";
  }
}

/** An external command failed; carries the tail of its log. */
export class CommandError extends KilnError {
  readonly logFile: string | undefined;
  constructor(message: string, opts: { tail: string[]; logFile?: string; hint?: string }) {
    super(message, { tail: opts.tail, hint: opts.hint, exitCode: 3 });
    this.name = "CommandError";
    this.logFile = opts.logFile;
  }
}

/** The build completed but a check of its result failed (audit, readiness). */
export class CheckFailedError extends KilnError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: 1 });
    this.name = "CheckFailedError";
  }
}

/** The audit failed: carries the report so that `kiln config` can still print it. */
export class AuditFailedError extends CheckFailedError {
  constructor(
    message: string,
    hint: string,
    readonly report: object,
    readonly formatted: string,
  ) {
    super(message, hint);
    this.name = "AuditFailedError";
  }
}
