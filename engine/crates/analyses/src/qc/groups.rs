//! Per read group numbers (`RG` tag; reads without one under `-`): the main read-level metrics
//! and Picard's insert sizes, so that a lane or library that went wrong stands out from the
//! others of its sample.

use std::collections::BTreeMap;

use super::insert::InsertSizes;
use crate::io::Alignment;

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Group {
    /// Primary records (as samtools' "sequences").
    pub reads: u64,
    pub mapped: u64,
    pub duplicates: u64,
    pub properly_paired: u64,
    pub mq0: u64,
    pub bases: u64,
    pub sum_quality: u64,
    /// Aligned and inserted bases, and NM over them (samtools' error rate).
    pub bases_mapped_cigar: u64,
    pub mismatches: u64,
    pub insert: InsertSizes,
}

/// Read group id → its numbers.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ReadGroups {
    pub groups: BTreeMap<String, Group>,
}

impl ReadGroups {
    pub fn record<A: Alignment>(&mut self, rec: &A, qual: &[u8]) {
        let flag = rec.flag();
        if flag & 0x100 != 0 {
            return;
        }
        let rg = rec.read_group().unwrap_or(b"-");
        let g = match self.groups.get_mut(std::str::from_utf8(rg).unwrap_or("-")) {
            Some(g) => g,
            None => self
                .groups
                .entry(String::from_utf8_lossy(rg).into_owned())
                .or_default(),
        };
        g.insert.record(rec);
        if flag & 0x4 == 0 {
            let mut m = 0u64;
            rec.for_each_cigar(|c| {
                if matches!(c.op, b'M' | b'I' | b'=' | b'X') {
                    m += c.len as u64;
                }
            });
            g.bases_mapped_cigar += m;
            g.mismatches += rec.aux_int(*b"NM").unwrap_or(0).max(0) as u64;
        }
        if flag & 0x800 != 0 || rec.seq_len() == 0 {
            return;
        }
        g.reads += 1;
        g.bases += rec.seq_len() as u64;
        g.sum_quality += qual.iter().map(|&q| q as u64).sum::<u64>();
        g.duplicates += (flag & 0x400 != 0) as u64;
        if flag & 0x4 == 0 {
            g.mapped += 1;
            g.mq0 += (rec.mapq() == 0) as u64;
            g.properly_paired += (flag & 0x3 == 0x3 && flag & 0x8 == 0) as u64;
        }
    }

    pub fn merge(&mut self, o: &ReadGroups) {
        for (k, b) in &o.groups {
            let a = self.groups.entry(k.clone()).or_default();
            a.reads += b.reads;
            a.mapped += b.mapped;
            a.duplicates += b.duplicates;
            a.properly_paired += b.properly_paired;
            a.mq0 += b.mq0;
            a.bases += b.bases;
            a.sum_quality += b.sum_quality;
            a.bases_mapped_cigar += b.bases_mapped_cigar;
            a.mismatches += b.mismatches;
            a.insert.merge(&b.insert);
        }
    }

    /// The numbers as `SAMPLE.qc.json` lists them.
    pub fn json(&self) -> serde_json::Value {
        let f = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let mut m = serde_json::Map::new();
        for (k, g) in &self.groups {
            let rows = g.insert.summary();
            let main = rows.iter().max_by_key(|r| r.pairs);
            m.insert(
                k.clone(),
                serde_json::json!({
                    "reads": g.reads,
                    "mapped_pct": f(g.mapped, g.reads),
                    "duplicated_pct": f(g.duplicates, g.reads),
                    "properly_paired_pct": f(g.properly_paired, g.reads),
                    "mq0_pct": f(g.mq0, g.mapped),
                    "mean_length": f(g.bases, g.reads),
                    "mean_quality": f(g.sum_quality, g.bases),
                    "error_rate": f(g.mismatches, g.bases_mapped_cigar),
                    "median_insert_size": main.map(|r| r.median),
                    "mean_insert_size": main.map(|r| r.mean).filter(|v| v.is_finite()),
                    "pair_orientation": main.map(|r| r.orientation),
                }),
            );
        }
        serde_json::Value::Object(m)
    }
}
