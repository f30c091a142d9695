#!/usr/bin/env bash
# End-to-end check of `kasane export snakemake` on a real Slurm cluster: brings up a
# single-node cluster on this machine (scripts/slurm-local.sh), exports a pipeline with N shards,
# submits it through Snakemake's Slurm executor, and compares every output byte for byte with a
# plain `kasane run` of the same file. Exits non-zero on any difference.
#
#   scripts/slurm-check.sh [PIPELINE.toml] [SHARDS]      (default: pipelines/cohort.toml, 3)
#
# Needs root (apt-get, daemons) and a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
pipeline="$(realpath "${1:-pipelines/cohort.toml}")"
shards="${2:-3}"
kasane="$repo/target/release/kasane"
[[ -x "$kasane" ]] || cargo build --release --quiet
work="$(mktemp -d /tmp/kasane-slurm.XXXXXX)"
echo "== work folder: $work"

scripts/slurm-local.sh up
"$kasane" run "$pipeline" -o "$work/direct" --quiet
"$kasane" export snakemake "$pipeline" -o "$work/workflow" --results "$work/slurm" --shards "$shards"
t0=$(date +%s)
scripts/slurm-local.sh run "$work/workflow"
echo "== snakemake on slurm: $(($(date +%s) - t0)) s"

list() { (cd "$1" && find . -path ./.kasane -prune -o -type f ! -name run.json -print | sort); }
if ! diff <(list "$work/direct") <(list "$work/slurm"); then
  echo "FAIL: the file lists differ" >&2
  exit 1
fi
n=0
while read -r f; do
  cmp "$work/direct/$f" "$work/slurm/$f"
  n=$((n + 1))
done < <(list "$work/direct")
"$kasane" verify "$work/slurm"
jobs=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r["jobs"]), sum(len(j.get("shards", [])) for j in r["jobs"]))' "$work/slurm/run.json")
echo "== OK: $n files byte-identical to kasane run; run.json: $jobs (jobs, shard runs)"
