import random, sys, pysam
import os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mk import write
seed = int(sys.argv[1]); out = sys.argv[2]
rng = random.Random(seed)
fa = pysam.FastaFile("/tmp/truvari-tests/repo_utils/test_files/references/reference.fa")
chrom = "chr20"; L = 1000000
def rs(n): return "".join(rng.choice("ACGT") for _ in range(n))
motifs = [rs(rng.randint(2, 8)) for _ in range(5)]
def mkset(n, base_events, jitter):
    recs = []
    for ev in base_events:
        if rng.random() < 0.3: continue
        kind, pos, seq, sz = ev
        p = pos + (rng.randint(-jitter, jitter) if rng.random() < 0.6 else 0)
        p = max(2, p)
        gt = rng.choice(["0/1", "1/1", "0/1", "1|0", "0/0", "./.", "1"])
        filt = rng.choice(["PASS", "PASS", ".", "LowQ"])
        anchor = fa.fetch(chrom, p - 1, p)
        if kind == "INS":
            s = seq
            if rng.random() < 0.5:
                k = rng.randint(0, len(s) - 1); s = s[k:] + s[:k]  # rotate
            if rng.random() < 0.5:
                s = s[:max(1, len(s) + rng.randint(-len(s)//4, len(s)//4))]
            if rng.random() < 0.2: s = s.lower()
            info = f"SVTYPE=INS;SVLEN={len(s)}" if rng.random() < 0.5 else "."
            recs.append((chrom, p, f"i{len(recs)}", anchor, anchor + s, ".", filt, info, "GT", gt))
        elif kind == "DEL":
            d = max(1, sz + rng.randint(-sz//5, sz//5))
            if rng.random() < 0.25:
                recs.append((chrom, p, f"s{len(recs)}", anchor, "<DEL>", ".", filt, f"SVTYPE=DEL;END={p+d}" + (f";SVLEN=-{d}" if rng.random()<0.5 else ""), "GT", gt))
            else:
                refs = fa.fetch(chrom, p - 1, p + d)
                recs.append((chrom, p, f"d{len(recs)}", refs, anchor, ".", filt, "." if rng.random() < 0.5 else f"SVLEN=-{d}", "GT", gt))
        elif kind == "DUP":
            recs.append((chrom, p, f"u{len(recs)}", anchor, rng.choice(["<DUP>", "<DUP:TANDEM>"]), ".", filt, f"SVTYPE=DUP;SVLEN={sz}" + (f";END={p+sz}" if rng.random()<0.5 else ""), "GT", gt))
        elif kind == "INV":
            recs.append((chrom, p, f"v{len(recs)}", anchor, "<INV>", ".", filt, f"SVTYPE=INV;END={p+sz}", "GT", gt))
        elif kind == "BND":
            q = sz + (rng.randint(-150, 150) if rng.random() < 0.5 else 0)
            alt = rng.choice([f"{anchor}]chr20:{q}]", f"{anchor}[chr20:{q}[", f"]chr20:{q}]{anchor}", f"[chr20:{q}[{anchor}"]) if rng.random() < 0.3 else f"{anchor}]chr20:{q}]"
            recs.append((chrom, p, f"b{len(recs)}", anchor, alt, ".", filt, "SVTYPE=BND" + (";CIPOS=-5,20" if rng.random() < 0.3 else ""), "GT", gt))
        elif kind == "SNP":
            b = rng.choice([x for x in "ACGT" if x != anchor.upper()])
            recs.append((chrom, p, f"n{len(recs)}", anchor, b, ".", filt, ".", "GT", gt))
    recs.sort(key=lambda r: r[1])
    return recs
events = []
pos = 1000
while pos < L - 60000 and len(events) < 400:
    pos += rng.choice([30, 100, 400, 900, 1500, 3000])
    kind = rng.choice(["INS", "INS", "DEL", "DEL", "DUP", "INV", "BND", "SNP"])
    sz = rng.choice([5, 20, 35, 45, 55, 80, 120, 300, 700, 3000])
    if kind == "INS":
        seq = (rng.choice(motifs) * 200)[:sz] if rng.random() < 0.5 else rs(sz)
    else:
        seq = None
    if kind == "BND": sz = rng.randint(1000, L - 1000)
    events.append((kind, pos, seq, sz))
    # clusters of duplicates -> ties
    if rng.random() < 0.2:
        for _ in range(rng.randint(1, 6)):
            events.append((kind, pos + rng.randint(0, 3), seq, sz))
contigs = (("chr20", L),)
write(out + "_b.vcf", mkset(0, events, 5), contigs=contigs)
write(out + "_c.vcf", mkset(1, events, 20), contigs=contigs)
