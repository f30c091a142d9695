#!/usr/bin/env python3
"""Deterministic generator for the small-variant `kasane eval` test data.

    python3 testdata/eval/small/gen_small.py

Reads testdata/ref.fa itself and writes, next to this script:

    truth.vcf.gz          sample TRUTH, ~400 non-overlapping small variants on chr1-chr3
    calls_agree.vcf.gz    sample CALLS, the truth's own representation where a call exists,
                          plus FN, genotype errors, FPs, LowQual / 0/0 / ./. records
    calls_differ.vcf.gz   calls_agree with planted representation differences (planted.tsv)
    planted.tsv           one line per planted case
    *.vcf.gz.tbi          tabix indexes

Python 3 standard library only; needs bgzip and tabix on PATH. A fixed seed, records written
in a fixed order: running it twice gives the same bytes (with the same bgzip build).
See README.md beside this script.
"""

import os
import random
import subprocess

SEED = 20250611
HERE = os.path.dirname(os.path.abspath(__file__))
REF_FA = os.path.join(HERE, "..", "..", "ref.fa")

GAP = 15          # minimum distance between the footprints of two variants (clusters)
EDGE = 60         # keep away from contig ends
BASES = "ACGT"


# ---------------------------------------------------------------- reference

def read_fasta(path):
    seqs, order, name, buf = {}, [], None, []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    seqs[name] = "".join(buf).upper()
                name = line[1:].split()[0]
                order.append(name)
                buf = []
            elif line:
                buf.append(line)
    if name is not None:
        seqs[name] = "".join(buf).upper()
    return seqs, order


REF, CONTIG_ORDER = read_fasta(REF_FA)
VAR_CONTIGS = ["chr1", "chr2", "chr3"]


# ---------------------------------------------------------------- indel normalisation helpers
# All positions below are 0-based; VCF POS = pos + 1.

def left_align_del(seq, pos, d):
    """Deletion of seq[pos+1 : pos+1+d] anchored at pos: shift left while possible."""
    while pos > 0 and seq[pos] == seq[pos + d]:
        pos -= 1
    return pos


def right_extent_del(seq, pos, d):
    """Right-most anchor the same deletion can take."""
    while pos + d + 1 < len(seq) and seq[pos + 1] == seq[pos + d + 1]:
        pos += 1
    return pos


def left_align_ins(seq, pos, ins):
    """Insertion of `ins` after seq[pos]: shift left while possible."""
    while pos > 0 and seq[pos] == ins[-1]:
        ins = seq[pos] + ins[:-1]
        pos -= 1
    return pos, ins


def right_extent_ins(seq, pos, ins):
    while pos + 1 < len(seq) and seq[pos + 1] == ins[0]:
        ins = ins[1:] + seq[pos + 1]
        pos += 1
    return pos


# ---------------------------------------------------------------- bcftools norm -a, re-done in python
# Only used to make sure the planted "complex" records really atomize differently from the truth
# (a port of _atomize_allele in bcftools 1.16 abuf.c, followed by left-alignment).

def bcftools_atoms(seq, pos, ref, alt):
    rlen, alen = len(ref), len(alt)
    while rlen > 1 and alen > 1 and ref[rlen - 1] == alt[alen - 1]:
        rlen -= 1
        alen -= 1
    atoms = []
    cur = None
    for i in range(max(rlen, alen)):
        rb = ref[i] if i < rlen else "-"
        ab = alt[i] if i < alen else "-"
        if rb != ab:
            if rb == "-" or ab == "-":
                if ab != "-":
                    cur[2] += ab
                if rb != "-":
                    cur[1] += rb
            else:
                cur = [pos + i, rb, ab]
                atoms.append(cur)
            continue
        if i + 1 >= rlen or i + 1 >= alen:
            cur = [pos + i, rb, ab]
            atoms.append(cur)
    out = set()
    for p, r, a in atoms:
        if r == a:
            continue
        if len(r) == len(a) == 1:
            out.add((p, r, a))
            continue
        # trim and left-align simple indels
        while len(r) > 1 and len(a) > 1 and r[-1] == a[-1]:
            r, a = r[:-1], a[:-1]
        while len(r) > 1 and len(a) > 1 and r[0] == a[0]:
            r, a, p = r[1:], a[1:], p + 1
        if len(a) == 1 and r[0] == a[0]:
            p2 = left_align_del(seq, p, len(r) - 1)
            out.add((p2, seq[p2:p2 + len(r)], seq[p2]))
        elif len(r) == 1 and a[0] == r[0]:
            p2, ins = left_align_ins(seq, p, a[1:])
            out.add((p2, seq[p2], seq[p2] + ins))
        else:
            out.add((p, r, a))
    return out


# ---------------------------------------------------------------- repeats in the reference

def find_repeats(seq):
    """Homopolymers >= 4 bp and 2-4 bp units repeated >= 3 times, as (start, unit, copies)."""
    reps = []
    n = len(seq)
    i = EDGE
    while i < n - EDGE:
        best = None
        for u in (1, 2, 3, 4):
            unit = seq[i:i + u]
            if len(set(unit)) == 1 and u > 1:
                continue
            c = 1
            while seq[i + c * u:i + (c + 1) * u] == unit:
                c += 1
            need = 4 if u == 1 else 3
            if c >= need and (best is None or c * u > best[1] * len(best[0])):
                best = (unit, c)
        if best:
            reps.append((i, best[0], best[1]))
            i += len(best[0]) * best[1]
        else:
            i += 1
    return reps


# ---------------------------------------------------------------- records

class Rec:
    """One VCF record (0-based pos) plus its footprint for spacing."""

    def __init__(self, chrom, pos, ref, alts, gt, kind, lo=None, hi=None):
        self.chrom, self.pos, self.ref, self.alts, self.gt, self.kind = chrom, pos, ref, list(alts), gt, kind
        self.lo = pos if lo is None else lo
        self.hi = pos + len(ref) - 1 if hi is None else hi
        self.qual = 50
        self.filter = "PASS"
        self.cluster = None

    def copy(self):
        r = Rec(self.chrom, self.pos, self.ref, self.alts, self.gt, self.kind, self.lo, self.hi)
        r.qual, r.filter, r.cluster = self.qual, self.filter, self.cluster
        return r

    def line(self, with_qual=True):
        q = str(self.qual) if with_qual else "50"
        return "\t".join([self.chrom, str(self.pos + 1), ".", self.ref, ",".join(self.alts), q,
                          self.filter, ".", "GT", self.gt])


class Occupancy:
    def __init__(self):
        self.spans = {c: [] for c in REF}

    def free(self, chrom, lo, hi):
        if lo < EDGE or hi >= len(REF[chrom]) - EDGE:
            return False
        for a, b in self.spans[chrom]:
            if lo <= b + GAP and hi >= a - GAP:
                return False
        return True

    def take(self, chrom, lo, hi):
        self.spans[chrom].append((lo, hi))


rng = random.Random(SEED)
occ = Occupancy()
REPEATS = {c: find_repeats(REF[c]) for c in VAR_CONTIGS}
WEIGHTS = [len(REF[c]) for c in VAR_CONTIGS]


def pick_chrom():
    return rng.choices(VAR_CONTIGS, weights=WEIGHTS)[0]


def other_base(b):
    return rng.choice([x for x in BASES if x != b])


def het_or_hom_gt():
    return rng.choices(["0/1", "1/1", "0|1", "1|0"], weights=[45, 30, 12, 13])[0]


def indel_len():
    # mostly short, a tail up to 40
    r = rng.random()
    if r < 0.55:
        return rng.randint(1, 3)
    if r < 0.80:
        return rng.randint(4, 10)
    return rng.randint(11, 40)


def rand_seq(n):
    return "".join(rng.choice(BASES) for _ in range(n))


def make_del(chrom, pos, d, kind="del"):
    seq = REF[chrom]
    pos = left_align_del(seq, pos, d)
    hi = right_extent_del(seq, pos, d) + d
    return Rec(chrom, pos, seq[pos:pos + d + 1], [seq[pos]], het_or_hom_gt(), kind, pos, hi)


def make_ins(chrom, pos, ins, kind="ins"):
    seq = REF[chrom]
    pos, ins = left_align_ins(seq, pos, ins)
    hi = right_extent_ins(seq, pos, ins) + 1
    return Rec(chrom, pos, seq[pos], [seq[pos] + ins], het_or_hom_gt(), kind, pos, hi)


def place(make, tries=2000):
    """Call make() until it returns records whose footprint is free; take and return them."""
    for _ in range(tries):
        recs = make()
        if not recs:
            continue
        chrom = recs[0].chrom
        lo = min(r.lo for r in recs)
        hi = max(r.hi for r in recs)
        if occ.free(chrom, lo, hi):
            occ.take(chrom, lo, hi)
            return recs
    raise SystemExit("could not place a variant")


def random_pos(chrom):
    return rng.randint(EDGE, len(REF[chrom]) - EDGE - 50)


# ---- truth generators

def gen_snv():
    c = pick_chrom()
    p = random_pos(c)
    b = REF[c][p]
    return [Rec(c, p, b, [other_base(b)], het_or_hom_gt(), "snv")]


def gen_mnp():
    c = pick_chrom()
    p = random_pos(c)
    n = rng.choice([2, 3])
    ref = REF[c][p:p + n]
    alt = "".join(other_base(b) for b in ref)
    return [Rec(c, p, ref, [alt], rng.choice(["1/1", "0|1", "1|0"]), "mnp")]


def gen_del_random():
    c = pick_chrom()
    return [make_del(c, random_pos(c), indel_len())]


def gen_ins_random():
    c = pick_chrom()
    return [make_ins(c, random_pos(c), rand_seq(indel_len()))]


used_repeats = set()


def pick_repeat():
    c = pick_chrom()
    reps = REPEATS[c]
    k = rng.randrange(len(reps))
    if (c, k) in used_repeats:
        return None
    used_repeats.add((c, k))
    return c, reps[k]


def gen_del_repeat():
    got = pick_repeat()
    if not got:
        return None
    c, (start, unit, copies) = got
    k = rng.randint(1, max(1, min(copies - 1, 40 // len(unit))))
    # anchor inside the run; left-alignment moves it to the base before the run
    return [make_del(c, start + rng.randrange(copies) * len(unit), k * len(unit), "del_rep")]


def gen_ins_repeat():
    got = pick_repeat()
    if not got:
        return None
    c, (start, unit, copies) = got
    k = rng.randint(1, max(1, min(4, 40 // len(unit))))
    # insert k more copies at the end of the run; left-alignment rotates it to the start
    end = start + copies * len(unit) - 1
    return [make_ins(c, end, unit * k, "ins_rep")]


def gen_multiallelic():
    c = pick_chrom()
    p = random_pos(c)
    seq = REF[c]
    b = seq[p]
    style = rng.choice(["snv", "snv", "indel", "mixed"])
    if style == "snv":
        a1, a2 = rng.sample([x for x in BASES if x != b], 2)
        return [Rec(c, p, b, [a1, a2], rng.choice(["1/2", "1|2"]), "multi_snv")]
    if style == "indel":
        # deletion and insertion sharing the anchor: REF=seq[p:p+1+d], ALT1=seq[p], ALT2=REF+ins
        d = rng.randint(1, 4)
        ins = rand_seq(rng.randint(1, 4))
        if left_align_del(seq, p, d) != p or left_align_ins(seq, p + d, ins)[0] != p + d:
            return None
        if right_extent_del(seq, p, d) != p or right_extent_ins(seq, p + d, ins) != p + d:
            return None
        ref = seq[p:p + d + 1]
        return [Rec(c, p, ref, [ref[0], ref + ins], "1/2", "multi_indel", p, p + d + 1)]
    # SNV at the anchor plus a deletion starting after it: REF=seq[p:p+1+d], ALT1=x+seq[p+1:], ALT2=seq[p]
    d = rng.randint(1, 3)
    if left_align_del(seq, p, d) != p or right_extent_del(seq, p, d) != p:
        return None
    ref = seq[p:p + d + 1]
    x = other_base(b)
    return [Rec(c, p, ref, [x + ref[1:], ref[0]], "1/2", "multi_mixed", p, p + d)]


def planted_gt():
    return rng.choice(["1/1", "0|1", "1|0"])


def gen_pair_b():
    """Two SNVs 1 or 2 bp apart (truth), later written as one MNP (calls_differ)."""
    c = pick_chrom()
    p = random_pos(c)
    g = rng.choice([1, 2])
    seq = REF[c]
    gt = planted_gt()
    r1 = Rec(c, p, seq[p], [other_base(seq[p])], gt, "snv")
    r2 = Rec(c, p + g, seq[p + g], [other_base(seq[p + g])], gt, "snv")
    return [r1, r2]


def gen_pair_c():
    """Deletion then an SNV 1-6 bp after it (truth), later one complex record (calls_differ)."""
    c = pick_chrom()
    seq = REF[c]
    q = random_pos(c)
    d = rng.randint(1, 6)
    if left_align_del(seq, q, d) != q or right_extent_del(seq, q, d) != q:
        return None
    p = q + d + rng.randint(1, 6)           # SNV position, after the deleted bases
    gt = planted_gt()
    rdel = Rec(c, q, seq[q:q + d + 1], [seq[q]], gt, "del")
    rsnv = Rec(c, p, seq[p], [other_base(seq[p])], gt, "snv")
    # the complex record and its bcftools atoms must differ from the truth atoms
    cref = seq[q:p + 1]
    calt = seq[q] + seq[q + d + 1:p] + rsnv.alts[0]
    truth_atoms = {(q, rdel.ref, rdel.alts[0]), (p, rsnv.ref, rsnv.alts[0])}
    if bcftools_atoms(seq, q, cref, calt) & truth_atoms:
        return None
    return [rdel, rsnv]


# ---------------------------------------------------------------- build the truth

truth = []          # list of Rec
clusters = {}       # cluster id -> (kind, [Rec])


def add(recs, cluster_kind=None):
    truth.extend(recs)
    if cluster_kind:
        cid = len(clusters)
        clusters[cid] = (cluster_kind, recs)
        for r in recs:
            r.cluster = cid


# planted cases first, so they get places
for _ in range(6):
    add(place(gen_mnp), "mnp_as_snvs")
for _ in range(6):
    add(place(gen_pair_b), "snvs_as_mnp")
for _ in range(6):
    add(place(gen_pair_c), "del_snv_as_complex")
for _ in range(4):
    add(place(gen_mnp))
for _ in range(8):
    add(place(gen_multiallelic))
for _ in range(35):
    add(place(gen_del_repeat))
for _ in range(30):
    add(place(gen_ins_repeat))
for _ in range(40):
    add(place(gen_del_random))
for _ in range(35):
    add(place(gen_ins_random))
for _ in range(215):
    add(place(gen_snv))

ORDER = {c: i for i, c in enumerate(CONTIG_ORDER)}


def sort_key(r):
    return (ORDER[r.chrom], r.pos, r.ref, ",".join(r.alts))


truth.sort(key=sort_key)
for r in truth:
    assert REF[r.chrom][r.pos:r.pos + len(r.ref)] == r.ref, (r.chrom, r.pos, r.ref)


# ---------------------------------------------------------------- calls_agree

def tp_qual():
    return rng.randint(1, 15) if rng.random() < 0.08 else rng.randint(15, 60)


def fp_qual():
    return rng.randint(1, 20) if rng.random() < 0.8 else rng.randint(20, 45)


def flip_gt(gt):
    if gt == "1/1":
        return "0/1"
    return "1/1"        # 0/1, 0|1, 1|0 -> 1/1


calls = []          # calls_agree records
# choose fates for truth records; planted clusters always stay unchanged
free_truth = [r for r in truth if r.cluster is None]
idx = list(range(len(free_truth)))
rng.shuffle(idx)
n = len(idx)
drop = set(idx[:40])                    # FN
gtchange = set(idx[40:80])              # genotype error, allele still TP
lowqual_tp = set(idx[80:86])            # call present but LowQual -> ignored -> FN
nocall_tp = set(idx[86:89])             # call present with GT 0/0 or ./. -> ignored -> FN
wrong_allele = set(idx[89:93])          # wrong ALT at the truth position -> FP + FN

fate = {}
for rank, j in enumerate(idx):
    r = free_truth[j]
    if rank in drop:
        fate[id(r)] = "drop"
    elif rank in gtchange:
        fate[id(r)] = "gt" if len(r.alts) == 1 else "keep"
    elif rank in lowqual_tp:
        fate[id(r)] = "lowqual"
    elif rank in nocall_tp:
        fate[id(r)] = "nocall"
    elif rank in wrong_allele:
        fate[id(r)] = "wrong" if len(r.alts) == 1 and r.kind != "mnp" else "keep"
    else:
        fate[id(r)] = "keep"

for r in truth:
    f = fate.get(id(r), "keep")
    if f == "drop":
        continue
    c = r.copy()
    c.qual = tp_qual()
    if f == "gt":
        c.gt = flip_gt(r.gt)
    elif f == "lowqual":
        c.filter = "LowQual"
        c.qual = rng.randint(1, 9)
    elif f == "nocall":
        c.gt = rng.choice(["0/0", "./."])
    elif f == "wrong":
        # another allele at the truth's position: an SNV to a third base, a deletion or an
        # insertion one base longer (left-aligned again)
        seq = REF[r.chrom]
        if len(r.ref) == len(r.alts[0]) == 1:
            c.alts = [rng.choice([b for b in BASES if b not in (r.ref, r.alts[0])])]
        elif len(r.ref) > len(r.alts[0]):
            d = len(r.ref)
            p2 = left_align_del(seq, r.pos, d)
            c.pos, c.ref, c.alts = p2, seq[p2:p2 + d + 1], [seq[p2]]
        else:
            p2, ins = left_align_ins(seq, r.pos, r.alts[0][1:] + other_base(r.alts[0][-1]))
            c.pos, c.ref, c.alts = p2, seq[p2], [seq[p2] + ins]
        c.qual = fp_qual()
    calls.append(c)


# FPs at fresh positions (PASS), plus a few ignored ones (LowQual, 0/0, ./.)
def fresh(make):
    recs = place(make)
    for r in recs:
        r.qual = fp_qual()
    return recs


extra = []
for _ in range(27):
    extra += fresh(gen_snv)
for _ in range(7):
    extra += fresh(gen_del_random)
for _ in range(6):
    extra += fresh(gen_ins_random)
ign = []
for _ in range(4):
    ign += fresh(rng.choice([gen_snv, gen_del_random, gen_ins_random]))
for r in ign:
    r.filter = "LowQual"
    r.qual = rng.randint(1, 9)
ign2 = []
for _ in range(2):
    ign2 += fresh(gen_snv)
ign2[0].gt = "0/0"
ign2[1].gt = "./."
calls += extra + ign + ign2
calls.sort(key=sort_key)


# ---------------------------------------------------------------- calls_differ

planted_rows = []
differ = []
done_clusters = set()
for c in calls:
    if c.cluster is None:
        differ.append(c)
        continue
    cid = c.cluster
    if cid in done_clusters:
        continue
    done_clusters.add(cid)
    kind, trecs = clusters[cid]
    crecs = sorted([x for x in calls if x.cluster == cid], key=sort_key)
    assert len(crecs) == len(trecs)
    seq = REF[c.chrom]
    q = crecs[0].qual
    if kind == "mnp_as_snvs":
        t = trecs[0]
        new = []
        for i, (rb, ab) in enumerate(zip(t.ref, t.alts[0])):
            if rb != ab:
                x = Rec(t.chrom, t.pos + i, rb, [ab], t.gt, "snv")
                x.qual = q
                new.append(x)
    elif kind == "snvs_as_mnp":
        a, b = trecs
        ref = seq[a.pos:b.pos + 1]
        alt = a.alts[0] + ref[1:-1] + b.alts[0]
        x = Rec(a.chrom, a.pos, ref, [alt], a.gt, "mnp")
        x.qual = q
        new = [x]
    else:
        rdel, rsnv = trecs
        ref = seq[rdel.pos:rsnv.pos + 1]
        alt = seq[rdel.pos] + seq[rdel.pos + len(rdel.ref):rsnv.pos] + rsnv.alts[0]
        x = Rec(rdel.chrom, rdel.pos, ref, [alt], rdel.gt, "complex")
        x.qual = q
        new = [x]
    differ.extend(new)
    planted_rows.append([
        kind, trecs[0].chrom,
        ",".join(str(t.pos + 1) for t in trecs),
        ",".join(str(x.pos + 1) for x in new),
        ";".join(f"{t.ref}>{','.join(t.alts)}" for t in trecs),
        ";".join(f"{x.ref}>{','.join(x.alts)}" for x in new),
        trecs[0].gt,
    ])
differ.sort(key=sort_key)


# ---------------------------------------------------------------- write

def header(sample):
    h = ["##fileformat=VCFv4.2",
         '##FILTER=<ID=PASS,Description="All filters passed">',
         '##FILTER=<ID=LowQual,Description="Low quality call">',
         '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">']
    for c in CONTIG_ORDER:
        h.append(f"##contig=<ID={c},length={len(REF[c])}>")
    h.append("##reference=ref.fa")
    h.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", sample]))
    return "\n".join(h) + "\n"


def write_vcf(name, sample, recs, truth_qual=False):
    text = header(sample) + "".join(r.line(not truth_qual) + "\n" for r in recs)
    path = os.path.join(HERE, name)
    with open(path, "wb") as fh:
        subprocess.run(["bgzip", "-c"], input=text.encode(), stdout=fh, check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", path], check=True)


write_vcf("truth.vcf.gz", "TRUTH", truth, truth_qual=True)
write_vcf("calls_agree.vcf.gz", "CALLS", calls)
write_vcf("calls_differ.vcf.gz", "CALLS", differ)
with open(os.path.join(HERE, "planted.tsv"), "w") as fh:
    fh.write("kind\tchrom\ttruth_pos\tcall_pos\ttruth_alleles\tcall_alleles\tgt\n")
    for row in sorted(planted_rows, key=lambda r: (ORDER[r[1]], int(r[2].split(",")[0]))):
        fh.write("\t".join(row) + "\n")

print(f"truth {len(truth)} records, calls_agree {len(calls)}, calls_differ {len(differ)}, "
      f"planted {len(planted_rows)}")
