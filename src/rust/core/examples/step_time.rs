//! Times training steps on generated mixed data: `cargo run --release --example
//! step_time -- [rows] [steps] [batch] [threads] [autograd]`. Prints milliseconds per
//! step; a fifth argument 1 uses candle's autograd instead of hand-derived gradients.
//! With the hand-derived engine it also prints the gemm-only time: the matrix products
//! of one step, recorded and run alone on one thread, the floor of a step's time.

use std::time::Instant;

mod common;

use sygnet_core::config::TrainConfig;
use sygnet_core::cpu_step::products;
use sygnet_core::device::Device;
use sygnet_core::rng::RandomSource;
use sygnet_core::train::Trainer;

fn main() {
    let args = common::numeric_args();
    let rows = args.first().copied().unwrap_or(7425);
    let steps = args.get(1).copied().unwrap_or(200);
    let batch = args.get(2).copied().unwrap_or(500);
    let threads = args.get(3).copied().unwrap_or(1);
    let autograd = args.get(4).copied().unwrap_or(0) == 1;
    let table = common::small_table(rows);
    let config = TrainConfig {
        batch_size: batch,
        ..TrainConfig::default()
    };
    let start = Instant::now();
    let mut trainer =
        Trainer::new(&table, config, RandomSource::Seed(1), threads, Device::Cpu).unwrap();
    if autograd {
        trainer.use_autograd().unwrap();
    }
    let setup = start.elapsed();
    trainer.train(5).unwrap();
    let start = Instant::now();
    trainer.train(steps).unwrap();
    let per_step = start.elapsed().as_secs_f64() * 1e3 / steps as f64;
    println!(
        "rows {rows} batch {batch} threads {threads} autograd {autograd}: setup {:.2} s, {per_step:.2} ms/step",
        setup.as_secs_f64()
    );
    if !autograd {
        let (_, step) = products::record(|| trainer.train(1).unwrap());
        let gemm_ms = products::replay(&step, 20).as_secs_f64() * 1e3;
        let gflop: f64 = step.iter().map(|p| p.flops()).sum::<f64>() / 1e9;
        println!(
            "gemm-only: {} products, {gflop:.3} GFLOP, {gemm_ms:.2} ms on one thread \
             ({:.0} GFLOP/s); step / gemm-only = {:.2} on one thread, {:.2} against the \
             gemm-only time divided by {threads} thread(s)",
            step.len(),
            gflop / gemm_ms * 1e3,
            per_step / gemm_ms,
            per_step / (gemm_ms / threads as f64)
        );
    }
}
