#!/usr/bin/env bash
# Planning at cohort scale: a pipeline file over a sample sheet of N samples (all the same
# tiny BAM, testdata/sample.bam; one coverage step), for N = 10^3, 10^4, 10^5 (or the sizes
# given). Prints the wall time and peak memory (GNU time) of `validate`, `plan` and
# `export snakemake`, and the time until `run` starts its first job.
#
#   benches/plan_scale.sh [N...]
#
# Needs GNU time (/usr/bin/time). Builds kasane in release mode first.
set -euo pipefail
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(1000 10000 100000)

root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && cargo build --release --quiet --bin kasane)
kasane=$root/target/release/kasane
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# "SECONDS PEAK_MB" of a command, its output discarded.
measure() {
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || {
        echo "failed: $*" >&2
        cat "$work/err" >&2
        exit 1
    }
    awk '{ printf "%8.2f s %7.1f MB", $1, $2 / 1024 }' "$work/time"
}

printf '%8s  %-22s %-22s %-22s %s\n' samples validate plan export "run: first job after"
for n in "${sizes[@]}"; do
    d=$work/n$n
    mkdir -p "$d"
    awk -v n="$n" -v bam="$root/testdata/sample.bam" \
        'BEGIN { print "id\tpath"; for (i = 0; i < n; i++) printf "s%d\t%s\n", i, bam }' \
        >"$d/sheet.tsv"
    cat >"$d/p.toml" <<TOML
name = "scale"
output = "out"
sample_sheet = "sheet.tsv"
[[steps]]
id = "depth"
kind = "coverage"
[steps.params]
no_per_base = true
TOML
    v=$(measure "$kasane" validate "$d/p.toml")
    p=$(measure "$kasane" plan "$d/p.toml")
    e=$(measure "$kasane" export snakemake "$d/p.toml" -o "$d/wf" --shards 1)
    # The run is stopped once its first job has started.
    t0=$(date +%s.%N)
    "$kasane" run "$d/p.toml" -t 2 --backend cpu 2>"$d/run.log" &
    pid=$!
    first=""
    for _ in $(seq 1 6000); do
        if grep -q ': started' "$d/run.log"; then
            first=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f s", b - a }')
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf '%8d  %-22s %-22s %-22s %s\n' "$n" "$v" "$p" "$e" "${first:-none within 300 s}"
    rm -rf "$d"
done
