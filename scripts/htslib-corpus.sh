#!/usr/bin/env bash
# Runs kasane coverage, qc, call and sv over every SAM/BAM/CRAM of htslib's test corpus (Debian's
# htslib-test package) and requires each run to finish cleanly or fail with one
# `kasane: error:` line: never a panic, an abort, a signal, a hang, or output left behind.
#
#   scripts/htslib-corpus.sh [CORPUS]     (default /usr/share/htslib-test/test)
#
# SAM files are converted with samtools twice: as they are (unsorted ones then test the
# sort-order error) and sorted with an index. call and sv get the .fa next to the file whose
# sequences cover every @SQ, else a generated reference (small headers) or nothing (skipped).
# Environment: KASANE (binary, default target/release/kasane), KASANE_CORPUS_TIMEOUT (seconds
# per run, default 60), KASANE_REQUIRE_HTSLIB_TEST=1 (a missing corpus or samtools is an error).
# Prints a table (file, command, result) and `corpus: N clean, M one-line errors, K failures`;
# exits non-zero on any failure.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true

corpus=${1:-/usr/share/htslib-test/test}
root=$(cd "$(dirname "$0")/.." && pwd)
kasane=${KASANE:-$root/target/release/kasane}
limit=${KASANE_CORPUS_TIMEOUT:-60}

missing() {
  if [ "${KASANE_REQUIRE_HTSLIB_TEST:-}" = 1 ]; then
    echo "htslib-corpus: $1 (KASANE_REQUIRE_HTSLIB_TEST=1)" >&2
    exit 1
  fi
  echo "htslib-corpus: $1: skipped"
  exit 0
}
[ -d "$corpus" ] || missing "no corpus at $corpus (apt-get install htslib-test)"
command -v samtools >/dev/null || missing "samtools not found"
[ -x "$kasane" ] || { echo "htslib-corpus: $kasane not built (cargo build --release)" >&2; exit 1; }

# No network: htslib would fetch CRAM references by MD5 from the EBI, and kasane reads
# REF_PATH as its -f default.
export REF_PATH=/nonexistent/%s REF_CACHE=/nonexistent/%s
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
clean=0 errors=0 failures=0 skipped=0
report=$work/failures.txt
: >"$report"

row() { printf '%-52s %-9s %s\n' "$1" "$2" "$3"; }

# The sequence names of FASTA $1, sorted.
fa_names() { sed -n 's/^>\([^[:space:]]*\).*/\1/p' "$1" | sort -u; }

# The @SQ names of alignment file $1, sorted (empty when samtools cannot read it).
sq_names() { samtools view -H "$1" 2>/dev/null | sed -n 's/^@SQ.*\tSN:\([^\t]*\).*/\1/p' | sort -u; }

# A reference for alignment file $1 (its corpus name in $2): the .fa beside it whose sequences
# cover every @SQ, else a generated one when the header is small; prints nothing if none.
reference_for() {
  local bam=$1 src=$2 dir base stem cand names
  names=$work/names.txt
  sq_names "$bam" >"$names"
  if ! [ -s "$names" ]; then
    # No @SQ (unmapped reads): any reference will do.
    [ -s "$work/tiny.fa" ] || printf '>tiny\nACGTACGTAC\n' >"$work/tiny.fa"
    echo "$work/tiny.fa"
    return 0
  fi
  dir=$(dirname "$src")
  base=$(basename "$src"); base=${base%.*}
  stem=${base%%#*}
  for cand in "$dir/$base.fa" "$dir/$stem.fa" "$dir/${stem%%[-_]*}.fa" "$dir/../$stem.fa" "$corpus/$stem.fa"; do
    if [ -f "$cand" ] && [ -z "$(comm -23 "$names" <(fa_names "$cand"))" ]; then
      # A copy with a .fai (the corpus has none, and coverage of CRAM needs one).
      local copy
      copy=$work/refs/$(printf '%s' "$cand" | md5sum | cut -c1-12).fa
      if ! [ -f "$copy" ]; then
        mkdir -p "$work/refs"
        cp "$cand" "$copy"
        samtools faidx "$copy" 2>/dev/null || true
      fi
      echo "$copy"
      return 0
    fi
  done
  # Generated: each @SQ as long as its LN, a fixed base pattern (no reference bases match the
  # reads, which is fine: the readers are under test, not the calls).
  local gen=$work/ref-$RANDOM$RANDOM.fa
  samtools view -H "$bam" 2>/dev/null | awk -F'\t' '
    /^@SQ/ { sn = ""; ln = 0
      for (i = 2; i <= NF; i++) { if ($i ~ /^SN:/) sn = substr($i, 4); if ($i ~ /^LN:/) ln = substr($i, 4) + 0 }
      total += ln; if (total > 5000000) exit 1
      print ">" sn; line = ""
      for (j = 0; j < ln; j++) { line = line substr("ACGTTGCAAGCT", j % 12 + 1, 1); if (length(line) == 60) { print line; line = "" } }
      if (line != "") print line }' >"$gen" || { rm -f "$gen"; return 0; }
  [ -s "$gen" ] && echo "$gen"
}

# Runs `kasane ARGS...` with output under a fresh folder (OUT in ARGS is replaced by it) and
# records the result for file $1 and command name $2.
judge() {
  local file=$1 name=$2; shift 2
  local out=$work/out args=() a rc=0 err why=""
  rm -rf "$out"; mkdir "$out"
  for a in "$@"; do args+=("${a//OUT/$out}"); done
  timeout -k 5 "$limit" env -u REF_PATH -u REF_CACHE -u RUST_BACKTRACE "$kasane" "${args[@]}" >/dev/null 2>"$work/stderr" </dev/null || rc=$?
  err=$(cat "$work/stderr")
  local lines; lines=$(printf '%s' "$err" | grep -c '' || true)
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    why="hang: killed after ${limit}s"
  elif [ "$rc" -gt 128 ]; then
    why="signal $((rc - 128)): $(head -n1 <<<"$err")"
  elif grep -q -e panicked -e RUST_BACKTRACE <<<"$err"; then
    why="panic (exit $rc): $(grep -m1 -A1 panicked <<<"$err" | tr '\n' ' ')"
  elif [ "$rc" != 0 ] && [ "$rc" != 1 ] && ! { [ "$name" = qc ] && [ "$rc" = 3 ]; }; then
    why="exit $rc: $(head -n1 <<<"$err")"
  elif find "$out" -name '*.kasane-tmp*' | grep -q .; then
    why="temporary files left: $(find "$out" -name '*.kasane-tmp*' | head -n3 | tr '\n' ' ')"
  elif [ "$rc" = 1 ]; then
    if [ "$lines" != 1 ] || ! [[ $err == "kasane: error: "* ]]; then
      why="$lines lines on stderr on failure: $(head -n2 <<<"$err" | tr '\n' '|')"
    elif [ -n "$(ls -A "$out")" ]; then
      why="output left after a failure: $(ls -A "$out" | tr '\n' ' ')"
    fi
  fi
  if [ -n "$why" ]; then
    failures=$((failures + 1))
    row "$file" "$name" "FAIL: ${why:0:200}"
    printf '%s\t%s\t%s\tkasane %s\n' "$file" "$name" "$why" "$*" >>"$report"
  elif [ "$rc" = 0 ]; then
    clean=$((clean + 1))
    row "$file" "$name" "ok"
  else
    errors=$((errors + 1))
    row "$file" "$name" "error: ${err#kasane: error: }"
  fi
}

# Runs the four commands on alignment file $1 (shown as $2; $3: the corpus file it came from).
run_all() {
  local bam=$1 shown=$2 src=$3 ref fasta=()
  ref=$(reference_for "$bam" "$src")
  [ -n "$ref" ] && fasta=(-f "$ref")
  judge "$shown" coverage coverage -t 2 "${fasta[@]}" OUT/o "$bam"
  # qc exits 3 when a sample fails its checks: a clean result too.
  judge "$shown" qc qc --backend cpu -t 2 "${fasta[@]}" -o OUT/q "$bam"
  if [ -z "$ref" ]; then
    skipped=$((skipped + 2))
    row "$shown" "call, sv" "skip: no reference"
    return
  fi
  judge "$shown" call call --backend cpu -t 2 -f "$ref" -o OUT/c.vcf.gz "$bam"
  judge "$shown" sv sv --backend cpu -t 2 -f "$ref" -o OUT/s.vcf.gz "$bam"
}

row FILE COMMAND RESULT
n=0
while IFS= read -r -d '' src; do
  n=$((n + 1))
  rel=${src#"$corpus"/}
  d=$work/in/$n
  mkdir -p "$d"
  case $src in
    *.sam | *.sam.gz)
      base=$(basename "$src"); base=${base%.gz}; base=${base%.sam}
      if samtools view -b -o "$d/$base.bam" "$src" 2>/dev/null; then
        run_all "$d/$base.bam" "$rel (as is)" "$src"
      else
        skipped=$((skipped + 1))
        row "$rel" "-" "skip: samtools cannot read it"
        continue
      fi
      if samtools sort -o "$d/$base.sorted.bam" "$src" 2>/dev/null; then
        samtools index "$d/$base.sorted.bam" 2>/dev/null || true
        run_all "$d/$base.sorted.bam" "$rel (sorted)" "$src"
      fi
      ;;
    *)
      # BAM and CRAM as they are, beside an index of their own when samtools can make one.
      cp "$src" "$d/"
      samtools index "$d/$(basename "$src")" 2>/dev/null || true
      run_all "$d/$(basename "$src")" "$rel" "$src"
      ;;
  esac
done < <(find "$corpus" -type f \( -name '*.sam' -o -name '*.sam.gz' -o -name '*.bam' -o -name '*.cram' \) -print0 | sort -z)

if [ -s "$report" ]; then
  echo
  echo "failures (file, command, why, replay):"
  cat "$report"
fi
echo "corpus: $clean clean, $errors one-line errors, $failures failures ($n files, $skipped runs skipped)"
[ "$failures" = 0 ]
