//! The matrix products of training steps, recorded so that they can be timed alone: the
//! gemm-only time of a step is the floor its own time is measured against
//! (`examples/step_time.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ndarray::{Array2, ShapeBuilder};

static RECORDING: AtomicBool = AtomicBool::new(false);
static RECORDED: Mutex<Vec<Product>> = Mutex::new(Vec::new());

/// One product `c (+)= a b` of an `m x k` and a `k x n` matrix, with each operand's
/// layout (column-major when `true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_columns: bool,
    pub b_columns: bool,
    pub c_columns: bool,
    pub accumulate: bool,
}

impl Product {
    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k) as f64
    }

    /// Shape and layouts: products with the same key can share operands.
    fn operands_key(&self) -> (usize, usize, usize, bool, bool, bool) {
        (
            self.m,
            self.n,
            self.k,
            self.a_columns,
            self.b_columns,
            self.c_columns,
        )
    }
}

/// Runs `f`, returning what it returns and the matrix products run meanwhile (on any
/// thread). Not for concurrent use by several callers.
pub fn record<R>(f: impl FnOnce() -> R) -> (R, Vec<Product>) {
    RECORDED.lock().expect("recorded products").clear();
    RECORDING.store(true, Ordering::SeqCst);
    let out = f();
    RECORDING.store(false, Ordering::SeqCst);
    let products = std::mem::take(&mut *RECORDED.lock().expect("recorded products"));
    (out, products)
}

pub(super) fn note(product: Product) {
    if RECORDING.load(Ordering::Relaxed) {
        RECORDED.lock().expect("recorded products").push(product);
    }
}

/// Time of the products run one after another on one thread, `repeats` times, divided
/// by `repeats`. Products of one shape and layout share their operands, as a step's
/// shards share the weights and reuse their buffers.
pub fn replay(products: &[Product], repeats: usize) -> Duration {
    let matrix = |rows: usize, cols: usize, columns: bool| {
        Array2::from_elem((rows, cols).set_f(columns), 0.5f32)
    };
    let mut operands = HashMap::new();
    for p in products {
        operands.entry(p.operands_key()).or_insert_with(|| {
            (
                matrix(p.m, p.k, p.a_columns),
                matrix(p.k, p.n, p.b_columns),
                matrix(p.m, p.n, p.c_columns),
            )
        });
    }
    let start = Instant::now();
    for _ in 0..repeats.max(1) {
        for p in products {
            let (a, b, c) = operands
                .get_mut(&p.operands_key())
                .expect("operands of every product");
            super::gemm_into(a, b, c, p.accumulate);
        }
    }
    start.elapsed() / repeats.max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_products_run_inside_and_replays_them() {
        let a = Array2::from_elem((3, 4), 1.0f32);
        let b = Array2::from_elem((4, 2).f(), 2.0f32);
        let mut c = Array2::zeros((3, 2));
        let ((), recorded) = record(|| super::super::matmul(&a, &b, &mut c, false));
        assert!(c.iter().all(|&x| x == 8.0));
        // Other tests may run products meanwhile, on other threads.
        let ours = Product {
            m: 3,
            n: 2,
            k: 4,
            a_columns: false,
            b_columns: true,
            c_columns: false,
            accumulate: false,
        };
        assert!(recorded.contains(&ours), "{recorded:?}");
        assert_eq!(ours.flops(), 48.0);
        assert!(replay(&[ours], 3) > Duration::ZERO);
    }
}
