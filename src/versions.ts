/** Dotted versions (kernels, tools), compared numerically: one place for every stage and check. */

/** "6.1.192" -> [6, 1, 192]; "6.1.0-21-armmp" -> [6, 1, 0, 21, 0]: a part that is not a number counts as 0. */
export function versionParts(v: string): number[] {
  return v.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
}

/** Negative, zero or positive as a is older than, the same as, or newer than b; missing parts are 0 ("5.8" = "5.8.0"). */
export function compareVersions(a: string, b: string): number {
  const pa = versionParts(a);
  const pb = versionParts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** "6.1.192" >= "5.8". */
export function versionAtLeast(version: string, min: string): boolean {
  return compareVersions(version, min) >= 0;
}
