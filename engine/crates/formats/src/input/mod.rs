//! The one way in for every analysis: thread pools, the contigs a run covers, sample names
//! and (later) the reading of alignment files itself.
//!
//! This module depends only on `io`, `error`, `shard`, `threads` and `progress`, never on an
//! analysis, so that it can move into a formats-and-input crate.

use std::sync::Arc;

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
