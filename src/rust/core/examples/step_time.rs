//! Times training steps on generated mixed data: `cargo run --release --example
//! step_time -- [rows] [steps] [batch] [threads] [autograd]`. Prints milliseconds per
//! step; a fifth argument 1 uses candle's autograd instead of hand-derived gradients.

use std::time::Instant;

use sygnet_core::device::Device;
use sygnet_core::rng::SeededRng;
use sygnet_core::schema::{Column, Kind, Table, Values};
use sygnet_core::train::{TrainConfig, Trainer};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let rows = args.first().copied().unwrap_or(7425);
    let steps = args.get(1).copied().unwrap_or(200);
    let batch = args.get(2).copied().unwrap_or(500);
    let threads = args.get(3).copied().unwrap_or(1);
    let autograd = args.get(4).copied().unwrap_or(0) == 1;
    let mut rng = SeededRng::new(1);
    let mut columns = Vec::new();
    for j in 0..3 {
        let x = rng
            .normal_vec(rows)
            .into_iter()
            .map(|v| f64::from(v) * (j + 1) as f64)
            .collect();
        columns.push(Column::new(format!("x{j}"), Kind::Double, Values::Real(x)).unwrap());
    }
    for (j, levels) in [2usize, 4].into_iter().enumerate() {
        let codes = (0..rows).map(|_| Some(rng.below(levels) as u32)).collect();
        let kind = Kind::Factor {
            levels: (0..levels).map(|l| format!("l{l}")).collect(),
            ordered: false,
        };
        columns.push(Column::new(format!("f{j}"), kind, Values::Code(codes)).unwrap());
    }
    let table = Table::new(columns, rows).unwrap();
    let config = TrainConfig {
        batch_size: batch,
        ..TrainConfig::default()
    };
    let start = Instant::now();
    let mut trainer = Trainer::new(&table, config, 1, threads, Device::Cpu).unwrap();
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
