//! Diploid genotypes from per-read allele costs.
//!
//! For a site with alleles `0..=n` (0 the reference), each read has a cost per allele: the
//! best (lowest) pair-HMM cost among the window's haplotypes that carry that allele at the
//! site. A read's likelihood under genotype `a/b` is `(10^(-c_a/10) + 10^(-c_b/10)) / 2`;
//! genotype likelihoods multiply over reads. Priors: heterozygosity `θ` (1e-3 for SNVs,
//! 1.25e-4 for indels), `θ/2` for homozygous alternative, `θ²` for two different alternative
//! alleles, the rest to homozygous reference. Posteriors per sample; `GQ` is the phred of
//! one minus the called genotype's posterior, and `QUAL` the phred of the probability that
//! every sample is homozygous reference.
//!
//! Where a sample's reads are phased ([`crate::call::phase`]), a heterozygous genotype's
//! likelihood is taken per component of linked reads instead of per read: each read lies
//! on the component's first haplotype with its phasing probability `w`, and the
//! genotype's two alleles sit on the two haplotypes one way or the other.
//!
//! All of this is host code in `f64`, run the same way whatever the backend, on integer costs
//! that every backend computes identically, over reads in file order: calls do not depend on
//! the backend or the thread count.

/// What one sample's genotype call says.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleCall {
    /// Called genotype (allele indexes, sorted); `None` without reads.
    pub gt: Option<(usize, usize)>,
    pub gq: u32,
    /// Phred-scaled genotype likelihoods, VCF order.
    pub pl: Vec<u32>,
    /// log10 posterior that the sample carries no alternative allele of the site's own
    /// (genotypes of the reference and `*` only).
    pub log10_p_ref: f64,
}

/// Genotypes of `n_alleles` alleles in VCF order: (0,0), (0,1), (1,1), (0,2), (1,2), (2,2)...
pub fn genotypes(n_alleles: usize) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for b in 0..n_alleles {
        for a in 0..=b {
            v.push((a, b));
        }
    }
    v
}

fn log10_sum(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (1.0 + 10f64.powf(lo - hi)).log10()
}

/// A read's place in a sample's read-backed phasing at a site: `None` when unphased, else
/// its component (reads linked through heterozygous neighbours, numbered from 0) and the
/// probability that it lies on that component's first haplotype.
pub type ReadPhase = Option<(u32, f64)>;

/// Genotype call of one sample from its reads' allele costs (`costs[r][allele]`);
/// `theta[k]` is the heterozygosity of allele `k` (index 0 unused); `star` is the index of
/// the `*` allele (another allele overlapping the site), if any. With `phase` (one entry per
/// read), a heterozygous genotype's likelihood is computed per phased component: the reads
/// of a component carry one allele on one haplotype and the other on the other, in one of
/// two ways, so a lone read on its haplotype counts for as much as the many on the other.
pub fn call_sample(
    costs: &[Vec<u32>],
    n_alleles: usize,
    theta: &[f64],
    star: Option<usize>,
    phase: Option<&[ReadPhase]>,
) -> SampleCall {
    let gts = genotypes(n_alleles);
    let mut gl = vec![0f64; gts.len()];
    let n_comp = phase.map_or(0, |p| {
        p.iter()
            .filter_map(|x| x.map(|(c, _)| c as usize + 1))
            .max()
            .unwrap_or(0)
    });
    // Per component, the two ways of putting the genotype's alleles on its two haplotypes.
    let mut x = vec![0f64; n_comp];
    let mut y = vec![0f64; n_comp];
    for (g, &(a, b)) in gts.iter().enumerate() {
        x.iter_mut().for_each(|v| *v = 0.0);
        y.iter_mut().for_each(|v| *v = 0.0);
        for (r, c) in costs.iter().enumerate() {
            let la = -(c[a] as f64) / 10.0;
            let lb = -(c[b] as f64) / 10.0;
            if a == b {
                gl[g] += la;
                continue;
            }
            match phase.and_then(|p| p[r]) {
                Some((comp, w)) => {
                    let (lw, lv) = (w.log10(), (1.0 - w).log10());
                    x[comp as usize] += log10_sum(lw + la, lv + lb);
                    y[comp as usize] += log10_sum(lw + lb, lv + la);
                }
                None => gl[g] += log10_sum(la, lb) - std::f64::consts::LOG10_2,
            }
        }
        if a != b {
            for (&xa, &ya) in x.iter().zip(&y) {
                gl[g] += log10_sum(xa, ya) - std::f64::consts::LOG10_2;
            }
        }
    }
    let max = gl.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pl: Vec<u32> = gl
        .iter()
        .map(|&l| ((max - l) * 10.0).round().min(99_999.0) as u32)
        .collect();
    if costs.is_empty() {
        return SampleCall {
            gt: None,
            gq: 0,
            pl: vec![0; gts.len()],
            log10_p_ref: 0.0,
        };
    }
    let prior = |a: usize, b: usize| -> f64 {
        match (a, b) {
            (0, 0) => {
                let t: f64 = theta[1..].iter().map(|t| 1.5 * t).sum();
                (1.0 - t).max(1e-9).log10()
            }
            (0, k) => theta[k].log10(),
            (j, k) if j == k => (theta[k] / 2.0).log10(),
            (j, k) => (theta[j] * theta[k]).log10(),
        }
    };
    let post: Vec<f64> = gts
        .iter()
        .zip(&gl)
        .map(|(&(a, b), &l)| l + prior(a, b))
        .collect();
    let total = post.iter().copied().fold(f64::NEG_INFINITY, log10_sum);
    let post: Vec<f64> = post.iter().map(|p| p - total).collect();
    let mut best = 0;
    for (g, &p) in post.iter().enumerate() {
        if p > post[best] {
            best = g;
        }
    }
    // 1 - P(best), from the others (accurate when P(best) is close to 1).
    let others = post
        .iter()
        .enumerate()
        .filter(|&(g, _)| g != best)
        .map(|(_, &p)| p)
        .fold(f64::NEG_INFINITY, log10_sum);
    let gq = if others == f64::NEG_INFINITY {
        99
    } else {
        (-10.0 * others).round().clamp(0.0, 99.0) as u32
    };
    let null = |a: usize| a == 0 || Some(a) == star;
    let log10_p_ref = gts
        .iter()
        .zip(&post)
        .filter(|(&(a, b), _)| null(a) && null(b))
        .map(|(_, &p)| p)
        .fold(f64::NEG_INFINITY, log10_sum);
    SampleCall {
        gt: Some(gts[best]),
        gq,
        pl,
        log10_p_ref,
    }
}

/// Site QUAL from the samples' posteriors of 0/0.
pub fn qual(calls: &[SampleCall]) -> f64 {
    let l: f64 = calls.iter().map(|c| c.log10_p_ref).sum();
    (-10.0 * l).clamp(0.0, 9999.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn het_and_hom() {
        let theta = [0.0, 1e-3];
        let het: Vec<Vec<u32>> = (0..20)
            .map(|i| if i % 2 == 0 { vec![0, 40] } else { vec![40, 0] })
            .collect();
        let c = call_sample(&het, 2, &theta, None, None);
        assert_eq!(c.gt, Some((0, 1)));
        assert_eq!(c.pl[1], 0);
        assert!(c.gq >= 90);
        let hom: Vec<Vec<u32>> = (0..10).map(|_| vec![40, 0]).collect();
        let c = call_sample(&hom, 2, &theta, None, None);
        assert_eq!(c.gt, Some((1, 1)));
        assert!(qual(&[c]) > 100.0);
        let reff: Vec<Vec<u32>> = (0..10).map(|_| vec![0, 40]).collect();
        assert_eq!(call_sample(&reff, 2, &theta, None, None).gt, Some((0, 0)));
        assert_eq!(
            genotypes(3),
            vec![(0, 0), (0, 1), (1, 1), (0, 2), (1, 2), (2, 2)]
        );
    }
}
