//! Loading a model never panics, whatever its bytes: random truncations and bit flips
//! of a real model file, and edits of an unsealed (format 1) description, end in an
//! error, or in a model that then draws rows or fails with an error.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use candle_core::Device as CandleDevice;
use sygnet_core::config::TrainConfig;
use sygnet_core::device::Device;
use sygnet_core::model::Model;
use sygnet_core::rng::{RandomSource, SeededRng};
use sygnet_core::sample;
use sygnet_core::train::Trainer;

/// A small model's file; `full` adds a conditioning column and a rejection sampler.
fn model_bytes(full: bool) -> Vec<u8> {
    let config = TrainConfig {
        condition_on: if full { vec!["f".into()] } else { Vec::new() },
        ..common::base()
    };
    let table = common::mixed_table(120);
    let mut trainer = Trainer::new(&table, config, RandomSource::Seed(3), 1, Device::Cpu).unwrap();
    trainer.train(3).unwrap();
    if full {
        trainer.fit_rejection().unwrap();
    }
    trainer.model().unwrap().to_bytes().unwrap()
}

/// Whether loading `bytes` (and drawing from what loads) returned without panicking;
/// and whether a model loaded.
fn load(bytes: &[u8]) -> (bool, bool) {
    let mut loaded = false;
    let survived = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(model) = Model::from_bytes(bytes, &CandleDevice::Cpu) {
            loaded = true;
            let _ = sample::synthesize(&model, 20, None, 1, 1, &CandleDevice::Cpu);
        }
    }))
    .is_ok();
    (survived, loaded)
}

#[test]
fn truncated_and_flipped_model_files_are_refused_without_panicking() {
    for bytes in [model_bytes(false), model_bytes(true)] {
        assert_eq!(load(&bytes), (true, true));
        let mut rng = SeededRng::new(9);
        for _ in 0..200 {
            let cut = rng.below(bytes.len());
            assert_eq!(load(&bytes[..cut]), (true, false), "cut at {cut}");
        }
        for _ in 0..300 {
            let mut damaged = bytes.clone();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(damaged.len());
                damaged[i] ^= 1 << rng.below(8);
            }
            let (survived, _) = load(&damaged);
            assert!(survived, "a damaged file made the engine panic");
        }
    }
}

/// The description of `bytes` as an unsealed format 1 file (what earlier versions
/// wrote), after `edit`.
fn unsealed(bytes: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let tensors = candle_core::safetensors::load_buffer(bytes, &CandleDevice::Cpu).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let sealed: serde_json::Value =
        serde_json::from_str(&header.metadata().as_ref().unwrap()["sygnet"]).unwrap();
    let mut description: serde_json::Value =
        serde_json::from_str(sealed["description"].as_str().unwrap()).unwrap();
    description["format_version"] = 1.into();
    edit(&mut description);
    let meta = std::collections::HashMap::from([("sygnet".to_string(), description.to_string())]);
    let mut named: Vec<(&String, &candle_core::Tensor)> = tensors.iter().collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    safetensors::tensor::serialize(named, Some(meta)).unwrap()
}

/// Every number in `value`, by a path of keys and indices.
fn numbers(value: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        serde_json::Value::Number(_) => out.push(path.clone()),
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(i.to_string());
                numbers(v, path, out);
                path.pop();
            }
        }
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                path.push(k.clone());
                numbers(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(value: &'a mut serde_json::Value, path: &[String]) -> &'a mut serde_json::Value {
    path.iter().fold(value, |v, key| match v {
        serde_json::Value::Array(a) => &mut a[key.parse::<usize>().unwrap()],
        other => &mut other[key.as_str()],
    })
}

#[test]
fn edited_descriptions_are_refused_without_panicking() {
    for bytes in [model_bytes(false), model_bytes(true)] {
        assert_eq!(
            load(&unsealed(&bytes, |_| {})),
            (true, true),
            "format 1 loads"
        );
        let description: serde_json::Value = {
            let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let sealed: serde_json::Value =
                serde_json::from_str(&header.metadata().as_ref().unwrap()["sygnet"]).unwrap();
            serde_json::from_str(sealed["description"].as_str().unwrap()).unwrap()
        };
        let mut paths = Vec::new();
        numbers(&description, &mut Vec::new(), &mut paths);
        let mut rng = SeededRng::new(5);
        for _ in 0..1500 {
            let path = paths[rng.below(paths.len())].clone();
            let replacement: serde_json::Value = match rng.below(4) {
                0 => 0.into(),
                1 => (rng.below(50) as u64).into(),
                2 => (-1).into(),
                _ => 1e12.into(),
            };
            let damaged = unsealed(&bytes, |d| *at(d, &path) = replacement.clone());
            let (survived, _) = load(&damaged);
            assert!(survived, "editing {path:?} made the engine panic");
        }
    }
}
