#!/usr/bin/env bash
# bench/repo.sh — repository benchmark: bcpvault against restic, same corpus, same disk, same run.
#
# Usage: bench/repo.sh [--rounds N] [--scale S] [--out DIR] [options]
#   --rounds N      rounds; each round runs every tool once, in alternating order (default 3)
#   --scale S       corpus scale, see bench/corpus.sh (1 = 512 MiB file + 5,000 small files; default 1)
#   --out DIR       where results.md / results.tsv / logs go (default: bench/results)
#   --workdir DIR   scratch directory for corpus, repositories and restores; must not be tmpfs
#                   (default: a new mktemp dir under /var/tmp, removed at the end)
#   --keep          keep the scratch directory
#   --bin PATH      use this bcpvault binary instead of building one
#   --no-build      do not run `cargo build --release`; use the existing target/release/bcpvault
#   --no-install    never apt-get install missing tools (restic, time, openssl, python3)
#   --step-timeout S  seconds before a timed step is killed (default 1200)
#
# Per round and tool (outside the timing: corpus reset/mutation, verification, cleanup):
#   init fresh repository  ->  first backup  ->  mutate 1% (bench/corpus.sh mutate)  ->
#   incremental backup  ->  full restore into an empty directory  ->  verify restored == corpus
# Every timed step: `sync; echo 3 > /proc/sys/vm/drop_caches` first (when permitted), then
# `/usr/bin/time` around the tool alone (wall, peak RSS, CPU), then `sync -f` of the scratch
# filesystem, whose time is added to the wall time (data on disk, not only in the page cache).
# The report (median per step and tool, ratios restic/bcpvault) is printed and written to
# <out>/results.md. Run as root for drop_caches and package installation.
set -uo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ORIG_CMD="bench/repo.sh $*"

ROUNDS=3 SCALE=1 OUT=$HERE/results WORKDIR="" KEEP=0 BIN="" BUILD=1 INSTALL=1 STEP_TIMEOUT=1200
usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "repo.sh: $1 needs a value" >&2; exit 2; }; }
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
    *) echo "repo.sh: unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "repo.sh: --rounds must be a positive integer" >&2; exit 2; }

say() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- tools
need_pkgs=()
for pair in restic:restic /usr/bin/time:time openssl:openssl python3:python3 diff:diffutils; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_pkgs+=("${pair#*:}")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  [ "$INSTALL" = 1 ] || die "missing: ${need_pkgs[*]} (and --no-install given)"
  [ "$(id -u)" = 0 ] || die "missing: ${need_pkgs[*]}; run as root or install them: apt-get install -y ${need_pkgs[*]}"
  say "installing: ${need_pkgs[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"; } >&2 \
    || die "apt-get install ${need_pkgs[*]} failed"
fi
PY=$(command -v python3)

if [ -z "$BIN" ]; then
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/bcpvault
  if [ "$BUILD" = 1 ]; then
    command -v cargo >/dev/null || die "cargo not found (install Rust, or pass --bin PATH)"
    say "building: cargo build --release (in $ROOT)"
    (cd "$ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
  fi
fi
[ -x "$BIN" ] || die "no bcpvault binary at $BIN"

# ---------------------------------------------------------------- scratch space
if [ -z "$WORKDIR" ]; then
  W=$(mktemp -d /var/tmp/bcpvault-bench.XXXXXX) || die "mktemp under /var/tmp failed"
else
  W=$WORKDIR; mkdir -p "$W" || die "cannot create $W"
fi
W=$(cd "$W" && pwd -P)
FSTYPE=$(df -T "$W" | awk 'NR==2 {print $2}')
case $FSTYPE in tmpfs|ramfs) die "$W is on $FSTYPE: use a disk-backed --workdir" ;; esac
mkdir -p "$W"/{bin,logs,tmp} "$OUT" || die "cannot create $W or $OUT"
OUT=$(cd "$OUT" && pwd -P)
C=$W/corpus
cleanup() {
  local rc=$?
  if [ "$KEEP" = 1 ]; then say "kept scratch directory $W"
  else rm -rf "$W"; fi
  exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# a private copy, so that a concurrent rebuild of target/ cannot swap the binary mid-run
cp "$BIN" "$W/bin/bcpvault" || die "cannot copy $BIN"
BV=$W/bin/bcpvault

TSV=$OUT/results.tsv
META=$W/logs/meta.tsv; : > "$META"
meta() { printf '%s\t%s\n' "$1" "$2" >> "$META"; }
printf 'round\ttool\tstep\twall_s\ttool_s\tsync_s\trss_kb\tuser_s\tsys_s\tothers_cpu_s\tload1\tbytes\tfiles\trepo_bytes\tstatus\tnote\n' > "$TSV"

cpu_busy() { awk '/^cpu / {printf "%d", $2+$3+$4+$7+$8+$9}' /proc/stat; }
cpu_total() { awk '/^cpu / {printf "%d", $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
TCK=$(getconf CLK_TCK)
busy_pct() { local b0 t0 b1 t1; b0=$(cpu_busy); t0=$(cpu_total); sleep "$1"; b1=$(cpu_busy); t1=$(cpu_total)
  awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.0f", t ? 100 * b / t : 0}'; }

CAN_DROP=0
if [ "$(id -u)" = 0 ] && ( sync; echo 3 > /proc/sys/vm/drop_caches ) 2>/dev/null; then CAN_DROP=1; fi
drop_caches() { sync; [ "$CAN_DROP" = 1 ] && echo 3 > /proc/sys/vm/drop_caches; return 0; }

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")
dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta machine "$(lscpu 2>/dev/null | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
meta disk "$FSTYPE on $(df "$W" | awk 'NR==2 {print $1}') ($W): corpus, repositories and restores on the same filesystem"
meta bcpvault "$("$BV" --version 2>/dev/null | head -1); commit $commit$([ "$dirty" -gt 0 ] && echo " + uncommitted changes in $dirty tracked file(s)"); binary sha256 $(sha256sum "$BV" | cut -c1-12)"
meta restic "$(restic version 2>/dev/null | head -1)"
meta drop_caches "$([ "$CAN_DROP" = 1 ] && echo "yes: sync + echo 3 > /proc/sys/vm/drop_caches before every timed step" || echo "NOT permitted: caches are warm for both tools alike")"
meta busy_before "$(busy_pct 3)% of all CPUs busy in a 3 s sample before the run (other users of the machine), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- corpus
say "corpus: $C (scale $SCALE)"
"$HERE/corpus.sh" gen "$C" "$SCALE" || die "corpus generation failed"
read -r PRISTINE_BYTES PRISTINE_FILES PRISTINE_DIRS < <("$HERE/corpus.sh" stats "$C")
meta corpus "scale $SCALE: $PRISTINE_BYTES bytes in $PRISTINE_FILES files, $((PRISTINE_DIRS - 1)) folders incl. tree/ (large.bin $(stat -c %s "$C/large.bin") bytes)"

# ---------------------------------------------------------------- timed steps
PW1=bench-exec-one-pass PW2=bench-exec-two-pass
printf '%s\n%s\n' "$PW1" "$PW2" > "$W/tmp/passwords"
export RESTIC_PASSWORD=bench-restic-password

# timed ROUND TOOL STEP STDIN LOG -- CMD...   (sets T_STATUS)
timed() {
  local round=$1 tool=$2 step=$3 stdin=$4 log=$5; shift 6
  local tf=$W/tmp/time.out b0 b1 s0 s1 rc wall tool_s rss user sys others load
  drop_caches
  load=$(cut -d' ' -f1 /proc/loadavg)
  printf '+ %s\n' "$*" >> "$log"
  b0=$(cpu_busy)
  timeout "$STEP_TIMEOUT" /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" < "$stdin" >> "$log" 2>&1; rc=$?
  s0=$(date +%s.%N); sync -f "$W"; s1=$(date +%s.%N)
  b1=$(cpu_busy)
  read -r tool_s rss user sys < <(grep -E '^[0-9.]+ [0-9]+ [0-9.]+ [0-9.]+$' "$tf" | tail -1)
  tool_s=${tool_s:--}; rss=${rss:--}; user=${user:-0}; sys=${sys:-0}
  wall=$(awk -v a="$tool_s" -v s0="$s0" -v s1="$s1" 'BEGIN {printf "%.2f", a + s1 - s0}')
  # CPU time the rest of the machine used while this step ran (noise indicator)
  others=$(awk -v b=$((b1 - b0)) -v t="$TCK" -v u="$user" -v s="$sys" 'BEGIN {o = b / t - u - s; printf "%.1f", o < 0 ? 0 : o}')
  T_STATUS=ok; [ "$rc" = 0 ] || T_STATUS="fail(rc=$rc)"
  [ "$rc" = 124 ] && T_STATUS="timeout(${STEP_TIMEOUT}s)"
  T_ROW="$round	$tool	$step	$wall	$tool_s	$(awk -v a="$s0" -v b="$s1" 'BEGIN {printf "%.2f", b - a}')	$rss	$user	$sys	$others	$load"
  say "  $tool $step: $T_STATUS, ${wall}s (tool ${tool_s}s), peak RSS $(awk -v k="$rss" 'BEGIN {printf "%.0f", k / 1024}') MiB, cpu $(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')s, others' cpu ${others}s"
  [ "$rc" = 0 ]
}
record() { # BYTES FILES REPO_BYTES STATUS NOTE   (after timed)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$T_ROW" "$1" "$2" "$3" "$4" "$5" >> "$TSV"
}
bytes_of() { du -sb "$1" 2>/dev/null | cut -f1; }

# verify TARGET_ROOT: the restored copy of $C is TARGET_ROOT$C (both tools restore absolute paths)
verify() {
  local got=$1$C a b nd
  [ -d "$got" ] || { echo "FAILED: $got missing"; return 1; }
  if ! diff -rq "$C" "$got" > "$W/tmp/diff.txt" 2>&1; then
    echo "FAILED: contents differ ($(wc -l < "$W/tmp/diff.txt") entries, first: $(head -1 "$W/tmp/diff.txt"))"; return 1
  fi
  a=$(cd "$C" && find . -type f -printf '%P %s %m %T@\n' | sed 's/\.[0-9]*$//' | sort | sha256sum)
  b=$(cd "$got" && find . -type f -printf '%P %s %m %T@\n' | sed 's/\.[0-9]*$//' | sort | sha256sum)
  nd=$(diff <(cd "$C" && find . -type d -printf '%P %m %T@\n' | sed 's/\.[0-9]*$//' | sort) \
            <(cd "$got" && find . -type d -printf '%P %m %T@\n' | sed 's/\.[0-9]*$//' | sort) | grep -c '^<')
  if [ "$a" = "$b" ]; then
    echo "identical (diff -r; file size/mode/mtime equal$([ "$nd" -gt 0 ] && echo "; $nd folder mode/mtime(s) differ"))"
  else
    echo "identical contents (diff -r) but file size/mode/mtime differ"
  fi
}

run_bcpvault() {
  local r=$1 d=$W/bcpvault log=$W/logs/bcpvault-round$r.log note
  rm -rf "$d"; mkdir -p "$d"
  cat > "$d/bench.toml" <<EOF
# throwaway profile of bench/repo.sh
name = "bench"
store = "$d/store"

[kdf]   # cheap key derivation: the benchmark measures the data path, not Argon2
memory = "8 MiB"
iterations = 1
parallelism = 1
EOF
  timed "$r" bcpvault init "$W/tmp/passwords" "$log" -- "$BV" init "$d/bench.toml" --executive tanaka --executive sato \
    --threshold 2 --key-bits 3072 --password-stdin
  record - - "$(bytes_of "$d/store")" "$T_STATUS" "RSA-3072 key ceremony, 2 of 2 executives, Argon2id 8 MiB x1"
  [ "$T_STATUS" = ok ] || { rm -rf "$d"; return; }
  timed "$r" bcpvault backup /dev/null "$log" -- "$BV" backup "$d/bench.toml" "$C"
  record "$PRISTINE_BYTES" "$PRISTINE_FILES" "$(bytes_of "$d/store")" "$T_STATUS" "$(tail -1 "$log" | cut -c1-160)"
  [ "$T_STATUS" = ok ] || { rm -rf "$d"; return; }
  "$HERE/corpus.sh" mutate "$C" "$r" 2>> "$log" || die "corpus mutation failed"
  read -r MB MF _ < <("$HERE/corpus.sh" stats "$C")
  timed "$r" bcpvault incremental /dev/null "$log" -- "$BV" backup "$d/bench.toml" "$C"
  record "$MB" "$MF" "$(bytes_of "$d/store")" "$T_STATUS" "$(tail -1 "$log" | cut -c1-160)"
  timed "$r" bcpvault restore "$W/tmp/passwords" "$log" -- "$BV" restore "$d/bench.toml" "$d/restore" \
    --executive tanaka --executive sato --password-stdin
  local st=$T_STATUS
  if [ "$st" = ok ]; then note="verify: $(verify "$d/restore")"; else note="$(tail -1 "$log" | cut -c1-200)"; fi
  case $note in "verify: FAILED"*) st=wrong ;; esac
  record "$MB" "$MF" - "$st" "$note"
  say "  bcpvault $note"
  rm -rf "$d"
}

run_restic() {
  local r=$1 d=$W/restic log=$W/logs/restic-round$r.log note
  rm -rf "$d"; mkdir -p "$d"
  export RESTIC_REPOSITORY=$d/repo RESTIC_CACHE_DIR=$d/cache
  timed "$r" restic init /dev/null "$log" -- restic init --repository-version 2
  record - - "$(bytes_of "$d/repo")" "$T_STATUS" "repository v2 (zstd auto), local backend, cache in the scratch dir"
  [ "$T_STATUS" = ok ] || { rm -rf "$d"; return; }
  timed "$r" restic backup /dev/null "$log" -- restic backup "$C"
  record "$PRISTINE_BYTES" "$PRISTINE_FILES" "$(bytes_of "$d/repo")" "$T_STATUS" "$(grep -E '^(Added|processed)' "$log" | tail -2 | tr '\n' ';' | cut -c1-160)"
  [ "$T_STATUS" = ok ] || { rm -rf "$d"; return; }
  "$HERE/corpus.sh" mutate "$C" "$r" 2>> "$log" || die "corpus mutation failed"
  read -r MB MF _ < <("$HERE/corpus.sh" stats "$C")
  timed "$r" restic incremental /dev/null "$log" -- restic backup "$C"
  record "$MB" "$MF" "$(bytes_of "$d/repo")" "$T_STATUS" "$(grep -E '^(Added|processed)' "$log" | tail -2 | tr '\n' ';' | cut -c1-160)"
  timed "$r" restic restore /dev/null "$log" -- restic restore latest --target "$d/restore"
  local st=$T_STATUS
  if [ "$st" = ok ]; then note="verify: $(verify "$d/restore")"; else note="$(tail -1 "$log" | cut -c1-200)"; fi
  case $note in "verify: FAILED"*) st=wrong ;; esac
  record "$MB" "$MF" - "$st" "$note"
  say "  restic $note"
  rm -rf "$d"
}

START=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="bcpvault restic"; else order="restic bcpvault"; fi
  say "== round $r/$ROUNDS ($order)"
  for tool in $order; do
    "$HERE/corpus.sh" reset "$C" || die "corpus reset failed"
    "run_$tool" "$r"
  done
done
"$HERE/corpus.sh" reset "$C" >/dev/null 2>&1
meta busy_after "$(busy_pct 3)% of all CPUs busy in a 3 s sample after the run, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
meta duration "$(( $(date +%s) - START )) s for $ROUNDS round(s), corpus generation excluded"
meta command "$ORIG_CMD"

# ---------------------------------------------------------------- report
rm -rf "$OUT/logs"; cp -r "$W/logs" "$OUT/logs"
"$PY" - "$TSV" "$META" "$OUT/results.md" <<'EOF'
import csv, statistics, sys
tsv, meta_path, out = sys.argv[1:4]
rows = list(csv.DictReader(open(tsv), delimiter="\t"))
meta = [l.rstrip("\n").split("\t", 1) for l in open(meta_path) if "\t" in l]
TOOLS = ("bcpvault", "restic")
STEPS = [("backup", "first backup"), ("incremental", "incremental (1% changed)"), ("restore", "full restore")]

def num(x):
    try: return float(x)
    except (TypeError, ValueError): return None
def ok(tool, step): return [r for r in rows if r["tool"] == tool and r["step"] == step and r["status"] == "ok"]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def f(x, p=2): return "–" if x is None else f"{x:,.{p}f}"
def spread(xs):
    xs = [x for x in xs if x is not None]
    return "" if len(xs) < 2 else f" ({min(xs):.2f}–{max(xs):.2f})"

L = ["# bcpvault vs restic: backup, incremental backup, restore\n"]
nrounds = len({r["round"] for r in rows})
L.append(f"Medians over {nrounds} round(s); in parentheses the min–max over the rounds. Time = wall seconds of the tool "
         "plus `sync -f` of the scratch filesystem afterwards; caches dropped before every step (see below). "
         "Ratio = restic ÷ bcpvault (> 1: bcpvault is faster / smaller). Peak RSS = max resident set of the tool process "
         "(`/usr/bin/time %M`). MB/s = 10^6 bytes of plaintext corpus per second.\n")
L.append("| step | bcpvault s | restic s | time ratio restic/bcpvault | bcpvault MB/s | restic MB/s | bcpvault CPU s | restic CPU s | bcpvault peak RSS MiB | restic peak RSS MiB | RSS ratio restic/bcpvault | bcpvault faster and leaner? |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
verdicts = []
for step, label in STEPS:
    cells, m = [], {}
    for t in TOOLS:
        g = ok(t, step)
        m[t] = dict(
            wall=med([num(r["wall_s"]) for r in g]), walls=[num(r["wall_s"]) for r in g],
            cpu=med([(num(r["user_s"]) or 0) + (num(r["sys_s"]) or 0) for r in g]),
            rss=med([num(r["rss_kb"]) / 1024 for r in g if num(r["rss_kb"])]),
            bytes=med([num(r["bytes"]) for r in g]), n=len(g))
    b, r_ = m["bcpvault"], m["restic"]
    ratio = r_["wall"] / b["wall"] if b["wall"] and r_["wall"] else None
    rss_ratio = r_["rss"] / b["rss"] if b["rss"] and r_["rss"] else None
    def mbs(x):
        return None if step == "incremental" or not (x["bytes"] and x["wall"]) else x["bytes"] / x["wall"] / 1e6
    if ratio is None or rss_ratio is None: v = "no data"
    else:
        v = ("yes" if ratio > 1 and rss_ratio > 1 else
             "NO: " + ", ".join(w for w, bad in (("slower", ratio <= 1), ("more RSS", rss_ratio <= 1)) if bad))
    verdicts.append(v)
    L.append(f"| {label} | {f(b['wall'])}{spread(b['walls'])} | {f(r_['wall'])}{spread(r_['walls'])} | {f(ratio)}× | "
             f"{f(mbs(b), 1)} | {f(mbs(r_), 1)} | {f(b['cpu'], 1)} | {f(r_['cpu'], 1)} | {f(b['rss'], 0)} | {f(r_['rss'], 0)} | "
             f"{f(rss_ratio)}× | {v} |")
L.append("")
allrss = {t: max([num(r["rss_kb"]) / 1024 for r in rows if r["tool"] == t and r["step"] in ("backup", "incremental", "restore") and num(r["rss_kb"])] or [0]) for t in TOOLS}
L.append(f"Target (faster than restic on all three steps and lower peak RSS): **{'met' if all(v == 'yes' for v in verdicts) else 'NOT met'}**. "
         f"Highest peak RSS of any step and round: bcpvault {allrss['bcpvault']:.0f} MiB, restic {allrss['restic']:.0f} MiB.\n")

# repository size and init
L.append("| tool | init s (median) | repository after first backup | after incremental | repository ÷ plaintext (after incremental) |")
L.append("|---|---:|---:|---:|---:|")
for t in TOOLS:
    ini = med([num(r["wall_s"]) for r in ok(t, "init")])
    b1 = med([num(r["repo_bytes"]) for r in ok(t, "backup")])
    b2 = med([num(r["repo_bytes"]) for r in ok(t, "incremental")])
    pb = med([num(r["bytes"]) for r in ok(t, "incremental")])
    L.append(f"| {t} | {f(ini)} | {f(b1 / 2**20 if b1 else None, 1)} MiB | {f(b2 / 2**20 if b2 else None, 1)} MiB | {f(b2 / pb if b2 and pb else None, 3)} |")
L.append("")

bad = [r for r in rows if r["status"] != "ok"]
if bad:
    L.append("**Failures:**\n")
    for r in bad: L.append(f"- round {r['round']} {r['tool']} {r['step']}: {r['status']}: {r['note']}")
    L.append("")

L.append("## Run\n")
for k, v in meta: L.append(f"- **{k}**: {v}")
L.append("- **noise**: `others' CPU s` below is CPU time the rest of the machine used while a step ran (from /proc/stat, "
         "minus the tool's own user+sys); large values mean the step competed with other work for the cores.\n")

L.append("## Every measurement\n")
L.append("| round | tool | step | wall s | tool s | sync s | peak RSS MiB | user s | sys s | others' CPU s | load1 | plaintext MB | repo MiB | status | note |")
L.append("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
for r in rows:
    rss = num(r["rss_kb"]); pb = num(r["bytes"]); rb = num(r["repo_bytes"])
    L.append(f"| {r['round']} | {r['tool']} | {r['step']} | {r['wall_s']} | {r['tool_s']} | {r['sync_s']} | {f(rss / 1024 if rss else None, 1)} | "
             f"{r['user_s']} | {r['sys_s']} | {r['others_cpu_s']} | {r['load1']} | {f(pb / 1e6 if pb else None, 1)} | "
             f"{f(rb / 2**20 if rb else None, 1)} | {r['status']} | {r['note'].replace('|', '/')} |")
L.append("")
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
EOF
say "wrote $OUT/results.md, $OUT/results.tsv and $OUT/logs/"
