//! `kasane call`: diploid germline SNVs and indels from short or long reads, one sample or
//! several jointly.
//!
//! Stages, one module each:
//! - [`reads`]: alignment files read on their own threads into owned reads (filtered);
//! - [`candidates`]: mismatches and indels from the pileup, left-normalized and counted;
//! - [`haplotypes`]: clusters of candidates, their windows and local haplotypes;
//! - [`likelihoods`]: read × haplotype costs by the backend's pair-HMM (CPU, CUDA or wgpu,
//!   identical results);
//! - [`genotype`]: genotype likelihoods, priors, posteriors, QUAL and GQ;
//! - [`output`]: the VCF header and lines (written bgzipped and indexed by [`crate::io::vcf`]).
//!
//! Work is split into chunks of a fixed grid on each contig ([`CHUNK`] bases), processed in
//! parallel and written in order. A chunk sees the reads and candidates of a margin of
//! [`MARGIN`] bases around it, and emits the sites that start inside it, so what a chunk
//! writes does not depend on which other chunks or regions are run.

pub mod candidates;
pub mod genotype;
pub mod haplotypes;
pub mod likelihoods;
pub mod output;
pub mod reads;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::{self, pairhmm::PairBatch, Backend, BackendKind};
use crate::error::{Error, Result};
use crate::io::fasta::{check_reference, FastaReader};
use crate::io::vcf::VcfWriter;
use crate::io::AlignmentReader;
use crate::progress::Progress;

use candidates::{find_candidates, Allele, CandidateParams, RefWindow};
use genotype::{call_sample, qual, SampleCall};
use haplotypes::{clusters, haplotypes, Cluster, Haplotype, ReadIndex, Segment};
use reads::{ContigRange, Msg, Read, ReadSource};

/// Chunk grid (bases).
pub const CHUNK: i64 = 1 << 14;
/// Reads and candidates looked at beyond a chunk's ends.
pub const MARGIN: i64 = 1000;
/// Sites with QUAL below this are not written.
pub const MIN_QUAL: f64 = 1.0;

#[derive(Clone, Debug)]
pub struct CallOptions {
    pub reference: PathBuf,
    pub output: PathBuf,
    pub inputs: Vec<PathBuf>,
    /// `chrom[:start-end]` (1-based, inclusive).
    pub region: Option<String>,
    /// BED file of regions.
    pub regions_bed: Option<PathBuf>,
    /// Only these contigs (the header still lists every contig).
    pub contigs: Option<Vec<String>>,
    pub threads: usize,
    pub backend: BackendKind,
    pub min_mapq: u8,
    pub min_base_qual: u8,
}

impl CallOptions {
    pub fn new(reference: PathBuf, output: PathBuf, inputs: Vec<PathBuf>) -> Self {
        CallOptions {
            reference,
            output,
            inputs,
            region: None,
            regions_bed: None,
            contigs: None,
            threads: 1,
            backend: BackendKind::Cpu,
            min_mapq: 20,
            min_base_qual: 10,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct CallSummary {
    pub records: u64,
    pub backend: String,
}

/// Intervals to call per reference contig, sorted and merged.
fn target_intervals(o: &CallOptions, fasta: &FastaReader) -> Result<Vec<Vec<(i64, i64)>>> {
    let contigs = fasta.contigs();
    let mut out: Vec<Vec<(i64, i64)>> = vec![Vec::new(); contigs.len()];
    let find = |name: &str, what: &str| -> Result<usize> {
        contigs.iter().position(|c| c.name == name).ok_or_else(|| {
            Error::format(
                &o.reference,
                format!("{what}: contig {name} is not in the reference"),
            )
        })
    };
    let mut any = false;
    let mut add = |ci: usize, s: u64, e: u64, what: &str| -> Result<()> {
        let len = contigs[ci].len;
        if s >= len || e > len {
            return Err(Error::format(
                &o.reference,
                format!(
                    "{what} lies outside contig {} (length {len})",
                    contigs[ci].name
                ),
            ));
        }
        out[ci].push((s as i64, e as i64));
        Ok(())
    };
    if let Some(r) = &o.region {
        let reg = crate::io::bed::parse_region(r)?;
        let ci = find(&reg.chrom, &format!("region {r}"))?;
        let e = if reg.end == 0 {
            contigs[ci].len
        } else {
            reg.end
        };
        add(ci, reg.start, e, &format!("region {r}"))?;
        any = true;
    }
    if let Some(bed) = &o.regions_bed {
        let regions = crate::io::bed::BedRegions::read(bed)?;
        for chrom in &regions.chrom_order {
            let ci = contigs
                .iter()
                .position(|c| &c.name == chrom)
                .ok_or_else(|| {
                    Error::format(bed, format!("contig {chrom} is not in the reference"))
                })?;
            for r in &regions.by_chrom[chrom] {
                let len = contigs[ci].len;
                if r.start >= len || r.end > len {
                    return Err(Error::format(
                        bed,
                        format!(
                            "region {chrom}:{}-{} lies outside contig {chrom} (length {len})",
                            r.start + 1,
                            r.end
                        ),
                    ));
                }
                if r.end > r.start {
                    out[ci].push((r.start as i64, r.end as i64));
                }
            }
        }
        any = true;
    }
    if !any {
        for (ci, c) in contigs.iter().enumerate() {
            out[ci].push((0, c.len as i64));
        }
    }
    if let Some(only) = &o.contigs {
        let mut keep = vec![false; contigs.len()];
        for name in only {
            keep[find(name, "--contigs")?] = true;
        }
        for (ci, k) in keep.iter().enumerate() {
            if !k {
                out[ci].clear();
            }
        }
    }
    for v in &mut out {
        v.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::new();
        for &(s, e) in v.iter() {
            match merged.last_mut() {
                Some(m) if s <= m.1 => m.1 = m.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        *v = merged;
    }
    Ok(out)
}

/// The chunks of one contig: intervals cut at the grid.
fn chunks_of(intervals: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(s, e) in intervals {
        let mut a = s;
        while a < e {
            let b = ((a / CHUNK + 1) * CHUNK).min(e);
            out.push((a, b));
            a = b;
        }
    }
    out
}

/// Everything a chunk needs besides its reads.
struct Ctx<'a> {
    fasta: &'a FastaReader,
    backend: &'a dyn Backend,
    n_samples: usize,
    params: CandidateParams,
}

/// Calls `[cs, ce)` of contig `name` (length `len`) from `reads` (every sample's, each
/// sample's in file order); returns the VCF lines.
fn process_chunk(
    ctx: &Ctx,
    name: &str,
    len: i64,
    cs: i64,
    ce: i64,
    reads: &[Arc<Read>],
) -> Result<Vec<String>> {
    let lo = (cs - MARGIN).max(0);
    let hi = (ce + MARGIN).min(len);
    let wlo = (lo - 300).max(0);
    let whi = (hi + 300).min(len);
    let r = RefWindow {
        start: wlo,
        seq: ctx.fasta.fetch(name, wlo as u64, whi as u64)?,
    };
    let reads: Vec<&Read> = reads
        .iter()
        .map(|r| r.as_ref())
        .filter(|x| x.pos < hi && x.end > lo)
        .collect();
    let cands = find_candidates(&reads, ctx.n_samples, &r, lo, hi, &ctx.params);
    let cls: Vec<Cluster> = clusters(&cands, &r)
        .into_iter()
        .filter(|c| c.alleles.iter().any(|a| a.pos >= cs && a.pos < ce))
        .collect();
    let mut batch = PairBatch {
        gap_ext: likelihoods::GAP_EXT,
        ..Default::default()
    };
    let mut windows = Vec::with_capacity(cls.len());
    let index = ReadIndex::new(reads);
    for cl in &cls {
        let (haps, segs) = haplotypes(cl, &r, &index);
        let slots = likelihoods::add_window(&mut batch, &haps, &segs);
        windows.push((haps, segs, slots));
    }
    let costs = ctx.backend.pair_costs(&batch)?;
    if std::env::var_os("KASANE_CALL_STATS").is_some() {
        let cells: u64 = (0..batch.n_pairs())
            .map(|p| {
                let (r, h) = (batch.pairs[2 * p], batch.pairs[2 * p + 1]);
                batch.items[2 * r as usize + 1] as u64 * batch.items[2 * h as usize + 1] as u64
            })
            .sum();
        eprintln!(
            "{name}:{cs}-{ce}: {} candidates, {} windows, {} pairs, {cells} cells",
            cands.len(),
            cls.len(),
            batch.n_pairs()
        );
    }
    let mut lines = Vec::new();
    for (cl, (haps, segs, slots)) in cls.iter().zip(&windows) {
        let nh = haps.len();
        let cost = |s: usize, h: usize| match slots[s * nh + h] {
            likelihoods::Slot::Known(c) => c,
            likelihoods::Slot::Pair(p) => costs[p],
        };
        // Sites: the cluster's alleles grouped by position.
        let mut i = 0;
        while i < cl.alleles.len() {
            let pos = cl.alleles[i].pos;
            let mut j = i;
            while j < cl.alleles.len() && cl.alleles[j].pos == pos {
                j += 1;
            }
            if pos >= cs && pos < ce {
                let site: Vec<usize> = (i..j).collect();
                if let Some(l) =
                    call_site(ctx, name, &r, cl, &site, haps, segs, &index.reads, &cost)
                {
                    lines.push(l);
                }
            }
            i = j;
        }
    }
    Ok(lines)
}

/// Heterozygosity prior of an allele.
fn theta(a: &Allele) -> f64 {
    if a.is_snv() {
        1e-3
    } else {
        1.25e-4
    }
}

/// Genotypes one site (alleles `site`, indexes into the cluster's, all at one position) and
/// formats its VCF line, or `None` when no sample carries an alternative allele.
#[allow(clippy::too_many_arguments)]
fn call_site(
    ctx: &Ctx,
    chrom: &str,
    r: &RefWindow,
    cl: &Cluster,
    site: &[usize],
    haps: &[Haplotype],
    segs: &[Segment],
    reads: &[&Read],
    cost: &dyn Fn(usize, usize) -> u32,
) -> Option<String> {
    let pos = cl.alleles[site[0]].pos;
    let span_end = site.iter().map(|&k| cl.alleles[k].end()).max()?;
    // Alleles: 0 the reference, 1..=site.len() the site's alternatives, and `star` (`*`):
    // "another allele overlaps this site" (a deletion spanning it, say). A read best explained
    // by such a haplotype is evidence for `*`, not for any of the site's alleles, so a few
    // misaligned reads inside a homozygous deletion do not make a homozygous SNV.
    let star = site.len() + 1;
    let hap_allele: Vec<usize> = haps
        .iter()
        .map(|h| {
            if let Some(k) = site.iter().position(|s| h.alleles.contains(s)) {
                return k + 1;
            }
            let overlaps = h.alleles.iter().any(|&a| {
                let x = &cl.alleles[a];
                x.pos < span_end && x.end() > pos
            });
            if overlaps {
                star
            } else {
                0
            }
        })
        .collect();
    let n_all = if hap_allele.contains(&star) {
        star + 1
    } else {
        star
    };
    // Per sample: per read allele costs; depth; allele depths.
    let mut per: Vec<Vec<Vec<u32>>> = vec![Vec::new(); ctx.n_samples];
    let mut dp = vec![0u32; ctx.n_samples];
    let mut ad = vec![vec![0u32; n_all]; ctx.n_samples];
    for (si, seg) in segs.iter().enumerate() {
        let read = reads[seg.read];
        let s = read.sample as usize;
        let mut c = vec![u32::MAX; n_all];
        for (h, &a) in hap_allele.iter().enumerate() {
            c[a] = c[a].min(cost(si, h));
        }
        let best = c.iter().copied().min().unwrap_or(0);
        // A read counts for at most the chance that it is misplaced.
        let cap = best.saturating_add((read.mapq as u32).clamp(20, 60));
        for x in &mut c {
            *x = (*x).min(cap);
        }
        if read.pos <= pos && read.end >= span_end {
            dp[s] += 1;
            let mut sorted = c.clone();
            sorted.sort_unstable();
            if sorted.len() > 1 && sorted[1] >= sorted[0] + 3 {
                if let Some(a) = c.iter().position(|&x| x == sorted[0]) {
                    ad[s][a] += 1;
                }
            }
        }
        per[s].push(c);
    }
    let alleles: Vec<&Allele> = site.iter().map(|&k| &cl.alleles[k]).collect();
    // Heterozygosity of allele k; `*` gets an indel's (its own record has been called).
    let th = |k: usize| -> f64 {
        if k == star {
            1.25e-4
        } else {
            theta(alleles[k - 1])
        }
    };
    let call_all = |keep: &[usize]| -> Vec<SampleCall> {
        // keep: allele indexes (0 first) to genotype over.
        let mut t = vec![0.0];
        t.extend(keep[1..].iter().map(|&k| th(k)));
        let null = keep.iter().position(|&k| k == star);
        per.iter()
            .map(|rs| {
                let sub: Vec<Vec<u32>> = rs
                    .iter()
                    .map(|c| keep.iter().map(|&k| c[k]).collect())
                    .collect();
                call_sample(&sub, keep.len(), &t, null)
            })
            .collect()
    };
    let all: Vec<usize> = (0..n_all).collect();
    let mut calls = call_all(&all);
    let mut used = vec![false; n_all];
    for c in &calls {
        if let Some((a, b)) = c.gt {
            used[a] = true;
            used[b] = true;
        }
    }
    let mut keep: Vec<usize> = vec![0];
    keep.extend((1..n_all).filter(|&k| used[k]));
    // Nothing but the reference and `*`: no variant of this site's own.
    if !keep.iter().any(|&k| k > 0 && k != star) {
        return None;
    }
    if keep.len() < n_all {
        calls = call_all(&keep);
        if !calls.iter().any(|c| {
            c.gt.is_some_and(|(a, b)| [a, b].iter().any(|&x| x > 0 && keep[x] != star))
        }) {
            return None;
        }
    }
    let q = qual(&calls);
    if q < MIN_QUAL {
        return None;
    }
    let kept: Vec<&Allele> = keep[1..]
        .iter()
        .filter(|&&k| k != star)
        .map(|&k| alleles[k - 1])
        .collect();
    let ref_end = kept.iter().map(|a| a.end()).max()?;
    let reference = r.slice(pos, ref_end).to_vec();
    let alts: Vec<Vec<u8>> = keep[1..]
        .iter()
        .map(|&k| {
            if k == star {
                return b"*".to_vec();
            }
            let a = alleles[k - 1];
            let mut v = a.alt.clone();
            v.extend_from_slice(r.slice(a.end(), ref_end));
            v
        })
        .collect();
    let ad: Vec<Vec<u32>> = ad
        .iter()
        .map(|v| keep.iter().map(|&k| v[k]).collect())
        .collect();
    Some(output::format_line(&output::SiteLine {
        chrom,
        pos,
        reference: &reference,
        alts: &alts,
        qual: q,
        calls: &calls,
        dp: &dp,
        ad: &ad,
    }))
}

/// One file's reads as they arrive, for the contig being called.
struct Stream {
    rx: crossbeam_channel::Receiver<Msg>,
    /// Reads of the current contig, in file order.
    buf: Vec<Arc<Read>>,
    /// Leftmost position of the last read received on the current contig.
    last: i64,
    /// The current contig is complete.
    done: bool,
    /// Messages for a later contig, received early.
    held: std::collections::VecDeque<Msg>,
}

impl Stream {
    /// Receives until a read at or past `upto` arrived or the contig `key` ended.
    fn fill(&mut self, key: usize, upto: i64) -> Result<()> {
        while !self.done && self.last < upto {
            let m = match self.held.pop_front() {
                Some(m) => m,
                None => match self.rx.recv() {
                    Ok(m) => m,
                    Err(_) => {
                        self.done = true;
                        break;
                    }
                },
            };
            match m {
                Msg::Fail(e) => return Err(e),
                Msg::Reads(k, v) if k == key => {
                    if let Some(r) = v.last() {
                        self.last = self.last.max(r.pos);
                    }
                    self.buf.extend(v.into_iter().map(Arc::new));
                }
                Msg::EndContig(k) if k == key => self.done = true,
                m @ (Msg::Reads(..) | Msg::EndContig(_)) => {
                    // For another contig: keep it unless it is stale (an earlier key).
                    let k = match &m {
                        Msg::Reads(k, _) | Msg::EndContig(k) => *k,
                        Msg::Fail(_) => 0,
                    };
                    if k > key {
                        // A later contig has started: this one has no more reads.
                        self.held.push_back(m);
                        self.done = true;
                    }
                }
            }
        }
        Ok(())
    }

    fn start_contig(&mut self) {
        self.buf.clear();
        self.last = i64::MIN;
        self.done = false;
    }
}

/// Runs the caller. On error nothing is left under the output's name. `progress` shows the
/// position reached (on a terminal).
pub fn run(o: &CallOptions, progress: &Progress) -> Result<CallSummary> {
    if o.inputs.is_empty() {
        return Err(Error::Usage("no alignment files given".into()));
    }
    let threads = o.threads.max(1);
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Usage(format!("cannot start {threads} threads: {e}")))?,
    );
    let fasta = FastaReader::open(&o.reference)?;
    let targets = target_intervals(o, &fasta)?;
    let contigs: Vec<(String, u64)> = fasta
        .contigs()
        .iter()
        .map(|c| (c.name.clone(), c.len))
        .collect();
    let want_regions = o.region.is_some() || o.regions_bed.is_some() || o.contigs.is_some();
    let mut samples: Vec<String> = Vec::new();
    let mut streams = Vec::new();
    let mut input_bytes = 0u64;
    for (si, path) in o.inputs.iter().enumerate() {
        let reader = AlignmentReader::open(path, Some(&o.reference), None, pool.clone())?;
        let header = reader.header().clone();
        drop(reader);
        check_reference(&header, path, &fasta)?;
        input_bytes += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut name = header.sample_name(path);
        if samples.contains(&name) {
            name = format!("{name}.{}", si + 1);
        }
        samples.push(name);
        let has_index = !crate::io::index::candidates(path, &["bai", "csi", "crai"])
            .iter()
            .all(|p| !p.is_file());
        if want_regions && !has_index {
            return Err(Error::format(
                path,
                "index not found (looked for .bai, .csi, .crai); regions need one: create it \
                 with `samtools index`",
            ));
        }
        let mut ranges = Vec::new();
        for (key, iv) in targets.iter().enumerate() {
            if let (Some(f), Some(l)) = (iv.first(), iv.last()) {
                if let Some(tid) = header.tid(&contigs[key].0) {
                    ranges.push(ContigRange {
                        tid,
                        key,
                        lo: (f.0 - MARGIN).max(0),
                        hi: l.1 + MARGIN,
                    });
                }
            }
        }
        ranges.sort_by_key(|r| r.tid);
        let names = header.refs.iter().map(|r| r.name.clone()).collect();
        let rx = reads::spawn(
            ReadSource {
                path: path.clone(),
                sample: si as u32,
                reference: o.reference.clone(),
                min_mapq: o.min_mapq,
                indexed: has_index,
            },
            ranges,
            names,
            pool.clone(),
        );
        streams.push(Stream {
            rx,
            buf: Vec::new(),
            last: i64::MIN,
            done: false,
            held: Default::default(),
        });
    }
    let backend = backend::open(o.backend, threads, Some(input_bytes))?;
    let header = output::header(&contigs, &samples, "call");
    let mut writer = VcfWriter::create(&o.output, &header, pool.clone())?;
    let ctx = Ctx {
        fasta: &fasta,
        backend: backend.as_ref(),
        n_samples: samples.len(),
        params: CandidateParams {
            min_base_qual: o.min_base_qual,
            ..Default::default()
        },
    };
    let max_in_flight = threads + 1;
    let total_bases: i64 = targets.iter().flatten().map(|(s, e)| e - s).sum();
    let mut done_bases = 0i64;
    for (key, iv) in targets.iter().enumerate() {
        if iv.is_empty() {
            continue;
        }
        let (name, len) = (&contigs[key].0, contigs[key].1 as i64);
        for s in &mut streams {
            s.start_contig();
        }
        let chunks = chunks_of(iv);
        let (tx, rx) = crossbeam_channel::unbounded::<(usize, Result<Vec<String>>)>();
        let mut ready: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let mut next_out = 0usize;
        let mut in_flight = 0usize;
        let write_ready = |ready: &mut BTreeMap<usize, Vec<String>>,
                           next_out: &mut usize,
                           writer: &mut VcfWriter,
                           done_bases: &mut i64|
         -> Result<()> {
            while let Some(lines) = ready.remove(next_out) {
                for l in lines {
                    writer.write_line(l.as_bytes())?;
                }
                let (cs, ce) = chunks[*next_out];
                *done_bases += ce - cs;
                *next_out += 1;
                progress.status(|| {
                    format!(
                        "call: {name}:{:.2} Mb  {:.1} % of {:.1} Mb  {} records",
                        ce as f64 / 1e6,
                        100.0 * *done_bases as f64 / total_bases.max(1) as f64,
                        total_bases as f64 / 1e6,
                        writer.n_records()
                    )
                });
            }
            Ok(())
        };
        // Waits for one chunk to finish and writes whatever is now ready in order.
        let receive = |ready: &mut BTreeMap<usize, Vec<String>>,
                       next_out: &mut usize,
                       writer: &mut VcfWriter,
                       done_bases: &mut i64|
         -> Result<()> {
            let (i, res) = rx
                .recv()
                .map_err(|_| Error::Usage("internal: a chunk worker vanished".into()))?;
            ready.insert(i, res?);
            write_ready(ready, next_out, writer, done_bases)
        };
        let result: Result<()> = pool.in_place_scope(|scope| {
            for (ci, &(cs, ce)) in chunks.iter().enumerate() {
                // Wait for a free slot before gathering this chunk's reads: reads are most
                // of the memory, and only chunks being worked on should hold them.
                while in_flight >= max_in_flight {
                    receive(&mut ready, &mut next_out, &mut writer, &mut done_bases)?;
                    in_flight -= 1;
                }
                let mut reads: Vec<Arc<Read>> = Vec::new();
                for s in &mut streams {
                    s.fill(key, ce + MARGIN)?;
                    reads.extend(
                        s.buf
                            .iter()
                            .filter(|r| r.pos < ce + MARGIN && r.end > cs - MARGIN)
                            .cloned(),
                    );
                    // Keep what the next chunk can still use.
                    let next = chunks.get(ci + 1).map_or(i64::MAX, |c| c.0);
                    s.buf.retain(|r| r.end > next - MARGIN);
                }
                let tx = tx.clone();
                let ctx = &ctx;
                in_flight += 1;
                scope.spawn(move |_| {
                    // A panic must still answer, or the writer would wait for this chunk forever.
                    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        process_chunk(ctx, name, len, cs, ce, &reads)
                    }))
                    .unwrap_or_else(|_| {
                        Err(Error::Usage(format!(
                            "internal error while calling {name}:{}-{ce}",
                            cs + 1
                        )))
                    });
                    let _ = tx.send((ci, res));
                });
            }
            while in_flight > 0 {
                receive(&mut ready, &mut next_out, &mut writer, &mut done_bases)?;
                in_flight -= 1;
            }
            Ok(())
        });
        result?;
        // Drain the rest of this contig's reads (a file may still be sending them).
        for s in &mut streams {
            s.fill(key, i64::MAX)?;
            s.buf.clear();
        }
    }
    let records = writer.n_records();
    writer.finish()?;
    progress.done();
    Ok(CallSummary {
        records,
        backend: backend.name().to_string(),
    })
}
