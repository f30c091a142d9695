#!/usr/bin/env bash
# kasane call against bcftools (mpileup | call -mv) and freebayes on a simulated dataset with
# truth (../shared/eval), at the same thread count, scored with score_small.py inside the
# confident regions. Prints one table row per tool: SNV F1, indel F1, GT concordance, wall
# seconds, peak RSS.
#
#   benches/call_compare.sh DATASET_DIR [THREADS] [READS]
#
# DATASET_DIR holds ref.fa, short.bam (+ hifi.bam), truth.small.vcf; the dataset itself is
# left untouched: prepared truth, confident.bed and all calls go to $OUT (default
# /tmp/call_compare). READS: short (default), hifi or ont. KASANE: the binary (default
# target/release/kasane). SKIP_PEERS=1 runs kasane alone, SKIP_KASANE=1 the peers alone;
# REUSE_PEERS=1 prints the peers' rows kept from an earlier run on the same OUT. PEERS: which
# peers to run (default "bcftools freebayes"; on the HiFi BAMs freebayes takes about 25 CPU
# minutes at 12x and bcftools about 10 to 30 minutes).
set -euo pipefail
d=$(cd "$1" && pwd)
T=${2:-2}
R=${3:-short}
here=$(cd "$(dirname "$0")" && pwd)
E=${EVAL:-$here/../../shared/eval}
[[ -d $E ]] || E=/work/shared/eval
KASANE=${KASANE:-$here/../target/release/kasane}
OUT=${OUT:-/tmp/call_compare}
mkdir -p "$OUT"
for f in ref.fa ref.fa.fai "$R.bam" "$R.bam.bai" truth.small.vcf truth.sv.vcf truth.inv.vcf; do
  [[ -e $d/$f ]] && ln -sf "$d/$f" "$OUT/$f"
done
cd "$OUT"
[[ -s truth.small.vcf.gz.tbi ]] || { bcftools sort -Oz -o truth.small.vcf.gz truth.small.vcf 2>/dev/null && tabix -f -p vcf truth.small.vcf.gz; }
[[ -s confident.bed ]] || python3 "$E"/confident_bed.py . > confident.bed

# wall seconds and peak RSS (MB) of a command, from /usr/bin/time -v
tm() {
  /usr/bin/time -v -o .time "$@" >/dev/null 2>.stderr || { echo "FAILED: $*" >&2; cat .stderr >&2; }
  awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; w=s}
              /Maximum resident/{m=$2/1024} END{printf "%.1f\t%.0f", w, m}' .time
}
score() {
  python3 "$E"/score_small.py truth.small.vcf.gz "$1" ref.fa confident.bed --json |
    python3 -c 'import json,sys; j=json.load(sys.stdin); s,i=j["snv"],j["indel"]; tp=s["tp"]+i["tp"]; g=(s["gt_concordance"]*s["tp"]+i["gt_concordance"]*i["tp"])/tp if tp else 0; print("%.4f\t%.4f\t%.4f\t%d/%d\t%d/%d" % (s["f1"], i["f1"], g, s["fp"], s["fn"], i["fp"], i["fn"]))'
}

# bcftools' platform profile for the reads (what its manual tells a user to pick).
X=""
[[ $R == hifi ]] && X="-X pacbio-ccs"
# ONT: -B -Q5 --max-BQ 30 -I; -I leaves indels out, so its indel F1 is 0.
[[ $R == ont ]] && X="-X ont"

# A peer's row is kept in $OUT/PEER_READS.row: REUSE_PEERS=1 prints it again instead of
# rerunning the peer (its calls and timing do not depend on kasane).
peer() {
  local name=$1 threads=$2 cmd=$3 row=$OUT/$1_$R.row
  if [[ ${REUSE_PEERS:-0} == 1 && -s $row ]]; then
    cat "$row"
    return
  fi
  local t
  t=$(tm bash -c "$cmd")
  printf "%s\t%s\t%s\t%s\t%s\n" "$name" "$R" "$threads" "$(score "${name}_$R.vcf.gz")" "$t" | tee "$row"
}

printf "tool\treads\tthreads\tsnv_f1\tindel_f1\tgt_conc\tsnv_fp/fn\tindel_fp/fn\twall_s\tpeak_rss_mb\n"
if [[ ${SKIP_KASANE:-0} != 1 ]]; then
  t=$(tm "$KASANE" call -t "$T" -f ref.fa -o kasane_$R.vcf.gz $R.bam)
  printf "kasane\t%s\t%s\t%s\t%s\n" "$R" "$T" "$(score kasane_$R.vcf.gz)" "$t"
fi
[[ ${SKIP_PEERS:-0} == 1 ]] && exit 0
PEERS=${PEERS:-bcftools freebayes}
if [[ " $PEERS " == *" bcftools "* ]]; then
  peer bcftools "$T" "bcftools mpileup --threads $T $X -f ref.fa -a AD,DP $R.bam | bcftools call --threads $T -mv -Oz -o bcftools_$R.vcf.gz"
fi
# freebayes has no threads option. At THREADS > 1 it runs the way freebayes-parallel does:
# over 500 kb regions (0-based, end excluded, as its -r takes them), THREADS at a time, the
# outputs concatenated in order (a record repeated at a region's edge kept once).
fb_regions() {
  local T=$1 R=$2
  awk '{for (s = 0; s < $2; s += 500000) {e = s + 500000; if (e > $2) e = $2; printf "%s:%d-%d\n", $1, s, e}}' ref.fa.fai |
    nl -nrz -w4 | xargs -P "$T" -L1 sh -c 'freebayes -f ref.fa -r "$1" '"$R"'.bam > fb_part.$0.vcf'
  { grep -h '^#' fb_part.0001.vcf; cat fb_part.*.vcf | grep -v '^#' | awk '!seen[$1" "$2" "$4" "$5]++'; } |
    bgzip -c > freebayes_$R.vcf.gz
  rm -f fb_part.*.vcf
}
export -f fb_regions
if [[ " $PEERS " == *" freebayes "* ]]; then
  if [[ $T -gt 1 ]]; then
    peer freebayes "$T" "fb_regions $T $R"
  else
    peer freebayes 1 "freebayes -f ref.fa $R.bam | bgzip -c > freebayes_$R.vcf.gz"
  fi
fi
