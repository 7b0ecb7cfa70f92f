#!/bin/bash
# An image's size by part, against its flash partition, and the root filesystem
# it carries against the board's RAM (from the build's manifests).
#   bench/image-parts.sh [out_dir]      (default: out/openblocks-ax3)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/openblocks-ax3}
node -e '
const fs = require("fs");
const out = process.argv[1];
const m = JSON.parse(fs.readFileSync(`${out}/manifest.json`, "utf8"));
const mib = (n) => (n / 1048576).toFixed(1) + " MiB";
console.log(`${m.image.file}: ${m.image.size} bytes (${mib(m.image.size)}), flash limit ${m.image.limit === null ? "unknown until a unit is probed" : mib(m.image.limit)}`);
for (const p of m.parts) console.log(`  ${p.role.padEnd(8)} ${String(p.size).padStart(10)} bytes  ${mib(p.size).padStart(9)}`);
if (m.qemuImage) console.log(`QEMU twin ${m.qemuImage.file}: ${m.qemuImage.size} bytes (${mib(m.qemuImage.size)}), same zImage and ramdisk, QEMU DTB ${m.qemuImage.parts[2].size} bytes`);
const r = `${out}/rootfs/size-report.json`;
if (fs.existsSync(r)) {
  const s = JSON.parse(fs.readFileSync(r, "utf8"));
  console.log(`root: ${mib(s.unpacked)} unpacked in ${s.files} files, ${s.compression} ${mib(s.compressed)}`);
  console.log(`RAM: ${s.budget.ram.note}`);
}
' "$OUT"
