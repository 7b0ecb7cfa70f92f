#!/bin/bash
# kiln flash --no-try --no-check against the same work done by hand (scp, ssh
# flashcfg -y -f, ssh reboot, poll until a new boot answers), alternating, on
# the emulated board; prints each run, kiln's slowest steps and the ratio.
#   bench/flash-vs-manual.sh [image] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=$(realpath "${1:-out/qemu-virt/uImage.qemu-virt}")
ROUNDS=${2:-2}
OUT=$(dirname "$IMAGE")
KEY=${KILN_BENCH_KEY:-$HOME/.local/state/kiln/id_ed25519}
export KILN_STATE_DIR=$(mktemp -d /tmp/kiln-bench-state-XXXXXX)
trap 'node bin/kiln.js qemu stop --instance bench-fvm >/dev/null 2>&1 || true; rm -rf "$KILN_STATE_DIR"' EXIT
port=$(node bin/kiln.js qemu --board qemu-virt --image "$IMAGE" --instance bench-fvm --timeout 600 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).ssh.port))')
SSH=(-i "$KEY" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5)
on_board() { ssh "${SSH[@]}" -p "$port" root@127.0.0.1 "$@"; }

by_hand() {
  local boot new
  boot=$(on_board cat /proc/sys/kernel/random/boot_id)
  scp -q "${SSH[@]}" -P "$port" "$IMAGE" root@127.0.0.1:/tmp/by-hand.uImage
  on_board flashcfg -y -f /tmp/by-hand.uImage >/dev/null
  on_board '(sleep 1; reboot) >/dev/null 2>&1 </dev/null &'
  until new=$(on_board cat /proc/sys/kernel/random/boot_id 2>/dev/null) && [ "$new" != "$boot" ]; do sleep 1; done
}

with_kiln() {
  node bin/kiln.js flash --board qemu-virt --host "127.0.0.1:$port" --identity "$KEY" --accept-new-host-key --image "$IMAGE" --out "$OUT" \
    --no-try --no-check --json > "$KILN_STATE_DIR/flash.json"
}

now() { date +%s.%N; }
total_hand=0
total_kiln=0
for round in $(seq "$ROUNDS"); do
  t0=$(now); by_hand; t1=$(now)
  with_kiln; t2=$(now)
  hand=$(echo "$t1 - $t0" | bc); kiln=$(echo "$t2 - $t1" | bc)
  total_hand=$(echo "$total_hand + $hand" | bc); total_kiln=$(echo "$total_kiln + $kiln" | bc)
  printf 'round %d: by hand %.1f s, kiln flash %.1f s (%.2fx)\n' "$round" "$hand" "$kiln" "$(echo "$kiln / $hand" | bc -l)"
  node -e 'const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results[0].timings ?? [];
    for (const s of [...t].sort((a, b) => b.seconds - a.seconds).slice(0, 5)) console.log(`  ${s.seconds.toFixed(1).padStart(6)} s  ${s.step}`)' "$KILN_STATE_DIR/flash.json"
done
printf 'kiln flash / by hand over %d rounds: %.2fx (goal <= 1.2)\n' "$ROUNDS" "$(echo "$total_kiln / $total_hand" | bc -l)"
