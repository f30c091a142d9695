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
//! - [`phase`]: read-backed phasing of each site's reads by the heterozygous sites around it;
//! - [`output`]: the VCF header and lines (written bgzipped and indexed by [`crate::io::vcf`]).
//!
//! Work is split into chunks of a fixed grid on each contig ([`CHUNK`] bases), processed in
//! parallel and written in order, in two passes. The first finds a chunk's sites, scores
//! their reads and calls them unphased; it sees the reads and candidates of a margin of
//! [`MARGIN`] bases around the chunk and keeps the sites that start inside it. The second,
//! once the chunks on either side have had their first pass, calls each site again with its
//! reads phased by the heterozygous sites within [`phase::PHASE_SPAN`] and formats it.
//! Regions are widened to whole chunks and by that span before any of this, and only sites
//! inside them are written: what is written for a site does not depend on which other
//! chunks or regions are run.

pub mod candidates;
pub mod genotype;
pub mod haplotypes;
pub mod likelihoods;
pub mod output;
pub mod phase;
pub mod reads;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::{self, pairhmm::PairBatch, Backend, BackendKind};
use crate::error::{Error, Result};
use crate::input::{self, Plan, Selection};
use crate::io::fasta::FastaReader;
use crate::io::vcf::VcfWriter;
use crate::io::Reference;
use crate::progress::Progress;
use crate::readtype::{self, ReadType};

use candidates::{find_candidates, Allele, CandidateParams, RefWindow};
use genotype::{call_sample, qual, ReadPhase, SampleCall};
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
    /// One of N shards of whole contigs (of the reference); joined by `kasane gather`.
    pub shard: Option<crate::shard::Shard>,
    pub threads: usize,
    pub backend: BackendKind,
    pub min_mapq: u8,
    pub min_base_qual: u8,
    /// Every input's read type; `None` detects each file's ([`crate::readtype`]).
    pub read_type: Option<ReadType>,
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
            shard: None,
            threads: 1,
            backend: BackendKind::Cpu,
            min_mapq: 20,
            min_base_qual: 10,
            read_type: None,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct CallSummary {
    pub records: u64,
    pub backend: String,
}

/// Per reference contig, its intervals (0-based, half-open).
type Intervals = Vec<Vec<(i64, i64)>>;

/// Intervals to call per reference contig, sorted and merged, from `-r`, `-R` and
/// `--contigs` (see [`Plan`]).
fn target_intervals(o: &CallOptions, fasta: &FastaReader) -> Result<(Plan, Intervals)> {
    let refs: Vec<Reference> = fasta
        .contigs()
        .iter()
        .map(|c| Reference {
            name: c.name.clone(),
            len: c.len,
        })
        .collect();
    let plan = Plan::new(
        &Selection {
            region: o.region.clone(),
            regions_bed: o.regions_bed.clone(),
            contigs: o.contigs.clone(),
            shard: o.shard,
            ..Default::default()
        },
        &refs,
        &o.reference,
    )?;
    let targets = (0..plan.n_contigs())
        .map(|t| {
            plan.stretches(t)
                .iter()
                .map(|&(s, e)| (s as i64, e as i64))
                .collect()
        })
        .collect();
    Ok((plan, targets))
}

/// What is computed for `targets`: each interval widened by [`phase::PHASE_SPAN`] (the
/// neighbours its sites phase by) and out to whole chunks of the grid, so that every site is
/// computed from the same chunk, and so the same way, whatever the regions asked for.
fn work_intervals(targets: &[Vec<(i64, i64)>], fasta: &FastaReader) -> Vec<Vec<(i64, i64)>> {
    const _: () = assert!(phase::PHASE_SPAN <= CHUNK);
    targets
        .iter()
        .zip(fasta.contigs())
        .map(|(iv, c)| {
            let len = c.len as i64;
            let mut out: Vec<(i64, i64)> = Vec::new();
            for &(s, e) in iv {
                let a = ((s - phase::PHASE_SPAN).max(0) / CHUNK) * CHUNK;
                let b = (((e + phase::PHASE_SPAN) + CHUNK - 1) / CHUNK * CHUNK).min(len);
                match out.last_mut() {
                    Some(m) if a <= m.1 => m.1 = m.1.max(b),
                    _ => out.push((a, b)),
                }
            }
            out
        })
        .collect()
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

/// First pass over `[cs, ce)` of contig `name` (length `len`) from `reads` (every sample's,
/// each sample's in file order): its sites with their reads' allele costs and first calls.
fn process_chunk(
    ctx: &Ctx,
    name: &str,
    len: i64,
    cs: i64,
    ce: i64,
    reads: &[Arc<Read>],
) -> Result<FirstPass> {
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
    let found = find_candidates(&reads, ctx.n_samples, &r, lo, hi, &ctx.params);
    let cands = &found.alleles;
    let cls: Vec<Cluster> = clusters(cands, &found.seeds, &r)
        .into_iter()
        .filter(|c| c.alleles.iter().any(|a| a.pos >= cs && a.pos < ce))
        .filter(|c| c.seeds.iter().any(|&s| s))
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
    let mut sites = Vec::new();
    for (cl, (haps, segs, slots)) in cls.iter().zip(&windows) {
        let nh = haps.len();
        let cost = |s: usize, h: usize| match slots[s * nh + h] {
            likelihoods::Slot::Known(c) => c,
            likelihoods::Slot::Pair(p) => costs[p],
        };
        // Sites: the cluster's alleles grouped by position.
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < cl.alleles.len() {
            let pos = cl.alleles[i].pos;
            let mut j = i;
            while j < cl.alleles.len() && cl.alleles[j].pos == pos {
                j += 1;
            }
            ranges.push(i..j);
            i = j;
        }
        // First round, every site of the cluster (inside this chunk or not, so that the
        // second round does not depend on where chunks end): which alleles are carried.
        let reads = &index.reads;
        let first: Vec<Option<Site>> = ranges
            .iter()
            .map(|rg| {
                let site: Vec<usize> = rg.clone().collect();
                site_of(ctx, &r, cl, &site, haps, segs, reads, &cost, None)
            })
            .collect();
        let mut carried = vec![false; cl.alleles.len()];
        for (rg, s) in ranges.iter().zip(&first) {
            if let Some(f) = s.as_ref().and_then(|s| s.first.as_ref().map(|f| (s, f))) {
                for &k in &f.1.keep[1..] {
                    if k != f.0.star() {
                        carried[rg.start + k - 1] = true;
                    }
                }
            }
        }
        for (rg, s) in ranges.into_iter().zip(first) {
            let pos = cl.alleles[rg.start].pos;
            if pos < cs || pos >= ce {
                continue;
            }
            // Second round, SNV sites only: against the haplotypes made of the site's own
            // alleles and the carried ones (see `site_of`).
            if !rg.clone().all(|k| cl.alleles[k].is_snv()) {
                sites.extend(s);
                continue;
            }
            let allowed: Vec<bool> = haps
                .iter()
                .map(|h| h.alleles.iter().all(|a| carried[*a] || rg.contains(a)))
                .collect();
            if allowed.iter().all(|&x| x) {
                sites.extend(s);
                continue;
            }
            let site: Vec<usize> = rg.collect();
            sites.extend(site_of(
                ctx,
                &r,
                cl,
                &site,
                haps,
                segs,
                reads,
                &cost,
                Some(&allowed),
            ));
        }
    }
    let hets = (0..ctx.n_samples).map(|i| hets_of(&sites, i)).collect();
    Ok(FirstPass { sites, hets })
}

/// Heterozygosity prior of an allele.
fn theta(a: &Allele) -> f64 {
    if a.is_snv() {
        1e-3
    } else {
        1.25e-4
    }
}

/// One sample's evidence at a site.
struct SiteSample {
    /// Per read (file order): its molecule and its cost per allele.
    keys: Vec<u64>,
    costs: Vec<Vec<u32>>,
    dp: u32,
    ad: Vec<u32>,
}

/// A site as a chunk's worker leaves it: everything needed to genotype it again once its
/// reads can be phased, and its first (unphased) call.
pub struct Site {
    pos: i64,
    /// End of the longest allele (exclusive).
    span_end: i64,
    /// Reference bases from `pos` to `span_end`.
    reference: Vec<u8>,
    /// The site's alternative alleles; allele `k` is `alleles[k - 1]`, and allele
    /// `alleles.len() + 1`, where `n_all` includes it, is `*`.
    alleles: Vec<Allele>,
    n_all: usize,
    samples: Vec<SiteSample>,
    first: Option<Called>,
}

/// A site's genotypes.
struct Called {
    /// Alleles genotyped (indexes into the site's, 0 first); genotypes index into this.
    keep: Vec<usize>,
    calls: Vec<SampleCall>,
    qual: f64,
}

impl Site {
    fn star(&self) -> usize {
        self.alleles.len() + 1
    }

    /// The sample's first call, as a pair of the site's alleles, when heterozygous with
    /// enough confidence to phase reads by.
    fn het_for_phasing(&self, sample: usize) -> Option<(usize, usize)> {
        let c = self.first.as_ref()?;
        let sc = &c.calls[sample];
        match sc.gt {
            Some((a, b)) if a != b && sc.gq >= phase::MIN_NEIGHBOUR_GQ => {
                let (a, b) = (c.keep[a], c.keep[b]);
                let ad = &self.samples[sample].ad;
                phase::balanced(ad[a], ad[b]).then_some((a, b))
            }
            _ => None,
        }
    }
}

/// Builds the site of alleles `site` (indexes into the cluster's, all at one position) with
/// its reads' allele costs, and calls it unphased; `None` when no read covers it. With
/// `allowed`, only those haplotypes explain the reads: a cluster's SNV sites are built
/// twice, the second time leaving out haplotypes with alleles that no site carried the
/// first time. Noisy reads make many candidates, mostly errors, and a haplotype of an error
/// could explain an SNV's reads almost as well as the SNV's own (an ONT read with an SNV
/// inside a homopolymer, against a haplotype with a one-base deletion there: an insertion
/// inside the read's own repeat costs little), so the SNV was missed. Indel sites keep their
/// first build: there the error haplotypes are other placements of the same indel errors,
/// and leaving them out let errors through (Badread ONT indel precision 0.86 to 0.73).
#[allow(clippy::too_many_arguments)]
fn site_of(
    ctx: &Ctx,
    r: &RefWindow,
    cl: &Cluster,
    site: &[usize],
    haps: &[Haplotype],
    segs: &[Segment],
    reads: &[&Read],
    cost: &dyn Fn(usize, usize) -> u32,
    allowed: Option<&[bool]>,
) -> Option<Site> {
    let pos = cl.alleles[site[0]].pos;
    let span_end = site.iter().map(|&k| cl.alleles[k].end()).max()?;
    // Alleles: 0 the reference, 1..=site.len() the site's alternatives, and `star` (`*`):
    // "another allele overlaps this site" (a deletion spanning it, say). A read best explained
    // by such a haplotype is evidence for `*`, not for any of the site's alleles, so a few
    // misaligned reads inside a homozygous deletion do not make a homozygous SNV.
    let star = site.len() + 1;
    let hap_allele: Vec<usize> = haps
        .iter()
        .enumerate()
        .map(|(hi, h)| {
            if allowed.is_some_and(|a| !a[hi]) {
                return usize::MAX;
            }
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
    let mut samples: Vec<SiteSample> = (0..ctx.n_samples)
        .map(|_| SiteSample {
            keys: Vec::new(),
            costs: Vec::new(),
            dp: 0,
            ad: vec![0; n_all],
        })
        .collect();
    for (si, seg) in segs.iter().enumerate() {
        let read = reads[seg.read];
        let smp = &mut samples[read.sample as usize];
        let mut c = vec![u32::MAX; n_all];
        for (h, &a) in hap_allele.iter().enumerate() {
            if a != usize::MAX {
                c[a] = c[a].min(cost(si, h));
            }
        }
        let best = c.iter().copied().min().unwrap_or(0);
        // A read counts for at most the chance that it is misplaced.
        let cap = best.saturating_add((read.mapq as u32).clamp(20, 60));
        for x in &mut c {
            *x = (*x).min(cap);
        }
        if read.pos <= pos && read.end >= span_end {
            smp.dp += 1;
            // The read counts for its best allele when the next best is 3 phred behind.
            if let Some((a, &m)) = c.iter().enumerate().min_by_key(|&(_, &x)| x) {
                let next = c
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| k != a)
                    .map(|(_, &x)| x)
                    .min();
                if next.is_some_and(|n| n >= m.saturating_add(3)) {
                    smp.ad[a] += 1;
                }
            }
        }
        smp.keys.push(read.key);
        smp.costs.push(c);
    }
    if samples.iter().all(|s| s.costs.is_empty()) {
        return None;
    }
    let mut s = Site {
        pos,
        span_end,
        reference: r.slice(pos, span_end).to_vec(),
        alleles: site.iter().map(|&k| cl.alleles[k].clone()).collect(),
        n_all,
        samples,
        first: None,
    };
    s.first = genotype_site(&s, None);
    Some(s)
}

/// Genotypes a site, with each sample's reads phased where `phase` says so; `None` when no
/// sample carries an allele of the site's own or QUAL is below [`MIN_QUAL`].
fn genotype_site(s: &Site, phase: Option<&[Option<Vec<ReadPhase>>]>) -> Option<Called> {
    let star = s.star();
    // Heterozygosity of allele k; `*` gets an indel's (its own record has been called).
    let th = |k: usize| -> f64 {
        if k == star {
            1.25e-4
        } else {
            theta(&s.alleles[k - 1])
        }
    };
    let call_all = |keep: &[usize]| -> Vec<SampleCall> {
        // keep: allele indexes (0 first) to genotype over.
        let mut t = vec![0.0];
        t.extend(keep[1..].iter().map(|&k| th(k)));
        let null = keep.iter().position(|&k| k == star);
        s.samples
            .iter()
            .enumerate()
            .map(|(i, smp)| {
                let sub: Vec<Vec<u32>> = smp
                    .costs
                    .iter()
                    .map(|c| keep.iter().map(|&k| c[k]).collect())
                    .collect();
                let ph = phase.and_then(|p| p[i].as_deref());
                call_sample(&sub, keep.len(), &t, null, ph)
            })
            .collect()
    };
    let all: Vec<usize> = (0..s.n_all).collect();
    let mut calls = call_all(&all);
    let mut used = vec![false; s.n_all];
    for c in &calls {
        if let Some((a, b)) = c.gt {
            used[a] = true;
            used[b] = true;
        }
    }
    let mut keep: Vec<usize> = vec![0];
    keep.extend((1..s.n_all).filter(|&k| used[k]));
    // Nothing but the reference and `*`: no variant of this site's own.
    if !keep.iter().any(|&k| k > 0 && k != star) {
        return None;
    }
    if keep.len() < s.n_all {
        calls = call_all(&keep);
        if !calls.iter().any(|c| {
            c.gt.is_some_and(|(a, b)| [a, b].iter().any(|&x| x > 0 && keep[x] != star))
        }) {
            return None;
        }
    }
    let qual = qual(&calls);
    if qual < MIN_QUAL {
        return None;
    }
    Some(Called { keep, calls, qual })
}

/// The VCF line of a called site.
fn format_site(chrom: &str, s: &Site, c: &Called) -> Option<String> {
    let star = s.star();
    let kept: Vec<&Allele> = c.keep[1..]
        .iter()
        .filter(|&&k| k != star)
        .map(|&k| &s.alleles[k - 1])
        .collect();
    let ref_end = kept.iter().map(|a| a.end()).max()?;
    let reference = &s.reference[..(ref_end - s.pos) as usize];
    let alts: Vec<Vec<u8>> = c.keep[1..]
        .iter()
        .map(|&k| {
            if k == star {
                return b"*".to_vec();
            }
            let a = &s.alleles[k - 1];
            let mut v = a.alt.clone();
            v.extend_from_slice(&s.reference[(a.end() - s.pos) as usize..reference.len()]);
            v
        })
        .collect();
    let dp: Vec<u32> = s.samples.iter().map(|x| x.dp).collect();
    let ad: Vec<Vec<u32>> = s
        .samples
        .iter()
        .map(|x| c.keep.iter().map(|&k| x.ad[k]).collect())
        .collect();
    Some(output::format_line(&output::SiteLine {
        chrom,
        pos: s.pos,
        reference,
        alts: &alts,
        qual: c.qual,
        calls: &c.calls,
        dp: &dp,
        ad: &ad,
    }))
}

/// A heterozygous site one sample's reads can be phased by.
struct Het {
    pos: i64,
    span_end: i64,
    /// Its reads' molecules and log10 ratios of its first allele over its second.
    reads: Vec<(u64, f64)>,
}

/// The sites of `sites` that sample `i`'s reads can be phased by, in order.
fn hets_of(sites: &[Site], i: usize) -> Vec<Het> {
    sites
        .iter()
        .filter_map(|n| {
            let (a, b) = n.het_for_phasing(i)?;
            let smp = &n.samples[i];
            let reads = smp
                .keys
                .iter()
                .zip(&smp.costs)
                .filter(|(_, c)| c[a] != c[b])
                .map(|(&k, c)| (k, (c[b] as f64 - c[a] as f64) / 10.0))
                .collect();
            Some(Het {
                pos: n.pos,
                span_end: n.span_end,
                reads,
            })
        })
        .collect()
}

/// A chunk's first pass: its sites, and per sample the heterozygous ones among them that
/// reads can be phased by (used by this chunk's second pass and its neighbours').
pub struct FirstPass {
    sites: Vec<Site>,
    hets: Vec<Vec<Het>>,
}

/// Second pass over a chunk's sites: each is genotyped again with every sample's reads
/// phased by the heterozygous sites around it (in this chunk and the chunks next to it:
/// `near`, in order), and formatted. Only sites for which `emit` holds are written.
fn refine_chunk(
    chrom: &str,
    cur: &FirstPass,
    near: &[&FirstPass],
    emit: &dyn Fn(i64) -> bool,
) -> Vec<String> {
    // Per sample, the neighbours' hets in position order (chunks in order, each sorted).
    let hets: Vec<Vec<&Het>> = (0..cur.hets.len())
        .map(|i| near.iter().flat_map(|f| &f.hets[i]).collect())
        .collect();
    let mut lines = Vec::new();
    let mut cols: Vec<&[(u64, f64)]> = Vec::new();
    for s in &cur.sites {
        if !emit(s.pos) {
            continue;
        }
        let phases: Vec<Option<Vec<ReadPhase>>> = hets
            .iter()
            .zip(&s.samples)
            .map(|(hv, smp)| {
                // The nearest neighbours within the span, nearest first (ties: the left
                // one), leaving out those that overlap the site.
                cols.clear();
                let mid = hv.partition_point(|h| h.pos < s.pos);
                let (mut l, mut r) = (mid, mid);
                while cols.len() < phase::MAX_NEIGHBOURS {
                    let left = match (l.checked_sub(1), hv.get(r)) {
                        (Some(x), Some(y)) => s.pos - hv[x].pos <= y.pos - s.pos,
                        (Some(_), None) => true,
                        (None, Some(_)) => false,
                        (None, None) => break,
                    };
                    let h = if left {
                        l -= 1;
                        hv[l]
                    } else {
                        r += 1;
                        hv[r - 1]
                    };
                    // The nearest left is out of reach: so is everything else.
                    if (h.pos - s.pos).abs() > phase::PHASE_SPAN {
                        break;
                    }
                    if !(h.pos < s.span_end && h.span_end > s.pos) {
                        cols.push(&h.reads);
                    }
                }
                phase::phase_reads(&smp.keys, &cols)
            })
            .collect();
        let refined;
        let called = if phases.iter().any(|p| p.is_some()) {
            refined = genotype_site(s, Some(&phases));
            refined.as_ref()
        } else {
            s.first.as_ref()
        };
        if let Some(l) = called.and_then(|c| format_site(chrom, s, c)) {
            lines.push(l);
        }
    }
    lines
}

/// A finished job of one contig: a chunk's first pass (its sites) or second (its lines).
enum Done {
    Sites(usize, Result<FirstPass>),
    Lines(usize, Result<Vec<String>>),
}

/// The state of one contig's two passes.
struct Pipe {
    /// First passes done, by chunk, until no second pass needs them.
    sites: BTreeMap<usize, Arc<FirstPass>>,
    /// Second pass started, per chunk.
    refining: Vec<bool>,
    /// Second passes done, waiting for their turn to be written.
    lines: BTreeMap<usize, Vec<String>>,
    next_out: usize,
    in_flight: usize,
}

fn internal(name: &str, (cs, ce): (i64, i64)) -> Error {
    Error::Usage(format!(
        "internal error while calling {name}:{}-{ce}",
        cs + 1
    ))
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
    let threads = crate::threads::cap(o.threads).max(1);
    let pool = crate::input::pool(threads, "call")?;
    let fasta = FastaReader::open(&o.reference)?;
    let (plan, targets) = target_intervals(o, &fasta)?;
    let work = work_intervals(&targets, &fasta);
    let contigs: Vec<(String, u64)> = fasta
        .contigs()
        .iter()
        .map(|c| (c.name.clone(), c.len))
        .collect();
    let inputs = input::open_all(&o.inputs, Some((&o.reference, &fasta)), &pool)?;
    let samples: Vec<String> = inputs.iter().map(|i| i.sample.clone()).collect();
    let mut read_types = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let d = readtype::detect(&input.path, Some(&o.reference), pool.clone(), o.read_type)?;
        progress.log(&format!("call: {}: {}", input.sample, d.describe()));
        read_types.push((input.sample.clone(), d));
    }
    let mut streams = Vec::new();
    let mut input_bytes = 0u64;
    for input in inputs {
        input_bytes += std::fs::metadata(&input.path).map(|m| m.len()).unwrap_or(0);
        if !plan.is_whole_genome() {
            input.require_index("regions")?;
        }
        let mut ranges = Vec::new();
        for (key, iv) in work.iter().enumerate() {
            if let (Some(f), Some(l)) = (iv.first(), iv.last()) {
                if let Some(tid) = input.header.tid(&contigs[key].0) {
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
        let d = &read_types[streams.len()].1;
        let src = ReadSource {
            sample: streams.len() as u32,
            min_mapq: o.min_mapq,
            read_type: d.read_type,
            typical: d.typical,
            indexed: input.has_index(),
        };
        let rx = reads::spawn(input, src, ranges);
        streams.push(Stream {
            rx,
            buf: Vec::new(),
            last: i64::MIN,
            done: false,
            held: Default::default(),
        });
    }
    let backend = backend::open(o.backend, threads, Some(input_bytes))?;
    let mut header = output::header(&contigs, &samples, "call");
    for (sample, d) in &read_types {
        header.meta(output::read_type_line(sample, d));
    }
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
    // Chunks gathered ahead of the one being written (at least 2: a chunk's second pass
    // needs the next chunk's first).
    let max_ahead = 2 * threads + 4;
    let total_bases: i64 = work.iter().flatten().map(|(s, e)| e - s).sum();
    let mut done_bases = 0i64;
    for (key, iv) in work.iter().enumerate() {
        if iv.is_empty() {
            continue;
        }
        let (name, len) = (&contigs[key].0, contigs[key].1 as i64);
        for s in &mut streams {
            s.start_contig();
        }
        let chunks = &chunks_of(iv);
        let wanted = &targets[key];
        let emit = |pos: i64| {
            let i = wanted.partition_point(|&(_, e)| e <= pos);
            i < wanted.len() && wanted[i].0 <= pos
        };
        // Chunks `i` and `i + 1` touch: a site of one may phase by the other's.
        let touch = |i: usize| chunks.get(i + 1).is_some_and(|n| n.0 == chunks[i].1);
        let (tx, rx) = crossbeam_channel::unbounded::<Done>();
        let mut p = Pipe {
            sites: BTreeMap::new(),
            refining: vec![false; chunks.len()],
            lines: BTreeMap::new(),
            next_out: 0,
            in_flight: 0,
        };
        let result: Result<()> = pool.in_place_scope(|scope| {
            // Starts the second pass of chunk `j` once it and the chunks it touches have
            // finished their first.
            let try_refine = |p: &mut Pipe, j: usize| {
                let ready = |i: usize| p.sites.contains_key(&i);
                if p.refining[j]
                    || !ready(j)
                    || (j > 0 && touch(j - 1) && !ready(j - 1))
                    || (touch(j) && !ready(j + 1))
                {
                    return;
                }
                p.refining[j] = true;
                p.in_flight += 1;
                let mut near = Vec::with_capacity(3);
                if j > 0 && touch(j - 1) {
                    near.push(p.sites[&(j - 1)].clone());
                }
                let cur = p.sites[&j].clone();
                near.push(cur.clone());
                if touch(j) {
                    near.push(p.sites[&(j + 1)].clone());
                }
                let tx = tx.clone();
                let emit = &emit;
                let span = chunks[j];
                scope.spawn(move |_| {
                    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let near: Vec<&FirstPass> = near.iter().map(|v| v.as_ref()).collect();
                        refine_chunk(name, &cur, &near, emit)
                    }))
                    .map_err(|_| internal(name, span));
                    let _ = tx.send(Done::Lines(j, res));
                });
            };
            // Waits for one job, starts the second passes it allows, and writes whatever is
            // now ready in order.
            let receive = |p: &mut Pipe, writer: &mut VcfWriter, done_bases: &mut i64| {
                let msg = rx
                    .recv()
                    .map_err(|_| Error::Usage("internal: a chunk worker vanished".into()))?;
                p.in_flight -= 1;
                match msg {
                    Done::Sites(i, res) => {
                        p.sites.insert(i, Arc::new(res?));
                        for j in i.saturating_sub(1)..=(i + 1).min(chunks.len() - 1) {
                            try_refine(p, j);
                        }
                    }
                    Done::Lines(i, res) => {
                        p.lines.insert(i, res?);
                    }
                }
                while let Some(lines) = p.lines.remove(&p.next_out) {
                    for l in lines {
                        writer.write_line(l.as_bytes())?;
                    }
                    let (cs, ce) = chunks[p.next_out];
                    *done_bases += ce - cs;
                    // Every second pass that reads the chunk before this one is done.
                    if p.next_out > 0 {
                        p.sites.remove(&(p.next_out - 1));
                    }
                    p.next_out += 1;
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
                Ok::<(), Error>(())
            };
            for (ci, &(cs, ce)) in chunks.iter().enumerate() {
                // Wait for a free slot before gathering this chunk's reads: reads are most
                // of the memory, and only chunks being worked on should hold them. Nor run
                // far ahead of the writer: finished chunks wait in memory for a slow one.
                while p.in_flight > 0
                    && (p.in_flight >= max_in_flight || ci >= p.next_out + max_ahead)
                {
                    receive(&mut p, &mut writer, &mut done_bases)?;
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
                p.in_flight += 1;
                scope.spawn(move |_| {
                    // A panic must still answer, or the writer would wait for this chunk forever.
                    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        process_chunk(ctx, name, len, cs, ce, &reads)
                    }))
                    .unwrap_or_else(|_| Err(internal(name, (cs, ce))));
                    let _ = tx.send(Done::Sites(ci, res));
                });
            }
            while p.in_flight > 0 {
                receive(&mut p, &mut writer, &mut done_bases)?;
            }
            if p.next_out != chunks.len() {
                return Err(Error::Usage(format!(
                    "internal: {name}: {} of {} chunks written",
                    p.next_out,
                    chunks.len()
                )));
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
