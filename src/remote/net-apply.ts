/**
 * A new /etc/network/interfaces on a live board, applied at once and safely:
 * a detached script on the board takes the old network down (as the old file
 * defined it) and brings the new one up, then waits for kiln to reach the
 * board again and confirm. Unconfirmed within the deadline (the new network
 * does not carry kiln's connection), it puts the old file and the old network
 * back by itself. A board in a lab is never left unreachable by a deploy.
 *
 * The script and the state parser are pure; applyNetworkLive is the SSH side.
 */
import { KilnError } from "../errors.js";
import { shellQuote as q } from "../exec.js";
import { bootId } from "./reboot.js";
import { BOARD_ROOT } from "./probe.js";
import { Remote, type SshTarget } from "./ssh.js";

/** Board-side: $1 the private directory (old file in it), $2 seconds to wait for kiln's confirmation. */
const SCRIPT = `dir=$1; wait=$2; f="${BOARD_ROOT}/etc/network/interfaces"
exec >>"$dir/log" 2>&1
echo starting >"$dir/state"
ifdown -a --force -i "$dir/old"; echo "ifdown (old file) exit $?"
ifup -a -i "$f"; echo "ifup (new file) exit $?"
echo applied >"$dir/state"
i=0
while [ "$i" -lt "$wait" ]; do
  if [ -f "$dir/confirmed" ]; then echo confirmed >"$dir/state"; exit 0; fi
  sleep 1; i=$((i + 1))
done
echo "not confirmed within $wait s: the old network goes back"
ifdown -a --force -i "$f"
cp "$dir/old" "$f"
ifup -a -i "$f"; echo "ifup (old file) exit $?"
echo reverted >"$dir/state"
`;

export function detachedApplyScript(dir: string, confirmSeconds: number): string {
  return `setsid sh -c ${q(SCRIPT)} kiln-net ${q(dir)} ${confirmSeconds} </dev/null >/dev/null 2>&1 &`;
}

export type NetState = "starting" | "applied" | "confirmed" | "reverted" | "unknown";

export function parseNetState(text: string): NetState {
  const s = text.trim();
  return s === "starting" || s === "applied" || s === "confirmed" || s === "reverted" ? s : "unknown";
}

/**
 * Before the new file is written: a private directory on the board holding the
 * file the running network was brought up from. Undefined when there is none
 * (nothing to take down: the new file applies at the next boot).
 */
export async function saveRunningNetwork(remote: Remote): Promise<string | undefined> {
  const r = await remote.execScript(`f="${BOARD_ROOT}/etc/network/interfaces"; [ -f "$f" ] || exit 3; d=$(mktemp -d /tmp/kiln-net.XXXXXX) && cp -p "$f" "$d/old" && echo "$d"`);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Applies the new network and returns a connection made over it (the old one
 * is closed: its link went down). Throws when kiln cannot reach the board on
 * the new network; the board then reverts by itself.
 */
export async function applyNetworkLive(remote: Remote, target: SshTarget, dir: string, opts: { confirmSeconds: number; step: (s: string) => void }): Promise<Remote> {
  const boot = await bootId(remote);
  await remote.startDetached(detachedApplyScript(dir, opts.confirmSeconds));
  remote.close();
  opts.step(`network: the board brings up its new network; it puts the old one back unless kiln reaches it again within ${opts.confirmSeconds} s`);
  const start = Date.now();
  const reach = async (): Promise<{ again: Remote; state: NetState } | undefined> => {
    let again: Remote | undefined;
    try {
      again = await Remote.connect({ ...target, acceptNewHostKey: false, readyTimeoutMs: 8000 });
      const state = parseNetState((await again.exec(["cat", `${dir}/state`])).stdout);
      if ((await bootId(again)) === boot) return { again, state };
    } catch {
      again?.close();
      return undefined;
    }
    again.close();
    throw new KilnError(`${target.label ?? target.host} rebooted while its network was being changed`, { hint: "a RAM root boots its image's own files again: run kiln check, and kiln deploy again if needed" });
  };
  // Leave the script a moment to take the old network down: a login before that proves nothing.
  await sleep(2000);
  while (Date.now() - start < (opts.confirmSeconds - 5) * 1000) {
    const r = await reach();
    if (r?.state === "applied") {
      await r.again.exec(["touch", `${dir}/confirmed`]);
      for (let i = 0; i < 10; i++) {
        if (parseNetState((await r.again.exec(["cat", `${dir}/state`])).stdout) === "confirmed") {
          await r.again.exec(["rm", "-rf", dir]);
          opts.step("network: the board answers on its new network (confirmed)");
          return r.again;
        }
        await sleep(1000);
      }
      r.again.close();
      break;
    }
    r?.again.close();
    await sleep(r ? 1000 : 3000);
  }
  // Not confirmed: the board reverts when its deadline passes; say whether it is back.
  await sleep(Math.max(0, opts.confirmSeconds * 1000 - (Date.now() - start)) + 10_000);
  let back: { again: Remote; state: NetState } | undefined;
  for (let i = 0; i < 6 && back?.state !== "reverted"; i++) {
    back?.again.close();
    back = await reach();
    if (back?.state !== "reverted") await sleep(5000);
  }
  back?.again.close();
  throw new KilnError(`${target.label ?? target.host} did not answer on its new network within ${opts.confirmSeconds} s`, {
    hint:
      back?.state === "reverted"
        ? `it put its old /etc/network/interfaces and network back by itself and answers again (its log: ${dir}/log); the other deployed files stay written (run kiln deploy with the old network options to put them back)`
        : `it puts its old /etc/network/interfaces and network back by itself, but kiln could not reach it afterwards either: look at its console (its log: ${dir}/log)`,
  });
}
