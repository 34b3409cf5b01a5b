//! Cost of differential privacy per training step: `cargo run --release --example
//! dp_step_time -- [rows] [steps] [batch] [threads] [autograd]`. Times the same model
//! with and without DP-SGD (both judging single rows, `pac` = 1) and prints the ratio;
//! a fifth argument 1 uses candle's autograd instead of hand-derived gradients.

use std::time::Instant;

mod common;

use sygnet_core::config::TrainConfig;
use sygnet_core::device::Device;
use sygnet_core::privacy::{Bound, Levels, PrivacyConfig};
use sygnet_core::rng::RandomSource;
use sygnet_core::schema::Table;
use sygnet_core::train::Trainer;

fn ms_per_step(
    table: &Table,
    config: TrainConfig,
    steps: usize,
    threads: usize,
    autograd: bool,
) -> f64 {
    let mut trainer =
        Trainer::new(table, config, RandomSource::Seed(1), threads, Device::Cpu).unwrap();
    if autograd {
        trainer.use_autograd().unwrap();
    }
    trainer.train(3).unwrap();
    let start = Instant::now();
    trainer.train(steps).unwrap();
    start.elapsed().as_secs_f64() * 1e3 / steps as f64
}

fn main() {
    let args = common::numeric_args();
    let rows = args.first().copied().unwrap_or(10_000);
    let steps = args.get(1).copied().unwrap_or(100);
    let batch = args.get(2).copied().unwrap_or(256);
    let threads = args.get(3).copied().unwrap_or(1);
    let autograd = args.get(4).copied().unwrap_or(0) == 1;
    let table = common::small_table(rows);
    let plain = TrainConfig {
        batch_size: batch,
        pac: 1,
        rejection: false,
        ..TrainConfig::default()
    };
    let bounds = (0..3)
        .map(|j| Bound {
            column: format!("x{j}"),
            lower: -10.0,
            upper: 10.0,
        })
        .collect();
    let private = TrainConfig {
        privacy: Some(PrivacyConfig {
            epsilon: 1.0,
            delta: 1e-5,
            max_grad_norm: 1.0,
            noise_multiplier: None,
            epochs: 1000,
            bounds,
            levels: [2usize, 4]
                .into_iter()
                .enumerate()
                .map(|(j, levels)| Levels {
                    column: format!("f{j}"),
                    levels: (0..levels).map(|l| format!("l{l}")).collect(),
                })
                .collect(),
            sample_rate: 0.0,
            max_steps: 0,
            steps_taken: 0,
            rows: None,
            marginal_share: 0.25,
            marginal_noise: None,
            moment_share: 0.0,
            moment_noise: None,
        }),
        ..plain.clone()
    };
    let a = ms_per_step(&table, plain, steps, threads, autograd);
    let b = ms_per_step(&table, private, steps, threads, autograd);
    println!(
        "rows {rows} batch {batch} threads {threads} autograd {autograd}: {a:.2} ms/step without DP, {b:.2} ms/step with DP-SGD, ratio {:.2}",
        b / a
    );
}
