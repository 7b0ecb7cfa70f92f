/**
 * `kiln check --host`: the same readiness questions asked of a running board,
 * plus proof that a container really starts there with its own PID and UTS
 * namespaces, a memory limit, a cpuset and a veth on br0.
 */
import { configValue, parseConfig, type ParsedConfig } from "../kconfig/dotconfig.js";
import { boardScript } from "./board-script.js";
import type { Remote } from "../remote/ssh.js";
import { crossCheck, parseLxcCheckconfig } from "./lxc-checkconfig.js";
import { checkReadiness } from "./readiness.js";

export interface LiveCheck {
  id: string;
  label: string;
  need: "required" | "optional";
  ok: boolean;
  detail: string;
}

export interface LiveReport {
  ok: boolean;
  host: string;
  release: string;
  checks: LiveCheck[];
}

export interface LiveOptions {
  builtConfig?: ParsedConfig;
  builtRelease?: string;
  proof: boolean;
  containerName: string;
  memory: string;
  cpus: string;
  /** Docker's --cpu-shares, set as cgroup v2's cpu.weight the way runc maps it (default 512) */
  cpuShares?: number;
  /** the container's pids.max (default 32) */
  pidsMax?: number;
}

export const PROOF_CPU_SHARES = 512;
export const PROOF_PIDS_MAX = 32;

/**
 * cgroup v1 cpu.shares (2..262144) as cgroup v2 cpu.weight (1..10000), the
 * linear map runc applies to Docker's --cpu-shares and Kubernetes' CPU requests.
 */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** How many CPUs a cpuset list names: "0" is 1, "0-2,5" is 4. */
export function cpusetSize(list: string): number {
  return list.split(",").reduce((n, part) => {
    const [a, b] = part.split("-").map(Number);
    return n + (b === undefined ? 1 : (b ?? 0) - (a ?? 0) + 1);
  }, 0);
}

/** "container=N board=M" of the lxcfs-* proof steps. */
function figures(detail: string): { container: number; board: number } {
  const c = /container=(\d+)/.exec(detail);
  const b = /board=(\d+)/.exec(detail);
  return { container: c ? Number(c[1]) : Number.NaN, board: b ? Number(b[1]) : Number.NaN };
}

/**
 * The verdicts kiln draws from the figures of the LXCFS steps: inside, free
 * shows the limit (or the board's memory when the limit is larger), and
 * /proc/cpuinfo as many processors as the cpuset has.
 */
export function judgeLxcfs(id: "lxcfs-memory" | "lxcfs-cpus", detail: string, limits: { memoryBytes: number; cpus: number }): { ok: boolean; detail: string } {
  const f = figures(detail);
  if (id === "lxcfs-memory") {
    const want = Math.min(Math.floor(limits.memoryBytes / 1024), f.board);
    return { ok: f.container === want, detail: `MemTotal in the container's /proc/meminfo (what free shows): ${f.container} KiB (want ${want}); the board: ${f.board} KiB` };
  }
  return { ok: f.container === limits.cpus && f.board >= limits.cpus, detail: `/proc/cpuinfo in the container: ${f.container} processor(s) (want ${limits.cpus}); the board: ${f.board}` };
}

export function memoryBytes(spec: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(spec.trim());
  if (!m) return Number.NaN;
  const mult = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? "").toUpperCase()] ?? 1;
  return Number(m[1]) * mult;
}

/** Parse the proof script's "KILN-CHECK id ok|fail detail" lines. */
export function parseProof(output: string): { id: string; ok: boolean; detail: string }[] {
  return output
    .replace(/\r/g, "")
    .split("\n")
    .map((l) => /^KILN-CHECK (\S+) (ok|fail) ?(.*)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ id: m[1] as string, ok: m[2] === "ok", detail: m[3] ?? "" }));
}

/** Symbols whose values differ between the built config and the running one. */
export function configDifferences(built: ParsedConfig, running: ParsedConfig): string[] {
  const names = new Set([...built.values.keys(), ...running.values.keys()]);
  const diffs: string[] = [];
  for (const n of [...names].sort()) {
    const a = configValue(built, n);
    const b = configValue(running, n);
    if (a !== b) diffs.push(`${n}: built ${a}, running ${b}`);
  }
  return diffs;
}

const PROOF_LABELS: Record<string, string> = {
  create: "container created (lxc-create, LXC's busybox template)",
  start: "container started (lxc-start -d)",
  pidns: "own PID namespace",
  utsns: "own hostname (UTS namespace)",
  memory: "memory limit in its cgroup",
  cpuset: "cpuset in its cgroup",
  lxcfs: "LXCFS serves the container's /proc",
  "lxcfs-memory": "the container's /proc/meminfo shows its memory limit (LXCFS)",
  "lxcfs-cpus": "/proc/cpuinfo in the container shows its cpuset (LXCFS)",
  "cpu-weight": "CPU weight as Docker sets --cpu-shares",
  pids: "pids limit holds against a fork loop",
  "dev-loop": "device grant: a file on /dev/loop0",
  "dev-tun": "device grant: /dev/net/tun",
  "dev-deny": "a device outside the grants is refused",
  bridge: "reachable from the board over the container network (veth on br0, or macvlan)",
  cleanup: "container removed",
};

export async function checkLive(remote: Remote, opts: LiveOptions): Promise<LiveReport> {
  const checks: LiveCheck[] = [];
  const add = (c: LiveCheck) => checks.push(c);
  const release = (await remote.exec(["uname", "-r"])).stdout.trim();
  if (opts.builtRelease) {
    add({ id: "release", label: "running the built kernel", need: "required", ok: release === opts.builtRelease, detail: `uname -r: ${release}, built: ${opts.builtRelease}` });
  }

  const cfgText = await remote.execScript("if [ -r /proc/config.gz ]; then gzip -dc /proc/config.gz; fi");
  if (cfgText.stdout.trim() === "") {
    add({ id: "config", label: "/proc/config.gz readable", need: "required", ok: false, detail: "no /proc/config.gz: the kernel needs IKCONFIG_PROC" });
  } else {
    const running = parseConfig(cfgText.stdout, "/proc/config.gz");
    const readiness = checkReadiness(running, { kernelVersion: release });
    for (const r of readiness.results) {
      add({ id: `config:${r.id}`, label: r.label, need: r.need, ok: r.ok, detail: r.ok ? r.found.join(" ") : `missing ${r.missing.map((m) => `CONFIG_${m}`).join(" or ")}` });
    }
    if (opts.builtConfig) {
      const diffs = configDifferences(opts.builtConfig, running);
      add({ id: "config-match", label: "running config is the built .config", need: "required", ok: diffs.length === 0, detail: diffs.length ? diffs.slice(0, 8).join("; ") : "identical" });
    }
    // The same config, unpacked once: lxc-checkconfig otherwise runs zcat for each of its ~40 options
    // (a third of its 6 s on an emulated board).
    const lxc = await remote.execScript(
      'command -v lxc-checkconfig >/dev/null || exit 0; c=$(mktemp) || exit 1; trap \'rm -f "$c"\' EXIT; gzip -dc /proc/config.gz >"$c" && CONFIG="$c" lxc-checkconfig 2>&1',
    );
    if (lxc.stdout.trim() === "") {
      add({ id: "lxc-checkconfig", label: "lxc-checkconfig on the board", need: "required", ok: false, detail: "lxc-checkconfig is not installed or printed nothing" });
    } else {
      const cc = crossCheck(readiness, parseLxcCheckconfig(lxc.stdout));
      add({
        id: "lxc-checkconfig",
        label: "lxc-checkconfig on the board agrees",
        need: "required",
        ok: cc.disagreements.length === 0 && cc.agreed > 0,
        detail: cc.disagreements.length ? cc.disagreements.map((d) => `${d.label}: kiln ${d.kiln}, lxc ${d.lxc}`).join("; ") : `${cc.agreed} answers agree`,
      });
    }
  }

  const mounts = await remote.execScript("grep -E ' (cgroup2|cgroup) ' /proc/mounts");
  add({ id: "cgroup-mount", label: "cgroups mounted", need: "required", ok: mounts.stdout.trim() !== "", detail: mounts.stdout.trim().split("\n")[0] ?? "none" });
  // The containers' network as LXC's default.conf says (kiln renders it): veth on br0, or macvlan on the NIC.
  const net = await remote.execScript("sed -n 's/^lxc.net.0.\\(type\\|link\\) *= *//p' /etc/lxc/default.conf 2>/dev/null");
  const [netType = "veth", netLink = "br0"] = net.stdout.trim().split("\n");
  if (netType === "macvlan") {
    const up = await remote.exec(["ip", "-o", "link", "show", netLink]);
    add({ id: "macvlan-link", label: `macvlan parent ${netLink} is up`, need: "required", ok: up.code === 0 && /[<,]UP[,>]/.test(up.stdout), detail: (up.stdout || up.stderr).trim().split("\n")[0] ?? "" });
  } else {
    const br = await remote.execScript("ip -o link show br0 2>&1");
    add({ id: "br0", label: "bridge br0 exists", need: "required", ok: br.code === 0, detail: br.stdout.trim().split("\n")[0] ?? "" });
  }

  // LXC pivots a container's root away only from a real filesystem: on the initramfs itself it falls back to chroot.
  const root = await remote.execScript("awk '$2 == \"/\" { t = $3 } END { print t }' /proc/mounts");
  const rootType = root.stdout.trim() || "unknown";
  add({
    id: "root-fs",
    label: "root is not the initramfs (LXC can pivot_root)",
    need: "required",
    ok: rootType !== "rootfs" && rootType !== "unknown",
    detail: rootType === "rootfs" ? "/ is the initramfs: LXC uses chroot instead of pivot_root (the image's /init must switch_root into a tmpfs)" : `/ is ${rootType}`,
  });
  const store = await remote.execScript('p=$(lxc-config lxc.lxcpath 2>/dev/null || echo /var/lib/lxc); mkdir -p "$p"; echo "$p $(stat -f -c %T "$p")"');
  const [lxcPath = "/var/lib/lxc", storeType = "unknown"] = store.stdout.trim().split(" ");
  const inRam = ["tmpfs", "ramfs", "rootfs"].includes(storeType);
  add({
    id: "persistent-containers",
    label: "containers survive a reboot",
    need: "optional",
    ok: !inRam,
    detail: inRam ? `${lxcPath} is on ${storeType}: containers live in RAM and are lost at reboot (label a disk's ext4 filesystem as the board data's rootfs.data.label, e.g. e2label /dev/sda1 kiln-data)` : `${lxcPath} is on ${storeType}`,
  });

  if (opts.proof) {
    const script = await boardScript("check/proof.sh");
    const weight = cpuSharesToWeight(opts.cpuShares ?? PROOF_CPU_SHARES);
    const pids = opts.pidsMax ?? PROOF_PIDS_MAX;
    const res = await remote.execScript(`sh -s -- ${opts.containerName} ${opts.memory} ${opts.cpus} ${weight} ${pids}`, { input: script, timeoutMs: 240_000 });
    const steps = parseProof(res.stdout);
    const want = memoryBytes(opts.memory);
    const lxcfsUp = steps.find((s) => s.id === "lxcfs")?.ok === true;
    for (const s of steps) {
      let { ok, detail } = s;
      if (s.id === "memory") {
        ok = s.detail === `memory.max=${want}`;
        detail = `${s.detail} (want ${want})`;
      }
      if (s.id === "lxcfs-memory" || s.id === "lxcfs-cpus") {
        ({ ok, detail } = judgeLxcfs(s.id, s.detail, { memoryBytes: want, cpus: cpusetSize(opts.cpus) }));
        // Without LXCFS the figures can match by chance (a limit above the board's memory): never a pass.
        if (!lxcfsUp) {
          ok = false;
          detail = `${detail}; lxcfs is not serving the container's /proc`;
        }
      }
      add({ id: `proof:${s.id}`, label: PROOF_LABELS[s.id] ?? s.id, need: "required", ok, detail });
    }
    if (!steps.some((s) => s.id === "cleanup") && !steps.some((s) => !s.ok)) {
      add({ id: "proof", label: "container proof finished", need: "required", ok: false, detail: `the proof script stopped early: ${res.stdout.trim().split("\n").slice(-3).join(" | ")}${res.stderr}` });
    }
  }
  return { ok: checks.every((c) => c.ok || c.need === "optional"), host: `${remote.target.host}:${remote.target.port}`, release, checks };
}

export function formatLive(r: LiveReport): string {
  const lines = [`Live check of ${r.host} (Linux ${r.release})`, ""];
  for (const c of r.checks) {
    lines.push(`  ${c.ok ? "ok  " : c.need === "optional" ? "warn" : "FAIL"}  ${c.label}${c.detail ? `: ${c.detail}` : ""}`);
  }
  const failed = r.checks.filter((c) => !c.ok && c.need === "required");
  lines.push("", failed.length ? `NOT READY: ${failed.length} required check(s) failed` : `READY: all ${r.checks.filter((c) => c.need === "required").length} required checks pass`);
  return lines.join("\n");
}
