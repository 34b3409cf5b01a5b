//! Times generation: `cargo run --release --example generate -- [rows] [columns] [reps]
//! [threads...]`. Fits the default model (two steps of training) on a mixed table and
//! prints rows/s of `synthesize` (median of `reps` runs; 1 and 2 threads unless given)
//! and a checksum of the output, which must not depend on the thread count.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

mod common;

use sygnet_core::config::TrainConfig;
use sygnet_core::device::Device;
use sygnet_core::rng::{RandomSource, SeededRng};
use sygnet_core::sample::synthesize;
use sygnet_core::schema::{Column, Kind, Table, Values};
use sygnet_core::train::Trainer;

/// Column `j` of a mixed table: numeric (skewed, bimodal, rounded, with and without
/// missing values), integer, factors and logicals, in a cycle of ten.
fn column(j: usize, rows: usize, rng: &mut SeededRng) -> Column {
    let normal: Vec<f64> = rng.normal_vec(rows).into_iter().map(f64::from).collect();
    let name = format!("c{j}");
    let missing = |i: usize, every: usize| i % every == every / 2;
    match j % 10 {
        0 => {
            let x = normal.iter().map(|v| (v * 0.8).exp() * 1000.0).collect();
            Column::new(name, Kind::Double, Values::Real(x))
        }
        1 => {
            let x = normal
                .iter()
                .enumerate()
                .map(|(i, v)| if i % 3 == 0 { v - 4.0 } else { 2.0 * v + 5.0 })
                .collect();
            Column::new(name, Kind::Double, Values::Real(x))
        }
        2 => {
            let x = normal
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if missing(i, 10) {
                        f64::NAN
                    } else {
                        (v * 100.0).round() / 100.0
                    }
                })
                .collect();
            Column::new(name, Kind::Double, Values::Real(x))
        }
        3 => {
            let x = normal
                .iter()
                .map(|v| Some((v.abs() * 3.0) as i32))
                .collect();
            Column::new(name, Kind::Integer, Values::Integer(x))
        }
        4 => {
            let x = normal
                .iter()
                .enumerate()
                .map(|(i, v)| (!missing(i, 20)).then_some(18 + (v.abs() * 20.0) as i32))
                .collect();
            Column::new(name, Kind::Integer, Values::Integer(x))
        }
        5..=7 => {
            let levels = [5, 8, 14][j % 10 - 5];
            let kind = Kind::Factor {
                levels: (0..levels).map(|l| format!("l{l}")).collect(),
                ordered: false,
            };
            let codes = (0..rows)
                .map(|i| {
                    let level = rng.below(levels).min(rng.below(levels));
                    (!(j % 10 == 7 && missing(i, 15))).then_some(level as u32)
                })
                .collect();
            Column::new(name, kind, Values::Code(codes))
        }
        _ => {
            let x = normal
                .iter()
                .enumerate()
                .map(|(i, v)| (!(j % 10 == 9 && missing(i, 12))).then_some(*v > 0.3))
                .collect();
            Column::new(name, Kind::Logical, Values::Logical(x))
        }
    }
    .unwrap()
}

fn checksum(t: &Table) -> u64 {
    let mut h = DefaultHasher::new();
    for c in t.columns() {
        match &c.values {
            Values::Real(x) => x.iter().for_each(|v| v.to_bits().hash(&mut h)),
            Values::Integer(x) => x.hash(&mut h),
            Values::Logical(x) => x.hash(&mut h),
            Values::Code(x) => x.hash(&mut h),
        }
    }
    h.finish()
}

fn main() {
    let args = common::numeric_args();
    let rows = args.first().copied().unwrap_or(1_000_000);
    let n_cols = args.get(1).copied().unwrap_or(20);
    let reps = args.get(2).copied().unwrap_or(3);
    let threads = match args.get(3..) {
        Some(t) if !t.is_empty() => t.to_vec(),
        _ => vec![1, 2],
    };
    let train_rows = 5000;
    let mut rng = SeededRng::new(1);
    let columns = (0..n_cols)
        .map(|j| column(j, train_rows, &mut rng))
        .collect();
    let table = Table::new(columns, train_rows).unwrap();
    let mut trainer = Trainer::new(
        &table,
        TrainConfig::default(),
        RandomSource::Seed(1),
        1,
        Device::Cpu,
    )
    .unwrap();
    trainer.train(2).unwrap();
    let model = trainer.model().unwrap();
    println!(
        "{n_cols} columns, encoded width {}, {rows} rows",
        model.encoder.width()
    );
    for threads in threads {
        let mut times = Vec::new();
        let mut sum = 0;
        for _ in 0..reps {
            let start = Instant::now();
            let out = synthesize(&model, rows, None, 7, threads, &Device::Cpu).unwrap();
            times.push(start.elapsed().as_secs_f64());
            sum = checksum(&out);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "threads {threads}: {:.0} rows/s (median {median:.3} s), checksum {sum:016x}",
            rows as f64 / median
        );
    }
}
