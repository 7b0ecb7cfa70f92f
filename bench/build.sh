#!/bin/bash
# Build-time figures for `kiln build` on this machine (not a test: it prints numbers).
#   bench/build.sh [board]      default board: qemu-virt
# 1. cold build with kiln (ccache and the stage cache unused, fresh output directory)
# 2. the same make commands run by hand on the same config (kiln's overhead)
# 3. no-op rebuild; 4. ramdisk-only rebuild; 5. fragment-change rebuild
set -euo pipefail
cd "$(dirname "$0")/.."
BOARD=${1:-qemu-virt}
WORK=$(mktemp -d /tmp/kiln-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
KILN="node bin/kiln.js"
export CCACHE_DISABLE=1
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

t0=$(now); $KILN build --board "$BOARD" --out "$WORK/kiln" --no-cache --json > "$WORK/cold.json"; t1=$(now)
cold=$(secs "$t0" "$t1")

src=$(sed -n 's/^\$ make -C \([^ ]*\) O=.* -j.*/\1/p' "$WORK/kiln/logs/kernel.log" | head -1)
targets=$(sed -n 's/^\$ make -C [^ ]* O=[^ ]* .* -j[0-9]* \(.*\)$/\1/p' "$WORK/kiln/logs/kernel.log" | head -1)
mkdir -p "$WORK/hand"; cp "$WORK/kiln/kernel/.config" "$WORK/hand/.config"
t0=$(now)
make -s -C "$src" O="$WORK/hand" ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- olddefconfig
make -s -C "$src" O="$WORK/hand" ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- -j"$(nproc)" $targets
t1=$(now)
hand=$(secs "$t0" "$t1")

t0=$(now); $KILN build --board "$BOARD" --out "$WORK/kiln" --json > /dev/null; t1=$(now)
noop=$(secs "$t0" "$t1")

mkdir -p "$WORK/rd/etc"; echo bench > "$WORK/rd/etc/hostname"
(cd "$WORK/rd" && find . | cpio --quiet -o -H newc > "$WORK/rd.cpio")
t0=$(now); $KILN build --board "$BOARD" --out "$WORK/kiln" --ramdisk "$WORK/rd.cpio" --json > /dev/null; t1=$(now)
ramdisk=$(secs "$t0" "$t1")

echo "CONFIG_DUMMY=y" > "$WORK/extra.config"
t0=$(now); $KILN build --board "$BOARD" --out "$WORK/kiln" --fragment "$WORK/extra.config" --allow-missing --json > /dev/null; t1=$(now)
fragment=$(secs "$t0" "$t1")

printf 'board %s, %s cores, ccache off\n' "$BOARD" "$(nproc)"
printf '  cold kiln build        %8.1f s\n' "$cold"
printf '  same make by hand      %8.1f s   (kiln overhead %+.1f%%)\n' "$hand" "$(echo "($cold - $hand) * 100 / $hand" | bc -l)"
printf '  no-op rebuild          %8.2f s\n' "$noop"
printf '  ramdisk-only rebuild   %8.2f s\n' "$ramdisk"
printf '  fragment-change rebuild%8.1f s\n' "$fragment"
