#!/usr/bin/env bash
# kasane eval against the peers, on the same input at the same thread count.
#
#   benches/eval/speed.sh sv TRUTH.vcf.gz CALLS.vcf.gz [REF] [RUNS] [-- truvari bench options]
#       truvari bench and kasane eval with the same parameters: best wall time of RUNS
#       (default 3), peak memory, the ratio, and whether every summary.json field of truvari's
#       equals kasane's. Needs truvari on PATH (pip install truvari) and tabix-indexed inputs.
#   benches/eval/speed.sh small TRUTH.vcf.gz CALLS.vcf.gz REF [RUNS]
#       kasane eval alone (small variants at scale: the issue's budget is a minute at 2
#       threads for 4-5 million truth records); prints time, peak memory and the counts.
#
# Inputs: ../shared/eval datasets (truth.sv.vcf, `kasane sv` calls), or benches/eval/make_pair.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
K=${KASANE:-$PWD/target/release/kasane}
T=${THREADS:-2}
kind=$1; truth=$(realpath "$2"); calls=$(realpath "$3"); shift 3
ref=""; runs=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then ref=$(realpath "$1"); shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then runs=$1; shift; fi
[ "${1:-}" = "--" ] && shift
extra=("$@")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# best NAME CMD...: best wall seconds of $runs runs and the peak RSS (MB) of that run.
best() {
  local n=$1; shift
  local b="" m=""
  for _ in $(seq "$runs"); do
    rm -rf "$W/$n.out"
    /usr/bin/time -f "%e %M" -o "$W/$n.time" "$@" >"$W/$n.log" 2>&1 || { cat "$W/$n.log" >&2; exit 1; }
    read -r s k <"$W/$n.time"
    if [ -z "$b" ] || awk -v a="$s" -v b="$b" 'BEGIN{exit !(a<b)}'; then b=$s; m=$((k / 1024)); fi
  done
  echo "$b $m"
}
refarg=(); [ -n "$ref" ] && refarg=(-f "$ref")
case $kind in
  sv)
    # truvari's -f and short options, translated for kasane (same names otherwise).
    kextra=()
    for a in "${extra[@]}"; do
      case $a in
        -p) kextra+=(--pctseq) ;; -P) kextra+=(--pctsize) ;; -O) kextra+=(--pctovl) ;;
        -r) kextra+=(--refdist) ;; -s) kextra+=(--sizemin) ;; -S) kextra+=(--sizefilt) ;;
        -B) kextra+=(--bnddist) ;; -C) kextra+=(--chunksize) ;; *) kextra+=("$a") ;;
      esac
    done
    read -r ts tm < <(best truvari truvari bench -b "$truth" -c "$calls" "${refarg[@]}" -o "$W/truvari.out" "${extra[@]}")
    cp -r "$W/truvari.out" "$W/tv"
    read -r ks km < <(best kasane "$K" eval --quiet -t "$T" --truth "$truth" --calls "$calls" "${refarg[@]}" -o "$W/kasane.out" "${kextra[@]}")
    printf "%-10s %8s s %8s MB\n" truvari "$ts" "$tm" kasane "$ks" "$km"
    awk -v a="$ts" -v b="$ks" 'BEGIN{printf "kasane is %.1fx faster\n", a/b}'
    python3 - "$W/tv/summary.json" "$W/kasane.out/summary.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))["callsets"][0]["SV"]
d = [k for k in a if k in b and a[k] != b[k]]
print("summary.json:", "identical" if not d else "DIFFERS in " + ", ".join(d),
      f"(TP-base {a['TP-base']}, FP {a['FP']}, FN {a['FN']}, f1 {a['f1']})")
PY
    ;;
  small)
    [ -n "$ref" ] || { echo "small needs the reference" >&2; exit 1; }
    read -r ks km < <(best kasane "$K" eval --quiet -t "$T" --truth "$truth" --calls "$calls" -f "$ref" -o "$W/kasane.out")
    n=$( (zcat -f "$truth" | grep -vc '^#') || true)
    printf "%s truth records: kasane eval %s s, peak %s MB (%s threads)\n" "$n" "$ks" "$km" "$T"
    python3 - "$W/kasane.out/summary.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["callsets"][0]
for t in ("SNV", "INDEL"):
    a = c[t]["allele"]
    print(f"{t}: truth {a['TRUTH.TOTAL']} TP {a['TRUTH.TP']} FN {a['TRUTH.FN']} FP {a['QUERY.FP']} F1 {a['f1']:.4f}")
print("haplotype clusters:", c["haplotype_clusters"])
PY
    ;;
  *) echo "usage: $0 sv|small TRUTH CALLS [REF] [RUNS] [-- options]" >&2; exit 1 ;;
esac
