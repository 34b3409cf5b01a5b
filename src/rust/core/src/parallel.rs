//! Thread pools: every parallel part of the engine runs on a pool made here.

use crate::error::{Error, Result};

/// Blocks of rows (or coordinates) whose random draws are made in parallel, each from its
/// own stream; fixed, so that the draws do not depend on the number of threads.
pub const DRAW_CHUNKS: usize = 8;

/// A private pool, so no global thread pool is ever started (forked R workers would
/// inherit it without its threads and deadlock).
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::Config(format!("cannot start {threads} threads: {e}")))
}
