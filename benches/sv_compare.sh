#!/usr/bin/env bash
# kasane sv against Sniffles2 and cuteSV on simulated datasets with truth (../shared/eval).
#   benches/sv_compare.sh DATASET_DIR [DATASET_DIR ...]
# Each DATASET_DIR holds ref.fa, hifi.bam and/or ont.bam and the truth made by
# make_dataset.py / sim_reads.sh. Every tool runs with THREADS threads (default 2); each call
# set is scored with score_sv.sh (truvari bench, PASS only, DUP as INS, BND left out).
# Calls and logs go to $OUT (default /tmp/sv_compare), never into the dataset folder except
# the scores that score_sv.sh writes there (DIR/scores/svbench_*, named apart from peers.sh's).
# Prints one table row per tool and dataset.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
EVAL=${EVAL:-$(cd "$root/../shared/eval" 2>/dev/null && pwd || echo /work/shared/eval)}
T=${THREADS:-2}
OUT=${OUT:-/tmp/sv_compare}
KASANE=${KASANE:-$root/target/release/kasane}
[[ -x $KASANE ]] || (cd "$root" && cargo build --release --quiet)
mkdir -p "$OUT"

# wall seconds and peak RSS (MB) of a command, appended to $OUT/.time
tm() {
  /usr/bin/time -v -o "$OUT/.time" "$@" >"$OUT/.log" 2>&1 || { echo "failed: $* (see $OUT/.log)" >&2; return 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$OUT/.time")
  rss=$(awk -F': ' '/Maximum resident set size/{printf "%.0f", $2/1024}' "$OUT/.time")
  echo "$wall $rss"
}

score() { # dataset vcf name -> "p r f1 gt"
  "$EVAL"/score_sv.sh "$1" "$2" "$3" | sed 's/[a-z_0-9]*=//g'
}

printf '%-10s %-5s %-9s %7s %7s %7s %7s %8s %8s\n' dataset reads tool F1 prec recall GT wall_s rss_MB
for d in "$@"; do
  d=$(cd "$d" && pwd); ds=$(basename "$d")
  for lr in hifi ont; do
    bam=$d/$lr.bam
    [[ -s $bam ]] || continue
    o=$OUT/$ds.$lr; mkdir -p "$o"
    read -r w m < <(tm "$KASANE" sv --quiet -t "$T" -f "$d/ref.fa" -o "$o/kasane.vcf.gz" "$bam")
    read -r p r f g < <(score "$d" "$o/kasane.vcf.gz" "svbench_kasane_$lr")
    printf '%-10s %-5s %-9s %7.4f %7.4f %7.4f %7.4f %8.1f %8d\n' "$ds" "$lr" kasane "$f" "$p" "$r" "$g" "$w" "$m"
    if command -v sniffles >/dev/null; then
      rm -f "$o/sniffles.vcf.gz"
      read -r w m < <(tm sniffles --input "$bam" --vcf "$o/sniffles.vcf.gz" --reference "$d/ref.fa" -t "$T")
      read -r p r f g < <(score "$d" "$o/sniffles.vcf.gz" "svbench_sniffles_$lr")
      printf '%-10s %-5s %-9s %7.4f %7.4f %7.4f %7.4f %8.1f %8d\n' "$ds" "$lr" sniffles2 "$f" "$p" "$r" "$g" "$w" "$m"
    fi
    if command -v cuteSV >/dev/null; then
      rm -rf "$o/cutesv_work" && mkdir -p "$o/cutesv_work"
      read -r w m < <(tm cuteSV -t "$T" -s 3 --genotype --max_cluster_bias_INS 1000 --diff_ratio_merging_INS 0.9 \
        --max_cluster_bias_DEL 1000 --diff_ratio_merging_DEL 0.5 "$bam" "$d/ref.fa" "$o/cutesv.vcf" "$o/cutesv_work")
      read -r p r f g < <(score "$d" "$o/cutesv.vcf" "svbench_cutesv_$lr")
      printf '%-10s %-5s %-9s %7.4f %7.4f %7.4f %7.4f %8.1f %8d\n' "$ds" "$lr" cutesv "$f" "$p" "$r" "$g" "$w" "$m"
    fi
  done
done
