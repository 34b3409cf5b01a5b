//! The machine's ceiling for single-precision arithmetic: `cargo run --release --example
//! fma_peak -- [threads] [seconds]`. Runs independent chains of fused multiply-adds in
//! the widest vectors the CPU has (AVX-512 or AVX2 on x86-64), on one thread alone and
//! then on `threads` threads at once (default 2), and prints GFLOP/s per thread and the
//! speed-up of all threads over one: no matrix product or training step can beat these
//! figures, and the speed-up bounds what more threads can give compute-bound work.

use std::time::Instant;

mod common;

/// Independent chains: enough to hide the latency of a multiply-add.
const CHAINS: usize = 12;
const ROUNDS_PER_CHECK: usize = 1 << 16;

/// Multiply-add rounds for about `seconds`; returns GFLOP/s and a value that depends
/// on every round, so that the work cannot be skipped.
fn run(seconds: f64) -> (f64, f32) {
    let (scale, shift) = (std::hint::black_box(0.5f32), std::hint::black_box(1e-3f32));
    let start = Instant::now();
    let (mut flops, mut check) = (0.0, 0.0);
    while start.elapsed().as_secs_f64() < seconds {
        let (lanes, value) = multiply_add(check, scale, shift);
        flops += (ROUNDS_PER_CHECK * CHAINS * lanes * 2) as f64;
        check = value;
    }
    (flops / start.elapsed().as_secs_f64() / 1e9, check)
}

/// [`ROUNDS_PER_CHECK`] rounds on every chain from `seed`; returns the lanes per chain
/// and the chains' mean.
fn multiply_add(seed: f32, scale: f32, shift: f32) -> (usize, f32) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512 (checked just above).
            return (16, unsafe { x86::rounds_avx512(seed, scale, shift) });
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return (8, unsafe { x86::rounds_avx2(seed, scale, shift) });
        }
    }
    let mut chains = [seed; CHAINS];
    for _ in 0..ROUNDS_PER_CHECK {
        chains.iter_mut().for_each(|x| *x = x.mul_add(scale, shift));
    }
    (1, chains.iter().sum::<f32>() / CHAINS as f32)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{CHAINS, ROUNDS_PER_CHECK};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub fn rounds_avx512(seed: f32, scale: f32, shift: f32) -> f32 {
        let (s, t) = (_mm512_set1_ps(scale), _mm512_set1_ps(shift));
        let mut chains = [_mm512_set1_ps(seed); CHAINS];
        for _ in 0..ROUNDS_PER_CHECK {
            for x in &mut chains {
                *x = _mm512_fmadd_ps(*x, s, t);
            }
        }
        chains.iter().map(|&x| _mm512_reduce_add_ps(x)).sum::<f32>() / (16 * CHAINS) as f32
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn rounds_avx2(seed: f32, scale: f32, shift: f32) -> f32 {
        let (s, t) = (_mm256_set1_ps(scale), _mm256_set1_ps(shift));
        let mut chains = [_mm256_set1_ps(seed); CHAINS];
        for _ in 0..ROUNDS_PER_CHECK {
            for x in &mut chains {
                *x = _mm256_fmadd_ps(*x, s, t);
            }
        }
        let mut lanes = [0.0f32; 8];
        let mut total = 0.0;
        for x in chains {
            // SAFETY: `lanes` holds the eight values an unaligned store writes.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), x) };
            total += lanes.iter().sum::<f32>();
        }
        total / (8 * CHAINS) as f32
    }
}

fn main() {
    let args = common::numeric_args();
    let threads = args.first().copied().unwrap_or(2).max(1);
    let seconds = args.get(1).copied().unwrap_or(2) as f64;
    let (alone, check) = run(seconds);
    println!("1 thread alone: {alone:.1} GFLOP/s (check {check:.4})");
    let together: Vec<(f64, f32)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(|| run(seconds))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let each: Vec<String> = together.iter().map(|(g, _)| format!("{g:.1}")).collect();
    let total: f64 = together.iter().map(|(g, _)| g).sum();
    println!(
        "{threads} threads at once: {} GFLOP/s each; {:.2}x one thread alone",
        each.join(", "),
        total / alone
    );
}
