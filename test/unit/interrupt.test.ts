/** Ctrl-C while a board writes its flash: deferred once, and a second press leaves with the warning. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { interruptRequested, whileCritical } from "../../src/interrupt.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("Ctrl-C during a critical section", () => {
  it("the first press says what is running and is remembered; the second leaves with 130 and says not to power off", async () => {
    const before = process.listenerCount("SIGINT");
    // The seams: process.exit would end the test worker, stderr is what the user reads.
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const said = () => err.mock.calls.map((c) => String(c[0])).join("");
    let release: (v: string) => void = () => undefined;
    const section = whileCritical("ax3-01 is writing its flash and must not lose power", () => new Promise<string>((r) => (release = r)));
    expect(process.listenerCount("SIGINT")).toBe(before + 1);

    process.emit("SIGINT", "SIGINT");
    expect(exit).not.toHaveBeenCalled();
    expect(said()).toContain("kiln: interrupt: ax3-01 is writing its flash and must not lose power");
    expect(interruptRequested()).toBe(true);

    process.emit("SIGINT", "SIGINT");
    expect(exit).toHaveBeenCalledWith(130);
    expect(said()).toContain("left while a board was writing flash: do not power it off until flashcfg has finished");

    release("written");
    expect(await section).toEqual({ value: "written", interrupted: true });
    expect(process.listenerCount("SIGINT")).toBe(before);
  });

  it("a section without a press reports none, and sections of two boards share one handler", async () => {
    const before = process.listenerCount("SIGINT");
    const [a, b] = await Promise.all([
      whileCritical("board a", async () => {
        expect(process.listenerCount("SIGINT")).toBe(before + 1);
        return 1;
      }),
      whileCritical("board b", async () => 2),
    ]);
    expect(a).toEqual({ value: 1, interrupted: false });
    expect(b).toEqual({ value: 2, interrupted: false });
    expect(process.listenerCount("SIGINT")).toBe(before);
  });
});
