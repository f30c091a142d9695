#!/usr/bin/env python3
"""Deterministic generator for the kasane test data.

Run from the repository root:

    python3 testdata/gen_testdata.py

Everything is written into testdata/ (next to this script).  The output is
byte-for-byte reproducible: a fixed random seed, no @PG header lines, no
timestamps, records written in an explicit order.

Requires: python3, pysam (0.24 was used), samtools (1.16 was used) on PATH.
See testdata/README.md for what each file exercises.
"""

import hashlib
import os
import random
import shutil
import struct
import subprocess
import sys
import zlib

import pysam

SEED = 20240517
HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "bad")

# name, length.  Order is the @SQ order of every BAM/CRAM header.
CONTIGS = [
    ("chr1", 30017),  # hand-placed reads in [0, 6000) + random reads
    ("chr2", 20011),  # random reads + hand-placed reads at both ends
    ("chr3", 6007),   # no reads at all
    ("chrM", 2003),   # only reads that the default -F 1796 drops
    ("chr5", 3001),   # no reads at all
]
LEN = dict(CONTIGS)
TID = {name: i for i, (name, _) in enumerate(CONTIGS)}

BAM_FPAIRED = 1
BAM_FPROPER = 2
BAM_FUNMAP = 4
BAM_FMUNMAP = 8
BAM_FREVERSE = 16
BAM_FMREVERSE = 32
BAM_FREAD1 = 64
BAM_FREAD2 = 128
BAM_FSECONDARY = 256
BAM_FQCFAIL = 512
BAM_FDUP = 1024
BAM_FSUPP = 2048

REF_OPS = set("MDN=X")
QRY_OPS = set("MIS=X")


def run(cmd):
    subprocess.run(cmd, check=True)


# --------------------------------------------------------------------------
# reference
# --------------------------------------------------------------------------

def make_reference(rng):
    seqs = {}
    for name, length in CONTIGS:
        seqs[name] = "".join(rng.choice("ACGT") for _ in range(length))
    path = os.path.join(HERE, "ref.fa")
    with open(path, "w") as fh:
        for name, _ in CONTIGS:
            fh.write(">%s\n" % name)
            s = seqs[name]
            for i in range(0, len(s), 60):
                fh.write(s[i:i + 60] + "\n")
    for ext in (".fai",):
        if os.path.exists(path + ext):
            os.remove(path + ext)
    run(["samtools", "faidx", path])
    return seqs


# --------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------

def parse_cigar(cigar):
    if cigar in ("", "*"):
        return []
    ops = []
    num = ""
    for ch in cigar:
        if ch.isdigit():
            num += ch
        else:
            ops.append((ch, int(num)))
            num = ""
    assert num == "", cigar
    return ops


def cigar_str(ops):
    return "".join("%d%s" % (n, op) for op, n in ops) if ops else "*"


def ref_len(cigar):
    return sum(n for op, n in parse_cigar(cigar) if op in REF_OPS)


def other_base(rng, b):
    return rng.choice([x for x in "ACGT" if x != b])


class Rec(object):
    __slots__ = ("qname", "flag", "tid", "pos", "mapq", "cigar", "mtid",
                 "mpos", "tlen", "seq", "rg", "order", "qual")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


class Builder(object):
    """Collects records; sorts them; writes BAMs."""

    def __init__(self, rng, seqs, with_rg=True, mismatch_rate=0.01, qual=30):
        self.rng = rng
        self.seqs = seqs
        self.recs = []
        self.with_rg = with_rg
        self.mismatch_rate = mismatch_rate
        self.qual = qual

    def make_seq(self, chrom, pos, cigar):
        rng = self.rng
        ref = self.seqs[chrom] if chrom else None
        out = []
        p = pos
        for op, n in parse_cigar(cigar):
            if op in ("M", "=", "X"):
                for i in range(n):
                    b = ref[p + i]
                    if op == "X" or (op == "M" and rng.random() < self.mismatch_rate):
                        b = other_base(rng, b)
                    out.append(b)
                p += n
            elif op in ("I", "S"):
                out.append("".join(rng.choice("ACGT") for _ in range(n)))
            elif op in ("D", "N"):
                p += n
            # H, P: nothing
        return "".join(out)

    def add(self, qname, flag, chrom, pos, cigar, mapq=60, rg="rg1",
            mchrom=None, mpos=-1, tlen=0, seq=None):
        """chrom None => unplaced (tid -1).  pos is 0-based."""
        tid = TID[chrom] if chrom is not None else -1
        mtid = TID[mchrom] if mchrom is not None else -1
        if chrom is not None and cigar not in ("", "*"):
            end = pos + ref_len(cigar)
            assert 0 <= pos and end <= LEN[chrom], (qname, chrom, pos, cigar)
        if seq is None:
            if cigar in ("", "*"):
                seq = "".join(self.rng.choice("ACGT") for _ in range(50))
            else:
                seq = self.make_seq(chrom, pos, cigar)
        r = Rec(qname=qname, flag=flag, tid=tid, pos=pos, mapq=mapq,
                cigar=cigar, mtid=mtid, mpos=mpos, tlen=tlen, seq=seq,
                rg=rg if self.with_rg else None, order=len(self.recs),
                qual=self.qual)
        self.recs.append(r)
        return r

    def add_pair(self, qname, chrom, pos1, cig1, pos2, cig2, proper=True,
                 mapq1=60, mapq2=60, rg1="rg1", rg2=None, extra1=0,
                 extra2=0, chrom2=None, rev1=False, rev2=True):
        """A pair with both mates mapped. read1 at pos1, read2 at pos2."""
        chrom2 = chrom2 or chrom
        rg2 = rg2 or rg1
        base = BAM_FPAIRED | (BAM_FPROPER if proper else 0)
        f1 = base | BAM_FREAD1 | (BAM_FREVERSE if rev1 else 0) | (BAM_FMREVERSE if rev2 else 0) | extra1
        f2 = base | BAM_FREAD2 | (BAM_FREVERSE if rev2 else 0) | (BAM_FMREVERSE if rev1 else 0) | extra2
        if chrom2 == chrom:
            s = min(pos1, pos2)
            e = max(pos1 + ref_len(cig1), pos2 + ref_len(cig2))
            t = e - s
            t1 = t if pos1 <= pos2 else -t
            t2 = -t1
            if pos1 == pos2:
                t1, t2 = t, -t
        else:
            t1 = t2 = 0
        a = self.add(qname, f1, chrom, pos1, cig1, mapq1, rg1, chrom2, pos2, t1)
        b = self.add(qname, f2, chrom2, pos2, cig2, mapq2, rg2, chrom, pos1, t2)
        return a, b

    def sorted_recs(self):
        big = 1 << 40
        return sorted(self.recs, key=lambda r: (
            r.tid if r.tid >= 0 else big, r.pos if r.tid >= 0 else big, r.order))

    def header(self, rgs=("rg1", "rg2"), so="coordinate"):
        h = {
            "HD": {"VN": "1.6", "SO": so},
            "SQ": [{"SN": n, "LN": l,
                    "M5": hashlib.md5(self.seqs[n].upper().encode()).hexdigest()}
                   for n, l in CONTIGS],
        }
        if rgs:
            h["RG"] = [{"ID": rg, "SM": "sampleA", "LB": "lib_" + rg, "PL": "ILLUMINA"}
                       for rg in rgs]
        return h

    def write(self, path, recs=None, so="coordinate", rgs=("rg1", "rg2")):
        if recs is None:
            recs = self.sorted_recs()
        hdr = pysam.AlignmentHeader.from_dict(self.header(rgs=rgs, so=so))
        with pysam.AlignmentFile(path, "wb", header=hdr) as out:
            for r in recs:
                a = pysam.AlignedSegment(hdr)
                a.query_name = r.qname
                a.flag = r.flag
                a.reference_id = r.tid
                a.reference_start = r.pos
                a.mapping_quality = r.mapq
                if r.cigar not in ("", "*"):
                    a.cigarstring = r.cigar
                a.next_reference_id = r.mtid
                a.next_reference_start = r.mpos
                a.template_length = r.tlen
                a.query_sequence = r.seq
                if r.qual is not None:
                    a.query_qualities = pysam.qualitystring_to_array(chr(33 + r.qual) * len(r.seq))
                if r.rg is not None:
                    a.set_tag("RG", r.rg, "Z")
                out.write(a)


# --------------------------------------------------------------------------
# sample.bam: hand-placed reads
# --------------------------------------------------------------------------

def hand_placed(b):
    S = BAM_FSUPP
    # --- chr1 [0, 6000): one feature per ~100-200 bp, with gaps between ---
    b.add("hp_start0", 0, "chr1", 0, "50M", 60, "rg1")            # starts at 0
    b.add("hp_start0_clip", 16, "chr1", 0, "10S40M", 10, "rg2")    # starts at 0, soft clip
    b.add("hp_start0_ins", 0, "chr1", 0, "3I47M", 0, "rg1")        # leading insertion
    # gap [50, 100)
    b.add_pair("hp_partial", "chr1", 100, "100M", 150, "100M")       # simple partial overlap
    b.add_pair("hp_identical", "chr1", 300, "100M", 300, "100M")     # complete, identical
    b.add_pair("hp_samestart_a", "chr1", 500, "100M", 500, "60M")    # same start, longer first
    b.add_pair("hp_samestart_b", "chr1", 620, "60M", 620, "100M", rg1="rg2")  # shorter first
    b.add_pair("hp_contained", "chr1", 760, "150M", 780, "50M")      # mate contained (1-op both)
    b.add_pair("hp_contained_ml", "chr1", 940, "150M", 960, "20M5D25M")  # contained, multi-block
    b.add_pair("hp_del_clip", "chr1", 1100, "40M5D60M", 1150, "10S90M")
    b.add_pair("hp_ins_del", "chr1", 1300, "30M2I68M", 1330, "50M10D50M", rg1="rg2")
    b.add_pair("hp_clip_both", "chr1", 1500, "5S45M20D50M", 1520, "30M3I40M2D27M10S")
    b.add_pair("hp_hard", "chr1", 1700, "5H70M", 1740, "60M8H")      # hard clips
    b.add_pair("hp_splice_in_intron", "chr1", 1900, "50M200N50M", 1990, "40M")  # mate inside N gap
    b.add_pair("hp_splice_both", "chr1", 2250, "50M300N50M", 2270, "30M300N70M")
    b.add_pair("hp_splice_tail", "chr1", 2700, "60M100N40M", 2850, "50M")  # mate overlaps 2nd block
    b.add_pair("hp_notproper", "chr1", 2950, "100M", 3000, "100M", proper=False)
    b.add_pair("hp_notproper_ml", "chr1", 3100, "20M5D75M", 3120, "90M", proper=False)
    b.add_pair("hp_same_ml", "chr1", 3250, "20M10D80M", 3250, "100M")  # same start, multi-block
    b.add_pair("hp_eqx", "chr1", 3400, "20=1X29=", 3420, "40=2X8=")    # =/X ops, overlapping
    b.add_pair("hp_adjacent", "chr1", 3500, "50M", 3550, "50M")        # rec.stop == matepos
    b.add_pair("hp_apart", "chr1", 3620, "40M", 3700, "40M")           # proper, no overlap
    b.add_pair("hp_mapq_lo1", "chr1", 3800, "80M", 3830, "80M", mapq1=5, mapq2=60)
    b.add_pair("hp_mapq_lo2", "chr1", 3950, "80M", 3980, "80M", mapq1=60, mapq2=5)
    b.add_pair("hp_rg_mixed", "chr1", 4100, "80M", 4130, "80M", rg1="rg1", rg2="rg2")
    b.add_pair("hp_dup_one", "chr1", 4250, "80M", 4280, "80M", extra2=BAM_FDUP)
    b.add_pair("hp_rev_order", "chr1", 4400, "80M", 4420, "70M", rev1=True, rev2=False)
    # supplementary alignment of a proper pair (overlaps its own mate)
    b.add_pair("hp_supp", "chr1", 4550, "50M50S", 4580, "70M")
    b.add("hp_supp", BAM_FPAIRED | BAM_FPROPER | BAM_FREAD1 | S, "chr1", 4560, "50H50M", 60, "rg1",
          "chr1", 4580, 0)
    # secondary / duplicate / qcfail / all three, plain single-end
    b.add("hp_secondary", BAM_FSECONDARY, "chr1", 4700, "50M", 0, "rg1")
    b.add("hp_dup", BAM_FDUP, "chr1", 4720, "50M", 60, "rg2")
    b.add("hp_qcfail", BAM_FQCFAIL, "chr1", 4740, "50M", 60, "rg1")
    b.add("hp_supp_single", S, "chr1", 4760, "30H40M", 60, "rg2")
    b.add("hp_sec_dup_qc", BAM_FSECONDARY | BAM_FDUP | BAM_FQCFAIL, "chr1", 4780, "50M", 60, "rg1")
    # MAPQ ladder
    for i, q in enumerate((0, 1, 10, 19, 20, 21, 60, 255)):
        b.add("hp_mapq%d" % q, 0, "chr1", 4900 + 10 * i, "40M", q, "rg1" if i % 2 else "rg2")
    # single reads with each op type
    b.add("hp_op_H", 0, "chr1", 5050, "10H40M10H", 60, "rg1")
    b.add("hp_op_SIS", 16, "chr1", 5060, "20S30M5I30M5S", 60, "rg2")
    b.add("hp_op_N", 0, "chr1", 5080, "30M100N30M", 60, "rg1")
    b.add("hp_op_D", 0, "chr1", 5100, "25M5D25M", 60, "rg2")
    b.add("hp_op_eqX", 0, "chr1", 5110, "10=1X10=2X10=", 60, "rg1")
    b.add("hp_op_ID", 0, "chr1", 5120, "10M1I1D10M2D1I10M", 60, "rg2")
    b.add("hp_op_MM", 0, "chr1", 5130, "10M10M", 60, "rg1")        # adjacent M ops
    b.add("hp_op_MDM_eq", 0, "chr1", 5140, "10M1D10=1N10X", 60, "rg2")
    b.add("hp_op_1M", 0, "chr1", 5180, "1M", 60, "rg1")            # 1-base read
    b.add("hp_op_S_only_M", 0, "chr1", 5190, "30S1M30S", 60, "rg2")
    # proper pair whose read2 is unmapped and placed at read1's position
    b.add("hp_unmapped_mate", BAM_FPAIRED | BAM_FREAD1 | BAM_FMUNMAP, "chr1", 5300, "100M", 60, "rg1",
          "chr1", 5300, 0)
    b.add("hp_unmapped_mate", BAM_FPAIRED | BAM_FREAD2 | BAM_FUNMAP, "chr1", 5300, "*", 0, "rg1",
          "chr1", 5300, 0)
    # pair with mate on another chromosome, proper flag set anyway
    b.add_pair("hp_trans", "chr1", 5450, "100M", 100, "100M", chrom2="chr2")
    # many reads stacked on identical coordinates (depth 12 block)
    for i in range(12):
        b.add("hp_stack%02d" % i, 16 if i % 2 else 0, "chr1", 5600, "100M", 60, "rg1" if i < 7 else "rg2")
    # a proper pair with a deletion exactly at the overlap boundary
    b.add_pair("hp_del_boundary", "chr1", 5750, "50M10D40M", 5800, "60M")
    # chr1 [5900, 6000): nothing (gap before random region)

    # --- chr1 tail: reads end 1 base before the contig end (last base 0) ---
    L1 = LEN["chr1"]
    b.add("hp_chr1_tail_a", 0, "chr1", L1 - 151, "150M", 60, "rg1")   # ends at L1-1
    b.add("hp_chr1_tail_b", 16, "chr1", L1 - 80, "20M10D49M", 60, "rg2")  # ends at L1-1

    # --- chr2 head: reads at position 0 ---
    b.add("hp_chr2_start", 0, "chr2", 0, "75M", 60, "rg2")
    b.add_pair("hp_chr2_start_pair", "chr2", 0, "60M", 0, "5S55M")
    # --- chr2 tail: reads running to the very last base ---
    L2 = LEN["chr2"]
    b.add("hp_chr2_tail", 0, "chr2", L2 - 100, "100M", 60, "rg1")      # ends exactly at L2
    b.add("hp_chr2_tail_clip", 16, "chr2", L2 - 60, "60M15S", 60, "rg2")
    b.add("hp_chr2_last1", 0, "chr2", L2 - 1, "1M", 60, "rg1")          # only the last base
    b.add_pair("hp_chr2_tail_pair", "chr2", L2 - 140, "100M", L2 - 90, "90M")

    # --- chrM: only reads dropped by the default flag filter (-F 1796) ---
    b.add_pair("hpM_dup_pair", "chrM", 100, "100M", 150, "100M", extra1=BAM_FDUP, extra2=BAM_FDUP)
    b.add("hpM_qcfail", BAM_FQCFAIL, "chrM", 400, "120M", 60, "rg1")
    b.add("hpM_secondary", BAM_FSECONDARY, "chrM", 600, "80M", 0, "rg2")
    b.add("hpM_dup_qc", BAM_FDUP | BAM_FQCFAIL, "chrM", 900, "50M", 60, "rg1")
    # qcfail read1 with its unmapped mate placed at its position
    b.add("hpM_unmapped", BAM_FPAIRED | BAM_FREAD1 | BAM_FMUNMAP | BAM_FQCFAIL, "chrM", 1200, "60M", 60,
          "rg2", "chrM", 1200, 0)
    b.add("hpM_unmapped", BAM_FPAIRED | BAM_FREAD2 | BAM_FUNMAP | BAM_FQCFAIL, "chrM", 1200, "*", 0,
          "rg2", "chrM", 1200, 0)
    b.add("hpM_end", BAM_FDUP, "chrM", LEN["chrM"] - 50, "50M", 60, "rg1")

    # --- unplaced unmapped reads (end of file) ---
    for i in range(5):
        b.add("hp_unplaced%d" % i, BAM_FUNMAP, None, -1, "*", 0, "rg1" if i % 2 else "rg2")
    b.add("hp_unplaced_pair", BAM_FPAIRED | BAM_FREAD1 | BAM_FUNMAP | BAM_FMUNMAP, None, -1, "*", 0, "rg1")
    b.add("hp_unplaced_pair", BAM_FPAIRED | BAM_FREAD2 | BAM_FUNMAP | BAM_FMUNMAP, None, -1, "*", 0, "rg1")


# --------------------------------------------------------------------------
# sample.bam: random reads
# --------------------------------------------------------------------------

def random_cigar(rng, qlen, allow_n=True, max_clip=15):
    """Random CIGAR with roughly qlen query-consuming bases (excluding H)."""
    ops = []
    if rng.random() < 0.08:
        ops.append(("H", rng.randint(1, 30)))
    if rng.random() < 0.2:
        ops.append(("S", rng.randint(1, max_clip)))
    remaining = qlen - sum(n for op, n in ops if op == "S")
    remaining = max(remaining, 20)
    use_eqx = rng.random() < 0.05
    while remaining > 0:
        m = min(remaining, rng.randint(8, 80))
        if use_eqx:
            # split the aligned block into =/X runs
            left = m
            while left > 0:
                k = min(left, rng.randint(1, 15))
                ops.append(("=" if rng.random() < 0.8 else "X", k))
                left -= k
        else:
            ops.append(("M", m))
        remaining -= m
        if remaining <= 0:
            break
        r = rng.random()
        if r < 0.35:
            k = min(remaining - 1, rng.randint(1, 6))
            if k >= 1:
                ops.append(("I", k))
                remaining -= k
        elif r < 0.75:
            ops.append(("D", rng.randint(1, 12)))
        elif r < 0.85 and allow_n:
            ops.append(("N", rng.randint(20, 600)))
        # else: nothing (two adjacent M blocks or ends)
    if rng.random() < 0.2:
        ops.append(("S", rng.randint(1, max_clip)))
    if rng.random() < 0.08:
        ops.append(("H", rng.randint(1, 30)))
    # merge adjacent identical ops only sometimes (keep some 10M10M)
    if rng.random() < 0.9:
        merged = []
        for op, n in ops:
            if merged and merged[-1][0] == op:
                merged[-1] = (op, merged[-1][1] + n)
            else:
                merged.append((op, n))
        ops = merged
    # an alignment must have at least one M/=/X; guaranteed above.
    return cigar_str(ops)


def simple_or_random_cigar(rng, qlen):
    if rng.random() < 0.45:
        return "%dM" % qlen
    return random_cigar(rng, qlen)


def random_reads(b, rng, n_frag):
    MAPQS = [0, 0, 3, 10, 15, 20, 20, 30, 40, 60, 60, 60, 60, 60, 255]
    RGS = ["rg1", "rg2"]
    # (chrom, lowest start, highest start, highest end).  Random reads on
    # chr1 stop 200 bp before the contig end so that chr1's tail (and in
    # particular its last base) is only covered by hand-placed reads; on chr2
    # they may run up to the last base.
    regions = [("chr1", 6000, LEN["chr1"] - 400, LEN["chr1"] - 200),
               ("chr2", 300, LEN["chr2"] - 400, LEN["chr2"])]
    weights = [0.6, 0.4]
    max_end = {r[0]: r[3] for r in regions}

    def rflag():
        x = rng.random()
        if x < 0.04:
            return BAM_FDUP
        if x < 0.06:
            return BAM_FQCFAIL
        if x < 0.08:
            return BAM_FSECONDARY
        if x < 0.10:
            return BAM_FSUPP
        if x < 0.105:
            return BAM_FDUP | BAM_FQCFAIL
        return 0

    def place(chrom, lo, hi, cig):
        rl = ref_len(cig)
        p = rng.randint(lo, hi)
        return min(p, max_end[chrom] - rl)

    for i in range(n_frag):
        chrom, lo, hi, _ = rng.choices(regions, weights)[0]
        kind = rng.random()
        qname = "rnd%05d" % i
        if kind < 0.30:
            # single-end read
            qlen = rng.randint(30, 150)
            cig = simple_or_random_cigar(rng, qlen)
            pos = place(chrom, lo, hi, cig)
            flag = rflag() | (BAM_FREVERSE if rng.random() < 0.5 else 0)
            b.add(qname, flag, chrom, pos, cig, rng.choice(MAPQS), rng.choice(RGS))
        elif kind < 0.93:
            # pair; mostly proper and overlapping
            l1 = rng.randint(40, 150)
            l2 = rng.randint(40, 150)
            c1 = simple_or_random_cigar(rng, l1)
            c2 = simple_or_random_cigar(rng, l2)
            p1 = place(chrom, lo, hi, c1)
            x = rng.random()
            if x < 0.15:
                p2 = p1                                      # same start
            elif x < 0.85:
                p2 = p1 + rng.randint(0, ref_len(c1) + 5)    # overlapping (mostly)
            else:
                p2 = p1 + rng.randint(0, 500)                # often disjoint
            p2 = min(p2, max_end[chrom] - ref_len(c2))
            proper = rng.random() < 0.85
            rg1 = rng.choice(RGS)
            rg2 = rg1 if rng.random() < 0.95 else rng.choice(RGS)
            mq1 = rng.choice(MAPQS)
            mq2 = mq1 if rng.random() < 0.8 else rng.choice(MAPQS)
            e1 = rflag()
            e2 = e1 if rng.random() < 0.7 else rflag()
            if e1 & (BAM_FSECONDARY | BAM_FSUPP):
                e2 = 0
            rev1 = rng.random() < 0.5
            # mates are sorted by position; read1 may be the right-most mate
            if rng.random() < 0.5:
                b.add_pair(qname, chrom, p1, c1, p2, c2, proper=proper, mapq1=mq1, mapq2=mq2,
                           rg1=rg1, rg2=rg2, extra1=e1, extra2=e2, rev1=rev1, rev2=not rev1)
            else:
                # swap roles: read2 is left-most
                a, c = b.add_pair(qname, chrom, p2, c2, p1, c1, proper=proper, mapq1=mq2, mapq2=mq1,
                                  rg1=rg2, rg2=rg1, extra1=e2, extra2=e1, rev1=not rev1, rev2=rev1)
        else:
            # pair with one mate unmapped, placed at the mapped mate's position
            qlen = rng.randint(40, 150)
            cig = simple_or_random_cigar(rng, qlen)
            pos = place(chrom, lo, hi, cig)
            rg = rng.choice(RGS)
            mq = rng.choice(MAPQS)
            b.add(qname, BAM_FPAIRED | BAM_FREAD1 | BAM_FMUNMAP, chrom, pos, cig, mq, rg, chrom, pos, 0)
            b.add(qname, BAM_FPAIRED | BAM_FREAD2 | BAM_FUNMAP, chrom, pos, "*", 0, rg, chrom, pos, 0)
    # a few unplaced unmapped fragments
    for i in range(20):
        b.add("rndun%03d" % i, BAM_FUNMAP, None, -1, "*", 0, rng.choice(RGS))


# --------------------------------------------------------------------------
# long.bam
# --------------------------------------------------------------------------

def long_cigar(rng, target_ref_len):
    ops = []
    if rng.random() < 0.5:
        ops.append(("S", rng.randint(1, 500)))
    ref = 0
    while ref < target_ref_len:
        m = rng.randint(5, 120)
        ops.append(("M", m))
        ref += m
        x = rng.random()
        if x < 0.40:
            ops.append(("I", rng.randint(1, 4)))
        elif x < 0.80:
            d = rng.randint(1, 4)
            ops.append(("D", d))
            ref += d
        elif x < 0.803:
            d = rng.randint(300, 2000)
            ops.append(("D", d))
            ref += d
        elif x < 0.806:
            ops.append(("I", rng.randint(50, 400)))
    # do not end on an indel
    while ops[-1][0] in ("I", "D"):
        ops.pop()
    if rng.random() < 0.5:
        ops.append(("S", rng.randint(1, 500)))
    return cigar_str(ops)


def long_reads(b, rng, n):
    regions = [("chr1", 0.6), ("chr2", 0.4)]
    for i in range(n):
        chrom = rng.choices([r[0] for r in regions], [r[1] for r in regions])[0]
        target = rng.randint(2000, 15000)
        cig = long_cigar(rng, target)
        rl = ref_len(cig)
        if rl > LEN[chrom]:
            continue
        pos = rng.randint(0, LEN[chrom] - rl)
        flag = BAM_FREVERSE if rng.random() < 0.5 else 0
        mq = rng.choice([0, 5, 20, 60, 60, 60, 60])
        if rng.random() < 0.03:
            flag |= BAM_FSECONDARY
        b.add("long%04d" % i, flag, chrom, pos, cig, mq, None)
        # supplementary piece of the same read
        if rng.random() < 0.15:
            st = rng.randint(1000, 3000)
            cig2 = "%dH%s%dH" % (rng.randint(100, 5000), long_cigar(rng, st).replace("S", "H"),
                                 rng.randint(1, 3000))
            # normalise: merge adjacent H ops produced by the replacement
            ops = parse_cigar(cig2)
            merged = []
            for op, k in ops:
                if merged and merged[-1][0] == op:
                    merged[-1] = (op, merged[-1][1] + k)
                else:
                    merged.append((op, k))
            cig2 = cigar_str(merged)
            rl2 = ref_len(cig2)
            chrom2 = rng.choice(["chr1", "chr2"])
            pos2 = rng.randint(0, LEN[chrom2] - rl2)
            b.add("long%04d" % i, (flag & BAM_FREVERSE) | BAM_FSUPP, chrom2, pos2, cig2,
                  rng.choice([10, 60]), None)
    # one read spanning almost all of chr2, ending on the last base
    cig = long_cigar(rng, 12000)
    rl = ref_len(cig)
    b.add("long_tail", 0, "chr2", LEN["chr2"] - rl, cig, 60, None)
    cig = long_cigar(rng, 9000)
    b.add("long_head", 16, "chr1", 0, cig, 60, None)


# --------------------------------------------------------------------------
# BGZF / BAI helpers for the bad/ files
# --------------------------------------------------------------------------

BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def bgzf_blocks(data):
    """[(coffset, raw_block_bytes)] for a BGZF file."""
    out = []
    off = 0
    while off < len(data):
        assert data[off:off + 4] == b"\x1f\x8b\x08\x04", off
        bsize = struct.unpack("<H", data[off + 16:off + 18])[0] + 1
        out.append((off, data[off:off + bsize]))
        off += bsize
    return out


def bgzf_inflate(block):
    return zlib.decompress(block[18:-8], -15)


def bgzf_deflate(payload):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    comp = c.compress(payload) + c.flush()
    bsize = 18 + len(comp) + 8
    hdr = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00" + struct.pack("<H", bsize - 1)
    return hdr + comp + struct.pack("<II", zlib.crc32(payload) & 0xffffffff, len(payload))


def shift_bai(bai, min_coffset, delta):
    """Shift every virtual offset whose compressed part is > min_coffset."""
    def sh(v):
        co, uo = v >> 16, v & 0xffff
        if co > min_coffset:
            co += delta
        return (co << 16) | uo

    out = bytearray()
    p = 0

    def take(fmt):
        nonlocal p
        v = struct.unpack_from(fmt, bai, p)
        p += struct.calcsize(fmt)
        return v

    assert bai[:4] == b"BAI\x01"
    out += bai[:4]
    p = 4
    (n_ref,) = take("<i")
    out += struct.pack("<i", n_ref)
    for _ in range(n_ref):
        (n_bin,) = take("<i")
        out += struct.pack("<i", n_bin)
        for _ in range(n_bin):
            bin_id, n_chunk = take("<Ii")
            out += struct.pack("<Ii", bin_id, n_chunk)
            for j in range(n_chunk):
                beg, end = take("<QQ")
                if bin_id == 37450 and j == 1:   # pseudo-bin: mapped/unmapped counts
                    out += struct.pack("<QQ", beg, end)
                else:
                    out += struct.pack("<QQ", sh(beg), sh(end))
        (n_intv,) = take("<i")
        out += struct.pack("<i", n_intv)
        for _ in range(n_intv):
            (v,) = take("<Q")
            out += struct.pack("<Q", sh(v))
    out += bai[p:]   # n_no_coor (optional)
    return bytes(out)


def make_bad_files(sample_bam, b):
    if os.path.isdir(BAD):
        shutil.rmtree(BAD)
    os.makedirs(BAD)
    data = open(sample_bam, "rb").read()
    bai = open(sample_bam + ".bai", "rb").read()
    assert data.endswith(BGZF_EOF)
    blocks = bgzf_blocks(data)

    # no_eof.bam: minus the 28-byte EOF block; index still valid.
    with open(os.path.join(BAD, "no_eof.bam"), "wb") as fh:
        fh.write(data[:-28])
    with open(os.path.join(BAD, "no_eof.bam.bai"), "wb") as fh:
        fh.write(bai)

    # truncated.bam: cut in the middle of a BGZF block about half-way in.
    mid = len(blocks) // 2
    co, blk = blocks[mid]
    cut = co + len(blk) // 2
    with open(os.path.join(BAD, "truncated.bam"), "wb") as fh:
        fh.write(data[:cut])
    with open(os.path.join(BAD, "truncated.bam.bai"), "wb") as fh:
        fh.write(bai)

    # corrupt.bam: valid BGZF framing; one record (first record of a block
    # in the middle of chr1's random reads) gets l_read_name=0 and
    # n_cigar_op=65535 while block_size is kept.  Only that block is
    # re-deflated; the .bai offsets after it are shifted accordingly.
    # Find the block to corrupt: the first data block whose first record is on chr1 pos>=10000.
    # Walk the uncompressed stream to know record boundaries.
    payloads = [bgzf_inflate(blk) for _, blk in blocks]
    ustream = b"".join(payloads)
    starts = []
    acc = 0
    for pl in payloads:
        starts.append(acc)
        acc += len(pl)
    # header length
    l_text = struct.unpack_from("<i", ustream, 4)[0]
    p = 8 + l_text
    (n_ref,) = struct.unpack_from("<i", ustream, p)
    p += 4
    for _ in range(n_ref):
        (l_name,) = struct.unpack_from("<i", ustream, p)
        p += 4 + l_name + 4
    rec_starts = set()
    target_block = None
    block_start_set = {s: i for i, s in enumerate(starts)}
    while p < len(ustream):
        rec_starts.add(p)
        bs, rid, rpos = struct.unpack_from("<iii", ustream, p)
        if target_block is None and p in block_start_set and rid == 0 and rpos >= 10000:
            target_block = block_start_set[p]
        p += 4 + bs
    assert target_block is not None
    bi = target_block
    pl = bytearray(payloads[bi])
    # record at offset 0 of this block
    struct.pack_into("<B", pl, 12, 0)        # l_read_name = 0
    struct.pack_into("<H", pl, 16, 0xFFFF)   # n_cigar_op = 65535
    newblk = bgzf_deflate(bytes(pl))
    co, oldblk = blocks[bi]
    delta = len(newblk) - len(oldblk)
    newdata = data[:co] + newblk + data[co + len(oldblk):]
    with open(os.path.join(BAD, "corrupt.bam"), "wb") as fh:
        fh.write(newdata)
    with open(os.path.join(BAD, "corrupt.bam.bai"), "wb") as fh:
        fh.write(shift_bai(bai, co, delta))
    corrupt_info = (co, bi)

    # noindex.bam: plain copy, no index next to it.
    shutil.copyfile(sample_bam, os.path.join(BAD, "noindex.bam"))

    # not_a_bam.bam: a text file.
    with open(os.path.join(BAD, "not_a_bam.bam"), "w") as fh:
        fh.write("this is not a BAM file\njust some text\n")

    # notsorted.bam: a subset of sample.bam's records, two chr1 records swapped
    # (header still claims SO:coordinate).  No index can be built for it.
    recs = b.sorted_recs()
    sub = [r for r in recs if r.tid == 0 and r.pos < 6000]
    sub[10], sub[40] = sub[40], sub[10]
    b.write(os.path.join(BAD, "notsorted.bam"), recs=sub)

    # BED files.
    with open(os.path.join(BAD, "bad_start.bed"), "w") as fh:
        fh.write("chr1\t100\t200\tok_region\n")
        fh.write("chr1\tabc\t300\tbad_start\n")
        fh.write("chr2\t0\t500\tok_region2\n")
    with open(os.path.join(BAD, "bad_cols.bed"), "w") as fh:
        fh.write("chr1\t100\t200\tok_region\n")
        fh.write("chr1\t300\n")
        fh.write("chr2\t0\t500\tok_region2\n")
    return corrupt_info


# --------------------------------------------------------------------------
# BED files
# --------------------------------------------------------------------------

def write_beds():
    L1, L2, L3, LM, L5 = (LEN[c] for c in ("chr1", "chr2", "chr3", "chrM", "chr5"))
    lines = [
        "track name=kasane_regions description=\"test regions\"",
        "# a comment line",
        "chr2\t5000\t6000\tchr2_mid",
        "chr1\t1000\t2000\tchr1_hand_a",
        "chr1\t0\t500\tchr1_start",
        "chr1\t1500\t2500\tchr1_hand_overlap",       # overlaps chr1_hand_a
        "chr1\t1500\t1600\tchr1_same_start_short",   # same start as previous, listed after
        "chr1\t4000\t4000\tchr1_zero_length",        # start == end
        "chr3\t100\t900\tchr3_no_reads",
        "chr1\t%d\t%d\tchr1_end" % (L1 - 300, L1),    # ends exactly at contig end
        "chrM\t0\t%d\tchrM_all" % LM,                  # whole contig, filtered reads only
        "chr9\t10\t100\tnot_in_header",                # contig not in the BAM header
        "chr2\t%d\t%d\tchr2_end" % (L2 - 50, L2),     # ends exactly at contig end
        "chr1\t6000\t14000\tchr1_random_big",
        "chr2\t0\t1\tchr2_first_base",
        "chr1\t5590\t5710\tchr1_stack",
        "chr2\t12000\t12500\tchr2_random",
        "chr5\t0\t%d\tchr5_all" % L5,
    ]
    with open(os.path.join(HERE, "regions.bed"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    lines3 = [
        "chr2\t1000\t3000",
        "chr1\t100\t1100",
        "chr1\t20000\t%d" % L1,
        "chr1\t5000\t5200",
    ]
    with open(os.path.join(HERE, "regions3.bed"), "w") as fh:
        fh.write("\n".join(lines3) + "\n")


# --------------------------------------------------------------------------

def make_cram(bam, cram):
    """samtools view -C -T ref.fa, then strip the UR:<absolute path> tags that
    htslib adds to @SQ (they would make the file depend on the checkout
    location).  Writing through a pipe keeps the CRAM file_id constant ("-")."""
    hdr = subprocess.run(["samtools", "view", "-H", "--no-PG", bam], check=True,
                         stdout=subprocess.PIPE).stdout
    hdr_path = cram + ".hdr.tmp"
    with open(hdr_path, "wb") as fh:
        fh.write(hdr)
    with open(cram, "wb") as out:
        p1 = subprocess.Popen(["samtools", "view", "--no-PG", "-C", "-T",
                               os.path.join(HERE, "ref.fa"), bam], stdout=subprocess.PIPE)
        p2 = subprocess.Popen(["samtools", "reheader", "--no-PG", hdr_path, "-"],
                              stdin=p1.stdout, stdout=out)
        p1.stdout.close()
        assert p2.wait() == 0 and p1.wait() == 0
    os.remove(hdr_path)
    run(["samtools", "index", cram])
    got = subprocess.run(["samtools", "view", "-H", "--no-PG", cram], check=True,
                         stdout=subprocess.PIPE).stdout
    assert b"UR:" not in got, got


# --------------------------------------------------------------------------

def ultra_long_cigar(rng):
    """cigar70k.bam: one read with more than 65535 CIGAR operations between two short ones.

    BAM stores such a CIGAR in a CG:B,I tag with a `<len>S<ref>N` placeholder in the record
    (samtools does this on conversion); readers must restore it.
    """
    length = 200000
    ops, qlen = [], 0
    while len(ops) < 70000:
        ops.append("1M")
        qlen += 1
        k = rng.random()
        if k < 0.3:
            ops.append("1I")
            qlen += 1
        elif k < 0.6:
            ops.append("1D")
    sam = os.path.join(HERE, "cigar70k.sam")
    with open(sam, "w") as f:
        f.write("@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chrU\tLN:%d\n" % length)
        f.write("short1\t0\tchrU\t50\t60\t100M\t*\t0\t0\t*\t*\n")
        f.write("ultra\t0\tchrU\t100\t60\t%s\t*\t0\t0\t%s\t*\n" % ("".join(ops), "A" * qlen))
        f.write("short2\t0\tchrU\t150\t60\t100M\t*\t0\t0\t*\t*\n")
    out = os.path.join(HERE, "cigar70k.bam")
    run(["samtools", "view", "--no-PG", "-b", "-o", out, sam])
    run(["samtools", "index", "-b", out])
    os.remove(sam)


def main():
    rng = random.Random(SEED)
    for stale in ("sample.bam", "sample.bam.bai", "sample.cram", "sample.cram.crai",
                  "sample.csi.bam", "sample.csi.bam.csi", "long.bam", "long.bam.bai"):
        p = os.path.join(HERE, stale)
        if os.path.exists(p):
            os.remove(p)
    seqs = make_reference(rng)

    # sample.bam
    b = Builder(random.Random(SEED + 1), seqs)
    hand_placed(b)
    random_reads(b, random.Random(SEED + 2), 3500)
    sample = os.path.join(HERE, "sample.bam")
    b.write(sample)
    run(["samtools", "index", "-b", sample])

    # sample.csi.bam: same bytes, CSI index only
    csi = os.path.join(HERE, "sample.csi.bam")
    shutil.copyfile(sample, csi)
    run(["samtools", "index", "-c", csi])

    # sample.cram
    cram = os.path.join(HERE, "sample.cram")
    make_cram(sample, cram)

    # long.bam (single-end, no read groups, no qualities)
    lb = Builder(random.Random(SEED + 3), seqs, with_rg=False, mismatch_rate=0.03, qual=None)
    long_reads(lb, random.Random(SEED + 4), 260)
    longp = os.path.join(HERE, "long.bam")
    lb.write(longp, rgs=())
    run(["samtools", "index", "-b", longp])

    write_beds()
    make_bad_files(sample, b)
    ultra_long_cigar(random.Random(SEED + 6))
    n_sample = len(b.recs)
    n_long = len(lb.recs)
    sys.stderr.write("sample.bam: %d records; long.bam: %d records\n" % (n_sample, n_long))


if __name__ == "__main__":
    main()
