#!/usr/bin/env bash
# outs.sh BIN OUTDIR [CASE...]
# Runs one kasane build over a fixed list of cases on the ds3 simulated data (DS, default /tmp/ds3).
# Per case NAME: OUTDIR/NAME/ (outputs; the command runs with it as working directory and relative
# output names, so paths written into outputs do not depend on OUTDIR), OUTDIR/NAME.time
# ('%e s %M KB'), NAME.log (stdout+stderr), NAME.rc (exit status), NAME.cmd (the command).
# kasane is invoked as `kasane` through OUTDIR/.bin/kasane -> BIN, so argv[0] (recorded in VCF
# headers and provenance) is the same for every build. Optional CASE names run only those cases.
set -uo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 BIN OUTDIR [CASE...]" >&2; exit 2; }
BIN=$(readlink -f "$1") OUT=$2; shift 2
ONLY=" $* "
D=${DS:-/tmp/ds3}
[[ -x $BIN ]] || { echo "$BIN: not executable" >&2; exit 2; }
mkdir -p "$OUT/.bin" && OUT=$(readlink -f "$OUT")
ln -sfn "$BIN" "$OUT/.bin/kasane"
echo "$BIN" >"$OUT/BIN"
"$BIN" --version >"$OUT/VERSION" 2>&1
export PATH="$OUT/.bin:$PATH"
unset REF_PATH MOSDEPTH_PRECISION KASANE_GPU_MIN_BYTES KASANE_BACKTRACE
for v in $(env | grep -o '^MOSDEPTH_Q[0-9]*'); do unset "$v"; done
export KASANE_QUIET=1 LC_ALL=C

run_case() { # NAME CMD...
  local name=$1; shift
  [[ $ONLY == "  " || $ONLY == *" $name "* ]] || return 0
  rm -rf "${OUT:?}/$name" "$OUT/$name".{time,log,rc,cmd}
  mkdir -p "$OUT/$name"
  printf '%q ' "$@" >"$OUT/$name.cmd"; echo >>"$OUT/$name.cmd"
  (cd "$OUT/$name" && exec /usr/bin/time -f '%e s %M KB' -o "$OUT/$name.time" "$@") >"$OUT/$name.log" 2>&1
  echo $? >"$OUT/$name.rc"
  printf '%-16s rc=%-3s %s\n' "$name" "$(cat "$OUT/$name.rc")" "$(tail -n1 "$OUT/$name.time" 2>/dev/null)"
}

T=(-t 2 --backend cpu)
C2=chr2 # the second contig of ref.fa

# coverage (prefix p)
run_case cov_plain      kasane coverage "${T[@]}" p "$D/short.bam"
run_case cov_by500      kasane coverage "${T[@]}" --by 500 p "$D/short.bam"
run_case cov_bed        kasane coverage "${T[@]}" -b "$D/regions.bed" -T 1,5,10 -q 0:1:5:150: p "$D/short.bam"
run_case cov_chrom      kasane coverage "${T[@]}" --chrom "$C2" p "$D/short.bam"
run_case cov_shard      kasane coverage "${T[@]}" --shard 2/3 p "$D/short.bam"
run_case cov_cram       kasane coverage "${T[@]}" -f "$D/ref.fa" p "$D/short.cram"
run_case cov_cram_by500 kasane coverage "${T[@]}" -f "$D/ref.fa" --by 500 p "$D/short.cram"
run_case cov_noidx_shard kasane coverage "${T[@]}" --shard 2/3 p "$D/noidx/hifi.bam"

# small variants (calls.vcf.gz + .tbi)
K=(-f "$D/ref.fa" -o calls.vcf.gz "${T[@]}")
run_case call_short     kasane call "${K[@]}" "$D/short.bam"
run_case call_cram      kasane call "${K[@]}" "$D/short.cram"
run_case call_hifi      kasane call "${K[@]}" "$D/hifi.bam"
run_case call_region    kasane call "${K[@]}" -r chr1:2000001-2200000 "$D/short.bam"
# `call` has no --contigs: a whole-contig region, and the hidden --shard (CallOptions::contigs)
run_case call_hifi_chr2 kasane call "${K[@]}" -r "$C2" "$D/hifi.bam"
run_case call_hifi_shard kasane call "${K[@]}" --shard 2/3 "$D/hifi.bam"
run_case call_joint     kasane call "${K[@]}" "$D/short.bam" "$D/hifi.bam"
run_case call_dupsm     kasane call "${K[@]}" "$D/short.bam" "$D/dup/short2.bam"
run_case call_noidx     kasane call "${K[@]}" "$D/noidx/hifi.bam"

# structural variants (svs.vcf.gz + .tbi + svs.kasane.json)
S=(-f "$D/ref.fa" -o svs.vcf.gz "${T[@]}")
run_case sv_hifi        kasane sv "${S[@]}" "$D/hifi.bam"
run_case sv_joint       kasane sv "${S[@]}" "$D/ont.bam" "$D/hifi.bam"
run_case sv_shard       kasane sv "${S[@]}" --shard 2/3 "$D/hifi.bam"
run_case sv_chr2        kasane sv "${S[@]}" --contigs "$C2" "$D/hifi.bam"
run_case sv_cram        kasane sv "${S[@]}" "$D/hifi.cram"
run_case sv_noidx       kasane sv "${S[@]}" "$D/noidx/hifi.bam"

# pipeline ($D/pipe.toml: samples short, hifi; steps targets, windows (coverage), calls, svs)
P=$D/pipe.toml
run_case pipe_run       kasane run "$P" -o res "${T[@]}"
run_case pipe_verify    kasane verify ../pipe_run/res
run_case pipe_shard     bash -c 'set -e; for i in 1 2 3; do kasane run "$1" -o res -t 2 --backend cpu --shard $i/3; done; kasane gather "$1" -o res' _ "$P"
run_case pipe_export    kasane export snakemake "$P" -o wf --shards 3 --results res
