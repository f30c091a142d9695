//! What a run covers: whole genome, one shard, a list of contigs, a region (`-r`) or a BED of
//! regions (`-R`), turned into one plan of contig stretches against a list of contigs (an
//! alignment header's, or the reference's).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::bed::{parse_region, BedRegions};
use crate::io::{NameIndex, Reference};
use crate::shard::Shard;

/// A run's choice of where to work, as the command line or a pipeline step gives it. Regions
/// (`region`, `regions_bed`) add up (nothing given: the whole genome); `contigs`, or a
/// `shard`'s run of whole contigs, then keeps only those contigs. A shard chooses its own
/// contigs, so it does not combine with `contigs`.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// `chrom[:start-end]` (1-based, inclusive); the contig's whole length without a span.
    pub region: Option<String>,
    /// A BED file of regions.
    pub regions_bed: Option<PathBuf>,
    /// Only these contigs.
    pub contigs: Option<Vec<String>>,
    /// One of N shards of whole contigs ([`Shard::contigs`]).
    pub shard: Option<Shard>,
    /// How the command line spells `contigs`, for messages (`--contigs` when empty; coverage
    /// says `--chrom`).
    pub contigs_flag: &'static str,
}

impl Selection {
    fn contigs_flag(&self) -> &'static str {
        if self.contigs_flag.is_empty() {
            "--contigs"
        } else {
            self.contigs_flag
        }
    }
}

/// The stretches to work on, per contig of the list the plan was made against (its index
/// there is the `tid`); each contig's stretches sorted, merged, 0-based half-open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    flat: Vec<(u64, u64)>,
    first: Vec<u32>,
    whole: bool,
}

impl Plan {
    /// Resolves `sel` against `refs`, the contigs of `source` (named in messages).
    pub fn new(sel: &Selection, refs: &[Reference], source: &Path) -> Result<Plan> {
        let n = refs.len();
        let find = |name: &str, what: &str| -> Result<usize> {
            refs.iter().position(|c| c.name == name).ok_or_else(|| {
                Error::format(source, format!("{what}: contig {name} is not in this file"))
            })
        };
        if sel.shard.is_some() && sel.contigs.is_some() {
            return Err(Error::Usage(format!(
                "--shard and {} cannot be combined: a shard chooses its own contigs",
                sel.contigs_flag()
            )));
        }
        // Stretches asked for by -r/-R, per contig (empty vectors do not allocate).
        let mut out: Vec<Vec<(u64, u64)>> = Vec::new();
        if sel.region.is_some() || sel.regions_bed.is_some() {
            out = vec![Vec::new(); n];
        }
        let mut any = false;
        if let Some(r) = &sel.region {
            let what = format!("region {r}");
            let reg = parse_region(r)?;
            let ci = find(&reg.chrom, &what)?;
            let len = refs[ci].len;
            let end = if reg.end == 0 { len } else { reg.end };
            if reg.start >= len || end > len {
                return Err(Error::format(
                    source,
                    format!(
                        "{what} lies outside contig {} (length {len})",
                        refs[ci].name
                    ),
                ));
            }
            out[ci].push((reg.start, end));
            any = true;
        }
        if let Some(bed) = &sel.regions_bed {
            let regions = BedRegions::read(bed)?;
            let key = Reference::name_of;
            let names = NameIndex::new(refs, key);
            for chrom in &regions.chrom_order {
                let ci = names.find(refs, key, chrom).ok_or_else(|| {
                    Error::format(
                        bed,
                        format!("contig {chrom} is not in {}", source.display()),
                    )
                })?;
                let len = refs[ci].len;
                for r in &regions.by_chrom[chrom] {
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
                        out[ci].push((r.start, r.end));
                    }
                }
            }
            any = true;
        }
        // Without regions every contig is whole (filled in below, without a vector each).
        let mut keep = vec![true; n];
        if let Some(only) = &sel.contigs {
            keep.fill(false);
            for name in only {
                keep[find(name, sel.contigs_flag())?] = true;
            }
        }
        if let Some(shard) = sel.shard {
            let lengths: Vec<u64> = refs.iter().map(|r| r.len).collect();
            let range = shard
                .contigs(&lengths)
                .map_err(|e| Error::format(source, e.to_string()))?;
            for (ci, k) in keep.iter_mut().enumerate() {
                *k &= range.contains(&ci);
            }
        }
        // One flat list (a contig's stretches at `first[tid]..first[tid + 1]`): memory per
        // contig stays a few bytes with 10^6 contigs.
        let mut flat: Vec<(u64, u64)> = Vec::with_capacity(if any { 0 } else { n });
        let mut first: Vec<u32> = Vec::with_capacity(n + 1);
        for ci in 0..n {
            first.push(flat.len() as u32);
            if !keep[ci] {
                continue;
            }
            if !any {
                flat.push((0, refs[ci].len));
                continue;
            }
            let v = &mut out[ci];
            v.sort_unstable();
            let from = flat.len();
            for &(s, e) in v.iter() {
                let open = flat.len() > from;
                match flat.last_mut() {
                    Some(m) if open && s <= m.1 => m.1 = m.1.max(e),
                    _ => flat.push((s, e)),
                }
            }
            *v = Vec::new();
        }
        first.push(flat.len() as u32);
        let whole = sel.region.is_none()
            && sel.regions_bed.is_none()
            && sel.contigs.is_none()
            && sel.shard.is_none();
        Ok(Plan { flat, first, whole })
    }

    /// Every contig, whole: nothing was chosen.
    pub fn is_whole_genome(&self) -> bool {
        self.whole
    }

    /// The contigs with something to do, ascending.
    pub fn contigs(&self) -> Vec<usize> {
        (0..self.n_contigs())
            .filter(|&t| !self.stretches(t).is_empty())
            .collect()
    }

    /// Per contig: whether it has something to do.
    pub fn wanted(&self) -> Vec<bool> {
        (0..self.n_contigs())
            .map(|t| !self.stretches(t).is_empty())
            .collect()
    }

    /// The number of contigs of the list the plan was made against.
    pub fn n_contigs(&self) -> usize {
        self.first.len().saturating_sub(1)
    }

    /// Contig `tid`'s stretches (empty: nothing to do there).
    pub fn stretches(&self, tid: usize) -> &[(u64, u64)] {
        match (self.first.get(tid), self.first.get(tid + 1)) {
            (Some(&a), Some(&b)) => &self.flat[a as usize..b as usize],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs() -> Vec<Reference> {
        [("c1", 1000), ("c2", 500), ("c3", 2000)]
            .iter()
            .map(|&(n, l)| Reference {
                name: n.into(),
                len: l,
            })
            .collect()
    }

    fn plan(sel: Selection) -> Result<Plan> {
        Plan::new(&sel, &refs(), Path::new("ref.fa"))
    }

    #[test]
    fn nothing_chosen_is_every_contig_whole() {
        let p = plan(Selection::default()).unwrap();
        assert!(p.is_whole_genome());
        assert_eq!(p.contigs(), vec![0, 1, 2]);
        assert_eq!(p.stretches(2), &[(0, 2000)]);
    }

    #[test]
    fn region_and_contigs_intersect() {
        let p = plan(Selection {
            region: Some("c3:11-20".into()),
            contigs: Some(vec!["c1".into(), "c3".into()]),
            ..Default::default()
        })
        .unwrap();
        assert!(!p.is_whole_genome());
        assert_eq!(p.contigs(), vec![2]);
        assert_eq!(p.stretches(2), &[(10, 20)]);
        assert_eq!(p.wanted(), vec![false, false, true]);
    }

    #[test]
    fn contigs_alone_are_whole_contigs() {
        let p = plan(Selection {
            contigs: Some(vec!["c2".into()]),
            ..Default::default()
        })
        .unwrap();
        let all: Vec<&[(u64, u64)]> = (0..3).map(|t| p.stretches(t)).collect();
        assert_eq!(all, [&[][..], &[(0, 500)][..], &[][..]]);
    }

    #[test]
    fn shard_is_whole_contigs_and_excludes_the_others() {
        let p = plan(Selection {
            shard: Some(Shard::parse("2/2").unwrap()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.contigs(), vec![2]);
        let e = plan(Selection {
            shard: Some(Shard::parse("1/2").unwrap()),
            contigs: Some(vec!["c1".into()]),
            contigs_flag: "--chrom",
            ..Default::default()
        })
        .unwrap_err();
        assert!(e
            .to_string()
            .contains("--shard and --chrom cannot be combined"));
    }

    #[test]
    fn shard_keeps_the_regions_on_its_contigs() {
        let p = plan(Selection {
            region: Some("c3:11-20".into()),
            shard: Some(Shard::parse("1/2").unwrap()),
            ..Default::default()
        })
        .unwrap();
        assert!(p.contigs().is_empty());
        let p = plan(Selection {
            region: Some("c3:11-20".into()),
            shard: Some(Shard::parse("2/2").unwrap()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.contigs(), vec![2]);
    }

    #[test]
    fn unknown_contigs_and_spans_outside_are_named() {
        let e = plan(Selection {
            contigs: Some(vec!["chrZ".into()]),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("ref.fa") && e.contains("chrZ") && e.contains("--contigs"),
            "{e}"
        );
        let e = plan(Selection {
            region: Some("c2:400-600".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("outside contig c2 (length 500)"), "{e}");
    }

    #[test]
    fn bed_regions_merge_and_sort() {
        let d = tempfile::tempdir().unwrap();
        let bed = d.path().join("r.bed");
        std::fs::write(&bed, "c1\t50\t60\nc1\t0\t10\nc1\t5\t20\nc2\t7\t7\n").unwrap();
        let p = plan(Selection {
            regions_bed: Some(bed),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.stretches(0), &[(0, 20), (50, 60)]);
        assert!(p.stretches(1).is_empty());
    }
}
