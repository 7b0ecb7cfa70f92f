/**
 * The kiln command line: declares commands and flags only; each command lives
 * in src/commands/<name>.ts and is imported when it runs.
 */
import { Command, Option } from "commander";
import { KilnError } from "./errors.js";

const program = new Command();

program
  .name("kiln")
  .description(
    "Build container-ready Linux appliances for ARM boards: kernel config with an audit,\n" +
      "cross-built kernel, root filesystem with LXC, U-Boot image, flashing over SSH.",
  )
  .version("0.1.0")
  .showHelpAfterError("(run with --help for usage)")
  .addHelpText(
    "after",
    `
Pipeline (each stage is also a command):
  kiln config  --board B      defconfig + container fragments -> audited .config
  kiln kernel  --board B      cross-build zImage, modules, DTB
  kiln image   --board B      pack and verify the U-Boot uImage
  kiln build   --board B      all of the above, skipping what is up to date
  kiln check   --config PATH  container readiness of a .config (offline)
  kiln inspect FILE           read and verify a uImage header

Boards live in board/<name>/, fragments in kconfig/<name>.config.
Caches: $KILN_CACHE_DIR (default ~/.cache/kiln). Output: ./out/<board> (or --out).`,
  );

program
  .command("config")
  .description("Make the board's kernel .config: defconfig, merge container fragments, olddefconfig, then audit every requested option")
  .requiredOption("-b, --board <name>", "board from board/<name>/ (see `kiln boards`)")
  .option("-f, --fragment <name-or-file...>", "extra fragment: a name from kconfig/ or a path to your own file (repeatable)", [])
  .option("--kernel-src <dir-or-tarball>", "kernel tree or tarball (default: the board's Debian linux-source tarball)")
  .option("-o, --out <dir>", "output directory (default: ./out/<board>)")
  .option("--allow-missing", "report requested options that did not land as warnings instead of failing", false)
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
    const { configCommand } = await import("./commands/config.js");
    await configCommand(opts);
  });

program
  .command("check")
  .description("Check container readiness: of a kernel .config (offline), or of a running board over SSH with a real container")
  .option("-c, --config <path>", "kernel .config to check (offline), or with --host the built config to compare against")
  .option("--host <host>", "check a running board over SSH instead")
  .option("-p, --port <port>", "SSH port", "22")
  .option("-u, --user <user>", "SSH user", "root")
  .option("-i, --identity <key>", "SSH private key (default: ssh-agent, then ~/.ssh/id_*)")
  .option("--accept-new-host-key", "trust an unknown host key once (a changed key is always refused)", false)
  .option("-b, --board <name>", "with --host: compare with what kiln built for this board (out/<board>)")
  .option("-o, --out <dir>", "with --host: the build output directory to compare with")
  .addOption(new Option("--no-proof", "with --host: skip starting a real container"))
  .option("--memory <size>", "memory limit of the proof container", "512M")
  .option("--cpus <list>", "cpuset of the proof container", "0")
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
memory limit and a cpuset: its own PID 1, its own hostname, the limit in its
cgroup, reachable over br0.

Exit code 0 only when every required check passes (lxc-checkconfig itself always exits 0).

Examples:
  kiln check --config out/openblocks-ax3/kernel/.config
  kiln check --host 127.0.0.1 --port 2222 --board qemu-virt --accept-new-host-key`,
  )
  .action(async (opts) => {
    const { checkCommand } = await import("./commands/check.js");
    await checkCommand(opts);
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
