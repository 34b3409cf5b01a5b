//! Fits and draws against files saved from an earlier engine: the same seed and data
//! must give the same model bytes and the same synthetic rows on both engines, with and
//! without DP. Restructuring the trainer must not change what it computes.
//!
//! `SYGNET_WRITE_GOLDEN=1 cargo test --release --test golden` rewrites the files. The
//! floating-point results depend on the CPU's vector instructions (the matrix-multiply
//! kernels differ), so the files record them: on a CPU with other instructions the
//! comparison allows rounding-level differences instead of requiring equal bits.

mod common;

use std::path::PathBuf;

use common::{base, mixed_table, private};
use sygnet_core::config::TrainConfig;
use sygnet_core::device::Device;
use sygnet_core::loss::Loss;
use sygnet_core::model::Model;
use sygnet_core::rng::RandomSource;
use sygnet_core::sample::synthesize;
use sygnet_core::schema::Values;
use sygnet_core::train::Trainer;

const STEPS: usize = 4;

fn cases() -> Vec<(&'static str, TrainConfig)> {
    vec![
        ("wgan", base()),
        (
            "gan-dropout",
            TrainConfig {
                loss: Loss::Gan,
                pac: 1,
                generator_dropout: 0.3,
                ..base()
            },
        ),
        (
            "conditional",
            TrainConfig {
                condition_on: vec!["f".into(), "flag".into()],
                critic: vec![8, 8, 8],
                ..base()
            },
        ),
        ("private-wgan", private()),
        (
            "private-gan",
            TrainConfig {
                loss: Loss::Gan,
                generator_dropout: 0.3,
                ..private()
            },
        ),
    ]
}

/// The vector instructions the matrix products may use here.
fn cpu_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        ["avx512f", "avx2", "fma"]
            .into_iter()
            .filter(|f| match *f {
                "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
                "avx2" => std::arch::is_x86_feature_detected!("avx2"),
                _ => std::arch::is_x86_feature_detected!("fma"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

/// The model's weights and 50 drawn rows, as f32 / f64 values in a fixed order.
fn outcome(model: &Model) -> (Vec<f32>, Vec<f64>) {
    let mut names: Vec<&String> = model.weights.keys().collect();
    names.sort();
    let weights = names
        .iter()
        .flat_map(|n| {
            model.weights[*n]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect();
    let rows = synthesize(model, 50, None, 3, 1, &candle_core::Device::Cpu).unwrap();
    let values = rows
        .columns()
        .iter()
        .flat_map(|c| -> Vec<f64> {
            match &c.values {
                Values::Real(v) => v.clone(),
                Values::Integer(v) => v.iter().map(|x| x.map_or(-1.0, f64::from)).collect(),
                Values::Logical(v) => v.iter().map(|x| x.map_or(-1.0, f64::from)).collect(),
                Values::Code(v) => v.iter().map(|x| x.map_or(-1.0, f64::from)).collect(),
            }
        })
        .collect();
    (weights, values)
}

fn fit(config: TrainConfig, autograd: bool) -> Model {
    let mut trainer = Trainer::new(
        &mixed_table(300),
        config,
        RandomSource::Seed(9),
        2,
        Device::Cpu,
    )
    .unwrap();
    if autograd {
        trainer.use_autograd().unwrap();
    }
    trainer.train(STEPS).unwrap();
    trainer.model().unwrap()
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/golden/{name}.txt"))
}

/// One line of CPU features, then one number per line (bits in hexadecimal, so that
/// equal means equal).
fn write(name: &str, (weights, rows): &(Vec<f32>, Vec<f64>)) {
    let mut text = cpu_features() + "\n";
    for w in weights {
        text += &format!("w {:08x}\n", w.to_bits());
    }
    for r in rows {
        text += &format!("r {:016x}\n", r.to_bits());
    }
    std::fs::create_dir_all(path(name).parent().unwrap()).unwrap();
    std::fs::write(path(name), text).unwrap();
}

fn read(name: &str) -> (String, Vec<f32>, Vec<f64>) {
    let text = std::fs::read_to_string(path(name)).expect("golden file present");
    let mut lines = text.lines();
    let features = lines.next().unwrap().to_string();
    let (mut weights, mut rows) = (Vec::new(), Vec::new());
    for line in lines {
        let (kind, hex) = line.split_once(' ').unwrap();
        match kind {
            "w" => weights.push(f32::from_bits(u32::from_str_radix(hex, 16).unwrap())),
            _ => rows.push(f64::from_bits(u64::from_str_radix(hex, 16).unwrap())),
        }
    }
    (features, weights, rows)
}

fn same(a: f64, b: f64, exact: bool) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if exact {
        a.to_bits() == b.to_bits()
    } else {
        (a - b).abs() <= 1e-3 * b.abs().max(1.0)
    }
}

fn check(name: &str, config: TrainConfig, autograd: bool) {
    let name = format!("{name}-{}", if autograd { "autograd" } else { "explicit" });
    let got = outcome(&fit(config, autograd));
    if std::env::var_os("SYGNET_WRITE_GOLDEN").is_some() {
        write(&name, &got);
        return;
    }
    let (features, weights, rows) = read(&name);
    let exact = features == cpu_features();
    assert_eq!(got.0.len(), weights.len(), "{name}: number of weights");
    assert_eq!(got.1.len(), rows.len(), "{name}: number of drawn values");
    let off_weights = got
        .0
        .iter()
        .zip(&weights)
        .filter(|(a, b)| !same(f64::from(**a), f64::from(**b), exact))
        .count();
    let off_rows = got
        .1
        .iter()
        .zip(&rows)
        .filter(|(a, b)| !same(**a, **b, exact))
        .count();
    // On another CPU, Adam may turn a rounding-level gradient into a step of the other
    // sign (see explicit_gradients.rs), and a drawn category may flip.
    let (weight_slack, row_slack) = if exact {
        (0, 0)
    } else {
        (weights.len() / 100, rows.len() / 20)
    };
    assert!(
        off_weights <= weight_slack && off_rows <= row_slack,
        "{name} ({}): {off_weights} of {} weights and {off_rows} of {} drawn values differ",
        if exact { "bit for bit" } else { "to 1e-3" },
        weights.len(),
        rows.len()
    );
}

#[test]
fn the_explicit_engine_reproduces_its_saved_fits() {
    for (name, config) in cases() {
        check(name, config, false);
    }
}

#[test]
fn the_autograd_engine_reproduces_its_saved_fits() {
    for (name, config) in cases() {
        check(name, config, true);
    }
    check(
        "attention",
        TrainConfig {
            attention_tokens: 4,
            attention_heads: 2,
            generator: vec![16, 16],
            ..base()
        },
        true,
    );
}

/// The check can fail: one step more is detected.
#[test]
fn a_different_fit_is_detected() {
    let (_, weights, _) = read("wgan-explicit");
    let mut trainer = Trainer::new(
        &mixed_table(300),
        base(),
        RandomSource::Seed(9),
        2,
        Device::Cpu,
    )
    .unwrap();
    trainer.train(STEPS + 1).unwrap();
    let (got, _) = outcome(&trainer.model().unwrap());
    let off = got
        .iter()
        .zip(&weights)
        .filter(|(a, b)| (**a - **b).abs() > 1e-3 * b.abs().max(1.0))
        .count();
    assert!(off > weights.len() / 2, "{off} of {}", weights.len());
}
