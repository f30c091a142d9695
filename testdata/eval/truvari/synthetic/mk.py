import sys, pysam, os, subprocess
def write(fn, recs, samples=("S",), contigs=(("chr1", 100000),), extra_hdr=()):
    with open(fn, "w") as f:
        f.write("##fileformat=VCFv4.2\n")
        for c, l in contigs:
            f.write(f"##contig=<ID={c},length={l}>\n" if l else f"##contig=<ID={c}>\n")
        f.write('##INFO=<ID=SVLEN,Number=1,Type=Integer,Description="x">\n##INFO=<ID=SVTYPE,Number=1,Type=String,Description="x">\n##INFO=<ID=END,Number=1,Type=Integer,Description="x">\n')
        f.write('##FILTER=<ID=LowQ,Description="x">\n##INFO=<ID=CIPOS,Number=2,Type=Integer,Description="x">\n##INFO=<ID=CIEND,Number=2,Type=Integer,Description="x">\n##FORMAT=<ID=GT,Number=1,Type=String,Description="x">\n')
        for h in extra_hdr: f.write(h + "\n")
        f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO" + ("\tFORMAT\t" + "\t".join(samples) if samples else "") + "\n")
        for r in recs:
            f.write("\t".join(map(str, r)) + "\n")
    pysam.tabix_index(fn, preset="vcf", force=True)
