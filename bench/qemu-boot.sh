#!/bin/bash
# Boot-to-SSH time of an emulated board through U-Boot from flash (goal: < 60 s
# wall for qemu-virt). For the AX3, the QEMU twin of its image: its own zImage
# and lzma ramdisk, 1 GiB, the seven-partition flash.
#   bench/qemu-boot.sh [board] [image] [runs]
#   bench/qemu-boot.sh openblocks-ax3 out/openblocks-ax3/uImage.initrd.obsax3.qemu
set -euo pipefail
cd "$(dirname "$0")/.."
BOARD=${1:-qemu-virt}
case "$BOARD" in
  openblocks-ax3) default=out/openblocks-ax3/uImage.initrd.obsax3.qemu ;;
  *) default=out/$BOARD/uImage.$BOARD ;;
esac
IMAGE=${2:-$default}
RUNS=${3:-3}
export KILN_STATE_DIR=$(mktemp -d /tmp/kiln-bench-state-XXXXXX)
trap 'node bin/kiln.js qemu stop --instance bench >/dev/null 2>&1 || true; rm -rf "$KILN_STATE_DIR"' EXIT
for i in $(seq "$RUNS"); do
  t0=$(date +%s.%N)
  node bin/kiln.js qemu --board "$BOARD" --image "$IMAGE" --instance bench --timeout 900 --json > "$KILN_STATE_DIR/run.json"
  t1=$(date +%s.%N)
  # "root in a tmpfs in N s" (before 7a9292e: "(copied in N s)", the whole root copied)
  copy=$(sed -n 's/.*kiln: root in a tmpfs \(in\|(copied in\) \([0-9.]*\) s.*/\2/p' "$KILN_STATE_DIR/qemu/bench/console.log" | tail -1)
  node bin/kiln.js qemu stop --instance bench > /dev/null
  printf '%s run %d: boot to SSH %.1f s wall (QEMU start to SSH banner %.1f s; root moved onto the tmpfs in %s s)\n' "$BOARD" "$i" "$(echo "$t1 - $t0" | bc)" \
    "$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).bootSeconds)' "$KILN_STATE_DIR/run.json")" "${copy:-?}"
done
