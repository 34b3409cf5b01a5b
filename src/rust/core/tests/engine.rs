//! End-to-end checks of the engine: learning a dependence, reproducibility, model files.

use sygnet_core::config::TrainConfig;
use sygnet_core::device::Device;
use sygnet_core::model::Model;
use sygnet_core::rng::{RandomSource, SeededRng};
use sygnet_core::sample::synthesize;
use sygnet_core::schema::{Column, Kind, Table, Values};
use sygnet_core::train::Trainer;

/// y = 2x + small noise, and a factor that is the sign of x.
fn dependent_table(n: usize) -> Table {
    let mut rng = SeededRng::new(1);
    let x: Vec<f64> = rng.normal_vec(n).into_iter().map(f64::from).collect();
    let noise = rng.normal_vec(n);
    let y: Vec<f64> = x
        .iter()
        .zip(&noise)
        .map(|(a, e)| 2.0 * a + 0.1 * f64::from(*e))
        .collect();
    let sign = x.iter().map(|&v| Some(u32::from(v > 0.0))).collect();
    let kind = Kind::Factor {
        levels: vec!["neg".into(), "pos".into()],
        ordered: false,
    };
    Table::new(
        vec![
            Column::new("x", Kind::Double, Values::Real(x)).unwrap(),
            Column::new("y", Kind::Double, Values::Real(y)).unwrap(),
            Column::new("sign", kind, Values::Code(sign)).unwrap(),
        ],
        n,
    )
    .unwrap()
}

fn small_config() -> TrainConfig {
    TrainConfig {
        batch_size: 200,
        noise_dim: 16,
        generator: vec![64, 64],
        critic: vec![64, 64],
        pac: 5,
        ..TrainConfig::default()
    }
}

fn reals(t: &Table, i: usize) -> &[f64] {
    match &t.columns()[i].values {
        Values::Real(v) => v,
        _ => panic!("not real"),
    }
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Share of rows whose factor agrees with the sign of x.
fn sign_agreement(t: &Table) -> f64 {
    let x = reals(t, 0);
    let Values::Code(s) = &t.columns()[2].values else {
        panic!()
    };
    x.iter()
        .zip(s)
        .filter(|(v, c)| (**v > 0.0) == (c.unwrap_or(0) == 1))
        .count() as f64
        / x.len() as f64
}

#[test]
fn training_learns_a_dependence_that_an_untrained_model_lacks() {
    let table = dependent_table(2000);
    let mut trainer = Trainer::new(
        &table,
        small_config(),
        RandomSource::Seed(3),
        1,
        Device::Cpu,
    )
    .unwrap();
    let untrained = trainer.model().unwrap();
    let before = synthesize(&untrained, 2000, None, 9, 1, &Device::Cpu).unwrap();
    trainer.train(150 * trainer.steps_per_epoch()).unwrap();
    let trained = trainer.model().unwrap();
    let after = synthesize(&trained, 2000, None, 9, 1, &Device::Cpu).unwrap();

    let r_before = correlation(reals(&before, 0), reals(&before, 1));
    let r_after = correlation(reals(&after, 0), reals(&after, 1));
    assert!(r_after > 0.8, "trained correlation {r_after}");
    assert!(r_before < 0.5, "untrained correlation {r_before}");
    let agree_after = sign_agreement(&after);
    assert!(agree_after > 0.8, "trained sign agreement {agree_after}");
    assert!(sign_agreement(&before) < 0.7);
}

#[test]
fn model_bytes_round_trip_and_same_seed_gives_same_sample() {
    let table = dependent_table(300);
    let mut trainer = Trainer::new(
        &table,
        small_config(),
        RandomSource::Seed(5),
        1,
        Device::Cpu,
    )
    .unwrap();
    trainer.train(5).unwrap();
    let model = trainer.model().unwrap();
    let bytes = model.to_bytes().unwrap();
    let again = Model::from_bytes(&bytes, &Device::Cpu).unwrap();
    assert!(
        again.to_bytes().unwrap() == bytes,
        "re-serialised bytes differ"
    );
    let a = synthesize(&model, 100, None, 1, 1, &Device::Cpu).unwrap();
    let b = synthesize(&again, 100, None, 1, 1, &Device::Cpu).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert!(Model::from_bytes(&bytes[..bytes.len() / 2], &Device::Cpu).is_err());
    assert!(Model::from_bytes(b"not a model", &Device::Cpu).is_err());
}

#[test]
fn same_seed_same_training_and_different_seed_differs() {
    let table = dependent_table(300);
    let run = |seed| {
        let mut t = Trainer::new(
            &table,
            small_config(),
            RandomSource::Seed(seed),
            1,
            Device::Cpu,
        )
        .unwrap();
        let losses = t.train(4).unwrap();
        (losses, t.model().unwrap().to_bytes().unwrap())
    };
    assert!(run(8) == run(8), "same seed, different training");
    assert!(run(8).1 != run(9).1, "different seeds, same model");
}

#[test]
fn training_gives_the_same_model_on_one_two_or_four_threads() {
    let table = dependent_table(300);
    let run = |threads| {
        let mut trainer = Trainer::new(
            &table,
            small_config(),
            RandomSource::Seed(9),
            threads,
            Device::Cpu,
        )
        .unwrap();
        trainer.train(10).unwrap();
        trainer.model().unwrap().to_bytes().unwrap()
    };
    let one = run(1);
    assert!(one == run(2), "one and two threads differ");
    assert!(one == run(4), "one and four threads differ");
}

#[test]
fn training_in_one_call_or_in_several_gives_the_same_model() {
    let table = dependent_table(300);
    let run = |calls: &[usize]| {
        let mut trainer = Trainer::new(
            &table,
            small_config(),
            RandomSource::Seed(5),
            2,
            Device::Cpu,
        )
        .unwrap();
        for &steps in calls {
            trainer.train(steps).unwrap();
        }
        trainer.model().unwrap().to_bytes().unwrap()
    };
    let whole = run(&[6]);
    assert!(whole == run(&[1, 2, 3]), "six steps in three calls differ");
    assert!(whole != run(&[5]), "five steps give the model of six");
}
