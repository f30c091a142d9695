#!/usr/bin/env bash
# Re-makes golden/score_small.{agree,differ}.json: the reference scorer's output, copied verbatim.
# The committed goldens were made with
#   bcftools 1.16        (`bcftools --version | head -1`; htslib 1.16)
#   Python 3.11.7
#   score_small.py       /work/shared/eval/score_small.py, sha256
#                        df1bddf9249e9b7ba9636e944f45866bc8b149111b66e0823700cfedcbc02ee7
# score_small.py runs `bcftools norm -a -m -both -f REF FILE | bcftools view -H` on each side,
# keeps FILTER PASS or '.', a genotype holding allele 1, and matches on (chrom, pos, ref, alt).
#
# The exact commands (run in testdata/eval/small/):
#   /work/shared/eval/score_small.py truth.vcf.gz calls_agree.vcf.gz ../../ref.fa --json > golden/score_small.agree.json
#   /work/shared/eval/score_small.py truth.vcf.gz calls_differ.vcf.gz ../../ref.fa --json > golden/score_small.differ.json
#
# Usage: testdata/eval/small/make_golden.sh [SCORE_SMALL]
# (the inputs come from gen_small.py, run it first if they are missing)
set -euo pipefail
cd "$(dirname "$0")"
SCORE_SMALL=${1:-/work/shared/eval/score_small.py}
REF=../../ref.fa
have=$(bcftools --version | head -1)
[ "$have" = "bcftools 1.16" ] || echo "note: goldens were made with bcftools 1.16, this is: $have" >&2
# score_small.py hides bcftools' stderr: fail here on any bcftools warning or error instead.
for f in truth.vcf.gz calls_agree.vcf.gz calls_differ.vcf.gz; do
  err=$(bcftools norm -a -m -both -f "$REF" "$f" 2>&1 >/dev/null | grep -v '^Lines   total/split/realigned/skipped:' || true)
  if [ -n "$err" ]; then echo "bcftools norm on $f: $err" >&2; exit 1; fi
done
mkdir -p golden
"$SCORE_SMALL" truth.vcf.gz calls_agree.vcf.gz "$REF" --json > golden/score_small.agree.json
"$SCORE_SMALL" truth.vcf.gz calls_differ.vcf.gz "$REF" --json > golden/score_small.differ.json
