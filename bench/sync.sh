#!/usr/bin/env bash
# bench/sync.sh — remote benchmark over SFTP: bcpvault sync against restic (sftp repository) and
# rclone (crypt over sftp), same corpus, same loopback sshd, same run.
#
# Usage: bench/sync.sh [--rounds N] [--scale S] [--out DIR] [options]
#   --rounds N      rounds; each round runs every tool once, in rotating order (default 3)
#   --scale S       corpus scale, see bench/corpus.sh (1 = 512 MiB file + 5,000 small files; default 1)
#   --out DIR       where sync-results.md / sync-results.tsv / logs go (default: bench/results)
#   --workdir DIR   scratch directory (corpus, local store, "remote" directories); not tmpfs
#   --keep          keep the scratch directory
#   --bin PATH      use this bcpvault binary instead of building one
#   --no-build      do not run `cargo build --release`; use target/release/bcpvault
#   --no-install    never apt-get install missing tools (restic, rclone, openssh-server, time)
#   --step-timeout S  seconds before a timed step is killed (default 1200)
#
# One OpenSSH sshd on 127.0.0.1 (throwaway host and client ed25519 keys, root login by key,
# `Subsystem sftp /usr/lib/openssh/sftp-server` for every tool), started here and stopped by
# its pid. Per round and tool:
#   initial upload -> mutate 1% (bench/corpus.sh mutate) -> incremental upload ->
#   full restore from the remote into an empty directory -> verify restored == corpus
# bcpvault's upload is `backup` into the local store plus `sync` to the remote (both timed,
# reported separately and added up: restic and rclone encrypt and upload in one step);
# its restore reads the remote only (`restore --remote`). rclone keeps no local copy and
# re-uploads whole changed files; restic and bcpvault upload only new chunks.
# Every timed step: caches dropped first (when permitted), `/usr/bin/time` around the tool.
set -uo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ORIG_CMD="bench/sync.sh $*"

ROUNDS=3 SCALE=1 OUT=$HERE/results WORKDIR="" KEEP=0 BIN="" BUILD=1 INSTALL=1 STEP_TIMEOUT=1200
usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "sync.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) need_arg "$@"; ROUNDS=$2; shift 2 ;;
    --scale) need_arg "$@"; SCALE=$2; shift 2 ;;
    --out) need_arg "$@"; OUT=$2; shift 2 ;;
    --workdir) need_arg "$@"; WORKDIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --bin) need_arg "$@"; BIN=$2; BUILD=0; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --step-timeout) need_arg "$@"; STEP_TIMEOUT=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "sync.sh: unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "sync.sh: --rounds must be a positive integer" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "sync.sh: run as root (sshd, drop_caches)" >&2; exit 1; }

say() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- tools
need_pkgs=()
for pair in restic:restic rclone:rclone /usr/bin/time:time openssl:openssl python3:python3 \
            diff:diffutils /usr/sbin/sshd:openssh-server /usr/lib/openssh/sftp-server:openssh-sftp-server \
            ssh-keygen:openssh-client; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "${pair%%:*}" ] || need_pkgs+=("${pair#*:}")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  [ "$INSTALL" = 1 ] || die "missing: ${need_pkgs[*]} (and --no-install given)"
  say "installing: ${need_pkgs[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"; } >&2 \
    || die "apt-get install ${need_pkgs[*]} failed"
fi
PY=$(command -v python3)

if [ -z "$BIN" ]; then
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/bcpvault
  if [ "$BUILD" = 1 ]; then
    say "building: cargo build --release (in $ROOT)"
    (cd "$ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
  fi
fi
[ -x "$BIN" ] || die "no bcpvault binary at $BIN"

# ---------------------------------------------------------------- scratch space
if [ -z "$WORKDIR" ]; then
  W=$(mktemp -d /var/tmp/bcpvault-syncbench.XXXXXX) || die "mktemp under /var/tmp failed"
else
  W=$WORKDIR; mkdir -p "$W" || die "cannot create $W"
fi
W=$(cd "$W" && pwd -P)
case $(df -T "$W" | awk 'NR==2 {print $2}') in tmpfs|ramfs) die "$W is on tmpfs: use a disk-backed --workdir" ;; esac
mkdir -p "$W"/{bin,logs,tmp,ssh,remote} "$OUT" || die "cannot create $W or $OUT"
OUT=$(cd "$OUT" && pwd -P)
C=$W/corpus
SSHD_PID=""
cleanup() {
  local rc=$?
  [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
  if [ "$KEEP" = 1 ]; then say "kept scratch directory $W"; else rm -rf "$W"; fi
  exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM
cp "$BIN" "$W/bin/bcpvault" || die "cannot copy $BIN"
BV=$W/bin/bcpvault

TSV=$OUT/sync-results.tsv
META=$W/logs/meta.tsv; : > "$META"
meta() { printf '%s\t%s\n' "$1" "$2" >> "$META"; }
printf 'round\ttool\tstep\twall_s\trss_kb\tuser_s\tsys_s\tbytes_sent\tstatus\tnote\n' > "$TSV"

CAN_DROP=0
if ( sync; echo 3 > /proc/sys/vm/drop_caches ) 2>/dev/null; then CAN_DROP=1; fi
drop_caches() { sync; [ "$CAN_DROP" = 1 ] && echo 3 > /proc/sys/vm/drop_caches; return 0; }
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta machine "$(lscpu 2>/dev/null | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(nproc) CPUs, kernel $(uname -r)"
meta bcpvault "$("$BV" --version 2>/dev/null | head -1); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
meta restic "$(restic version 2>/dev/null | head -1)"
meta rclone "$(rclone version 2>/dev/null | head -1)"
meta ssh "$(ssh -V 2>&1 | cut -d, -f1), sshd on 127.0.0.1 with /usr/lib/openssh/sftp-server for all tools"
meta drop_caches "$([ "$CAN_DROP" = 1 ] && echo yes || echo "not permitted")"

# ---------------------------------------------------------------- sshd on loopback
S=$W/ssh
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$S/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$S/client_ed25519"
cp "$S/client_ed25519.pub" "$S/authorized_keys"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p /run/sshd
cat > "$S/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $S/host_ed25519
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100:30:200
MaxSessions 100
LogLevel ERROR
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
echo "[127.0.0.1]:$PORT $(cat "$S/host_ed25519.pub")" > "$S/known_hosts"
cat > "$S/ssh_config" <<EOF
Host bench
  HostName 127.0.0.1
  Port $PORT
  User root
  IdentityFile $S/client_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $S/known_hosts
  GlobalKnownHostsFile /dev/null
  BatchMode yes
EOF
/usr/sbin/sshd -D -e -f "$S/sshd_config" >> "$W/logs/sshd.log" 2>&1 & SSHD_PID=$!
for _ in $(seq 100); do ssh -F "$S/ssh_config" bench true 2>/dev/null && break; sleep 0.1; done
ssh -F "$S/ssh_config" bench true || die "cannot ssh to the local sshd (see $W/logs/sshd.log)"
say "sshd on 127.0.0.1:$PORT (pid $SSHD_PID)"

# ---------------------------------------------------------------- corpus
"$HERE/corpus.sh" gen "$C" "$SCALE" || die "corpus generation failed"
read -r PRISTINE_BYTES PRISTINE_FILES _ < <("$HERE/corpus.sh" stats "$C")
meta corpus "scale $SCALE: $PRISTINE_BYTES bytes in $PRISTINE_FILES files"

# timed ROUND TOOL STEP STDIN LOG -- CMD...   (sets T_STATUS, T_ROW)
timed() {
  local round=$1 tool=$2 step=$3 stdin=$4 log=$5; shift 6
  local tf=$W/tmp/time.out rc wall rss user sys
  drop_caches
  printf '+ %s\n' "$*" >> "$log"
  timeout "$STEP_TIMEOUT" /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" < "$stdin" >> "$log" 2>&1; rc=$?
  read -r wall rss user sys < <(grep -E '^[0-9.]+ [0-9]+ [0-9.]+ [0-9.]+$' "$tf" | tail -1)
  T_STATUS=ok; [ "$rc" = 0 ] || T_STATUS="fail(rc=$rc)"
  T_ROW="$round	$tool	$step	${wall:--}	${rss:--}	${user:-0}	${sys:-0}"
  say "  $tool $step: $T_STATUS ${wall:-?}s, peak RSS $(( ${rss:-0} / 1024 )) MiB"
  [ "$rc" = 0 ]
}
record() { printf '%s\t%s\t%s\t%s\n' "$T_ROW" "$1" "$2" "$3" >> "$TSV"; }
bytes_of() { du -sb "$1" 2>/dev/null | cut -f1; }
verify() { diff -rq "$C" "$1" > "$W/tmp/diff.txt" 2>&1 && echo identical || echo "DIFFERS ($(head -1 "$W/tmp/diff.txt"))"; }

PW1=bench-exec-one-pass PW2=bench-exec-two-pass
printf '%s\n%s\n' "$PW1" "$PW2" > "$W/tmp/passwords"

run_bcpvault() {
  local r=$1 d=$W/bcpvault log=$W/logs/bcpvault-round$r.log rem=$W/remote/bcpvault b0 b1
  rm -rf "$d" "$rem"; mkdir -p "$d" "$rem"
  cat > "$d/bench.toml" <<EOF
name = "bench"
store = "$d/store"

[kdf]
memory = "8 MiB"
iterations = 1
parallelism = 1

[[remote]]
name = "bench"
type = "sftp"
host = "127.0.0.1"
port = $PORT
user = "root"
path = "$rem"
identity = "$S/client_ed25519"
known_hosts = "$S/known_hosts"
EOF
  "$BV" init "$d/bench.toml" --executive tanaka --executive sato --threshold 2 --key-bits 3072 \
    --password-stdin < "$W/tmp/passwords" >> "$log" 2>&1 || { say "bcpvault init failed"; return; }
  for step in initial incremental; do
    if [ "$step" = incremental ]; then "$HERE/corpus.sh" mutate "$C" "$r" 2>> "$log" || die "mutation failed"; fi
    timed "$r" bcpvault "backup_$step" /dev/null "$log" -- "$BV" backup "$d/bench.toml" "$C"
    record - "$T_STATUS" "local store $(bytes_of "$d/store/repo") B"
    b0=$(bytes_of "$rem")
    timed "$r" bcpvault "sync_$step" /dev/null "$log" -- "$BV" sync "$d/bench.toml"
    b1=$(bytes_of "$rem")
    record "$((b1 - b0))" "$T_STATUS" "$(grep '^remote' "$log" | tail -1 | cut -c1-150)"
  done
  timed "$r" bcpvault restore "$W/tmp/passwords" "$log" -- "$BV" restore "$d/bench.toml" "$d/restore" \
    --remote bench --executive tanaka --executive sato --password-stdin
  record - "$T_STATUS" "from the remote only; verify: $(verify "$d/restore$C")"
  rm -rf "$d" "$rem"
}

run_restic() {
  local r=$1 d=$W/restic log=$W/logs/restic-round$r.log rem=$W/remote/restic b0 b1
  rm -rf "$d" "$rem"; mkdir -p "$d"
  export RESTIC_PASSWORD=bench-restic-password RESTIC_CACHE_DIR=$d/cache
  local R=(restic -r "sftp:bench:$rem" -o "sftp.command=ssh -F $S/ssh_config bench -s sftp")
  "${R[@]}" init --repository-version 2 >> "$log" 2>&1 || { say "restic init failed"; return; }
  for step in initial incremental; do
    if [ "$step" = incremental ]; then "$HERE/corpus.sh" mutate "$C" "$r" 2>> "$log" || die "mutation failed"; fi
    b0=$(bytes_of "$rem")
    timed "$r" restic "backup_$step" /dev/null "$log" -- "${R[@]}" backup --host bench "$C"
    b1=$(bytes_of "$rem")
    record "$((b1 - b0))" "$T_STATUS" "encrypt + upload in one step"
  done
  rm -rf "$d/cache"
  timed "$r" restic restore /dev/null "$log" -- "${R[@]}" restore latest --target "$d/restore"
  record - "$T_STATUS" "verify: $(verify "$d/restore$C")"
  rm -rf "$d" "$rem"
}

run_rclone() {
  local r=$1 d=$W/rclone log=$W/logs/rclone-round$r.log rem=$W/remote/rclone b0 b1
  rm -rf "$d" "$rem"; mkdir -p "$d" "$rem"
  cat > "$d/rclone.conf" <<EOF
[bsftp]
type = sftp
host = 127.0.0.1
port = $PORT
user = root
key_file = $S/client_ed25519
known_hosts_file = $S/known_hosts
shell_type = unix
md5sum_command = none
sha1sum_command = none

[bcrypt]
type = crypt
remote = bsftp:$rem
password = $(rclone obscure bench-rclone-password)
password2 = $(rclone obscure bench-rclone-salt)
EOF
  local RC=(rclone --config "$d/rclone.conf" --cache-dir "$d/cache")
  for step in initial incremental; do
    if [ "$step" = incremental ]; then "$HERE/corpus.sh" mutate "$C" "$r" 2>> "$log" || die "mutation failed"; fi
    b0=$(bytes_of "$rem")
    timed "$r" rclone "sync_$step" /dev/null "$log" -- "${RC[@]}" sync "$C" bcrypt:corpus
    b1=$(bytes_of "$rem")
    record "$((b1 - b0))" "$T_STATUS" "crypt over sftp; whole changed files re-uploaded"
  done
  timed "$r" rclone restore /dev/null "$log" -- "${RC[@]}" copy bcrypt:corpus "$d/restore"
  record - "$T_STATUS" "verify: $(verify "$d/restore")"
  rm -rf "$d" "$rem"
}

START=$(date +%s)
TOOLS=(bcpvault restic rclone)
for r in $(seq 1 "$ROUNDS"); do
  order=("${TOOLS[@]:$(( (r - 1) % 3 ))}" "${TOOLS[@]:0:$(( (r - 1) % 3 ))}")
  say "== round $r/$ROUNDS (${order[*]})"
  for tool in "${order[@]}"; do
    "$HERE/corpus.sh" reset "$C" || die "corpus reset failed"
    "run_$tool" "$r"
  done
done
"$HERE/corpus.sh" reset "$C" >/dev/null 2>&1
meta duration "$(( $(date +%s) - START )) s for $ROUNDS round(s)"
meta command "$ORIG_CMD"

rm -rf "$OUT/sync-logs"; cp -r "$W/logs" "$OUT/sync-logs"
"$PY" - "$TSV" "$META" "$OUT/sync-results.md" "$PRISTINE_BYTES" <<'EOF'
import csv, statistics, sys
tsv, meta_path, out, corpus = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = list(csv.DictReader(open(tsv), delimiter="\t"))
meta = [l.rstrip("\n").split("\t", 1) for l in open(meta_path) if "\t" in l]
def num(x):
    try: return float(x)
    except (TypeError, ValueError): return None
def med(tool, step, key="wall_s"):
    xs = [num(r[key]) for r in rows if r["tool"] == tool and r["step"] == step and r["status"] == "ok"]
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def add(*xs): return None if any(x is None for x in xs) else sum(xs)
def f(x, p=2): return "–" if x is None else f"{x:,.{p}f}"
def mib(x): return "–" if x is None else f"{x / 2**20:,.1f}"
def rss(tool, steps):
    xs = [num(r["rss_kb"]) for r in rows if r["tool"] == tool and r["step"] in steps and num(r["rss_kb"])]
    return f"{max(xs) / 1024:,.0f}" if xs else "–"
L = ["# Remote sync over SFTP: bcpvault vs restic vs rclone crypt\n",
     f"Medians of wall seconds over the rounds; corpus {corpus / 1e6:,.1f} MB. bcpvault's upload = `backup` "
     "(local store) + `sync` (to the remote), shown as total (backup + sync). Sent = growth of the remote directory.\n",
     "| tool | initial s | initial sent MiB | incremental s | incremental sent MiB | restore from remote s | peak RSS MiB |",
     "|---|---:|---:|---:|---:|---:|---:|"]
bi, si = med("bcpvault", "backup_initial"), med("bcpvault", "sync_initial")
bn, sn = med("bcpvault", "backup_incremental"), med("bcpvault", "sync_incremental")
L.append(f"| bcpvault | {f(add(bi, si))} ({f(bi)} + {f(si)}) | {mib(med('bcpvault', 'sync_initial', 'bytes_sent'))} | "
         f"{f(add(bn, sn))} ({f(bn)} + {f(sn)}) | {mib(med('bcpvault', 'sync_incremental', 'bytes_sent'))} | "
         f"{f(med('bcpvault', 'restore'))} | {rss('bcpvault', {'backup_initial', 'sync_initial', 'backup_incremental', 'sync_incremental', 'restore'})} |")
L.append(f"| restic (sftp) | {f(med('restic', 'backup_initial'))} | {mib(med('restic', 'backup_initial', 'bytes_sent'))} | "
         f"{f(med('restic', 'backup_incremental'))} | {mib(med('restic', 'backup_incremental', 'bytes_sent'))} | "
         f"{f(med('restic', 'restore'))} | {rss('restic', {'backup_initial', 'backup_incremental', 'restore'})} |")
L.append(f"| rclone crypt (sftp) | {f(med('rclone', 'sync_initial'))} | {mib(med('rclone', 'sync_initial', 'bytes_sent'))} | "
         f"{f(med('rclone', 'sync_incremental'))} | {mib(med('rclone', 'sync_incremental', 'bytes_sent'))} | "
         f"{f(med('rclone', 'restore'))} | {rss('rclone', {'sync_initial', 'sync_incremental', 'restore'})} |")
L.append("")
L.append("## Run\n")
for k, v in meta: L.append(f"- **{k}**: {v}")
L.append("\n## Every measurement\n")
L.append("| round | tool | step | wall s | peak RSS MiB | user s | sys s | sent MiB | status | note |")
L.append("|---:|---|---|---:|---:|---:|---:|---:|---|---|")
for r in rows:
    rk = num(r["rss_kb"]); b = num(r["bytes_sent"])
    L.append(f"| {r['round']} | {r['tool']} | {r['step']} | {r['wall_s']} | {f(rk / 1024 if rk else None, 0)} | {r['user_s']} | "
             f"{r['sys_s']} | {mib(b)} | {r['status']} | {r['note'].replace('|', '/')} |")
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
EOF
say "wrote $OUT/sync-results.md and $OUT/sync-results.tsv"
