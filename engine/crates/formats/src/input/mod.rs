//! The one way in for every analysis, in the order a run uses it:
//! 1. [`pool`]: the thread pool that inflates and decodes;
//! 2. [`open_all`]: each input opened once, its header checked against the reference, its
//!    sample named by one rule ([`unique_names`]);
//! 3. [`Plan`]: whole genome, `--shard i/N`, contigs, `-r` or `-R` as contig stretches;
//! 4. [`Input::read`]: seek per contig, check order, hand records to the analysis's [`Sink`].
//!
//! This module depends only on `io`, `error`, `shard`, `threads` and `progress`, never on an
//! analysis.

pub mod plan;
pub mod source;

use std::sync::Arc;

pub use plan::{Plan, Selection};
pub use source::{open_all, require_same_contigs, unique_names, Input, Reach, Sink, Tee};

use crate::error::{Error, Result};

/// A rayon pool of `threads` workers (at most the machine's CPUs, see [`crate::threads::cap`];
/// at least one), named `kasane-{name}-{i}` so that a stack dump says which stage a thread
/// belongs to. A worker's panic ends the process with one line ([`crate::threads::worker_panicked`]).
pub fn pool(threads: usize, name: &'static str) -> Result<Arc<rayon::ThreadPool>> {
    let n = crate::threads::cap(threads).max(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(move |i| format!("kasane-{name}-{i}"))
        .panic_handler(crate::threads::worker_panicked)
        .build()
        .map(Arc::new)
        .map_err(|e| Error::Usage(format!("cannot start {n} threads: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_has_at_least_one_named_thread() {
        let p = pool(0, "test").unwrap();
        assert_eq!(p.current_num_threads(), 1);
        let name = p.install(|| std::thread::current().name().map(str::to_string));
        assert_eq!(name.as_deref(), Some("kasane-test-0"));
    }
}
