#!/bin/sh
# kiln's flashcfg: writes a U-Boot image into the board's kernel-image flash
# partition, accepting the vendor's invocation (flashcfg -y -f FILE).
# Before anything is erased the file must be a uImage with a good header and data
# CRC that fits the partition; afterwards the partition is read back and compared.
# Exit codes: 0 written and verified, 1 bad file (flash untouched),
# 2 usage, 3 partition missing or too small (flash untouched), 4 write or verify failed,
# 5 another flashcfg is running on this board (flash untouched by this one).
# One flashcfg at a time (an exclusive lock); the running one's progress and outcome
# are in a status file, so a sender whose connection dropped can read how it ended.
# The partition name comes from /etc/kiln/flash.conf (PARTITION=...), set from board data.
# A board with several flash layouts lists each layout's name (PARTITIONS="a|b"): the
# same root filesystem then serves every layout, and the name /proc/mtd shows wins.
PARTITION="OpenBlocks A series Kernel Image"
CONF=${FLASHCFG_CONF:-/etc/kiln/flash.conf}
# shellcheck disable=SC1090
[ -r "$CONF" ] && . "$CONF"
LOG=${FLASHCFG_LOG:-/var/log/flashcfg.log}
LOCK=${FLASHCFG_LOCK:-/run/kiln-flashcfg.lock}
STATUS=${FLASHCFG_STATUS:-/run/kiln-flashcfg.status}
LOCKED=0
# Test seams only: where /proc/mtd and the device nodes are.
PROC_MTD=${FLASHCFG_PROC_MTD:-/proc/mtd}
DEV_DIR=${FLASHCFG_DEV_DIR:-/dev}
if [ -n "${PARTITIONS:-}" ]; then
  saved_ifs=$IFS
  IFS='|'
  # No globbing of the names; grep -F: names are text, not patterns.
  set -f
  for name in $PARTITIONS; do
    if grep -qF "\"$name\"" "$PROC_MTD" 2>/dev/null; then PARTITION=$name; break; fi
  done
  set +f
  IFS=$saved_ifs
fi
FILE=""
YES=0

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') $*" >> "$LOG" 2>/dev/null; }
# The status file is only ever written by the holder of the lock: a refused second
# run must not hide the outcome of the one that is writing.
status() { [ "$LOCKED" = 1 ] || return 0; printf '%s %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" > "$STATUS.tmp" 2>/dev/null && mv -f "$STATUS.tmp" "$STATUS" 2>/dev/null; return 0; }
die() { code=$1; shift; echo "flashcfg: $*" >&2; log "FAILED ($code): $*"; status "failed $code $*"; exit "$code"; }
usage() { echo "usage: flashcfg [-y] [-s SHA256] -f FILE    write a uImage to the \"$PARTITION\" partition" >&2; exit 2; }

SHA=""
while getopts "yf:s:h" opt; do
  case "$opt" in
    y) YES=1 ;;
    f) FILE=$OPTARG ;;
    s) SHA=$OPTARG ;;
    *) usage ;;
  esac
done
[ -n "$FILE" ] || usage
mkdir -p "$(dirname "$LOCK")" "$(dirname "$LOG")" 2>/dev/null
# flock (util-linux, in every Debian root): released by the kernel when the holder
# dies, so a lock is never left behind by a killed run.
if command -v flock >/dev/null 2>&1; then
  exec 9>>"$LOCK" || die 5 "cannot open the lock $LOCK"
  if ! flock -n 9; then
    die 5 "another flashcfg is running on this board ($(cat "$LOCK" 2>/dev/null || echo "holder unknown")); this one wrote nothing: wait for it to finish (its outcome: $STATUS)"
  fi
  LOCKED=1
  echo "PID $$ since $(date '+%Y-%m-%d %H:%M:%S'), writing $FILE" > "$LOCK"
fi
status "checking $FILE"
[ -r "$FILE" ] || die 1 "cannot read $FILE"
log "flashcfg -f $FILE (partition \"$PARTITION\")"

# Four bytes as one u32, as an exact decimal number: the shell's arithmetic, not
# awk's, which on a 32-bit board prints a value from 2^31 up as 3.08922e+09, so
# that two CRCs were compared on their first six digits only.
u32() { echo $(( (($1 * 256 + $2) * 256 + $3) * 256 + $4 )); }
# Big-endian u32 at byte offset $2 of file $1.
# shellcheck disable=SC2046 # od's four numbers are u32's four arguments
be32() { u32 $(od -An -tu1 -j "$2" -N 4 "$1"); }
# CRC32 (zlib's) of stdin, as a decimal number. busybox's crc32 where there is
# one: the gzip trick compresses all of it, 20 s for a 48 MB image on the
# emulated board against 4 s. Else gzip, which writes it little-endian in its trailer.
if busybox crc32 </dev/null >/dev/null 2>&1; then
  crc32() { printf '%u\n' "0x$(busybox crc32 | cut -c1-8)"; }
else
  # shellcheck disable=SC2046
  # 2>/dev/null: stdin may be the image file read from past its header, whose size gzip then
  # calls changed; a gzip that fails gives a CRC that does not match, which refuses the image.
  crc32() { set -- $(gzip -1 -c 2>/dev/null | tail -c 8 | od -An -tu1 -N 4); u32 "$4" "$3" "$2" "$1"; }
fi

size=$(wc -c < "$FILE" | tr -d ' ')
[ "$size" -ge 64 ] || die 1 "$FILE is $size bytes: too short for a uImage header"
magic=$(be32 "$FILE" 0)
[ "$magic" = 654645590 ] || die 1 "$FILE is not a uImage (magic $(printf '%08x' "$magic"), want 27051956)"
hcrc=$(be32 "$FILE" 4)
datasize=$(be32 "$FILE" 12)
dcrc=$(be32 "$FILE" 24)
calc=$( { head -c 4 "$FILE"; printf '\000\000\000\000'; tail -c +9 "$FILE" | head -c 56; } | crc32 )
[ "$calc" = "$hcrc" ] || die 1 "$FILE: bad header CRC ($(printf '%08x' "$calc"), header says $(printf '%08x' "$hcrc"))"
[ $((64 + datasize)) -le "$size" ] || die 1 "$FILE is truncated: header announces $datasize data bytes, file has $((size - 64))"
# Bulk data never goes through a pipe where a file will do: on the emulated board
# every pipe buffer is a switch between two processes, and these two pipes made
# the CRC of a 48 MB image take 5.3 s of host CPU against 0.8 s read straight
# from the file. dd moves the shared offset past the header, crc32 reads the rest
# (only when the data ends the file: else the pipe, which stops at datasize).
if [ $((64 + datasize)) -eq "$size" ]; then
  calc=$( { dd bs=64 skip=1 count=0 2>/dev/null; crc32; } < "$FILE" )
else
  calc=$(tail -c +65 "$FILE" | head -c "$datasize" | crc32)
fi
[ "$calc" = "$dcrc" ] || die 1 "$FILE: bad data CRC ($(printf '%08x' "$calc"), header says $(printf '%08x' "$dcrc"))"

line=$(grep -F "\"$PARTITION\"" "$PROC_MTD" 2>/dev/null | head -1)
[ -n "$line" ] || die 3 "no MTD partition named \"$PARTITION\"${PARTITIONS:+ (the board's names: $PARTITIONS)} in $PROC_MTD (found: $(sed 1d "$PROC_MTD" 2>/dev/null | cut -d'"' -f2 | tr '\n' ',' | sed 's/,$//'))"
dev=$DEV_DIR/$(echo "$line" | cut -d: -f1)
psize=$(( 0x$(echo "$line" | awk '{ print $2 }') ))
[ -e "$dev" ] || die 3 "$dev does not exist"
[ "$size" -le "$psize" ] || die 3 "$FILE is $size bytes, $((size - psize)) more than \"$PARTITION\" ($dev) holds ($psize)"

if [ "$YES" != 1 ]; then
  printf 'write %s (%s bytes) to %s "%s"? [y/N] ' "$FILE" "$size" "$dev" "$PARTITION"
  read -r answer
  case "$answer" in y|Y|yes) ;; *) die 1 "not confirmed; flash untouched" ;; esac
fi

# -s: the bytes written are exactly the ones the sender checked (read now, right before erasing).
if [ -n "$SHA" ]; then
  have=$(sha256sum "$FILE" | cut -d' ' -f1)
  [ "$have" = "$SHA" ] || die 1 "$FILE has sha256 $have, not $SHA as the sender checked; flash untouched"
fi

HALF="the partition is erased or half-written: do not power the board off; run kiln flash or kiln restore again first"
write() {
  status "writing $size bytes to $dev \"$PARTITION\"$1: do not power the board off"
  echo "flashcfg: writing $FILE to $dev \"$PARTITION\"$1"
  if command -v flashcp >/dev/null 2>&1; then
    flashcp "$FILE" "$dev" || die 4 "flashcp failed writing $dev; $HALF"
  else
    flash_erase "$dev" 0 0 >/dev/null || die 4 "flash_erase failed on $dev; $HALF"
    # conv=notrunc: a device is never truncated anyway; a file standing in for one (tests) must not be either.
    dd if="$FILE" of="$dev" bs=4096 conv=notrunc 2>/dev/null || die 4 "writing $dev failed; $HALF"
  fi
  status "verifying $dev"
  # GNU cmp stops at -n bytes by itself (5.8 s of host CPU through head's pipe
  # on the emulated board, 0.6 s without); busybox's cmp has no -n.
  if cmp -s -n 0 "$FILE" "$FILE" 2>/dev/null; then
    cmp -s -n "$size" "$dev" "$FILE"
  else
    head -c "$size" "$dev" | cmp -s - "$FILE"
  fi
}
# A read-back that differs is written once more (a bit that did not take) before giving up.
if ! write ""; then
  log "read-back of $dev differs from $FILE: writing it once more"
  write " (again: the first read-back differed)" || die 4 "read-back of $dev differs from $FILE after two writes; $HALF"
fi
sync
log "OK: $size bytes written to $dev and verified"
status "ok $size bytes written to $dev and verified"
echo "flashcfg: $size bytes written to $dev and verified"
exit 0
