#!/bin/bash
# Boot-to-SSH time of the qemu-virt board through U-Boot from flash (goal: < 60 s wall).
#   bench/qemu-boot.sh [image] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${1:-out/qemu-virt/uImage.qemu-virt}
RUNS=${2:-3}
export KILN_STATE_DIR=$(mktemp -d /tmp/kiln-bench-state-XXXXXX)
trap 'node bin/kiln.js qemu stop --instance bench >/dev/null 2>&1 || true; rm -rf "$KILN_STATE_DIR"' EXIT
for i in $(seq "$RUNS"); do
  t0=$(date +%s.%N)
  node bin/kiln.js qemu --board qemu-virt --image "$IMAGE" --instance bench --json > "$KILN_STATE_DIR/run.json"
  t1=$(date +%s.%N)
  node bin/kiln.js qemu stop --instance bench > /dev/null
  printf 'run %d: boot to SSH %.1f s wall (QEMU start to SSH banner %.1f s)\n' "$i" "$(echo "$t1 - $t0" | bc)" \
    "$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).bootSeconds)' "$KILN_STATE_DIR/run.json")"
done
