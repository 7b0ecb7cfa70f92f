/**
 * `kiln deploy` against Debian's real OpenSSH server on loopback, standing in
 * for a board that already runs a suitable kernel (test/support/sshd.ts): files
 * land in the fake board root, apt-get and dpkg-query are stand-ins that keep a
 * package list there. Every case looks at the board, not only at kiln's output.
 */
import { boardLogName } from "../../src/remote/fleet.js";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { release as hostRelease } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadBoard } from "../../src/board/load.js";
import { loadProfile } from "../../src/rootfs/profile.js";
import { BOOT_FILES } from "../../src/remote/deploy.js";
import { READY_MARKER, renderTemplates, type RenderedFile, templateContext } from "../../src/rootfs/templates.js";
import { kiln, type KilnRun, testWork } from "../support/cli.js";
import { all, type Case, hostId, newCase, trust } from "../support/ssh-case.js";
import { freePort, QEMU_VIRT_MODEL, type Sshd, startSshd } from "../support/sshd.js";
import { startTcpProxy } from "../support/tcp-proxy.js";
import { execa } from "execa";

let sshd: Sshd;
let work: string;
let savedAgent: string | undefined;
/** What the stand-in board should hold after a deploy: the templates for the kernel it runs (this machine's). */
let expected: RenderedFile[];
let packages: string[];

const freshCase = (name: string): Case => newCase(work, name);
const onBoard = (path: string) => join(sshd.board.root, path);

function deploy(c: Case, ...extra: string[]): Promise<KilnRun> {
  return kiln(["deploy", "--host", `127.0.0.1:${sshd.port}`, "--identity", sshd.clientKey, ...extra], { env: { KILN_STATE_DIR: c.state } });
}

interface DeployJson {
  dryRun: boolean;
  results: {
    host: string;
    ok: boolean;
    board?: string;
    changed: boolean;
    files: { path: string; action: string; why: string }[];
    skipped: { path: string; why: string }[];
    packages?: { installed: string[]; present: string[] };
    network?: string;
    steps: string[];
    error?: string;
  }[];
}

const json = (r: KilnRun) => JSON.parse(r.stdout) as DeployJson;

const BOOT = new Set<string>(BOOT_FILES);
/** On a system kiln did not build, only these: its boot and network files stay its own. */
const containerFiles = () => expected.filter((f) => !BOOT.has(f.path));

/** The stand-in board runs a root kiln built: its /init is kiln's. */
function makeKilnRoot(): void {
  mkdirSync(sshd.board.root, { recursive: true });
  writeFileSync(onBoard("init"), `#!/bin/sh\necho "${READY_MARKER}"\n`, { mode: 0o755 });
}

/** The board holds exactly what kiln renders, with its modes, and no temporary file is left. */
function expectBoardDeployed(files: readonly RenderedFile[] = expected): void {
  for (const f of files) {
    expect(readFileSync(onBoard(f.path), "utf8"), f.path).toBe(f.content);
    expect(statSync(onBoard(f.path)).mode & 0o7777, f.path).toBe(f.mode);
  }
  const leftovers = readdirSync(onBoard("etc"), { recursive: true }).map(String).filter((n) => n.includes(".kiln-new"));
  expect(leftovers).toEqual([]);
}

beforeAll(async () => {
  savedAgent = process.env.SSH_AUTH_SOCK;
  delete process.env.SSH_AUTH_SOCK;
  work = mkdtempSync(join(testWork(), "deploy-ssh-"));
  sshd = await startSshd();
  const board = await loadBoard("qemu-virt");
  const profile = await loadProfile("default");
  packages = profile.packages;
  const release = hostRelease();
  const ctx = templateContext(board, profile, { version: /^\d+\.\d+(?:\.\d+)?/.exec(release)?.[0], release }, { net: "veth", dns: [] }, false);
  // Under DHCP the live resolv.conf belongs to the DHCP client: deploy leaves it alone.
  expected = (await renderTemplates(ctx)).filter((f) => f.path !== "etc/resolv.conf");
});

afterAll(async () => {
  await sshd?.stop();
  if (savedAgent !== undefined) process.env.SSH_AUTH_SOCK = savedAgent;
});

beforeEach(() => sshd.board.reset());

describe("kiln deploy over SSH to a stand-in board", () => {
  it("refuses an unknown host key with its fingerprint and changes nothing on the board", async () => {
    const c = freshCase("unknown-key");
    const r = await deploy(c, "--board", "qemu-virt");
    expect(r.exitCode, all(r)).not.toBe(0);
    expect(r.stderr).toContain(sshd.hostKeyFingerprint);
    expect(r.stderr).toContain("--accept-new-host-key");
    expect(existsSync(onBoard("etc"))).toBe(false);
    expect(sshd.board.aptCalls()).toEqual([]);
  });

  it("on a system kiln did not build: writes the container files, installs the missing packages, leaves boot files alone, and a second run changes nothing", async () => {
    const c = freshCase("twice");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.setInstalled(["lxc", "busybox"]);

    // No --board: the board is found by the model it reports.
    const first = await deploy(c, "--json");
    expect(first.exitCode, all(first)).toBe(0);
    const r1 = json(first).results[0];
    expect(r1?.ok).toBe(true);
    expect(r1?.board).toBe("qemu-virt");
    expect(r1?.changed).toBe(true);
    expect(r1?.files.map((f) => [f.path, f.action])).toEqual(containerFiles().map((f) => [f.path, "create"]));
    expect(r1?.files.map((f) => f.path)).toContain("etc/lxc/default.conf");
    expect(r1?.skipped.map((x) => x.path)).toEqual([...BOOT_FILES, "etc/resolv.conf"]);
    expect(r1?.skipped.at(-1)?.why).toContain("DHCP");
    const missing = packages.filter((p) => p !== "lxc" && p !== "busybox");
    expect(r1?.packages).toEqual({ installed: missing, present: ["lxc", "busybox"] });
    expectBoardDeployed(containerFiles());
    for (const f of [...BOOT_FILES, "etc/resolv.conf"]) expect(existsSync(onBoard(f)), f).toBe(false);
    // Every argument reached apt-get as one word: nothing was split or expanded by the board's shell.
    expect(sshd.board.aptCalls()).toEqual([
      "-q update",
      `-q install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${missing.join(" ")}`,
    ]);
    expect(sshd.board.installed().sort()).toEqual([...packages].sort());

    const second = await deploy(c);
    expect(second.exitCode, all(second)).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${sshd.port}\\s+nothing changed$`, "m"));
    expect(second.stdout).toContain(`unchanged     ${containerFiles().length} file(s), ${packages.length} package(s) already installed`);
    expect(second.stdout).not.toMatch(/^\s+(wrote|chmod|installed)\s/m);
    expect(sshd.board.aptCalls()).toHaveLength(2);
    expectBoardDeployed(containerFiles());

    const third = json(await deploy(c, "--json")).results[0];
    expect(third?.changed).toBe(false);
    expect(third?.files.every((f) => f.action === "unchanged")).toBe(true);
    expect(third?.packages?.installed).toEqual([]);
  });

  it("reports a file edited on the board and puts it back; a mode change is only a chmod; --dry-run touches nothing", async () => {
    const c = freshCase("edited");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.setInstalled(packages);
    // A kiln root: all of kiln's files are deployed, boot files included.
    makeKilnRoot();
    const first = await deploy(c, "--board", "qemu-virt");
    expect(first.exitCode, all(first)).toBe(0);

    writeFileSync(onBoard("etc/fstab"), "# edited by hand on the board\n");
    chmodSync(onBoard("init"), 0o644);
    const dry = await deploy(c, "--board", "qemu-virt", "--dry-run");
    expect(dry.exitCode, all(dry)).toBe(0);
    expect(dry.stdout).toMatch(/^\s+would write\s+\/etc\/fstab \(content differs\)$/m);
    expect(dry.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${sshd.port}\\s+would change 2 file\\(s\\), install 0 package\\(s\\)$`, "m"));
    expect(readFileSync(onBoard("etc/fstab"), "utf8")).toBe("# edited by hand on the board\n");
    expect(statSync(onBoard("init")).mode & 0o777).toBe(0o644);

    const r = await deploy(c, "--board", "qemu-virt");
    expect(r.exitCode, all(r)).toBe(0);
    expect(r.stdout).toMatch(/^\s+wrote\s+\/etc\/fstab \(content differs\)$/m);
    expect(r.stdout).toMatch(/^\s+chmod\s+\/init \(mode 0644, want 0755\)$/m);
    expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${sshd.port}\\s+2 file\\(s\\) changed, 0 package\\(s\\) installed$`, "m"));
    expectBoardDeployed();
    expect(sshd.board.aptCalls()).toEqual([]);
  });

  it("refuses a board of another model, and one it cannot identify, before writing anything", async () => {
    const c = freshCase("wrong-model");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.setModel("Something Else");
    const given = await deploy(c, "--board", "qemu-virt");
    expect(given.exitCode, all(given)).not.toBe(0);
    expect(given.stderr).toContain(`found "Something Else", expected "${QEMU_VIRT_MODEL}"`);
    const guessed = await deploy(c);
    expect(guessed.exitCode, all(guessed)).not.toBe(0);
    expect(guessed.stderr).toContain('cannot tell which board 127.0.0.1 is: it says "Something Else"');
    expect(guessed.stderr).toContain("pass --board");
    expect(existsSync(onBoard("etc"))).toBe(false);
  });

  it("deploys to every board of an inventory, one unreachable: the other is done, the table lists both, the exit code says failure", async () => {
    const c = freshCase("many");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.setInstalled(packages);
    makeKilnRoot();
    const dead = await freePort();
    const inventory = join(c.state, "..", "boards.yaml");
    writeFileSync(inventory, `- {host: 127.0.0.1, port: ${sshd.port}}\n- {host: 127.0.0.1, port: ${dead}}\n`);
    const r = await kiln(["deploy", "--inventory", inventory, "--identity", sshd.clientKey, "--board", "qemu-virt"], { env: { KILN_STATE_DIR: c.state } });
    expect(r.exitCode, all(r)).not.toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${sshd.port}\\s+${expected.length} file\\(s\\) changed, 0 package\\(s\\) installed$`, "m"));
    expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${dead}\\s+FAILED: cannot connect`, "m"));
    expect(r.stderr).toContain("1 of 2 board(s) failed");
    expectBoardDeployed();
    // The per-board log records the board's commands and no key material.
    const log = readFileSync(join(c.state, "logs", boardLogName("deploy", "127.0.0.1", sshd.port)), "utf8");
    expect(log).toContain("dpkg-query");
    expect(log).not.toContain("PRIVATE KEY");
  });
  it("a new network on a kiln root is applied at once: the old one taken down as its file defined it, the new one up, confirmed over it", async () => {
    const c = freshCase("net-apply");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.setInstalled(packages);
    makeKilnRoot();
    // No network file yet: nothing runs to take down, it applies at the next boot.
    const first = json(await deploy(c, "--board", "qemu-virt", "--json")).results[0];
    expect(first?.network).toBe("next boot");
    expect(sshd.board.ifupdownCalls()).toEqual([]);
    const before = readFileSync(onBoard("etc/network/interfaces"), "utf8");

    const r = await deploy(c, "--board", "qemu-virt", "--net", "macvlan", "--json");
    expect(r.exitCode, all(r)).toBe(0);
    const res = json(r).results[0];
    expect(res?.network).toBe("applied");
    expect(res?.files.find((f) => f.path === "etc/network/interfaces")?.action).toBe("update");
    expect(res?.steps).toContain("network: the board answers on its new network (confirmed)");
    const calls = sshd.board.ifupdownCalls();
    expect(calls[0]).toMatch(/^ifdown -a --force -i \/tmp\/kiln-net\.\w+\/old$/);
    expect(calls.slice(1)).toEqual([`ifup -a -i ${onBoard("etc/network/interfaces")}`]);
    // What ifdown read was the file the running network came from; the private directory is gone.
    expect(readFileSync(onBoard("etc/network/interfaces"), "utf8")).not.toBe(before);
    expect(existsSync(calls[0]?.split(" -i ")[1] ?? "")).toBe(false);
  });

  it("a new network that does not carry kiln's connection is put back by the board itself, and kiln says so", async () => {
    const c = freshCase("net-revert");
    sshd.board.setInstalled(packages);
    makeKilnRoot();
    const proxy = await startTcpProxy(sshd.port);
    try {
      trust(c, { [hostId(proxy.port)]: sshd.hostPublicKey });
      const viaProxy = (...extra: string[]) =>
        kiln(["deploy", "--host", `127.0.0.1:${proxy.port}`, "--identity", sshd.clientKey, "--board", "qemu-virt", ...extra], { env: { KILN_STATE_DIR: c.state } });
      expect((await viaProxy()).exitCode).toBe(0);
      const old = readFileSync(onBoard("etc/network/interfaces"), "utf8");
      // Once the board has brought up the new network, kiln cannot reach it any more; once it has reverted, it can.
      let done = false;
      const watcher = (async () => {
        while (!done) {
          const calls = sshd.board.ifupdownCalls();
          if (calls.length === 2) {
            proxy.cutAfter(0);
            proxy.cutAll();
          }
          if (calls.length >= 4) proxy.cutAfter(undefined);
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const r = await viaProxy("--net", "macvlan", "--net-confirm", "15", "--json");
      done = true;
      await watcher;
      expect(r.exitCode, all(r)).not.toBe(0);
      expect(r.stderr).toContain("did not answer on its new network within 15 s");
      expect(r.stderr).toContain("it put its old /etc/network/interfaces and network back by itself and answers again");
      expect(readFileSync(onBoard("etc/network/interfaces"), "utf8")).toBe(old);
      const calls = sshd.board.ifupdownCalls();
      expect(calls.slice(2)).toEqual([`ifdown -a --force -i ${onBoard("etc/network/interfaces")}`, `ifup -a -i ${onBoard("etc/network/interfaces")}`]);
      await execa("sh", ["-c", `rm -rf ${calls[0]?.split(" -i ")[1]?.replace(/\/old$/, "") ?? "/nonexistent"}`]);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});
