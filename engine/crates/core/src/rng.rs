//! The one test random generator: xorshift64, so generated inputs (and the calls tests assert
//! on them) are the same on every machine and never drift. Unit tests, integration tests
//! (`engine/tests/common` re-exports it) and benches use this one; it is not for statistics.

/// xorshift64 (13, 7, 17). The state must not be 0.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    // Not an Iterator: it never ends, and every seeded test calls `next()` for a bare u64.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A number in [0, 1) (53 random bits).
    pub fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A random ACGT sequence.
    pub fn seq(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| b"ACGT"[self.below(4) as usize]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn sequence_is_xorshift64() {
        // The first outputs from state 1, as every seeded test's inputs depend on them.
        let mut r = Rng(1);
        let got: Vec<u64> = (0..3).map(|_| r.next()).collect();
        assert_eq!(got, [1082269761, 1152992998833853505, 11177516664432764457]);
        assert_eq!(Rng(7).below(0), 0);
    }
}
