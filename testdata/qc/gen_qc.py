#!/usr/bin/env python3
"""Deterministic generator for the `kasane qc` test data.

Run from the repository root:

    python3 testdata/qc/gen_qc.py

Everything is written into testdata/qc/ (next to this script): a reference,
three BAMs, a sites VCF and a truth table.  Fixed random seed, no @PG header
lines, no timestamps, records written in an explicit order, so running it
twice gives identical decoded records (and, with the same pysam/htslib build,
identical bytes).

Requires python3 with pysam (0.24.1 was used).  See testdata/qc/README.md.
"""

import hashlib
import math
import os
import random

import pysam

SEED = 20240611
HERE = os.path.dirname(os.path.abspath(__file__))

# name, length.  Order is the @SQ order of every header.  Not round on purpose.
CONTIGS = [("chr1", 60013), ("chr2", 40009), ("chrX", 30011), ("chrY", 10007)]
LEN = dict(CONTIGS)
TID = {n: i for i, (n, _) in enumerate(CONTIGS)}

# a run of N in chr1 (0-based half-open)
N_RUN = ("chr1", 20011, 20011 + 347)
# a 4 kb segmental duplication: chr1[40000,44000) copied (1% diverged) to chr2[24000,28000)
PARA_SRC = ("chr1", 40000)
PARA_DST = ("chr2", 24000)
PARA_LEN = 4000

# flags
PAIRED, PROPER, UNMAP, MUNMAP, REV, MREV = 1, 2, 4, 8, 16, 32
READ1, READ2, SECONDARY, QCFAIL, DUP, SUPP = 64, 128, 256, 512, 1024, 2048

ADAPTER1 = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCACATCTCGTATGCCGTCTTCTGCTTG"
ADAPTER2 = "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGTAGATCTCGGTGGTCGCCGTATCATT"
COMP = str.maketrans("ACGTN", "TGCAN")


def rc(s):
    return s.translate(COMP)[::-1]


def rand_seq(rng, n, gc=0.5):
    out = []
    for _ in range(n):
        if rng.random() < gc:
            out.append("G" if rng.random() < 0.5 else "C")
        else:
            out.append("A" if rng.random() < 0.5 else "T")
    return "".join(out)


def other_base(rng, b):
    return rng.choice([x for x in "ACGT" if x != b])


# --------------------------------------------------------------------------
# reference
# --------------------------------------------------------------------------

GC_LEVELS = [0.25, 0.25, 0.35, 0.5, 0.5, 0.6, 0.7, 0.7]


def make_reference(rng):
    seqs = {}
    for name, length in CONTIGS:
        parts, n = [], 0
        # make sure every contig starts with one stretch each of 25/50/70 % GC
        forced = [0.25, 0.5, 0.7]
        rng.shuffle(forced)
        while n < length:
            seg = min(rng.randint(400, 3000), length - n)
            gc = forced.pop() if forced else rng.choice(GC_LEVELS)
            parts.append(rand_seq(rng, seg, gc))
            n += seg
        seqs[name] = "".join(parts)
    # segmental duplication with 1% divergence
    src = seqs[PARA_SRC[0]][PARA_SRC[1]:PARA_SRC[1] + PARA_LEN]
    dst = list(src)
    for i in range(PARA_LEN):
        if rng.random() < 0.01:
            dst[i] = other_base(rng, dst[i])
    s = seqs[PARA_DST[0]]
    seqs[PARA_DST[0]] = s[:PARA_DST[1]] + "".join(dst) + s[PARA_DST[1] + PARA_LEN:]
    # run of N
    c, a, b = N_RUN
    s = seqs[c]
    seqs[c] = s[:a] + "N" * (b - a) + s[b:]
    for name, length in CONTIGS:
        assert len(seqs[name]) == length
    return seqs


def write_reference(seqs):
    path = os.path.join(HERE, "qc_ref.fa")
    with open(path, "w") as f:
        for name, _ in CONTIGS:
            f.write(">%s\n" % name)
            s = seqs[name]
            for i in range(0, len(s), 60):
                f.write(s[i:i + 60] + "\n")
    if os.path.exists(path + ".fai"):
        os.remove(path + ".fai")
    pysam.faidx(path)
    # sequence dictionary (what Picard's CreateSequenceDictionary writes, minus UR)
    with open(os.path.join(HERE, "qc_ref.dict"), "w") as f:
        f.write("@HD\tVN:1.6\n")
        for name, length in CONTIGS:
            f.write("@SQ\tSN:%s\tLN:%d\tM5:%s\n" % (name, length, md5(seqs[name])))


def md5(s):
    return hashlib.md5(s.upper().encode()).hexdigest()


def in_n(seqs, chrom, a, b):
    c, x, y = N_RUN
    return chrom == c and a < y and b > x


def in_para(chrom, a, b):
    """fraction of [a,b) inside either copy of the duplication, and the offset map"""
    for (c, s) in (PARA_SRC, PARA_DST):
        if chrom == c:
            ov = min(b, s + PARA_LEN) - max(a, s)
            if ov > 0:
                return ov / (b - a)
    return 0.0


def para_other(chrom, pos):
    if chrom == PARA_SRC[0] and PARA_SRC[1] <= pos < PARA_SRC[1] + PARA_LEN:
        return PARA_DST[0], pos - PARA_SRC[1] + PARA_DST[1]
    if chrom == PARA_DST[0] and PARA_DST[1] <= pos < PARA_DST[1] + PARA_LEN:
        return PARA_SRC[0], pos - PARA_DST[1] + PARA_SRC[1]
    return None


# --------------------------------------------------------------------------
# SNP sites, genotypes, haplotypes
# --------------------------------------------------------------------------

N_SITES = {"chr1": 130, "chr2": 90, "chrX": 70, "chrY": 30}


def make_sites(rng, seqs):
    sites = []
    for name, length in CONTIGS:
        used = set()
        k = 0
        while k < N_SITES[name]:
            p = rng.randrange(200, length - 200)
            if in_n(seqs, name, p - 5, p + 5) or in_para(name, p - 5, p + 5) > 0:
                continue
            if any(abs(p - q) < 60 for q in used):
                continue
            used.add(p)
            ref = seqs[name][p]
            alt = other_base(rng, ref)
            af = round(rng.uniform(0.02, 0.98), 3)
            sites.append((name, p, ref, alt, af))
            k += 1
    sites.sort(key=lambda s: (TID[s[0]], s[1]))
    return sites


def draw_gt(rng, af, ploidy):
    return tuple(1 if rng.random() < af else 0 for _ in range(ploidy))


def genotypes(rng, sites, sex):
    gts = {}
    for (c, p, ref, alt, af) in sites:
        if c == "chrY":
            ploidy = 1 if sex == "M" else 0
        elif c == "chrX":
            ploidy = 1 if sex == "M" else 2
        else:
            ploidy = 2
        gts[(c, p)] = draw_gt(rng, af, ploidy)
    return gts


def haplotypes(seqs, sites, gts, sex):
    haps = {}
    for name, _ in CONTIGS:
        if name == "chrY" and sex == "F":
            continue
        ploidy = 1 if (name in ("chrX", "chrY") and sex == "M") else 2
        hs = [list(seqs[name]) for _ in range(ploidy)]
        for (c, p, ref, alt, af) in sites:
            if c != name:
                continue
            for h, allele in enumerate(gts[(c, p)]):
                if allele:
                    hs[h][p] = alt
        haps[name] = ["".join(h) for h in hs]
    return haps


def write_sites(sites, gA, gB):
    vcf = os.path.join(HERE, "qc_sites.vcf")
    with open(vcf, "w") as f:
        f.write("##fileformat=VCFv4.2\n")
        for name, length in CONTIGS:
            f.write("##contig=<ID=%s,length=%d>\n" % (name, length))
        f.write('##INFO=<ID=AF,Number=A,Type=Float,Description="Population allele frequency">\n')
        f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for (c, p, ref, alt, af) in sites:
            f.write("%s\t%d\t.\t%s\t%s\t.\t.\tAF=%.3f\n" % (c, p + 1, ref, alt, af))
    gz = vcf + ".gz"
    pysam.tabix_compress(vcf, gz, force=True)
    pysam.tabix_index(gz, preset="vcf", force=True)
    os.remove(vcf)

    def gt(g):
        return "./." if len(g) == 0 else "/".join(str(a) for a in sorted(g))

    with open(os.path.join(HERE, "qc_truth.tsv"), "w") as f:
        f.write("#chrom\tpos\tref\talt\taf\tqcA\tqcB\n")
        for (c, p, ref, alt, af) in sites:
            f.write("%s\t%d\t%s\t%s\t%.3f\t%s\t%s\n"
                    % (c, p + 1, ref, alt, af, gt(gA[(c, p)]), gt(gB[(c, p)])))


# --------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------

class Rec:
    __slots__ = ("qname", "flag", "tid", "pos", "mapq", "cigar", "mtid", "mpos",
                 "tlen", "seq", "qual", "tags", "order")

    def __init__(self, **kw):
        self.tags = []
        self.mtid, self.mpos, self.tlen = -1, -1, 0
        self.cigar = []
        self.mapq = 0
        for k, v in kw.items():
            setattr(self, k, v)

    @property
    def rev(self):
        return bool(self.flag & REV)

    @property
    def end(self):
        return self.pos + ref_len(self.cigar)


def ref_len(ops):
    return sum(n for op, n in ops if op in "MDN=X")


def qry_len(ops):
    return sum(n for op, n in ops if op in "MIS=X")


def cigar_str(ops):
    return "".join("%d%s" % (n, op) for op, n in ops) if ops else "*"


def merge_ops(ops):
    out = []
    for op, n in ops:
        if n <= 0:
            continue
        if out and out[-1][0] == op:
            out[-1] = (op, out[-1][1] + n)
        else:
            out.append((op, n))
    return out


def md_nm(ref, pos, ops, seq):
    """MD and NM of seq aligned at ref[pos:] with ops (read N counts as a mismatch)."""
    md, run, nm, qi, ri = [], 0, 0, 0, pos
    for op, n in ops:
        if op in "M=X":
            for k in range(n):
                r = ref[ri + k]
                if seq[qi + k] == r and r != "N":
                    run += 1
                else:
                    md.append(str(run))
                    md.append(r)
                    run = 0
                    nm += 1
            qi += n
            ri += n
        elif op == "I":
            nm += n
            qi += n
        elif op == "D":
            md.append(str(run))
            md.append("^" + ref[ri:ri + n])
            run = 0
            nm += n
            ri += n
        elif op == "S":
            qi += n
        elif op == "N":
            ri += n
    md.append(str(run))
    return "".join(md), nm


def five_prime(r):
    return r.end - 1 if r.rev else r.pos


def tlen_of(a, b):
    """htsjdk SamPairUtil.computeInsertSize / bwa: 5'-end to 5'-end."""
    if a.tid != b.tid or a.tid < 0 or (a.flag & UNMAP) or (b.flag & UNMAP):
        return 0
    pa, pb = five_prime(a), five_prime(b)
    return pb - pa + (1 if pb >= pa else -1)


def sa_entry(r, name_of):
    ops = [("S" if op == "H" else op, n) for op, n in r.cigar]
    nm = dict(r.tags).get("NM", 0)
    return "%s,%d,%s,%s,%d,%d;" % (name_of(r.tid), r.pos + 1, "-" if r.rev else "+",
                                   cigar_str(ops), r.mapq, nm)


# --------------------------------------------------------------------------
# short reads
# --------------------------------------------------------------------------

def qual_profile(rng, n, read2):
    """Illumina-like: high at the start, falling towards the end, dips, B-tails."""
    qmax = rng.randint(34, 40)
    drop = rng.uniform(3, 16) + (7 if read2 else 0)
    q, seg, off = [], 0, 0
    for c in range(n):
        if seg == 0:
            seg = rng.randint(3, 12)
            off = rng.choice((-3, -2, -1, 0, 0, 0, 1, 2))
        seg -= 1
        v = qmax - drop * (c / max(n - 1, 1)) ** 2 + off
        if rng.random() < 0.015:
            v = rng.randint(2, 14)
        q.append(int(min(40, max(2, round(v)))))
    if rng.random() < 0.03:
        k = rng.randint(5, max(5, min(30, n // 3)))
        q[n - k:] = [2] * k
    return q


def perr(q):
    return min(0.3, 10 ** (-q / 10.0)) + 0.0015


def add_errors(rng, seq, qual):
    """seq/qual in any one orientation; returns new seq, qual."""
    s, q = list(seq), list(qual)
    for i in range(len(s)):
        if q[i] <= 5 and rng.random() < 0.2:
            s[i] = "N"
            q[i] = 2
        elif rng.random() < perr(q[i]):
            s[i] = other_base(rng, s[i]) if s[i] != "N" else "A"
    return "".join(s), q


class Plan:
    """structure of one read: where, cigar, true (error-free) ref-oriented bases"""
    __slots__ = ("tid", "rev", "pos", "ops", "seq", "read2", "mapq")

    def __init__(self, tid, rev, pos, ops, seq, read2, mapq=60):
        self.tid, self.rev, self.pos, self.ops, self.seq = tid, rev, pos, ops, seq
        self.read2, self.mapq = read2, mapq


class ShortSim:
    def __init__(self, rng, seqs, haps, sample, rgs, prefix):
        self.rng, self.seqs, self.haps = rng, seqs, haps
        self.sample, self.rgs, self.prefix = sample, rgs, prefix
        self.recs = []
        self.n = 0
        self.order = 0
        self.gcsum = {}
        for name, _ in CONTIGS:
            acc, t = [0], 0
            for b in seqs[name]:
                t += b in "GC"
                acc.append(t)
            self.gcsum[name] = acc

    def name(self):
        self.n += 1
        return "%s.%06d" % (self.prefix, self.n)

    def gc_ok(self, chrom, a, b):
        g = (self.gcsum[chrom][b] - self.gcsum[chrom][a]) / (b - a)
        w = max(0.12, 1.0 - ((g - 0.45) / 0.33) ** 2)
        return self.rng.random() < w

    def hap(self, chrom):
        return self.rng.choice(self.haps[chrom])

    def place_ok(self, chrom, a, b):
        return 0 <= a and b <= LEN[chrom] and not in_n(self.seqs, chrom, a, b)

    def make_read(self, chrom, hap, rev, s, e, qlen, lc, rc_, indel, read2,
                  clip_left=None, clip_right=None):
        """A read whose 5' end is at s (forward) or e-1 (reverse) of fragment [s,e).
        lc/rc_: soft clips on the left/right in reference orientation."""
        rng = self.rng
        aq = qlen - lc - rc_
        kind, ipos, ilen = indel if indel else (None, 0, 0)
        rl = aq + (ilen if kind == "D" else 0) - (ilen if kind == "I" else 0)
        pos = s + lc if not rev else e - rc_ - rl
        if not self.place_ok(chrom, pos, pos + rl):
            return None
        if kind == "D":
            body = hap[pos:pos + ipos] + hap[pos + ipos + ilen:pos + rl]
            ops = [("M", ipos), ("D", ilen), ("M", aq - ipos)]
        elif kind == "I":
            body = hap[pos:pos + ipos] + rand_seq(rng, ilen) + hap[pos + ipos:pos + rl]
            ops = [("M", ipos), ("I", ilen), ("M", aq - ipos - ilen)]
        else:
            body = hap[pos:pos + rl]
            ops = [("M", aq)]
        left = clip_left if clip_left is not None else rand_seq(rng, lc)
        right = clip_right if clip_right is not None else rand_seq(rng, rc_)
        ops = merge_ops([("S", lc)] + ops + [("S", rc_)])
        seq = left + body + right
        assert len(seq) == qlen == qry_len(ops), (len(seq), qlen, ops)
        return Plan(TID[chrom], rev, pos, ops, seq, read2)

    def random_indel(self, aq):
        rng = self.rng
        if aq < 40 or rng.random() > 0.025:
            return None
        return (rng.choice("DI"), rng.randint(15, aq - 20), rng.randint(1, 3))

    def random_clips(self, qlen):
        rng = self.rng
        lc = rng.randint(3, 20) if rng.random() < 0.02 else 0
        rc_ = rng.randint(3, 20) if rng.random() < 0.02 else 0
        return lc, rc_

    def read_len(self, full):
        if self.rng.random() < 0.08:
            return self.rng.randint(max(30, full - 45), full - 1)  # 3' quality-trimmed
        return full

    def mapq_for(self, chrom, pos, end):
        rng = self.rng
        if in_para(chrom, pos, end) >= 0.5:
            return 0 if rng.random() < 0.6 else rng.randint(1, 6)
        r = rng.random()
        if r < 0.02:
            return 0
        if r < 0.07:
            return rng.randint(1, 40)
        return 60

    # ---- templates -------------------------------------------------------

    def fr_template(self, chrom, F, rl, proper):
        """FR pair over fragment [s, s+F) on one haplotype; None if it did not fit."""
        rng = self.rng
        L = LEN[chrom]
        if F >= L - 10:
            return None
        s = rng.randrange(0, L - F)
        e = s + F
        if in_n(self.seqs, chrom, s, e) or not self.gc_ok(chrom, s, e):
            return None
        hap = self.hap(chrom)
        r1rev = rng.random() < 0.5
        plans = []
        for read2 in (False, True):
            rev = r1rev != read2
            qlen = self.read_len(rl)
            if F < qlen:
                if rng.random() < 0.5:
                    qlen = F  # adapter-trimmed
                    plan = self.make_read(chrom, hap, rev, s, e, qlen, 0, 0, None, read2)
                else:
                    ad = (ADAPTER2 if read2 else ADAPTER1) * 3
                    ad = ad[:qlen - F]
                    if rev:
                        plan = self.make_read(chrom, hap, rev, s, e, qlen, qlen - F, 0, None,
                                              read2, clip_left=rc(ad))
                    else:
                        plan = self.make_read(chrom, hap, rev, s, e, qlen, 0, qlen - F, None,
                                              read2, clip_right=ad)
            else:
                lc, rc_ = self.random_clips(qlen)
                plan = self.make_read(chrom, hap, rev, s, e, qlen, lc, rc_,
                                      self.random_indel(qlen - lc - rc_), read2)
            if plan is None:
                return None
            plan.mapq = self.mapq_for(chrom, plan.pos, plan.pos + ref_len(plan.ops))
            plans.append(plan)
        return {"plans": plans, "proper": proper, "kind": "FR"}

    def single_plan(self, chrom, rev, rl, read2):
        rng = self.rng
        L = LEN[chrom]
        for _ in range(100):
            s = rng.randrange(0, L - rl - 1)
            if in_n(self.seqs, chrom, s, s + rl) or not self.gc_ok(chrom, s, s + rl):
                continue
            p = self.make_read(chrom, self.hap(chrom), rev, s, s + rl, rl, 0, 0, None, read2)
            if p is not None:
                p.mapq = self.mapq_for(chrom, p.pos, p.pos + rl)
                return p
        raise RuntimeError("no place")

    def two_locus_template(self, kind, chrom, rl):
        """RF / TANDEM (same contig) or pairs with mates on different contigs."""
        rng = self.rng
        L = LEN[chrom]
        if kind == "RF":
            # reverse read on the left, forward read on the right, 5' ends outward
            d = max(rl + 20, int(rng.gauss(600, 150)))
            x = rng.randrange(0, L - d - rl - 1)
            if in_n(self.seqs, chrom, x, x + d + rl):
                return None
            hap = self.hap(chrom)
            left = self.make_read(chrom, hap, True, x, x + rl, rl, 0, 0, None, False)
            right = self.make_read(chrom, hap, False, x + d, x + d + rl, rl, 0, 0, None, True)
            if left is None or right is None:
                return None
            r1left = rng.random() < 0.5
            left.read2, right.read2 = not r1left, r1left
            plans = [left, right]
        elif kind == "TANDEM":
            d = max(30, int(rng.gauss(350, 50)))
            x = rng.randrange(0, L - d - rl - 1)
            if in_n(self.seqs, chrom, x, x + d + rl):
                return None
            hap = self.hap(chrom)
            rev = rng.random() < 0.5
            a = self.make_read(chrom, hap, rev, x, x + rl, rl, 0, 0, None, False)
            b = self.make_read(chrom, hap, rev, x + d, x + d + rl, rl, 0, 0, None, True)
            if a is None or b is None:
                return None
            plans = [a, b]
        else:  # INTER: mates on different contigs
            other = rng.choice([c for c, _ in CONTIGS if c != chrom and c in self.haps])
            a = self.single_plan(chrom, rng.random() < 0.5, rl, False)
            b = self.single_plan(other, rng.random() < 0.5, rl, True)
            plans = [a, b]
        for p in plans:
            p.mapq = self.mapq_for(CONTIGS[p.tid][0], p.pos, p.pos + ref_len(p.ops))
        return {"plans": plans, "proper": False, "kind": kind}

    # ---- realisation -----------------------------------------------------

    def realise(self, plan):
        """sequencing: qualities (read orientation), errors; returns seq, qual (ref orient)"""
        q = qual_profile(self.rng, len(plan.seq), plan.read2)
        if plan.rev:
            q = q[::-1]
        return add_errors(self.rng, plan.seq, q)

    def rec_from(self, qname, plan, seq, qual, flag, rg):
        chrom = CONTIGS[plan.tid][0]
        md, nm = md_nm(self.seqs[chrom], plan.pos, plan.ops, seq)
        r = Rec(qname=qname, flag=flag | (REV if plan.rev else 0) | (READ2 if plan.read2 else READ1),
                tid=plan.tid, pos=plan.pos, mapq=plan.mapq, cigar=list(plan.ops),
                seq=seq, qual=qual)
        r.tags = [("NM", nm), ("MD", md)]
        return r

    def emit_pair(self, tpl, rg, extra=0, dup_of=None):
        qname = self.name()
        recs = []
        for plan in tpl["plans"]:
            seq, qual = self.realise(plan)
            flag = PAIRED | extra | (PROPER if tpl["proper"] else 0)
            recs.append(self.rec_from(qname, plan, seq, qual, flag, rg))
        a, b = recs
        self.mate_up(a, b)
        for r in recs:
            r.tags.append(("RG", rg))
        self.recs.extend(recs)
        # secondary alignment to the other copy of the segmental duplication
        for r, plan in zip(recs, tpl["plans"]):
            other = para_other(CONTIGS[r.tid][0], r.pos)
            if other is None or r.mapq > 6 or self.rng.random() > 0.5:
                continue
            oc, op_ = other
            if op_ + ref_len(r.cigar) > LEN[oc] or in_para(oc, op_, op_ + ref_len(r.cigar)) < 1:
                continue
            md, nm = md_nm(self.seqs[oc], op_, r.cigar, r.seq)
            mate = b if r is a else a
            s = Rec(qname=qname, flag=(r.flag & ~PROPER) | SECONDARY, tid=TID[oc], pos=op_,
                    mapq=0, cigar=list(r.cigar), seq=r.seq, qual=r.qual)
            s.mtid, s.mpos = mate.tid, mate.pos
            s.tlen = tlen_of(s, mate)
            # SEQ/QUAL kept: Picard 2.27.5 CollectGcBiasMetrics throws on a paired
            # secondary record with SEQ '*' (qc_long.bam has unpaired ones, which it skips)
            s.tags = [("NM", nm), ("MD", md), ("MC", cigar_str(mate.cigar)), ("RG", rg)]
            self.recs.append(s)
        return recs

    def mate_up(self, a, b):
        for x, y in ((a, b), (b, a)):
            x.mtid, x.mpos = y.tid, y.pos
            if y.flag & REV:
                x.flag |= MREV
            x.tlen = tlen_of(x, y)
            x.tags.append(("MC", cigar_str(y.cigar)))

    def emit_mate_unmapped(self, chrom, rl, rg, extra=0):
        rng = self.rng
        mapped_is_r1 = rng.random() < 0.5
        plan = self.single_plan(chrom, rng.random() < 0.5, rl, not mapped_is_r1)
        qname = self.name()
        seq, qual = self.realise(plan)
        m = self.rec_from(qname, plan, seq, qual, PAIRED | MUNMAP | extra, rg)
        m.mtid, m.mpos = m.tid, m.pos
        useq = rand_seq(rng, rl)
        uq = qual_profile(rng, rl, mapped_is_r1)
        useq, uq = add_errors(rng, useq, uq)
        u = Rec(qname=qname, flag=PAIRED | UNMAP | extra | (READ2 if mapped_is_r1 else READ1)
                | (MREV if m.rev else 0), tid=m.tid, pos=m.pos, mapq=0, cigar=[],
                seq=useq, qual=uq)
        u.mtid, u.mpos = m.tid, m.pos
        m.tags.append(("RG", rg))
        u.tags = [("MC", cigar_str(m.cigar)), ("RG", rg)]
        self.recs.extend([m, u])

    def emit_unmapped_pair(self, rl, rg, extra=0):
        qname = self.name()
        for read2 in (False, True):
            s = rand_seq(self.rng, rl, gc=self.rng.choice((0.3, 0.5, 0.65)))
            q = qual_profile(self.rng, rl, read2)
            s, q = add_errors(self.rng, s, q)
            r = Rec(qname=qname, flag=PAIRED | UNMAP | MUNMAP | extra | (READ2 if read2 else READ1),
                    tid=-1, pos=-1, mapq=0, cigar=[], seq=s, qual=q)
            r.tags = [("RG", rg)]
            self.recs.append(r)

    def emit_chimera(self, chrom, rl, rg):
        """read1 split: primary (soft-clipped) + supplementary (hard-clipped) elsewhere."""
        rng = self.rng
        for _ in range(100):
            tpl = self.fr_template(chrom, max(rl + 20, int(rng.gauss(350, 50))), rl, True)
            if tpl is None:
                continue
            p1, p2 = tpl["plans"]
            if p1.ops != [("M", rl)] or p2.ops != [("M", rl)]:
                continue
            break
        else:
            raise RuntimeError("chimera")
        a = rng.randint(55, 75)          # read-orientation bases aligned at the primary locus
        y = rl - a
        other = rng.choice([c for c, _ in CONTIGS if c in self.haps])
        for _ in range(100):
            bpos = rng.randrange(0, LEN[other] - y)
            if not in_n(self.seqs, other, bpos, bpos + y) and in_para(other, bpos, bpos + y) == 0:
                break
        qB = self.hap(other)[bpos:bpos + y]    # ref orientation at locus B
        sB = rng.random() < 0.5               # supplementary on reverse strand?
        Y = rc(qB) if sB else qB               # read orientation
        chromA = CONTIGS[p1.tid][0]
        if not p1.rev:
            qA = p1.seq[:a]
            R = qA + Y
        else:
            qA = p1.seq[rl - a:]
            R = rc(qA) + Y
        qual = qual_profile(rng, rl, False)
        R, qual = add_errors(rng, R, qual)
        qname = self.name()
        # primary
        if not p1.rev:
            pseq, pq, pops, ppos = R, qual, [("M", a), ("S", y)], p1.pos
        else:
            pseq, pq, pops, ppos = rc(R), qual[::-1], [("S", y), ("M", a)], p1.pos + rl - a
        md, nm = md_nm(self.seqs[chromA], ppos, pops, pseq)
        prim = Rec(qname=qname, flag=PAIRED | PROPER | READ1 | (REV if p1.rev else 0),
                   tid=p1.tid, pos=ppos, mapq=60, cigar=pops, seq=pseq, qual=pq)
        prim.tags = [("NM", nm), ("MD", md)]
        # mate
        mseq, mq = self.realise(p2)
        mate = self.rec_from(qname, p2, mseq, mq, PAIRED | PROPER, rg)
        mate.mapq = 60
        self.mate_up(prim, mate)
        # supplementary (hard-clipped, bwa default)
        Yq = qual[a:]
        Yr = R[a:]
        if not sB:
            sseq, sq, sops = Yr, Yq, [("H", a), ("M", y)]
        else:
            sseq, sq, sops = rc(Yr), Yq[::-1], [("M", y), ("H", a)]
        md2, nm2 = md_nm(self.seqs[other], bpos, sops, sseq)
        sup = Rec(qname=qname, flag=PAIRED | READ1 | SUPP | (REV if sB else 0)
                  | (MREV if mate.rev else 0), tid=TID[other], pos=bpos,
                  mapq=rng.choice((60, 60, 37, 12, 0)), cigar=sops, seq=sseq, qual=sq)
        sup.tags = [("NM", nm2), ("MD", md2)]
        sup.mtid, sup.mpos = mate.tid, mate.pos
        sup.tlen = tlen_of(sup, mate)
        sup.tags.append(("MC", cigar_str(mate.cigar)))
        name_of = lambda t: CONTIGS[t][0]
        prim.tags.append(("SA", sa_entry(sup, name_of)))
        sup.tags.append(("SA", sa_entry(prim, name_of)))
        for r in (prim, mate, sup):
            r.tags.append(("RG", rg))
        self.recs.extend([prim, mate, sup])

    # ---- driver ----------------------------------------------------------

    def simulate(self, depth, rl_of_rg, rg_weights, n_unmapped_pairs):
        """depth: contig -> target depth (fragments drawn uniformly, GC-biased)."""
        rng = self.rng
        kinds = [("normal", 0.880), ("overlap", 0.040), ("full", 0.015), ("outlier", 0.010),
                 ("RF", 0.010), ("TANDEM", 0.008), ("INTER", 0.007), ("chimera", 0.008),
                 ("mate_unmapped", 0.012), ("qcfail", 0.010)]
        names = [k for k, _ in kinds]
        weights = [w for _, w in kinds]
        templates = []  # (tpl, rg, extra)
        for chrom, _ in CONTIGS:
            d = depth.get(chrom, 0)
            if d == 0:
                continue
            target_bases = d * LEN[chrom]
            bases = 0
            while bases < target_bases:
                rg = rng.choices(self.rgs, weights=rg_weights)[0]
                rl = rl_of_rg[rg]
                kind = rng.choices(names, weights=weights)[0]
                extra = 0
                if kind == "qcfail":
                    extra = QCFAIL
                    kind = "normal"
                if kind == "mate_unmapped":
                    self.emit_mate_unmapped(chrom, rl, rg, extra)
                    bases += rl
                    continue
                if kind == "chimera":
                    self.emit_chimera(chrom, rl, rg)
                    bases += 2 * rl
                    continue
                if kind in ("RF", "TANDEM", "INTER"):
                    tpl = self.two_locus_template(kind, chrom, rl)
                else:
                    if kind == "normal":
                        F = max(rl + 1, int(round(rng.gauss(350, 50))))
                    elif kind == "overlap":
                        F = rng.randint(rl // 2 + 10, 2 * rl - 1)
                    elif kind == "full":
                        F = rng.randint(rl // 3, rl)
                    else:
                        F = rng.randint(1500, 8000)
                    tpl = self.fr_template(chrom, F, rl, kind != "outlier")
                if tpl is None:
                    continue
                recs = self.emit_pair(tpl, rg, extra)
                bases += sum(len(r.seq) for r in recs)
                templates.append((tpl, rg, extra, recs))
        # PCR duplicates: same structure, new errors/qualities, flagged 0x400
        fr = [t for t in templates if t[0]["kind"] == "FR"]
        for tpl, rg, extra, recs in rng.sample(fr, int(len(fr) * 0.04)):
            for _ in range(1 if rng.random() < 0.85 else 2):
                self.emit_pair(tpl, rg, extra | DUP)
        for _ in range(n_unmapped_pairs):
            rg = rng.choices(self.rgs, weights=rg_weights)[0]
            self.emit_unmapped_pair(rl_of_rg[rg], rg, QCFAIL if rng.random() < 0.1 else 0)

    def sorted_recs(self):
        big = 1 << 40
        for i, r in enumerate(self.recs):
            r.order = i
        return sorted(self.recs, key=lambda r: (
            r.tid if r.tid >= 0 else big, r.pos if r.tid >= 0 else big,
            1 if (r.flag & REV) else 0, r.order))


# --------------------------------------------------------------------------
# long reads
# --------------------------------------------------------------------------

def long_walk(rng, hap, pos, span):
    """ONT-like alignment of hap[pos:pos+span]: returns ops, ref-oriented query bases"""
    ops, q = [], []
    p, end = pos, pos + span
    while p < end:
        r = rng.random()
        if end - 20 > p > pos + 20 and r < 0.018:
            k = min(int(rng.expovariate(0.7)) + 1, end - 20 - p)
            if k > 0:
                ops.append(("D", k))
                p += k
                continue
        if end - 20 > p > pos + 20 and r < 0.036:
            k = int(rng.expovariate(0.7)) + 1
            ops.append(("I", k))
            q.append(rand_seq(rng, k))
        b = hap[p]
        if rng.random() < 0.03:
            b = other_base(rng, b)
        q.append(b)
        ops.append(("M", 1))
        p += 1
    return merge_ops(ops), "".join(q)


def long_qual(rng, n):
    mean = rng.randint(9, 22)
    q, seg, v = [], 0, mean
    for _ in range(n):
        if seg == 0:
            seg = rng.randint(5, 60)
            v = mean + rng.gauss(0, 4)
        seg -= 1
        x = v + rng.choice((-1, 0, 0, 1))
        if rng.random() < 0.01:
            x = rng.randint(1, 5)
        q.append(int(min(50, max(1, round(x)))))
    return q


def long_reads(rng, seqs, haps, n):
    recs = []
    name_of = lambda t: CONTIGS[t][0]
    chroms = [c for c, _ in CONTIGS]
    wts = [LEN[c] for c in chroms]

    def locus(span, chrom=None):
        for _ in range(1000):
            c = chrom or rng.choices(chroms, weights=wts)[0]
            sp = min(span, LEN[c] - 100)
            p = rng.randrange(0, LEN[c] - sp)
            if not in_n(seqs, c, p, p + sp) and in_para(c, p, p + sp) == 0:
                return c, p, sp
        raise RuntimeError("locus")

    def finish(qname, c, pos, ops, seq, qual, flag, mapq):
        ops = list(ops)
        md, nm = md_nm(seqs[c], pos, ops, seq)
        r = Rec(qname=qname, flag=flag, tid=TID[c], pos=pos, mapq=mapq, cigar=ops,
                seq=seq, qual=qual)
        r.tags = [("NM", nm), ("RG", "ont1")]
        return r

    for i in range(n):
        qname = "ont.%04d" % (i + 1)
        span = rng.randint(2000, 15000)
        kind = "plain"
        if i % 9 == 4:
            kind = "chimera"
        elif i % 17 == 8:
            kind = "para"
        mapq = 60 if rng.random() < 0.85 else rng.choice((0, 0, 1, 5, 17, 30))
        rev = rng.random() < 0.5
        lc = rng.randint(10, 300) if rng.random() < 0.6 else 0
        rcl = rng.randint(10, 300) if rng.random() < 0.6 else 0
        if kind == "para":
            span = rng.randint(1500, PARA_LEN - 300)
            c = rng.choice((PARA_SRC[0], PARA_DST[0]))
            base = PARA_SRC[1] if c == PARA_SRC[0] else PARA_DST[1]
            pos = base + rng.randrange(0, PARA_LEN - span)
            ops, qs = long_walk(rng, rng.choice(haps[c]), pos, span)
            ops = merge_ops([("S", lc)] + ops + [("S", rcl)])
            seq = rand_seq(rng, lc) + qs + rand_seq(rng, rcl)
            qual = long_qual(rng, len(seq))
            if rev:
                qual = qual[::-1]
            prim = finish(qname, c, pos, ops, seq, qual, REV if rev else 0, rng.choice((0, 1, 3)))
            oc, op_ = para_other(c, pos)
            sec = finish(qname, oc, op_, ops, seq, qual, SECONDARY | (REV if rev else 0), 0)
            sec.seq, sec.qual = None, None  # minimap2 style: SEQ/QUAL '*'
            recs += [prim, sec]
            continue
        if kind == "plain":
            c, pos, sp = locus(span)
            ops, qs = long_walk(rng, rng.choice(haps[c]), pos, sp)
            ops = merge_ops([("S", lc)] + ops + [("S", rcl)])
            seq = rand_seq(rng, lc) + qs + rand_seq(rng, rcl)
            qual = long_qual(rng, len(seq))
            if rev:
                qual = qual[::-1]
            recs.append(finish(qname, c, pos, ops, seq, qual, REV if rev else 0, mapq))
            continue
        # chimera: read X+Y, X at locus A (primary), Y at locus B (supplementary, hard-clipped)
        spA = int(span * rng.uniform(0.55, 0.8))
        spB = span - spA
        cA, pA, spA = locus(spA)
        cB, pB, spB = locus(spB)
        opsA, qA = long_walk(rng, rng.choice(haps[cA]), pA, spA)
        opsB, qB = long_walk(rng, rng.choice(haps[cB]), pB, spB)
        sA, sB = rev, rng.random() < 0.5
        X = rc(qA) if sA else qA
        Y = rc(qB) if sB else qB
        R = rand_seq(rng, lc) + X + Y
        Rq = long_qual(rng, len(R))
        clipA = len(Y)  # bases right of X in read orientation
        if not sA:
            pseq, pq = R, Rq
            pops = merge_ops([("S", lc)] + opsA + [("S", clipA)])
        else:
            pseq, pq = rc(R), Rq[::-1]
            pops = merge_ops([("S", clipA)] + opsA + [("S", lc)])
        prim = finish(qname, cA, pA, pops, pseq, pq, REV if sA else 0, mapq)
        hx = lc + len(X)
        if not sB:
            sseq, sq, sops = Y, Rq[hx:], [("H", hx)] + opsB
        else:
            sseq, sq, sops = rc(Y), Rq[hx:][::-1], opsB + [("H", hx)]
        sup = finish(qname, cB, pB, sops, sseq, sq, SUPP | (REV if sB else 0),
                     rng.choice((60, 60, 22, 0)))
        prim.tags.insert(1, ("SA", sa_entry(sup, name_of)))
        sup.tags.insert(1, ("SA", sa_entry(prim, name_of)))
        recs += [prim, sup]
    # three unmapped long reads at the end of the file
    for j in range(3):
        s = rand_seq(rng, rng.randint(1000, 4000))
        r = Rec(qname="ont.u%02d" % (j + 1), flag=UNMAP, tid=-1, pos=-1, mapq=0, cigar=[],
                seq=s, qual=long_qual(rng, len(s)))
        r.tags = [("RG", "ont1")]
        recs.append(r)
    big = 1 << 40
    for k, r in enumerate(recs):
        r.order = k
    return sorted(recs, key=lambda r: (r.tid if r.tid >= 0 else big,
                                       r.pos if r.tid >= 0 else big,
                                       1 if (r.flag & REV) else 0, r.order))


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------

def write_bam(path, seqs, rgs, recs):
    h = {"HD": {"VN": "1.6", "SO": "coordinate"},
         "SQ": [{"SN": n, "LN": l, "M5": md5(seqs[n])} for n, l in CONTIGS],
         "RG": rgs}
    hdr = pysam.AlignmentHeader.from_dict(h)
    with pysam.AlignmentFile(path, "wb", header=hdr) as out:
        for r in recs:
            a = pysam.AlignedSegment(hdr)
            a.query_name = r.qname
            a.flag = r.flag
            a.reference_id = r.tid
            a.reference_start = r.pos
            a.mapping_quality = r.mapq
            if r.cigar:
                a.cigartuples = [("MIDNSHP=X".index(op), n) for op, n in r.cigar]
            a.next_reference_id = r.mtid
            a.next_reference_start = r.mpos
            a.template_length = r.tlen
            if r.seq is not None:
                a.query_sequence = r.seq
                a.query_qualities = pysam.qualitystring_to_array("".join(chr(33 + x) for x in r.qual))
            for k, v in r.tags:
                a.set_tag(k, v, "i" if isinstance(v, int) else "Z")
            out.write(a)
    if os.path.exists(path + ".bai"):
        os.remove(path + ".bai")
    pysam.index(path)


def main():
    rng = random.Random(SEED)
    seqs = make_reference(rng)
    write_reference(seqs)
    sites = make_sites(rng, seqs)
    gA = genotypes(rng, sites, "M")
    gB = genotypes(rng, sites, "F")
    write_sites(sites, gA, gB)
    hapA = haplotypes(seqs, sites, gA, "M")
    hapB = haplotypes(seqs, sites, gB, "F")

    # qc_a: male, 20x autosomes, 10x chrX/chrY; rg1 2x100 (libA), rg2 2x150 (libB)
    sim = ShortSim(random.Random(SEED + 1), seqs, hapA, "qcA", ["rg1", "rg2"], "qcA")
    sim.simulate({"chr1": 20, "chr2": 20, "chrX": 10, "chrY": 10},
                 {"rg1": 100, "rg2": 150}, [0.8, 0.2], 40)
    write_bam(os.path.join(HERE, "qc_a.bam"), seqs,
              [{"ID": "rg1", "SM": "qcA", "LB": "libA", "PL": "ILLUMINA", "PU": "FC1.1"},
               {"ID": "rg2", "SM": "qcA", "LB": "libB", "PL": "ILLUMINA", "PU": "FC1.2"}],
              sim.sorted_recs())

    # qc_b: female, 10x autosomes and chrX, no chrY
    sim = ShortSim(random.Random(SEED + 2), seqs, hapB, "qcB", ["rgB"], "qcB")
    sim.simulate({"chr1": 10, "chr2": 10, "chrX": 10}, {"rgB": 100}, [1.0], 20)
    write_bam(os.path.join(HERE, "qc_b.bam"), seqs,
              [{"ID": "rgB", "SM": "qcB", "LB": "libC", "PL": "ILLUMINA", "PU": "FC2.1"}],
              sim.sorted_recs())

    # qc_long: ONT-like single-end reads of sample qcA
    recs = long_reads(random.Random(SEED + 3), seqs, hapA, 100)
    write_bam(os.path.join(HERE, "qc_long.bam"), seqs,
              [{"ID": "ont1", "SM": "qcA", "LB": "libOnt", "PL": "ONT"}], recs)


if __name__ == "__main__":
    main()
