#!/bin/bash
# Upload throughput of kiln's SFTP against scp on loopback (goal: ratio >= 0.9).
#   bench/sftp-upload.sh [megabytes, default 40] [runs, default 3] [HOST:PORT KEY of a running board]
# Starts a throwaway OpenSSH server (as the end-to-end tests do: needs root and openssh-server).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/sftp-upload.ts "$@"
