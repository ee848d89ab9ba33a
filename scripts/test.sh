#!/usr/bin/env bash
# The whole test suite, as README.md shows it and CI runs it.
# Installs what the tests need when it is missing (FUSE, OpenSSH server, build
# libraries), then checks formatting and lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v fusermount3 >/dev/null 2>&1 || missing+=(fuse3)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
[ -x /usr/lib/openssh/sftp-server ] || missing+=(openssh-sftp-server)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v useradd >/dev/null 2>&1 || missing+=(passwd)          # SFTP tests: the bcptest account
command -v mount >/dev/null 2>&1 || missing+=(mount)             # SFTP tests: tmpfs as a full disk
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)      # mount tests: a non-reader uid
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test dependencies: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
