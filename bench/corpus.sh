#!/usr/bin/env bash
# bench/corpus.sh — deterministic test corpus for bench/repo.sh.
#
#   corpus.sh gen DIR [SCALE]      build the corpus in DIR (reused when DIR is already pristine at SCALE)
#   corpus.sh mutate DIR [ROUND]   change ~1%: 4 KiB rewritten in 1% of the small files, 1% appended
#                                  to the large file; the originals are kept so that `reset` can undo it
#   corpus.sh reset DIR            undo the last mutation (back to the pristine corpus)
#   corpus.sh stats DIR            print "BYTES FILES DIRS"
#
# Shape at SCALE 1 (the shape of the shared peer-benchmark corpus, own generator):
#   DIR/large.bin   512 MiB, incompressible (ChaCha20 keystream of a fixed key)
#   DIR/tree/...    5,000 small files, sizes log-uniform in 1 KiB..256 KiB (~225 MiB in all),
#                   in 50 folders at most 4 levels deep; every second file is text-like
#                   (compressible: words, CSV rows), the others random bytes; all mtimes
#                   are 2024-01-01 00:00 UTC.
# SCALE (1, 0.5, 1/8, ...) scales the large file and the file and folder counts, not the
# per-file size distribution. Bookkeeping lives next to DIR (DIR.state, DIR.undo/), never in it.
# Needs bash, coreutils, openssl, python3.
set -euo pipefail

PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "corpus.sh: python3 is needed" >&2; exit 1; }

die() { echo "corpus.sh: $*" >&2; exit 1; }
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# stream BYTES LABEL: BYTES of ChaCha20 keystream; every label has its own key, so data that
# `mutate` appends never repeats earlier data (a dedup engine must really store it).
stream() {
  local key
  key=$(printf 'bcpvault-bench/%s' "$2" | sha256sum | cut -c1-64)
  head -c "$1" /dev/zero | openssl enc -chacha20 -K "$key" -iv 00000000000000000000000000000000 2>/dev/null
}

shape() { # SCALE -> "large_bytes nfiles nfolders"
  "$PY" - "$1" <<'EOF'
import sys
from fractions import Fraction
s = Fraction(sys.argv[1])
if not 0 < s <= 4:
    sys.exit("corpus.sh: SCALE must be in (0, 4]")
mib = 1 << 20
print(max(1, round(512 * s)) * mib, max(40, round(5000 * s)), max(8, round(50 * s)))
EOF
}

cmd_gen() {
  local dir=${1%/} scale=${2:-1} large nfiles nfolders want
  read -r large nfiles nfolders < <(shape "$scale")
  want="pristine scale=$scale large=$large files=$nfiles folders=$nfolders"
  if [ -f "$dir.state" ] && [ "$(cat "$dir.state")" = "$want" ] && [ -d "$dir/tree" ]; then
    echo "corpus: $dir is already pristine ($want)" >&2
    return 0
  fi
  echo "corpus: generating $dir ($want)" >&2
  rm -rf "$dir" "$dir.state" "$dir.undo"
  mkdir -p "$dir/tree"
  stream "$large" large > "$dir/large.bin"
  [ "$(stat -c %s "$dir/large.bin")" = "$large" ] || die "openssl produced a short large.bin"
  touch -m -d '2024-01-01 00:00:00 UTC' "$dir/large.bin"
  "$PY" - "$dir/tree" "$nfiles" "$nfolders" <<'EOF'
import math, os, random, sys

top, nfiles, nfolders = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random("bcpvault-bench-corpus-v1")
EPOCH = 1704067200  # 2024-01-01T00:00:00Z

WORDS = """account action agenda agreement amount annual approval april archive asset audit august
balance bank board branch budget business calendar capital case cash claim client closing committee
contract copy cost credit customer data deadline december delivery department deposit draft due
employee estimate expense february figure final finance forecast fund general goods growth income
insurance inventory invoice issue item january july june ledger legal license loan manager march
market may meeting memo minutes month monthly net note november october office order overview owner
payment payroll pending plan policy price product profit project proposal purchase quarter quote
receipt record region renewal report request review revenue risk salary sales schedule section
september service share signed staff status stock summary supplier table target tax team total
training transfer travel update vendor week weekly year""".split()
GLUE = "a an and as at by for from in is of on or the to with we our this that".split()
TOP = ["accounting", "admin", "board", "contracts", "engineering", "hr", "it", "legal",
       "marketing", "operations", "projects", "purchasing", "sales", "shared"]

# folders: grown one at a time under a random existing folder, depth <= 4
folders = []
for i in range(nfolders):
    parents = [f for f in folders if f.count("/") < 3]
    if not folders or rng.random() < 0.2:
        path = "%s-%02d" % (rng.choice(TOP), i)
    else:
        path = "%s/%s-%02d" % (rng.choice(parents), rng.choice(WORDS), i)
    folders.append(path)
    os.makedirs(os.path.join(top, path))

def text(n):
    """About n bytes of office-like text: prose lines and CSV rows."""
    out, size = [], 0
    while size < n:
        if rng.random() < 0.3:
            cols = [rng.choice(WORDS), "%d" % rng.randrange(1, 100000),
                    "%.2f" % rng.uniform(0, 50000), rng.choice(WORDS), "2024-%02d-%02d" % (rng.randint(1, 12), rng.randint(1, 28))]
            line = ";".join(cols)
        else:
            k = rng.randint(5, 16)
            ws = rng.choices(WORDS, k=k)
            for j in range(1, k, 3):
                ws[j] = rng.choice(GLUE)
            line = " ".join(ws)
            line = line[0].upper() + line[1:] + "."
        out.append(line)
        size += len(line) + 1
    return "\n".join(out).encode()[:n]

BIN = [".bin", ".jpg", ".pdf", ".zip", ".xlsx"]
TXT = [".txt", ".csv", ".md", ".log"]
lo, hi = math.log(1024), math.log(256 * 1024)
for i in range(nfiles):
    n = int(math.exp(rng.uniform(lo, hi)))
    is_text = i % 2 == 0
    name = "%s-%04d%s" % (rng.choice(WORDS), i, rng.choice(TXT if is_text else BIN))
    path = os.path.join(top, rng.choice(folders), name)
    with open(path, "wb") as fh:
        fh.write(text(n) if is_text else rng.randbytes(n))
    os.utime(path, (EPOCH, EPOCH))
for f in sorted(folders, key=lambda p: -p.count("/")):
    os.utime(os.path.join(top, f), (EPOCH, EPOCH))
EOF
  echo "$want" > "$dir.state"
  echo "corpus: ready: $(cmd_stats "$dir") (bytes files dirs)" >&2
}

cmd_mutate() {
  local dir=${1%/} round=${2:-1} state size add
  [ -f "$dir.state" ] || die "$dir.state missing: not a corpus made by this script"
  state=$(cat "$dir.state")
  [ "${state%% *}" = pristine ] || cmd_reset "$dir"
  state=$(cat "$dir.state")
  rm -rf "$dir.undo"; mkdir -p "$dir.undo/files"
  size=$(stat -c %s "$dir/large.bin")
  echo "$size" > "$dir.undo/large.size"
  add=$(( (size / 100 + 4095) / 4096 * 4096 ))
  stream "$add" "append-$round" >> "$dir/large.bin"
  touch -m -d "2024-03-$(printf '%02d' $(( round % 28 + 1 ))) 00:00:00 UTC" "$dir/large.bin"
  "$PY" - "$dir/tree" "$dir.undo/files" "$round" <<'EOF'
import os, random, shutil, sys
top, undo, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = sorted(os.path.relpath(os.path.join(d, f), top) for d, _, fs in os.walk(top) for f in fs)
rng = random.Random("bcpvault-bench-mutate-%d" % rnd)
chosen = rng.sample(paths, max(1, len(paths) // 100))
stamp = 1704067200 + 86400 * (60 + rnd)
with open(os.path.join(undo, "list"), "w") as lst:
    for k, rel in enumerate(chosen):
        src = os.path.join(top, rel)
        shutil.copy2(src, os.path.join(undo, "%05d" % k))
        lst.write(rel + "\n")
        size = os.path.getsize(src)
        n = min(4096, size)
        with open(src, "r+b") as fh:
            fh.seek(rng.randrange(0, size - n + 1))
            fh.write(rng.randbytes(n))
        os.utime(src, (stamp, stamp))
print("corpus: rewrote 4 KiB in %d of %d small files" % (len(chosen), len(paths)), file=sys.stderr)
EOF
  echo "${state/pristine/mutated round=$round}" > "$dir.state"
  echo "corpus: appended $add bytes to large.bin; now $(cmd_stats "$dir") (bytes files dirs)" >&2
}

cmd_reset() {
  local dir=${1%/} state
  [ -f "$dir.state" ] || die "$dir.state missing: not a corpus made by this script"
  state=$(cat "$dir.state")
  [ "${state%% *}" = pristine ] && return 0
  [ -f "$dir.undo/large.size" ] || die "$dir.undo is incomplete: regenerate with: corpus.sh gen $dir"
  truncate -s "$(cat "$dir.undo/large.size")" "$dir/large.bin"
  touch -m -d '2024-01-01 00:00:00 UTC' "$dir/large.bin"
  "$PY" - "$dir/tree" "$dir.undo/files" <<'EOF'
import os, shutil, sys
top, undo = sys.argv[1], sys.argv[2]
with open(os.path.join(undo, "list")) as lst:
    for k, rel in enumerate(l.rstrip("\n") for l in lst):
        shutil.copy2(os.path.join(undo, "%05d" % k), os.path.join(top, rel))
EOF
  rm -rf "$dir.undo"
  echo "pristine ${state#* round=* }" > "$dir.state"
  echo "corpus: reset $dir to pristine" >&2
}

cmd_stats() {
  local dir=${1%/}
  find "$dir" -printf '%y %s\n' | awk '$1=="f" {b+=$2; f++} $1=="d" {d++} END {printf "%d %d %d\n", b, f, d}'
}

[ $# -ge 1 ] || usage
op=$1; shift
case $op in
  gen) [ $# -ge 1 ] || usage; cmd_gen "$@" ;;
  mutate) [ $# -ge 1 ] || usage; cmd_mutate "$@" ;;
  reset) [ $# -ge 1 ] || usage; cmd_reset "$1" ;;
  stats) [ $# -ge 1 ] || usage; cmd_stats "$1" ;;
  -h|--help) usage ;;
  *) usage ;;
esac
