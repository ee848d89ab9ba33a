#!/usr/bin/env bash
# The README's first command: installs FUSE when missing, builds, runs the demo
# (key ceremony + unlock rehearsal + the mounted demo vault drive).
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v fusermount3 >/dev/null 2>&1 || missing+=(fuse3)        # the vault drive is FUSE
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)    # building ssh2 (SFTP remotes)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
cargo run --release -- demo "$@"
