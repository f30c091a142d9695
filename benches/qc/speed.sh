#!/usr/bin/env bash
# kasane qc against the tools it replaces, one after another on the same BAM at the same thread
# count: samtools stats + Picard CollectWgsMetrics, CollectInsertSizeMetrics and
# CollectGcBiasMetrics; and against kasane coverage alone (the issue's 1.5x budget).
#
#   benches/qc/speed.sh [BAM] [REF] [THREADS]       (default: ../shared/eval's 30x short.bam)
#
# Needs samtools and picard-tools (Debian: `apt-get install samtools picard-tools`; Picard's
# charts need R). Prints each time, peak memory and the ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
BAM=${1:-/tmp/ds3/short.bam}
REF=${2:-/tmp/ds3/ref.fa}
T=${3:-2}
K=${KASANE:-target/release/kasane}
PICARD=${PICARD:-picard-tools}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
[ -e "$BAM" ] || { echo "no $BAM: make it with ../shared/eval (make_dataset.py --seed 3 --out /tmp/ds3; sim_reads.sh /tmp/ds3 3)" >&2; exit 1; }
# time NAME CMD...: wall seconds and peak RSS (MB) into $W/NAME.time
tm() { local n=$1; shift; /usr/bin/time -f "%e %M" -o "$W/$n.time" "$@" >/dev/null 2>"$W/$n.log" || { cat "$W/$n.log" >&2; exit 1; }; }
sec() { cut -d' ' -f1 "$W/$1.time"; }
mb() { awk '{printf "%.0f", $2/1024}' "$W/$1.time"; }
tm coverage "$K" coverage -t "$T" "$W/cov" "$BAM"
tm coverage_n "$K" coverage -t "$T" -n "$W/covn" "$BAM"
tm qc "$K" qc -t "$T" -f "$REF" -o "$W/qc" --quiet "$BAM"
# One reading for both (what a pipeline with coverage and qc steps runs).
mkdir -p "$W/fused"
tm qc_coverage "$K" qc -t "$T" -f "$REF" -o "$W/fused/qc" --quiet --coverage "$W/fused/cov" "$BAM"
tm samtools_stats samtools stats -@ "$T" "$BAM"
tm picard_wgs "$PICARD" CollectWgsMetrics I="$BAM" O="$W/p.wgs" R="$REF"
tm picard_insert "$PICARD" CollectInsertSizeMetrics I="$BAM" O="$W/p.ins" H="$W/p.ins.pdf"
tm picard_gc "$PICARD" CollectGcBiasMetrics I="$BAM" O="$W/p.gc" CHART="$W/p.gc.pdf" S="$W/p.gcs" R="$REF"
peers=$(awk -v a="$(sec samtools_stats)" -v b="$(sec picard_wgs)" -v c="$(sec picard_insert)" -v d="$(sec picard_gc)" 'BEGIN{print a+b+c+d}')
printf "%-28s %8s %8s\n" step seconds peak_MB
for n in coverage coverage_n qc qc_coverage samtools_stats picard_wgs picard_insert picard_gc; do
  printf "%-28s %8s %8s\n" "$n" "$(sec $n)" "$(mb $n)"
done
printf "%-28s %8s\n" "peers one after another" "$peers"
awk -v q="$(sec qc)" -v c="$(sec coverage)" -v n="$(sec coverage_n)" -v p="$peers" 'BEGIN{
  printf "qc / coverage: %.2fx   qc / coverage -n: %.2fx   peers / qc: %.1fx faster\n", q/c, q/n, p/q }'
awk -v f="$(sec qc_coverage)" -v q="$(sec qc)" -v c="$(sec coverage)" 'BEGIN{
  printf "qc --coverage (one reading): %.2f s   coverage then qc: %.2f s\n", f, q + c }'
cmp -s "$W/cov.mosdepth.summary.txt" "$W/fused/cov.mosdepth.summary.txt" \
  && cmp -s "$W/cov.per-base.bed.gz" "$W/fused/cov.per-base.bed.gz" \
  && echo "qc --coverage: coverage files identical to kasane coverage's" \
  || echo "qc --coverage: coverage files DIFFER"
# The numbers themselves agree: Picard's WGS metrics row and samtools' SN lines.
diff <(grep -v '^#' "$W/p.wgs" | sed -n 2,3p) <(grep -v '^#' "$W/qc/"*.wgs_metrics | sed -n 2,3p) >/dev/null \
  && echo "WGS metrics: identical to Picard's" || echo "WGS metrics: DIFFER from Picard's"
diff <(samtools stats "$BAM" | grep '^SN') <(grep '^SN' "$W/qc/"*.stats) >/dev/null \
  && echo "samtools stats SN: identical" || echo "samtools stats SN: DIFFER"
