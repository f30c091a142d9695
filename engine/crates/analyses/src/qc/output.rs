//! Everything a qc run writes, from the collected counts: per sample `SAMPLE.qc.json`,
//! Picard-format metrics (`.wgs_metrics`, `.insert_size_metrics`, `.gc_bias.*`), a
//! samtools-stats-format `.stats`, the fingerprint; per run `qc.tsv`, `relatedness.tsv`,
//! `qc.html` and `qc.kasane.json`. Also the checks that decide PASS or FAIL.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json;

use super::identity::{self, Counts, Kinship, Panel};
use super::report::{self, Pedigree};
use super::thresholds::{fmt_num, Thresholds};
use super::{gc, insert, reads, wgs, ByRegions, Collected, Metric, QcOptions, QcReport};
use crate::error::Result;
use crate::io::atomic::OutputSet;
use crate::io::Header;

/// (name, group, definition) of every metric in `SAMPLE.qc.json`, in order. Threshold files
/// name these.
pub fn metric_definitions() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut v = Vec::new();
    for (n, d) in wgs::DEFS {
        v.push((*n, "coverage", *d));
    }
    for (n, d) in READ_DEFS {
        v.push((*n, "reads", *d));
    }
    for (n, d) in insert::DEFS {
        v.push((*n, "insert_size", *d));
    }
    for (n, d) in gc::DEFS {
        v.push((*n, "gc_bias", *d));
    }
    for (n, d) in IDENTITY_DEFS {
        v.push((*n, "identity", *d));
    }
    v
}

const READ_DEFS: &[(&str, &str)] = &[
    (
        "raw_total_sequences",
        "Primary records with a sequence (samtools stats: raw total sequences)",
    ),
    (
        "reads_mapped",
        "Primary mapped reads (samtools stats: reads mapped)",
    ),
    (
        "reads_mapped_pct",
        "reads_mapped / raw_total_sequences, as a fraction",
    ),
    ("reads_unmapped", "Primary unmapped reads"),
    (
        "reads_properly_paired",
        "Primary reads with the proper-pair flag and a mapped mate",
    ),
    (
        "reads_properly_paired_pct",
        "reads_properly_paired / raw_total_sequences, as a fraction",
    ),
    ("reads_paired", "Primary reads from paired-end sequencing"),
    (
        "reads_duplicated",
        "Records with the duplicate flag (samtools counts supplementary ones too)",
    ),
    (
        "reads_duplicated_pct",
        "reads_duplicated / raw_total_sequences, as a fraction",
    ),
    ("reads_mq0", "Primary mapped reads of mapping quality 0"),
    (
        "reads_qc_failed",
        "Primary reads failing vendor quality checks",
    ),
    ("non_primary_alignments", "Secondary alignments"),
    ("supplementary_alignments", "Supplementary alignments"),
    ("total_length", "Bases of primary reads (clipping ignored)"),
    (
        "bases_mapped_cigar",
        "Aligned and inserted bases (M, I, =, X) of mapped records",
    ),
    ("mismatches", "Sum of NM over mapped records"),
    (
        "error_rate",
        "mismatches / bases_mapped_cigar (samtools stats: error rate)",
    ),
    (
        "average_length",
        "Mean primary read length (samtools: integer division)",
    ),
    ("maximum_length", "Longest read, hard clips included"),
    (
        "average_quality",
        "Mean base quality of first and last fragments over all primary bases",
    ),
    (
        "insert_size_average",
        "samtools stats' insert size average (99 % bulk)",
    ),
    (
        "insert_size_sd",
        "samtools stats' insert size standard deviation (99 % bulk)",
    ),
    (
        "pairs_on_different_chromosomes",
        "Pairs whose mates map to different contigs",
    ),
    ("read_length_n50", "Read length N50 of primary reads"),
    (
        "mean_identity",
        "Mean alignment identity of primary mapped reads: 1 - NM / (M + I + D)",
    ),
];

const IDENTITY_DEFS: &[(&str, &str)] = &[
    ("x_ratio", "Mean depth of X over the mean depth of the autosomes (high-quality depth)"),
    ("y_ratio", "Mean depth of Y over the mean depth of the autosomes"),
    ("x_het", "Heterozygous genotypes among non-reference genotypes on X outside the PARs"),
    ("contamination", "Estimated fraction of reads from another individual (free-mix model, VerifyBamID's FREEMIX)"),
    ("fingerprint_sites", "Panel sites with a genotype (at least 8 reads)"),
];

fn frac(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn read_values(r: &reads::ReadStats) -> Vec<Option<f64>> {
    let n = r.sequences();
    let sn: BTreeMap<&str, String> = r.summary().into_iter().map(|(k, v, _)| (k, v)).collect();
    let num = |k: &str| sn.get(k).and_then(|v| v.parse::<f64>().ok());
    let mapped = r.paired_and_mapped + r.single_mapped;
    vec![
        Some(n as f64),
        Some(mapped as f64),
        frac(mapped, n),
        Some(r.unmapped as f64),
        Some(r.properly_paired as f64),
        frac(r.properly_paired, n),
        Some(r.paired_tech as f64),
        Some(r.dup as f64),
        frac(r.dup, n),
        Some(r.mq0 as f64),
        Some(r.qcfail as f64),
        Some(r.secondary as f64),
        Some(r.supplementary as f64),
        Some(r.total_len as f64),
        Some(r.bases_mapped_cigar as f64),
        Some(r.mismatches as f64),
        num("error rate"),
        num("average length"),
        Some(r.max_len as f64),
        num("average quality"),
        num("insert size average"),
        num("insert size standard deviation"),
        num("pairs on different chromosomes"),
        r.n50().map(|v| v as f64),
        (r.identity_n > 0).then(|| r.identity_sum as f64 / 1e12 / r.identity_n as f64),
    ]
}

/// What the run decided about one sample's identity.
struct IdentityOut {
    sex: identity::Sex,
    contamination: Option<(f64, u64)>,
    genotyped: u64,
}

/// A run's fixed inputs, for writing.
pub struct Run<'a> {
    pub opts: &'a QcOptions,
    pub header: &'a Header,
    pub panel: &'a Panel,
    pub rules: &'a Thresholds,
    pub ped: Option<&'a Pedigree>,
    pub earlier: &'a [(PathBuf, String, Counts)],
    pub by_regions: Option<&'a ByRegions>,
    pub backend: &'a str,
    pub threads: usize,
}

/// One row of `relatedness.tsv`.
#[derive(Clone, Debug, serde::Serialize)]
struct Pair {
    a: String,
    b: String,
    #[serde(flatten)]
    k: Kinship,
    expected: Option<String>,
    flag: Option<String>,
}

impl Run<'_> {
    pub fn write(
        &self,
        samples: &[Collected],
        set: &mut OutputSet,
    ) -> Result<(QcReport, serde_json::Value)> {
        let dir = &self.opts.output;
        let mut outputs: Vec<String> = Vec::new();
        let mut warnings: Vec<String> = Vec::new();
        let add = |name: String, text: &str, set: &mut OutputSet, outputs: &mut Vec<String>| {
            let p = dir.join(&name);
            crate::coverage::output::write_text(p.display().to_string(), text, set)?;
            outputs.push(p.display().to_string());
            Result::Ok(())
        };

        // Genotypes: alleles decided over this run's samples and the earlier fingerprints.
        let all_counts: Vec<&Counts> = samples
            .iter()
            .map(|s| &s.counts)
            .chain(self.earlier.iter().map(|e| &e.2))
            .collect();
        let alleles = identity::alleles(self.panel, &all_counts);
        let gts: Vec<Vec<Option<u8>>> = samples
            .iter()
            .map(|s| identity::genotypes(&s.counts, &alleles))
            .collect();
        let earlier_gts: Vec<Vec<Option<u8>>> = self
            .earlier
            .iter()
            .map(|e| identity::genotypes(&e.2, &alleles))
            .collect();
        let autosomes = identity::autosomes(self.header);
        let ids: Vec<IdentityOut> = samples
            .iter()
            .zip(&gts)
            .enumerate()
            .map(|(k, (s, g))| {
                let afs = self.allele_frequencies(samples, k, &alleles);
                self.identity_of(s, g, &alleles, &afs, &autosomes)
            })
            .collect();
        // Relatedness from autosomal sites only: X and Y are haploid in males.
        let autosomal = |g: &Vec<Option<u8>>| -> Vec<Option<u8>> {
            let mut v = g.clone();
            for (tid, sites) in self.panel.by_tid.iter().enumerate() {
                if !autosomes[tid] {
                    let o = self.panel.offset[tid];
                    v[o..o + sites.len()].fill(None);
                }
            }
            v
        };
        let gts_auto: Vec<Vec<Option<u8>>> = gts.iter().map(autosomal).collect();
        let earlier_auto: Vec<Vec<Option<u8>>> = earlier_gts.iter().map(autosomal).collect();

        // Relatedness within the run and against earlier fingerprints.
        let mut reasons: Vec<Vec<String>> = vec![Vec::new(); samples.len()];
        let mut pairs: Vec<Pair> = Vec::new();
        let n = samples.len();
        let mut kin = vec![vec![None::<f64>; n]; n];
        for i in 0..n {
            kin[i][i] = Some(0.5);
            for j in i + 1..n {
                let k = identity::kinship(&gts_auto[i], &gts_auto[j]);
                kin[i][j] = k.kinship.is_finite().then_some(k.kinship);
                kin[j][i] = kin[i][j];
                let (a, b) = (&samples[i].sample, &samples[j].sample);
                let expected = self.ped.and_then(|p| p.expected_degree(a, b));
                let got = identity::degree(k.relationship);
                let flag = if k.relationship == "unknown" {
                    None
                } else if got == 0 {
                    Some(format!(
                        "{a} and {b} are the same individual: a duplicated or swapped input?"
                    ))
                } else if let Some(e) = expected {
                    (e != got && !(e == 4 && got >= 3)).then(|| {
                        format!(
                            "{a} and {b}: the pedigree says {}, the genotypes say {}",
                            degree_name(e),
                            k.relationship
                        )
                    })
                } else {
                    (got <= 2 && self.ped.is_some()).then(|| {
                        format!(
                            "{a} and {b} are related ({}) but not in the pedigree",
                            k.relationship
                        )
                    })
                };
                if let Some(f) = &flag {
                    reasons[i].push(f.clone());
                    reasons[j].push(f.clone());
                } else if got <= 2 && self.ped.is_none() {
                    warnings.push(format!(
                        "{a} and {b}: {} (kinship {:.3})",
                        k.relationship, k.kinship
                    ));
                }
                pairs.push(Pair {
                    a: a.clone(),
                    b: b.clone(),
                    k,
                    expected: expected.map(|e| degree_name(e).to_string()),
                    flag,
                });
            }
            for (e, eg) in self.earlier.iter().zip(&earlier_auto) {
                let k = identity::kinship(&gts_auto[i], eg);
                let same_name = e.1 == samples[i].sample;
                let dup = identity::degree(k.relationship) == 0;
                let flag = if k.relationship == "unknown" {
                    None
                } else if same_name && !dup {
                    Some(format!(
                        "{} does not match its earlier fingerprint ({}): kinship {:.3}, a sample swap?",
                        samples[i].sample,
                        e.0.display(),
                        k.kinship
                    ))
                } else if !same_name && dup {
                    Some(format!(
                        "{} matches the earlier fingerprint of {} ({}): a swap or duplicate?",
                        samples[i].sample,
                        e.1,
                        e.0.display()
                    ))
                } else {
                    None
                };
                if let Some(f) = &flag {
                    reasons[i].push(f.clone());
                }
                pairs.push(Pair {
                    a: samples[i].sample.clone(),
                    b: format!("{} (earlier: {})", e.1, e.0.display()),
                    k,
                    expected: same_name.then(|| "duplicate or identical twin".to_string()),
                    flag,
                });
            }
        }

        // Picard's metrics, its sampled het-SNP sensitivity above all, for every sample at once.
        let wgs_all: Vec<wgs::WgsMetrics> = {
            use rayon::prelude::*;
            samples.par_iter().map(|s| s.wgs.picard_metrics()).collect()
        };
        let mut report_samples = Vec::new();
        let mut json_samples = Vec::new();
        let mut tsv = String::from("sample\tstatus");
        for (name, _, _) in SUMMARY_COLUMNS {
            tsv.push('\t');
            tsv.push_str(name);
        }
        tsv.push_str("\treasons\n");
        for (k, s) in samples.iter().enumerate() {
            let id = &ids[k];
            let wgs_m = &wgs_all[k];
            let ins = s.insert.summary();
            let gcs = s.gc.as_ref().map(|g| g.summary());
            let mut metrics: Vec<Metric> = Vec::new();
            let wvals = wgs::values(wgs_m);
            for ((name, def), v) in wgs::DEFS.iter().zip(wvals) {
                metrics.push(Metric::new("coverage", name, v, def));
            }
            for ((name, def), v) in READ_DEFS.iter().zip(read_values(&s.reads)) {
                metrics.push(Metric::new("reads", name, v, def));
            }
            for ((name, def), v) in insert::DEFS.iter().zip(insert::values(&ins)) {
                metrics.push(Metric::new("insert_size", name, v, def));
            }
            let gvals = gcs
                .as_ref()
                .map(gc::values)
                .unwrap_or_else(|| vec![None; gc::DEFS.len()]);
            for ((name, def), v) in gc::DEFS.iter().zip(gvals) {
                metrics.push(Metric::new("gc_bias", name, v, def));
            }
            let ivals = [
                id.sex.x_ratio,
                id.sex.y_ratio,
                id.sex.x_het,
                id.contamination.map(|c| c.0),
                Some(id.genotyped as f64),
            ];
            for ((name, def), v) in IDENTITY_DEFS.iter().zip(ivals) {
                metrics.push(Metric::new("identity", name, v, def));
            }
            let map = super::metric_map(&metrics);
            let mut why = reasons[k].clone();
            why.extend(self.rules.check(&map));
            if let Some((c, _)) = id.contamination {
                if c > self.opts.max_contamination {
                    why.push(format!(
                        "contamination {:.3} > {}",
                        c, self.opts.max_contamination
                    ));
                }
            }
            if let Some(declared) = self
                .ped
                .and_then(|p| p.rows.get(&s.sample))
                .and_then(|r| r.sex)
            {
                if id.sex.call != "unknown" && id.sex.call != declared {
                    why.push(format!(
                        "sex: declared {declared}, the data say {} (X ratio {}, Y ratio {})",
                        id.sex.call,
                        id.sex.x_ratio.map_or("-".into(), |v| format!("{v:.2}")),
                        id.sex.y_ratio.map_or("-".into(), |v| format!("{v:.2}"))
                    ));
                }
            }
            let status = if why.is_empty() { "PASS" } else { "FAIL" };
            report_samples.push((s.sample.clone(), why.is_empty(), why.clone()));

            // Files of this sample.
            let stem = file_stem(&s.sample);
            add(
                format!("{stem}.stats"),
                &s.reads.stats_text(&s.path.display().to_string()),
                set,
                &mut outputs,
            )?;
            add(
                format!("{stem}.wgs_metrics"),
                &s.wgs.picard_text(&s.sample, &s.path, wgs_m),
                set,
                &mut outputs,
            )?;
            add(
                format!("{stem}.insert_size_metrics"),
                &s.insert.picard_text(&s.sample, &s.path, &ins),
                set,
                &mut outputs,
            )?;
            if let (Some(g), Some(sum)) = (&s.gc, &gcs) {
                add(
                    format!("{stem}.gc_bias.summary_metrics"),
                    &g.summary_text(&s.sample, &s.path, sum),
                    set,
                    &mut outputs,
                )?;
                add(
                    format!("{stem}.gc_bias.detail_metrics"),
                    &g.detail_text(&s.sample, &s.path),
                    set,
                    &mut outputs,
                )?;
            }
            add(
                format!("{stem}.fingerprint.tsv"),
                &identity::fingerprint_text(&s.sample, self.panel, self.header, &s.counts),
                set,
                &mut outputs,
            )?;
            let plots = self.plots(s);
            let metric_json: serde_json::Map<String, serde_json::Value> = metrics
                .iter()
                .map(|m| {
                    (
                        m.name.clone(),
                        json!({"value": m.value, "group": m.group, "definition": m.definition}),
                    )
                })
                .collect();
            let sample_json = json!({
                "sample": s.sample,
                "input": s.path.display().to_string(),
                "status": status,
                "reasons": why,
                "records": s.records,
                "count_unpaired": s.count_unpaired,
                "read_type": read_type(&s.reads),
                "sex": id.sex,
                "contamination_sites": id.contamination.map(|c| c.1),
                "metrics": metric_json,
                "histograms": {
                    "coverage": s.wgs.hist,
                    "unfiltered_coverage": s.wgs.unfiltered_hist,
                    "insert_size": s.insert.histogram_json(),
                    "base_quality_by_cycle": s.reads.quality_by_cycle(),
                    "read_lengths": nonzero(&s.reads.read_lengths),
                    "identity_permille": nonzero(&s.reads.identity_hist),
                    "mapq": nonzero(&s.reads.mapq),
                },
                "read_groups": s.groups.json(),
                "depth_windows": self.windows_json(s),
                "kasane_version": crate::VERSION,
            });
            let mut text = serde_json::to_string_pretty(&sample_json).unwrap_or_default();
            text.push('\n');
            add(format!("{stem}.qc.json"), &text, set, &mut outputs)?;

            // The summary row.
            tsv.push_str(&format!("{}\t{status}", s.sample));
            for (name, _, _) in SUMMARY_COLUMNS {
                let v = map.get(*name).copied().flatten();
                tsv.push('\t');
                tsv.push_str(&v.map_or(String::new(), |v| fmt_num(v, 6)));
            }
            tsv.push('\t');
            tsv.push_str(&why.join("; "));
            tsv.push('\n');
            let short: serde_json::Map<String, serde_json::Value> = metrics
                .iter()
                .map(|m| (m.name.clone(), json!(m.value)))
                .collect();
            json_samples.push(json!({
                "sample": s.sample,
                "status": status,
                "reasons": report_samples.last().map(|r| r.2.clone()).unwrap_or_default(),
                "sex": id.sex.call,
                "metrics": short,
                "plots": plots,
            }));
        }
        add("qc.tsv".into(), &tsv, set, &mut outputs)?;

        let mut rel = String::from(
            "sample_a\tsample_b\tsites\tinformative\tkinship\tibs0\trelationship\texpected\tflag\n",
        );
        for p in &pairs {
            rel.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                p.a,
                p.b,
                p.k.sites,
                p.k.informative,
                if p.k.kinship.is_finite() {
                    format!("{:.4}", p.k.kinship)
                } else {
                    "NA".into()
                },
                if p.k.ibs0.is_finite() {
                    format!("{:.4}", p.k.ibs0)
                } else {
                    "NA".into()
                },
                p.k.relationship,
                p.expected.as_deref().unwrap_or("-"),
                p.flag.as_deref().unwrap_or("-"),
            ));
        }
        add("relatedness.tsv".into(), &rel, set, &mut outputs)?;

        let names: Vec<String> = samples.iter().map(|s| s.sample.clone()).collect();
        let data = json!({
            "version": crate::VERSION,
            "thresholds": self.opts.thresholds.as_ref().map(|p| p.display().to_string()),
            "columns": SUMMARY_COLUMNS.iter().map(|(n, l, d)| json!([n, l, d])).collect::<Vec<_>>(),
            "samples": json_samples,
            "identity": {
                "panel": self.panel.source,
                "names": names,
                "kinship": kin,
                "pairs": pairs,
            },
        });
        add(
            "qc.html".into(),
            &report::html("kasane qc", &data),
            set,
            &mut outputs,
        )?;

        let prov = json!({
            "kasane_version": crate::VERSION,
            "command": "qc",
            "command_line": self.opts.command_line,
            "backend": self.backend,
            "threads": self.threads,
            "inputs": self.opts.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "reference": self.opts.fasta.as_ref().map(|p| p.display().to_string()),
            "sites": self.panel.source,
            "samples": report_samples.iter().map(|(s, ok, why)| json!({"sample": s, "status": if *ok {"PASS"} else {"FAIL"}, "reasons": why})).collect::<Vec<_>>(),
            "outputs": outputs.clone(),
        });
        let mut text = serde_json::to_string_pretty(&prov).unwrap_or_default();
        text.push('\n');
        add("qc.kasane.json".into(), &text, set, &mut outputs)?;
        Ok((
            QcReport {
                samples: report_samples,
                outputs,
                warnings,
            },
            data,
        ))
    }

    /// Allele frequency per site for sample `me`: the panel's (between 1 % and 99 %), else the
    /// pooled allele fraction of the run's other samples (at least two, 10 reads, between 5 % and
    /// 95 %): a sample's own reads, errors included, must not make the frequencies it is judged by.
    fn allele_frequencies(
        &self,
        samples: &[Collected],
        me: usize,
        alleles: &[Option<(usize, usize)>],
    ) -> Vec<Option<f64>> {
        let mut out = Vec::with_capacity(alleles.len());
        let mut i = 0;
        for sites in &self.panel.by_tid {
            for s in sites {
                let af = match s.af {
                    Some(p) => (0.01..=0.99).contains(&p).then_some(p),
                    None => (|| {
                        let (r, a) = alleles[i]?;
                        let (mut nr, mut na, mut others) = (0u64, 0u64, 0usize);
                        for (k, c) in samples.iter().enumerate() {
                            let (cr, ca) = (c.counts[i][r] as u64, c.counts[i][a] as u64);
                            if k == me || cr + ca == 0 {
                                continue;
                            }
                            nr += cr;
                            na += ca;
                            others += 1;
                        }
                        let p = na as f64 / (nr + na).max(1) as f64;
                        (others >= 2 && nr + na >= 10 && (0.05..=0.95).contains(&p)).then_some(p)
                    })(),
                };
                out.push(af);
                i += 1;
            }
        }
        out
    }

    fn identity_of(
        &self,
        s: &Collected,
        gts: &[Option<u8>],
        alleles: &[Option<(usize, usize)>],
        afs: &[Option<f64>],
        autosomes: &[bool],
    ) -> IdentityOut {
        let (mut auto_d, mut auto_n) = (0u64, 0u64);
        let (mut x, mut y) = (None::<(u64, u64)>, None::<(u64, u64)>);
        for (tid, r) in self.header.refs.iter().enumerate() {
            let (d, n) = s.wgs.contig_depth[tid];
            if autosomes[tid] {
                auto_d += d;
                auto_n += n;
            }
            match identity::sex_contig(&r.name) {
                Some(b'X') => {
                    let e = x.get_or_insert((0, 0));
                    e.0 += d;
                    e.1 += n;
                }
                Some(b'Y') => {
                    let e = y.get_or_insert((0, 0));
                    e.0 += d;
                    e.1 += n;
                }
                _ => {}
            }
        }
        let auto_mean = frac(auto_d, auto_n).filter(|m| *m > 0.0);
        let ratio = |c: Option<(u64, u64)>| {
            let (d, n) = c?;
            Some(frac(d, n)? / auto_mean?)
        };
        let (mut het, mut nonref) = (0u64, 0u64);
        for (tid, sites) in self.panel.by_tid.iter().enumerate() {
            if identity::sex_contig(&self.header.refs[tid].name) != Some(b'X') {
                continue;
            }
            let len = self.header.refs[tid].len;
            for (k, site) in sites.iter().enumerate() {
                if identity::in_par(site.pos, len) {
                    continue;
                }
                match gts[self.panel.offset[tid] + k] {
                    Some(1) => {
                        het += 1;
                        nonref += 1
                    }
                    Some(2) => nonref += 1,
                    _ => {}
                }
            }
        }
        let x_het = (nonref >= 10).then(|| het as f64 / nonref as f64);
        let (xr, yr) = (ratio(x), ratio(y));
        let sex = identity::Sex {
            x_ratio: xr,
            y_ratio: yr,
            x_het,
            x_het_sites: nonref,
            call: identity::call_sex(xr, yr, x_het),
        };
        // Contamination from autosomal sites only (sex chromosomes are not diploid in males).
        let mut sites = Vec::new();
        for (tid, ss) in self.panel.by_tid.iter().enumerate() {
            if !autosomes[tid] {
                continue;
            }
            for k in 0..ss.len() {
                let i = self.panel.offset[tid] + k;
                if let (Some((r, a)), Some(p)) = (alleles[i], afs[i]) {
                    let c = s.counts[i];
                    sites.push((c[r], c[a], p));
                }
            }
        }
        let contamination = identity::contamination(&sites);
        IdentityOut {
            sex,
            contamination,
            genotyped: gts.iter().filter(|g| g.is_some()).count() as u64,
        }
    }

    /// The curves the report draws for one sample.
    fn plots(&self, s: &Collected) -> serde_json::Value {
        let total: u64 = s.wgs.hist.iter().sum();
        let last = s.wgs.hist.iter().rposition(|&c| c > 0).unwrap_or(0);
        let coverage: Vec<[f64; 2]> = s.wgs.hist[..=last]
            .iter()
            .enumerate()
            .map(|(d, &c)| [d as f64, c as f64 / total.max(1) as f64])
            .collect();
        let mut acc = total;
        let cumulative: Vec<[f64; 2]> = s.wgs.hist[..=last]
            .iter()
            .enumerate()
            .map(|(d, &c)| {
                let v = [d as f64, acc as f64 / total.max(1) as f64];
                acc -= c;
                v
            })
            .collect();
        let mean: f64 = {
            let (d, n) = s
                .wgs
                .contig_depth
                .iter()
                .fold((0u64, 0u64), |a, b| (a.0 + b.0, a.1 + b.1));
            frac(d, n).unwrap_or(0.0)
        };
        let mut track = Vec::new();
        let mut offset = 0u64;
        for (tid, w) in s.wgs.windows.iter().enumerate() {
            let len = self.header.refs[tid].len;
            for (k, &sum) in w.iter().enumerate() {
                let start = k as u64 * s.wgs.window;
                let span = (len - start).min(s.wgs.window).max(1);
                let v = if mean > 0.0 {
                    sum as f64 / span as f64 / mean
                } else {
                    0.0
                };
                track.push([(offset + start) as f64 / 1e6, v]);
            }
            offset += len;
        }
        let quality: Vec<[f64; 2]> = s
            .reads
            .quality_by_cycle()
            .iter()
            .enumerate()
            .map(|(c, &q)| [(c + 1) as f64, q])
            .collect();
        let lengths: Vec<[f64; 2]> = s
            .reads
            .read_lengths
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(l, &n)| [l as f64, n as f64])
            .collect();
        json!({
            "coverage": coverage,
            "cumulative": cumulative,
            "track": track,
            "insert": s.insert.plot_points(),
            "gc": s.gc.as_ref().map(|g| g.plot_points()).unwrap_or_default(),
            "quality": quality,
            "lengths": lengths,
        })
    }

    fn windows_json(&self, s: &Collected) -> serde_json::Value {
        match self.by_regions {
            Some(regs) => {
                let mut v = Vec::new();
                for (tid, rs) in regs.iter().enumerate() {
                    for (k, &(a, b)) in rs.iter().enumerate() {
                        let sum = s
                            .wgs
                            .region_depth
                            .get(tid)
                            .and_then(|d| d.get(k))
                            .copied()
                            .unwrap_or(0);
                        v.push(json!([
                            self.header.refs[tid].name,
                            a,
                            b,
                            sum as f64 / (b - a).max(1) as f64
                        ]));
                    }
                }
                json!({"regions": v})
            }
            None => {
                let mut v = Vec::new();
                for (tid, w) in s.wgs.windows.iter().enumerate() {
                    let len = self.header.refs[tid].len;
                    for (k, &sum) in w.iter().enumerate() {
                        let a = k as u64 * s.wgs.window;
                        let b = (a + s.wgs.window).min(len);
                        v.push(json!([
                            self.header.refs[tid].name,
                            a,
                            b,
                            sum as f64 / (b - a).max(1) as f64
                        ]));
                    }
                }
                json!({"window": s.wgs.window, "windows": v})
            }
        }
    }
}

/// Columns of `qc.tsv` and the report's summary table: (metric, label, decimals).
pub const SUMMARY_COLUMNS: &[(&str, &str, u8)] = &[
    ("raw_total_sequences", "reads", 0),
    ("reads_mapped_pct", "mapped", 4),
    ("reads_duplicated_pct", "duplicates", 4),
    ("error_rate", "error rate", 5),
    ("MEAN_COVERAGE", "mean depth", 2),
    ("MEDIAN_COVERAGE", "median depth", 0),
    ("PCT_20X", "≥ 20x", 4),
    ("PCT_30X", "≥ 30x", 4),
    ("FOLD_80_BASE_PENALTY", "fold 80", 3),
    ("MEDIAN_INSERT_SIZE", "median insert", 0),
    ("read_length_n50", "read N50", 0),
    ("AT_DROPOUT", "AT dropout", 3),
    ("GC_DROPOUT", "GC dropout", 3),
    ("x_ratio", "X ratio", 3),
    ("y_ratio", "Y ratio", 3),
    ("contamination", "contamination", 4),
];

fn degree_name(d: u8) -> &'static str {
    match d {
        0 => "duplicate or identical twin",
        1 => "first degree",
        2 => "second degree",
        3 => "third degree",
        _ => "unrelated",
    }
}

fn nonzero(v: &[u64]) -> Vec<[u64; 2]> {
    v.iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(i, &n)| [i as u64, n])
        .collect()
}

/// Short, paired-end or long reads, from the lengths and flags.
pub fn read_type(r: &reads::ReadStats) -> &'static str {
    let n = r.sequences();
    if n == 0 {
        "none"
    } else if r.paired_tech * 2 > n {
        "paired-end short reads"
    } else if r.n50().unwrap_or(0) >= 1000 {
        "long reads"
    } else {
        "single-end short reads"
    }
}

/// A sample name as a file name: path separators and control characters replaced.
pub fn file_stem(sample: &str) -> String {
    let s: String = sample
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    match s.as_str() {
        "" | "." | ".." => format!("sample{s}"),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_names_cannot_leave_the_folder() {
        assert_eq!(file_stem("../x"), ".._x");
        assert_eq!(file_stem(".."), "sample..");
        assert_eq!(file_stem("a/b"), "a_b");
    }
}
