#!/usr/bin/env bash
# identity.sh [KASANE_BIN] [WORKDIR]
# End-to-end check of `kasane qc`'s identity features on a simulated cohort holding a trio:
# relatedness (trio found, unrelated called unrelated), contamination (in-silico mixes, truth known),
# sample swap / duplicate (within a run and against earlier fingerprints), PED checks and sex,
# each with a --sites panel (truth SNPs with AF) and with the default grid. No network.
#
#   benches/qc/identity.sh target/release/kasane /tmp/co5
#
# Needs samtools, bcftools, tabix, python3, /usr/bin/time, and for the simulation (skipped when
# WORKDIR already holds the BAMs) ../shared/eval's make_cohort.py and sim_cohort.sh with art_illumina
# and bwa. Environment: EVAL (default: the repository's ../shared/eval), SEED (5), SAMPLES (6),
# CONTIGS (chr1:2000000,chr2:1500000,chrX:500000), COV (15 per haplotype), THREADS (2),
# PANELS ("sites grid"), SUMMARY_ONLY (1: no kasane runs, summarise runs/ again).
#
# Writes WORKDIR/sites.vcf.gz(.tbi), trio.ped, mix/ (contaminated, swapped, duplicated BAMs),
# sexed/ (declared males with one X haplotype), runs/NAME/ (kasane outputs; NAME.rc, NAME.time as
# /usr/bin/time -v, NAME.log, NAME.cmd) and summary.txt (also printed).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
K=$(readlink -f "${1:-$HERE/../../target/release/kasane}")
W=${2:-/tmp/co5}
EVAL=${EVAL:-$(readlink -f "$HERE/../../../shared/eval")}
SEED=${SEED:-5} NS=${SAMPLES:-6} COV=${COV:-15} T=${THREADS:-2}
CONTIGS=${CONTIGS:-chr1:2000000,chr2:1500000,chrX:500000}
PANELS=${PANELS:-sites grid}
export THREADS=$T LC_ALL=C
[[ -x $K ]] || { echo "kasane binary '$K' is not executable" >&2; exit 2; }
die() { echo "identity.sh: $*" >&2; exit 1; }
step() { echo "== $(date +%T) $*" >&2; }

# 1. cohort and reads
mkdir -p "$W"
if [[ ! -s $W/samples.tsv ]]; then
  step "make_cohort seed $SEED, $NS samples with a trio, contigs $CONTIGS"
  "$EVAL/make_cohort.py" --seed "$SEED" --out "$W" --samples "$NS" --trio --contigs "$CONTIGS" >&2 || die make_cohort
fi
step "sim_cohort ${COV}x per haplotype (skips BAMs already made)"
"$EVAL/sim_cohort.sh" "$W" "$SEED" "$COV" 0 >/dev/null 2>"$W/sim_cohort.log" || die "sim_cohort (see $W/sim_cohort.log)"
cd "$W" || die "cd $W"
SAMPLES_ALL=$(awk '!/^#/{print $1}' samples.tsv)
read -r CHILD FATHER MOTHER < <(awk '!/^#/ && $2 != "0" && $3 != "0" {print $1, $2, $3; exit}' samples.tsv)
[[ -n ${CHILD:-} ]] || die "no trio in samples.tsv"
UNREL=$(awk -v c="$CHILD" -v f="$FATHER" -v m="$MOTHER" '!/^#/ && $1 != c && $1 != f && $1 != m {print $1}' samples.tsv)
A=$(echo "$UNREL" | sed -n 1p) B=$(echo "$UNREL" | sed -n 2p)
[[ -n $A && -n $B ]] || die "need two samples outside the trio"
echo -e "child\t$CHILD\nfather\t$FATHER\nmother\t$MOTHER\nA\t$A\nB\t$B" >roles.tsv
step "trio: child $CHILD, father $FATHER, mother $MOTHER; contamination/swap: A=$A (contaminant/swap source B=$B)"
BAMS=(); for s in $SAMPLES_ALL; do BAMS+=("$W/$s.short.bam"); done
OTHERS=(); for s in $SAMPLES_ALL; do [[ $s == "$A" ]] || OTHERS+=("$W/$s.short.bam"); done

# 2. sites panel from the truth
if [[ ! -s sites.vcf.gz.tbi ]]; then
  step "sites panel"
  python3 "$HERE/make_sites.py" truth.cohort.small.vcf sites.unsorted.vcf || die make_sites
  bcftools sort -Oz -o sites.vcf.gz sites.unsorted.vcf 2>/dev/null && tabix -f -p vcf sites.vcf.gz || die "sort/index sites"
  rm -f sites.unsorted.vcf
fi

# 3. contamination mixes, swap, duplicate
setsm() { # IN OUT SM: every @RG's SM set to SM
  samtools view -H "$1" | sed -E "/^@RG/s/\tSM:[^\t]*/\tSM:$3/" | samtools reheader - "$1" >"$2" && samtools index "$2"
}
mkdir -p mix
for pct in 05 02; do
  out=mix/${A}_c${pct}.bam
  [[ -s $out.bai ]] && continue
  step "mix: $A with ${pct}% of reads from $B"
  keep=$(awk -v p="$pct" 'BEGIN{printf "%02d", 100 - p}')
  samtools view -b -s "11.$keep" -o mix/a.bam "$A.short.bam" || die subsample
  # the contaminant's read names get a prefix: ART names reads alike in every sample
  samtools view -h -s "23.$pct" "$B.short.bam" |
    awk 'BEGIN{FS=OFS="\t"} /^@/{print; next} {$1 = "ct_" $1; print}' | samtools view -b -o mix/b.bam - || die subsample
  samtools merge -f -o mix/m.bam mix/a.bam mix/b.bam && setsm mix/m.bam "$out" "$A" || die merge
  na=$(samtools view -c -F 0x900 mix/a.bam) nb=$(samtools view -c -F 0x900 mix/b.bam)
  awk -v a="$na" -v b="$nb" -v p="$pct" 'BEGIN{printf "%s\t%d\t%d\t%.5f\n", p, a, b, b / (a + b)}' >"mix/${A}_c${pct}.truth"
  rm -f mix/a.bam mix/b.bam mix/m.bam
done
[[ -s mix/swap.bam.bai ]] || setsm "$B.short.bam" mix/swap.bam "$A"        # B's reads named A
[[ -s mix/dup.bam.bai ]] || setsm "$A.short.bam" mix/dup.bam "${A}dup"     # A's reads under another name

# 4. PED (from samples.tsv: the trio one family, everyone else a family of one)
awk -v c="$CHILD" -v f="$FATHER" -v m="$MOTHER" 'BEGIN{OFS="\t"} !/^#/ {
  fam = ($1 == c || $1 == f || $1 == m) ? "TRIO" : "F_" $1; print fam, $1, $2, $3, $4, 0 }' samples.tsv >trio.ped
# declared males with one X haplotype: reads of haplotype 2 (named h2_ by sim_cohort.sh) on X dropped
XC=$(awk '$1 ~ /^(chr)?[Xx]$/ {print $1; exit}' ref.fa.fai)
SEXED=()
if [[ -n $XC ]]; then
  mkdir -p sexed
  for s in $SAMPLES_ALL; do
    sex=$(awk -v s="$s" '$1 == s {print $4}' samples.tsv)
    if [[ $sex == 1 ]]; then
      [[ -s sexed/$s.bam.bai ]] || {
        samtools view -h "$s.short.bam" | awk -v x="$XC" 'BEGIN{FS=OFS="\t"}
          /^@/ || substr($1, 1, 3) != "h2_" || ($3 != x && !($7 == x || ($7 == "=" && $3 == x))) ' |
          samtools view -b -o "sexed/$s.bam" - && samtools index "sexed/$s.bam"; } || die "sexed $s"
      SEXED+=("$W/sexed/$s.bam")
    else
      SEXED+=("$W/$s.short.bam")
    fi
  done
fi

# 5. kasane runs (SUMMARY_ONLY=1: reuse runs/ and only print the summary)
mkdir -p runs
[[ ${SUMMARY_ONLY:-0} == 1 ]] && PANELS_RUN= || PANELS_RUN=$PANELS
run() { # NAME ARGS... (kasane qc ARGS -o runs/NAME)
  local name=$1; shift
  rm -rf "runs/$name"
  printf '%q ' "$K" qc -f ref.fa -o "runs/$name" -t "$T" --quiet "$@" >"runs/$name.cmd"; echo >>"runs/$name.cmd"
  /usr/bin/time -v -o "runs/$name.time" "$K" qc -f ref.fa -o "runs/$name" -t "$T" --quiet "$@" >"runs/$name.log" 2>&1
  echo $? >"runs/$name.rc"
  printf '%-16s rc=%s  wall %s\n' "$name" "$(cat "runs/$name.rc")" \
    "$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "runs/$name.time")" >&2
}
for p in $PANELS_RUN; do
  case $p in sites) P=(--sites "$W/sites.vcf.gz") ;; grid) P=() ;; *) die "panel $p" ;; esac
  step "kasane qc runs, panel: $p"
  run "base_$p" "${P[@]}" "${BAMS[@]}"
  run "ped_$p" "${P[@]}" --ped trio.ped "${BAMS[@]}"
  run "mix05_$p" "${P[@]}" "$W/mix/${A}_c05.bam" "${OTHERS[@]}"
  run "mix02_$p" "${P[@]}" "$W/mix/${A}_c02.bam" "${OTHERS[@]}"
  run "dup_$p" "${P[@]}" "${BAMS[@]}" "$W/mix/dup.bam"
  run "swap_$p" "${P[@]}" "$W/mix/swap.bam" "${OTHERS[@]}"
  fps=$(ls "$W/runs/base_$p"/*.fingerprint.tsv | paste -sd, -)
  run "swapfp_$p" "${P[@]}" --fingerprints "$fps" "$W/mix/swap.bam"
  run "selffp_$p" "${P[@]}" --fingerprints "$fps" "$W/$A.short.bam"
  [[ ${#SEXED[@]} -gt 0 ]] && run "sexed_$p" "${P[@]}" --ped trio.ped "${SEXED[@]}"
done

# 6. summary
python3 - "$W" "$PANELS" >summary.txt <<'EOF'
import csv, glob, json, os, re, sys
W, panels = sys.argv[1], sys.argv[2].split()
roles = dict(l.split() for l in open(f"{W}/roles.tsv"))
C, F, M, A, B = (roles[k] for k in ("child", "father", "mother", "A", "B"))
declared = {r[0]: {"1": "male", "2": "female"}.get(r[3], "unknown")
            for r in csv.reader(open(f"{W}/samples.tsv"), delimiter="\t") if not r[0].startswith("#")}
truth = {}
for p in glob.glob(f"{W}/mix/*.truth"):
    pct, na, nb, fr = open(p).read().split()
    truth[pct] = float(fr)

def rel(run):
    path = f"{W}/runs/{run}/relatedness.tsv"
    return list(csv.DictReader(open(path), delimiter="\t")) if os.path.exists(path) else []
def js(run, s):
    p = f"{W}/runs/{run}/{s}.qc.json"
    return json.load(open(p)) if os.path.exists(p) else None
def rc(run):
    p = f"{W}/runs/{run}.rc"
    return open(p).read().strip() if os.path.exists(p) else "-"
def tm(run):
    p = f"{W}/runs/{run}.time"
    if not os.path.exists(p):
        return "-"
    t = open(p).read()
    e = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", t).group(1)
    m = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
    parts = [float(x) for x in e.split(":")]
    secs = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
    return f"{secs:.1f}s/{m // 1024}MB"
def pair(rows, a, b):
    for r in rows:
        if {r["sample_a"], r["sample_b"]} == {a, b}:
            return r
def cont(run, s):
    j = js(run, s)
    if not j:
        return None, None
    return j["metrics"]["contamination"]["value"], j.get("contamination_sites")
def flagged(r):
    return bool(r) and r.get("flag") not in (None, "", "-")
def fmt(v, d=4):
    return "-" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))

for p in panels:
    print(f"### panel: {p}  ({'truth SNPs with INFO AF' if p == 'sites' else 'default grid, AF from the run'})")
    rows = rel(f"base_{p}")
    print(f"trio: child {C}, father {F}, mother {M}")
    print(f"{'pair':<14}{'truth':<22}{'kinship':>9}{'ibs0':>8}{'inform':>8}  relationship")
    expect = {(F, C): "parent-child", (M, C): "parent-child", (F, M): "unrelated"}
    for (a, b), t in expect.items():
        r = pair(rows, a, b) or {}
        print(f"{a+'-'+b:<14}{t:<22}{r.get('kinship','-'):>9}{r.get('ibs0','-'):>8}{r.get('informative','-'):>8}  {r.get('relationship','-')}")
    trio = {frozenset(x) for x in [(F, C), (M, C)]}
    unrel = [r for r in rows if frozenset((r["sample_a"], r["sample_b"])) not in trio]
    ks = [float(r["kinship"]) for r in unrel if r["kinship"] not in ("", "NaN", "nan")]
    nonun = [f"{r['sample_a']}-{r['sample_b']}:{r['relationship']}" for r in unrel if r["relationship"] != "unrelated"]
    print(f"unrelated pairs: {len(unrel)}, max kinship {max(ks) if ks else float('nan'):.4f}, "
          f"called other than unrelated: {len(nonun)} {' '.join(nonun)}"
          f" (informative sites per pair {min(int(r['informative']) for r in unrel) if unrel else 0}"
          f"-{max(int(r['informative']) for r in unrel) if unrel else 0})")
    print(f"contamination of {A} (contaminant {B}):   truth  estimate  sites  status  rc")
    c0, n0 = cont(f"base_{p}", A)
    st0 = (js(f"base_{p}", A) or {}).get("status")
    print(f"  {'0%':<36}{0:.4f}  {fmt(c0)}  {fmt(n0)}  {st0}  {rc('base_' + p)}")
    for pct in ("05", "02"):
        c, n = cont(f"mix{pct}_{p}", A)
        st = (js(f"mix{pct}_{p}", A) or {}).get("status")
        print(f"  {str(int(pct)) + '%':<36}{truth.get(pct, float('nan')):.4f}  {fmt(c)}  {fmt(n)}  {st}  {rc('mix' + pct + '_' + p)}")
    others = [cont(f"base_{p}", s)[0] for s in declared]
    others = [x for x in others if x is not None]
    print(f"  max contamination over the {len(others)} clean samples: {max(others) if others else float('nan'):.4f}")
    r = pair(rel(f"dup_{p}"), A, A + "dup") or {}
    print(f"duplicate ({A} as {A}dup): relationship '{r.get('relationship','-')}', kinship {r.get('kinship','-')} on {r.get('informative','-')} informative sites, "
          f"flagged {'yes' if flagged(r) else 'no'}, rc {rc('dup_' + p)}")
    r = pair(rel(f"swap_{p}"), A, B) or {}
    print(f"swap in one run ({B}'s reads named {A}): '{r.get('relationship','-')}' with {B}, kinship {r.get('kinship','-')} on {r.get('informative','-')} informative sites, "
          f"flagged {'yes' if flagged(r) else 'no'}, rc {rc('swap_' + p)}")
    fr = [r for r in rel(f"swapfp_{p}") if flagged(r)]
    own = [r for r in fr if f"{A} (earlier" in r["sample_b"]]
    other = [r for r in fr if f"{B} (earlier" in r["sample_b"]]
    print(f"swap vs earlier fingerprints: flagged {'yes' if fr else 'no'} (own mismatch: {'yes' if own else 'no'}"
          f"{', kinship ' + own[0]['kinship'] if own else ''}; matches {B}'s: {'yes' if other else 'no'}), rc {rc('swapfp_' + p)}")
    fr = [r for r in rel(f"selffp_{p}") if flagged(r)]
    print(f"{A} vs its own earlier fingerprint (negative control): flagged {'yes' if fr else 'no'}, rc {rc('selffp_' + p)}")
    for run in (f"ped_{p}", f"sexed_{p}"):
        if not os.path.exists(f"{W}/runs/{run}"):
            continue
        calls = []
        for s in declared:
            j = js(run, s)
            if j:
                sx = j["sex"]
                calls.append(f"{s}:{declared[s][0]}>{sx['call']}(x{fmt(sx['x_ratio'], 2)},het{fmt(sx['x_het'], 2)})")
        flags = sorted({r["flag"] for r in rel(run) if flagged(r)})
        tsv = list(csv.DictReader(open(f"{W}/runs/{run}/qc.tsv"), delimiter="\t"))
        fails = [f"{t['sample']}: {t['reasons']}" for t in tsv if t["status"] != "PASS"]
        rr = rel(run)
        kin = " ".join(f"{a}-{b}:{(pair(rr, a, b) or {}).get('kinship', '-')}" for a, b in ((F, C), (M, C), (F, M)))
        print(f"{run}: rc {rc(run)}; trio kinship {kin}; sex declared>called: {' '.join(calls)}")
        print(f"  relatedness flags: {len(flags)} {'; '.join(flags)}")
        for f in fails:
            print(f"  FAIL {f}")
    print("wall time / peak RSS: " + "  ".join(
        f"{n}={tm(n + '_' + p)}" for n in ("base", "ped", "mix05", "mix02", "dup", "swap", "swapfp", "selffp", "sexed")))
    print()
EOF
cat summary.txt
