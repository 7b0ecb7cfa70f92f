#!/bin/bash
# The README's main job as a new user runs it, twice: `make main` in a fresh
# clone, then in a second fresh clone on the same machine, which must take the
# kernel and the root filesystem from kiln's stage cache (~/.cache/kiln/stages).
#   bench/main-clones.sh        prints both wall times and where each stage came from
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/kiln-bench-clones-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for n in 1 2; do
  git clone -q "$repo" "$WORK/clone$n"
  start=$(date +%s.%N)
  (cd "$WORK/clone$n" && make main) > "$WORK/main$n.log" 2>&1 || { tail -30 "$WORK/main$n.log"; exit 1; }
  end=$(date +%s.%N)
  printf 'clone %s: make main %6.1f s\n' "$n" "$(echo "$end - $start" | bc)"
  sed -n '/^stages:/,/^$/p' "$WORK/main$n.log" | sed 's/^/  /'
  grep -E '^(boot|check):' "$WORK/main$n.log" | sed 's/^/  /'
done
