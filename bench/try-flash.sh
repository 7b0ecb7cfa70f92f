#!/bin/bash
# A tried flash (kexec trial, check, flash from the trial, reboot, check)
# against a direct flash (upload, flashcfg, reboot, check) of the same image,
# on the emulated board.
#   bench/try-flash.sh [image] [out_dir]
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${1:-out/qemu-virt/uImage.qemu-virt}
OUT=${2:-$(dirname "$IMAGE")}
KEY=${KILN_BENCH_KEY:-$HOME/.local/state/kiln/id_ed25519}
export KILN_STATE_DIR=$(mktemp -d /tmp/kiln-bench-state-XXXXXX)
trap 'node bin/kiln.js qemu stop --instance bench >/dev/null 2>&1 || true; rm -rf "$KILN_STATE_DIR"' EXIT
port=$(node bin/kiln.js qemu --board qemu-virt --image "$IMAGE" --instance bench --timeout 600 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).ssh.port))')
for mode in --no-try --require-try; do
  t0=$(date +%s.%N)
  node bin/kiln.js flash --board qemu-virt --host "127.0.0.1:$port" --identity "$KEY" --accept-new-host-key --image "$IMAGE" --out "$OUT" "$mode" --json > "$KILN_STATE_DIR/flash.json"
  t1=$(date +%s.%N)
  printf '%-14s %.1f s wall\n' "$([ "$mode" = --no-try ] && echo "direct flash" || echo "tried flash")" "$(echo "$t1 - $t0" | bc)"
  node -e 'for (const t of JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).results[0].timings) console.log(`  ${t.seconds.toFixed(1).padStart(6)} s  ${t.step}`)' "$KILN_STATE_DIR/flash.json"
done
