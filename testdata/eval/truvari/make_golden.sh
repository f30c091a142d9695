#!/usr/bin/env bash
# Re-makes golden/NAME.summary.json with truvari bench for every line of cases.tsv (column 2:
# truvari's arguments). The committed goldens were made with truvari 5.4.0 (pip install
# truvari==5.4.0; pysam 0.24.1 with htslib 1.24, numpy 2.4.6, edlib 1.3.9). truvari needs
# bgzipped, tabix-indexed inputs: the .tbi files are made here (tabix -p vcf).
#
#   testdata/eval/truvari/make_golden.sh [TRUVARI]
set -euo pipefail
cd "$(dirname "$0")"
TRUVARI=${1:-truvari}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
for f in inputs/*.vcf.gz synthetic/*.vcf.gz; do [ -e "$f.tbi" ] || tabix -p vcf "$f"; done
grep -v '^#' cases.tsv | while IFS=$'\t' read -r name targs _; do
  # shellcheck disable=SC2086
  "$TRUVARI" bench $targs -o "$W/$name" >/dev/null 2>&1
  cp "$W/$name/summary.json" "golden/$name.summary.json"
done
