import { describe, expect, it } from "vitest";
import { describeOutcome } from "../../src/stage/display.js";

describe("what a stage's outcome line says", () => {
  it("a stage taken from the cache says so first, and why it was not up to date here apart from it", () => {
    const line = describeOutcome({ stage: "kernel", ran: true, how: "cache", why: ["never built"], seconds: 8.6 });
    expect(line).toBe("taken from the cache of earlier builds in 8.6 s (not up to date here: never built)");
  });

  it("a built stage gives its time and every reason it ran; an up-to-date one that it was skipped", () => {
    expect(describeOutcome({ stage: "image", ran: true, how: "built", why: [".config changed", "output changed since it was built"], seconds: 75 })).toBe(
      "built in 1 min 15 s (.config changed, output changed since it was built)",
    );
    expect(describeOutcome({ stage: "rootfs", ran: false, how: "up to date", why: [], seconds: 0 })).toBe("up to date, skipped");
  });
});
