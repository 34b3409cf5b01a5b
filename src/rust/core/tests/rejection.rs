//! The rejection sampler: it moves draws towards the training data's joint structure,
//! is reproducible, survives the model file, and is refused or dropped where it would
//! be wrong.

mod common;

use candle_core::Device;
use sygnet_core::config::TrainConfig;
use sygnet_core::model::Model;
use sygnet_core::rng::{RandomSource, SeededRng};
use sygnet_core::sample::synthesize;
use sygnet_core::schema::{Column, Kind, Table, Values};
use sygnet_core::train::Trainer;

/// y follows x closely (correlation about 0.95).
fn correlated(n: usize) -> Table {
    let mut rng = SeededRng::new(11);
    let x: Vec<f64> = rng.normal_vec(n).into_iter().map(f64::from).collect();
    let e = rng.normal_vec(n);
    let y = x
        .iter()
        .zip(&e)
        .map(|(x, e)| x + 0.3 * f64::from(*e))
        .collect();
    Table::new(
        vec![
            Column::new("x", Kind::Double, Values::Real(x)).unwrap(),
            Column::new("y", Kind::Double, Values::Real(y)).unwrap(),
        ],
        n,
    )
    .unwrap()
}

fn reals(table: &Table, j: usize) -> Vec<f64> {
    match &table.columns()[j].values {
        Values::Real(v) => v.clone(),
        _ => panic!("column {j} is not numeric"),
    }
}

fn correlation(table: &Table) -> f64 {
    let (x, y) = (reals(table, 0), reals(table, 1));
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

/// A generator trained for only a few steps (far from the data), with its rejection
/// sampler.
fn briefly_trained(table: &Table, steps: usize) -> Model {
    let mut trainer =
        Trainer::new(table, common::base(), RandomSource::Seed(5), 2, Device::Cpu).unwrap();
    trainer.train(steps).unwrap();
    trainer.fit_rejection().unwrap();
    trainer.model().unwrap()
}

#[test]
fn screening_moves_draws_towards_the_real_joint_distribution() {
    let table = correlated(3000);
    let real = correlation(&table);
    let model = briefly_trained(&table, 20);
    let spec = model
        .rejection
        .clone()
        .expect("a rejection sampler was fitted");
    assert!(spec.acceptance > 0.0 && spec.acceptance <= 1.0);
    let screened = synthesize(&model, 4000, None, 3, 2, &Device::Cpu).unwrap();
    let mut plain_model = Model::from_bytes(&model.to_bytes().unwrap(), &Device::Cpu).unwrap();
    plain_model.rejection = None;
    let plain = synthesize(&plain_model, 4000, None, 3, 2, &Device::Cpu).unwrap();
    let mut untilted = Model::from_bytes(&model.to_bytes().unwrap(), &Device::Cpu).unwrap();
    untilted.rejection.as_mut().unwrap().tilt = None;
    let classifiers_only = synthesize(&untilted, 4000, None, 3, 2, &Device::Cpu).unwrap();
    let (s, p, c) = (
        correlation(&screened),
        correlation(&plain),
        correlation(&classifiers_only),
    );
    // The untrained generator misses the correlation by a wide margin; screening
    // closes most of that gap, and the tilt to the real second moments nearly all of it.
    assert!((p - real).abs() > 0.3, "real {real}, plain {p}");
    assert!(
        (c - real).abs() < 0.5 * (p - real).abs(),
        "real {real}, classifiers {c}, plain {p}"
    );
    assert!(spec.tilt.is_some());
    assert!(
        (s - real).abs() < 0.03 && (s - real).abs() < (c - real).abs(),
        "real {real}, tilted {s}, classifiers {c}"
    );
}

#[test]
fn screened_draws_depend_on_the_seed_not_on_threads_and_survive_the_model_file() {
    let table = common::mixed_table(400);
    let mut trainer = Trainer::new(
        &table,
        common::base(),
        RandomSource::Seed(2),
        1,
        Device::Cpu,
    )
    .unwrap();
    trainer.train(5).unwrap();
    trainer.fit_rejection().unwrap();
    let model = trainer.model().unwrap();
    let bytes = model.to_bytes().unwrap();
    let reread = Model::from_bytes(&bytes, &Device::Cpu).unwrap();
    assert_eq!(reread.rejection, model.rejection);
    let n = 1500;
    // Compared as text, where missing values (NaN) are equal.
    let draw = |m: &Model, seed, threads| {
        format!(
            "{:?}",
            synthesize(m, n, None, seed, threads, &Device::Cpu).unwrap()
        )
    };
    let one = draw(&reread, 8, 1);
    let again = Model::from_bytes(&bytes, &Device::Cpu).unwrap();
    assert!(one == draw(&again, 8, 2));
    assert!(one != draw(&reread, 9, 1));
    // Training further discards the sampler fitted to the old generator.
    trainer.train(1).unwrap();
    assert!(trainer.model().unwrap().rejection.is_none());
}

#[test]
fn private_fits_refuse_the_rejection_sampler() {
    let private = common::private();
    assert!(!private.rejection);
    assert!(private.check().is_ok());
    let asked = TrainConfig {
        rejection: true,
        ..private
    };
    let err = asked.check().unwrap_err().to_string();
    assert!(err.contains("rejection"), "{err}");
}
