/**
 * `kiln rootfs --board qemu-virt` end to end: a real mmdebstrap through
 * qemu-user, then the qemu-virt kernel boots the ramdisk in qemu-system-arm
 * and the serial console proves LXC's prerequisites: lxc-checkconfig runs,
 * cgroup2 is mounted, br0 exists and has QEMU's DHCP address.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseDir, MAX_AGE_DAYS } from "../../src/rootfs/base-cache.js";
import { COMMON_DEVICES, SEED_DEVICES } from "../../src/rootfs/templates.js";
import { execa } from "execa";
import { kiln, testWork } from "../support/cli.js";
import { e2eKey } from "../support/e2e-key.js";
import { releaseBoardSlot, takeBoardSlot } from "../support/board-slots.js";
import { debFiles, earlierProof, hashFile, hostPackages, proofKey, provenNote, recordProof, stampInputs, testSources } from "../support/proofs.js";
import { withSharedDir } from "../support/shared-dir.js";
import { buildVirt, debCache, virtOut as out, withDebCache } from "../support/virt-board.js";

interface RootfsRun {
  outcome: { stage: string; ran: boolean; how: string; why: string[] };
  ramdisk: string;
  compressed: string;
  sbom: string;
  report: string;
  manifest: string;
}

/** `kiln rootfs` as a user runs it (the config and kernel stages are up to date by then). */
async function rootfs(extra: { force?: string[]; out?: string } = {}): Promise<RootfsRun> {
  const dir = extra.out ?? out;
  // Waits for any other test file building there (see shared-dir.ts).
  const r = await withSharedDir(dir, () => kiln(["rootfs", "--board", "qemu-virt", "--out", dir, "--authorized-key", `${e2eKey}.pub`, "--json", ...(extra.force ? ["--force", ...extra.force] : [])]));
  if (r.exitCode !== 0) throw new Error(`kiln rootfs failed (${r.exitCode}):\n${r.stderr}`);
  const j = JSON.parse(r.stdout) as Omit<RootfsRun, "outcome"> & { stages: RootfsRun["outcome"][] };
  const outcome = j.stages.find((s) => s.stage === "rootfs");
  if (!outcome) throw new Error(`no rootfs stage in ${r.stdout}`);
  return { ...j, outcome };
}

interface Manifest {
  warnings: string[];
  suites: { used: string[]; dropped: { suite: string; reason: string }[] };
  debs: { downloaded: number; fromCache: number };
  debianBase: { from: "mmdebstrap" | "cache"; key: string; made: string };
  kernel: { release: string | null; cgroup: string };
}

describe("kiln rootfs --board qemu-virt", () => {
  let first: RootfsRun;
  let zImage: string;

  beforeAll(async () => {
    await buildVirt(out);
    const art = JSON.parse(readFileSync(join(out, "kernel-artifacts.json"), "utf8")) as { zImage: string };
    // KILN_E2E_ZIMAGE boots another kernel, e.g. one built with an option the board's config lacks.
    zImage = process.env.KILN_E2E_ZIMAGE ?? art.zImage;
    first = await rootfs();
  }, 3_600_000);

  it("writes the ramdisk, compressed as the board says, with an SBOM and a size report", () => {
    expect(first.ramdisk).toBe(join(out, "rootfs", "ramdisk.cpio"));
    expect(first.compressed).toBe(join(out, "rootfs", "ramdisk.cpio.gz"));
    const head = readFileSync(first.ramdisk).subarray(0, 6).toString("latin1");
    expect(head).toBe("070701");
    expect(readFileSync(first.compressed).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const bom = JSON.parse(readFileSync(first.sbom, "utf8")) as { bomFormat: string; components: { name: string; version: string }[] };
    expect(bom.bomFormat).toBe("CycloneDX");
    const names = bom.components.map((c) => c.name);
    for (const p of ["lxc", "bridge-utils", "libcap2-bin", "debootstrap", "iproute2", "ifupdown", "kmod", "dropbear-bin", "openssh-sftp-server", "busybox"]) expect(names).toContain(p);
    expect(names).not.toContain("perl");
    const report = readFileSync(first.report, "utf8");
    expect(report).toMatch(/largest packages:/);
    expect(report).toMatch(/RAM: .* fits/);
  });

  it("records a suite it had to leave out, loudly, in the manifest and the SBOM", () => {
    const m = JSON.parse(readFileSync(first.manifest, "utf8")) as Manifest;
    expect(m.suites.used).toContain("bookworm");
    for (const d of m.suites.dropped) {
      expect(m.warnings.join("\n")).toContain(`WARNING: built WITHOUT ${d.suite}`);
      expect(readFileSync(first.sbom, "utf8")).toContain(d.suite);
    }
    expect(m.kernel.cgroup).toBe("v2");
  });

  it("the kernel has what the userland needs (COMPAT_32BIT_TIME, DEVTMPFS, PACKET, ...)", () => {
    const m = JSON.parse(readFileSync(first.manifest, "utf8")) as Manifest;
    expect(m.warnings.filter((w) => w.startsWith("kernel lacks"))).toEqual([]);
  });

  it("a second run with unchanged inputs is skipped by the stage cache", async () => {
    const logFile = join(out, "logs", "rootfs.log");
    const before = readFileSync(logFile, "utf8").length;
    const again = await rootfs();
    expect(again.outcome).toMatchObject({ stage: "rootfs", ran: false, how: "up to date", why: [] });
    expect(readFileSync(logFile, "utf8").slice(before)).not.toMatch(/^\$ /m);
  });

  it("a re-run downloads no .deb twice: they come from kiln's cache", async (ctx) => {
    // Proven before with these very inputs, tools, .debs and cpio: mmdebstrap again would only repeat it (proofs.ts).
    // Not for longer than kiln keeps a Debian base: this run reads the mirrors' indexes, and it is what makes the base
    // the next test packs from again before kiln would drop it for its age.
    const baseKey = (JSON.parse(readFileSync(first.manifest, "utf8")) as Manifest).debianBase.key;
    const maxAgeDays = MAX_AGE_DAYS - 1;
    const baseMeta = join(baseDir(), `${baseKey}.json`);
    const baseAgeDays = existsSync(baseMeta) && existsSync(join(baseDir(), `${baseKey}.tar`)) ? (Date.now() - (JSON.parse(readFileSync(baseMeta, "utf8")) as { made: number }).made) / 86_400_000 : Infinity;
    const proofParts = async () => ({
      test: testSources(["qemu/rootfs.test.ts", "support/virt-board.ts", "support/cli.ts", "support/shared-dir.ts", "support/proofs.ts"]),
      tools: hostPackages(["mmdebstrap", "qemu-user-static", "apt", "dpkg", "tar", "cpio", "kmod", "gzip", "debian-archive-keyring"]),
      ...(await stampInputs(out, ["rootfs"])),
      cpio: hashFile(first.ramdisk),
      debs: await withDebCache(() => Promise.resolve(debFiles(debCache))),
      base: baseKey,
    });
    const proofId = proofKey(await proofParts());
    const earlier = earlierProof("rootfs-forced-mmdebstrap", proofId, maxAgeDays);
    if (earlier && baseAgeDays <= maxAgeDays) ctx.skip(provenNote(earlier, "a forced mmdebstrap from kiln's .deb cache"));
    // In a directory of its own, so the other files' boards need not wait minutes for this mmdebstrap run; the same
    // inputs as the shared build, its host key included (config and kernel come from the stage cache).
    const own = join(testWork(), "forced");
    mkdirSync(join(own, "ssh-host-key"), { recursive: true, mode: 0o700 });
    copyFileSync(join(out, "ssh-host-key", "dropbear_ed25519_host_key"), join(own, "ssh-host-key", "dropbear_ed25519_host_key"));
    const debs = () => readdirSync(debCache).filter((f) => f.endsWith(".deb")).sort();
    // The cache's partial/ owned by a user no run of apt would use: the new root must not depend on the cache's history.
    const partial = join(debCache, "partial");
    const { debsBefore, again, debsAfter } = await withDebCache(async () => {
      const debsBefore = debs();
      mkdirSync(partial, { recursive: true });
      const owner = statSync(partial);
      chownSync(partial, 4242, 4242);
      try {
        const again = await rootfs({ force: ["rootfs"], out: own });
        return { debsBefore, again, debsAfter: debs() };
      } finally {
        chownSync(partial, owner.uid, owner.gid);
      }
    });
    expect(again.outcome.ran).toBe(true);
    const m = JSON.parse(readFileSync(again.manifest, "utf8")) as Manifest;
    expect(m.debs.downloaded).toBe(0);
    expect(m.debs.fromCache).toBeGreaterThan(100);
    expect(debsAfter).toEqual(debsBefore);
    // --force runs mmdebstrap itself, not the cached Debian base.
    expect(m.debianBase.from).toBe("mmdebstrap");
    // Reproducible: the same inputs give the same cpio.
    expect(readFileSync(again.ramdisk).equals(readFileSync(first.ramdisk))).toBe(true);
    // Filed only when what it depends on did not change while it ran.
    if (proofKey(await proofParts()) === proofId) await recordProof("rootfs-forced-mmdebstrap", proofId);
  }, 1_800_000);

  it("another root with the same packages (here: another authorised key) is packed from the cached Debian base: mmdebstrap does not run", async () => {
    // The forced run above made (or refreshed) the base for these packages; its record stands in for it only while
    // that base is younger than kiln's limit for a base, less a day.
    const own = join(testWork(), "other-key");
    const otherKey = join(testWork(), "other_ed25519");
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "other", "-f", otherKey]);
    const r = await kiln(["rootfs", "--board", "qemu-virt", "--out", own, "--authorized-key", `${otherKey}.pub`, "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { stages: RootfsRun["outcome"][]; manifest: string; sbom: string; ramdisk: string };
    // (config and kernel normally from the stage cache: not what this test is about)
    expect(j.stages.find((s) => s.stage === "rootfs")).toMatchObject({ ran: true, how: "built" });
    const m = JSON.parse(readFileSync(j.manifest, "utf8")) as Manifest;
    expect(m.debianBase.from).toBe("cache");
    expect(m.debianBase.key).toBe((JSON.parse(readFileSync(first.manifest, "utf8")) as Manifest).debianBase.key);
    expect(m.debs).toEqual({ downloaded: 0, fromCache: 0 });
    expect(readFileSync(join(own, "logs", "rootfs.log"), "utf8")).not.toMatch(/^\$ mmdebstrap/m);
    // The same Debian packages, at the same versions, as the root mmdebstrap made; the new key inside.
    const components = (f: string) => (JSON.parse(readFileSync(f, "utf8")) as { components: { name: string; version: string }[] }).components.map((c) => `${c.name} ${c.version}`).sort();
    expect(components(j.sbom)).toEqual(components(first.sbom));
    const keys = await execa("cpio", ["-i", "--quiet", "--to-stdout", "root/.ssh/authorized_keys"], { inputFile: j.ramdisk });
    expect(keys.stdout.trim()).toBe(readFileSync(`${otherKey}.pub`, "utf8").trim());
  }, 1_800_000);

  describe("boots in qemu-system-arm -M virt", () => {
    let qemu: ChildProcess | undefined;
    let console = "";
    const waitFor = async (re: RegExp, from: number, ms: number): Promise<string> => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const m = re.exec(console.slice(from));
        if (m) return m[0];
        if (qemu?.exitCode !== null && qemu?.exitCode !== undefined) throw new Error(`QEMU exited (${qemu.exitCode}); console:\n${console.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`timed out waiting for ${re}; console:\n${console.slice(-3000)}`);
    };
    let n = 0;
    /** Type a command on the serial console; its output ends at a marker the shell computes (so the echo of the line never matches). */
    const sh = async (cmd: string, ms = 60_000): Promise<string> => {
      n += 1;
      const from = console.length;
      qemu?.stdin?.write(`${cmd}; echo "@@$((${n}*1000+7))@@ rc=$?"\n`);
      const end = await waitFor(new RegExp(`@@${n * 1000 + 7}@@ rc=\\d+`), from, ms);
      const text = console.slice(from);
      return `${text.slice(0, text.indexOf(end))}${end}`;
    };

    beforeAll(async () => {
      if (!existsSync(zImage)) throw new Error(`no zImage at ${zImage}`);
      await takeBoardSlot();
      // Plain pipes, no pty: QEMU on a terminal under a job-controlling parent gets SIGTTOU.
      qemu = spawn(
        "qemu-system-arm",
        [
          "-M", "virt,highmem=off", "-m", "512", "-nographic", "-no-reboot",
          "-kernel", zImage, "-initrd", first.compressed,
          "-append", "console=ttyAMA0 panic=5",
          "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0",
        ],
        { stdio: ["pipe", "pipe", "pipe"] },
      );
      qemu.stdout?.on("data", (d: Buffer) => (console += d.toString("utf8")));
      qemu.stderr?.on("data", (d: Buffer) => (console += d.toString("utf8")));
      await waitFor(/^kiln: ready\r?$/m, 0, 300_000);
      // The console shell starts just after the marker; what is typed before it opens the tty is lost.
      for (let i = 0; ; i++) {
        const from = console.length;
        qemu.stdin?.write(`echo "@@$((40+2))@@"\n`);
        try {
          await waitFor(/@@42@@/, from, 3_000);
          break;
        } catch (err) {
          if (i > 40) throw err;
        }
      }
    }, 400_000);

    afterAll(() => {
      qemu?.kill("SIGKILL");
      releaseBoardSlot();
    });

    it("prints why nothing went wrong: no /init failure, no warning", () => {
      expect(console).not.toMatch(/kiln: \/init failed/);
      expect(console.match(/^kiln: warning: .*$/gm) ?? []).toEqual([]);
    });

    it("lxc-checkconfig runs and finds the namespaces and cgroups", async () => {
      const r = await sh("lxc-checkconfig 2>&1 | cat", 120_000);
      expect(r).toMatch(/rc=0/);
      expect(r).toMatch(/Namespaces/);
      expect(r).toMatch(/Network namespace: .*enabled/);
      expect(r).toMatch(/Veth pair device: .*enabled/);
      expect(r).not.toMatch(/unable to retrieve kernel configuration/);
    }, 200_000);

    it("cgroup2 is mounted on /sys/fs/cgroup", async () => {
      const r = await sh("grep ' /sys/fs/cgroup ' /proc/mounts");
      expect(r).toMatch(/^cgroup2 \/sys\/fs\/cgroup cgroup2 /m);
    });

    it("br0 exists, bridges eth0 and has QEMU's DHCP address", async () => {
      const r = await sh("ip -4 -o addr show dev br0; ls /sys/class/net/br0/brif");
      expect(r).toMatch(/br0\s+inet 10\.0\.2\.15\/24/);
      expect(r).toMatch(/^eth0\r?$/m);
    });

    it("the SSH server listens on port 22 and LXC has the rendered default config", async () => {
      const r = await sh("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -c ':0016 .* 0A '; grep -c 'lxc.cgroup2.devices.allow' /etc/lxc/default.conf");
      // LXC's common devices (/dev/null, ...) and seed 004's, one allow line each.
      expect(r).toMatch(new RegExp(`^[1-9]\\d*\\r?\\n${COMMON_DEVICES.length + SEED_DEVICES.length}\\r?$`, "m"));
    });
  });
});
