//! Read-level numbers as `samtools stats` 1.16 counts them (its SN section, read lengths,
//! qualities by cycle, insert sizes, indels, GC of reads, the CHK checksums), plus long-read
//! numbers samtools does not give: read length N50 and alignment identity.
//!
//! samtools' rules, followed exactly (stats.c `collect_stats`, `collect_orig_read_stats`,
//! `output_stats`): secondary alignments are counted and skipped; supplementary ones are
//! counted, skip the per-read numbers (lengths, qualities, mapped) but add indels, NM and
//! CIGAR bases; records without a sequence stop there; "average length" is an integer
//! division; insert sizes come from both mates (halved per size, truncating) and their mean
//! and SD use the smallest sizes holding 99 % of pairs, sizes above 8000 counted as 8000;
//! indels longer than 300 are not in ID; the checksum of qualities covers half of them (a
//! samtools quirk kept so CHK lines match).

use crate::io::{Alignment, SEQ_NT16};

const NQUALS: usize = 256;
const NGC: usize = 200;
const NINDELS: usize = 300;
const MAX_ISIZE: usize = 8000;
/// Per-cycle tables stop here (long reads would make them huge); lengths are still counted.
const MAX_CYCLES: usize = 1 << 16;

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Orient {
    pub inward: u64,
    pub outward: u64,
    pub other: u64,
}

/// One sample's counters.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ReadStats {
    pub n_1st: u64,
    pub n_2nd: u64,
    pub n_other: u64,
    pub secondary: u64,
    pub supplementary: u64,
    pub dup: u64,
    pub len_dup: u64,
    pub qcfail: u64,
    pub paired_tech: u64,
    pub unmapped: u64,
    pub mq0: u64,
    pub single_mapped: u64,
    pub paired_and_mapped: u64,
    pub properly_paired: u64,
    pub anomalous: u64,
    pub total_len: u64,
    pub total_len_1st: u64,
    pub total_len_2nd: u64,
    pub bases_mapped: u64,
    pub bases_mapped_cigar: u64,
    pub mismatches: u64,
    pub max_len: usize,
    pub max_len_1st: usize,
    pub max_len_2nd: usize,
    pub max_qual: usize,
    pub sum_qual: f64,
    pub read_lengths: Vec<u64>,
    pub read_lengths_1st: Vec<u64>,
    pub read_lengths_2nd: Vec<u64>,
    /// cycle * NQUALS + quality.
    pub quals_1st: Vec<u64>,
    pub quals_2nd: Vec<u64>,
    pub gc_1st: Vec<u64>,
    pub gc_2nd: Vec<u64>,
    pub insertions: Vec<u64>,
    pub deletions: Vec<u64>,
    pub ins_cycles_1st: Vec<u64>,
    pub ins_cycles_2nd: Vec<u64>,
    pub del_cycles_1st: Vec<u64>,
    pub del_cycles_2nd: Vec<u64>,
    /// Insert size → pairs by orientation (each mate adds one; halved at output).
    pub isize: Vec<Orient>,
    pub is_sorted: bool,
    last: (i32, i64),
    pub chk: [u32; 3],
    /// Primary mapped reads with NM: the sum of their identities, and a histogram of identity
    /// in 0.1 % steps (index 0..=1000).
    /// In units of 1e-12, an integer so that the sum does not depend on the order of parts.
    pub identity_sum: u128,
    pub identity_n: u64,
    pub identity_hist: Vec<u64>,
    /// Mapping quality of primary mapped reads.
    pub mapq: Vec<u64>,
    #[serde(skip)]
    seq: Vec<u8>,
    #[serde(skip)]
    qual: Vec<u8>,
}

impl Default for ReadStats {
    fn default() -> Self {
        Self::new()
    }
}

const FIRST: u8 = 1;
const LAST: u8 = 2;

impl ReadStats {
    pub fn new() -> Self {
        ReadStats {
            n_1st: 0,
            n_2nd: 0,
            n_other: 0,
            secondary: 0,
            supplementary: 0,
            dup: 0,
            len_dup: 0,
            qcfail: 0,
            paired_tech: 0,
            unmapped: 0,
            mq0: 0,
            single_mapped: 0,
            paired_and_mapped: 0,
            properly_paired: 0,
            anomalous: 0,
            total_len: 0,
            total_len_1st: 0,
            total_len_2nd: 0,
            bases_mapped: 0,
            bases_mapped_cigar: 0,
            mismatches: 0,
            max_len: 0,
            max_len_1st: 0,
            max_len_2nd: 0,
            max_qual: 0,
            sum_qual: 0.0,
            read_lengths: Vec::new(),
            read_lengths_1st: Vec::new(),
            read_lengths_2nd: Vec::new(),
            quals_1st: Vec::new(),
            quals_2nd: Vec::new(),
            gc_1st: vec![0; NGC],
            gc_2nd: vec![0; NGC],
            insertions: vec![0; NINDELS],
            deletions: vec![0; NINDELS],
            ins_cycles_1st: Vec::new(),
            ins_cycles_2nd: Vec::new(),
            del_cycles_1st: Vec::new(),
            del_cycles_2nd: Vec::new(),
            isize: Vec::new(),
            is_sorted: true,
            last: (-1, -1),
            chk: [0; 3],
            identity_sum: 0,
            identity_n: 0,
            identity_hist: vec![0; 1001],
            mapq: vec![0; 256],
            seq: Vec::new(),
            qual: Vec::new(),
        }
    }

    fn bump(v: &mut Vec<u64>, i: usize) {
        if v.len() <= i {
            v.resize(i + 1, 0);
        }
        v[i] += 1;
    }

    /// Every record of the file, in file order (unmapped ones included).
    pub fn record<A: Alignment>(&mut self, rec: &A) {
        let flag = rec.flag();
        self.checksum(rec);
        if flag & 0x100 != 0 {
            self.secondary += 1;
            return;
        }
        let supplementary = flag & 0x800 != 0;
        if supplementary {
            self.supplementary += 1;
        }
        let seq_len = rec.seq_len();
        if seq_len == 0 {
            return;
        }
        if flag & 0x400 != 0 {
            self.len_dup += seq_len as u64;
            self.dup += 1;
        }
        let paired = flag & 0x1 != 0;
        let order = if paired {
            (if flag & 0x40 != 0 { FIRST } else { 0 }) + (if flag & 0x80 != 0 { LAST } else { 0 })
        } else {
            FIRST
        };
        let mut read_len = seq_len;
        rec.for_each_cigar(|c| {
            if c.op == b'H' {
                read_len += c.len as usize;
            }
        });
        self.max_len = self.max_len.max(read_len);
        if order == FIRST {
            self.max_len_1st = self.max_len_1st.max(read_len);
        }
        if order == LAST {
            self.max_len_2nd = self.max_len_2nd.max(read_len);
        }
        if !supplementary {
            Self::bump(&mut self.read_lengths, read_len);
            if order == FIRST {
                Self::bump(&mut self.read_lengths_1st, read_len);
            }
            if order == LAST {
                Self::bump(&mut self.read_lengths_2nd, read_len);
            }
            self.orig_read(rec, flag, order, seq_len);
        }
        if flag & 0x4 != 0 {
            return;
        }
        self.indels(rec, flag, order, seq_len);
        let mapped_pair = paired && flag & 0x8 == 0;
        if mapped_pair && !supplementary {
            let mut isize = rec.template_length().unsigned_abs() as usize;
            if isize > MAX_ISIZE {
                isize = MAX_ISIZE;
            }
            if isize > 0 || rec.ref_id() == rec.next_ref_id() {
                let pos_fst = rec.next_pos() - rec.pos();
                let is_fst: i64 = if flag & 0x40 != 0 { 1 } else { -1 };
                let is_fwd: i64 = if flag & 0x10 != 0 { -1 } else { 1 };
                let is_mfwd: i64 = if flag & 0x20 != 0 { -1 } else { 1 };
                if self.isize.len() <= isize {
                    self.isize.resize(isize + 1, Orient::default());
                }
                let o = &mut self.isize[isize];
                if is_fwd * is_mfwd > 0 {
                    o.other += 1;
                } else if is_fst * pos_fst >= 0 {
                    if is_fst * is_fwd > 0 {
                        o.inward += 1;
                    } else {
                        o.outward += 1;
                    }
                } else if is_fst * is_fwd > 0 {
                    o.outward += 1;
                } else {
                    o.inward += 1;
                }
            }
        }
        let nm = rec.aux_int(*b"NM");
        if let Some(nm) = nm {
            self.mismatches = self.mismatches.wrapping_add(nm as u64);
        }
        let (mut m, mut ins, mut del) = (0u64, 0u64, 0u64);
        rec.for_each_cigar(|c| match c.op {
            b'M' | b'=' | b'X' => m += c.len as u64,
            b'I' => ins += c.len as u64,
            b'D' => del += c.len as u64,
            _ => {}
        });
        self.bases_mapped_cigar += m + ins;
        let pos = rec.pos();
        let tid = rec.ref_id();
        // samtools compares with the previous record's contig only while the file still
        // looks sorted (it stops tracking contigs after the first disorder).
        if self.last.0 == tid && pos < self.last.1 {
            self.is_sorted = false;
        }
        self.last.1 = pos;
        if self.is_sorted {
            self.last.0 = tid;
        }
        if !supplementary {
            self.mapq[rec.mapq() as usize] += 1;
            if let Some(nm) = nm {
                let span = (m + ins + del) as f64;
                if span > 0.0 {
                    let id = (1.0 - nm as f64 / span).clamp(0.0, 1.0);
                    self.identity_sum += (id * 1e12).round() as u128;
                    self.identity_n += 1;
                    self.identity_hist[(id * 1000.0).floor() as usize] += 1;
                }
            }
        }
    }

    /// samtools' `collect_orig_read_stats`: primary and unmapped records with a sequence.
    fn orig_read<A: Alignment>(&mut self, rec: &A, flag: u16, order: u8, seq_len: usize) {
        self.total_len += seq_len as u64;
        if flag & 0x200 != 0 {
            self.qcfail += 1;
        }
        if flag & 0x1 != 0 {
            self.paired_tech += 1;
        }
        self.seq.clear();
        rec.seq_into(&mut self.seq);
        let gc = self.seq.iter().filter(|&&b| b == b'C' || b == b'G').count();
        let gc_min = gc * (NGC - 1) / seq_len;
        let gc_max = ((gc + 1) * (NGC - 1) / seq_len).min(NGC - 1);
        let reverse = flag & 0x10 != 0;
        match order {
            FIRST => {
                self.n_1st += 1;
                self.total_len_1st += seq_len as u64;
                for i in gc_min..gc_max {
                    self.gc_1st[i] += 1;
                }
            }
            LAST => {
                self.n_2nd += 1;
                self.total_len_2nd += seq_len as u64;
                for i in gc_min..gc_max {
                    self.gc_2nd[i] += 1;
                }
            }
            _ => self.n_other += 1,
        }
        if order == FIRST || order == LAST {
            self.qual.clear();
            rec.qual_into(&mut self.qual);
            let table = if order == FIRST {
                &mut self.quals_1st
            } else {
                &mut self.quals_2nd
            };
            let cycles = seq_len.min(MAX_CYCLES);
            if table.len() < cycles * NQUALS {
                table.resize(cycles * NQUALS, 0);
            }
            // Integer sums (exact, as samtools' double is for any real file).
            let (mut sum, mut maxq) = (0u64, 0u8);
            let quals = &self.qual[..seq_len];
            let mut add = |i: usize, q: u8| {
                sum += q as u64;
                maxq = maxq.max(q);
                if i < cycles {
                    table[i * NQUALS + q as usize] += 1;
                }
            };
            if reverse {
                for (i, &q) in quals.iter().rev().enumerate() {
                    add(i, q);
                }
            } else {
                for (i, &q) in quals.iter().enumerate() {
                    add(i, q);
                }
            }
            self.max_qual = self.max_qual.max(maxq as usize);
            self.sum_qual += sum as f64;
        }
        if flag & 0x4 != 0 {
            self.unmapped += 1;
        } else {
            self.bases_mapped += seq_len as u64;
            if rec.mapq() == 0 {
                self.mq0 += 1;
            }
            if flag & 0x1 == 0 || flag & 0x8 != 0 {
                self.single_mapped += 1;
            } else {
                self.paired_and_mapped += 1;
                if flag & 0x2 != 0 {
                    self.properly_paired += 1;
                }
                if rec.ref_id() != rec.next_ref_id() {
                    self.anomalous += 1;
                }
            }
        }
    }

    /// samtools' `count_indels`.
    fn indels<A: Alignment>(&mut self, rec: &A, flag: u16, order: u8, read_len: usize) {
        let fwd = flag & 0x10 == 0;
        let mut icycle = 0usize;
        let (ins_c, del_c) = match order {
            FIRST => (
                Some(&mut self.ins_cycles_1st),
                Some(&mut self.del_cycles_1st),
            ),
            LAST => (
                Some(&mut self.ins_cycles_2nd),
                Some(&mut self.del_cycles_2nd),
            ),
            _ => (None, None),
        };
        let (mut ins_c, mut del_c) = (ins_c, del_c);
        let (insertions, deletions) = (&mut self.insertions, &mut self.deletions);
        rec.for_each_cigar(|c| {
            let n = c.len as usize;
            if n == 0 {
                return;
            }
            match c.op {
                b'I' => {
                    let idx = if fwd {
                        icycle as i64
                    } else {
                        read_len as i64 - icycle as i64 - n as i64
                    };
                    if idx >= 0 {
                        if let Some(v) = ins_c.as_deref_mut() {
                            Self::bump(v, idx as usize);
                        }
                    }
                    icycle += n;
                    if n <= NINDELS {
                        insertions[n - 1] += 1;
                    }
                }
                b'D' => {
                    let idx = if fwd {
                        icycle as i64 - 1
                    } else {
                        read_len as i64 - icycle as i64 - 1
                    };
                    if idx < 0 {
                        return;
                    }
                    if let Some(v) = del_c.as_deref_mut() {
                        Self::bump(v, idx as usize);
                    }
                    if n <= NINDELS {
                        deletions[n - 1] += 1;
                    }
                }
                b'N' | b'H' | b'P' => {}
                _ => icycle += n,
            }
        });
    }

    /// samtools' CHK: CRC32s of names, packed bases and (the first half of the) qualities,
    /// summed with 32-bit wrap-around, over every record that passed filtering.
    fn checksum<A: Alignment>(&mut self, rec: &A) {
        let mut crc = libdeflater::Crc::new();
        crc.update(rec.read_name());
        self.chk[0] = self.chk[0].wrapping_add(crc.sum());
        let n = rec.seq_len();
        if n == 0 {
            return;
        }
        let mut crc = libdeflater::Crc::new();
        match rec.packed_seq() {
            Some(p) => crc.update(p),
            None => {
                self.seq.clear();
                rec.seq_into(&mut self.seq);
                let mut packed = vec![0u8; n.div_ceil(2)];
                for (i, &b) in self.seq.iter().enumerate() {
                    let code = NT16_CODE[b as usize];
                    packed[i / 2] |= if i % 2 == 0 { code << 4 } else { code };
                }
                crc.update(&packed);
            }
        }
        self.chk[1] = self.chk[1].wrapping_add(crc.sum());
        self.qual.clear();
        rec.qual_into(&mut self.qual);
        let mut crc = libdeflater::Crc::new();
        crc.update(&self.qual[..n.div_ceil(2).min(self.qual.len())]);
        self.chk[2] = self.chk[2].wrapping_add(crc.sum());
    }

    /// Adds the counts of another part of the same file (a shard of other contigs, in file
    /// order after this one).
    pub fn merge(&mut self, o: &ReadStats) {
        fn add(a: &mut Vec<u64>, b: &[u64]) {
            if a.len() < b.len() {
                a.resize(b.len(), 0);
            }
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        for (a, b) in [
            (&mut self.n_1st, o.n_1st),
            (&mut self.n_2nd, o.n_2nd),
            (&mut self.n_other, o.n_other),
            (&mut self.secondary, o.secondary),
            (&mut self.supplementary, o.supplementary),
            (&mut self.dup, o.dup),
            (&mut self.len_dup, o.len_dup),
            (&mut self.qcfail, o.qcfail),
            (&mut self.paired_tech, o.paired_tech),
            (&mut self.unmapped, o.unmapped),
            (&mut self.mq0, o.mq0),
            (&mut self.single_mapped, o.single_mapped),
            (&mut self.paired_and_mapped, o.paired_and_mapped),
            (&mut self.properly_paired, o.properly_paired),
            (&mut self.anomalous, o.anomalous),
            (&mut self.total_len, o.total_len),
            (&mut self.total_len_1st, o.total_len_1st),
            (&mut self.total_len_2nd, o.total_len_2nd),
            (&mut self.bases_mapped, o.bases_mapped),
            (&mut self.bases_mapped_cigar, o.bases_mapped_cigar),
            (&mut self.identity_n, o.identity_n),
        ] {
            *a += b;
        }
        self.mismatches = self.mismatches.wrapping_add(o.mismatches);
        self.max_len = self.max_len.max(o.max_len);
        self.max_len_1st = self.max_len_1st.max(o.max_len_1st);
        self.max_len_2nd = self.max_len_2nd.max(o.max_len_2nd);
        self.max_qual = self.max_qual.max(o.max_qual);
        self.sum_qual += o.sum_qual;
        self.identity_sum += o.identity_sum;
        for v in [
            (&mut self.read_lengths, &o.read_lengths),
            (&mut self.read_lengths_1st, &o.read_lengths_1st),
            (&mut self.read_lengths_2nd, &o.read_lengths_2nd),
            (&mut self.quals_1st, &o.quals_1st),
            (&mut self.quals_2nd, &o.quals_2nd),
            (&mut self.gc_1st, &o.gc_1st),
            (&mut self.gc_2nd, &o.gc_2nd),
            (&mut self.insertions, &o.insertions),
            (&mut self.deletions, &o.deletions),
            (&mut self.ins_cycles_1st, &o.ins_cycles_1st),
            (&mut self.ins_cycles_2nd, &o.ins_cycles_2nd),
            (&mut self.del_cycles_1st, &o.del_cycles_1st),
            (&mut self.del_cycles_2nd, &o.del_cycles_2nd),
            (&mut self.identity_hist, &o.identity_hist),
            (&mut self.mapq, &o.mapq),
        ] {
            add(v.0, v.1);
        }
        if self.isize.len() < o.isize.len() {
            self.isize.resize(o.isize.len(), Orient::default());
        }
        for (a, b) in self.isize.iter_mut().zip(&o.isize) {
            a.inward += b.inward;
            a.outward += b.outward;
            a.other += b.other;
        }
        // Shards hold whole contigs in header order: the file is sorted if each part is.
        self.is_sorted &= o.is_sorted;
        for k in 0..3 {
            self.chk[k] = self.chk[k].wrapping_add(o.chk[k]);
        }
    }

    pub fn sequences(&self) -> u64 {
        self.n_1st + self.n_2nd + self.n_other
    }

    /// Pair counts per insert size after samtools' halving (per size, truncating).
    fn halved(&self) -> Vec<Orient> {
        self.isize
            .iter()
            .map(|o| Orient {
                inward: o.inward / 2,
                outward: o.outward / 2,
                other: o.other / 2,
            })
            .collect()
    }

    /// Insert-size mean and SD over the main bulk (99 %), and the number of sizes printed,
    /// as samtools computes them (its loop and float types).
    fn isize_summary(&self, h: &[Orient]) -> (f64, f64, usize, [u64; 3]) {
        let mut n: u64 = 0;
        let mut tot = [0u64; 3];
        for o in h {
            tot[0] += o.inward;
            tot[1] += o.outward;
            tot[2] += o.other;
            n += o.inward + o.outward + o.other;
        }
        let (mut bulk, mut avg, mut ibulk) = (0f64, 0f64, 0usize);
        for (i, o) in h.iter().enumerate() {
            let num = o.inward + o.outward + o.other;
            if num > 0 {
                ibulk = i + 1;
            }
            bulk += num as f64;
            avg += i as f64 * num as f64;
            // `bulk/nisize` in samtools is double / uint64; the bulk cut is a float 0.99.
            if bulk / n as f64 > 0.99f32 as f64 {
                ibulk = i + 1;
                n = bulk as u64;
                break;
            }
        }
        avg /= if n > 0 { n as f64 } else { 1.0 };
        let mut sd = 0f64;
        for (i, o) in h.iter().enumerate().take(ibulk).skip(1) {
            let num = (o.inward + o.outward + o.other) as f64;
            sd += num * (i as f64 - avg) * (i as f64 - avg) / if n > 0 { n as f64 } else { 1.0 };
        }
        (avg, sd.sqrt(), ibulk, tot)
    }

    /// (SN name, value as printed, comment) in samtools' order.
    pub fn summary(&self) -> Vec<(&'static str, String, &'static str)> {
        let h = self.halved();
        let (avg, sd, _, tot) = self.isize_summary(&h);
        let seqs = self.sequences();
        let f = |v: f64| format!("{v:.1}");
        // samtools divides in float (f32) before printing.
        let err = if self.bases_mapped_cigar > 0 {
            (self.mismatches as f32 / self.bases_mapped_cigar as f32) as f64
        } else {
            0.0
        };
        let avg_len = self.total_len.checked_div(seqs).unwrap_or(0);
        let avg1 = if self.n_1st > 0 {
            (self.total_len_1st as f32 / self.n_1st as f32) as f64
        } else {
            0.0
        };
        let avg2 = if self.n_2nd > 0 {
            (self.total_len_2nd as f32 / self.n_2nd as f32) as f64
        } else {
            0.0
        };
        let avg_q = if self.total_len > 0 {
            self.sum_qual / self.total_len as f64
        } else {
            0.0
        };
        let pp = if seqs > 0 {
            ((100 * self.properly_paired) as f32 / seqs as f32) as f64
        } else {
            0.0
        };
        vec![
            (
                "raw total sequences",
                seqs.to_string(),
                "excluding supplementary and secondary reads",
            ),
            ("filtered sequences", "0".into(), ""),
            ("sequences", seqs.to_string(), ""),
            ("is sorted", (self.is_sorted as u8).to_string(), ""),
            ("1st fragments", self.n_1st.to_string(), ""),
            ("last fragments", self.n_2nd.to_string(), ""),
            (
                "reads mapped",
                (self.paired_and_mapped + self.single_mapped).to_string(),
                "",
            ),
            (
                "reads mapped and paired",
                self.paired_and_mapped.to_string(),
                "paired-end technology bit set + both mates mapped",
            ),
            ("reads unmapped", self.unmapped.to_string(), ""),
            (
                "reads properly paired",
                self.properly_paired.to_string(),
                "proper-pair bit set",
            ),
            (
                "reads paired",
                self.paired_tech.to_string(),
                "paired-end technology bit set",
            ),
            (
                "reads duplicated",
                self.dup.to_string(),
                "PCR or optical duplicate bit set",
            ),
            ("reads MQ0", self.mq0.to_string(), "mapped and MQ=0"),
            ("reads QC failed", self.qcfail.to_string(), ""),
            ("non-primary alignments", self.secondary.to_string(), ""),
            (
                "supplementary alignments",
                self.supplementary.to_string(),
                "",
            ),
            (
                "total length",
                self.total_len.to_string(),
                "ignores clipping",
            ),
            (
                "total first fragment length",
                self.total_len_1st.to_string(),
                "ignores clipping",
            ),
            (
                "total last fragment length",
                self.total_len_2nd.to_string(),
                "ignores clipping",
            ),
            (
                "bases mapped",
                self.bases_mapped.to_string(),
                "ignores clipping",
            ),
            (
                "bases mapped (cigar)",
                self.bases_mapped_cigar.to_string(),
                "more accurate",
            ),
            ("bases trimmed", "0".into(), ""),
            ("bases duplicated", self.len_dup.to_string(), ""),
            ("mismatches", self.mismatches.to_string(), "from NM fields"),
            (
                "error rate",
                c_exp(err),
                "mismatches / bases mapped (cigar)",
            ),
            ("average length", avg_len.to_string(), ""),
            ("average first fragment length", format!("{avg1:.0}"), ""),
            ("average last fragment length", format!("{avg2:.0}"), ""),
            ("maximum length", self.max_len.to_string(), ""),
            (
                "maximum first fragment length",
                self.max_len_1st.to_string(),
                "",
            ),
            (
                "maximum last fragment length",
                self.max_len_2nd.to_string(),
                "",
            ),
            ("average quality", f(avg_q), ""),
            ("insert size average", f(avg), ""),
            ("insert size standard deviation", f(sd), ""),
            ("inward oriented pairs", tot[0].to_string(), ""),
            ("outward oriented pairs", tot[1].to_string(), ""),
            ("pairs with other orientation", tot[2].to_string(), ""),
            (
                "pairs on different chromosomes",
                (self.anomalous / 2).to_string(),
                "",
            ),
            ("percentage of properly paired reads (%)", f(pp), ""),
        ]
    }

    /// Read length N50 of primary reads (hard clips included, as samtools' lengths).
    pub fn n50(&self) -> Option<u64> {
        let total: u64 = self
            .read_lengths
            .iter()
            .enumerate()
            .map(|(l, &n)| l as u64 * n)
            .sum();
        if total == 0 {
            return None;
        }
        let mut acc = 0u64;
        for (l, &n) in self.read_lengths.iter().enumerate().rev() {
            acc += l as u64 * n;
            if acc * 2 >= total {
                return Some(l as u64);
            }
        }
        None
    }

    /// Mean base quality per cycle over first and last fragments (for the report).
    pub fn quality_by_cycle(&self) -> Vec<f64> {
        let cycles = (self.quals_1st.len().max(self.quals_2nd.len())) / NQUALS;
        (0..cycles)
            .map(|c| {
                let (mut n, mut s) = (0u64, 0u64);
                for t in [&self.quals_1st, &self.quals_2nd] {
                    if let Some(row) = t.get(c * NQUALS..(c + 1) * NQUALS) {
                        for (q, &k) in row.iter().enumerate() {
                            n += k;
                            s += q as u64 * k;
                        }
                    }
                }
                if n > 0 {
                    s as f64 / n as f64
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The whole file in samtools stats' format: the sections MultiQC and plot-bamstats read
    /// (CHK, SN, FFQ, LFQ, GCF, GCL, IS, RL, FRL, LRL, ID, IC).
    pub fn stats_text(&self, input: &str) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# This file was produced by samtools stats (in the format of samtools 1.16.1, by kasane \
             {}) and can be plotted using plot-bamstats\n# This file contains statistics for all \
             reads.\n# The command line was:  stats {input}",
            crate::VERSION
        );
        s.push_str("# CHK, Checksum\t[2]Read Names\t[3]Sequences\t[4]Qualities\n");
        s.push_str(
            "# CHK, CRC32 of reads which passed filtering followed by addition (32bit overflow)\n",
        );
        let _ = writeln!(
            s,
            "CHK\t{:08x}\t{:08x}\t{:08x}",
            self.chk[0], self.chk[1], self.chk[2]
        );
        s.push_str("# Summary Numbers. Use `grep ^SN | cut -f 2-` to extract this part.\n");
        for (k, v, c) in self.summary() {
            if c.is_empty() {
                let _ = writeln!(s, "SN\t{k}:\t{v}");
            } else {
                let _ = writeln!(s, "SN\t{k}:\t{v}\t# {c}");
            }
        }
        let max_qual = if self.max_qual + 1 < NQUALS {
            self.max_qual + 1
        } else {
            self.max_qual
        };
        for (tag, name, table, n) in [
            ("FFQ", "First", &self.quals_1st, self.max_len_1st),
            ("LFQ", "Last", &self.quals_2nd, self.max_len_2nd),
        ] {
            let _ = writeln!(
                s,
                "# {name} Fragment Qualities. Use `grep ^{tag} | cut -f 2-` to extract this part.\n# \
                 Columns correspond to qualities and rows to cycles. First column is the cycle \
                 number."
            );
            for c in 0..n.min(MAX_CYCLES) {
                let _ = write!(s, "{tag}\t{}", c + 1);
                for q in 0..=max_qual {
                    let v = table.get(c * NQUALS + q).copied().unwrap_or(0);
                    let _ = write!(s, "\t{v}");
                }
                s.push('\n');
            }
        }
        for (tag, name, gc) in [
            ("GCF", "first", &self.gc_1st),
            ("GCL", "last", &self.gc_2nd),
        ] {
            let _ = writeln!(
                s,
                "# GC Content of {name} fragments. Use `grep ^{tag} | cut -f 2-` to extract this part."
            );
            let mut prev = 0usize;
            for i in 0..NGC {
                if gc[i] == gc[prev] {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "{tag}\t{:.2}\t{}",
                    (i + prev) as f64 * 0.5 * 100.0 / (NGC - 1) as f64,
                    gc[prev]
                );
                prev = i;
            }
        }
        let h = self.halved();
        let (_, _, ibulk, _) = self.isize_summary(&h);
        s.push_str(
            "# Insert sizes. Use `grep ^IS | cut -f 2-` to extract this part. The columns are: \
             insert size, pairs total, inward oriented pairs, outward oriented pairs, other pairs\n",
        );
        for (i, o) in h.iter().enumerate().take(ibulk) {
            let _ = writeln!(
                s,
                "IS\t{i}\t{}\t{}\t{}\t{}",
                o.inward + o.outward + o.other,
                o.inward,
                o.outward,
                o.other
            );
        }
        for (tag, what, v, n) in [
            ("RL", "", &self.read_lengths, self.max_len),
            (
                "FRL",
                " - first fragments",
                &self.read_lengths_1st,
                self.max_len_1st,
            ),
            (
                "LRL",
                " - last fragments",
                &self.read_lengths_2nd,
                self.max_len_2nd,
            ),
        ] {
            let _ = writeln!(
                s,
                "# Read lengths{what}. Use `grep ^{tag} | cut -f 2-` to extract this part. The \
                 columns are: read length, count"
            );
            for l in 1..=n {
                if let Some(&c) = v.get(l) {
                    if c > 0 {
                        let _ = writeln!(s, "{tag}\t{l}\t{c}");
                    }
                }
            }
        }
        s.push_str(
            "# Indel distribution. Use `grep ^ID | cut -f 2-` to extract this part. The columns \
             are: length, number of insertions, number of deletions\n",
        );
        for i in 0..NINDELS {
            if self.insertions[i] > 0 || self.deletions[i] > 0 {
                let _ = writeln!(
                    s,
                    "ID\t{}\t{}\t{}",
                    i + 1,
                    self.insertions[i],
                    self.deletions[i]
                );
            }
        }
        s.push_str(
            "# Indels per cycle. Use `grep ^IC | cut -f 2-` to extract this part. The columns \
             are: cycle, number of insertions (fwd), .. (rev) , number of deletions (fwd), .. \
             (rev)\n",
        );
        let n = [
            &self.ins_cycles_1st,
            &self.ins_cycles_2nd,
            &self.del_cycles_1st,
            &self.del_cycles_2nd,
        ]
        .iter()
        .map(|v| v.len())
        .max()
        .unwrap_or(0);
        let g = |v: &Vec<u64>, i: usize| v.get(i).copied().unwrap_or(0);
        for i in 0..n {
            let row = [
                g(&self.ins_cycles_1st, i),
                g(&self.ins_cycles_2nd, i),
                g(&self.del_cycles_1st, i),
                g(&self.del_cycles_2nd, i),
            ];
            if row.iter().any(|&x| x > 0) {
                let _ = writeln!(
                    s,
                    "IC\t{}\t{}\t{}\t{}\t{}",
                    i + 1,
                    row[0],
                    row[1],
                    row[2],
                    row[3]
                );
            }
        }
        s
    }
}

/// BAM's 4-bit code of each ASCII base (15, `N`, for anything else).
const NT16_CODE: [u8; 256] = {
    let mut t = [15u8; 256];
    let mut i = 0;
    while i < 16 {
        t[SEQ_NT16[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// C's `%e`: six decimals and an exponent of at least two digits.
pub fn c_exp(v: f64) -> String {
    let s = format!("{v:.6e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_exponent_format() {
        assert_eq!(c_exp(0.0), "0.000000e+00");
        assert_eq!(c_exp(0.012345678), "1.234568e-02");
        assert_eq!(c_exp(123456.0), "1.234560e+05");
    }
}
