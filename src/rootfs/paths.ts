/** Where the rootfs stage puts its outputs: light enough to load on every build. */
import { join } from "node:path";
import { hostKeyPath } from "./host-key.js";
import { type Compression, compressionExt } from "./pack.js";

export interface RootfsPaths {
  dir: string;
  ramdisk: string;
  compressed: string;
  sbom: string;
  report: string;
  reportJson: string;
  manifest: string;
  work: string;
}

export function rootfsPaths(outDir: string, compression: Compression): RootfsPaths {
  const dir = join(outDir, "rootfs");
  const ext = compressionExt(compression);
  return {
    dir,
    ramdisk: join(dir, "ramdisk.cpio"),
    compressed: join(dir, ext ? `ramdisk.cpio.${ext}` : "ramdisk.cpio.copy"),
    sbom: join(dir, "sbom.cdx.json"),
    report: join(dir, "size-report.txt"),
    reportJson: join(dir, "size-report.json"),
    manifest: join(dir, "manifest.json"),
    work: join(dir, ".work"),
  };
}

export function rootfsOutputs(plan: { paths: RootfsPaths; outDir: string }): string[] {
  const p = plan.paths;
  return [p.ramdisk, p.compressed, p.sbom, p.report, p.reportJson, p.manifest, hostKeyPath(plan.outDir)];
}
