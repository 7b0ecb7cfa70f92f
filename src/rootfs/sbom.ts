/**
 * The package manifest as a CycloneDX SBOM: every installed package with its
 * version, purl and the licences its machine-readable copyright file names.
 * Suites that were left out are recorded as loud properties, not hidden.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Enums, Models, Serialize, Spec, SPDX } from "@cyclonedx/cyclonedx-library";
import { copyrightLicenses, type InstalledPackage } from "./dpkg.js";

/** Debian's short licence names (DEP-5) that differ from SPDX identifiers. */
const DEBIAN_TO_SPDX: Record<string, string> = {
  "GPL-1+": "GPL-1.0-or-later",
  "GPL-2": "GPL-2.0-only",
  "GPL-2+": "GPL-2.0-or-later",
  "GPL-3": "GPL-3.0-only",
  "GPL-3+": "GPL-3.0-or-later",
  "LGPL-2": "LGPL-2.0-only",
  "LGPL-2+": "LGPL-2.0-or-later",
  "LGPL-2.1": "LGPL-2.1-only",
  "LGPL-2.1+": "LGPL-2.1-or-later",
  "LGPL-3": "LGPL-3.0-only",
  "LGPL-3+": "LGPL-3.0-or-later",
  "AGPL-3+": "AGPL-3.0-or-later",
  Expat: "MIT",
  "BSD-2-clause": "BSD-2-Clause",
  "BSD-3-clause": "BSD-3-Clause",
  "BSD-4-clause": "BSD-4-Clause",
  "Apache-2.0": "Apache-2.0",
  "Artistic": "Artistic-1.0-Perl",
  "MPL-2.0": "MPL-2.0",
  "ISC": "ISC",
  "Zlib": "Zlib",
  zlib: "Zlib",
  "public-domain": "",
};

export function toSpdx(name: string): string | undefined {
  const mapped = DEBIAN_TO_SPDX[name];
  if (mapped === "") return undefined;
  const id = SPDX.fixupSpdxId(mapped ?? name);
  return id && SPDX.isSupportedSpdxId(id) ? id : undefined;
}

export function purl(p: InstalledPackage): string {
  return `pkg:deb/debian/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?arch=${encodeURIComponent(p.arch)}`;
}

export interface SbomInput {
  board: string;
  profile: string;
  packages: InstalledPackage[];
  root: string;
  epoch: number;
  properties: [string, string][];
  tools: { name: string; version: string }[];
}

/** Licences of each package, read from /usr/share/doc/<pkg>/copyright in the staged root. */
export async function packageLicenses(root: string, pkgs: readonly InstalledPackage[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const p of pkgs) {
    const f = join(root, "usr", "share", "doc", p.name, "copyright");
    out.set(p.name, existsSync(f) ? copyrightLicenses(await readFile(f, "utf8")) : []);
  }
  return out;
}

export async function makeSbom(input: SbomInput): Promise<string> {
  const licences = await packageLicenses(input.root, input.packages);
  const bom = new Models.Bom();
  const appliance = new Models.Component(Enums.ComponentType.OperatingSystem, `kiln-rootfs-${input.board}`, { version: input.profile });
  for (const [k, v] of input.properties) appliance.properties.add(new Models.Property(k, v));
  bom.metadata = new Models.Metadata({ timestamp: new Date(input.epoch * 1000), component: appliance });
  for (const t of input.tools) bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, t.name, { version: t.version }));
  for (const [k, v] of input.properties) bom.metadata.properties.add(new Models.Property(k, v));
  for (const p of input.packages) {
    const c = new Models.Component(Enums.ComponentType.Library, p.name, { version: p.version, purl: purl(p), bomRef: purl(p) });
    for (const l of licences.get(p.name) ?? []) {
      const id = toSpdx(l);
      c.licenses.add(id ? new Models.SpdxLicense(id) : new Models.NamedLicense(l));
    }
    c.properties.add(new Models.Property("debian:source", p.source));
    c.properties.add(new Models.Property("debian:installed-size-kib", String(p.installedSizeKiB)));
    if ((licences.get(p.name) ?? []).length === 0) c.properties.add(new Models.Property("kiln:license", "unknown: no machine-readable copyright file"));
    bom.components.add(c);
  }
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot5));
  return `${serializer.serialize(bom, { sortLists: true, space: 2 })}\n`;
}
