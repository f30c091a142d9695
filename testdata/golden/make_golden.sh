#!/usr/bin/env bash
# Regenerate every golden output under testdata/golden/ with mosdepth 0.3.3.
#
#   python3 testdata/gen_testdata.py && bash testdata/golden/make_golden.sh
#
# Each case <name> is a directory testdata/golden/<name>/ holding exactly the
# files mosdepth wrote for the prefix <name>/out (the *.csi indexes of the
# bed.gz outputs are deleted).  cases.tsv lists, per case, the environment,
# the mosdepth options (no prefix, no input, never -t) and the input path,
# all relative to the repository root.  A test runs
#     env <env> kasane coverage <args> <tmp>/out <input>
# from the repository root and compares every file (gunzipped) line by line.
#
# errors.tsv lists invocations that mosdepth rejects (or mishandles), with
# its exit code and the first line of its stderr.
#
# Whatever mosdepth printed to stderr/stdout for a golden case is kept in
# logs/<name>.stderr / logs/<name>.stdout (only when non-empty), and the full
# stderr of each error case in logs/error_<name>.stderr; these logs are
# informative and not part of the per-case output directories.
set -euo pipefail

cd "$(dirname "$0")/../.."          # repository root
G=testdata/golden

mosdepth --version

# mosdepth reads these from the environment; start from a clean slate.
unset REF_PATH REF_CACHE MOSDEPTH_PRECISION
for v in $(env | sed -n 's/^\(MOSDEPTH_Q[0-9]*\)=.*/\1/p'); do unset "$v"; done
export LC_ALL=C

# name | env (space separated VAR=VALUE, or -) | mosdepth options | input
CASES=$(cat <<'EOF'
default|-||testdata/sample.bam
n|-|-n|testdata/sample.bam
x|-|-x|testdata/sample.bam
Q20|-|-Q 20|testdata/sample.bam
F0|-|-F 0|testdata/sample.bam
F1024|-|-F 1024|testdata/sample.bam
i2|-|-i 2|testdata/sample.bam
R_rg1|-|-R rg1|testdata/sample.bam
R_rg1_rg2|-|-R rg1,rg2|testdata/sample.bam
c_chr2|-|-c chr2|testdata/sample.bam
c_chr1_b1000|-|-c chr1 -b 1000|testdata/sample.bam
b1000|-|-b 1000|testdata/sample.bam
b777_m|-|-b 777 -m|testdata/sample.bam
bed|-|-b testdata/regions.bed|testdata/sample.bam
bed_m|-|-b testdata/regions.bed -m|testdata/sample.bam
n_bed3|-|-n -b testdata/regions3.bed|testdata/sample.bam
n_bed3_T|-|-n -b testdata/regions3.bed -T 1,5,10|testdata/sample.bam
bed_T|-|-b testdata/regions.bed -T 0,1,2,5,10,20|testdata/sample.bam
q_0_1_4_10_inf|-|-q 0:1:4:10:|testdata/sample.bam
q_1_4|-|-q 1:4|testdata/sample.bam
q_env_names|MOSDEPTH_Q0=NO_COVERAGE MOSDEPTH_Q1=LOW MOSDEPTH_Q2=CALLABLE|-q 0:1:5:100|testdata/sample.bam
q5|-|-q 5|testdata/sample.bam
precision5_b333|MOSDEPTH_PRECISION=5|-b 333|testdata/sample.bam
precision0_b1000|MOSDEPTH_PRECISION=0|-b 1000|testdata/sample.bam
x_bed_T|-|-x -b testdata/regions.bed -T 1,3|testdata/sample.bam
Q10_F0_b500_m_T|-|-Q 10 -F 0 -b 500 -m -T 2,4|testdata/sample.bam
long_default|-||testdata/long.bam
cigar70k_b5000|-|-b 5000|testdata/cigar70k.bam
long_b1000_m|-|-b 1000 -m|testdata/long.bam
cram_default|-|-f testdata/ref.fa|testdata/sample.cram
csi_b1000|-|-b 1000|testdata/sample.csi.bam
x_F0|-|-x -F 0|testdata/sample.bam
F0_i2048|-|-F 0 -i 2048|testdata/sample.bam
R_rg2_Q20|-|-R rg2 -Q 20|testdata/sample.bam
c_chr3|-|-c chr3|testdata/sample.bam
c_chrM_F0_b100|-|-c chrM -F 0 -b 100|testdata/sample.bam
c_chr1_bed|-|-c chr1 -b testdata/regions.bed|testdata/sample.bam
b40000|-|-b 40000|testdata/sample.bam
x_bed_m|-|-x -b testdata/regions.bed -m|testdata/sample.bam
precision3_bed_m|MOSDEPTH_PRECISION=3|-b testdata/regions.bed -m|testdata/sample.bam
n_b1000_q|-|-n -b 1000 -q 0:2:8:|testdata/sample.bam
bad_cols_bed|-|-b testdata/bad/bad_cols.bed|testdata/sample.bam
long_x_b1000_T|-|-x -b 1000 -T 5,10|testdata/long.bam
cram_bed|-|-f testdata/ref.fa -b testdata/regions.bed|testdata/sample.cram
EOF
)

# name | mosdepth options | input   (expected to fail, or at least to misbehave)
ERRORS=$(cat <<'EOF'
c_chrNOPE|-c chrNOPE|testdata/sample.bam
T_without_b|-T 1,2|testdata/sample.bam
q_invalid|-q 0::5|testdata/sample.bam
cram_without_fasta||testdata/sample.cram
truncated_bam||testdata/bad/truncated.bam
corrupt_bam||testdata/bad/corrupt.bam
no_eof_bam||testdata/bad/no_eof.bam
not_a_bam||testdata/bad/not_a_bam.bam
noindex_bam||testdata/bad/noindex.bam
notsorted_bam||testdata/bad/notsorted.bam
missing_input||testdata/does_not_exist.bam
bed_bad_start|-b testdata/bad/bad_start.bed|testdata/sample.bam
EOF
)

# Remove previous outputs (case directories and logs), keep the scripts.
find "$G" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
rm -f "$G/cases.tsv" "$G/errors.tsv" "$G/DROPPED.md"
mkdir -p "$G/logs"

printf 'case\tenv\targs\tinput\n' > "$G/cases.tsv"
dropped=""
while IFS='|' read -r name envs args input; do
    [ -n "$name" ] || continue
    dir="$G/$name"
    mkdir -p "$dir"
    envv=()
    if [ "$envs" != "-" ]; then read -r -a envv <<< "$envs"; fi
    # shellcheck disable=SC2086  # args are word-split on purpose
    set +e
    env "${envv[@]}" mosdepth $args "$dir/out" "$input" \
        > "$G/logs/$name.stdout" 2> "$G/logs/$name.stderr"
    rc=$?
    set -e
    [ -s "$G/logs/$name.stdout" ] || rm -f "$G/logs/$name.stdout"
    [ -s "$G/logs/$name.stderr" ] || rm -f "$G/logs/$name.stderr"
    if [ "$rc" -ne 0 ]; then
        first=$(head -n 1 "$G/logs/$name.stderr" 2>/dev/null || true)
        echo "DROPPED $name (exit $rc): $first" >&2
        dropped+="| $name | \`$args\` | $input | $rc | ${first//|/\\|} |"$'\n'
        rm -rf "$dir"
        continue
    fi
    rm -f "$dir"/*.csi
    printf '%s\t%s\t%s\t%s\n' "$name" "$envs" "$args" "$input" >> "$G/cases.tsv"
    echo "ok  $name: $(cd "$dir" && ls | tr '\n' ' ')"
done <<< "$CASES"

{
    echo "# Dropped golden cases"
    echo
    echo "Cases from make_golden.sh for which mosdepth 0.3.3 exited non-zero."
    echo
    if [ -n "$dropped" ]; then
        echo "| case | args | input | exit | first stderr line |"
        echo "|---|---|---|---|---|"
        printf '%s' "$dropped"
    else
        echo "None: every case ran successfully."
    fi
} > "$G/DROPPED.md"

printf 'case\targs\tinput\tmosdepth_exit_code\tmosdepth_stderr_first_line\n' > "$G/errors.tsv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while IFS='|' read -r name args input; do
    [ -n "$name" ] || continue
    rm -rf "${tmp:?}"/*
    set +e
    # shellcheck disable=SC2086
    mosdepth $args "$tmp/out" "$input" > "$tmp/stdout" 2> "$tmp/stderr"
    rc=$?
    set -e
    cp "$tmp/stderr" "$G/logs/error_$name.stderr"
    [ -s "$tmp/stdout" ] && cp "$tmp/stdout" "$G/logs/error_$name.stdout"
    first=$(head -n 1 "$tmp/stderr" | tr '\t' ' ' | sed 's/ *$//')
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$args" "$input" "$rc" "$first" >> "$G/errors.tsv"
    echo "err $name: exit $rc: $first"
done <<< "$ERRORS"

echo "done: $(($(wc -l < "$G/cases.tsv") - 1)) golden cases, $(($(wc -l < "$G/errors.tsv") - 1)) error cases"
