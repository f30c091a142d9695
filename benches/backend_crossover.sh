#!/usr/bin/env bash
# Where does a GPU backend start to pay for itself in `kasane coverage`?
#
#   benches/backend_crossover.sh BAM [THREADS] [-- extra coverage options]
#
# Subsamples BAM (samtools view -s) to several sizes, times `kasane coverage` on each size with
# every backend this machine offers (best of 3 wall-clock runs), checks that every backend wrote
# byte-identical files, and prints the input size from which each GPU backend is no slower than
# the CPU. That size is what `auto` uses (KASANE_GPU_MIN_BYTES; default in
# engine/crates/backend/src/backend/mod.rs: GPU_MIN_BYTES).
set -euo pipefail
bam=${1:?usage: backend_crossover.sh BAM [THREADS] [-- opts]}
threads=${2:-$(nproc)}
shift $(( $# >= 2 ? 2 : 1 ))
[ "${1:-}" = "--" ] && shift
extra=("$@")
root=$(cd "$(dirname "$0")/.." && pwd)
kasane=${KASANE:-$root/target/release/kasane}
[ -x "$kasane" ] || (cd "$root" && cargo build --release --quiet)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

backends=(cpu)
for b in cuda wgpu; do
  if "$kasane" backends | awk -v b="$b" '$1==b && $2=="available"' | grep -q .; then backends+=("$b"); fi
done
echo "# device(s):"; "$kasane" backends | sed 's/^/#   /'
echo "# threads: $threads; options: ${extra[*]:-(defaults)}"

best() { # best wall time of 3 runs, seconds
  local t b=999999
  for _ in 1 2 3; do
    t=$( { TIMEFORMAT=%R; time "$@" >/dev/null 2>&1; } 2>&1 )
    b=$(awk -v a="$t" -v b="$b" 'BEGIN{print (a<b)?a:b}')
  done
  echo "$b"
}

printf 'fraction\tbytes'; for b in "${backends[@]}"; do printf '\t%s_s' "$b"; done; echo
declare -A cross
for frac in 0.01 0.03 0.1 0.3 1.0; do
  if [ "$frac" = 1.0 ]; then in=$bam; else
    in=$work/sub.bam
    samtools view -@ "$threads" -b -s "7${frac#0}" -o "$in" "$bam"
    samtools index "$in"
  fi
  size=$(stat -c %s "$in")
  printf '%s\t%s' "$frac" "$size"
  declare -A secs=()
  for b in "${backends[@]}"; do
    secs[$b]=$(best "$kasane" coverage -t "$threads" --backend "$b" "${extra[@]}" "$work/$b" "$in")
    printf '\t%s' "${secs[$b]}"
    if [ "$b" != cpu ]; then
      for f in "$work"/cpu.*; do
        case $f in *.kasane.json) continue;; esac
        cmp -s "$f" "${f/\/cpu./\/$b.}" || { echo; echo "MISMATCH: $b wrote a different ${f##*/}" >&2; exit 1; }
      done
      if [ -z "${cross[$b]:-}" ] && awk -v g="${secs[$b]}" -v c="${secs[cpu]}" 'BEGIN{exit !(g<=c)}'; then
        cross[$b]=$size
      fi
    fi
  done
  echo
done
for b in "${backends[@]}"; do
  [ "$b" = cpu ] && continue
  echo "crossover $b: ${cross[$b]:-none up to $(stat -c %s "$bam") bytes (the CPU was faster at every size)}"
done
