#!/usr/bin/env python3
"""A long-read sample with planted structural variants and SNVs, for the example pipeline
pipelines/evaluate-calls.toml (kasane call and kasane sv, each evaluated against its truth).

On testdata/qc/qc_ref.fa (the pipeline's reference, shared with qc_a), two haplotypes carry the
deletions and insertions of EVENTS and about 40 SNVs; HiFi-like reads (5-9 kb, 8 per haplotype,
substitution errors at 0.2 %) are cut from them and written already aligned: each read's CIGAR
follows its haplotype's bases back to the reference (M, I for inserted bases, D for deleted
ones, S where a read starts or ends inside an insertion).

Writes, next to this script:
  lr_a.bam, lr_a.bam.bai    the reads (sample lr_a)
  lr_a.truth.vcf            the SNVs, with their genotypes
  lr_a.sv.truth.vcf         the SVs, sequence-resolved (REF/ALT), SVTYPE, SVLEN, END, GT
  qc_a.sv.truth.vcf         qc_a's SV truth: none planted (gen_qc.py plants SNPs only)

  python3 testdata/eval/pipeline/gen_lr.py     # needs pysam; deterministic (SEED)
"""
import os
import random

import pysam

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "..", "qc", "qc_ref.fa")
SEED = 19
DEPTH = 8  # reads per haplotype
ERR = 0.002

# (chrom, 0-based anchor base, kind, length, genotype as (hap0, hap1)). Clear of gen_qc.py's
# N run (chr1:20011-20358) and its segmental duplication (chr1:40000-44000, chr2:24000-28000).
EVENTS = [
    ("chr1", 8000, "DEL", 400, (0, 1)),
    ("chr1", 14000, "INS", 300, (1, 1)),
    ("chr1", 30000, "DEL", 1200, (1, 1)),
    ("chr1", 50000, "INS", 800, (0, 1)),
    ("chr2", 8000, "DEL", 120, (1, 0)),
    ("chr2", 15000, "INS", 2000, (0, 1)),
    ("chr2", 33000, "DEL", 3000, (1, 1)),
    ("chrX", 12000, "INS", 150, (1, 1)),
]
N_SNV = 40


def read_fasta(path):
    seqs, name = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                name = line[1:].split()[0]
                seqs[name] = []
            elif name:
                seqs[name].append(line.upper())
    return {k: "".join(v) for k, v in seqs.items()}


def other(rng, b):
    return rng.choice([x for x in "ACGT" if x != b])


def snvs(rng, seqs):
    out = set()
    chroms = ["chr1", "chr2", "chrX"]
    while len(out) < N_SNV:
        c = rng.choice(chroms)
        p = rng.randrange(1000, len(seqs[c]) - 1000)
        if seqs[c][p] == "N":
            continue
        if any(e[0] == c and e[1] - 600 <= p <= e[1] + e[3] + 600 for e in EVENTS):
            continue
        if any(s[0] == c and abs(s[1] - p) < 50 for s in out):
            continue
        gt = rng.choice([(0, 1), (1, 0), (1, 1)])
        out.add((c, p, other(rng, seqs[c][p]), gt))
    return sorted(out)


def haplotype(ref, chrom, h, events, snv_list):
    """The haplotype's bases and, per base, its reference position (-1: inserted)."""
    bases, rp = [], []
    alts = {p: a for c, p, a, gt in snv_list if c == chrom and gt[h]}
    evs = sorted((e for e in events if e[0] == chrom and e[4][h]), key=lambda e: e[1])
    i = 0
    for c, p, kind, n, gt, seq in evs:
        while i <= p:
            bases.append(alts.get(i, ref[i]))
            rp.append(i)
            i += 1
        if kind == "DEL":
            i = p + 1 + n
        else:
            bases.extend(seq)
            rp.extend([-1] * n)
    while i < len(ref):
        bases.append(alts.get(i, ref[i]))
        rp.append(i)
        i += 1
    return bases, rp


def cigar(rp, s, e):
    """Reference start and CIGAR of haplotype bases [s, e); None when no base is aligned."""
    ops = []

    def push(op, n):
        if ops and ops[-1][0] == op:
            ops[-1][1] += n
        else:
            ops.append([op, n])

    first = next((i for i in range(s, e) if rp[i] >= 0), None)
    if first is None:
        return None
    last = max(i for i in range(s, e) if rp[i] >= 0)
    if first > s:
        push(4, first - s)
    prev = None
    for i in range(first, last + 1):
        if rp[i] < 0:
            push(1, 1)
            continue
        if prev is not None and rp[i] > prev + 1:
            push(2, rp[i] - prev - 1)
        push(0, 1)
        prev = rp[i]
    if last + 1 < e:
        push(4, e - last - 1)
    return rp[first], [tuple(o) for o in ops]


def main():
    rng = random.Random(SEED)
    seqs = read_fasta(REF)
    events = []
    for c, p, kind, n, gt in EVENTS:
        assert "N" not in seqs[c][p - 500:p + n + 500], (c, p)
        seq = "".join(rng.choice("ACGT") for _ in range(n)) if kind == "INS" else ""
        events.append((c, p, kind, n, gt, seq))
    snv_list = snvs(rng, seqs)
    names = list(seqs)
    header = {
        "HD": {"VN": "1.6", "SO": "coordinate"},
        "SQ": [{"SN": c, "LN": len(seqs[c])} for c in names],
        "RG": [{"ID": "lr_a", "SM": "lr_a", "PL": "PACBIO"}],
        "PG": [{"ID": "gen_lr.py", "PN": "gen_lr.py"}],
    }
    tmp = os.path.join(HERE, "lr_a.unsorted.bam")
    recs = []
    k = 0
    for c in names:
        if c == "chrY":
            continue  # lr_a is female
        for h in (0, 1):
            bases, rp = haplotype(seqs[c], c, h, events, snv_list)
            n_reads = DEPTH * len(bases) // 7000
            for _ in range(n_reads):
                L = rng.randint(5000, 9000)
                s = rng.randrange(0, len(bases) - L)
                e = s + L
                aln = cigar(rp, s, e)
                if aln is None:
                    continue
                read = [b if rng.random() >= ERR else other(rng, b) for b in bases[s:e]]
                recs.append((c, aln, "".join(read), rng.random() < 0.5, "lr%05d" % k))
                k += 1
    with pysam.AlignmentFile(tmp, "wb", header=header) as out:
        for c, (pos, ops), read, rev, name in recs:
            a = pysam.AlignedSegment(out.header)
            a.query_name = name
            a.flag = 16 if rev else 0
            a.reference_id = names.index(c)
            a.reference_start = pos
            a.mapping_quality = 60
            a.cigartuples = ops
            a.query_sequence = read
            a.query_qualities = pysam.qualitystring_to_array("?" * len(read))
            a.set_tag("RG", "lr_a")
            out.write(a)
    bam = os.path.join(HERE, "lr_a.bam")
    pysam.sort("-o", bam, tmp)
    os.remove(tmp)
    pysam.index(bam)

    def vcf_header(source, sv):
        lines = ["##fileformat=VCFv4.2", "##source=testdata/eval/pipeline/gen_lr.py (%s)" % source]
        if sv:
            lines += [
                '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
                '##INFO=<ID=SVLEN,Number=1,Type=Integer,Description="Length of the SV">',
                '##INFO=<ID=END,Number=1,Type=Integer,Description="End position">',
            ]
        lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
        lines += ["##contig=<ID=%s,length=%d>" % (c, len(seqs[c])) for c in names]
        return "\n".join(lines) + "\n"

    cols = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t%s\n"
    gt = lambda g: "%d|%d" % g
    with open(os.path.join(HERE, "lr_a.truth.vcf"), "w") as f:
        f.write(vcf_header("planted SNVs of lr_a", False) + cols % "lr_a")
        for c, p, a, g in sorted(snv_list, key=lambda s: (names.index(s[0]), s[1])):
            f.write("%s\t%d\t.\t%s\t%s\t.\tPASS\t.\tGT\t%s\n" % (c, p + 1, seqs[c][p], a, gt(g)))
    with open(os.path.join(HERE, "lr_a.sv.truth.vcf"), "w") as f:
        f.write(vcf_header("planted SVs of lr_a", True) + cols % "lr_a")
        for c, p, kind, n, g, seq in sorted(events, key=lambda e: (names.index(e[0]), e[1])):
            if kind == "DEL":
                ref, alt, svlen, end = seqs[c][p:p + 1 + n], seqs[c][p], -n, p + 1 + n
            else:
                ref, alt, svlen, end = seqs[c][p], seqs[c][p] + seq, n, p + 1
            f.write("%s\t%d\t.\t%s\t%s\t.\tPASS\tSVTYPE=%s;SVLEN=%d;END=%d\tGT\t%s\n"
                    % (c, p + 1, ref, alt, kind, svlen, end, gt(g)))
    with open(os.path.join(HERE, "qc_a.sv.truth.vcf"), "w") as f:
        f.write(vcf_header("qc_a carries no SVs", True) + cols % "qc_a")
    print("lr_a.bam: %d reads; %d SVs, %d SNVs" % (len(recs), len(events), len(snv_list)))


if __name__ == "__main__":
    main()
