//! Differentially private training: the budget, and that nothing but the schema and the
//! declared bounds shapes the encoding.

use sygnet_core::config::TrainConfig;
use sygnet_core::device::Device;
use sygnet_core::encoding::EncoderOptions;
use sygnet_core::privacy::{accountant, marginals, Bound, Levels, PrivacyConfig};
use sygnet_core::rng::{PrivacyRng, RandomSource, SeededRng};
use sygnet_core::sample;
use sygnet_core::schema::{Column, Kind, Table, Values};
use sygnet_core::train::Trainer;

fn table(n: usize, seed: u64) -> Table {
    let mut rng = SeededRng::new(seed);
    let x: Vec<f64> = rng
        .normal_vec(n)
        .into_iter()
        .map(|v| 3.0 * f64::from(v))
        .collect();
    let codes = (0..n)
        .map(|i| (i % 7 != 0).then(|| rng.below(2) as u32))
        .collect();
    let kind = Kind::Factor {
        levels: vec!["a".into(), "b".into(), "never seen".into()],
        ordered: false,
    };
    Table::new(
        vec![
            Column::new("x", Kind::Double, Values::Real(x)).unwrap(),
            Column::new("f", kind, Values::Code(codes)).unwrap(),
        ],
        n,
    )
    .unwrap()
}

fn privacy(epsilon: f64, epochs: usize) -> PrivacyConfig {
    PrivacyConfig {
        epsilon,
        delta: 1e-5,
        max_grad_norm: 1.0,
        noise_multiplier: None,
        epochs,
        bounds: vec![Bound {
            column: "x".into(),
            lower: -5.0,
            upper: 5.0,
        }],
        levels: vec![Levels {
            column: "f".into(),
            levels: vec!["a".into(), "b".into(), "never seen".into()],
        }],
        sample_rate: 0.0,
        max_steps: 0,
        steps_taken: 0,
        rows: None,
        marginal_share: 0.25,
        marginal_noise: None,
        moment_share: 0.0,
        moment_noise: None,
    }
}

fn config(epsilon: f64, epochs: usize) -> TrainConfig {
    TrainConfig {
        batch_size: 50,
        noise_dim: 8,
        generator: vec![16],
        critic: vec![16],
        pac: 1,
        critic_steps: 2,
        privacy: Some(privacy(epsilon, epochs)),
        rejection: false,
        ..TrainConfig::default()
    }
}

#[test]
fn the_public_encoding_depends_on_the_schema_only() {
    let options = EncoderOptions::default();
    let a = privacy(1.0, 1)
        .public_encoder(&table(300, 1), &options, None)
        .unwrap();
    let b = privacy(1.0, 1)
        .public_encoder(&table(300, 2), &options, None)
        .unwrap();
    assert_eq!(a, b);
    // every column has a missing slot; the factor keeps its unused level
    assert!(a.columns.iter().all(|c| c.missing));
    assert_eq!(a.width(), 1 + 2 + 3 + 1);
}

#[test]
fn training_spends_the_budget_and_no_more() {
    let data = table(200, 3);
    let mut trainer =
        Trainer::new(&data, config(2.0, 3), RandomSource::Seed(7), 1, Device::Cpu).unwrap();
    let steps = 3 * trainer.steps_per_epoch();
    trainer.train(steps).unwrap();
    let spent = trainer.epsilon_spent().unwrap().unwrap();
    assert!(spent <= 2.0 && spent > 1.99, "spent {spent}");
    assert!(
        trainer.train(1).is_err(),
        "a step beyond the budget was taken"
    );
    let model = trainer.model().unwrap();
    let p = model.config.privacy.as_ref().unwrap();
    assert_eq!(p.steps_taken, (steps * 2) as u64);
    assert_eq!(p.max_steps, p.steps_taken);
    assert!((p.sample_rate - 0.25).abs() < 1e-12);
    assert_eq!(p.epsilon_spent().unwrap(), spent);
    // The histogram release is charged: the critic updates alone spend less.
    let updates_alone = accountant::epsilon(
        p.noise_multiplier.unwrap(),
        p.sample_rate,
        p.steps_taken,
        p.delta,
    )
    .unwrap()
    .epsilon;
    let release_alone = accountant::epsilon(p.marginal_noise.unwrap(), 1.0, 1, p.delta)
        .unwrap()
        .epsilon;
    assert!(
        (release_alone - 0.25 * 2.0).abs() < 1e-3,
        "release {release_alone}"
    );
    assert!(
        updates_alone < spent,
        "updates {updates_alone}, total {spent}"
    );
}

#[test]
fn the_released_histograms_carry_noise_of_the_accounted_size() {
    let data = table(2000, 5);
    let p = privacy(1.0, 1);
    let public = p.public_table(&data).unwrap();
    let mut seeded = SeededRng::new(3);
    let mut secret = PrivacyRng::new(RandomSource::Seed(1), &mut seeded).unwrap();
    let exact = marginals::release(&public, &p, 0.0, 2000, &mut secret).unwrap();
    let missing = (0..2000).filter(|i| i % 7 == 0).count() as f64;
    assert_eq!(exact[1].missing, missing);
    assert_eq!(exact[1].counts.iter().sum::<f64>(), 2000.0 - missing);
    assert_eq!(exact[1].counts[2], 0.0, "the undeclared-in-data level");
    assert_eq!(exact[0].counts.iter().sum::<f64>(), 2000.0);
    // Noise multiplier 2 over two columns: standard deviation 2 sqrt(2) per count. The
    // released counts add up to the public row count (a shift common to the positive
    // counts), so the difference of two large counts shows the noise: variance 2 * 8.
    let (mut squares, mut k) = (0.0, 0.0);
    for _ in 0..400 {
        let noisy = marginals::release(&public, &p, 2.0, 2000, &mut secret).unwrap();
        let total = noisy[1].counts.iter().sum::<f64>() + noisy[1].missing;
        assert!((total - 2000.0).abs() < 1e-6, "total {total}");
        let d =
            (noisy[1].counts[0] - noisy[1].counts[1]) - (exact[1].counts[0] - exact[1].counts[1]);
        squares += d * d;
        k += 1.0;
    }
    let variance = squares / k;
    assert!((variance / 16.0 - 1.0).abs() < 0.2, "variance {variance}");
}

#[test]
fn calibration_makes_the_generator_draw_the_released_marginals() {
    let data = table(3000, 6);
    // A large budget, so that the released marginals are close to the data's, and a
    // learning rate that throws the generator off them.
    let config = TrainConfig {
        learning_rate: 2e-2,
        ..config(50.0, 2)
    };
    let mut trainer = Trainer::new(&data, config, RandomSource::Seed(11), 1, Device::Cpu).unwrap();
    trainer.train(2 * trainer.steps_per_epoch()).unwrap();
    let shares = |t: &Table| -> (f64, f64) {
        let Values::Code(codes) = &t.columns()[1].values else {
            unreachable!()
        };
        let n = codes.len() as f64;
        let missing = codes.iter().filter(|c| c.is_none()).count() as f64 / n;
        let a = codes.iter().filter(|c| **c == Some(0)).count() as f64 / n;
        (missing, a)
    };
    let below_zero = |t: &Table| -> f64 {
        let Values::Real(x) = &t.columns()[0].values else {
            unreachable!()
        };
        x.iter().filter(|v| **v < 0.0).count() as f64 / x.len() as f64
    };
    let draw = |trainer: &Trainer| {
        sample::synthesize(&trainer.model().unwrap(), 20_000, None, 5, 1, &Device::Cpu).unwrap()
    };
    let before = draw(&trainer);
    trainer.finish_private().unwrap();
    let after = draw(&trainer);
    let truth = shares(&data);
    let (m0, a0) = shares(&before);
    let (m1, a1) = shares(&after);
    assert!(
        (m1 - truth.0).abs() < 0.03 && (a1 - truth.1).abs() < 0.03,
        "calibrated shares {m1:.3}, {a1:.3}; data {:.3}, {:.3}",
        truth.0,
        truth.1
    );
    // x is symmetric about 0: half the calibrated draws fall below it.
    assert!(
        (below_zero(&after) - 0.5).abs() < 0.05,
        "{}",
        below_zero(&after)
    );
    // Decoded from logits, far-out draws keep their order instead of tying at one value.
    let Values::Real(x) = &after.columns()[0].values else {
        unreachable!()
    };
    let mut distinct: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    let observed = distinct.len();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    assert!(
        distinct.len() as f64 > 0.9 * observed as f64,
        "{} of {observed}",
        distinct.len()
    );
    let off_before =
        (m0 - truth.0).abs() + (a0 - truth.1).abs() + (below_zero(&before) - 0.5).abs();
    let off_after = (m1 - truth.0).abs() + (a1 - truth.1).abs() + (below_zero(&after) - 0.5).abs();
    assert!(off_after < off_before, "{off_after} vs {off_before}");
    assert!(
        trainer.train(1).is_err(),
        "training went on after calibration"
    );
}

#[test]
fn private_training_refuses_what_it_cannot_account_for() {
    let data = table(100, 4);
    let packed = TrainConfig {
        pac: 10,
        ..config(1.0, 1)
    };
    assert!(Trainer::new(&data, packed, RandomSource::Seed(1), 1, Device::Cpu).is_err());
    let unbounded = TrainConfig {
        privacy: Some(PrivacyConfig {
            bounds: Vec::new(),
            ..privacy(1.0, 1)
        }),
        ..config(1.0, 1)
    };
    let err = Trainer::new(&data, unbounded, RandomSource::Seed(1), 1, Device::Cpu)
        .err()
        .unwrap();
    assert!(err.to_string().contains("`x`"), "{err}");
    let mut trainer =
        Trainer::new(&data, config(1.0, 1), RandomSource::Seed(1), 1, Device::Cpu).unwrap();
    trainer.train(1).unwrap();
    let model = trainer.model().unwrap();
    assert!(Trainer::resume(&model, &data, RandomSource::Seed(2), 1, Device::Cpu).is_err());
}

#[test]
fn the_public_table_follows_fixed_rules_not_the_data() {
    let privacy = privacy(1.0, 1);
    // the data's own factor lists its levels in another order, and one undeclared level
    let data_levels = Kind::Factor {
        levels: vec!["b".into(), "zzz".into(), "a".into()],
        ordered: true,
    };
    let table = Table::new(
        vec![
            Column::new(
                "x",
                Kind::Double,
                Values::Real(vec![f64::INFINITY, f64::NAN, 2.0, 9.0]),
            )
            .unwrap(),
            Column::new(
                "f",
                data_levels,
                Values::Code(vec![Some(0), Some(1), Some(2), None]),
            )
            .unwrap(),
        ],
        4,
    )
    .unwrap();
    let public = privacy.public_table(&table).unwrap();
    let [x, f] = public.columns() else {
        panic!("two columns")
    };
    let Values::Real(x) = &x.values else {
        panic!("x is real")
    };
    assert!(x[0].is_nan() && x[1].is_nan());
    assert_eq!(x[2..], [2.0, 9.0]);
    assert_eq!(
        f.kind,
        Kind::Factor {
            levels: vec!["a".into(), "b".into(), "never seen".into()],
            ordered: true
        }
    );
    assert_eq!(f.values, Values::Code(vec![Some(1), None, Some(0), None]));

    // infinite values train like missing ones instead of failing on one row's value
    let mut trainer = Trainer::new(
        &table,
        config(1.0, 1),
        RandomSource::Seed(1),
        1,
        Device::Cpu,
    )
    .expect("a private fit accepts non-finite values");
    trainer.train(1).unwrap();
}

#[test]
fn undeclared_levels_are_refused_by_column() {
    let undeclared = TrainConfig {
        privacy: Some(PrivacyConfig {
            levels: Vec::new(),
            ..privacy(1.0, 1)
        }),
        ..config(1.0, 1)
    };
    let err = Trainer::new(
        &table(50, 1),
        undeclared,
        RandomSource::Seed(1),
        1,
        Device::Cpu,
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("`f`") && err.to_string().contains("dp(levels"),
        "{err}"
    );
    let misplaced = PrivacyConfig {
        levels: vec![Levels {
            column: "x".into(),
            levels: vec!["1".into()],
        }],
        ..privacy(1.0, 1)
    };
    let err = misplaced.public_table(&table(50, 1)).unwrap_err();
    assert!(err.to_string().contains("`x`"), "{err}");
}

#[test]
fn private_fits_from_the_system_generator_never_repeat() {
    let fit = || {
        let mut trainer = Trainer::new(
            &table(60, 1),
            config(1.0, 1),
            RandomSource::System,
            1,
            Device::Cpu,
        )
        .unwrap();
        trainer.train(2).unwrap();
        trainer.model().unwrap().to_bytes().unwrap()
    };
    assert_ne!(fit(), fit());
    // the privacy draws alone differ when everything else is fixed
    let fixed_but_privacy = || {
        let mut trainer = Trainer::new(
            &table(60, 1),
            config(1.0, 1),
            RandomSource::SeedExceptPrivacy(3),
            1,
            Device::Cpu,
        )
        .unwrap();
        trainer.train(2).unwrap();
        trainer.model().unwrap().to_bytes().unwrap()
    };
    assert_ne!(fixed_but_privacy(), fixed_but_privacy());
}

#[test]
fn a_replayable_private_fit_is_the_same_on_one_and_two_threads() {
    let fit = |threads| {
        let mut trainer = Trainer::new(
            &table(120, 5),
            config(1.0, 2),
            RandomSource::Seed(8),
            threads,
            Device::Cpu,
        )
        .unwrap();
        trainer.train(2 * trainer.steps_per_epoch()).unwrap();
        trainer.model().unwrap().to_bytes().unwrap()
    };
    assert_eq!(fit(1), fit(2));
}

#[test]
fn a_replayable_private_fit_is_the_same_in_one_call_or_in_several() {
    let fit = |calls: &[usize]| {
        let mut trainer = Trainer::new(
            &table(120, 5),
            config(1.0, 2),
            RandomSource::Seed(8),
            2,
            Device::Cpu,
        )
        .unwrap();
        for &steps in calls {
            trainer.train(steps).unwrap();
        }
        trainer.model().unwrap().to_bytes().unwrap()
    };
    let whole = fit(&[4]);
    assert_eq!(whole, fit(&[1, 3]));
    assert_ne!(whole, fit(&[3]));
}

/// Rows of x and y = 0.8 x + noise (correlation about 0.8).
fn related(n: usize, seed: u64) -> Table {
    let mut rng = SeededRng::new(seed);
    let e = rng.normal_vec(2 * n);
    let x: Vec<f64> = (0..n).map(|i| f64::from(e[2 * i])).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| 0.8 * x[i] + 0.6 * f64::from(e[2 * i + 1]))
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

/// Correlation of the first two columns over the rows that have both.
fn correlation(t: &Table) -> f64 {
    let column = |j: usize| -> Vec<f64> {
        let Values::Real(v) = &t.columns()[j].values else {
            unreachable!()
        };
        v.clone()
    };
    // Rows with both values (private draws may have a few missing).
    let (x, y): (Vec<f64>, Vec<f64>) = column(0)
        .into_iter()
        .zip(column(1))
        .filter(|(a, b)| !a.is_nan() && !b.is_nan())
        .unzip();
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    sxy / (sxx * syy).sqrt()
}

#[test]
fn released_feature_means_give_private_draws_the_relation_in_the_data() {
    let data = related(5000, 4);
    let truth = correlation(&data);
    let fit = |moment_share: f64| {
        let bound = |column: &str| Bound {
            column: column.into(),
            lower: -6.0,
            upper: 6.0,
        };
        let privacy = PrivacyConfig {
            bounds: vec![bound("x"), bound("y")],
            levels: Vec::new(),
            moment_share,
            ..privacy(3.0, 2)
        };
        let config = TrainConfig {
            batch_size: 250,
            critic_steps: 1,
            privacy: Some(privacy),
            ..config(3.0, 2)
        };
        let mut trainer =
            Trainer::new(&data, config, RandomSource::Seed(21), 1, Device::Cpu).unwrap();
        trainer.train(2 * trainer.steps_per_epoch()).unwrap();
        trainer.finish_private().unwrap();
        let spent = trainer.epsilon_spent().unwrap().unwrap();
        assert!(spent <= 3.0, "spent {spent}");
        trainer.model().unwrap()
    };
    let drawn = |model| {
        let rows = sample::synthesize(model, 20_000, None, 5, 1, &Device::Cpu).unwrap();
        correlation(&rows)
    };
    let with = fit(0.3);
    let p = with.config.privacy.as_ref().unwrap();
    // Charged: the three uses (histograms, feature means, critic updates) spend the budget.
    assert_eq!(p.release_uses().len(), 2);
    let release_alone = accountant::epsilon(p.moment_noise.unwrap(), 1.0, 1, p.delta)
        .unwrap()
        .epsilon;
    assert!((release_alone - 0.3 * 3.0).abs() < 1e-3, "{release_alone}");
    let sampler = with.rejection.as_ref().unwrap();
    assert!(sampler.members == 0 && sampler.tilt.is_some());
    let r = drawn(&with);
    assert!((r - truth).abs() < 0.1, "tilted {r:.3}, data {truth:.3}");
    // The same check fails without the release.
    let without = fit(0.0);
    assert!(without.rejection.is_none());
    let r0 = drawn(&without);
    assert!(
        (r0 - truth).abs() >= 0.1,
        "untilted {r0:.3}, data {truth:.3}"
    );
}
