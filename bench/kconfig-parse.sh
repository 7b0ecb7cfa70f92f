#!/bin/bash
# How long kiln's Kconfig reader takes on the real 6.1 tree (goal: under 3 s).
#   bench/kconfig-parse.sh [runs]     default 3 runs; needs `make build` and the unpacked tree
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
node --input-type=module -e '
import { prepareKernelSource } from "./dist/kernel/source.js";
import { readKconfigTree } from "./dist/kconfig/tree.js";
import { StageLog } from "./dist/exec.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
const src = await prepareKernelSource("/usr/src/linux-source-6.1.tar.xz", { arch: "arm", log: new StageLog(join(tmpdir(), "kiln-bench-kconfig.log")), debianPackage: "linux-source-6.1" });
for (let i = 0; i < Number(process.argv[1]); i++) {
  const t0 = performance.now();
  const tree = await readKconfigTree(src.dir, { ARCH: "arm", SRCARCH: "arm" });
  console.log(`run ${i + 1}: ${((performance.now() - t0) / 1000).toFixed(2)} s, ${tree.symbols.size} symbols (Linux ${src.version})`);
}
' "$runs"
