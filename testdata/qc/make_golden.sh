#!/usr/bin/env bash
# Golden outputs for `kasane qc` from the real peers: samtools 1.16.1 and Picard 2.27.5
# (Debian packages `samtools`, `picard-tools`; Picard's charts need R, package r-base-core).
#
#   python3 testdata/qc/gen_qc.py && bash testdata/qc/make_golden.sh
#
# Everything runs inside testdata/qc/ with relative paths, so the command lines that
# samtools and Picard write into their headers do not depend on the checkout.  Files are
# kept exactly as produced: Picard's "# Started on: <date>" line and the samtools
# "# The command line was:" line are not stripped (tests ignore lines starting with '#').
# Picard's PDF charts go to a temporary directory and are thrown away.
set -euo pipefail
cd "$(dirname "$0")"

PICARD=${PICARD:-picard-tools}   # same jar as PicardCommandLine; picard-tools warns that it is deprecated
G=golden
mkdir -p "$G"
# charts (and Picard logs) go to a fixed relative directory so the command lines in the
# headers are the same on every run; removed at the end (*.tmp is git-ignored)
TMP=charts.tmp
rm -rf "$TMP"
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT

picard() {  # picard TOOL ARGS... ; log kept only on failure
    local log="$TMP/picard.log" t=$SECONDS
    if ! "$PICARD" "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "FAILED: $PICARD $*" >&2
        exit 1
    fi
    echo "  $1 $2: $((SECONDS - t)) s" >&2
}

{
    samtools --version | head -2
    echo "Picard $("$PICARD" CollectWgsMetrics --version 2>&1 | sed -n 's/^Version://p')"
    java -version 2>&1 | head -1
    echo "R $(R --version | head -1)"
} >"$G/VERSIONS.txt"

for n in qc_a qc_b qc_long; do
    echo "== $n" >&2
    # ---- samtools stats ------------------------------------------------------------
    if [ "$n" = qc_long ]; then
        # per-cycle tables run to the longest read (14.6 kb): 3.2 MB as text, so gzip -n
        samtools stats "$n.bam" | gzip -n -9 >"$G/$n.samtools.stats.gz"
    else
        samtools stats "$n.bam" >"$G/$n.samtools.stats"
        samtools stats -r qc_ref.fa "$n.bam" >"$G/$n.samtools.ref.stats"
    fi

    # ---- Picard CollectWgsMetrics ---------------------------------------------------
    picard CollectWgsMetrics I="$n.bam" O="$G/$n.wgs_metrics" R=qc_ref.fa
    picard CollectWgsMetrics I="$n.bam" O="$G/$n.wgs_metrics.bq_hist" R=qc_ref.fa \
        INCLUDE_BQ_HISTOGRAM=true
    picard CollectWgsMetrics I="$n.bam" O="$G/$n.wgs_metrics.count_unpaired" R=qc_ref.fa \
        COUNT_UNPAIRED=true

    # ---- Picard CollectInsertSizeMetrics --------------------------------------------
    # default MINIMUM_PCT=0.05 drops the RF and TANDEM categories (< 5 % of pairs);
    # MINIMUM_PCT=0 keeps them
    # qc_long (single-end): Picard warns "All data categories were discarded" and writes
    # no output file at all, so there is no qc_long.insert_size_metrics*
    picard CollectInsertSizeMetrics I="$n.bam" O="$G/$n.insert_size_metrics" \
        H="$TMP/$n.insert_size.pdf"
    picard CollectInsertSizeMetrics I="$n.bam" O="$G/$n.insert_size_metrics.min_pct0" \
        H="$TMP/$n.insert_size.min_pct0.pdf" MINIMUM_PCT=0
    picard CollectInsertSizeMetrics I="$n.bam" O="$G/$n.insert_size_metrics.levels" \
        H="$TMP/$n.insert_size.levels.pdf" MINIMUM_PCT=0 \
        METRIC_ACCUMULATION_LEVEL=ALL_READS METRIC_ACCUMULATION_LEVEL=SAMPLE \
        METRIC_ACCUMULATION_LEVEL=LIBRARY METRIC_ACCUMULATION_LEVEL=READ_GROUP

    # ---- Picard CollectGcBiasMetrics ------------------------------------------------
    picard CollectGcBiasMetrics I="$n.bam" O="$G/$n.gc_bias_metrics" \
        CHART="$TMP/$n.gc_bias.pdf" S="$G/$n.gc_bias_summary_metrics" R=qc_ref.fa
done

# qc_a only (two read groups): samtools stats split by read group, GC-depth in 1 kb bins
# (the default 20 kb bins give only ~8 GCD rows on this 140 kb genome), per-RG GC bias
samtools stats -S RG -P "$G/qc_a.samtools.split" qc_a.bam >/dev/null  # -> $G/qc_a.samtools.split_<RG>.bamstat
samtools stats -r qc_ref.fa --GC-depth 1000 qc_a.bam >"$G/qc_a.samtools.ref.gcd1000.stats"

picard CollectGcBiasMetrics I=qc_a.bam O="$G/qc_a.gc_bias_metrics.levels" \
    CHART="$TMP/qc_a.gc_bias.levels.pdf" S="$G/qc_a.gc_bias_summary_metrics.levels" \
    R=qc_ref.fa METRIC_ACCUMULATION_LEVEL=ALL_READS METRIC_ACCUMULATION_LEVEL=SAMPLE \
    METRIC_ACCUMULATION_LEVEL=LIBRARY METRIC_ACCUMULATION_LEVEL=READ_GROUP

echo "done: $(ls "$G" | wc -l) files in testdata/qc/$G" >&2
