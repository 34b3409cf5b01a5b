//! A fitted model as bytes: a safetensors file whose tensors are the network weights
//! and whose metadata holds the settings and the encoding as JSON, sealed with a
//! checksum of both. Reading it runs no code, it only parses, and a damaged or edited
//! file is refused.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::condition::CondSpec;
use crate::config::TrainConfig;
use crate::encoding::Encoder;
use crate::error::{Error, Result};
use crate::network::{CriticSpec, GeneratorSpec};
use crate::rejection::RejectionSpec;

pub const FORMAT: &str = "sygnet-model";
/// Version 2 seals the description and weights with a checksum; version 1 files (no
/// checksum) are still read.
pub const FORMAT_VERSION: u32 = 2;

/// Everything but the weights, stored as one JSON document in the safetensors metadata
/// (one key, so the bytes do not depend on hash-map order).
#[derive(Serialize, Deserialize)]
struct Description {
    format: String,
    format_version: u32,
    config: TrainConfig,
    encoder: Encoder,
    condition: Option<CondSpec>,
    generator: GeneratorSpec,
    critic: CriticSpec,
    steps: usize,
    #[serde(default)]
    rejection: Option<RejectionSpec>,
}

#[derive(Clone)]
pub struct Model {
    pub config: TrainConfig,
    pub encoder: Encoder,
    pub condition: Option<CondSpec>,
    pub generator: GeneratorSpec,
    pub critic: CriticSpec,
    pub weights: HashMap<String, Tensor>,
    /// Training steps taken so far.
    pub steps: usize,
    /// The rejection sampler fitted after training, if any (weights under
    /// [`crate::rejection::REJECTION`]).
    pub rejection: Option<RejectionSpec>,
}

const METADATA_KEY: &str = "sygnet";

/// The metadata value: the description's JSON text, kept as written, and a checksum
/// over that text and every weight.
#[derive(Serialize, Deserialize)]
struct Sealed {
    checksum: String,
    description: String,
}

/// FNV-1a (64 bits) of the description text and the weights, sorted by name, each as
/// its name, shape and little-endian values. It detects damage (flipped bytes, edits),
/// not deliberate forgery.
fn checksum(description: &str, weights: &HashMap<String, Tensor>) -> Result<String> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut write = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    write(description.as_bytes());
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    for name in names {
        let t = &weights[name];
        write(name.as_bytes());
        for &d in t.dims() {
            write(&(d as u64).to_le_bytes());
        }
        let values = t
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1::<f32>()?;
        for v in values {
            write(&v.to_le_bytes());
        }
    }
    Ok(format!("{hash:016x}"))
}

fn damaged(what: &str) -> Error {
    Error::ModelFormat(format!(
        "the model is damaged: {what}; use an intact copy of the fitted object"
    ))
}

impl Model {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let description = Description {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            config: self.config.clone(),
            encoder: self.encoder.clone(),
            condition: self.condition.clone(),
            generator: self.generator.clone(),
            critic: self.critic.clone(),
            steps: self.steps,
            rejection: self.rejection.clone(),
        };
        let json = serde_json::to_string(&description).expect("model description serialises");
        let sealed = Sealed {
            checksum: checksum(&json, &self.weights)?,
            description: json,
        };
        let value = serde_json::to_string(&sealed).expect("sealed description serialises");
        let meta = HashMap::from([(METADATA_KEY.to_string(), value)]);
        let mut weights: Vec<(&String, &Tensor)> = self.weights.iter().collect();
        weights.sort_by(|a, b| a.0.cmp(b.0));
        safetensors::tensor::serialize(weights, Some(meta))
            .map_err(|e| Error::ModelFormat(format!("cannot write weights: {e}")))
    }

    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Model> {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::ModelFormat(format!("not a safetensors buffer ({e})")))?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| Error::ModelFormat("no sygnet description in the file".into()))?;
        let sealed: Option<Sealed> = serde_json::from_str(json).ok();
        let text = sealed
            .as_ref()
            .map_or(json.as_str(), |s| s.description.as_str());
        let d: Description = serde_json::from_str(text)
            .map_err(|e| Error::ModelFormat(format!("bad description: {e}")))?;
        if d.format != FORMAT {
            return Err(Error::ModelFormat("not a sygnet model".into()));
        }
        if d.format_version > FORMAT_VERSION {
            return Err(Error::ModelFormat(format!(
                "written by a newer sygnet (format {}); update the package",
                d.format_version
            )));
        }
        if sealed.is_none() && d.format_version > 1 {
            return Err(damaged("its checksum is missing"));
        }
        let weights = candle_core::safetensors::load_buffer(bytes, device)
            .map_err(|_| damaged("its weights cannot be read"))?;
        if let Some(sealed) = &sealed {
            if checksum(&sealed.description, &weights)? != sealed.checksum {
                return Err(damaged(
                    "its weights or description do not match their checksum",
                ));
            }
        }
        d.encoder.validate().map_err(|e| match e {
            Error::ModelFormat(what) => damaged(&what),
            other => other,
        })?;
        let cond_dim = d.condition.as_ref().map_or(0, |c| c.dim());
        let layout_ok = d.generator.n_scalars == d.encoder.n_scalars
            && d.generator.groups == d.encoder.groups
            && d.generator.cond_dim == cond_dim
            && d.critic.input_dim == d.encoder.width() + cond_dim
            && d.critic.pac > 0;
        if !layout_ok {
            return Err(damaged("its networks do not match its encoding"));
        }
        if d.condition.as_ref().is_some_and(|c| !c.fits(&d.encoder)) {
            return Err(damaged(
                "its conditioning columns do not match its encoding",
            ));
        }
        if let Some(spec) = &d.rejection {
            spec.check(&d.encoder)?;
        }
        Ok(Model {
            rejection: d.rejection,
            config: d.config,
            encoder: d.encoder,
            condition: d.condition,
            generator: d.generator,
            critic: d.critic,
            weights,
            steps: d.steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::rng::RandomSource;
    use crate::schema::{Column, Kind, Table, Values};
    use crate::train::Trainer;

    fn model_bytes() -> Vec<u8> {
        let x: Vec<f64> = (0..60).map(|i| f64::from(i % 7)).collect();
        let table = Table::new(
            vec![Column::new("x", Kind::Double, Values::Real(x)).unwrap()],
            60,
        )
        .unwrap();
        let config = TrainConfig {
            batch_size: 20,
            generator: vec![8],
            critic: vec![8],
            noise_dim: 4,
            pac: 2,
            ..TrainConfig::default()
        };
        let mut trainer =
            Trainer::new(&table, config, RandomSource::Seed(1), 1, Device::Cpu).unwrap();
        trainer.train(2).unwrap();
        trainer.model().unwrap().to_bytes().unwrap()
    }

    #[test]
    fn intact_models_load_and_damaged_ones_are_refused() {
        let bytes = model_bytes();
        let model = Model::from_bytes(&bytes, &Device::Cpu).unwrap();
        assert_eq!(model.to_bytes().unwrap(), bytes);
        // a flipped byte in the last weight's values
        let mut flipped = bytes.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x40;
        let err = Model::from_bytes(&flipped, &Device::Cpu).err().unwrap();
        assert!(err.to_string().contains("damaged"), "{err}");
        assert_eq!(err.kind(), "model");
        // an edited description: the critic's input width 2 -> 3, same length
        let mut edited = bytes.clone();
        let at = bytes
            .windows(9)
            .position(|w| w == b"input_dim")
            .expect("the description names input_dim");
        let digit = at + bytes[at..].iter().position(|&b| b == b'2').unwrap();
        edited[digit] = b'3';
        let err = Model::from_bytes(&edited, &Device::Cpu).err().unwrap();
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
