#!/usr/bin/env bash
# The README's first command: installs FUSE when missing, builds, runs the demo
# (key ceremony + unlock rehearsal + the mounted demo vault drive).
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v fusermount3 >/dev/null 2>&1; then
  echo "installing fuse3 (the vault drive is a FUSE filesystem)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 pkg-config libssl-dev
fi
cargo run --release -- demo "$@"
