#!/usr/bin/env bash
# A method comparison as issue 19 describes it, on a ../shared/eval dataset: a pipeline runs
# `kasane call` and `kasane sv` on each of the dataset's BAMs (short, hifi, ont, where made) and
# evaluates each VCF with an eval step against the dataset's truth; the dataset's own scorers
# (score_small.py, and score_sv.sh: truvari bench) score the same VCFs, side by side.
#   benches/eval/shared-eval.sh DIR [KASANE] [SHARDS]
# DIR: ../shared/eval/make_dataset.py --seed S --out DIR; ../shared/eval/sim_reads.sh DIR S.
# SHARDS > 1 runs the pipeline shard by shard and gathers it (the figures must not change).
# Needs truvari on PATH (pip install truvari) and bcftools, tabix, samtools.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
d=$(cd "$1" && pwd)
k=${2:-$repo/target/release/kasane}
shards=${3:-1}
E=$(cd "$repo/../shared/eval" && pwd)
"$E"/prepare_truth.sh "$d"
p=$d/kasane-eval.toml
out=$d/kasane-eval
rm -rf "$out"
{
  cat <<TOML
name = "shared-eval"
output = "$out"
reference = "$d/ref.fa"

[engine]
threads = 2
TOML
  n=0
  for s in short hifi ont; do
    [[ -s $d/$s.bam ]] || continue
    printf '\n[[samples]]\nid = "%s"\npath = "%s"\n' "$s" "$d/$s.bam"
    n=$((n + 1))
  done
  ((n > 0)) || { echo "no short.bam, hifi.bam or ont.bam in $d" >&2; exit 1; }
  cat <<TOML

[[steps]]
id = "calls"
kind = "call"

[[steps]]
id = "svs"
kind = "sv"

[[steps]]
id = "small-eval"
kind = "eval"
depends_on = ["calls"]
[steps.params]
calls = "calls"
truth = "$d/truth.small.vcf.gz"
truth_regions = "$d/confident.bed"

# As score_sv.sh scores: DEL/INS/INV truth, PASS only, DUP as INS, allele counts, no BND.
[[steps]]
id = "sv-eval"
kind = "eval"
depends_on = ["svs"]
[steps.params]
calls = "svs"
truth = "$d/truth.allsv.vcf.gz"
passonly = true
dup_to_ins = true
pick = "ac"
bnddist = -1
TOML
} >"$p"
t0=$(date +%s.%N)
if ((shards > 1)); then
  for i in $(seq 1 "$shards"); do "$k" run "$p" --shard "$i/$shards" --quiet; done
  "$k" gather "$p" --quiet
else
  "$k" run "$p" --quiet
fi
t1=$(date +%s.%N)
printf 'pipeline (%s shard(s)): %.1f s\n\n' "$shards" "$(echo "$t1 - $t0" | bc)"
printf '%-6s %-5s %-28s %-28s\n' sample type "kasane eval (P R F1)" "peer scorer (P R F1)"
for s in short hifi ont; do
  [[ -d $out/small-eval/$s ]] || continue
  small=$(python3 "$E"/score_small.py "$d/truth.small.vcf.gz" "$out/calls/$s.vcf.gz" "$d/ref.fa" "$d/confident.bed" --json)
  sv=$("$E"/score_sv.sh "$d" "$out/svs/$s.vcf.gz" "kasane-eval-$s")
  python3 - "$out" "$s" "$small" "$sv" <<'PY'
import json, sys
out, s, small, sv = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
ke = json.load(open(f"{out}/small-eval/{s}/summary.json"))["callsets"][0]
ks = json.load(open(f"{out}/sv-eval/{s}/summary.json"))["callsets"][0]["SV"]
f = lambda *v: " ".join("-" if x is None else f"{x:.4f}" for x in v)
for kt, pt in [("SNV", "snv"), ("INDEL", "indel")]:
    a, p = ke[kt]["allele"], small[pt]
    print(f"{s:<6} {kt:<5} {f(a['precision'], a['recall'], a['f1']):<28} {f(p['precision'], p['recall'], p['f1']):<28}")
peer = dict(x.split("=") for x in sv.split())
print(f"{s:<6} {'SV':<5} {f(ks['precision'], ks['recall'], ks['f1']):<28} "
      f"{f(*(float(peer[k]) for k in ('precision', 'recall', 'f1'))):<28}")
PY
done
