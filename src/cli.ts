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
  .description("Check a kernel .config for container readiness (what lxc-checkconfig checks), without the host's state")
  .requiredOption("-c, --config <path>", "kernel .config to check")
  .option("--kernel-version <version>", "kernel version the config is for (default: read from the config's header)")
  .addOption(new Option("--no-cross-check", "do not compare with the host's lxc-checkconfig"))
  .option("--json", "print the report as JSON", false)
  .addHelpText(
    "after",
    `
Exit code 0 when every required check passes, 1 when one fails (lxc-checkconfig
itself always exits 0). When lxc-checkconfig is installed, its verdicts on the
same file are compared with kiln's and disagreements are shown.

Example:
  kiln check --config out/openblocks-ax3/kernel/.config`,
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
    .option("--force <stage...>", "re-run these stages even when their inputs did not change (config, kernel, image)", [])
    .option("--json", "machine-readable summary on stdout", false);
}

buildFlags(program.command("kernel"))
  .description("Cross-build the kernel the board needs (zImage, modules, DTB) out of tree from the configured .config")
  .addHelpText("after", "\nNeeds the .config of `kiln config`; `kiln build` runs both.\nccache is used when installed (cache in $KILN_CACHE_DIR/ccache).")
  .action(async (opts) => {
    const { kernelCommand } = await import("./commands/build.js");
    await kernelCommand(opts);
  });

buildFlags(program.command("image"))
  .description("Pack the board's U-Boot uImage from the built kernel and a ramdisk, verify it, and check it fits the flash partition")
  .option("--ramdisk <file>", "ramdisk to pack (default: the rootfs stage's output, else a modules-only initramfs)")
  .action(async (opts) => {
    const { imageCommand } = await import("./commands/image.js");
    await imageCommand(opts);
  });

buildFlags(program.command("build"))
  .description("Run the pipeline: config, kernel, image; each stage is skipped when its inputs did not change")
  .option("--ramdisk <file>", "ramdisk to pack instead of the rootfs stage's output")
  .addHelpText(
    "after",
    `
Each stage records the inputs it was built from in out/<board>/stamps/; a second
build with nothing changed runs no tool. The log of each stage says which input
made it run. Outputs are reproducible (SOURCE_DATE_EPOCH, fixed build user and host).

Examples:
  kiln build --board openblocks-ax3
  kiln build --board qemu-virt --force kernel`,
  )
  .action(async (opts) => {
    const { buildCommand } = await import("./commands/build.js");
    await buildCommand(opts);
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
