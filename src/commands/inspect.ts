import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { CheckFailedError, InputError } from "../errors.js";
import { capture } from "../exec.js";
import {
  describeKind,
  describePacking,
  formatUImage,
  parseMkimageListing,
  parseUImage,
  UImageError,
  verifyUImage,
  type UImageHeader,
} from "../image/uimage.js";

export interface MkimageCrossCheck {
  /** false when mkimage is not installed. */
  ran: boolean;
  /** mkimage -l printed a legacy-image listing for the file. */
  recognised: boolean;
  disagreements: string[];
  output?: string;
}

const COMPARED = ["Image Name", "Image Type", "Data Size", "Load Address", "Entry Point"] as const;

/**
 * A second opinion from the tool U-Boot ships. `mkimage -l` exits 0 even on a
 * broken image (it falls back to guessing other formats, e.g. "GP Header"), so
 * its verdict is read from what it prints, not from its exit code.
 */
export async function crossCheckWithMkimage(path: string, h: UImageHeader, knownBroken: boolean): Promise<MkimageCrossCheck> {
  const r = await capture("mkimage", ["-l", path], { timeoutMs: 60_000 });
  if (r.missing) return { ran: false, recognised: false, disagreements: [] };
  const output = `${r.stdout}${r.stderr ? `\n${r.stderr}` : ""}`.trim();
  const theirs = parseMkimageListing(r.stdout);
  if (!theirs.has("Image Type")) {
    // A damaged header or data CRC is exactly why mkimage would not list it.
    const disagreements = knownBroken
      ? []
      : [`mkimage -l does not accept ${path} as a legacy uImage although kiln finds nothing wrong (it printed: ${output.split("\n")[0] ?? ""})`];
    return { ran: true, recognised: false, disagreements, output };
  }
  const ours = parseMkimageListing(formatUImage(h));
  const keys = [...COMPARED, ...[...new Set([...ours.keys(), ...theirs.keys()])].filter((k) => /^Image \d+$/.test(k))];
  const disagreements: string[] = [];
  for (const key of keys) {
    const a = ours.get(key);
    const b = theirs.get(key);
    if (a !== b) disagreements.push(`mkimage -l disagrees on ${key}: kiln reads "${a ?? "(nothing)"}", mkimage "${b ?? "(nothing)"}"`);
  }
  return { ran: true, recognised: true, disagreements, output };
}

export async function inspectCommand(opts: { file: string; json: boolean }): Promise<void> {
  const path = resolve(opts.file);
  const buf = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(
      err.code === "EISDIR" ? `${path} is a directory, not an image file` : `cannot read ${path}: ${err.code ?? err.message}`,
      "pass the path of a uImage, e.g. out/<board>/uImage.initrd.obsax3",
    );
  });
  let h: UImageHeader;
  try {
    h = parseUImage(buf);
  } catch (err) {
    if (!(err instanceof UImageError)) throw err;
    const hint =
      err.kind === undefined || err.kind === "unknown"
        ? "kiln inspect reads legacy U-Boot images (made by mkimage -T kernel/multi/...)"
        : err.kind === "dtb"
          ? "if it is a FIT image, list it with `mkimage -l` or `dumpimage -l`; kiln inspect reads legacy uImages only"
          : `this file is ${describeKind(err.kind)}; wrap it with mkimage (or kiln image) before inspecting it`;
    throw new InputError(`${path}: ${err.message}`, hint);
  }

  const problems = verifyUImage(h);
  const mkimage = await crossCheckWithMkimage(path, h, problems.length > 0);
  problems.push(...mkimage.disagreements);
  const packing = h.truncated ? undefined : describePacking(buf, h);

  if (opts.json) {
    const report = {
      file: path,
      ...h,
      time: h.time.toISOString(),
      timestamp: Math.floor(h.time.getTime() / 1000),
      packing: packing ?? null,
      problems,
      mkimage: { ran: mkimage.ran, recognised: mkimage.recognised, disagreements: mkimage.disagreements },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const verdict = !mkimage.ran
      ? "not installed, cross-check skipped"
      : !mkimage.recognised
        ? "does not accept the file as a legacy uImage"
        : mkimage.disagreements.length === 0
          ? "agrees"
          : "DISAGREES";
    const lines = [formatUImage(h), ...(packing ? [`Packing:      ${packing.text}`] : []), `mkimage -l:   ${verdict}`];
    for (const d of mkimage.disagreements) lines.push(`   ${d}`);
    process.stdout.write(`${lines.join("\n")}\n`);
  }

  if (problems.length > 0) {
    throw new CheckFailedError(
      `${path}: ${problems.length} problem(s) with the image: ${problems[0] ?? ""}`,
      h.truncated ? "the file was cut off: copy or download it again" : "rebuild the image (kiln image) or fetch a fresh copy",
    );
  }
}
