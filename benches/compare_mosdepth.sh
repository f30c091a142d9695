#!/usr/bin/env bash
# Side-by-side: mosdepth and kasane on the same BAM with the same thread count.
# Prints wall time (best of N runs) and peak memory of each, their ratios, and the
# decompression floor (the time only to inflate every BGZF block with the same threads).
#
#   benches/compare_mosdepth.sh BAM [THREADS=2] [RUNS=5] [-- extra coverage options]
#
# Needs mosdepth (apt-get install mosdepth libhts-dev), GNU time, and bgzip (tabix) for the
# htslib floor. Builds kasane and the `inflate` example in release mode first.
set -euo pipefail
bam=${1:?usage: compare_mosdepth.sh BAM [THREADS] [RUNS] [-- options]}
threads=${2:-2}
runs=${3:-5}
shift $(( $# < 3 ? $# : 3 ))
[[ ${1:-} == -- ]] && shift
opts=("$@")

root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && cargo build --release --quiet --bin kasane --example inflate)
kasane=$root/target/release/kasane
inflate=$root/target/release/examples/inflate
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# best wall seconds and peak RSS (KiB) over $runs runs of a command
measure() {
  local best=999999 rss=0 w r
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    read -r w r <"$tmp/t"
    best=$(awk -v a="$w" -v b="$best" 'BEGIN{print (a<b)?a:b}')
    (( r > rss )) && rss=$r
  done
  echo "$best $rss"
}

read -r md_t md_m < <(measure mosdepth -t "$threads" "${opts[@]}" "$tmp/md" "$bam")
read -r ks_t ks_m < <(measure "$kasane" coverage -t "$threads" "${opts[@]}" "$tmp/ks" "$bam")
# The floors apply to BGZF input (BAM); CRAM has no such floor.
if [[ $(head -c 4 "$bam") == CRAM ]]; then
  fl_t=NA hf_t=NA
else
  read -r fl_t _ < <(measure "$inflate" "$bam" "$threads")
fi
if [[ ${hf_t:-} == NA ]]; then
  :
elif command -v bgzip >/dev/null; then
  read -r hf_t _ < <(measure bash -c "bgzip -@ $threads -dc '$bam' >/dev/null")
else
  hf_t=NA
fi

# The outputs must agree line for line before the times mean anything.
for f in "$tmp"/md.*; do
  k=$tmp/ks.${f##*/md.}
  [[ $f == *.csi ]] && continue
  if [[ $f == *.gz ]]; then cmp -s <(zcat "$f") <(zcat "$k"); else cmp -s "$f" "$k"; fi ||
    { echo "MISMATCH: ${f##*/} differs between mosdepth and kasane" >&2; exit 1; }
done

printf 'input: %s  threads: %s  options: %s  runs: %s (best wall, peak RSS)\n' "$bam" "$threads" "${opts[*]:-(none)}" "$runs"
printf '%-34s %8s s %10s KiB\n' "mosdepth $(mosdepth --version 2>&1 | awk '{print $2}')" "$md_t" "$md_m"
printf '%-34s %8s s %10s KiB\n' "kasane" "$ks_t" "$ks_m"
printf '%-34s %8s s\n' "floor: kasane inflate only" "$fl_t"
printf '%-34s %8s s\n' "floor: bgzip -d (htslib)" "$hf_t"
awk -v m="$md_t" -v k="$ks_t" -v f="$fl_t" -v mm="$md_m" -v km="$ks_m" 'BEGIN{
  fl = (f == "NA") ? "NA" : sprintf("%.2fx", k/f)
  printf "speed-up over mosdepth: %.2fx   kasane / inflate floor: %s   memory kasane/mosdepth: %.2f\n", m/k, fl, km/mm }'
