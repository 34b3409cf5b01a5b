//! What the engine tests share: a small mixed table and training settings.
// Each test file uses only part of this module.
#![allow(dead_code)]

use sygnet_core::config::TrainConfig;
use sygnet_core::privacy::{Bound, Levels, PrivacyConfig};
use sygnet_core::rng::SeededRng;
use sygnet_core::schema::{Column, Kind, Table, Values};

/// Two skewed numbers (one with missing values), a 3-level factor and a logical.
pub fn mixed_table(n: usize) -> Table {
    let mut rng = SeededRng::new(4);
    let x: Vec<f64> = rng
        .normal_vec(n)
        .into_iter()
        .map(|v| f64::from(v).exp())
        .collect();
    let noise = rng.normal_vec(n);
    let y: Vec<f64> = x
        .iter()
        .zip(&noise)
        .enumerate()
        .map(|(i, (v, e))| {
            if i % 7 == 0 {
                f64::NAN
            } else {
                v * 3.0 + f64::from(*e)
            }
        })
        .collect();
    let f = (0..n).map(|_| Some(rng.below(3) as u32)).collect();
    let flag = x.iter().map(|&v| Some(v > 1.0)).collect();
    let kind = Kind::Factor {
        levels: vec!["a".into(), "b".into(), "c".into()],
        ordered: false,
    };
    Table::new(
        vec![
            Column::new("x", Kind::Double, Values::Real(x)).unwrap(),
            Column::new("y", Kind::Double, Values::Real(y)).unwrap(),
            Column::new("f", kind, Values::Code(f)).unwrap(),
            Column::new("flag", Kind::Logical, Values::Logical(flag)).unwrap(),
        ],
        n,
    )
    .unwrap()
}

pub fn base() -> TrainConfig {
    TrainConfig {
        batch_size: 40,
        noise_dim: 6,
        generator: vec![16, 8],
        critic: vec![12, 10],
        pac: 5,
        critic_steps: 2,
        ..TrainConfig::default()
    }
}

/// DP-SGD: each row's critic gradient clipped (generated rows too), the real rows'
/// sum noised; `max_grad_norm` small enough that clipping binds.
pub fn private() -> TrainConfig {
    let bound = |column: &str, lower, upper| Bound {
        column: column.into(),
        lower,
        upper,
    };
    TrainConfig {
        pac: 1,
        rejection: false,
        privacy: Some(PrivacyConfig {
            epsilon: 2.0,
            delta: 1e-5,
            max_grad_norm: 0.1,
            noise_multiplier: None,
            epochs: 20,
            bounds: vec![bound("x", 0.0, 20.0), bound("y", -10.0, 70.0)],
            levels: vec![Levels {
                column: "f".into(),
                levels: vec!["a".into(), "b".into(), "c".into()],
            }],
            sample_rate: 0.0,
            max_steps: 0,
            steps_taken: 0,
            rows: None,
            marginal_share: 0.25,
            marginal_noise: None,
            moment_share: 0.0,
            moment_noise: None,
        }),
        ..base()
    }
}
