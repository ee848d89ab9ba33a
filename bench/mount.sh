#!/usr/bin/env bash
# bench/mount.sh — mount benchmark: the bcpvault vault drive against gocryptfs, same disk, same run.
#
# Usage: bench/mount.sh [--rounds N] [--scale S] [--out DIR] [options]
#   --rounds N      rounds; each round runs every tool once, in alternating order (default 3)
#   --scale S       corpus scale, see bench/corpus.sh (1 = 512 MiB file + 5,000 small files; default 1)
#   --out DIR       where mount-results.md / mount-results.tsv / mount-logs/ go (default: bench/results)
#   --workdir DIR   scratch directory for corpus, stores and mount points; must not be tmpfs
#                   (default: a new mktemp dir under /var/tmp, removed at the end)
#   --keep          keep the scratch directory
#   --bin PATH      use this bcpvault binary instead of building one
#   --no-build      do not run `cargo build --release`; use the existing target/release/bcpvault
#   --no-install    never apt-get install missing tools (gocryptfs, fuse3, time, openssl, python3)
#   --tools LIST    comma list from bcpvault,gocryptfs (default: both)
#   --step-timeout S  seconds before a timed step is killed (default 1200)
#
# Per round and tool: fresh store, mount, then (each timed; caches dropped first)
#   (a) write       dd if=<corpus>/large.bin of=<mnt>/big bs=1M, until close() returns
#   (b) smallfiles  cp -a <corpus>/tree <mnt>/tree (5,000 files of 1-256 KiB in 50 folders)
#       -- unmount, drop caches, mount again --
#   (c) ls_lR       ls -lR <mnt> (entries/s)
#       -- bcpvault: unlock (tanaka, sato); gocryptfs: nothing (always readable) --
#   (d) read        dd if=<mnt>/big of=/dev/null bs=1M; then, untimed, cmp against the source
# Earlier rounds' stores are set aside under the scratch dir, not deleted, until the run ends:
# ext4 passes over recently deleted inodes when it allocates new ones, so deleting thousands of
# files just before a round slowed that round's file creation (both tools) by up to 2x.
# (a) and (b) add a `sync -f` of the scratch filesystem to their time (data on disk, not only
# in the page cache). CPU = client (dd/cp/ls) + FUSE daemon; peak RSS = the daemon's VmHWM,
# reset before every step (/proc/PID/clear_refs). Run as root (drop_caches, FUSE, apt-get).
set -uo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ORIG_CMD="bench/mount.sh $*"

ROUNDS=3 SCALE=1 OUT=$HERE/results WORKDIR="" KEEP=0 BIN="" BUILD=1 INSTALL=1 STEP_TIMEOUT=1200
TOOLS="bcpvault,gocryptfs"
usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
need_arg() { if [ $# -lt 2 ] || [ -z "$2" ]; then echo "mount.sh: $1 needs a value" >&2; exit 2; fi; }
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
    --tools) need_arg "$@"; TOOLS=$2; shift 2 ;;
    --step-timeout) need_arg "$@"; STEP_TIMEOUT=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "mount.sh: unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "mount.sh: --rounds must be a positive integer" >&2; exit 2; }
[[ $STEP_TIMEOUT =~ ^[1-9][0-9]*$ ]] || { echo "mount.sh: --step-timeout must be a positive integer" >&2; exit 2; }
TOOL_LIST=()
for t in ${TOOLS//,/ }; do
  case $t in bcpvault|gocryptfs) TOOL_LIST+=("$t") ;; *) echo "mount.sh: unknown tool in --tools: $t" >&2; exit 2 ;; esac
done
[ ${#TOOL_LIST[@]} -gt 0 ] || { echo "mount.sh: --tools is empty" >&2; exit 2; }
uses() { [[ " ${TOOL_LIST[*]} " == *" $1 "* ]]; }

say() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || say "WARNING: not root: caches cannot be dropped and FUSE may refuse to mount"

# ---------------------------------------------------------------- tools
need_pkgs=()
pairs="/usr/bin/time:time openssl:openssl python3:python3 cmp:diffutils mountpoint:util-linux"
uses gocryptfs && pairs="$pairs gocryptfs:gocryptfs fusermount3:fuse3"
uses bcpvault && pairs="$pairs fusermount3:fuse3"
for pair in $pairs; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_pkgs+=("${pair#*:}")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u)
  [ "$INSTALL" = 1 ] || die "missing: ${need_pkgs[*]} (and --no-install given)"
  [ "$(id -u)" = 0 ] || die "missing: ${need_pkgs[*]}; run as root or install them: apt-get install -y ${need_pkgs[*]}"
  say "installing: ${need_pkgs[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"; } >&2 \
    || die "apt-get install ${need_pkgs[*]} failed"
fi
[ -e /dev/fuse ] || die "/dev/fuse is missing: FUSE is not available on this machine (modprobe fuse?)"
PY=$(command -v python3)

if uses bcpvault; then
  if [ -z "$BIN" ]; then
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/bcpvault
    if [ "$BUILD" = 1 ]; then
      command -v cargo >/dev/null || die "cargo not found (install Rust, or pass --bin PATH)"
      say "building: cargo build --release (in $ROOT)"
      (cd "$ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
    fi
  fi
  [ -x "$BIN" ] || die "no bcpvault binary at $BIN (build it, pass --bin PATH, or --tools gocryptfs)"
fi

# ---------------------------------------------------------------- scratch space
if [ -z "$WORKDIR" ]; then
  W=$(mktemp -d /var/tmp/bcpvault-mount-bench.XXXXXX) || die "mktemp under /var/tmp failed"
else
  W=$WORKDIR; mkdir -p "$W" || die "cannot create $W"
fi
W=$(cd "$W" && pwd -P)
FSTYPE=$(df -T "$W" | awk 'NR==2 {print $2}')
case $FSTYPE in tmpfs|ramfs|fuse*) die "$W is on $FSTYPE: use a disk-backed --workdir" ;; esac
mkdir -p "$W"/{bin,logs,tmp} "$OUT" || die "cannot create $W or $OUT"
OUT=$(cd "$OUT" && pwd -P)
C=$W/corpus
LOG=$W/logs/setup.log

# Everything this script mounted or started, so that an error or ^C never leaves a mount
# behind (and rm -rf never walks into a live mount).
MOUNTED=() DAEMONS=()
alive() { [ -e /proc/"$1" ] && [ "$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null)" != Z ]; }
is_ours() { alive "$1" && tr '\0' ' ' < /proc/"$1"/cmdline 2>/dev/null | grep -q -- "$2"; }
wait_gone() { # PID SECONDS: wait for a daemon to exit by itself (reaps it when it is our child)
  local p=$1 n=$(( $2 * 10 )) i=0
  while alive "$p"; do sleep 0.1; i=$((i + 1)); [ $i -ge $n ] && return 1; done
  wait "$p" 2>/dev/null
  return 0
}
stop_daemon() { # PID NAME: TERM, then KILL after 10 s; only if PID still runs NAME (pids get recycled)
  local p=$1 name=$2
  is_ours "$p" "$name" || return 0
  kill "$p" 2>/dev/null
  wait_gone "$p" 10 || { kill -9 "$p" 2>/dev/null; wait_gone "$p" 5; }
}
force_umount() {
  mountpoint -q "$1" 2>/dev/null || return 0
  { fusermount3 -u "$1" || umount "$1" || umount -l "$1"; } >> "$LOG" 2>&1
}
MAIN_PID=$$
cleanup() {
  local rc=$? m d
  # a forked child (a background job killed before its exec) inherits the trap: not its business
  [ "$BASHPID" = "$MAIN_PID" ] || exit "$rc"
  for m in "${MOUNTED[@]}"; do force_umount "$m"; done
  for d in "${DAEMONS[@]}"; do stop_daemon "${d%%:*}" "${d#*:}"; done
  for m in "${MOUNTED[@]}"; do
    mountpoint -q "$m" 2>/dev/null && { say "WARNING: $m is still mounted; keeping $W"; KEEP=1; }
  done
  if [ "$KEEP" = 1 ]; then say "kept scratch directory $W"
  else rm -rf --one-file-system "$W"; fi
  exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

if uses bcpvault; then
  # a private copy, so that a concurrent rebuild of target/ cannot swap the binary mid-run
  cp "$BIN" "$W/bin/bcpvault" || die "cannot copy $BIN"
fi
BV=$W/bin/bcpvault

TSV=$OUT/mount-results.tsv
META=$W/logs/meta.tsv; : > "$META"
meta() { printf '%s\t%s\n' "$1" "$2" >> "$META"; }
printf 'round\ttool\tstep\twall_s\ttool_s\tsync_s\tclient_cpu_s\tdaemon_cpu_s\tdaemon_rss_kb\tothers_cpu_s\tload1\tbytes\tfiles\tstore_bytes\tstatus\tnote\n' > "$TSV"

TCK=$(getconf CLK_TCK)
cpu_busy() { awk '/^cpu / {printf "%d", $2+$3+$4+$7+$8+$9}' /proc/stat; }
cpu_total() { awk '/^cpu / {printf "%d", $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
busy_pct() { local b0 t0 b1 t1; b0=$(cpu_busy); t0=$(cpu_total); sleep "$1"; b1=$(cpu_busy); t1=$(cpu_total)
  awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.0f", t ? 100 * b / t : 0}'; }
# user+sys seconds of a process and all its threads; 0 when there is no such process
proc_cpu() { { [ -n "$1" ] && awk -v t="$TCK" '{printf "%.3f", ($14+$15)/t}' /proc/"$1"/stat 2>/dev/null; } || echo 0; }
proc_hwm() { { [ -n "$1" ] && awk '/^VmHWM/ {print $2; f=1} END {exit !f}' /proc/"$1"/status 2>/dev/null; } || echo -; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }

CAN_DROP=0
if [ "$(id -u)" = 0 ] && ( sync; echo 3 > /proc/sys/vm/drop_caches ) 2>/dev/null; then CAN_DROP=1; fi
drop_caches() { sync; [ "$CAN_DROP" = 1 ] && echo 3 > /proc/sys/vm/drop_caches; return 0; }
# peak RSS per step: "echo 5 > /proc/PID/clear_refs" resets VmHWM to the current RSS (Linux >= 4.0)
CAN_RESET_HWM=0
if echo 5 > /proc/$$/clear_refs 2>/dev/null; then CAN_RESET_HWM=1; fi
reset_hwm() { [ "$CAN_RESET_HWM" = 1 ] && [ -n "$1" ] && echo 5 > /proc/"$1"/clear_refs 2>/dev/null; return 0; }

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")
dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta machine "$(lscpu 2>/dev/null | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
meta disk "$FSTYPE on $(df "$W" | awk 'NR==2 {print $1}') ($W): source corpus, both backing stores and both mount points on the same filesystem"
uses bcpvault && meta bcpvault "$("$BV" --version 2>/dev/null | head -1); commit $commit$([ "$dirty" -gt 0 ] && echo " + uncommitted changes in $dirty tracked file(s)"); binary sha256 $(sha256sum "$BV" | cut -c1-12)"
uses gocryptfs && meta gocryptfs "$(gocryptfs -version 2>/dev/null | head -1); default mount options (-fg -quiet only added); volume made with -scryptn 10"
meta fuse "$(fusermount3 -V 2>/dev/null | head -1); $(grep -q '^user_allow_other' /etc/fuse.conf 2>/dev/null && echo "user_allow_other set" || echo "user_allow_other not set")"
meta drop_caches "$([ "$CAN_DROP" = 1 ] && echo "yes: sync + echo 3 > /proc/sys/vm/drop_caches before every timed step and before every remount" || echo "NOT permitted: caches are warm for both tools alike")"
meta peak_rss "daemon VmHWM from /proc/PID/status, $([ "$CAN_RESET_HWM" = 1 ] && echo "reset before every step (clear_refs 5), so it is the peak of that step" || echo "NOT resettable here: peak since the daemon started")"
meta busy_before "$(busy_pct 3)% of all CPUs busy in a 3 s sample before the run (other users of the machine), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- corpus
say "corpus: $C (scale $SCALE)"
"$HERE/corpus.sh" gen "$C" "$SCALE" || die "corpus generation failed"
"$HERE/corpus.sh" reset "$C" >/dev/null 2>&1 || die "corpus reset failed"
LARGE_BYTES=$(stat -c %s "$C/large.bin")
read -r TREE_BYTES TREE_FILES TREE_DIRS < <("$HERE/corpus.sh" stats "$C/tree")   # TREE_DIRS counts tree/ itself
ENTRIES_WANT=$((1 + TREE_DIRS + TREE_FILES))                                      # big + tree/ + below
meta corpus "scale $SCALE: big file $LARGE_BYTES bytes (large.bin, incompressible); small files: $TREE_BYTES bytes in $TREE_FILES files, $((TREE_DIRS - 1)) folders below tree/"

# manifest DIR: type, path, size (files), mode, mtime s, sorted; metadata only (works on a sealed vault)
manifest() {
  (cd "$1" && find . -mindepth 1 -printf '%y %P %s %m %T@\n') \
    | awk '{ if ($1 == "d") $3 = "-"; sub(/\..*/, "", $5); print }' | sort
}
manifest "$C/tree" > "$W/tmp/tree.manifest"

# ---------------------------------------------------------------- measurement
# timed ROUND TOOL STEP SYNC OUTFILE -- CMD...   (caches dropped first; sets T_STATUS, T_ROW)
# SYNC=1: a `sync -f` of the scratch filesystem right after the command is added to the wall time.
# The daemon is $DPID (its CPU and peak RSS are part of the step).
DPID=""
timed() {
  local round=$1 tool=$2 step=$3 sync_after=$4 out=$5; shift 6
  local tf=$W/tmp/time.out b0 b1 d0 d1 s0 s1 rc wall tool_s sync_s user sys dcpu others load hwm
  drop_caches
  reset_hwm "$DPID"
  load=$(cut -d' ' -f1 /proc/loadavg)
  printf '+ %s%s\n' "$*" "$([ "$out" = "$LOG" ] || echo " > $out")" >> "$LOG"
  rm -f "$tf"
  d0=$(proc_cpu "$DPID"); b0=$(cpu_busy)
  timeout -k 10 "$STEP_TIMEOUT" /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" < /dev/null >> "$out" 2>> "$LOG"; rc=$?
  s0=$(now); [ "$sync_after" = 1 ] && sync -f "$W"; s1=$(now)
  d1=$(proc_cpu "$DPID"); b1=$(cpu_busy)
  hwm=$(proc_hwm "$DPID")
  read -r tool_s _ user sys < <(grep -E '^[0-9.]+ [0-9]+ [0-9.]+ [0-9.]+$' "$tf" 2>/dev/null | tail -1)
  tool_s=${tool_s:--}; user=${user:-0}; sys=${sys:-0}
  sync_s=$(awk -v a="$s0" -v b="$s1" 'BEGIN {printf "%.2f", b - a}')
  wall=$(awk -v a="$tool_s" -v s="$sync_s" 'BEGIN {printf "%.2f", a + s}')
  dcpu=$(awk -v a="$d0" -v b="$d1" 'BEGIN {d = b - a; printf "%.2f", d < 0 ? 0 : d}')
  # CPU time the rest of the machine used while this step ran (noise indicator)
  others=$(awk -v b=$((b1 - b0)) -v t="$TCK" -v u="$user" -v s="$sys" -v d="$dcpu" 'BEGIN {o = b / t - u - s - d; printf "%.1f", o < 0 ? 0 : o}')
  T_STATUS=ok; [ "$rc" = 0 ] || T_STATUS="fail(rc=$rc)"
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && T_STATUS="timeout(${STEP_TIMEOUT}s)"
  T_ROW="$round	$tool	$step	$wall	$tool_s	$sync_s	$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')	$dcpu	$hwm	$others	$load"
  say "  $tool $step: $T_STATUS, ${wall}s (command ${tool_s}s + sync ${sync_s}s), cpu client $(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')s + daemon ${dcpu}s, daemon peak RSS $(awk -v k="$hwm" 'BEGIN {if (k == "-") print "-"; else printf "%.0f", k / 1024}') MiB, others' cpu ${others}s"
  [ "$rc" = 0 ]
}
record() { # BYTES FILES STORE_BYTES STATUS NOTE   (after timed or info)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$T_ROW" "$1" "$2" "$3" "$4" "${5//	/ }" >> "$TSV"
}
# info ROUND TOOL STEP FUNC...: an untimed-for-comparison step (init, mount, umount, unlock):
# wall seconds only, no cache drop; sets T_STATUS, T_ROW, I_WALL
info() {
  local round=$1 tool=$2 step=$3 t0 rc; shift 3
  t0=$(now); "$@"; rc=$?
  I_WALL=$(since "$t0")
  T_STATUS=ok; [ "$rc" = 0 ] || T_STATUS="fail(rc=$rc)"
  T_ROW="$round	$tool	$step	$I_WALL	-	-	-	-	-	-	$(cut -d' ' -f1 /proc/loadavg)"
  say "  $tool $step: $T_STATUS, ${I_WALL}s"
  [ "$rc" = 0 ]
}
bytes_of() { du -sb "$1" 2>/dev/null | cut -f1; }
# run_cli WHAT CMD... : run a CLI command with a timeout, its output into the log; on failure
# CLI_ERR is its error line (the first line mentioning "error", else the last line)
CLI_ERR=""
run_cli() {
  local what=$1 rc o=$W/tmp/cli.out; shift
  printf '+ %s\n' "$*" >> "$LOG"
  timeout -k 10 300 "$@" > "$o" 2>&1; rc=$?
  cat "$o" >> "$LOG"
  CLI_ERR=""
  if [ "$rc" != 0 ]; then
    CLI_ERR="$what failed (rc=$rc): $( (grep -m1 -i 'error' "$o" || grep -v '^[[:space:]]*$' "$o" | tail -1) | cut -c1-200)"
    [ "$rc" = 124 ] && CLI_ERR="$what timed out after 300 s"
    say "  $CLI_ERR"
  fi
  return "$rc"
}
wait_mounted() { # MNT SECONDS [PID]: until MNT is a mount point; fails early when PID exits
  local i
  for i in $(seq $(( $2 * 10 ))); do
    mountpoint -q "$1" && return 0
    [ -n "${3:-}" ] && ! alive "$3" && return 1
    sleep 0.1
  done
  return 1
}

# A previous round's store or cipher dir moves to $W/aside (removed with the scratch dir).
set_aside() {
  [ -e "$1" ] || return 0
  mkdir -p "$W/aside" && mv "$1" "$W/aside/$(basename "$1").$(date +%s%N)"
}

# ---------------------------------------------------------------- gocryptfs
GPW=bench-gocryptfs-password
G_BASE=$W/gcf-cipher G_MNT=$W/gcf-mnt
gocryptfs_mnt() { echo "$G_MNT"; }
gocryptfs_store() { echo "$G_BASE"; }
gocryptfs_init() {
  set_aside "$G_BASE"; mkdir -p "$G_BASE" "$G_MNT"
  run_cli "gocryptfs -init" gocryptfs -init -q -scryptn 10 -extpass "echo $GPW" "$G_BASE"
}
gocryptfs_mount() {
  printf '+ gocryptfs -fg -quiet -extpass "echo PW" %s %s &\n' "$G_BASE" "$G_MNT" >> "$LOG"
  gocryptfs -fg -quiet -extpass "echo $GPW" "$G_BASE" "$G_MNT" >> "$LOG" 2>&1 < /dev/null &
  DPID=$!; DAEMONS+=("$DPID:gocryptfs"); MOUNTED+=("$G_MNT")
  wait_mounted "$G_MNT" 60 "$DPID" || { CLI_ERR="gocryptfs did not mount $G_MNT (see log)"; say "  $CLI_ERR"; return 1; }
}
gocryptfs_umount() {
  printf '+ fusermount3 -u %s\n' "$G_MNT" >> "$LOG"
  fusermount3 -u "$G_MNT" >> "$LOG" 2>&1 || { CLI_ERR="fusermount3 -u $G_MNT failed"; say "  $CLI_ERR"; return 1; }
  wait_gone "$DPID" 120 || { CLI_ERR="gocryptfs (pid $DPID) did not exit after unmount"; say "  $CLI_ERR"; return 1; }
  DPID=""
}
gocryptfs_unlock() { :; }

# ---------------------------------------------------------------- bcpvault
# Same executive passwords and ceremony as bench/repo.sh (2 executives, threshold 2, RSA-3072).
# Note: an executive's password must not contain the executive's name.
PW1=bench-exec-one-pass PW2=bench-exec-two-pass
printf '%s\n%s\n' "$PW1" "$PW2" > "$W/tmp/passwords"
printf '%s\n' "$PW1" > "$W/tmp/pw-tanaka"
printf '%s\n' "$PW2" > "$W/tmp/pw-sato"
B_STORE=$W/bcp-store B_MNT=$W/bcp-mnt B_PROFILE=$W/bcp-bench.toml
bcpvault_mnt() { echo "$B_MNT"; }
bcpvault_store() { echo "$B_STORE"; }
bcpvault_init() {
  set_aside "$B_STORE"; mkdir -p "$B_MNT"
  cat > "$B_PROFILE" <<EOF
# throwaway profile of bench/mount.sh
name = "bench"
store = "$B_STORE"
mountpoint = "$B_MNT"
readers = ["root"]

[kdf]   # cheap key derivation: the benchmark measures the data path, not Argon2
memory = "8 MiB"
iterations = 1
parallelism = 1
EOF
  run_cli "bcpvault init" "$BV" init "$B_PROFILE" --executive tanaka --executive sato \
    --threshold 2 --key-bits 3072 --password-stdin < "$W/tmp/passwords"
}
bcpvault_mount() {
  MOUNTED+=("$B_MNT")
  run_cli "bcpvault mount" "$BV" mount "$B_PROFILE" < /dev/null || return 1
  wait_mounted "$B_MNT" 30 || { CLI_ERR="bcpvault mount returned 0 but $B_MNT is not a mount point"; say "  $CLI_ERR"; return 1; }
  local i
  for i in $(seq 50); do   # up to 5 s for a pid file naming a live daemon (not a stale one)
    DPID=$(tr -dc '0-9' < "$B_STORE/daemon.pid" 2>/dev/null)
    [ -n "$DPID" ] && is_ours "$DPID" bcpvault && break
    sleep 0.1
  done
  if [ -n "$DPID" ] && is_ours "$DPID" bcpvault; then DAEMONS+=("$DPID:bcpvault")
  else say "  WARNING: no live bcpvault daemon pid in $B_STORE/daemon.pid: daemon CPU and RSS not measured"; DPID=""; fi
}
bcpvault_umount() {
  run_cli "bcpvault umount" "$BV" umount "$B_PROFILE" < /dev/null || return 1
  if [ -n "$DPID" ]; then
    wait_gone "$DPID" 120 || { CLI_ERR="bcpvault daemon (pid $DPID) did not exit after umount"; say "  $CLI_ERR"; return 1; }
  fi
  mountpoint -q "$B_MNT" && { CLI_ERR="bcpvault umount returned 0 but $B_MNT is still mounted"; say "  $CLI_ERR"; return 1; }
  DPID=""
}
bcpvault_unlock() {
  run_cli "bcpvault unlock (tanaka)" "$BV" unlock "$B_PROFILE" --executive tanaka --password-stdin < "$W/tmp/pw-tanaka" || return 1
  run_cli "bcpvault unlock (sato)" "$BV" unlock "$B_PROFILE" --executive sato --password-stdin < "$W/tmp/pw-sato" || return 1
}

# ---------------------------------------------------------------- one round of one tool
# abort TOOL: after a failure, leave no mount and no daemon behind
abort() {
  local m; m=$("$1_mnt")
  force_umount "$m"
  [ -n "$DPID" ] && stop_daemon "$DPID" "$1"
  DPID=""
}
fail_row() { # ROUND TOOL STEP NOTE: record an info step that failed (T_ROW set by info)
  record - - - "$T_STATUS" "$4"
}

run_tool() {
  local r=$1 t=$2 m s st note got entries hwm_all=0
  m=$("${t}_mnt"); s=$("${t}_store")
  LOG=$W/logs/$t-round$r.log
  DPID=""; CLI_ERR=""
  info "$r" "$t" init "${t}_init" || { fail_row "$r" "$t" init "$CLI_ERR"; abort "$t"; return; }
  record - - "$(bytes_of "$s")" ok "$([ "$t" = bcpvault ] && echo "RSA-3072 key ceremony, 2 of 2 executives, Argon2id 8 MiB x1" || echo "gocryptfs -init -scryptn 10")"
  info "$r" "$t" mount "${t}_mount" || { fail_row "$r" "$t" mount "$CLI_ERR"; abort "$t"; return; }
  record - - - ok "daemon pid ${DPID:-unknown}"

  # (a) sequential write of the big file, until close() returns
  timed "$r" "$t" write 1 "$LOG" -- dd if="$C/large.bin" of="$m/big" bs=1M status=none
  st=$T_STATUS; note="dd bs=1M, no fsync; + sync -f of the scratch fs"
  if [ "$st" = ok ]; then
    got=$(stat -c %s "$m/big" 2>/dev/null || echo missing)
    [ "$got" = "$LARGE_BYTES" ] || { st=wrong; note="$note; size after close: $got, expected $LARGE_BYTES"; }
  else note="$note; $(tail -1 "$LOG" | cut -c1-160)"; fi
  record "$LARGE_BYTES" 1 "$(bytes_of "$s")" "$st" "$note"
  [ "$(proc_hwm "$DPID")" != - ] && hwm_all=$(awk -v a="$hwm_all" -v b="$(proc_hwm "$DPID")" 'BEGIN {print (b > a ? b : a)}')

  # (b) cp -a of the small files
  timed "$r" "$t" smallfiles 1 "$LOG" -- cp -a "$C/tree" "$m/tree"
  st=$T_STATUS; note="cp -a; + sync -f of the scratch fs"
  if [ "$st" = ok ]; then
    manifest "$m/tree" > "$W/tmp/mnt.manifest" 2>> "$LOG"
    if cmp -s "$W/tmp/tree.manifest" "$W/tmp/mnt.manifest"; then note="$note; verify: names, sizes, modes, mtimes identical"
    else st=wrong; note="$note; verify FAILED: $(diff "$W/tmp/tree.manifest" "$W/tmp/mnt.manifest" | grep -c '^[<>]') manifest lines differ, first: $(diff "$W/tmp/tree.manifest" "$W/tmp/mnt.manifest" | grep -m1 '^[<>]' | cut -c1-120)"; fi
  else note="$note; $(tail -1 "$LOG" | cut -c1-160)"; fi
  record "$TREE_BYTES" "$TREE_FILES" "$(bytes_of "$s")" "$st" "$note"
  [ "$(proc_hwm "$DPID")" != - ] && hwm_all=$(awk -v a="$hwm_all" -v b="$(proc_hwm "$DPID")" 'BEGIN {print (b > a ? b : a)}')

  # (c) unmount, remount, ls -lR
  info "$r" "$t" umount "${t}_umount" || { fail_row "$r" "$t" umount "$CLI_ERR"; abort "$t"; return; }
  record - - "$(bytes_of "$s")" ok "after write + small files (seals, flushes, daemon exits)"
  drop_caches
  info "$r" "$t" remount "${t}_mount" || { fail_row "$r" "$t" remount "$CLI_ERR"; abort "$t"; return; }
  record - - - ok "daemon pid ${DPID:-unknown}; caches dropped before"
  : > "$W/tmp/ls.txt"
  timed "$r" "$t" ls_lR 0 "$W/tmp/ls.txt" -- ls -lR "$m"
  st=$T_STATUS
  entries=$(grep -cE '^[-dlpscb][-rwxsStT]{9}' "$W/tmp/ls.txt")
  note="ls -lR of the whole mount, fresh mount, cold caches; $entries entries listed (expected $ENTRIES_WANT)"
  [ "$st" = ok ] && [ "$entries" != "$ENTRIES_WANT" ] && st=wrong
  record - "$entries" - "$st" "$note"

  # (d) sequential read of the big file (bcpvault: unlocked view)
  if [ "$t" = bcpvault ]; then
    info "$r" "$t" unlock "${t}_unlock" || { fail_row "$r" "$t" unlock "$CLI_ERR"; abort "$t"; return; }
    record - - - ok "tanaka, then sato (2 of 2), one bcpvault unlock call each"
  fi
  timed "$r" "$t" read 0 "$LOG" -- dd if="$m/big" of=/dev/null bs=1M status=none
  st=$T_STATUS; note="dd bs=1M to /dev/null, fresh mount, cold caches"
  if [ "$st" = ok ]; then
    if cmp "$m/big" "$C/large.bin" >> "$LOG" 2>&1; then note="$note; verify: cmp identical"
    else st=wrong; note="$note; verify FAILED: $(tail -1 "$LOG" | cut -c1-120)"; fi
  else note="$note; $(tail -1 "$LOG" | cut -c1-160)"; fi
  record "$LARGE_BYTES" 1 - "$st" "$note"
  [ "$(proc_hwm "$DPID")" != - ] && hwm_all=$(awk -v a="$hwm_all" -v b="$(proc_hwm "$DPID")" 'BEGIN {print (b > a ? b : a)}')

  info "$r" "$t" umount2 "${t}_umount" || { fail_row "$r" "$t" umount2 "$CLI_ERR"; abort "$t"; return; }
  record - - "$(bytes_of "$s")" ok "end of round; highest daemon peak RSS over the steps: $((hwm_all / 1024)) MiB"
  rm -rf "$s"
}

START=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
  order=("${TOOL_LIST[@]}")
  if [ $((r % 2)) = 0 ] && [ ${#order[@]} = 2 ]; then order=("${order[1]}" "${order[0]}"); fi
  say "== round $r/$ROUNDS (${order[*]})"
  for t in "${order[@]}"; do run_tool "$r" "$t"; done
done
meta busy_after "$(busy_pct 3)% of all CPUs busy in a 3 s sample after the run, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
meta duration "$(( $(date +%s) - START )) s for $ROUNDS round(s), corpus generation excluded"
meta command "$ORIG_CMD"

# ---------------------------------------------------------------- report
rm -rf "$OUT/mount-logs"; cp -r "$W/logs" "$OUT/mount-logs"
"$PY" - "$TSV" "$META" "$OUT/mount-results.md" <<'EOF'
import csv, statistics, sys
tsv, meta_path, out = sys.argv[1:4]
rows = list(csv.DictReader(open(tsv), delimiter="\t"))
meta = [l.rstrip("\n").split("\t", 1) for l in open(meta_path) if "\t" in l]
TOOLS = ("bcpvault", "gocryptfs")
# step, label, rate unit, target (SPEC §11: at least as fast as gocryptfs) or informational
STEPS = [("write", "(a) sequential write, big file", "MB/s", True),
         ("smallfiles", "(b) cp -a small files", "files/s", True),
         ("ls_lR", "(c) ls -lR after remount", "entries/s", False),
         ("read", "(d) sequential read, big file", "MB/s", False)]

def num(x):
    try: return float(x)
    except (TypeError, ValueError): return None
def ok(tool, step): return [r for r in rows if r["tool"] == tool and r["step"] == step and r["status"] == "ok"]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def f(x, p=2): return "–" if x is None else f"{x:,.{p}f}"
def spread(xs, p=2):
    xs = [x for x in xs if x is not None]
    return "" if len(xs) < 2 else f" ({min(xs):,.{p}f}–{max(xs):,.{p}f})"

def rate(r, unit):
    w = num(r["wall_s"])
    if not w: return None
    if unit == "MB/s": return (num(r["bytes"]) or 0) / w / 1e6
    return (num(r["files"]) or 0) / w

L = ["# Mount benchmark: bcpvault vault drive vs gocryptfs\n"]
nrounds = len({r["round"] for r in rows})
L.append(f"Medians over {nrounds} round(s); in parentheses the min–max over the rounds. Time = wall seconds of the "
         "client command (`dd`, `cp -a`, `ls -lR`) until it exited, i.e. after close() returned; for (a) and (b) plus a "
         "`sync -f` of the scratch filesystem afterwards. Caches dropped before every step. Ratio = gocryptfs ÷ bcpvault "
         "(> 1: bcpvault is faster / leaner). CPU = client + FUSE daemon user+sys seconds. Peak RSS = VmHWM of the FUSE "
         "daemon during the step. MB/s = 10^6 bytes of plaintext per second.\n")
L.append("| step | bcpvault s | gocryptfs s | time ratio gocryptfs/bcpvault | bcpvault rate | gocryptfs rate | bcpvault CPU s | gocryptfs CPU s | bcpvault daemon peak RSS MiB | gocryptfs daemon peak RSS MiB | RSS ratio gocryptfs/bcpvault | bcpvault at least as fast? |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
verdicts = []
for step, label, unit, target in STEPS:
    m = {}
    for t in TOOLS:
        g = ok(t, step)
        m[t] = dict(wall=med([num(r["wall_s"]) for r in g]), walls=[num(r["wall_s"]) for r in g],
                    rate=med([rate(r, unit) for r in g]), rates=[rate(r, unit) for r in g],
                    cpu=med([(num(r["client_cpu_s"]) or 0) + (num(r["daemon_cpu_s"]) or 0) for r in g]),
                    rss=med([num(r["daemon_rss_kb"]) / 1024 for r in g if num(r["daemon_rss_kb"])]))
    b, g_ = m["bcpvault"], m["gocryptfs"]
    ratio = g_["wall"] / b["wall"] if b["wall"] and g_["wall"] else None
    rss_ratio = g_["rss"] / b["rss"] if b["rss"] and g_["rss"] else None
    v = "no data" if ratio is None else ("yes" if ratio >= 1 else "NO: slower")
    if not target: v += " (informational)"
    else: verdicts.append(v)
    p = 0 if unit != "MB/s" else 1
    L.append(f"| {label} | {f(b['wall'])}{spread(b['walls'])} | {f(g_['wall'])}{spread(g_['walls'])} | {f(ratio)}× | "
             f"{f(b['rate'], p)} {unit if b['rate'] else ''} | {f(g_['rate'], p)} {unit if g_['rate'] else ''} | "
             f"{f(b['cpu'], 1)} | {f(g_['cpu'], 1)} | {f(b['rss'], 0)} | {f(g_['rss'], 0)} | {f(rss_ratio)}× | {v} |")
L.append("")
target = ("not measured (no valid measurement of one tool)" if any(v.startswith("no data") for v in verdicts)
          else "met" if all(v == "yes" for v in verdicts) else "NOT met")
L.append(f"Target (SPEC §11: sequential write and small-file copy at least as fast as gocryptfs): **{target}**.\n")

L.append("| tool | init s | mount s | umount s (after writes) | remount s | unlock s | backing store after (a)+(b) ÷ plaintext |")
L.append("|---|---:|---:|---:|---:|---:|---:|")
for t in TOOLS:
    def mw(step): return med([num(r["wall_s"]) for r in ok(t, step)])
    st = med([num(r["store_bytes"]) for r in ok(t, "umount")])
    plain = med([(num(r["bytes"]) or 0) for r in ok(t, "write")] or [None])
    plain2 = med([(num(r["bytes"]) or 0) for r in ok(t, "smallfiles")] or [None])
    tot = (plain or 0) + (plain2 or 0)
    L.append(f"| {t} | {f(mw('init'))} | {f(mw('mount'))} | {f(mw('umount'))} | {f(mw('remount'))} | "
             f"{f(mw('unlock')) if t == 'bcpvault' else 'n/a'} | {f(st / tot if st and tot else None, 3)} |")
L.append("")

bad = [r for r in rows if r["status"] != "ok"]
if bad:
    L.append("**Failures:**\n")
    for r in bad: L.append(f"- round {r['round']} {r['tool']} {r['step']}: {r['status']}: {r['note']}")
    L.append("")

L.append("## Run\n")
for k, v in meta: L.append(f"- **{k}**: {v}")
L.append("- **noise**: `others' CPU s` below is CPU time the rest of the machine used while a step ran (from /proc/stat, "
         "minus the client's and the daemon's own CPU); large values mean the step competed with other work for the cores.\n")

L.append("## Every measurement\n")
L.append("| round | tool | step | wall s | command s | sync s | client CPU s | daemon CPU s | daemon peak RSS MiB | others' CPU s | load1 | MB | files | store MiB | status | note |")
L.append("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
for r in rows:
    rss = num(r["daemon_rss_kb"]); pb = num(r["bytes"]); sb = num(r["store_bytes"])
    L.append(f"| {r['round']} | {r['tool']} | {r['step']} | {r['wall_s']} | {r['tool_s']} | {r['sync_s']} | {r['client_cpu_s']} | "
             f"{r['daemon_cpu_s']} | {f(rss / 1024 if rss else None, 1)} | {r['others_cpu_s']} | {r['load1']} | "
             f"{f(pb / 1e6 if pb else None, 1)} | {r['files']} | {f(sb / 2**20 if sb else None, 1)} | {r['status']} | {r['note'].replace('|', '/')} |")
L.append("")
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
EOF
say "wrote $OUT/mount-results.md, $OUT/mount-results.tsv and $OUT/mount-logs/"
