/**
 * The rootfs stage: a Debian root for the board made with mmdebstrap (through
 * qemu-user), the kernel stage's modules, kiln's /init and configuration
 * rendered from rootfs/templates, packed as a reproducible newc initramfs, with
 * a size report, a CycloneDX SBOM and a manifest next to it. Inputs are hashed
 * into a stamp: a second run with nothing changed runs no tool.
 */
import { rootPasswordHash } from "./root-password.js";
import { existsSync, statSync } from "node:fs";
import { projectRoot } from "../paths.js";
import { chmod, chown, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { imagePartitionNames } from "../board/flash-layout.js";
import type { Board } from "../board/schema.js";
import { ensureHostKey } from "./host-key.js";
import { type RootfsPaths, rootfsPaths } from "./paths.js";

export { rootfsOutputs, rootfsPaths } from "./paths.js";
import { type Inputs, sha256File, sha256Text } from "../cache.js";
import { memoByKey } from "../stat-memo.js";
import { CheckFailedError, InputError, KilnError } from "../errors.js";
import { requireTool, run, type StageLog, toolVersion } from "../exec.js";
import { writeFileAtomic } from "../fsutil.js";
import { multiImageSize } from "../image/size.js";
import { cacheDir, dataDir } from "../paths.js";
import type { BuildContext, RootfsOptions } from "../stage/contract.js";
import { engineHash, stageEngineHash } from "../stage/engine.js";
import { kernelNeeds, unmetNeeds } from "./kernel-needs.js";
import { hostSources, mirrorOption, selectSuites, type SuiteSource } from "./apt-sources.js";
import { ensureBinfmt, qemuEntry } from "./binfmt.js";
import { cutClosure, installedPackages, whoPulls } from "./dpkg.js";
import { baseDir, baseKey, restoreBase, saveBase } from "./base-cache.js";
import { debootstrap, type DebootstrapInput, type DebootstrapResult } from "./mmdebstrap.js";
import { modulesFingerprint, stageModules, type StagedModules } from "./modules.js";
import { packCpio } from "../cpio.js";
import { KILN_VERSION } from "../version.js";
import { type Compression, compressFile, ensureDeviceNodes, unpackRamdisk } from "./pack.js";
import { compressCommandLine } from "../compress.js";
import { loadProfile, type Profile } from "./profile.js";
import { flashBudget, formatReport, mib, packageSizes, ramBudget, type SizeReport, treeSizes } from "./report.js";
import { type NetMode, renderTemplates, type RenderedFile, templateContext, templateFiles } from "./templates.js";

export type { RootfsOptions };

export interface RootfsResult {
  /** the uncompressed newc cpio: what the image stage compresses */
  ramdisk: string;
  /** the same, compressed the board's way (what the budget measured) */
  compressed: string;
  sbom: string;
  report: string;
  manifest: string;
  warnings: string[];
}

/** Debian architecture of the board's userland, from its toolchain. */
export function debianArch(board: Board): string {
  if (board.arch === "arm") return board.crossCompile.includes("gnueabihf") ? "armhf" : "armel";
  throw new InputError(`no Debian architecture known for board arch ${board.arch}`);
}

/** What the rootfs stage needs of the kernel build (the kernel stage's result). */
export interface KernelInfo {
  release?: string;
  version?: string;
  modulesDir?: string;
  zImage?: string;
  dtb?: string;
  epoch?: number;
  configPath?: string;
}

/** Public keys only: a private key in authorized_keys would be a leak, so it is refused. */
export async function readAuthorizedKeys(files: readonly string[]): Promise<string> {
  const lines: string[] = [];
  for (const f of files) {
    if (!existsSync(f)) throw new InputError(`--authorized-key ${f}: no such file`);
    const text = await readFile(f, "utf8");
    if (/PRIVATE KEY/.test(text)) throw new InputError(`--authorized-key ${f}: this is a private key`, "give the .pub file");
    const keys = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    if (keys.length === 0 || keys.some((k) => !/^(?:[\w-]+=\S*\s+|[\w-]+(?:,\S+)?\s+)*(ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/=]+/.test(k))) {
      throw new InputError(`--authorized-key ${f}: not an OpenSSH public key file`, "expected lines such as `ssh-ed25519 AAAA... comment`");
    }
    lines.push(...keys);
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}

async function hashDir(files: readonly string[], base: string): Promise<string> {
  const parts: string[] = [];
  for (const f of files) parts.push(`${f} ${await sha256File(join(base, f))}`);
  return sha256Text(parts.join("\n"));
}

export async function resolveSuites(profile: Profile, opts: RootfsOptions, debArch: string): Promise<SuiteSource[]> {
  if (opts.mirrors && opts.mirrors.length > 0) return mirrorOption(opts.mirrors, profile.release, profile.components);
  const suites = selectSuites(await hostSources(opts.aptDir), profile.release, debArch);
  if (!suites.some((s) => s.kind === "base")) {
    throw new InputError(
      `the host's apt sources name no mirror for ${profile.release}`,
      `give one with --mirror URI (kiln reads /etc/apt/sources.list and sources.list.d/*.list, *.sources; found: ${suites.map((s) => s.suite).join(", ") || "nothing for this release"})`,
    );
  }
  return suites;
}

/** Everything the rootfs stage decides before it runs: read once, used for the inputs and the run. */
export interface RootfsPlan {
  board: Board & { rootfs: NonNullable<Board["rootfs"]> };
  outDir: string;
  opts: RootfsOptions;
  compression: Compression;
  paths: RootfsPaths;
  profile: Profile;
  debArch: string;
  kernel: KernelInfo | undefined;
  suites: SuiteSource[];
  net: { net: NetMode; address?: string; gateway?: string; dns: string[] };
  ctx: ReturnType<typeof templateContext>;
  /** the templates and kiln's tools as they go into the root; rendered once, when first asked for */
  rendered: () => Promise<RenderedFile[]>;
  /** sha256 of the templates folder and of the rendered files */
  templatesHash: string;
  renderedHash: string;
  authorizedKeys: string;
  shadowHash: string | undefined;
  /** what the inputs record of the password (root-password.ts) */
  shadowKey: string | undefined;
  kernelConfig: string;
  /** run mmdebstrap even when a cached Debian base fits (--force rootfs, --no-cache) */
  freshBase: boolean;
}

export async function planRootfs(build: BuildContext, kernel: KernelInfo | undefined, log: StageLog): Promise<RootfsPlan> {
  const { board, outDir } = build;
  const opts = build.rootfs ?? {};
  if (!board.rootfs) throw new InputError(`board ${board.name} has no rootfs settings`, `add a rootfs: section to board/${board.name}/board.yaml`);
  const compression: Compression = board.image?.ramdiskCompression ?? "gzip";
  const paths = rootfsPaths(outDir, compression);
  const profile = await loadProfile(opts.profile ?? "default");
  const debArch = debianArch(board);
  const suites = await resolveSuites(profile, opts, debArch);
  const net = { net: opts.net ?? "veth", address: opts.address, gateway: opts.gateway, dns: [...(opts.dns ?? [])] };
  const ctx = templateContext(board, profile, kernel ?? {}, net, opts.rootPassword !== undefined, opts.sshPasswordLogin ?? false);
  let renderedOnce: Promise<RenderedFile[]> | undefined;
  const rendered = () => (renderedOnce ??= (async () => [...(await renderTemplates(ctx)), ...(await kilnTools(board))])());
  const templatesRoot = join(dataDir("rootfs"), "templates");
  const templatesHash = await hashDir((await templateFiles()).map((f) => f.slice(templatesRoot.length + 1)), templatesRoot);
  // Rendering is deterministic in the templates, the context and kiln's tools (made by
  // kilnTools here, hence this module in the key): a no-op build
  // reuses the hash of what they rendered to last time instead of rendering (and loading
  // the template compiler). Anything new is rendered here, so template errors still
  // surface before any stage runs.
  const toolsKey = `${await sha256File(join(projectRoot, "src", "flashcfg", "flashcfg.sh"))} ${JSON.stringify(imagePartitionNames(board))} ${board.flash?.partition ?? ""}`;
  const renderedHash = await memoByKey("rendered", sha256Text(JSON.stringify([templatesHash, ctx, toolsKey, await engineHash("rootfs/templates.js", "rootfs/stage.js")])), async () =>
    sha256Text((await rendered()).map((r) => `${r.path}\n${r.content}`).join("\n")),
  );
  const authorizedKeys = await readAuthorizedKeys(opts.authorizedKeys ?? []);
  if (opts.rootPassword === "") throw new InputError("the root password is empty", "leave --root-password-file out: root then has no password (console shell, SSH by key only)");
  const pw = opts.rootPassword !== undefined ? await rootPasswordHash(opts.rootPassword, board.name, log) : undefined;
  const shadowHash = pw?.hash;
  const shadowKey = pw?.key;
  const kernelConfig = kernel?.configPath ?? join(outDir, "kernel", ".config");
  const freshBase = build.force.includes("rootfs") || build.useCache === false;
  return { board: board as RootfsPlan["board"], outDir, opts, compression, paths, profile, debArch, kernel, suites, net, ctx, rendered, templatesHash, renderedHash, authorizedKeys, shadowHash, shadowKey, kernelConfig, freshBase };
}

/**
 * The stage's inputs. The SSH host key is not one: it is an output (made on
 * the first run, kept after), so a root filesystem taken from the cache brings
 * its key along.
 */
export async function rootfsInputs(plan: RootfsPlan): Promise<Inputs> {
  const { board, profile, opts, kernel, kernelConfig, net, compression, debArch } = plan;
  const moduleFiles = await modulesFingerprint(kernel?.modulesDir);
  return {
    profile: `${profile.name} ${await sha256File(profile.file)}`,
    templates: plan.templatesHash,
    options: JSON.stringify({ net, compression, rootfs: board.rootfs, flash: board.flash?.maxImageSize ?? null, strict: opts.strictSuites ?? false, arch: debArch }),
    "rendered files": plan.renderedHash,
    "authorized keys": sha256Text(plan.authorizedKeys),
    "root password": plan.shadowKey ?? "none",
    mirrors: plan.suites.map((s) => `${s.suite} ${s.uri} ${s.components.join(",")}`).join("; "),
    "kernel release": kernel?.release ?? "no kernel build",
    modules: kernel?.modulesDir ? await hashDir(moduleFiles, kernel.modulesDir) : "none",
    "kernel .config": existsSync(kernelConfig) ? await sha256File(kernelConfig) : "none",
    "base ramdisk": opts.baseRamdisk ? await sha256File(opts.baseRamdisk).catch(() => "missing") : "none",
    mmdebstrap: await toolVersion("mmdebstrap"),
    // kiln's flashcfg script is in "rendered files".
    engine: await stageEngineHash("rootfs"),
    // The SBOM names kiln's version.
    kiln: KILN_VERSION,
  };
}


export async function rootfsResult(outDir: string, compression: Compression): Promise<RootfsResult> {
  const paths = rootfsPaths(outDir, compression);
  // The ramdisk holds the build's SSH host key, also when it came from the stage cache.
  if (existsSync(paths.manifest)) await chmod(outDir, 0o700);
  const warnings = await previousWarnings(paths.manifest);
  return { ramdisk: paths.ramdisk, compressed: paths.compressed, sbom: paths.sbom, report: paths.report, manifest: paths.manifest, warnings };
}

/** Tools and root: checked before the first stage of a build runs, and again here. */
export async function rootfsPreflight(hashesPassword: boolean): Promise<void> {
  for (const [tool, pkg, why] of [
    ["mmdebstrap", "mmdebstrap", "it makes the Debian root filesystem"],
    ["arch-test", "arch-test", "mmdebstrap needs it for a foreign architecture"],
    ["cpio", "cpio", "it packs the initramfs"],
    ["depmod", "kmod", "it indexes the staged kernel modules"],
    ["openssl", "openssl", "it hashes the root password"],
  ] as const) {
    if (tool !== "openssl" || hashesPassword) await requireTool(tool, pkg, why);
  }
  if (process.getuid?.() !== 0) throw new KilnError("kiln rootfs must run as root", { hint: "mmdebstrap --mode=root and the cpio of a root with its owners and device nodes need root: run it with sudo", exitCode: 2 });
}

export async function buildRootfs(plan: RootfsPlan, log: StageLog, status: (text: string) => void, signal: AbortSignal | undefined): Promise<void> {
  const { board, outDir, opts, paths, profile, debArch, kernel, suites, net, ctx, rendered, authorizedKeys, shadowHash, kernelConfig, compression } = plan;
  const mmdebstrapVersion = await toolVersion("mmdebstrap");
  const hostKey = await ensureHostKey(outDir);
  if (!kernel) log.write(`# WARNING: no kernel build in ${outDir}: no modules staged, cgroup layout ${ctx.cgroup} assumed`);

  await rootfsPreflight(shadowHash !== undefined);
  await ensureBinfmt(debArch, log);

  const epoch = epochOf(kernel);
  await unmountUnder(paths.work, log);
  await rm(paths.work, { recursive: true, force: true });
  await mkdir(paths.work, { recursive: true });
  try {
    const debRoot = join(paths.work, "root");
    const debInput: DebootstrapInput = {
      profile,
      suites,
      debArch,
      target: debRoot,
      debCache: join(cacheDir(), "debs", `${profile.release}-${debArch}`),
      strictSuites: opts.strictSuites ?? false,
      epoch,
      log,
      signal,
    };
    const key = baseKey(debInput, suites, {
      mmdebstrap: mmdebstrapVersion,
      qemuUser: await toolVersion(`${qemuEntry(debArch)}-static`),
      code: await engineHash("rootfs/mmdebstrap.js", "rootfs/apt-sources.js", "rootfs/suites.js", "rootfs/base-cache.js"),
    });
    const base = plan.freshBase ? undefined : await restoreBase(key, debRoot, log, signal);
    let deb: DebootstrapResult & { base: { from: "mmdebstrap" | "cache"; key: string; made: string } };
    if (base) {
      const made = new Date(base.made).toISOString();
      // Nothing was downloaded or taken from the .deb cache this time.
      deb = { usedSuites: base.usedSuites, attempts: 0, downloaded: [], cached: 0, dropped: [], warnings: [], base: { from: "cache", key, made } };
      status(`Debian ${profile.release} ${debArch} base from kiln's cache (made ${made}; mmdebstrap not run)`);
      log.write(`# Debian base ${key} from ${baseDir()}: made ${made} by mmdebstrap with the same command line and versions, suites ${deb.usedSuites.join(", ")}`);
    } else {
      status(`mmdebstrap: Debian ${profile.release} ${debArch}, ${profile.packages.length} packages and what they need`);
      deb = { ...(await debootstrap(debInput)), base: { from: "mmdebstrap", key, made: new Date().toISOString() } };
      log.write(`# mmdebstrap: suites ${deb.usedSuites.join(", ")}; ${deb.downloaded.length} .debs downloaded, ${deb.cached} from the cache`);
      await saveBase(key, debRoot, deb, epochPinned(kernel), log, signal);
    }

    let root = debRoot;
    if (opts.baseRamdisk) {
      root = join(paths.work, "base");
      const kind = await unpackRamdisk(opts.baseRamdisk, root, paths.work, log);
      log.write(`# base ramdisk: ${kind}; kiln's root goes on top`);
      await run("cp", ["-a", `${debRoot}/.`, `${root}/`], { log, what: "adding the root on top of the base ramdisk" });
      await rm(debRoot, { recursive: true, force: true });
    }

    const packages = await installedPackages(root);
    const forbidden = profile.forbid.filter((f) => packages.some((p) => p.name === f));
    if (forbidden.length > 0) {
      throw new CheckFailedError(
        `profile ${profile.name} forbids ${forbidden.join(", ")}, but it was installed: pulled in by ${forbidden.map((f) => `${f} <- ${whoPulls(packages, f).join(", ") || "?"}`).join("; ")}`,
        "add an alternative that satisfies the dependency to packages (e.g. usr-is-merged instead of usrmerge)",
      );
    }

    let modules: StagedModules | undefined;
    if (kernel?.modulesDir && kernel.release && existsSync(kernel.modulesDir)) {
      modules = await stageModules(kernel.modulesDir, kernel.release, root, profile.modules === "all" ? "all" : board.rootfs.modules, log);
      if (modules.missing.length > 0) log.write(`# WARNING: modules neither built nor built in: ${modules.missing.join(", ")}`);
    }
    if (kernel?.release && existsSync(kernelConfig)) {
      // lxc-checkconfig reads /boot/config-<release> when the kernel has no /proc/config.gz.
      await mkdir(join(root, "boot"), { recursive: true });
      await copyFile(kernelConfig, join(root, "boot", `config-${kernel.release}`));
    }
    await applyFiles(root, await rendered(), ctx.cgroup, authorizedKeys, shadowHash);
    await installHostKey(root, hostKey.file);
    await ensureDeviceNodes(root, log);
    await scrub(root);

    const sizes = await treeSizes(root);
    const pkgSizes = await packageSizes(root, packages, sizes.fileSizes);
    const unmet = existsSync(kernelConfig)
      ? unmetNeeds(await readFile(kernelConfig, "utf8"), kernel?.version, kernelNeeds(compression, ctx.bridge))
      : [];
    for (const n of unmet) log.write(`# WARNING: the kernel lacks CONFIG_${n.option}: ${n.why}`);
    const warnings = [...deb.warnings, ...unmet.map((n) => `kernel lacks CONFIG_${n.option}=y: ${n.why}`), ...(modules?.missing.length ? [`kernel modules not found: ${modules.missing.join(", ")}`] : []), ...(kernel ? [] : ["built without a kernel build: no modules"])];
    const properties: [string, string][] = [
      ["kiln:board", board.name],
      ["kiln:profile", profile.name],
      ["kiln:suites:used", deb.usedSuites.join(" ")],
      ["kiln:suites:dropped", deb.dropped.map((d) => `${d.suite} (${d.reason})`).join("; ") || "none"],
      ["kiln:kernel:release", kernel?.release ?? "none"],
      ...warnings.map((w, i): [string, string] => [`kiln:warning:${i + 1}`, w]),
    ];
    // CycloneDX is a large library: loaded only when a root filesystem is actually built.
    const { makeSbom } = await import("./sbom.js");
    const sbomText = await makeSbom({
      board: board.name,
      profile: profile.name,
      packages,
      root,
      epoch,
      properties,
      tools: [
        { name: "kiln", version: KILN_VERSION },
        { name: "mmdebstrap", version: mmdebstrapVersion },
      ],
    });

    const cpio = join(paths.work, "ramdisk.cpio");
    const compressed = join(paths.work, "ramdisk.compressed");
    status(`packing the initramfs (cpio, ${compression})`);
    await packCpio(root, cpio, epoch, log);
    await compressFile(compression, cpio, compressed, log);
    await rm(root, { recursive: true, force: true });

    const cpioSize = (await stat(cpio)).size;
    const compSize = (await stat(compressed)).size;
    const kernelPart = await kernelPartSize(board, kernel);
    const minimal = await loadProfile("minimal").catch(() => undefined);
    const report: SizeReport = {
      board: board.name,
      profile: profile.name,
      unpacked: sizes.total,
      files: sizes.files,
      cpio: cpioSize,
      compressed: compSize,
      compression,
      packages: pkgSizes,
      dirs: sizes.dirs,
      budget: {
        ram: ramBudget(board.rootfs.memory, sizes.total),
        flash: flashBudget(board.flash?.maxImageSize, compSize, kernelPart, (parts) => multiImageSize(board.image?.dtbPart ? [...parts, dtbEstimate(outDir)] : parts)),
      },
      cut: minimal && minimal.name !== profile.name ? cutSizes(pkgSizes, cutClosure(packages, profile.packages.filter((p) => !minimal.packages.includes(p)))) : [],
    };
    const reportText = formatReport(report);
    await mkdir(paths.dir, { recursive: true });
    await writeFileAtomic(paths.report, reportText);
    await writeFileAtomic(paths.reportJson, `${JSON.stringify(report, null, 2)}\n`);
    log.write(reportText);
    for (const b of [report.budget.ram, report.budget.flash]) {
      if (!b.ok) {
        // The old ramdisk (if any) is removed too: it does not match these inputs.
        await Promise.all([paths.ramdisk, paths.compressed, paths.sbom, paths.manifest].map((f) => rm(f, { force: true })));
        throw new CheckFailedError(
          `the ${profile.name} root does not fit board ${board.name}: ${b.note}\n` +
            `largest packages: ${pkgSizes.slice(0, 5).map((p) => `${p.name} ${mib(p.bytes)}`).join(", ")}\nfull report: ${paths.report}`,
          profile.name === "minimal" ? "remove packages from a profile of your own (--profile FILE)" : `try --profile minimal (${report.cut.map((c) => c.name).join(", ") || "fewer packages"}), or a profile of your own`,
        );
      }
    }

    const manifest = {
      board: board.name,
      profile: profile.name,
      release: profile.release,
      arch: debArch,
      warnings,
      suites: { used: deb.usedSuites, dropped: deb.dropped, attempts: deb.attempts },
      debs: { downloaded: deb.downloaded.length, fromCache: deb.cached },
      // from "cache": mmdebstrap did not run; its output of an earlier build with the same command line (made then) was used.
      debianBase: deb.base,
      kernel: { release: kernel?.release ?? null, version: kernel?.version ?? null, cgroup: ctx.cgroup, modules: modules ? { staged: modules.files, builtin: modules.builtin, missing: modules.missing } : null },
      network: { mode: net.net, dhcp: !net.address, hostInterface: ctx.hostIface },
      rootPassword: shadowHash ? "set (hashed)" : "none (console shell, SSH keys only)",
      authorizedKeys: authorizedKeys.split("\n").filter(Boolean).length,
      sshHostKey: hostKey.fingerprint,
      baseRamdisk: opts.baseRamdisk ?? null,
      sourceDateEpoch: epoch,
      sizes: { unpacked: sizes.total, cpio: cpioSize, compressed: compSize, compression, command: compressCommandLine(compression) },
      files: {} as Record<string, { sha256: string; size: number }>,
      tools: { mmdebstrap: mmdebstrapVersion },
    };
    await rename(cpio, paths.ramdisk);
    await rename(compressed, paths.compressed);
    await writeFileAtomic(paths.sbom, sbomText);
    for (const f of [paths.ramdisk, paths.compressed, paths.sbom]) manifest.files[f] = { sha256: await sha256File(f), size: (await stat(f)).size };
    await writeFileAtomic(paths.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
    for (const w of warnings) log.write(`# ${w}`);
  } finally {
    await unmountUnder(paths.work, log);
    await rm(paths.work, { recursive: true, force: true });
  }
}

function cutSizes(sizes: readonly { name: string; bytes: number }[], names: readonly string[]): { name: string; bytes: number }[] {
  return sizes.filter((s) => names.includes(s.name));
}

/** Whether the build's timestamp is fixed (a kernel tree's date, or SOURCE_DATE_EPOCH) rather than now. */
function epochPinned(kernel: KernelInfo | undefined): boolean {
  return /^\d+$/.test(process.env.SOURCE_DATE_EPOCH ?? "") || kernel?.epoch !== undefined;
}

function epochOf(kernel: KernelInfo | undefined): number {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env && /^\d+$/.test(env)) return Number(env);
  return kernel?.epoch ?? Math.floor(Date.now() / 1000);
}

/**
 * An interrupted mmdebstrap can leave proc, sys and dev mounted inside the
 * work root; unmount them (deepest first) before the directory is removed.
 */
export async function unmountUnder(dir: string, log: StageLog): Promise<void> {
  let mounts: string[];
  try {
    mounts = (await readFile("/proc/mounts", "utf8"))
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .map((m) => m.replace(/\\040/g, " "))
      .filter((m) => m === dir || m.startsWith(`${dir}/`));
  } catch {
    return;
  }
  for (const m of mounts.sort((a, b) => b.length - a.length)) {
    log.write(`# unmounting ${m}, left by an interrupted build`);
    await run("umount", ["-l", m], { log, what: `umount ${m}` }).catch(() => undefined);
  }
}

/**
 * kiln's own flashcfg, on every kiln image: the vendor's cannot unlock flash on a
 * mainline kernel. It finds the kernel-image partition by the board's name for it.
 */
export async function kilnTools(board: Board): Promise<RenderedFile[]> {
  const script = await readFile(join(projectRoot, "src", "flashcfg", "flashcfg.sh"), "utf8");
  const files: RenderedFile[] = [{ path: "usr/sbin/flashcfg", content: script, mode: 0o755 }];
  if (board.flash) {
    const clean = (name: string): string => name.replace(/["\\$`|]/g, "");
    const names = imagePartitionNames(board);
    // One root filesystem for every flash layout of the board: flashcfg picks the name /proc/mtd shows.
    const list = names.length > 1 ? `PARTITIONS="${names.map(clean).join("|")}"\n` : "";
    files.push({ path: "etc/kiln/flash.conf", content: `PARTITION="${clean(board.flash.partition)}"\n${list}`, mode: 0o644 });
  }
  return files;
}

async function previousWarnings(manifest: string): Promise<string[]> {
  try {
    return ((JSON.parse(await readFile(manifest, "utf8")) as { warnings?: string[] }).warnings ?? []).map(String);
  } catch {
    return [];
  }
}

async function applyFiles(root: string, files: readonly RenderedFile[], cgroup: "v1" | "v2", authorizedKeys: string, shadowHash: string | undefined): Promise<void> {
  for (const f of files) {
    const dest = join(root, f.path);
    await mkdir(dirname(dest), { recursive: true });
    await rm(dest, { force: true });
    await writeFile(dest, f.content, { mode: f.mode });
    await chmod(dest, f.mode);
  }
  if (cgroup === "v1") await mkdir(join(root, "cgroup"), { recursive: true });
  if (authorizedKeys) {
    const ssh = join(root, "root", ".ssh");
    await mkdir(ssh, { recursive: true, mode: 0o700 });
    await chmod(ssh, 0o700);
    await writeFile(join(ssh, "authorized_keys"), authorizedKeys, { mode: 0o600 });
    await chown(join(ssh, "authorized_keys"), 0, 0);
  }
  if (shadowHash) {
    const shadow = join(root, "etc", "shadow");
    const text = await readFile(shadow, "utf8");
    if (!/^root:/m.test(text)) throw new KilnError("the root has no root entry in /etc/shadow");
    await writeFile(shadow, text.replace(/^root:[^:]*:/m, `root:${shadowHash}:`));
  }
}

async function installHostKey(root: string, keyFile: string): Promise<void> {
  const dir = join(root, "etc", "dropbear");
  await mkdir(dir, { recursive: true });
  const dest = join(dir, "dropbear_ed25519_host_key");
  await copyFile(keyFile, dest);
  await chmod(dest, 0o600);
}

/** Files that differ from build to build without meaning anything on the board. */
async function scrub(root: string): Promise<void> {
  for (const p of ["var/log/dpkg.log", "var/log/alternatives.log", "var/log/bootstrap.log", "var/log/apt", "var/cache/ldconfig/aux-cache", "var/cache/debconf/config.dat-old", "var/cache/debconf/templates.dat-old", "var/lib/dpkg/status-old", "var/lib/dpkg/diversions-old"]) {
    await rm(join(root, p), { recursive: true, force: true });
  }
}

async function kernelPartSize(board: Board, kernel: KernelInfo | undefined): Promise<number | undefined> {
  if (!kernel?.zImage || !existsSync(kernel.zImage)) return undefined;
  let data = await readFile(kernel.zImage);
  if (board.kernel.appendDtb && kernel.dtb && existsSync(kernel.dtb)) data = Buffer.concat([data, await readFile(kernel.dtb)]);
  return board.image?.kernelCompression === "gzip" ? gzipSync(data, { level: 9 }).length : data.length;
}

/** The image stage's dump of QEMU's DTB when there is one, else its usual size (1 MiB, mostly padding). */
function dtbEstimate(outDir: string): number {
  const f = join(outDir, "image", "qemu.dtb");
  return existsSync(f) ? statSync(f).size : 1024 * 1024;
}

export type { DebootstrapResult };
