/**
 * kiln bench: seed 004's measurements on a running board. The CPU suite
 * (stress-ng, see src/bench/suite.ts) on the board and inside a container, and
 * TCP throughput from the build machine (iperf3 -R: this machine sends) to the
 * board, to a veth container on br0 and to a macvlan container. Every run is
 * bounded; the containers are removed also on failure.
 */
import { join, resolve } from "node:path";
import { CPU_SUITE, cpuIndex, formatTable, parseIperf3, parseStressNg, ratio, type BenchRow } from "../bench/suite.js";
import { InputError, KilnError } from "../errors.js";
import { requireTool, StageLog, startServer } from "../exec.js";
import { writeFileAtomic } from "../fsutil.js";
import { boardScript } from "../check/board-script.js";
import { freeLoopbackPort } from "../qemu/instance.js";
import { boardLogName, parseHostSpec } from "../remote/fleet.js";
import { type SshCliOptions, sshTargetFor } from "../remote/ssh-config.js";
import { Remote } from "../remote/ssh.js";

export interface BenchOptions extends SshCliOptions {
  host: string;
  seconds: string;
  serverAddress?: string;
  out?: string;
  json: boolean;
}

export interface BenchReport {
  host: string;
  emulated: boolean;
  seconds: number;
  announcedSeconds: number;
  elapsedSeconds: number;
  cpu: BenchRow[];
  cpuIndex?: number;
  network: BenchRow[];
  notes: string[];
  containersLeft: string[];
}

/** Seconds a run may take beyond its measuring time (a container's stress-ng starts through lxc-attach). */
const CPU_OVERHEAD = 8;
const NET_OVERHEAD = 10;
const CONTAINER_START = 75;

/** How long the whole bench may take: what kiln announces and holds itself to. */
export function announce(seconds: number, containers: number): number {
  return CPU_SUITE.length * 2 * (seconds + CPU_OVERHEAD) + 3 * (seconds + NET_OVERHEAD) + containers * CONTAINER_START + 20;
}

export async function benchCommand(opts: BenchOptions): Promise<void> {
  const seconds = Number(opts.seconds);
  const target = await sshTargetFor(parseHostSpec(opts.host), opts);
  if (target.via && !opts.serverAddress) {
    throw new InputError(`${opts.host} is reached through a jump host: the board would see the jump host's address as this machine's`, "pass --server-address with this machine's address as the board sees it (iperf3's server runs here)");
  }
  await requireTool("iperf3", "iperf3", "kiln bench measures TCP throughput with an iperf3 server on this machine");
  const log = new StageLog(join(opts.out ?? resolve("out"), "logs", boardLogName("bench", target.host, target.port)));
  const say = (s: string) => {
    log.write(`# ${s}`);
    if (!opts.json) process.stderr.write(`${s}\n`);
  };
  const script = await boardScript("bench/bench.sh");
  const remote = await Remote.open(target, log);
  const started = Date.now();
  const containers: string[] = [];
  let iperf: Awaited<ReturnType<typeof startServer>> | undefined;
  // Ctrl-C (or a kill) between the runs: the containers go, and the server here, before kiln does.
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\nkiln: ${sig}: removing the bench containers from ${opts.host}\n`);
    void Promise.all([iperf?.stop(), removeContainers(remote, script, containers)]).finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let deadline = Date.now() + 60_000;
  let announced = 0;
  const board = (action: string, args: (string | number)[], ms: number) => {
    const left = deadline - Date.now();
    if (left < Math.min(ms, 5000)) {
      return Promise.reject(new KilnError(`kiln bench went past the ${announced} s it announced, before: ${action} ${args.join(" ")}`, { hint: `the board is slower than kiln reckoned: run again with fewer --seconds; full log: ${log.file}` }));
    }
    return remote.exec(["sh", "-s", "--", action, ...args.map(String)], { input: script, timeoutMs: Math.min(ms, left) });
  };
  try {
    const missing = (await board("tools", [], 30_000)).stdout.trim().split("\n").filter(Boolean);
    if (missing.length > 0) {
      throw new InputError(`${opts.host} has no ${missing.join(" and ")}: kiln installs benchmark tools only when asked`, `flash an image of the bench profile (kiln build --board B --profile bench), or where apt has room (a disk root): kiln deploy --host ${opts.host} --profile bench`);
    }
    const facts = (
      await remote.execScript(
        'echo "ssh=${SSH_CONNECTION%% *}"; sed -n "s/^lxc.net.0.\\(type\\|link\\) *= */\\1=/p" /etc/lxc/default.conf 2>/dev/null; [ -d /sys/class/net/br0 ] && echo br0=yes; ls -d /proc/device-tree/fw-cfg@* >/dev/null 2>&1 && echo emulated=yes; true',
        { timeoutMs: 30_000 },
      )
    ).stdout;
    const fact = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(facts)?.[1]?.trim();
    const emulated = fact("emulated") === "yes";
    const server = opts.serverAddress ?? fact("ssh");
    if (!server) throw new KilnError(`${opts.host} does not say where kiln's connection comes from (no SSH_CONNECTION)`, { hint: "pass --server-address with this machine's address as the board sees it" });
    const netType = fact("type") ?? "veth";
    const link = fact("link") ?? "br0";
    const hasBridge = fact("br0") === "yes";
    // The bridge's port cannot carry a macvlan (its receive hook is the bridge's): then the macvlan sits on br0.
    const macvlanLink = netType === "macvlan" ? link : hasBridge ? "br0" : link;
    const notes: string[] = [];
    if (emulated) notes.push("This board is emulated (QEMU): the absolute figures mean nothing, the ratios and the procedure do.");
    if (netType !== "macvlan" && hasBridge) notes.push(`The macvlan container sits on br0: ${opts.host}'s uplink is a port of br0 (its containers use veth), and a bridge port cannot carry a macvlan. Build with --net macvlan for seed 004's macvlan on the uplink.`);
    announced = announce(seconds, hasBridge ? 2 : 1);
    deadline = started + announced * 1000;
    say(`kiln bench on ${opts.host}: ${CPU_SUITE.length} CPU tests of ${seconds} s on the board and in a container, ${hasBridge ? 3 : 2} TCP runs of ${seconds} s; at most ${announced} s`);

    const cpuRun = async (where: string, t: (typeof CPU_SUITE)[number]): Promise<number> => {
      const r = await board("cpu", [where, seconds, ...t.args], (seconds + CPU_OVERHEAD) * 1000);
      if (r.code !== 0) throw new KilnError(`stress-ng ${t.args.join(" ")} failed ${where === "-" ? "on the board" : "in the container"}: ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`);
      return parseStressNg(r.stdout, t.stressor);
    };
    const cpu: BenchRow[] = CPU_SUITE.map((t) => ({ id: t.id, what: t.unixbench, unit: "ops/s" }));
    for (const [i, t] of CPU_SUITE.entries()) {
      say(`cpu ${i + 1}/${CPU_SUITE.length} on the board: ${t.unixbench}`);
      (cpu[i] as BenchRow).host = await cpuRun("-", t);
    }

    const start = async (name: string, net: "veth" | "macvlan", on: string): Promise<string> => {
      say(`container ${name}: ${net} on ${on}`);
      containers.push(name);
      const r = await board("start", [name, net, on], CONTAINER_START * 1000);
      if (r.code !== 0) throw new KilnError(`container ${name} (${net} on ${on}) did not come up: ${r.stderr.trim()}`, { hint: `full log: ${log.file}` });
      return r.stdout.trim();
    };
    const veth = hasBridge ? await start("kiln-bench-veth", "veth", "br0") : undefined;
    const cpuIn = hasBridge ? "kiln-bench-veth" : "kiln-bench-macvlan";
    const macvlan = await start("kiln-bench-macvlan", "macvlan", macvlanLink);
    for (const [i, t] of CPU_SUITE.entries()) {
      say(`cpu ${i + 1}/${CPU_SUITE.length} in the container: ${t.unixbench}`);
      const row = cpu[i] as BenchRow;
      row.container = await cpuRun(cpuIn, t);
      row.ratio = ratio(row.host, row.container);
    }

    const port = await freeLoopbackPort();
    // Also kept outside the try, so that Ctrl-C stops it.
    const srv = (iperf = await startServer("iperf3", ["-s", "-p", String(port)], log));
    const network: BenchRow[] = [];
    try {
      const tcp = async (where: string, what: string): Promise<number> => {
        say(`tcp ${what}: iperf3 from ${server}:${port}`);
        if (srv.exited()) throw new KilnError(`the iperf3 server on this machine ended early`, { hint: `its output is in ${log.file}` });
        const r = await board("net", [where, server, port, seconds], (seconds + NET_OVERHEAD) * 1000);
        try {
          return parseIperf3(r.stdout);
        } catch (err) {
          throw new KilnError(`TCP ${what}: ${(err as Error).message}`, {
            hint: `the board must reach this machine's iperf3 server at ${server}:${port}: let TCP ${port} in, or pass --server-address with this machine's address as the board sees it; full log: ${log.file}`,
          });
        }
      };
      const onBoard = await tcp("-", "to the board");
      const rowFor = (id: string, what: string, container: number | undefined, note?: string): BenchRow => ({ id, what, unit: "Mbit/s", host: onBoard, container, ratio: ratio(onBoard, container), ...(note ? { note } : {}) });
      network.push(veth ? rowFor("veth", "TCP, veth on br0", await tcp("kiln-bench-veth", `to the veth container (${veth})`)) : rowFor("veth", "TCP, veth on br0", undefined, "no br0 on the board"));
      network.push(rowFor("macvlan", `TCP, macvlan on ${macvlanLink}`, await tcp("kiln-bench-macvlan", `to the macvlan container (${macvlan})`)));
    } finally {
      await srv.stop();
    }

    const left = await removeContainers(remote, script, containers);
    const report: BenchReport = {
      host: `${target.host}:${target.port}`,
      emulated,
      seconds,
      announcedSeconds: announced,
      elapsedSeconds: Math.round((Date.now() - started) / 100) / 10,
      cpu,
      cpuIndex: cpuIndex(cpu),
      network,
      notes,
      containersLeft: left,
    };
    // Kept beside the log: the figures of every bench stay readable by machines, whatever was printed.
    const saved = log.file.replace(/\.log$/, ".json");
    await writeFileAtomic(saved, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\nreport: ${saved}\n`);
    if (left.length > 0) throw new KilnError(`containers left on ${opts.host}: ${left.join(", ")}`, { hint: "remove them with lxc-destroy -f -n NAME" });
  } catch (err) {
    const left = await removeContainers(remote, script, containers).catch(() => containers);
    if (left.length > 0) {
      const why = err instanceof Error ? err.message : String(err);
      throw new KilnError(`${why}; containers left on ${opts.host}: ${left.join(", ")}`, { hint: `remove them with lxc-destroy -f -n NAME${err instanceof KilnError && err.hint ? `; ${err.hint}` : ""}`, exitCode: err instanceof KilnError ? err.exitCode : 1 });
    }
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    remote.close();
  }
}

async function removeContainers(remote: Remote, script: string, names: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (const n of names) {
    const r = await remote.exec(["sh", "-s", "--", "stop", n], { input: script, timeoutMs: 60_000 }).catch(() => ({ code: 1 }));
    if (r.code !== 0) left.push(n);
  }
  return left;
}

export function formatReport(r: BenchReport): string {
  const idx = r.cpuIndex === undefined ? undefined : `index (geometric mean of the ratios): ${(r.cpuIndex * 100).toFixed(1)} %`;
  return [
    formatTable(`CPU and system (stress-ng, ${r.seconds} s a test; seed 004 used UnixBench)`, r.cpu, idx),
    "",
    formatTable(`TCP from this machine (iperf3, ${r.seconds} s a run; seed 004 used nuttcp)`, r.network),
    ...(r.notes.length ? ["", ...r.notes] : []),
    "",
    `${r.elapsedSeconds} s of the ${r.announcedSeconds} s announced; containers removed${r.containersLeft.length ? ` except ${r.containersLeft.join(", ")}` : ""}.`,
  ].join("\n");
}
