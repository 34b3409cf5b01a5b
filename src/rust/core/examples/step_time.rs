//! Times training steps on generated mixed data: `cargo run --release --example
//! step_time -- [rows] [steps] [batch] [threads] [autograd]`. Prints milliseconds per
//! step; a fifth argument 1 uses candle's autograd instead of hand-derived gradients.

use std::time::Instant;

mod common;

use sygnet_core::config::TrainConfig;
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
}
