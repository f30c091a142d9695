#!/usr/bin/env python3
"""Heterozygous truth SNVs (inside confident.bed) whose reads show only one allele.

    python3 benches/het_evidence.py truth.small.vcf.gz READS.bam confident.bed

Reads counted as kasane call counts them (MAPQ >= 20; no secondary, duplicate or QC-failed
reads). A het whose reads all show the alternative allele is called, if at all, homozygous by
any caller that goes by the reads, so it bounds genotype concordance from above:
1 - alt_only / (true positives). A het whose reads all show the reference cannot be found.
"""
import sys

import pysam



def main():
    truth, bam, bed = sys.argv[1:4]
    intervals = {}
    for line in open(bed):
        c, s, e = line.split()[:3]
        intervals.setdefault(c, []).append((int(s), int(e)))

    def inside(c, p):
        return any(s <= p < e for s, e in intervals.get(c, []))

    reads = pysam.AlignmentFile(bam)
    n_het = alt_only = ref_only = 0
    for r in pysam.VariantFile(truth):
        if len(r.ref) != 1 or len(r.alts[0]) != 1 or not inside(r.chrom, r.pos - 1):
            continue
        gt = r.samples[0]["GT"]
        if gt[0] == gt[1]:
            continue
        n_het += 1
        n_alt = n_ref = 0
        for col in reads.pileup(r.chrom, r.pos - 1, r.pos, truncate=True, min_base_quality=0,
                                stepper="nofilter", max_depth=100000):
            for pr in col.pileups:
                a = pr.alignment
                if (pr.is_del or pr.is_refskip or a.is_secondary or a.is_duplicate
                        or a.is_qcfail or a.mapping_quality < 20):
                    continue
                base = a.query_sequence[pr.query_position]
                if base == r.alts[0]:
                    n_alt += 1
                elif base == r.ref:
                    n_ref += 1
        if n_ref == 0 and n_alt > 0:
            alt_only += 1
        if n_alt == 0 and n_ref > 0:
            ref_only += 1
    print("het_snvs", n_het, "alt_only", alt_only, "ref_only", ref_only)


if __name__ == "__main__":
    main()
