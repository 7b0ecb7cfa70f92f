/** Reboot a board and wait for it to come back as a new boot (boot_id changes). */
import { KilnError } from "../errors.js";
import { Remote, type SshTarget } from "./ssh.js";

/** The board's boot id; a board that cannot say within the limit is treated as gone. */
export async function bootId(remote: Remote, timeoutMs = 20_000): Promise<string> {
  return (await remote.exec(["cat", "/proc/sys/kernel/random/boot_id"], { timeoutMs })).stdout.trim();
}

export async function rebootAndWait(
  remote: Remote,
  target: SshTarget,
  opts: { timeoutMs: number; update?: (s: string) => void; signal?: AbortSignal },
): Promise<Remote> {
  const before = await bootId(remote);
  // Detached, so the SSH command returns before the connection is cut.
  // busybox's reboot when the board has no other (a minimal root with busybox init).
  await remote.startDetached("(sleep 1; reboot || busybox reboot) >/dev/null 2>&1 </dev/null &");
  remote.close();
  const deadline = Date.now() + opts.timeoutMs;
  opts.update?.("waiting for the board to go down and come back");
  let lastError = "";
  while (Date.now() < deadline) {
    if (opts.signal?.aborted) throw new KilnError("interrupted while waiting for the board to come back", { exitCode: 130 });
    // Short tries, often: a try made while the board still boots waits out its whole timeout even
    // when SSH comes up meanwhile (QEMU's user network and some NATs hold the half-open connection).
    await new Promise((r) => setTimeout(r, 1000));
    let again: Remote | undefined;
    try {
      again = await Remote.connect({ ...target, acceptNewHostKey: false, readyTimeoutMs: 5000 });
      const now = await bootId(again, 5000);
      if (now && now !== before) return again;
      again.close();
      lastError = "still the same boot";
    } catch (err) {
      // A login made just as the board went down: its connection (and a jump host's) must not linger.
      again?.close();
      lastError = (err as Error).message;
      if (/CHANGED/.test(lastError)) throw err;
    }
  }
  throw new KilnError(`the board did not come back within ${Math.round(opts.timeoutMs / 1000)} s after reboot (last: ${lastError})`, {
    hint: "check its serial console; the image was written, so the boot loader may be stuck on it",
  });
}
