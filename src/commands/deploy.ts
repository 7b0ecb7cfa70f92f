/**
 * kiln deploy: a board that already runs a suitable kernel gets kiln's
 * container setup without a reflash: the rootfs templates rendered for it,
 * written where they differ, and the profile's packages through apt. For one
 * board or many, like kiln flash.
 */
import { join } from "node:path";
import { listBoards, loadBoard } from "../board/load.js";
import type { Board } from "../board/schema.js";
import { InputError, KilnError } from "../errors.js";
import type { StageLog } from "../exec.js";
import { stateDir } from "../paths.js";
import { applyDeploy, changes, deployFiles, type FileAction, NETWORK_FILE, packageState, planDeploy, readFiles, writes } from "../remote/deploy.js";
import { applyNetworkLive, saveRunningNetwork } from "../remote/net-apply.js";
import { BoardFiles } from "../remote/files.js";
import { type BoardOutcome, boardLogName, failIfAny, type FleetOptions, refuseDuplicateBoards, runOnBoards, summaryTable, targetsFrom, waveOptions } from "../remote/fleet.js";
import { matchIdentity } from "../board/identity.js";
import { BOARD_ROOT, boardRoot, checkIdentity, readIdentity } from "../remote/probe.js";
import { Remote, type SshTarget } from "../remote/ssh.js";
import { loadProfile, type Profile } from "../rootfs/profile.js";
import { type NetMode, type NetworkOptions, READY_MARKER, templateContext } from "../rootfs/templates.js";

export interface DeployOptions extends FleetOptions {
  board?: string;
  profile?: string;
  net?: NetMode;
  address?: string;
  gateway?: string;
  dns?: string[];
  packages: boolean;
  dryRun: boolean;
  /** apply a changed /etc/network/interfaces to the running board (confirm or revert) */
  applyNetwork?: boolean;
  /** seconds the board waits for kiln on its new network before it reverts */
  netConfirm?: string;
}

interface Outcome extends BoardOutcome {
  board?: string;
  kernel?: string;
  changed: boolean;
  files: { path: string; action: FileAction; why: string }[];
  skipped: { path: string; why: string }[];
  packages?: { installed: string[]; present: string[] } | { skipped: string; wanted: string[] };
  /** how a changed network file reached the running board */
  network?: "applied" | "next boot";
  /** the board's root is in RAM (a kiln image): what was written is gone after a reboot */
  untilReboot?: boolean;
}

export async function deployCommand(opts: DeployOptions): Promise<void> {
  const profile = await loadProfile(opts.profile ?? "default");
  // The board must bring the new network up (a DHCP lease, a bridge) and kiln log in over it in that time.
  if (opts.netConfirm !== undefined && Number(opts.netConfirm) < 15) {
    throw new InputError(`--net-confirm ${opts.netConfirm}: too short for a board to bring up a new network and kiln to log in again`, "give 15 seconds or more (default 60)");
  }
  const net: NetworkOptions = { net: opts.net ?? "veth", address: opts.address, gateway: opts.gateway, dns: opts.dns ?? [] };
  const given = opts.board ? await loadBoard(opts.board) : undefined;
  // Bad board data or network options are the user's to fix once, not an error per board.
  if (given) templateContext(given, profile, {}, net, false);
  const candidates = given ? [given] : await deployableBoards();
  if (candidates.length === 0) throw new InputError("no board in board/ has a rootfs: section and an identity to recognise it by", "pass --board");
  const targets = await targetsFrom(opts, "deploy to");
  await refuseDuplicateBoards(targets, (t) => Remote.hostKeyOf(t));
  const logs = join(stateDir(), "logs");

  const outcomes = await runOnBoards<Outcome>(targets, {
    parallel: opts.parallel,
    ...waveOptions(opts),
    json: opts.json,
    logFile: (t) => join(logs, boardLogName("deploy", t.host, t.port)),
    outcome: (t) => ({ host: `${t.host}:${t.port}`, ok: false, steps: [], changed: false, files: [], skipped: [] }),
    work: (t, log, outcome, step) => deployOne(t, { given, candidates, profile, net, opts }, log, outcome, step),
  });

  if (opts.json) process.stdout.write(`${JSON.stringify({ dryRun: opts.dryRun, profile: profile.name, results: outcomes }, null, 2)}\n`);
  else {
    process.stdout.write(summaryTable(outcomes, (o) => summary(o as Outcome, opts.dryRun)));
    for (const o of outcomes) if (o.ok) process.stdout.write(details(o, opts.dryRun));
  }
  failIfAny(outcomes, `${logs}/deploy-*.log`);
}

/** Boards kiln can tell apart by what a running board reports, and that have a root filesystem to deploy. */
async function deployableBoards(): Promise<Board[]> {
  const boards = await Promise.all((await listBoards()).map((name) => loadBoard(name)));
  return boards.filter((b) => b.rootfs && (b.identity.model ?? b.identity.cpuinfoHardware));
}

interface DeployContext {
  given: Board | undefined;
  candidates: Board[];
  profile: Profile;
  net: NetworkOptions;
  opts: DeployOptions;
}

async function whichBoard(remote: Remote, c: DeployContext): Promise<{ board: Board; found: string }> {
  if (c.given) return { board: c.given, found: await checkIdentity(remote, c.given) };
  const id = await readIdentity(remote);
  const all = c.candidates.map((b) => ({ board: b, m: matchIdentity(b, id) })).filter((x) => x.m.ok);
  // A board's own identity wins over a real board that QEMU's machine also stands in for.
  const own = all.filter((x) => !x.m.emulated);
  const matches = own.length > 0 ? own : all;
  const found = matchIdentity(c.candidates[0] as Board, id).found;
  if (matches.length !== 1 || !matches[0]) {
    throw new KilnError(`cannot tell which board ${remote.target.host} is: it says "${found}", ${matches.length === 0 ? "which no board in board/ names" : `which ${matches.map((x) => x.board.name).join(" and ")} all name`}`, {
      hint: `pass --board (boards with a rootfs: ${c.candidates.map((b) => b.name).join(", ") || "none"})`,
    });
  }
  return { board: matches[0].board, found };
}

async function deployOne(t: SshTarget, c: DeployContext, log: StageLog, outcome: Outcome, step: (s: string) => void): Promise<void> {
  step("connecting (host key must be known)");
  let remote = await Remote.open(t, log);
  try {
    const uid = (await remote.exec(["id", "-u"])).stdout.trim();
    if (uid !== "0") throw new KilnError(`${t.user}@${t.host} is not root (uid ${uid || "?"}): deploy writes /etc and runs apt-get`, { hint: "log in as root (--user root)" });
    const { board, found } = await whichBoard(remote, c);
    outcome.board = board.name;
    const release = (await remote.exec(["uname", "-r"])).stdout.trim();
    outcome.kernel = release;
    step(`board: ${board.name} ("${found}"), Linux ${release}`);
    // Only "set" or "none" crosses the wire: the hash itself never reaches kiln or its log.
    const password = await remote.execScript(`grep -q '^root:[^:!*]' "${BOARD_ROOT}/etc/shadow" 2>/dev/null && echo set || echo none`);
    const version = /^\d+\.\d+(?:\.\d+)?/.exec(release)?.[0];
    const ctx = templateContext(board, c.profile, { version, release }, c.net, password.stdout.trim() === "set");
    const root = await boardRoot(remote);
    // kiln's /init announces READY_MARKER: a root kiln built, whose boot files kiln may rewrite.
    const kilnRoot = (await remote.exec(["grep", "-qsF", READY_MARKER, `${root}/init`])).code === 0;
    if (!kilnRoot) step("not a kiln root: only the container files are deployed, boot and network files are left alone");
    const { files: wanted, skipped } = await deployFiles(ctx, kilnRoot);
    outcome.skipped = skipped;
    const files = await BoardFiles.open(remote);
    let network: string | undefined;
    try {
      step("comparing files and packages with the board");
      const current = await readFiles(files, root, wanted);
      const state = c.opts.packages ? await packageState(remote, c.profile.packages) : { kind: "skipped" as const, why: "--no-packages" };
      const plan = planDeploy(wanted, current, c.profile.packages, state);
      outcome.files = plan.files.map(({ path, action, why }) => ({ path, action, why }));
      outcome.packages = plan.packages.kind === "apt" ? { installed: plan.packages.install, present: plan.packages.present } : { skipped: plan.packages.why, wanted: plan.packages.wanted };
      const n = changes(plan);
      outcome.changed = n.files + n.packages > 0;
      if (c.opts.dryRun) {
        if (plan.problems.length > 0) throw new KilnError(`cannot deploy to ${t.host}: ${plan.problems.join("; ")}`);
        step(`would change ${n.files} file(s) and install ${n.packages} package(s)`);
        return;
      }
      const newNetwork = kilnRoot && writes(plan).some((f) => f.path === NETWORK_FILE);
      if (newNetwork && c.opts.applyNetwork !== false) network = await saveRunningNetwork(remote);
      await applyDeploy(remote, files, root, plan, step).catch(async (err: unknown) => {
        // Nothing will be applied: the saved copy of the running network is not needed on the board.
        if (network) await remote.exec(["rm", "-rf", "--", network]).catch(() => undefined);
        throw err;
      });
      if (newNetwork) outcome.network = network ? "applied" : "next boot";
      step(outcome.changed ? `changed ${n.files} file(s), installed ${n.packages} package(s)` : "nothing to change");
    } finally {
      files.close();
    }
    if (network) remote = await applyNetworkLive(remote, t, network, { confirmSeconds: Number(c.opts.netConfirm ?? "60"), step });
    else if (outcome.network === "next boot") step(`/${NETWORK_FILE} written: the running network is unchanged until the next boot`);
    if (outcome.changed && (await remote.execScript(`[ -e "${BOARD_ROOT}/.kiln-tmpfs-root" ]`)).code === 0) {
      outcome.untilReboot = true;
      step("the board's root is in RAM (a kiln image): these changes last until its next reboot; rebuild and flash the image to keep them");
    }
  } finally {
    remote.close();
  }
}

function summary(o: Outcome, dryRun: boolean): string {
  const files = o.files.filter((f) => f.action !== "unchanged").length;
  const pkgs = o.packages && "installed" in o.packages ? o.packages.installed.length : 0;
  if (!o.changed) return dryRun ? "dry run: nothing to change" : "nothing changed";
  return dryRun ? `would change ${files} file(s), install ${pkgs} package(s)` : `${files} file(s) changed, ${pkgs} package(s) installed`;
}

function details(o: Outcome, dryRun: boolean): string {
  const verb: Record<FileAction, string> = dryRun
    ? { create: "would write", update: "would write", chmod: "would chmod", unchanged: "unchanged" }
    : { create: "wrote", update: "wrote", chmod: "chmod", unchanged: "unchanged" };
  const lines = [`\n${o.host}  ${o.board ?? "?"}, Linux ${o.kernel ?? "?"}`];
  for (const f of o.files) if (f.action !== "unchanged") lines.push(`  ${verb[f.action].padEnd(13)} /${f.path} (${f.why})`);
  const p = o.packages;
  if (p && "installed" in p && p.installed.length > 0) lines.push(`  ${(dryRun ? "would install" : "installed").padEnd(13)} ${p.installed.join(" ")}`);
  const same = o.files.filter((f) => f.action === "unchanged").length;
  lines.push(`  ${"unchanged".padEnd(13)} ${same} file(s)${p && "present" in p ? `, ${p.present.length} package(s) already installed` : ""}`);
  if (p && "skipped" in p) lines.push(`  ${"packages".padEnd(13)} not checked: ${p.skipped} (wanted: ${p.wanted.join(" ")})`);
  for (const s of o.skipped) lines.push(`  ${"left alone".padEnd(13)} /${s.path}: ${s.why}`);
  return `${lines.join("\n")}\n`;
}
