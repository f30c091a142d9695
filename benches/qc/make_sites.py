#!/usr/bin/env python3
"""A fingerprint sites panel (biallelic SNPs with INFO AF) from a make_cohort.py truth VCF.

  make_sites.py TRUTH_VCF OUT_VCF [--from-gt] [--keep-denovo] [--min-af X]

Reads the truth as text (plain or gzipped; no pysam). Keeps records whose REF and ALT are single
bases A/C/G/T (one ALT). AF: the record's INFO AF (the population frequency the haplotypes were
drawn with) or, with --from-gt or where INFO has no AF, the ALT fraction over every sample's GT.
De novo sites (INFO DENOVO) are left out unless --keep-denovo: a panel is population sites.
Writes a sites-only VCF (plain text; sort, bgzip and tabix it afterwards, e.g.
`bcftools sort -Oz -o sites.vcf.gz OUT_VCF && tabix -p vcf sites.vcf.gz`).
"""
import argparse
import gzip
import sys

BASES = set("ACGT")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("truth")
    p.add_argument("out")
    p.add_argument("--from-gt", action="store_true", help="AF from the samples' genotypes, not INFO AF")
    p.add_argument("--keep-denovo", action="store_true")
    p.add_argument("--min-af", type=float, default=0.0, help="drop sites with AF below this")
    a = p.parse_args()
    opener = gzip.open if a.truth.endswith(".gz") else open
    contigs, kept, seen = [], 0, 0
    body = []
    with opener(a.truth, "rt") as f:
        for line in f:
            if line.startswith("##contig"):
                contigs.append(line)
                continue
            if line.startswith("#"):
                continue
            seen += 1
            x = line.rstrip("\n").split("\t")
            chrom, pos, vid, ref, alt, info = x[0], x[1], x[2], x[3].upper(), x[4].upper(), x[7]
            if ref not in BASES or alt not in BASES or ref == alt:
                continue
            kv = {}
            for item in info.split(";"):
                k, _, v = item.partition("=")
                kv[k] = v
            if "DENOVO" in kv and not a.keep_denovo:
                continue
            af = None
            if not a.from_gt and kv.get("AF") not in (None, "", "."):
                af = float(kv["AF"])
            if af is None:
                if len(x) < 10:
                    sys.exit(f"{a.truth}: {chrom}:{pos} has neither INFO AF nor genotypes")
                fmt = x[8].split(":")
                gi = fmt.index("GT")
                n = alt_n = 0
                for s in x[9:]:
                    gt = s.split(":")[gi].replace("|", "/").split("/")
                    for al in gt:
                        if al in ("0", "1"):
                            n += 1
                            alt_n += al == "1"
                if n == 0:
                    continue
                af = alt_n / n
            if af < a.min_af:
                continue
            body.append(f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\tPASS\tAF={af:.6g}\n")
            kept += 1
    with open(a.out, "w") as o:
        o.write("##fileformat=VCFv4.2\n##source=benches/qc/make_sites.py\n")
        o.writelines(contigs)
        o.write('##INFO=<ID=AF,Number=A,Type=Float,Description="Alternate allele frequency">\n')
        o.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        o.writelines(body)
    print(f"make_sites: {kept} biallelic SNPs of {seen} records -> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
