//! Thread pools: every parallel part of the engine runs on a pool made here.

use std::sync::atomic::{AtomicBool, Ordering};

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

/// Runs `work` on `pool` while up to `waiting` of the pool's other threads look for
/// its jobs without going to sleep, for loops of many short parallel sections such as
/// training steps: waking a sleeping thread can cost tens of microseconds (more in
/// virtual machines), a large part of a section that lasts a millisecond. The waiting
/// threads yield to the operating system whenever they find no job.
pub fn install_busy<R: Send>(
    pool: &rayon::ThreadPool,
    waiting: usize,
    work: impl FnOnce() -> R + Send,
) -> R {
    pool.install(|| {
        let done = AtomicBool::new(false);
        let owner = rayon::current_thread_index();
        rayon::scope(|scope| {
            for _ in 0..waiting.min(rayon::current_num_threads() - 1) {
                // A helper that lands on `work`'s own thread (taken while `work` waits
                // for a job) returns at once, or it would wait for itself.
                scope.spawn(|_| {
                    if rayon::current_thread_index() == owner {
                        return;
                    }
                    while !done.load(Ordering::Acquire) {
                        if rayon::yield_now() != Some(rayon::Yield::Executed) {
                            std::thread::yield_now();
                        }
                    }
                });
            }
            let _finish = Finish(&done);
            work()
        })
    })
}

/// Sets its flag when dropped, also when `work` panics.
struct Finish<'a>(&'a AtomicBool);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use rayon::prelude::*;

    use super::*;

    #[test]
    fn busy_install_runs_the_work_and_its_jobs_on_any_number_of_threads() {
        for threads in [1, 2, 3] {
            let pool = thread_pool(threads).unwrap();
            let sums = install_busy(&pool, threads, || {
                (0..50)
                    .map(|k| (0..1000u64).into_par_iter().map(|i| i * k).sum::<u64>())
                    .collect::<Vec<_>>()
            });
            assert_eq!(sums[7], 7 * 999 * 1000 / 2, "{threads} threads");
            assert_eq!(pool.install(rayon::current_num_threads), threads);
        }
    }

    #[test]
    fn busy_install_lets_the_waiting_threads_go_when_the_work_panics() {
        let pool = thread_pool(2).unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            install_busy(&pool, 1, || -> u32 { panic!("stop") })
        }));
        assert!(caught.is_err());
        assert_eq!(install_busy(&pool, 1, || 1 + 1), 2);
    }
}
