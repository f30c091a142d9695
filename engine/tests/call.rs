//! `kasane call` on small BAMs generated here: planted SNVs, insertions, deletions, indels in
//! a homopolymer and in a tandem repeat, one sample and two jointly; the same calls whatever
//! the backend, the thread count or the regions; bad input fails with one clear line.

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use common::{gunzip, kasane, write_bam, write_fasta, Rec, Rng};

/// A planted variant, 0-based `pos` with VCF-style alleles (anchor base for indels).
#[derive(Clone)]
struct Var {
    pos: usize,
    r: Vec<u8>,
    a: Vec<u8>,
}

/// A haplotype: each base with the reference position it came from (None: inserted).
fn haplotype(reference: &[u8], vars: &[&Var]) -> Vec<(u8, Option<usize>)> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut vs: Vec<&&Var> = vars.iter().collect();
    vs.sort_by_key(|v| v.pos);
    for v in vs {
        assert_eq!(
            &reference[v.pos..v.pos + v.r.len()],
            &v.r[..],
            "bad planted REF"
        );
        out.extend((at..v.pos).map(|p| (reference[p], Some(p))));
        // Shared prefix maps to the reference, the rest is substituted or inserted.
        let common = v.r.iter().zip(&v.a).take_while(|(x, y)| x == y).count();
        for k in 0..common {
            out.push((v.a[k], Some(v.pos + k)));
        }
        if v.r.len() == v.a.len() {
            for k in common..v.a.len() {
                out.push((v.a[k], Some(v.pos + k)));
            }
        } else {
            for k in common..v.a.len() {
                out.push((v.a[k], None));
            }
        }
        at = v.pos + v.r.len();
    }
    out.extend((at..reference.len()).map(|p| (reference[p], Some(p))));
    out
}

/// Reads of `len` bases from `hap` at `depth`, with substitution errors at rate 1/`err`.
fn reads_from(
    hap: &[(u8, Option<usize>)],
    tid: i32,
    depth: usize,
    len: usize,
    rng: &mut Rng,
    tag: &str,
    out: &mut Vec<Rec>,
) {
    let n = hap.len() * depth / len;
    for i in 0..n {
        let s = rng.below((hap.len() - len) as u64) as usize;
        let piece = &hap[s..s + len];
        let mut seq: Vec<u8> = piece.iter().map(|b| b.0).collect();
        let qual: Vec<u8> = (0..len).map(|_| 30).collect();
        for b in seq.iter_mut() {
            if rng.below(400) == 0 {
                *b = b"ACGT"[rng.below(4) as usize];
            }
        }
        // CIGAR from the reference positions; leading/trailing inserted bases are clipped.
        let mut cigar: Vec<(u8, u32)> = Vec::new();
        let push = |c: &mut Vec<(u8, u32)>, op: u8, n: u32| match c.last_mut() {
            Some(l) if l.0 == op => l.1 += n,
            _ => c.push((op, n)),
        };
        let first = piece.iter().position(|b| b.1.is_some()).unwrap();
        let last = piece.iter().rposition(|b| b.1.is_some()).unwrap();
        if first > 0 {
            push(&mut cigar, b'S', first as u32);
        }
        let mut prev: Option<usize> = None;
        for b in &piece[first..=last] {
            match b.1 {
                None => push(&mut cigar, b'I', 1),
                Some(p) => {
                    if let Some(q) = prev {
                        if p > q + 1 {
                            push(&mut cigar, b'D', (p - q - 1) as u32);
                        }
                    }
                    push(&mut cigar, b'M', 1);
                    prev = Some(p);
                }
            }
        }
        if last + 1 < len {
            push(&mut cigar, b'S', (len - 1 - last) as u32);
        }
        out.push(Rec {
            tid,
            pos: piece[first].1.unwrap() as i64,
            name: format!("{tag}{i}"),
            cigar,
            seq,
            qual,
            flag: if rng.below(2) == 0 { 0 } else { 16 },
            mapq: 60,
            sa: None,
        });
    }
}

/// The test genome: chr1 (20 kb) with a homopolymer and a tandem repeat planted in it, chr2
/// (4 kb).
struct Genome {
    chr1: Vec<u8>,
    chr2: Vec<u8>,
}

fn genome() -> Genome {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut chr1 = rng.seq(20_000);
    // A 12-base poly-A at 6000 and a (CA)x10 repeat at 9000.
    chr1[6000..6012].copy_from_slice(b"AAAAAAAAAAAA");
    chr1[5999] = b'G';
    chr1[6012] = b'C';
    for k in 0..10 {
        chr1[9000 + 2 * k..9002 + 2 * k].copy_from_slice(b"CA");
    }
    chr1[8999] = b'T';
    chr1[9020] = b'G';
    let chr2 = rng.seq(4_000);
    Genome { chr1, chr2 }
}

fn var(g: &[u8], pos: usize, r_len: usize, alt: &[u8]) -> Var {
    Var {
        pos,
        r: g[pos..pos + r_len].to_vec(),
        a: alt.to_vec(),
    }
}

fn alt_base(b: u8) -> u8 {
    match b {
        b'A' => b'G',
        b'C' => b'T',
        b'G' => b'A',
        _ => b'C',
    }
}

/// Writes ref.fa (+ .fai) and returns the planted variants of sample A as (hap1, hap2).
fn setup(dir: &Path) -> (Genome, Vec<(Var, u8)>) {
    let g = genome();
    write_fasta(&dir.join("ref.fa"), &[("chr1", &g.chr1), ("chr2", &g.chr2)]);
    let c = &g.chr1;
    // (variant, genotype: 1 = het on hap1, 2 = hom)
    let mut ins = vec![c[3000]];
    ins.extend_from_slice(b"TGA");
    let mut hp = vec![c[5999]];
    hp.extend_from_slice(&c[6000..6012]);
    let vars = vec![
        (var(c, 1500, 1, &[alt_base(c[1500])]), 1),
        (var(c, 2500, 1, &[alt_base(c[2500])]), 2),
        (var(c, 3000, 1, &ins), 1),
        (var(c, 4000, 6, &[c[4000]]), 2),
        // Homopolymer: one A fewer (left-normalized: anchor G at 5999).
        (var(c, 5999, 2, &[c[5999]]), 1),
        // Tandem repeat: one more CA unit, anchor T at 8999.
        (var(c, 8999, 1, b"TCA"), 2),
        // Two SNVs 5 bases apart, in phase.
        (var(c, 12000, 1, &[alt_base(c[12000])]), 1),
        (var(c, 12005, 1, &[alt_base(c[12005])]), 1),
        (var(c, 15000, 3, &[c[15000]]), 1),
    ];
    (g, vars)
}

/// Reads of a sample carrying `vars` (1 = het on hap1, 2 = hom): 15x per haplotype on chr1,
/// 30x on chr2.
fn sample_reads(g: &Genome, vars: &[(Var, u8)], seed: u64) -> Vec<Rec> {
    let h1: Vec<&Var> = vars.iter().map(|v| &v.0).collect();
    let h2: Vec<&Var> = vars.iter().filter(|v| v.1 == 2).map(|v| &v.0).collect();
    let mut rng = Rng(seed);
    let mut recs = Vec::new();
    for (h, tag) in [(&h1, "a"), (&h2, "b")] {
        reads_from(&haplotype(&g.chr1, h), 0, 15, 150, &mut rng, tag, &mut recs);
    }
    reads_from(
        &haplotype(&g.chr2, &[]),
        1,
        30,
        150,
        &mut rng,
        "c",
        &mut recs,
    );
    recs
}

fn write_sample_bam(dir: &Path, g: &Genome, name: &str, recs: Vec<Rec>) -> PathBuf {
    let p = dir.join(format!("{name}.bam"));
    write_bam(
        &p,
        &[("chr1", g.chr1.len()), ("chr2", g.chr2.len())],
        name,
        recs,
    );
    p
}

fn sample_bam(dir: &Path, g: &Genome, vars: &[(Var, u8)], name: &str, seed: u64) -> PathBuf {
    write_sample_bam(dir, g, name, sample_reads(g, vars, seed))
}

/// (chrom:pos ref alt) -> genotypes, for PASS records.
fn calls(vcf: &str) -> BTreeMap<String, Vec<String>> {
    let mut m = BTreeMap::new();
    for l in vcf.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split('\t').collect();
        if f[6] != "PASS" {
            continue;
        }
        let gts = f[9..]
            .iter()
            .map(|s| s.split(':').next().unwrap().to_string())
            .collect();
        m.insert(format!("{}:{} {} {}", f[0], f[1], f[3], f[4]), gts);
    }
    m
}

/// The planted variant as a left-normalized VCF key (what a caller must report).
fn expected_key(v: &Var) -> String {
    let g = genome().chr1;
    let (mut pos, mut r, mut a) = (v.pos, v.r.clone(), v.a.clone());
    if r.len() > 1 && a.len() == 1 {
        let len = r.len() - 1;
        while pos > 0 && g[pos] == g[pos + len] {
            pos -= 1;
        }
        r = g[pos..pos + len + 1].to_vec();
        a = vec![g[pos]];
    } else if r.len() == 1 && a.len() > 1 {
        let mut ins = a[1..].to_vec();
        while pos > 0 && *ins.last().unwrap() == g[pos] {
            ins.pop();
            ins.insert(0, g[pos]);
            pos -= 1;
        }
        r = vec![g[pos]];
        a = [vec![g[pos]], ins].concat();
    }
    format!(
        "chr1:{} {} {}",
        pos + 1,
        String::from_utf8_lossy(&r),
        String::from_utf8_lossy(&a)
    )
}

fn call(dir: &Path, out: &str, extra: &[&str], bams: &[&Path]) -> String {
    let o = dir.join(out);
    let mut args = vec![
        "call",
        "-f",
        dir.join("ref.fa").to_str().unwrap().to_owned().leak(),
        "-o",
        o.to_str().unwrap().to_owned().leak(),
    ];
    args.extend_from_slice(extra);
    for b in bams {
        args.push(b.to_str().unwrap().to_owned().leak());
    }
    let r = kasane(&args);
    assert!(
        r.status.success(),
        "kasane call failed: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    // stderr is not a terminal here: batch logs get no progress lines.
    assert!(
        r.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let mut tbi = o.as_os_str().to_owned();
    tbi.push(".tbi");
    assert!(PathBuf::from(tbi).is_file(), "no index");
    gunzip(&o)
}

#[test]
fn planted_variants_one_sample() {
    let d = tempfile::tempdir().unwrap();
    let (g, vars) = setup(d.path());
    let bam = sample_bam(d.path(), &g, &vars, "A", 7);
    let vcf = call(
        d.path(),
        "a.vcf.gz",
        &["-t", "2", "--backend", "cpu"],
        &[&bam],
    );
    assert!(vcf.starts_with("##fileformat=VCFv4.3"), "{vcf}");
    assert!(vcf.contains("##contig=<ID=chr2,length=4000>"));
    assert!(
        vcf.contains("##kasaneReadType=<Sample=\"A\",Type=short,Source=\"read lengths\">"),
        "{vcf}"
    );
    let got = calls(&vcf);
    for (v, gt) in &vars {
        let want = if *gt == 2 { "1/1" } else { "0/1" };
        let k = expected_key(v);
        assert_eq!(
            got.get(&k).map(|g| g[0].as_str()),
            Some(want),
            "{k}: got {got:?}"
        );
    }
    assert_eq!(got.len(), vars.len(), "extra calls: {got:?}");
}

#[test]
fn two_samples_jointly() {
    let d = tempfile::tempdir().unwrap();
    let (g, vars) = setup(d.path());
    let a = sample_bam(d.path(), &g, &vars, "A", 7);
    // B: the first SNV homozygous, the insertion absent, a private deletion.
    let c = &g.chr1;
    let mut vb: Vec<(Var, u8)> = vec![(vars[0].0.clone(), 2), (var(c, 17000, 4, &[c[17000]]), 1)];
    vb.push((vars[1].0.clone(), 2));
    let b = sample_bam(d.path(), &g, &vb, "B", 11);
    let vcf = call(d.path(), "ab.vcf.gz", &["--backend", "cpu"], &[&a, &b]);
    assert!(vcf.contains("\tFORMAT\tA\tB\n"), "{vcf}");
    let got = calls(&vcf);
    let gt = |v: &Var| got.get(&expected_key(v)).cloned();
    assert_eq!(gt(&vars[0].0), Some(vec!["0/1".into(), "1/1".into()]));
    assert_eq!(gt(&vars[1].0), Some(vec!["1/1".into(), "1/1".into()]));
    assert_eq!(gt(&vars[2].0), Some(vec!["0/1".into(), "0/0".into()]));
    assert_eq!(gt(&vb[1].0), Some(vec!["0/0".into(), "0/1".into()]));
}

#[test]
fn same_calls_on_every_backend_thread_count_and_region_split() {
    let d = tempfile::tempdir().unwrap();
    let (g, vars) = setup(d.path());
    let bam = sample_bam(d.path(), &g, &vars, "A", 7);
    let base = call(
        d.path(),
        "cpu1.vcf.gz",
        &["-t", "1", "--backend", "cpu"],
        &[&bam],
    );
    let cpu2 = call(
        d.path(),
        "cpu2.vcf.gz",
        &["-t", "2", "--backend", "cpu"],
        &[&bam],
    );
    assert_eq!(base, cpu2, "thread count changed the output");
    for (backend, env) in [
        ("wgpu", "KASANE_REQUIRE_WGPU"),
        ("cuda", "KASANE_REQUIRE_CUDA"),
    ] {
        let o = d.path().join(format!("{backend}.vcf.gz"));
        let r = kasane(&[
            "call",
            "-f",
            d.path().join("ref.fa").to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
            "--backend",
            backend,
            bam.to_str().unwrap(),
        ]);
        if !r.status.success() {
            let err = String::from_utf8_lossy(&r.stderr);
            assert!(
                std::env::var_os(env).is_none(),
                "{env} is set but {backend} failed: {err}"
            );
            eprintln!("skipped {backend}: {err}");
            continue;
        }
        assert_eq!(base, gunzip(&o), "{backend} differs from the CPU");
    }
    // Regions: two halves of chr1 and chr2 concatenated give the whole-genome records.
    let records = |v: &str| -> Vec<String> {
        v.lines()
            .filter(|l| !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    let mut parts = Vec::new();
    for (i, r) in ["chr1:1-9000", "chr1:9001-20000", "chr2"]
        .iter()
        .enumerate()
    {
        let v = call(
            d.path(),
            &format!("part{i}.vcf.gz"),
            &["-r", r, "--backend", "cpu"],
            &[&bam],
        );
        parts.extend(records(&v));
    }
    assert_eq!(parts, records(&base));
    // A BED with gaps between its regions, one on the chunk edge at 16384 and one running to
    // chr1's end: the whole-genome records inside them, nothing else.
    let bed = [
        ("chr1", 0, 3000),
        ("chr1", 5000, 9000),
        ("chr1", 12_002, 16_384),
        ("chr1", 18_000, 20_000),
        ("chr2", 1000, 2000),
    ];
    let text: String = bed
        .iter()
        .map(|(c, a, b)| format!("{c}\t{a}\t{b}\n"))
        .collect();
    std::fs::write(d.path().join("gaps.bed"), text).unwrap();
    let gaps = call(
        d.path(),
        "gaps.vcf.gz",
        &["-R", d.path().join("gaps.bed").to_str().unwrap(), "-t", "2"],
        &[&bam],
    );
    let inside: Vec<String> = records(&base)
        .into_iter()
        .filter(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let pos: i64 = f[1].parse().unwrap();
            bed.iter()
                .any(|&(c, a, b)| f[0] == c && pos > a && pos <= b)
        })
        .collect();
    assert!(inside.len() >= 4, "too few records to compare: {inside:?}");
    assert_eq!(records(&gaps), inside);
}

#[test]
fn indexed_cram_gives_the_bam_calls_on_every_contig() {
    // The same reads as CRAM with a .crai: each contig is read from its own first container
    // (a contig after the first used to get no reads at all).
    let d = tempfile::tempdir().unwrap();
    let root = common::repo();
    let cram = d.path().join("sample.cram");
    std::fs::copy(root.join("testdata/sample.cram"), &cram).unwrap();
    let index = noodles::cram::fs::index(&cram).unwrap();
    noodles::cram::crai::fs::write(d.path().join("sample.cram.crai"), &index).unwrap();
    let run = |input: &Path, out: &str, extra: &[&str]| -> Vec<String> {
        let o = d.path().join(out);
        let mut args = vec!["call", "-f", "testdata/ref.fa", "-o", o.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(input.to_str().unwrap());
        let r = kasane(&args);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        gunzip(&o)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    let bam = root.join("testdata/sample.bam");
    let from_bam = run(&bam, "bam.vcf.gz", &[]);
    assert!(
        from_bam.iter().any(|l| l.starts_with("chr2\t")),
        "{from_bam:?}"
    );
    assert_eq!(run(&cram, "cram.vcf.gz", &[]), from_bam);
    let chr2: Vec<String> = from_bam
        .iter()
        .filter(|l| l.starts_with("chr2\t"))
        .cloned()
        .collect();
    assert_eq!(run(&cram, "cram2.vcf.gz", &["-r", "chr2"]), chr2);
}

#[test]
fn reads_misplaced_into_a_homozygous_deletion_make_no_snv() {
    // Aligners sometimes place a read's end across a deletion with mismatches rather than
    // the gap. Five such reads show a "SNV" at a base every other read deletes: the site's
    // genotype is `*/*` (another allele spans it), not 1/1, and no SNV is written.
    let d = tempfile::tempdir().unwrap();
    let (g, vars) = setup(d.path());
    let del = &vars[3].0;
    assert_eq!((del.pos, del.r.len()), (4000, 6));
    let mut recs = sample_reads(&g, &vars, 7);
    let h2: Vec<&Var> = vars.iter().filter(|v| v.1 == 2).map(|v| &v.0).collect();
    // Reads of the deleted haplotype ending one base past the deletion, aligned without the
    // gap: their last base (ref 4006) sits on deleted ref 4001 as a mismatch. They fit the
    // deletion and that "SNV" equally well.
    let hap = haplotype(&g.chr1, &h2);
    let junction = hap.iter().position(|b| b.1 == Some(4006)).unwrap();
    for (i, len) in [150usize, 140, 130, 120, 110].into_iter().enumerate() {
        let seq: Vec<u8> = hap[junction + 1 - len..junction + 1]
            .iter()
            .map(|b| b.0)
            .collect();
        assert_ne!(seq[len - 1], g.chr1[4001], "no mismatch to see");
        recs.push(Rec::matched(format!("m{i}"), (4002 - len) as i64, seq, 30));
    }
    let bam = write_sample_bam(d.path(), &g, "A", recs);
    let vcf = call(d.path(), "m.vcf.gz", &["--backend", "cpu"], &[&bam]);
    let got = calls(&vcf);
    assert_eq!(
        got.get(&expected_key(del)).map(|g| g[0].as_str()),
        Some("1/1"),
        "{got:?}"
    );
    assert!(
        !vcf.lines().any(|l| l.starts_with("chr1\t4002\t")),
        "a record inside the deletion: {vcf}"
    );
}

#[test]
fn long_reads_phase_a_het_that_few_reads_carry() {
    // Long reads (4 kb, base quality 20, 0.5 % substitutions), 8x per haplotype, and hets
    // every 500 bases on haplotype 1. Only 2 of the 10 reads at 10 000 come from haplotype
    // 1: read by read, two q20 mismatches among ten reads are about as likely errors as a
    // het. Phased by the hets around it, they are all of haplotype 1's reads there, and
    // agree: the het is called. A region around it alone gives the same record (its
    // neighbours are computed even though they are not written).
    let d = tempfile::tempdir().unwrap();
    let (g, _) = setup(d.path());
    let c = &g.chr1;
    let x = 10_000usize;
    let hets: Vec<Var> = (1500..19_000)
        .step_by(500)
        .map(|p| var(c, p, 1, &[alt_base(c[p])]))
        .collect();
    let h1 = haplotype(c, &hets.iter().collect::<Vec<_>>());
    let h2 = haplotype(c, &[]);
    let mut rng = Rng(99);
    let mut recs = Vec::new();
    let len = 4000usize;
    let mut push = |hap: &[(u8, Option<usize>)], start: usize, name: String, rng: &mut Rng| {
        let mut seq: Vec<u8> = hap[start..start + len].iter().map(|b| b.0).collect();
        for b in seq.iter_mut() {
            if rng.below(200) == 0 {
                *b = b"ACGT"[rng.below(4) as usize];
            }
        }
        recs.push(Rec::matched(name, hap[start].1.unwrap() as i64, seq, 20));
    };
    for (i, start) in (0..=15_500).step_by(500).enumerate() {
        // Haplotype 1's reads over 10 000: only those starting at 6500 and 9500.
        let covers_x = start <= x && start + len > x;
        if !covers_x || start == 6500 || start == 9500 {
            push(&h1, start, format!("h1r{i}"), &mut rng);
        }
        push(&h2, start + 250, format!("h2r{i}"), &mut rng);
    }
    let bam = write_sample_bam(d.path(), &g, "A", recs);
    let key = format!("chr1:{} {} {}", x + 1, c[x] as char, alt_base(c[x]) as char);
    let vcf = call(d.path(), "lr.vcf.gz", &["--backend", "cpu"], &[&bam]);
    let got = calls(&vcf);
    assert_eq!(got.get(&key).map(|g| g[0].as_str()), Some("0/1"), "{vcf}");
    let line = |v: &str| {
        v.lines()
            .find(|l| l.starts_with(&format!("chr1\t{}\t", x + 1)))
            .map(String::from)
    };
    // The scenario holds: 10 reads there, 2 of them with the alternative allele.
    let rec = line(&vcf).unwrap();
    assert!(rec.contains(":10:8,2:"), "{rec}");
    // The neighbours' genotypes are called too.
    let n_het = hets
        .iter()
        .filter(|v| got.get(&expected_key(v)).is_some_and(|g| g[0] == "0/1"))
        .count();
    assert!(n_het + 1 >= hets.len(), "{n_het} of {} hets", hets.len());
    let region = call(
        d.path(),
        "lr_region.vcf.gz",
        &["--backend", "cpu", "-r", "chr1:9900-10100"],
        &[&bam],
    );
    assert_eq!(line(&region), line(&vcf));
    // Long reads of mean quality 20 without a platform are taken for ONT reads, and the
    // header says so; forced short, they are modelled by their qualities alone (the header
    // says that too, and the run still calls the het from the phased reads).
    assert!(
        vcf.contains(
            "##kasaneReadType=<Sample=\"A\",Type=ont,Source=\"read lengths, base qualities\">"
        ),
        "{}",
        vcf.lines()
            .filter(|l| l.starts_with("##"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let short = call(
        d.path(),
        "lr_short.vcf.gz",
        &["--backend", "cpu", "--read-type", "short"],
        &[&bam],
    );
    assert!(short.contains("Type=short,Source=\"--read-type\""));
}

fn assert_clean_failure(args: &[&str], out: &Path, mention: &[&str]) {
    let r = kasane(args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("kasane: error: "), "{err}");
    for m in mention {
        assert!(err.contains(m), "{err} does not mention {m}");
    }
    assert!(!out.exists(), "output left behind");
    let dir = out.parent().unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!n.contains("kasane-tmp"), "temporary file left: {n}");
    }
}

#[test]
fn bad_input_fails_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let (g, vars) = setup(d.path());
    let bam = sample_bam(d.path(), &g, &vars, "A", 7);
    let p = |s: &str| d.path().join(s).to_str().unwrap().to_owned();
    let out = d.path().join("x.vcf.gz");
    let o = out.to_str().unwrap();
    // Reference whose chr2 has another length.
    let fa = std::fs::read_to_string(d.path().join("ref.fa")).unwrap();
    let short = fa.trim_end().rsplit_once('\n').unwrap().0.to_string() + "\n";
    std::fs::write(d.path().join("bad.fa"), short).unwrap();
    assert_clean_failure(
        &["call", "-f", &p("bad.fa"), "-o", o, bam.to_str().unwrap()],
        &out,
        &["A.bam", "chr2", "length"],
    );
    // Region outside the contig.
    assert_clean_failure(
        &[
            "call",
            "-f",
            &p("ref.fa"),
            "-o",
            o,
            "-r",
            "chr2:3990-5000",
            bam.to_str().unwrap(),
        ],
        &out,
        &["ref.fa", "outside"],
    );
    // A region without an index.
    std::fs::copy(&bam, d.path().join("noindex.bam")).unwrap();
    assert_clean_failure(
        &[
            "call",
            "-f",
            &p("ref.fa"),
            "-o",
            o,
            "-r",
            "chr1",
            &p("noindex.bam"),
        ],
        &out,
        &["noindex.bam", "index"],
    );
    // An unknown read type.
    assert_clean_failure(
        &[
            "call",
            "-f",
            &p("ref.fa"),
            "-o",
            o,
            "--read-type",
            "clr",
            bam.to_str().unwrap(),
        ],
        &out,
        &["read-type", "clr", "ont"],
    );
    // A corrupt record: the first record's CIGAR claims more bases than the sequence has.
    let raw = {
        let mut s = Vec::new();
        noodles::bgzf::io::Reader::new(std::fs::File::open(&bam).unwrap())
            .read_to_end(&mut s)
            .unwrap();
        s
    };
    let l_text = i32::from_le_bytes(raw[4..8].try_into().unwrap()) as usize;
    let mut at = 8 + l_text;
    let n_ref = i32::from_le_bytes(raw[at..at + 4].try_into().unwrap());
    at += 4;
    for _ in 0..n_ref {
        let l = i32::from_le_bytes(raw[at..at + 4].try_into().unwrap()) as usize;
        at += 8 + l;
    }
    let mut bad = raw.clone();
    let rec = at + 4;
    let l_name = bad[rec + 8] as usize;
    let cig = rec + 32 + l_name;
    let op = u32::from_le_bytes(bad[cig..cig + 4].try_into().unwrap());
    bad[cig..cig + 4].copy_from_slice(&(op + (7 << 4)).to_le_bytes());
    let f = std::fs::File::create(d.path().join("corrupt.bam")).unwrap();
    let mut w = noodles::bgzf::io::Writer::new(f);
    w.write_all(&bad).unwrap();
    w.finish().unwrap();
    assert_clean_failure(
        &["call", "-f", &p("ref.fa"), "-o", o, &p("corrupt.bam")],
        &out,
        &["corrupt.bam", "corrupt"],
    );
}
