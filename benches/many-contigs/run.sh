#!/usr/bin/env bash
# Many contigs (issue 21): time and peak memory of kasane against mosdepth and bcftools on
# generated BAMs with N contigs of 1 kb and one 100 bp read each, and on a mix like GRCh38 with
# decoys (3 contigs of 2 Mb at 20x, then N tiny ones). Also checks that kasane's coverage files
# equal mosdepth's (decompressed) wherever mosdepth finishes, and prints the file sizes.
#
#   benches/many-contigs/run.sh [SIZE...]      sizes: numbers of contigs, or mixN (default:
#                                              1000 10000 100000 1000000 mix100000)
#
# Environment: THREADS (default 2), LIMIT (seconds per command, default 300), WORK (where the
# data are generated and kept, default /tmp/kasane-many-contigs). Needs samtools, bgzip,
# mosdepth, bcftools and GNU time; builds kasane in release mode first.
set -euo pipefail
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(1000 10000 100000 1000000 mix100000)
threads=${THREADS:-2}
limit=${LIMIT:-300}
work=${WORK:-/tmp/kasane-many-contigs}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
(cd "$root" && cargo build --release --quiet --bin kasane)
kasane=$root/target/release/kasane
mkdir -p "$work"

# "SECONDS s, PEAK MB" of a command (output discarded), or "> LIMIT s (stopped)"; the command's
# exit status is left in $work/rc (a stopped peer leaves partial files, not to be compared).
measure() {
    local rc=0
    /usr/bin/time -f '%e %M' -o "$work/time" timeout "$limit" "$@" >/dev/null 2>"$work/err" || rc=$?
    if [[ $rc -eq 124 ]]; then
        printf '> %s s (stopped)' "$limit"
    elif [[ $rc -ne 0 ]]; then
        printf 'failed (rc %s: %s)' "$rc" "$(tail -c 200 "$work/err" | tr '\n' ' ')"
    else
        awk '{ printf "%.2f s, %.0f MB", $1, $2 / 1024 }' "$work/time"
    fi
    echo "$rc" >"$work/rc"
}
finished() { [[ $(cat "$work/rc") == 0 ]]; }

# Whether two files hold the same text (bgzipped ones compared decompressed).
same() {
    if [[ $1 == *.gz ]]; then
        cmp -s <(gzip -dc "$1") <(gzip -dc "$2")
    else
        cmp -s "$1" "$2"
    fi
}

echo "| data | command | kasane | peer | peer command |"
echo "|---|---|---|---|---|"
for size in "${sizes[@]}"; do
    d=$work/$size
    if [[ ! -s $d/reads.bam.bai ]]; then
        if [[ $size == mix* ]]; then
            python3 "$here/gen.py" "$d" --contigs "${size#mix}" --big 3 >/dev/null
        else
            python3 "$here/gen.py" "$d" --contigs "$size" >/dev/null
        fi
    fi
    o=$d/out
    rm -rf "$o"
    mkdir -p "$o"
    bam=$d/reads.bam
    ref=$d/ref.fa
    row() { echo "| $size | $1 | $2 | $3 | $4 |"; }
    done_peers=()
    k=$(measure "$kasane" coverage -t "$threads" --by 500 "$o/kw" "$bam")
    m=$(measure mosdepth -t "$threads" --by 500 "$o/mw" "$bam")
    ! finished || done_peers+=(kw:mw)
    row "coverage --by 500" "$k" "$m" "mosdepth --by 500"
    k=$(measure "$kasane" coverage -t "$threads" -n "$o/kn" "$bam")
    m=$(measure mosdepth -t "$threads" -n "$o/mn" "$bam")
    ! finished || done_peers+=(kn:mn)
    row "coverage -n" "$k" "$m" "mosdepth -n"
    k=$(measure "$kasane" coverage -t "$threads" -n -b "$d/regions.bed" -T 1,2 "$o/kb" "$bam")
    m=$(measure mosdepth -t "$threads" -n -b "$d/regions.bed" -T 1,2 "$o/mb" "$bam")
    ! finished || done_peers+=(kb:mb)
    row "coverage -n -b BED -T 1,2" "$k" "$m" "mosdepth -n -b BED -T 1,2"
    k=$(measure "$kasane" call -t "$threads" -f "$ref" -o "$o/call.vcf.gz" "$bam")
    m=$(measure bash -c "bcftools mpileup --threads $threads -f '$ref' '$bam' 2>/dev/null | bcftools call -mv -Oz -o '$o/bcf.vcf.gz'")
    row "call" "$k" "$m" "bcftools mpileup \| call -mv"
    k=$(measure "$kasane" sv -t "$threads" -f "$ref" -o "$o/sv.vcf.gz" "$bam")
    row "sv" "$k" "" ""
    # The same reads as CRAM (containers hold many tiny contigs each).
    if [[ ! -s $d/reads.cram.crai ]]; then
        samtools view -C -T "$ref" -o "$d/reads.cram" "$bam" && samtools index "$d/reads.cram"
    fi
    k=$(measure "$kasane" call -t "$threads" -f "$ref" -o "$o/call-cram.vcf.gz" "$d/reads.cram")
    m=$(measure bash -c "bcftools mpileup --threads $threads -f '$ref' '$d/reads.cram' 2>/dev/null | bcftools call -mv -Oz -o '$o/bcf-cram.vcf.gz'")
    row "call (CRAM)" "$k" "$m" "bcftools mpileup \\| call -mv"
    k=$(measure "$kasane" sv -t "$threads" --shard 2/3 -f "$ref" -o "$o/sv-cram.vcf.gz" "$d/reads.cram")
    row "sv --shard 2/3 (CRAM)" "$k" "" ""
    # A shard of the contigs (planning is linear in them; the index seeks to its first record).
    k=$(measure "$kasane" coverage -t "$threads" -n --shard 3/8 "$o/ks" "$bam")
    row "coverage -n --shard 3/8" "$k" "" ""
    if "$kasane" qc --help >/dev/null 2>&1; then
        k=$(measure "$kasane" qc -t "$threads" -o "$o/qc" "$bam")
        row "qc" "$k" "" ""
    else
        row "qc" "no \`kasane qc\` yet (issue 17)" "" ""
    fi
    # Parity with mosdepth where it finished.
    for pair in ${done_peers[@]+"${done_peers[@]}"}; do
        kp=$o/${pair%%:*} mp=$o/${pair##*:}
        for f in "$mp".*; do
            case $f in *.csi) continue ;; esac
            g=$kp${f#"$mp"}
            if same "$f" "$g"; then echo "identical: $(basename "$g")" >&2; else echo "DIFFERENT: $(basename "$g") vs $(basename "$f")" >&2; fi
        done
    done
    # The per-base file against the same text bgzipped as one stream (no contig boundaries).
    plain=$(gzip -dc "$o/kw.per-base.bed.gz" | bgzip -l 1 -c | wc -c)
    peer=""
    [[ " ${done_peers[*]-} " == *" kw:mw "* ]] && peer=", mosdepth $(stat -c %s "$o/mw.per-base.bed.gz") B"
    echo "sizes ($size): kasane per-base.bed.gz $(stat -c %s "$o/kw.per-base.bed.gz") B, bgzip -l 1 of its text $plain B$peer" >&2
done
