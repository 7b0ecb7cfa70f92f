/**
 * The kiln command line: declares commands and flags only; each command lives
 * in src/commands/<name>.ts and is imported when it runs.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { checkedOption } from "./cli-options.js";
import { resolvePathOptions } from "./cli-paths.js";
import { KilnError } from "./errors.js";
import { KILN_VERSION } from "./version.js";

const program = new Command();

program
  .name("kiln")
  .description(
    "Build container-ready Linux appliances for ARM boards: kernel config with an audit,\n" +
      "cross-built kernel, root filesystem with LXC, U-Boot image, flashing over SSH.",
  )
  .version(KILN_VERSION)
  .showHelpAfterError("(run with --help for usage)")
  .addHelpText(
    "after",
    `
The main job (build, boot in QEMU, check with a container, summarise):
  kiln all                    the default board, qemu-virt

Pipeline (each stage is also a command):
  kiln config  --board B      defconfig + container fragments -> audited .config
  kiln kernel  --board B      cross-build zImage, modules, DTB
  kiln rootfs  --board B      root filesystem with LXC, bridge, SSH, flashcfg
  kiln image   --board B      pack and verify the U-Boot uImage
  kiln build   --board B      all of the above, skipping what is up to date
  kiln check   --config PATH  container readiness of a .config (offline)
  kiln inspect FILE           read and verify a uImage header
  kiln qemu    --board B      boot the image in QEMU from emulated NOR flash
  kiln check   --host H       readiness of a running board, with a real container
  kiln flash   --board B --host H   upload, flashcfg, reboot, check
  kiln deploy  --host H       container setup on a running board, without a reflash
  kiln bench   --host H       seed 004's host/container measurements on a board
  kiln restore --board B --host H --file F   put a flash backup back

Boards live in board/<name>/, fragments in kconfig/<name>.config.
Caches: $KILN_CACHE_DIR (default ~/.cache/kiln). Output: ./out/<board> (or --out).`,
  );

/** How kiln reaches a board over SSH: the same flags on every remote command. */
function sshFlags(cmd: Command): Command {
  return cmd
    .addOption(checkedOption("-p, --port <port>", "SSH port (default: the ssh configuration's Port, else 22)", "port"))
    .option("-u, --user <user>", "SSH user (default: the ssh configuration's User, else root)")
    .option("-i, --identity <key>", "SSH private key (default: as ssh, every IdentityFile of the ssh configuration or ~/.ssh/id_* in turn, then ssh-agent's keys; a key under a passphrase must be in the agent)")
    .option("-F, --ssh-config <file>", "ssh configuration to read instead of ~/.ssh/config: Host aliases, HostName, User, Port, IdentityFile and ProxyJump apply as with ssh")
    .option("--accept-new-host-key", "trust an unknown host key once and pin it in kiln's known_hosts (OpenSSH's format; keys in your own known_hosts are trusted as they are; a changed key is always refused)", false);
}

/** Commands that act on many boards at once. */
function fleetFlags(cmd: Command, verb: string): Command {
  return cmd
    .option("--host <host...>", `board to ${verb}, host or host:port (repeatable)`, [])
    .option("--inventory <file>", "boards: kiln's YAML list (host names or {host, port, user, identity}), or an Ansible inventory (INI, YAML; read with ansible-inventory --list)")
    .option("--limit <groups>", "with an Ansible inventory: only these groups or hosts (comma separated)")
    .addOption(checkedOption("--parallel <n>", `boards to ${verb} at once`, "count", "4"))
    .addOption(checkedOption("--canary <n>", `${verb} the first N boards first; the rest start only when all of them passed`, "count"))
    .addOption(checkedOption("--max-failures <k>", "start no new board after K failures (the summary lists the boards never attempted)", "count"));
}

/** How the containers reach the network: for the rootfs stage and for deploy. */
function netFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option("--net <mode>", "container networking: veth on br0, or macvlan on eth0").choices(["veth", "macvlan"]))
    .addOption(checkedOption("--address <cidr>", "static address for br0 (default: DHCP)", "cidr"))
    .addOption(checkedOption("--gateway <ip>", "default gateway with --address", "ip"))
    .addOption(checkedOption("--dns <ip...>", "name servers with --address", "ip"));
}

/** What happens after the image is chosen: shared by flash and restore. */
function flashRunFlags(cmd: Command): Command {
  return cmd
    .option("-o, --out <dir>", "build output directory (default: ./out/<board>)")
    .option("--remote-dir <dir>", "where the image is uploaded on the board", "/tmp")
    .option("--dry-run", "connect and run every pre-flight check, then print what would be done", false)
    .addOption(new Option("--no-check", "do not run kiln check after the reboot"))
    .addOption(checkedOption("--reboot-timeout <seconds>", "how long to wait for the board to come back", "seconds", "300"))
    .option("--replace-host-key", "let the SSH host key the image (or the backup's .hostkey) brings replace the board's pinned, different key; without it such a flash is refused before writing", false)
    .option("--json", "machine-readable results", false);
}

program
  .command("config")
  .description("Make the board's kernel .config: defconfig, merge container fragments, olddefconfig, then audit every requested option")
  .requiredOption("-b, --board <name>", "board from board/<name>/ (see `kiln boards`)")
  .option("-f, --fragment <name-or-file...>", "extra fragment: a name from kconfig/ or a path to your own file (repeatable)", [])
  .option("--kernel-src <dir-or-tarball>", "kernel tree or tarball (default: the board's Debian linux-source tarball)")
  .option("-o, --out <dir>", "output directory (default: ./out/<board>)")
  .option("--allow-missing", "report requested options that did not land as warnings instead of failing", false)
  .addOption(new Option("--no-cache", "make the config here instead of taking it from the cache of earlier builds"))
  .option("--json", "print the audit report as JSON on stdout (no progress output)", false)
  .addHelpText(
    "after",
    `
The audit lists every requested option with its final value. An option that did
not land is explained: an unknown symbol (with the closest spelling), a renamed
or removed symbol (kconfig/renames.yaml), an unmet dependency read from the
tree's Kconfig files with the value of each term, a missing prompt, a choice, or
a later fragment that overrides it. Exit code 1 when a required option is missing.

Examples:
  kiln config --board openblocks-ax3
  kiln config --board qemu-virt --fragment docker --json
  kiln config --board openblocks-ax3 --kernel-src ~/linux-3.0.6-20120927-1.tar.gz`,
  )
  .action(async (opts) => {
    const { configCommand } = await import("./commands/build.js");
    await configCommand(opts);
  });

sshFlags(
  program
    .command("check")
    .description("Check container readiness: of a kernel .config (offline), or of a running board over SSH with a real container")
    .option("-c, --config <path>", "kernel .config to check (offline), or with --host the built config to compare against")
    .option("--host <host>", "check a running board over SSH instead"),
)
  .option("-b, --board <name>", "with --host: compare with what kiln built for this board (out/<board>)")
  .option("-o, --out <dir>", "with --host: the build output directory to compare with")
  .addOption(new Option("--no-proof", "with --host: skip starting a real container"))
  .addOption(checkedOption("--memory <size>", "memory limit of the proof container", "memory", "512M"))
  .addOption(checkedOption("--cpus <list>", "cpuset of the proof container", "cpus", "0"))
  .addOption(checkedOption("--cpu-shares <n>", "Docker's --cpu-shares for the proof container, set as cgroup v2 cpu.weight the way runc maps it", "shares", "512"))
  .addOption(checkedOption("--pids-max <n>", "pids.max of the proof container; a fork loop of twice as many must be refused", "pids", "32"))
  .option("--kernel-version <version>", "kernel version the config is for (default: read from the config's header)")
  .addOption(new Option("--no-cross-check", "do not compare with the host's lxc-checkconfig"))
  .option("--json", "print the report as JSON", false)
  .addHelpText(
    "after",
    `
Offline (--config): kiln's own checks of everything lxc-checkconfig checks that a
config decides; the host's lxc-checkconfig, when installed, is run on the same
file and disagreements are shown. The host's cgroup mounts are never mixed in.

Live (--host): over SSH, lxc-checkconfig on the board (parsed, colours and noise
tolerated), /proc/config.gz against the built .config, uname -r against the built
release, cgroups mounted, br0 present, then a busybox container started with a
memory limit, a cpuset, a CPU weight and a pids limit: its own PID 1, its own
hostname, the limits in its cgroup; through LXCFS, free and /proc/cpuinfo inside
show the limit and the cpuset while the board shows its own (seed 000); a fork
loop of twice pids.max is refused while the board answers; a file attaches to
/dev/loop0 and /dev/net/tun opens (seed 004's grants), /dev/mem is refused;
reachable over br0.

Exit code 0 only when every required check passes (lxc-checkconfig itself always exits 0).

Examples:
  kiln check --config out/openblocks-ax3/kernel/.config
  kiln check --host 127.0.0.1 --port 2222 --board qemu-virt --accept-new-host-key`,
  )
  .action(async (opts) => {
    const { checkCommand } = await import("./commands/check.js");
    await checkCommand(opts);
  });

function buildFlags(cmd: Command): Command {
  return cmd
    .requiredOption("-b, --board <name>", "board from board/<name>/ (see `kiln boards`)")
    .option("-f, --fragment <name-or-file...>", "extra kernel fragment (repeatable)", [])
    .option("--kernel-src <dir-or-tarball>", "kernel tree or tarball (default: the board's Debian linux-source tarball)")
    .option("-o, --out <dir>", "output directory (default: ./out/<board>)")
    .option("--allow-missing", "accept a config whose audit found missing options", false)
    .option("--force <stage...>", "re-run these stages even when their inputs did not change (config, kernel, rootfs, image; a forced rootfs runs mmdebstrap again instead of taking the Debian base from $KILN_CACHE_DIR/rootfs-base)", [])
    .addOption(new Option("--no-cache", "build every stage here instead of taking it from the cache of earlier builds ($KILN_CACHE_DIR/stages, and the Debian base of a root filesystem); what is built is still filed there"))
    .option("--json", "machine-readable summary on stdout", false);
}

/** Which Debian packages go in, and from where. */
function debianFlags(cmd: Command): Command {
  return cmd
    .option("--profile <name-or-file>", "package profile from rootfs/profiles/ (default, minimal) or a file")
    .option("--mirror <uri-and-suites...>", "Debian mirror (\"URI\" or \"URI suite...\") instead of the host's apt sources")
    .option("--strict-suites", "fail when an update suite (security, -updates) cannot be downloaded, instead of going on without it", false);
}

function rootfsFlags(cmd: Command): Command {
  return netFlags(debianFlags(cmd))
    .option("--authorized-key <file...>", "public key(s) for root's authorized_keys")
    .addOption(
      // Kept only to say why it went: an argument is visible to every user in ps and lands in shell history.
      new Option("--root-password <password>").hideHelp().argParser(() => {
        throw new InvalidArgumentError("a password on the command line is visible to every user in ps: put it in a file and give --root-password-file FILE (or - to read standard input)");
      }),
    )
    .option("--root-password-file <file>", "set root's password to the first line of FILE, or of standard input with - (never on the command line, where ps shows it; no password is set otherwise). It is for the console: SSH takes keys only")
    .option("--ssh-password-login", "with --root-password-file: let SSH take that password too (refused by default)", false)
    .option("--base-ramdisk <file>", "start from this ramdisk (cpio, gzip/lzma/xz cpio, or an ext2 image)");
}

buildFlags(program.command("kernel"))
  .description("Cross-build the kernel the board needs (zImage, modules, DTB) out of tree from the configured .config")
  .addHelpText("after", "\nNeeds the .config of `kiln config`; `kiln build` runs both.\nccache is used when installed (cache in $KILN_CACHE_DIR/ccache).")
  .action(async (opts) => {
    const { buildCommand } = await import("./commands/build.js");
    await buildCommand(opts, "kernel");
  });

rootfsFlags(buildFlags(program.command("rootfs")))
  .description("Assemble the board's root filesystem (Debian armhf via mmdebstrap) with LXC, a bridge, SSH, kiln's flashcfg and the kernel's modules")
  .addHelpText(
    "after",
    `
Mirrors come from the host's apt configuration (/etc/apt/sources.list*) or --mirror.
When an update suite cannot be downloaded, kiln says which and why, retries once,
then goes on without it and records the warning in the manifest and the SBOM
(--strict-suites makes it fatal). Downloaded packages are cached in $KILN_CACHE_DIR/debs.
Output in out/<board>/rootfs/: the ramdisk, a size report and a CycloneDX SBOM.`,
  )
  .action(async (opts) => {
    const { buildCommand } = await import("./commands/build.js");
    await buildCommand(opts, "rootfs");
  });

/** Which flash the image is for: its partitions go into the DTB, its kernel-image partition's size is the limit. */
function flashFlags(cmd: Command): Command {
  return cmd
    .option("--unit <name>", "a probed unit (host or host:port given to `kiln probe`, host key fingerprint, or profile file): build for the flash layout it reports")
    .option("--flash-layout <name>", "one of the board's flash.layouts instead of its default layout (only the image stage differs)")
    .addHelpText(
      "after",
      `
Flash partitions come from the board data (flash.partitions, flash.layouts) or,
with --unit, from the profile \`kiln probe\` saved for that unit ($KILN_STATE_DIR/units/):
its /proc/mtd must show the board data's names, in order, on a board of the right
model. When every offset and size is known, the DTB in the image gets a
fixed-partitions node; the size of the kernel-image partition is the image's
limit. Without either, kiln says the limit is unknown until the board is probed.`,
    );
}

flashFlags(buildFlags(program.command("image")))
  .description("Pack the board's U-Boot uImage from the built kernel and a ramdisk, verify it, and check it fits the flash partition")
  .addOption(new Option("--no-deps", "only pack: take the kernel (and rootfs) as they are in --out, without running or checking their stages"))
  .option("--ramdisk <file>", "ramdisk to pack (default: the rootfs stage's output, else a modules-only initramfs)")
  .addHelpText("after", "\nLike every building command, it runs the earlier stages first (each skipped when up to date);\n--no-deps packs what --out already holds.")
  .action(async (opts) => {
    const { buildCommand } = await import("./commands/build.js");
    await buildCommand(opts, "image");
  });

flashFlags(rootfsFlags(buildFlags(program.command("build"))))
  .description("Run the pipeline: config, kernel, rootfs, image; each stage is skipped when its inputs did not change")
  .option("--ramdisk <file>", "ramdisk to pack instead of the rootfs stage's output")
  .addHelpText(
    "after",
    `
Each stage records the inputs it was built from in out/<board>/stamps/; a second
build with nothing changed runs no tool. The log of each stage says which input
made it run. Outputs are reproducible (SOURCE_DATE_EPOCH, fixed build user and host).

Examples:
  kiln build --board openblocks-ax3
  kiln build --board openblocks-ax3 --unit 192.0.2.10
  kiln build --board qemu-virt --flash-layout ax3-names
  kiln build --board qemu-virt --force kernel`,
  )
  .action(async (opts) => {
    const { buildCommand } = await import("./commands/build.js");
    await buildCommand(opts);
  });

rootfsFlags(
  program
    .command("all")
    .description("The main job: build the board's image, boot it in QEMU through U-Boot from flash, check it live with a real container, stop, summarise")
    .option("-b, --board <name>", "an emulated board (see `kiln boards`)", "qemu-virt")
    .option("-f, --fragment <name-or-file...>", "extra kernel fragment (repeatable)", [])
    .option("--kernel-src <dir-or-tarball>", "kernel tree or tarball (default: the board's Debian linux-source tarball)")
    .option("-o, --out <dir>", "output directory (default: ./out/<board>)")
    .option("--force <stage...>", "re-run these stages even when their inputs did not change (config, kernel, rootfs, image; a forced rootfs runs mmdebstrap again instead of taking the Debian base from $KILN_CACHE_DIR/rootfs-base)", [])
    .addOption(new Option("--no-cache", "build every stage here instead of taking it from the cache of earlier builds ($KILN_CACHE_DIR/stages, and the Debian base of a root filesystem)"))
    .option("-i, --identity <key>", "SSH private key to log in with; its .pub is authorised in the image (default: one kiln makes once in $KILN_STATE_DIR)")
    .option("--instance <name>", "QEMU instance (its flash files live in $KILN_STATE_DIR/qemu/<name>)", "main")
    .addOption(checkedOption("--timeout <seconds>", "how long the boot may take until SSH answers", "seconds", "300"))
    .addOption(checkedOption("--memory <size>", "memory limit of the proof container", "memory", "512M"))
    .addOption(checkedOption("--cpus <list>", "cpuset of the proof container", "cpus", "0"))
    .option("--json", "print only the summary, as JSON", false),
)
  .addHelpText(
    "after",
    `
What it does, in order, each step shown while it runs:
  1. kiln build: config, kernel, rootfs, image. A stage whose inputs did not change
     is skipped; one built before on this machine (another --out, another clone) is
     taken from $KILN_CACHE_DIR/stages.
  2. kiln qemu: the image is written into the instance's emulated NOR flash and
     U-Boot boots it; kiln waits for SSH (the host key must be the build's own).
  3. kiln check --host: lxc-checkconfig on the board, the running config and
     release against the built ones, cgroups, br0, and a busybox container with a
     memory limit and a cpuset.
  4. QEMU is stopped, and a summary printed: each stage's time and how it was
     made, the image's size by part, boot-to-SSH time, the check's verdict.

Exit code 0 only when every step passed.

Examples:
  kiln all                      # the default board, qemu-virt, into ./out/qemu-virt
  kiln all --out /tmp/kiln --json`,
  )
  .action(async (opts) => {
    const { allCommand } = await import("./commands/all.js");
    await allCommand({ ...opts, allowMissing: false });
  });

const qemu = program
  .command("qemu")
  .description("Run an emulated board: U-Boot in NOR flash boots the uImage in flash, SSH forwarded to loopback");

qemu
  .command("start", { isDefault: true })
  .description("Start the board (flashing --image first) and wait until it is up")
  .requiredOption("-b, --board <name>", "an emulated board, e.g. qemu-virt")
  .option("--image <uImage>", "write this image into the board's flash before starting")
  .option("--instance <name>", "instance name: each keeps its own flash (default: the board name)")
  .addOption(new Option("--wait <what>", "wait for: the SSH server, a console line (--ready), or nothing").choices(["ssh", "console", "none"]).default("ssh"))
  .option("--ready <regex>", "console line that means the board is up (with --wait console)", "kiln: ready")
  .addOption(checkedOption("--timeout <seconds>", "give up after this long", "seconds", "180"))
  .option("--console", "attach the terminal to the serial console once started", false)
  .option("--data-disk", "give the instance a data disk (made once, ext4 labelled as the board's rootfs.data.label; kept and attached at every later start)", false)
  .option("--json", "print instance details as JSON", false)
  .addHelpText(
    "after",
    `
The flash files live in $KILN_STATE_DIR/qemu/<instance>/ (default ~/.local/state/kiln):
flash0.img holds U-Boot, flash1.img the uImage. They persist, so an image written
from inside the guest (flashcfg) boots after a reboot, as on the real board.
data.img (--data-disk) is the instance's disk: /init mounts it on /var/lib/lxc by
its label, so containers on it survive reboots. kiln formats only a disk it has
just made; an existing data.img is attached as it is.
On a boot failure, the console's last lines are shown; Ctrl-C during the boot
stops QEMU.

Examples:
  kiln qemu --board qemu-virt --image out/qemu-virt/uImage.qemu-virt
  kiln qemu --board openblocks-ax3 --image out/openblocks-ax3/uImage.initrd.obsax3.qemu --data-disk
  kiln qemu stop --instance qemu-virt`,
  )
  .action(async (opts) => {
    const { qemuStartCommand } = await import("./commands/qemu.js");
    await qemuStartCommand(opts);
  });

qemu
  .command("stop")
  .description("Stop a running emulated board")
  .option("--instance <name>", "instance name (default: qemu-virt)")
  .action(async (opts) => {
    const { qemuStopCommand } = await import("./commands/qemu.js");
    await qemuStopCommand(opts);
  });

qemu
  .command("console")
  .description("Attach the terminal to a running board's serial console (Ctrl-] detaches)")
  .option("--instance <name>", "instance name (default: qemu-virt)")
  .action(async (opts) => {
    const { qemuConsoleCommand } = await import("./commands/qemu.js");
    await qemuConsoleCommand(opts);
  });

flashRunFlags(
  sshFlags(
    fleetFlags(
      program
        .command("flash")
        .description("Flash the board's image over SSH: pre-flight, verified upload, flashcfg, reboot, wait, check")
        .requiredOption("-b, --board <name>", "board definition (identity, flash partition, image)"),
      "flash",
    ),
  ).option("--image <uImage>", "image to flash (default: out/<board>/<board's image name>)"),
)
  .option("--backup", "first read the partition back to out/<board>/backup/ (kiln restore puts it back)", false)
  .addOption(new Option("--no-try", "write flash directly, without trying the image from RAM first"))
  .option("--require-try", "fail instead of writing flash directly when the board cannot try the image first", false)
  .addOption(checkedOption("--try-deadline <seconds>", "how long a trial has to come up and be confirmed before the board's watchdog resets it (default: the board's flash.trialDeadline, else 120)", "seconds"))
  .addHelpText(
    "after",
    `
Try before commit (the default when the board runs a kiln image that can kexec
and has a watchdog): the kernel, ramdisk and device tree of the new image are
loaded with kexec, the watchdog is armed (nowayout), and the board jumps into
the new image from RAM, flash untouched. kiln checks the trial system live, with
the container proof, feeding the watchdog as it goes; only when that passes does
the trial system write flash (kiln's flashcfg), reboot from flash, and get
checked again. A trial that panics, hangs or loses the network is reset by the
panic timeout or the watchdog, one that fails the check is rebooted by kiln:
either way the board comes back on the image in flash, and kiln reports
"trial failed: <why>; flash untouched". It cannot protect against a power cut
during the final write. When the board cannot try (no kexec, no watchdog), kiln
says why and writes flash directly, unless --require-try.

Before anything is written: the image's header and CRCs verify and it fits the
partition the running board reports in /proc/mtd; the host key is known (an
unknown key is refused with its fingerprint unless --accept-new-host-key; a
changed key is always refused); the board is the board (/proc/device-tree/model
or /proc/cpuinfo); flashcfg exists (kiln's or the vendor's); the upload directory
has room. The upload goes to a temporary name and must match the local sha256
before flashcfg -y -f runs. Then the board reboots and kiln waits for a new boot.

With --backup, the partition (/dev/mtdN, found by name in /proc/mtd) is read
whole to out/<board>/backup/<host>-<partition>-<time>.bin, with a .sha256
sidecar, before anything is uploaded, and checked: it must hold an image kiln
restore accepts for the board, and the board's sha256sum of the partition must
equal it; a failed read or check stops before flashcfg.

A kiln image brings its build's SSH host key. When the board is pinned with
another key, the flash is refused before writing unless --replace-host-key.

Examples:
  kiln flash --board openblocks-ax3 --host 192.0.2.10 --dry-run
  kiln flash --board openblocks-ax3 --host 192.0.2.10 --backup
  kiln flash --board openblocks-ax3 --inventory boards.yaml --parallel 8`,
  )
  .action(async (opts) => {
    const { flashCommand } = await import("./commands/flash.js");
    await flashCommand({ ...opts, try: opts.requireTry ? "require" : opts.try === false ? "never" : "auto" });
  });

flashRunFlags(
  sshFlags(
    program
      .command("restore")
      .description("Put a flash backup of `kiln flash --backup` back on the board, through the same verified path as flash")
      .requiredOption("-b, --board <name>", "board definition (identity, flash partition)")
      .requiredOption("--host <host>", "the board, host or host:port")
      .requiredOption("--file <backup>", "the backup: out/<board>/backup/<host>-<partition>-<time>.bin"),
  ),
)
  .addHelpText(
    "after",
    `
A backup is the raw partition: the image that was in flash, then whatever
followed it (erased 0xff). kiln checks the file against its .sha256 sidecar, cuts
the uImage at the length its header announces, verifies its CRCs, then flashes it
exactly as kiln flash does (pre-flight, verified upload, flashcfg, reboot, check).
A backup that does not start with a uImage header is refused with what it holds:
flashcfg writes kernel images only.

Examples:
  kiln restore --board openblocks-ax3 --host 192.0.2.10 --file out/openblocks-ax3/backup/192.0.2.10-image-20250101T120000Z.bin --dry-run
  kiln restore --board qemu-virt --host 127.0.0.1:2222 --file backup.bin --no-check`,
  )
  .action(async (opts) => {
    const { restoreCommand } = await import("./commands/restore.js");
    await restoreCommand(opts);
  });

netFlags(
  sshFlags(
    fleetFlags(
      program
        .command("deploy")
        .description("Set up containers on a board that already runs a suitable kernel: rootfs templates and packages, only what differs")
        .option("-b, --board <name>", "board whose templates apply (default: the one whose identity the board reports)"),
      "deploy to",
    ),
  ),
)
  .option("--profile <name-or-file>", "rootfs profile whose packages are installed (rootfs/profiles/: default, minimal, or a file)")
  .addOption(new Option("--no-packages", "leave packages alone: files only"))
  .option("--dry-run", "connect, compare, and print what would change", false)
  .addOption(new Option("--no-apply-network", "write a changed /etc/network/interfaces but leave the running network as it is (it applies at the next boot)"))
  .addOption(checkedOption("--net-confirm <seconds>", "how long (15 s or more) a board with a new network waits for kiln to reach it again before it puts the old network back", "seconds", "60"))
  .option("--json", "machine-readable results", false)
  .addHelpText(
    "after",
    `
For each board: the host key must be known (as for flash), the login must be
root, and the board must be the board (--board, or found by its model among
board/). The rootfs templates are rendered for it as kiln rootfs renders them,
for the kernel it runs (uname -r: cgroup2 or seed 004's v1 mount) and with a
getty on the console only when root has a password there. Each file is compared
with the board's (content and mode, over SFTP) and only a file that differs is
written, to a temporary name renamed over the old one. With apt on the board, the
profile's packages that dpkg-query does not list as installed are installed with
apt-get. A second run reports nothing changed. /etc/resolv.conf is left alone
under DHCP. Boot and network files (/init, inittab, fstab, hostname, hosts,
network/interfaces) are written only on a root kiln built (its /init is kiln's);
on any other system only the container files (/etc/lxc, /etc/default/lxc-net)
are. On a RAM-disk root (kiln's images) changes last until the next reboot:
rebuild and flash the image to keep them.

A changed /etc/network/interfaces (--net veth|macvlan, --address) is applied at
once, safely: a detached script on the board takes the old network down as the
old file defined it, brings the new one up, and waits for kiln to log in again
over it and confirm; unconfirmed within --net-confirm seconds, the board puts
its old file and network back by itself, and kiln says so.

Examples:
  kiln deploy --host 192.0.2.10 --dry-run
  kiln deploy --board qemu-virt --host 127.0.0.1:2222 --accept-new-host-key
  kiln deploy --inventory boards.yaml --parallel 8 --net macvlan --json
Then prove it: kiln check --host 192.0.2.10`,
  )
  .action(async (opts) => {
    const { deployCommand } = await import("./commands/deploy.js");
    await deployCommand(opts);
  });

sshFlags(
  program
    .command("probe")
    .description("Read a running board's identity, kernel, flash layout (/proc/mtd), memory and flashcfg; save it as the unit's profile")
    .requiredOption("--host <host>", "the board"),
)
  .option("--remote-dir <dir>", "upload directory whose free space to report", "/tmp")
  .option("--manifest <file>", "a kiln build manifest to compare the running kernel with")
  .option("--json", "machine-readable output", false)
  .addHelpText("after", "\nRead-only on the board. The profile is saved under $KILN_STATE_DIR/units/, one per unit (host, port and host key).")
  .action(async (opts) => {
    const { probeCommand } = await import("./commands/probe.js");
    await probeCommand(opts);
  });

sshFlags(
  program
    .command("bench")
    .description("Seed 004's measurements on a running board: a CPU suite on the board and in a container, TCP to the board and to veth and macvlan containers")
    .requiredOption("--host <host>", "the board"),
)
  .addOption(checkedOption("--seconds <n>", "measuring time of each CPU test and each TCP run", "seconds", "5"))
  .addOption(checkedOption("--server-address <ip>", "this machine's address as the board sees it (default: where the board sees kiln's SSH connection come from)", "ip"))
  .option("-o, --out <dir>", "where the log goes (logs/bench-HOST-PORT.log)", "out")
  .option("--json", "machine-readable report", false)
  .addHelpText(
    "after",
    `
The CPU suite is stress-ng (one instance, a fixed time each) standing for
UnixBench's index that seed 004 used: integer, floating point, system calls,
pipe throughput, context switches, process creation, file copy. It runs on the
board, then inside a busybox container that runs the board's own stress-ng
(its /usr bound read-only). TCP: an iperf3 server on this machine sends to an
iperf3 client on the board, in a veth container on br0 and in a macvlan
container (on the uplink when the board was built with --net macvlan, else on
br0). The report shows host, container and container/host, as the seed did.

kiln announces how long it takes at most and stops each run at its limit; the
containers are removed afterwards, also on failure. The board needs stress-ng
and iperf3, which no image has by default: build one with the bench profile
  kiln build --board B --profile bench
or, where apt has room (a disk root; a RAM root's tmpfs has too little),
  kiln deploy --host H --profile bench
This machine needs iperf3 (make setup installs it).

Examples:
  kiln bench --host 127.0.0.1 --port 2222 --seconds 3
  kiln bench --host board1 --json`,
  )
  .action(async (opts) => {
    const { benchCommand } = await import("./commands/bench.js");
    await benchCommand(opts);
  });

program
  .command("inspect")
  .description("Print and verify the header of any U-Boot legacy image (uImage): type, compression, addresses, parts, CRCs")
  .argument("<file>", "the uImage")
  .option("--json", "machine-readable output", false)
  .action(async (file: string, opts: { json: boolean }) => {
    const { inspectCommand } = await import("./commands/inspect.js");
    await inspectCommand({ file, json: opts.json });
  });

program
  .command("boards")
  .description("List and validate the board definitions in board/")
  .option("--json", "machine-readable list", false)
  .option("--schema", "print the JSON Schema of board.yaml", false)
  .action(async (opts) => {
    const { boardsCommand } = await import("./commands/boards.js");
    await boardsCommand(opts);
  });

// Paths are made absolute once, before any command sees them.
program.hook("preAction", (_program, action) => {
  for (const [key, value] of Object.entries(resolvePathOptions(action.opts(), process.cwd()))) action.setOptionValue(key, value);
});

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof KilnError) {
      process.stderr.write(`\nkiln: error: ${err.message}\n`);
      if (err.tail.length > 0) process.stderr.write(`${err.tail.map((l) => `  | ${l}`).join("\n")}\n`);
      if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`\nkiln: internal error (a bug: please report it with this output)\n${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 70;
  }
}

await main();
