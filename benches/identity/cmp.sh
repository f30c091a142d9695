#!/usr/bin/env bash
# cmp.sh A B: byte-compares two outs.sh folders case by case; exit 1 if any case differs.
# .gz: raw bytes, then decompressed text. Paths of OUTDIR and of the binary are normalized
# (reported as a note). Provenance/timing files are ignored but diffed modulo timing fields.
# CMP_VERBOSE=0 hides the first lines of each text diff.
[[ $# -eq 2 && -d $1 && -d $2 ]] || { echo "usage: $0 OUTDIR_A OUTDIR_B" >&2; exit 2; }
exec python3 "$(dirname "$0")/cmp.py" "$1" "$2"
