//! Genotype classes of evaluated variants (a module of its own: the readers, the SV matcher
//! and the counting all use it).

/// A genotype class, as the GA4GH stratifications name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Zyg {
    Het = 0,
    HomAlt = 1,
    /// Two different ALT alleles (`1/2`).
    HetAlt = 2,
    /// No genotype (a sites-only VCF): counted as present, compared as het.
    Unknown = 3,
}

impl Zyg {
    pub fn name(self) -> &'static str {
        match self {
            Zyg::Het => "het",
            Zyg::HomAlt => "homalt",
            Zyg::HetAlt => "hetalt",
            Zyg::Unknown => "unknown",
        }
    }

    /// Whether two genotype classes are the same genotype (hetalt alleles are each het; a
    /// missing genotype is taken as het, as `score_small.py` does).
    pub fn same_gt(self, other: Zyg) -> bool {
        let c = |z: Zyg| matches!(z, Zyg::HomAlt);
        c(self) == c(other)
    }
}
