#!/usr/bin/env python3
"""Generate a reference and a sorted, indexed BAM with many contigs.

    gen.py OUT_DIR --contigs N [--len 1000] [--big K --big-len L --big-depth D] [--seed S]

N tiny contigs of --len bases hold one 100 bp read each (as in issue 21's table); with --big,
K large contigs come first and hold reads at --big-depth with a heterozygous SNV every 2 kb,
like GRCh38 with its alts and decoys, where a few contigs carry most of the work.
Writes OUT_DIR/ref.fa(.fai), reads.bam(.bai) and regions.bed (a 200 bp interval per contig).
Needs samtools. Deterministic for a seed; only the standard library.
"""
import argparse
import os
import random
import subprocess
import sys

READ = 100
ACGT = bytes.maketrans(bytes(range(256)), b"ACGT" * 64)
COMP = bytes.maketrans(b"ACGT", b"TGCA")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--contigs", type=int, required=True)
    ap.add_argument("--len", type=int, default=1000)
    ap.add_argument("--big", type=int, default=0)
    ap.add_argument("--big-len", type=int, default=2_000_000)
    ap.add_argument("--big-depth", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.len < 2 * READ:
        sys.exit("--len must be at least 200")
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    contigs = [(f"big{i + 1}", a.big_len) for i in range(a.big)]
    contigs += [(f"ctg{i + 1}", a.len) for i in range(a.contigs)]

    fa = open(os.path.join(a.out, "ref.fa"), "wb")
    bed = open(os.path.join(a.out, "regions.bed"), "w")
    view = subprocess.Popen(
        ["samtools", "view", "-b", "-o", os.path.join(a.out, "reads.bam"), "-"],
        stdin=subprocess.PIPE,
    )
    sam = view.stdin
    hdr = [b"@HD\tVN:1.6\tSO:coordinate\n"]
    hdr += [f"@SQ\tSN:{n}\tLN:{ln}\n".encode() for n, ln in contigs]
    hdr.append(b"@RG\tID:rg1\tSM:many\tPL:ILLUMINA\n")
    sam.write(b"".join(hdr))
    q = b"I" * READ
    serial = 0
    for name, ln in contigs:
        seq = rng.randbytes(ln).translate(ACGT)
        fa.write(b">" + name.encode() + b"\n")
        for i in range(0, ln, 60):
            fa.write(seq[i : i + 60] + b"\n")
        bed.write(f"{name}\t{ln // 2 - 100}\t{ln // 2 + 100}\n")
        if name.startswith("big"):
            alt = bytearray(seq)
            for p in range(1000, ln, 2000):
                alt[p] = b"ACGT"[(b"ACGT".index(seq[p]) + 1) % 4]
            alt = bytes(alt)
            n = ln * a.big_depth // READ
            starts = sorted(rng.randrange(ln - READ) for _ in range(n))
        else:
            alt = seq
            starts = [100]
        lines = []
        for s in starts:
            serial += 1
            hap = alt if rng.random() < 0.5 else seq
            flag = 16 if rng.random() < 0.5 else 0
            lines.append(
                b"r%d\t%d\t%s\t%d\t60\t100M\t*\t0\t0\t%s\t%s\tRG:Z:rg1\n"
                % (serial, flag, name.encode(), s + 1, hap[s : s + READ], q)
            )
        sam.write(b"".join(lines))
    sam.close()
    fa.close()
    bed.close()
    if view.wait() != 0:
        sys.exit("samtools view failed")
    for cmd in (["samtools", "index", "reads.bam"], ["samtools", "faidx", "ref.fa"]):
        subprocess.run(cmd, cwd=a.out, check=True)


if __name__ == "__main__":
    main()
