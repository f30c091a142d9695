#!/usr/bin/env python3
"""A synthetic truth set and call set on a random genome, for timing `kasane eval` against its
peers at scale.

  make_pair.py small OUT [--mb 450] [--every 100] [--seed 1]
      ref.fa (+ .fai), truth.vcf.gz and calls.vcf.gz (+ .tbi): about mb * 1e6 / every small
      variants (SNVs 80 %, insertions and deletions of 1-20 bp 20 %), calls with 3 % missed,
      2 % wrong genotype, 1 % false positives (half of them next to a truth variant, so the
      haplotype solver runs) and 1 % of truth SNV pairs written as one MNP.
  make_pair.py sv OUT [--mb 300] [--n 30000] [--seed 1]
      ref.fa, truth.vcf.gz and calls.vcf.gz of sequence-resolved DEL and INS (50 bp - 5 kb) and
      a few symbolic <DEL>/<INV>: calls jittered in position and size, insertion sequences
      mutated, 10 % missed, 10 % false positives.

Standard library only; bgzip and tabix (htslib) make the indexed files truvari needs.
"""
import argparse
import os
import random
import subprocess

TABLE = bytes(b"ACGT"[i % 4] for i in range(256))


def write_ref(out, mb, rng_seed, contigs=3):
    """A random genome in `contigs` contigs; returns {name: bytes}."""
    total = int(mb * 1e6)
    lens = [total // contigs] * contigs
    seqs = {}
    random.seed(rng_seed)
    with open(os.path.join(out, "ref.fa"), "wb") as fa, open(os.path.join(out, "ref.fa.fai"), "w") as fai:
        off = 0
        for i, n in enumerate(lens):
            name = f"chr{i + 1}"
            head = f">{name}\n".encode()
            fa.write(head)
            off += len(head)
            seq = random.randbytes(n).translate(TABLE)
            seqs[name] = seq
            fai.write(f"{name}\t{n}\t{off}\t60\t61\n")
            for k in range(0, n, 60):
                fa.write(seq[k:k + 60])
                fa.write(b"\n")
            off += n + (n + 59) // 60
    return seqs


def header(seqs, sample):
    h = ["##fileformat=VCFv4.2", '##FILTER=<ID=PASS,Description="All filters passed">',
         '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">',
         '##INFO=<ID=SVLEN,Number=1,Type=Integer,Description="SV length">',
         '##INFO=<ID=END,Number=1,Type=Integer,Description="End">',
         '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">']
    h += [f"##contig=<ID={n},length={len(s)}>" for n, s in seqs.items()]
    h.append(f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}")
    return "\n".join(h) + "\n"


def bgzip(path_gz, lines_iter, head):
    with open(path_gz, "wb") as f:
        p = subprocess.Popen(["bgzip", "-c", "-@", "2"], stdin=subprocess.PIPE, stdout=f)
        p.stdin.write(head.encode())
        buf = []
        for line in lines_iter:
            buf.append(line)
            if len(buf) >= 100000:
                p.stdin.write("".join(buf).encode())
                buf = []
        p.stdin.write("".join(buf).encode())
        p.stdin.close()
        p.wait()
    subprocess.run(["tabix", "-f", "-p", "vcf", path_gz], check=True)


def other(b, rng):
    return rng.choice([x for x in "ACGT" if x != b])


def small(args):
    seqs = write_ref(args.out, args.mb, args.seed)
    rng = random.Random(args.seed + 1)
    truth, calls = [], []
    for name, seq in seqs.items():
        s = seq.decode()
        pos = 100
        recs = []
        while pos < len(s) - 200:
            r = rng.random()
            gt = "0/1" if rng.random() < 0.6 else "1/1"
            if r < 0.8:
                recs.append((pos, s[pos - 1], other(s[pos - 1], rng), gt))
            elif r < 0.9:
                n = rng.randint(1, 20)
                recs.append((pos, s[pos - 1:pos + n], s[pos - 1], gt))
            else:
                n = rng.randint(1, 20)
                ins = "".join(rng.choice("ACGT") for _ in range(n))
                recs.append((pos, s[pos - 1], s[pos - 1] + ins, gt))
            pos += len(recs[-1][1]) + 1 + int(rng.expovariate(1 / args.every))
        i = 0
        while i < len(recs):
            p, ref, alt, gt = recs[i]
            truth.append(f"{name}\t{p}\t.\t{ref}\t{alt}\t.\tPASS\t.\tGT\t{gt}\n")
            u = rng.random()
            q = rng.randint(5, 60)
            nxt = recs[i + 1] if i + 1 < len(recs) else None
            if u < 0.03:
                pass  # missed
            elif u < 0.05:
                calls.append((name, p, f"{name}\t{p}\t.\t{ref}\t{alt}\t{q}\tPASS\t.\tGT\t{'1/1' if gt == '0/1' else '0/1'}\n"))
            elif u < 0.06 and nxt and len(ref) == len(alt) == 1 and len(nxt[1]) == len(nxt[2]) == 1 and nxt[0] - p < 60 and nxt[3] == gt:
                # This SNV and the next as one MNP record.
                span = s[p - 1:nxt[0]]
                hap = alt + span[1:-1] + nxt[2]
                calls.append((name, p, f"{name}\t{p}\t.\t{span}\t{hap}\t{q}\tPASS\t.\tGT\t{gt}\n"))
                truth.append(f"{name}\t{nxt[0]}\t.\t{nxt[1]}\t{nxt[2]}\t.\tPASS\t.\tGT\t{nxt[3]}\n")
                i += 1
            else:
                calls.append((name, p, f"{name}\t{p}\t.\t{ref}\t{alt}\t{q}\tPASS\t.\tGT\t{gt}\n"))
            if rng.random() < 0.01:
                # A false positive, half of them right next to this variant.
                fp = p + len(ref) + (rng.randint(1, 4) if rng.random() < 0.5 else rng.randint(30, 60))
                if nxt is None or fp < nxt[0] - 1:
                    calls.append((name, fp, f"{name}\t{fp}\t.\t{s[fp - 1]}\t{other(s[fp - 1], rng)}\t{rng.randint(1, 20)}\tPASS\t.\tGT\t0/1\n"))
            i += 1
    calls.sort(key=lambda c: (c[0], c[1]))
    bgzip(os.path.join(args.out, "truth.vcf.gz"), iter(truth), header(seqs, "TRUTH"))
    bgzip(os.path.join(args.out, "calls.vcf.gz"), (c[2] for c in calls), header(seqs, "CALLS"))
    print(f"{len(truth)} truth records, {len(calls)} call records in {args.out}")


def sv(args):
    seqs = write_ref(args.out, args.mb, args.seed)
    rng = random.Random(args.seed + 1)
    per = args.n // len(seqs)
    truth, calls = [], []

    def rec(name, s, p, kind, size, ins=None, gt="0/1", q=".", symbolic=False):
        if kind == "DEL" and symbolic:
            return (name, p, f"{name}\t{p}\t.\t{s[p - 1]}\t<DEL>\t{q}\tPASS\tSVTYPE=DEL;SVLEN=-{size};END={p + size}\tGT\t{gt}\n")
        if kind == "INV":
            return (name, p, f"{name}\t{p}\t.\t{s[p - 1]}\t<INV>\t{q}\tPASS\tSVTYPE=INV;SVLEN={size};END={p + size}\tGT\t{gt}\n")
        if kind == "DEL":
            return (name, p, f"{name}\t{p}\t.\t{s[p - 1:p + size]}\t{s[p - 1]}\t{q}\tPASS\tSVTYPE=DEL;SVLEN=-{size}\tGT\t{gt}\n")
        return (name, p, f"{name}\t{p}\t.\t{s[p - 1]}\t{s[p - 1]}{ins}\t{q}\tPASS\tSVTYPE=INS;SVLEN={size}\tGT\t{gt}\n")

    for name, seq in seqs.items():
        s = seq.decode()
        step = len(s) // (per + 1)
        for k in range(per):
            p = step * (k + 1) + rng.randint(-step // 4, step // 4)
            size = int(min(5000, 50 + rng.expovariate(1 / 400)))
            r = rng.random()
            kind = "DEL" if r < 0.45 else ("INS" if r < 0.95 else "INV")
            symbolic = kind == "DEL" and rng.random() < 0.1
            ins = "".join(rng.choice("ACGT") for _ in range(size)) if kind == "INS" else None
            gt = "0/1" if rng.random() < 0.6 else "1/1"
            truth.append(rec(name, s, p, kind, size, ins, gt, ".", symbolic))
            if rng.random() < 0.1:
                continue
            cp = p + (rng.randint(-50, 50) if rng.random() < 0.6 else 0)
            csize = max(50, int(size * rng.uniform(0.9, 1.1)))
            cins = None
            if kind == "INS":
                c = list(ins[:csize] + ins[:max(0, csize - len(ins))])
                for j in range(len(c)):
                    if rng.random() < 0.05:
                        c[j] = rng.choice("ACGT")
                cins = "".join(c)
            cgt = gt if rng.random() < 0.85 else ("1/1" if gt == "0/1" else "0/1")
            calls.append(rec(name, s, cp, kind, csize, cins, cgt, rng.randint(1, 60), symbolic))
            if rng.random() < 0.11:
                fp = p + step // 2
                fs = int(50 + rng.expovariate(1 / 300))
                calls.append(rec(name, s, fp, "DEL", fs, None, "0/1", rng.randint(1, 20)))
    truth.sort(key=lambda c: (c[0], c[1]))
    calls.sort(key=lambda c: (c[0], c[1]))
    bgzip(os.path.join(args.out, "truth.vcf.gz"), (c[2] for c in truth), header(seqs, "TRUTH"))
    bgzip(os.path.join(args.out, "calls.vcf.gz"), (c[2] for c in calls), header(seqs, "CALLS"))
    print(f"{len(truth)} truth SVs, {len(calls)} call SVs in {args.out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["small", "sv"])
    ap.add_argument("out")
    ap.add_argument("--mb", type=float)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--n", type=int, default=30000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.mb is None:
        args.mb = 450 if args.kind == "small" else 300
    (small if args.kind == "small" else sv)(args)


if __name__ == "__main__":
    main()
