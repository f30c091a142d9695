//! `kasane sv` on small BAMs generated here: each SV type planted in CIGARs and as split
//! alignments, heterozygous and homozygous, inside and outside a tandem repeat; the calls
//! each must produce are asserted. No network, no peer tools.

mod common;

use std::path::{Path, PathBuf};

use common::{write_bam, write_fasta, Rec, Rng};
use kasane::io::bgzf::compress_all;
use kasane::io::index::inflate_all;
use kasane::progress::Progress;
use kasane::sv::{run, SvOptions};

fn revcomp(s: &[u8]) -> Vec<u8> {
    s.iter()
        .rev()
        .map(|b| match b {
            b'A' => b'T',
            b'C' => b'G',
            b'G' => b'C',
            b'T' => b'A',
            x => *x,
        })
        .collect()
}

fn cigar_str(c: &[(u8, u32)]) -> String {
    c.iter()
        .map(|(op, n)| format!("{n}{}", *op as char))
        .collect()
}

// ---------------------------------------------------------------- the planted genome

const L1: usize = 260_000;
const L2: usize = 80_000;
const READ: usize = 8000;
const DEPTH: usize = 10; // reads per haplotype at each event

struct World {
    chr1: Vec<u8>,
    chr2: Vec<u8>,
    recs: Vec<Rec>,
    n: usize,
    rng: Rng,
}

impl World {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        let mut chr1 = rng.seq(L1);
        let chr2 = rng.seq(L2);
        // A tandem repeat (20 bp unit) at chr1:160000-160400.
        let unit = rng.seq(20);
        for i in 0..20 {
            chr1[160_000 + i * 20..160_000 + i * 20 + 20].copy_from_slice(&unit);
        }
        World {
            chr1,
            chr2,
            recs: Vec::new(),
            n: 0,
            rng,
        }
    }

    fn name(&mut self) -> String {
        self.n += 1;
        format!("read{}", self.n)
    }

    fn contig(&self, tid: i32) -> &[u8] {
        if tid == 0 {
            &self.chr1
        } else {
            &self.chr2
        }
    }

    /// Plain reference reads over [a, b), `k` of them, staggered.
    fn ref_reads(&mut self, tid: i32, a: usize, k: usize) {
        for i in 0..k {
            let s = a + i * 97;
            let name = self.name();
            let seq = self.contig(tid)[s..s + READ].to_vec();
            self.recs.push(Rec {
                name,
                tid,
                pos: s as i64,
                flag: if i % 2 == 0 { 0 } else { 16 },
                mapq: 60,
                cigar: vec![(b'M', READ as u32)],
                seq,
                qual: Vec::new(),
                sa: None,
            });
        }
    }

    /// Reads with an indel in the CIGAR at `at` on chr1: deletion of `del` bases or insertion
    /// of `ins` (`jitter` moves the event within a repeat per read).
    fn cigar_reads(&mut self, at: usize, del: usize, ins: &[u8], k: usize, jitter: &[usize]) {
        for i in 0..k {
            let at = at + jitter.get(i % jitter.len().max(1)).copied().unwrap_or(0);
            let s = at - 3000 - i * 53;
            let left = at - s;
            let right = READ - left;
            let mut seq = self.chr1[s..at].to_vec();
            seq.extend_from_slice(ins);
            seq.extend_from_slice(&self.chr1[at + del..at + del + right]);
            let mut cigar = vec![(b'M', left as u32)];
            if del > 0 {
                cigar.push((b'D', del as u32));
            }
            if !ins.is_empty() {
                cigar.push((b'I', ins.len() as u32));
            }
            cigar.push((b'M', right as u32));
            let name = self.name();
            self.recs.push(Rec {
                name,
                tid: 0,
                pos: s as i64,
                flag: 0,
                mapq: 60,
                cigar,
                seq,
                qual: Vec::new(),
                sa: None,
            });
        }
    }

    /// A read made of pieces (tid, ref start, ref end, reverse) in read order, written as a
    /// primary record (first piece, soft-clipped) and supplementary records (hard-clipped),
    /// each with an SA tag listing the others.
    fn split_read(&mut self, pieces: &[(i32, usize, usize, bool)]) {
        let name = self.name();
        let segs: Vec<Vec<u8>> = pieces
            .iter()
            .map(|&(t, a, b, rev)| {
                let s = self.contig(t)[a..b].to_vec();
                if rev {
                    revcomp(&s)
                } else {
                    s
                }
            })
            .collect();
        let read: Vec<u8> = segs.concat();
        let total = read.len() as u32;
        let mut q = 0u32;
        let mut recs = Vec::new();
        for (i, &(t, a, b, rev)) in pieces.iter().enumerate() {
            let len = (b - a) as u32;
            let (before, after) = (q, total - q - len);
            q += len;
            // Clips in the record's own (reference) orientation.
            let (l, r) = if rev {
                (after, before)
            } else {
                (before, after)
            };
            let clip = if i == 0 { b'S' } else { b'H' };
            let mut cigar = Vec::new();
            if l > 0 {
                cigar.push((clip, l));
            }
            cigar.push((b'M', len));
            if r > 0 {
                cigar.push((clip, r));
            }
            let seq = if i == 0 {
                if rev {
                    revcomp(&read)
                } else {
                    read.clone()
                }
            } else {
                self.contig(t)[a..b].to_vec()
            };
            let mut flag = if rev { 16 } else { 0 };
            if i > 0 {
                flag |= 0x800;
            }
            recs.push(Rec {
                name: name.clone(),
                tid: t,
                pos: a as i64,
                flag,
                mapq: 60,
                cigar,
                seq,
                qual: Vec::new(),
                sa: None,
            });
        }
        let names = ["chr1", "chr2"];
        for i in 0..recs.len() {
            let sa: String = recs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, o)| {
                    let c: Vec<(u8, u32)> = o
                        .cigar
                        .iter()
                        .map(|&(op, n)| (if op == b'H' { b'S' } else { op }, n))
                        .collect();
                    format!(
                        "{},{},{},{},60,0;",
                        names[o.tid as usize],
                        o.pos + 1,
                        if o.flag & 16 != 0 { '-' } else { '+' },
                        cigar_str(&c)
                    )
                })
                .collect();
            recs[i].sa = Some(sa);
        }
        self.recs.extend(recs);
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    fa: PathBuf,
    bam: PathBuf,
    tr: PathBuf,
    ins_seq: Vec<u8>,
}

/// Builds the test genome, reads and files.
fn fixture() -> Fixture {
    let mut w = World::new(0x5eed_1234_abcd);
    let mut ins_seq_out = Vec::new();
    // 1. chr1:20000 homozygous 500 bp deletion in CIGARs.
    w.cigar_reads(20_000, 500, &[], 2 * DEPTH, &[0]);
    // 2. chr1:40000 heterozygous 300 bp insertion in CIGARs.
    let ins = w.rng.seq(300);
    ins_seq_out.extend_from_slice(&ins);
    w.cigar_reads(40_000, 0, &ins, DEPTH, &[0]);
    w.ref_reads(0, 36_000, DEPTH);
    // 3. chr1:60000 heterozygous 3 kb deletion as split alignments.
    for i in 0..DEPTH {
        w.split_read(&[
            (0, 55_000 + i * 40, 60_000, false),
            (0, 63_000, 67_000 - i * 30, false),
        ]);
    }
    w.ref_reads(0, 56_000, DEPTH);
    // 4. chr1:80000-82000 homozygous inversion as split alignments (fwd, rev, fwd).
    for i in 0..2 * DEPTH {
        w.split_read(&[
            (0, 76_000 + i * 30, 80_000, false),
            (0, 80_000, 82_000, true),
            (0, 82_000, 85_000 - i * 20, false),
        ]);
    }
    // 5. chr1:100000-101000 heterozygous tandem duplication as split alignments.
    for i in 0..DEPTH {
        w.split_read(&[
            (0, 96_000 + i * 40, 101_000, false),
            (0, 100_000, 104_000 - i * 30, false),
        ]);
    }
    w.ref_reads(0, 96_500, DEPTH);
    // 6. BND chr1:120000 -> chr2:20000 (heterozygous).
    for i in 0..DEPTH {
        w.split_read(&[
            (0, 115_000 + i * 40, 120_000, false),
            (1, 20_000, 24_000 - i * 30, false),
        ]);
    }
    w.ref_reads(0, 116_000, DEPTH);
    w.ref_reads(1, 16_000, DEPTH);
    // 7. chr1:140000: two insertion alleles, 200 bp and 600 bp (genotype 1/2).
    let a1 = w.rng.seq(200);
    let a2 = w.rng.seq(600);
    w.cigar_reads(140_000, 0, &a1, DEPTH, &[0]);
    w.cigar_reads(140_000, 0, &a2, DEPTH, &[0]);
    // 8. chr1:160000 tandem repeat: a 100 bp insertion placed anywhere in the repeat.
    let tr_ins = w.rng.seq(100);
    w.cigar_reads(160_000, 0, &tr_ins, DEPTH, &[0, 180, 360, 90, 270]);
    w.ref_reads(0, 156_000, DEPTH);
    // 9. chr1:180000: a 15 kb insertion, longer than the reads: only soft clips show it.
    let big = w.rng.seq(15_000);
    for i in 0..DEPTH {
        let s = 180_000 - 5000 + i * 100;
        let clip = READ - (180_000 - s);
        let mut seq = w.chr1[s..180_000].to_vec();
        seq.extend_from_slice(&big[..clip]);
        let name = w.name();
        w.recs.push(Rec {
            name,
            tid: 0,
            pos: s as i64,
            flag: 0,
            mapq: 60,
            cigar: vec![(b'M', (180_000 - s) as u32), (b'S', clip as u32)],
            seq,
            qual: Vec::new(),
            sa: None,
        });
        let m = 3000 + i * 100;
        let clip = READ - m;
        let mut seq = big[big.len() - clip..].to_vec();
        seq.extend_from_slice(&w.chr1[180_000..180_000 + m]);
        let name = w.name();
        w.recs.push(Rec {
            name,
            tid: 0,
            pos: 180_000,
            flag: 0,
            mapq: 60,
            cigar: vec![(b'S', clip as u32), (b'M', m as u32)],
            seq,
            qual: Vec::new(),
            sa: None,
        });
    }
    // 10. A read with a malformed SA tag: a warning, not a crash.
    w.recs.push(Rec {
        name: "badsa".into(),
        tid: 0,
        pos: 200_000,
        flag: 0,
        mapq: 60,
        cigar: vec![(b'M', 1000)],
        seq: w.chr1[200_000..201_000].to_vec(),
        qual: Vec::new(),
        sa: Some("chr1,notanumber,+,10M,60;".into()),
    });
    // 11. chr2:40000 heterozygous 20 kb deletion: no read spans it on the reference allele.
    for i in 0..DEPTH {
        w.split_read(&[
            (1, 35_000 + i * 60, 40_000, false),
            (1, 60_000, 64_000 - i * 40, false),
        ]);
    }
    w.ref_reads(1, 34_000, DEPTH / 2);
    w.ref_reads(1, 55_000, DEPTH / 2);

    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("ref.fa");
    write_fasta(&fa, &[("chr1", &w.chr1), ("chr2", &w.chr2)]);
    let bam = dir.path().join("s1.bam");
    write_bam(&bam, &[("chr1", L1), ("chr2", L2)], "S1", w.recs.clone());
    let tr = dir.path().join("tr.bed");
    std::fs::write(&tr, "chr1\t160000\t160400\n").unwrap();
    Fixture {
        dir,
        fa,
        bam,
        tr,
        ins_seq: ins_seq_out,
    }
}

struct Call {
    chrom: String,
    pos: i64,
    id: String,
    reff: String,
    alt: String,
    filter: String,
    info: String,
    gts: Vec<String>,
}

impl Call {
    fn info(&self, key: &str) -> Option<String> {
        self.info.split(';').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then(|| v.to_string())
        })
    }
    fn svtype(&self) -> String {
        self.info("SVTYPE").unwrap_or_default()
    }
    fn svlen(&self) -> i64 {
        self.info("SVLEN").and_then(|v| v.parse().ok()).unwrap_or(0)
    }
    fn gt(&self, s: usize) -> &str {
        self.gts[s].split(':').next().unwrap()
    }
}

fn read_vcf(path: &Path) -> (String, Vec<Call>) {
    let text = String::from_utf8(inflate_all(&std::fs::read(path).unwrap()).unwrap()).unwrap();
    let mut header = String::new();
    let mut calls = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            header.push_str(line);
            header.push('\n');
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        calls.push(Call {
            chrom: f[0].into(),
            pos: f[1].parse().unwrap(),
            id: f[2].into(),
            reff: f[3].into(),
            alt: f[4].into(),
            filter: f[6].into(),
            info: f[7].into(),
            gts: f[9..].iter().map(|s| s.to_string()).collect(),
        });
    }
    (header, calls)
}

fn opts(fx: &Fixture, out: &str, inputs: Vec<PathBuf>) -> SvOptions {
    let mut o = SvOptions::new(inputs, fx.fa.clone(), fx.dir.path().join(out));
    o.threads = 2;
    o.backend = kasane::backend::BackendKind::Cpu;
    o.tandem_repeats = Some(fx.tr.clone());
    o
}

fn find<'a>(calls: &'a [Call], ty: &str, chrom: &str, pos: i64, tol: i64) -> Vec<&'a Call> {
    calls
        .iter()
        .filter(|c| c.svtype() == ty && c.chrom == chrom && (c.pos - pos).abs() <= tol)
        .filter(|c| c.filter == "PASS")
        .collect()
}

#[test]
fn planted_svs_are_called_with_genotypes() {
    let fx = fixture();
    let o = opts(&fx, "calls.vcf.gz", vec![fx.bam.clone()]);
    let rep = run(&o, &Progress::hidden()).unwrap();
    assert!(
        rep.warnings
            .iter()
            .any(|w| w.contains("malformed SA") && w.contains("badsa")),
        "{:?}",
        rep.warnings
    );
    let (header, calls) = read_vcf(&o.output);
    assert!(fx.dir.path().join("calls.vcf.gz.tbi").exists());
    assert!(fx.dir.path().join("calls.kasane.json").exists());
    assert!(header.contains("##fileformat=VCFv4.2"));
    assert!(header.contains("##FILTER=<ID=LowSupport"));
    assert!(header.contains("\tFORMAT\tS1\n"));
    let dump: Vec<String> = calls
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {} {} {:?}",
                c.chrom,
                c.pos,
                c.filter,
                c.svtype(),
                c.info,
                c.gts
            )
        })
        .collect();
    let dump = dump.join("\n");

    // 1. homozygous CIGAR deletion, sequence-resolved.
    let d = find(&calls, "DEL", "chr1", 20_000, 5);
    assert_eq!(d.len(), 1, "{dump}");
    assert_eq!(d[0].svlen(), -500);
    assert_eq!(d[0].reff.len(), 501);
    assert_eq!(d[0].alt.len(), 1);
    assert_eq!(d[0].gt(0), "1/1");
    assert!(d[0].info.starts_with("PRECISE"));

    // 2. heterozygous CIGAR insertion with its sequence.
    let i = find(&calls, "INS", "chr1", 40_000, 5);
    assert_eq!(i.len(), 1, "{dump}");
    assert_eq!(i[0].svlen(), 300);
    assert_eq!(&i[0].alt.as_bytes()[1..], &fx.ins_seq[..]);
    assert_eq!(i[0].gt(0), "0/1");

    // 3. heterozygous split-alignment deletion.
    let d = find(&calls, "DEL", "chr1", 60_000, 5);
    assert_eq!(d.len(), 1, "{dump}");
    assert_eq!(d[0].svlen(), -3000);
    assert_eq!(d[0].gt(0), "0/1");

    // 4. inversion.
    let v = find(&calls, "INV", "chr1", 80_000, 5);
    assert_eq!(v.len(), 1, "{dump}");
    assert_eq!(v[0].svlen(), 2000);
    assert_eq!(v[0].alt, "<INV>");
    assert_eq!(v[0].gt(0), "1/1");

    // 5. tandem duplication.
    let u = find(&calls, "DUP", "chr1", 100_000, 5);
    assert_eq!(u.len(), 1, "{dump}");
    assert_eq!(u[0].svlen(), 1000);
    assert_eq!(u[0].alt, "<DUP>");
    assert_eq!(u[0].gt(0), "0/1");

    // 6. BND pair, each side from its own contig, linked by MATEID.
    let b1 = find(&calls, "BND", "chr1", 120_000, 2);
    let b2 = find(&calls, "BND", "chr2", 20_001, 2);
    assert_eq!((b1.len(), b2.len()), (1, 1), "{dump}");
    assert_eq!(b1[0].info("MATEID").unwrap(), b2[0].id);
    assert_eq!(b2[0].info("MATEID").unwrap(), b1[0].id);
    assert_eq!(b1[0].alt, format!("{}[chr2:20001[", b1[0].reff));
    assert_eq!(b2[0].alt, format!("]chr1:120000]{}", b2[0].reff));

    // 7. two insertion alleles at one site: two records, each heterozygous, linked.
    let two = find(&calls, "INS", "chr1", 140_000, 5);
    assert_eq!(two.len(), 2, "{dump}");
    let mut lens: Vec<i64> = two.iter().map(|c| c.svlen()).collect();
    lens.sort();
    assert_eq!(lens, vec![200, 600]);
    for c in &two {
        assert_eq!(c.gt(0), "0/1", "{dump}");
        assert_eq!(c.info("ALLELES_AT_SITE").as_deref(), Some("2"));
    }

    // 8. insertion inside a tandem repeat, placed differently by each read: one call.
    let t = find(&calls, "INS", "chr1", 160_000, 400);
    assert_eq!(t.len(), 1, "{dump}");
    assert_eq!(t[0].svlen(), 100);
    assert_eq!(t[0].gt(0), "0/1");

    // 9. a 15 kb insertion seen only in soft clips.
    let c = find(&calls, "INS", "chr1", 180_000, 50);
    assert_eq!(c.len(), 1, "{dump}");
    assert!(c[0].svlen() > 4000, "{dump}");
    assert!(c[0].info.contains("CLIPPED"));

    // 11. heterozygous 20 kb deletion that no reference read spans: still heterozygous.
    let d = find(&calls, "DEL", "chr2", 40_000, 5);
    assert_eq!(d.len(), 1, "{dump}");
    assert_eq!(d[0].svlen(), -20_000);
    assert_eq!(d[0].gt(0), "0/1", "{dump}");

    // Nothing else passes.
    let pass = calls.iter().filter(|c| c.filter == "PASS").count();
    assert_eq!(pass, 12, "{dump}");
}

#[test]
fn output_is_identical_across_thread_counts_and_shards() {
    let fx = fixture();
    let mut a = opts(&fx, "t1.vcf.gz", vec![fx.bam.clone()]);
    a.threads = 1;
    let mut b = opts(&fx, "t3.vcf.gz", vec![fx.bam.clone()]);
    b.threads = 3;
    run(&a, &Progress::hidden()).unwrap();
    run(&b, &Progress::hidden()).unwrap();
    let (ra, rb) = (
        std::fs::read(&a.output).unwrap(),
        std::fs::read(&b.output).unwrap(),
    );
    assert_eq!(ra, rb);
    // A shard without an index is refused before anything is written (write_bam indexes
    // every BAM, so the index goes first).
    std::fs::remove_file(fx.dir.path().join("s1.bam.bai")).unwrap();
    let mut s = opts(&fx, "shard.vcf.gz", vec![fx.bam.clone()]);
    s.contigs = Some(vec!["chr2".into()]);
    let e = run(&s, &Progress::hidden()).unwrap_err().to_string();
    assert!(e.contains("s1.bam") && e.contains("index"), "{e}");
    assert!(!s.output.exists());
}

#[test]
fn joint_calling_gives_one_column_per_sample() {
    let fx = fixture();
    // A second sample with only reference reads around the chr1:20000 deletion.
    let mut w = World::new(0x5eed_1234_abcd);
    w.ref_reads(0, 16_000, 2 * DEPTH);
    let bam2 = fx.dir.path().join("s2.bam");
    write_bam(&bam2, &[("chr1", L1), ("chr2", L2)], "S2", w.recs);
    let o = opts(&fx, "joint.vcf.gz", vec![fx.bam.clone(), bam2]);
    run(&o, &Progress::hidden()).unwrap();
    let (header, calls) = read_vcf(&o.output);
    assert!(header.contains("\tFORMAT\tS1\tS2\n"));
    let d = find(&calls, "DEL", "chr1", 20_000, 5);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].gt(0), "1/1");
    assert_eq!(d[0].gt(1), "0/0");
}

#[test]
fn bad_inputs_fail_with_one_line_and_no_output() {
    let fx = fixture();
    // Reference whose contig length differs from the BAM's.
    let fa2 = fx.dir.path().join("other.fa");
    write_fasta(&fa2, &[("chr1", &vec![b'A'; L1]), ("chr2", &[b'A'; 100])]);
    let mut o = opts(&fx, "bad.vcf.gz", vec![fx.bam.clone()]);
    o.fasta = fa2;
    let e = run(&o, &Progress::hidden()).unwrap_err().to_string();
    assert!(e.contains("s1.bam") && e.contains("chr2"), "{e}");
    assert!(!e.contains('\n'));
    assert!(!o.output.exists());
    // A corrupt record.
    let raw = inflate_all(&std::fs::read(&fx.bam).unwrap()).unwrap();
    let mut cut = raw.clone();
    let hl = 12 + i32::from_le_bytes(raw[4..8].try_into().unwrap()) as usize;
    let n_ref = i32::from_le_bytes(raw[hl - 4..hl].try_into().unwrap());
    assert_eq!(n_ref, 2);
    let mut at = hl;
    for _ in 0..2 {
        let l = i32::from_le_bytes(raw[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + l + 4;
    }
    // The first record's read-name length now overruns the record.
    cut[at + 4 + 8] = 255;
    let bad = fx.dir.path().join("corrupt.bam");
    std::fs::write(&bad, compress_all(&cut, 6)).unwrap();
    let o = opts(&fx, "bad2.vcf.gz", vec![bad]);
    let e = run(&o, &Progress::hidden()).unwrap_err().to_string();
    assert!(e.contains("corrupt.bam") && e.contains("corrupt"), "{e}");
    assert!(!o.output.exists());
}
