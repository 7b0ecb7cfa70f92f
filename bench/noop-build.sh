#!/bin/bash
# Wall time of a `kiln build` with nothing to do (goal: under 0.5 s), on an
# output directory that is already built.
#   bench/noop-build.sh OUT_DIR [board] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/noop-build.sh OUT_DIR [board] [runs]}; board=${2:-qemu-virt}; runs=${3:-5}
extra=()
# The tests' builds authorise kiln's own key (test/support/e2e-key.ts): the same here, or the root filesystem would rebuild.
key=${KILN_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/kiln}/id_ed25519.pub
[ -f "$out/rootfs/manifest.json" ] && [ -f "$key" ] && extra=(--authorized-key "$key")
for i in $(seq "$runs"); do
  start=$(date +%s.%N)
  node bin/kiln.js build --board "$board" --out "$out" "${extra[@]}" --json > /tmp/kiln-noop.json
  end=$(date +%s.%N)
  printf 'run %s: %.2f s, stages: %s\n' "$i" "$(echo "$end - $start" | bc)" "$(node -e 'const j=require("/tmp/kiln-noop.json");console.log(j.stages.map(s=>s.stage+"="+s.how).join(" "))')"
done
rm -f /tmp/kiln-noop.json
