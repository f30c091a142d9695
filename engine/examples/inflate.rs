//! The decompression floor for coverage benchmarks: inflates every BGZF block of a file with
//! kasane's reader (libdeflate, N threads) and does nothing else.
//!
//! cargo run --release --example inflate -- FILE [THREADS]

use std::path::PathBuf;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().ok_or("usage: inflate FILE [THREADS]")?);
    let threads: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()?,
    );
    let mut s = kasane::io::bgzf::BgzfStream::open(&path, 0, pool)?;
    let mut total = 0u64;
    while let Some(b) = s.next_batch()? {
        total += b.data.len() as u64;
        s.give_back(b.data);
    }
    println!("{total} bytes inflated");
    Ok(())
}
