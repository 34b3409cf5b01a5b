//! A fitted model as bytes: a safetensors file whose tensors are the network weights
//! and whose metadata holds the settings and the encoding as JSON. Reading it runs no
//! code, it only parses.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::condition::CondSpec;
use crate::config::TrainConfig;
use crate::encoding::Encoder;
use crate::error::{Error, Result};
use crate::network::{CriticSpec, GeneratorSpec};

pub const FORMAT: &str = "sygnet-model";
pub const FORMAT_VERSION: u32 = 1;

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
}

pub struct Model {
    pub config: TrainConfig,
    pub encoder: Encoder,
    pub condition: Option<CondSpec>,
    pub generator: GeneratorSpec,
    pub critic: CriticSpec,
    pub weights: HashMap<String, Tensor>,
    /// Training steps taken so far.
    pub steps: usize,
}

const METADATA_KEY: &str = "sygnet";

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
        };
        let json = serde_json::to_string(&description).expect("model description serialises");
        let meta = HashMap::from([(METADATA_KEY.to_string(), json)]);
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
        let d: Description = serde_json::from_str(json)
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
        let weights = candle_core::safetensors::load_buffer(bytes, device)?;
        Ok(Model {
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
