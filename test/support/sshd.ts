/**
 * A stand-in board for `kiln flash` and `kiln check --host`: Debian's real
 * OpenSSH server on loopback, with a throwaway host key and client key, and a
 * fake board root that kiln reads through $KILN_BOARD_ROOT (see
 * src/remote/probe.ts). The board's flashcfg, reboot, apt-get, ifup/ifdown and
 * (when asked to lie) sha256sum are stub scripts that leave traces in the fake root, so tests can
 * assert what kiln did and did not do on the board.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { freeLoopbackPort } from "../../src/qemu/instance.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";

const SSHD = "/usr/sbin/sshd";

/** The model of the board tests flash by default: board/qemu-virt/board.yaml's identity.model. */
export const QEMU_VIRT_MODEL = "linux,dummy-virt";
export const DEFAULT_MTD = 'dev:    size   erasesize  name\nmtd0: 04000000 00040000 "u-boot"\nmtd1: 04000000 00040000 "image"\n';

export interface FakeBoard {
  /** The fake board root ($KILN_BOARD_ROOT on the SSH server side). */
  readonly root: string;
  /** Where uploads go: pass it as --remote-dir. */
  readonly uploadDir: string;
  /** Back to a healthy qemu-virt board: right model, an "image" partition, honest tools, no traces. */
  reset(): void;
  setModel(model: string): void;
  setMtd(text: string): void;
  /** Make flashcfg print `output` and exit with `code`. */
  failFlashcfg(code: number, output: string): void;
  /** Make sha256sum print a wrong sum for every file. */
  lieAboutSha256(): void;
  /** Argument lines of every flashcfg call, oldest first. */
  flashcfgCalls(): string[];
  /** The image as flashcfg received it, when it was called and succeeded. */
  flashed(): Buffer | undefined;
  rebootCalls(): number;
  /** Names in the upload directory (including hidden partial uploads). */
  uploads(): string[];
  /** The board's package database, as the dpkg-query stand-in reports it. */
  setInstalled(packages: string[]): void;
  installed(): string[];
  /** "ifup ARGS" / "ifdown ARGS" of every call, oldest first. */
  ifupdownCalls(): string[];
  /** Argument lines of every apt-get call, oldest first. */
  aptCalls(): string[];
  /** Put bytes behind /dev/<dev> (e.g. mtd1): what a backup reads. */
  setDevice(dev: string, data: Buffer): void;
}

export interface Sshd {
  readonly port: number;
  /** OpenSSH's own fingerprint of the current host key (ssh-keygen -lf). */
  readonly hostKeyFingerprint: string;
  /** The host key as a public key line ("ssh-ed25519 AAAA..."), what a known_hosts entry holds. */
  readonly hostPublicKey: string;
  /** Path of the client's private key, authorized on the server. */
  readonly clientKey: string;
  readonly root: string;
  readonly board: FakeBoard;
  /** What sshd wrote on stderr (-e): for failure messages. */
  log(): string;
  stop(): Promise<void>;
  /** Stop, replace the host key, start again on the same port: the board "was reinstalled". */
  restartWithNewHostKey(): Promise<void>;
}

/** A loopback port that was free a moment ago (nothing listens there once this resolves). */
export const freePort = freeLoopbackPort;

async function hostKey(dir: string): Promise<string> {
  const file = join(dir, "ssh_host_ed25519_key");
  rmSync(file, { force: true });
  rmSync(`${file}.pub`, { force: true });
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "kiln-test-host", "-f", file]);
  // Trust OpenSSH's fingerprint, not kiln's computation of it: the test compares the two.
  const fp = /\b(SHA256:\S+)/.exec((await execa("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`])).stdout)?.[1];
  if (!fp) throw new Error(`ssh-keygen printed no SHA256 fingerprint for ${file}.pub`);
  return fp;
}

/** Resolves once the server sends its SSH banner: listening alone is not ready (sshd may still be loading keys). */
async function waitForBanner(port: number, child: ChildProcess, log: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`);
    const banner = await new Promise<string>((resolve) => {
      let got = "";
      const s = connect(port, "127.0.0.1");
      const done = () => {
        s.destroy();
        resolve(got);
      };
      s.setTimeout(2000, done);
      s.on("data", (d: Buffer) => {
        got += d.toString("latin1");
        if (got.includes("\n")) done();
      });
      s.on("error", done);
      s.on("close", done);
    });
    if (banner.startsWith("SSH-2.0-")) return;
    if (Date.now() > deadline) throw new Error(`no SSH banner on 127.0.0.1:${port} after ${timeoutMs} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function stub(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}`);
  chmodSync(path, 0o755);
}

function makeBoard(root: string, stubs: string): FakeBoard {
  const q = `'${root}'`;
  // Stand-ins found first on PATH (sshd's SetEnv). Each records that it ran.
  stub(
    join(stubs, "flashcfg"),
    `# stand-in for the vendor's flashcfg on a fake board
root=${q}
echo "$*" >> "$root/flashcfg.calls"
if [ -f "$root/flashcfg.exit" ]; then cat "$root/flashcfg.output" 2>/dev/null; exit "$(cat "$root/flashcfg.exit")"; fi
file=""
while [ $# -gt 0 ]; do [ "$1" = -f ] && file="$2"; shift; done
cp "$file" "$root/flashed.img" || exit 2
echo "flashcfg: wrote $file"
`,
  );
  // The package database is a list of names; install adds to it. The real ones would change this machine.
  stub(
    join(stubs, "dpkg-query"),
    `db=${q}/packages.installed
rc=0
for a in "$@"; do
  case "$a" in -W|-f|*'\${'*) continue ;; esac
  if [ -f "$db" ] && grep -qx -- "$a" "$db"; then printf '%s\\tinstalled\\n' "$a"; else echo "dpkg-query: no packages found matching $a" >&2; rc=1; fi
done
exit $rc
`,
  );
  stub(
    join(stubs, "apt-get"),
    `echo "$*" >> ${q}/apt-get.calls
cmd=""
for a in "$@"; do
  case "$a" in
    -*|*::*) ;;
    update|install) [ -z "$cmd" ] && cmd=$a ;;
    *) [ "$cmd" = install ] && echo "$a" >> ${q}/packages.installed ;;
  esac
done
exit 0
`,
  );
  // ifupdown: the real ones would take this machine's network down.
  for (const tool of ["ifup", "ifdown"]) stub(join(stubs, tool), `echo "${tool} $*" >> ${q}/ifupdown.calls\n`);
  // Never restarts anything: the boot_id stays the same, as if the board never came back.
  stub(join(stubs, "reboot"), `echo reboot >> ${q}/reboot.calls\n`);
  stub(
    join(stubs, "sha256sum"),
    `if [ -f ${q}/sha256sum.lie ]; then
  for f in "$@"; do echo "0000000000000000000000000000000000000000000000000000000000000000  $f"; done
  exit 0
fi
exec /usr/bin/sha256sum "$@"
`,
  );
  const uploadDir = join(root, "tmp");
  const traces = ["flashcfg.calls", "flashcfg.exit", "flashcfg.output", "flashed.img", "reboot.calls", "sha256sum.lie", "packages.installed", "apt-get.calls", "ifupdown.calls", "etc", "init", "dev"];
  const board: FakeBoard = {
    root,
    uploadDir,
    reset() {
      for (const t of traces) rmSync(join(root, t), { recursive: true, force: true });
      rmSync(uploadDir, { recursive: true, force: true });
      mkdirSync(uploadDir, { recursive: true });
      mkdirSync(join(root, "proc", "device-tree"), { recursive: true });
      // The kernel's model file ends with a NUL, not a newline.
      writeFileSync(join(root, "proc", "device-tree", "model"), `${QEMU_VIRT_MODEL}\0`);
      writeFileSync(join(root, "proc", "mtd"), DEFAULT_MTD);
    },
    setModel: (model) => writeFileSync(join(root, "proc", "device-tree", "model"), `${model}\0`),
    setMtd: (text) => writeFileSync(join(root, "proc", "mtd"), text),
    failFlashcfg(code, output) {
      writeFileSync(join(root, "flashcfg.output"), output);
      writeFileSync(join(root, "flashcfg.exit"), String(code));
    },
    lieAboutSha256: () => writeFileSync(join(root, "sha256sum.lie"), ""),
    flashcfgCalls: () => (existsSync(join(root, "flashcfg.calls")) ? readFileSync(join(root, "flashcfg.calls"), "utf8").trim().split("\n") : []),
    flashed: () => (existsSync(join(root, "flashed.img")) ? readFileSync(join(root, "flashed.img")) : undefined),
    rebootCalls: () => (existsSync(join(root, "reboot.calls")) ? readFileSync(join(root, "reboot.calls"), "utf8").trim().split("\n").length : 0),
    uploads: () => readdirSync(uploadDir).sort(),
    setInstalled: (packages) => writeFileSync(join(root, "packages.installed"), packages.map((p) => `${p}\n`).join("")),
    installed: () => (existsSync(join(root, "packages.installed")) ? readFileSync(join(root, "packages.installed"), "utf8").trim().split("\n").filter(Boolean) : []),
    ifupdownCalls: () => (existsSync(join(root, "ifupdown.calls")) ? readFileSync(join(root, "ifupdown.calls"), "utf8").trim().split("\n") : []),
    aptCalls: () => (existsSync(join(root, "apt-get.calls")) ? readFileSync(join(root, "apt-get.calls"), "utf8").trim().split("\n") : []),
    setDevice(dev, data) {
      mkdirSync(join(root, "dev"), { recursive: true });
      writeFileSync(join(root, "dev", dev), data);
    },
  };
  board.reset();
  return board;
}

/**
 * Runs a command through the real ssh client, independent of kiln: used to prove
 * the stubs shadow the real tools before any test can run `reboot` as root.
 */
async function sshRun(port: number, key: string, command: string): Promise<string> {
  const r = await execa(
    "ssh",
    ["-F", "/dev/null", "-i", key, "-p", String(port), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
      "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "root@127.0.0.1", command],
    { reject: false, timeout: 60_000 },
  );
  if (r.exitCode !== 0) throw new Error(`ssh to the test sshd failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout;
}

export async function startSshd(): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), "kiln-sshd-"));
  const stubs = join(dir, "bin");
  const root = join(dir, "board");
  mkdirSync(stubs);
  mkdirSync(root);
  const board = makeBoard(root, stubs);
  const clientKey = join(dir, "id_ed25519");
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "kiln-test-client", "-f", clientKey]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(`${clientKey}.pub`));
  let fingerprint = await hostKey(dir);
  const port = await freePort();
  const config = join(dir, "sshd_config");
  const boardPath = `${stubs}:/usr/bin:/bin`;
  const home = join(dir, "home");
  mkdirSync(home, { recursive: true });
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "ssh_host_ed25519_key")}`,
      // Several servers run at once and none may touch the system's /run/sshd.pid.
      "PidFile none",
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      // The temp directory is not root-owned all the way up the way sshd's checks want.
      "StrictModes no",
      "UsePAM no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "UseDNS no",
      "PrintMotd no",
      "PrintLastLog no",
      "Subsystem sftp internal-sftp",
      // HOME: an empty one of the board's own. Bash run by sshd reads ~/.bashrc, and this machine's user's (pyenv,
      // cargo) started about a hundred processes in every session and put its own directories first on PATH.
      `SetEnv PATH=${boardPath} HOME=${home} KILN_BOARD_ROOT=${root}`,
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true });

  let stderr = "";
  let child: ChildProcess | undefined;
  // A test worker that dies without afterAll must not leave a root sshd listening.
  const orphanGuard = () => child?.kill("SIGKILL");
  process.once("exit", orphanGuard);
  const log = () => stderr.slice(-4000);
  const launch = async () => {
    const c = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    child = c;
    c.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-64_000);
    });
    await waitForBanner(port, c, log);
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const hard = setTimeout(() => c.kill("SIGKILL"), 5000);
      c.once("exit", () => {
        clearTimeout(hard);
        resolve();
      });
      c.kill("SIGTERM");
    });
  };

  try {
    await launch();
    // Refuse to go on unless the board's reboot, flashcfg, sha256sum, apt-get, dpkg-query and ifupdown are the stubs:
    // a test that reached the real reboot would restart this build machine, the real apt-get change it.
    const tools = ["reboot", "flashcfg", "sha256sum", "apt-get", "dpkg-query", "ifup", "ifdown"];
    const seen = (await sshRun(port, clientKey, `for c in ${tools.join(" ")}; do command -v $c; done; echo "$KILN_BOARD_ROOT"; echo "$PATH"`)).trim().split("\n");
    const want = [...tools.map((t) => join(stubs, t)), root, boardPath];
    if (seen.join("\n") !== want.join("\n")) throw new Error(`the test sshd's sessions do not see the stand-in board (PATH, SetEnv, or a shell startup file changing PATH): got ${JSON.stringify(seen)}, want ${JSON.stringify(want)}`);
  } catch (err) {
    process.removeListener("exit", orphanGuard);
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    port,
    get hostKeyFingerprint() {
      return fingerprint;
    },
    get hostPublicKey() {
      return readFileSync(join(dir, "ssh_host_ed25519_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    },
    clientKey,
    root,
    board,
    log,
    async stop() {
      process.removeListener("exit", orphanGuard);
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    async restartWithNewHostKey() {
      await kill();
      fingerprint = await hostKey(dir);
      await launch();
    },
  };
}
