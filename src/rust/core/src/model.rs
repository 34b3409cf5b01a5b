//! A fitted model as bytes: a safetensors file whose tensors are the network weights
//! and whose metadata holds the settings and the encoding as JSON. Reading it runs no
//! code, it only parses.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use crate::condition::CondSpec;
use crate::encoding::Encoder;
use crate::error::{Error, Result};
use crate::network::{CriticSpec, GeneratorSpec};
use crate::train::TrainConfig;

pub const FORMAT: &str = "sygnet-model";
pub const FORMAT_VERSION: u32 = 1;

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

fn to_json<T: serde::Serialize>(x: &T) -> String {
    serde_json::to_string(x).expect("model parts serialise")
}

impl Model {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert("format_version".to_string(), FORMAT_VERSION.to_string());
        meta.insert("config".to_string(), to_json(&self.config));
        meta.insert("encoder".to_string(), to_json(&self.encoder));
        meta.insert("condition".to_string(), to_json(&self.condition));
        meta.insert("generator".to_string(), to_json(&self.generator));
        meta.insert("critic".to_string(), to_json(&self.critic));
        meta.insert("steps".to_string(), self.steps.to_string());
        let mut weights: Vec<(&String, &Tensor)> = self.weights.iter().collect();
        weights.sort_by(|a, b| a.0.cmp(b.0));
        safetensors::tensor::serialize(weights, Some(meta))
            .map_err(|e| Error::ModelFormat(format!("cannot write weights: {e}")))
    }

    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Model> {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::ModelFormat(format!("not a safetensors buffer ({e})")))?;
        let meta = header
            .metadata()
            .as_ref()
            .ok_or_else(|| Error::ModelFormat("no sygnet metadata".into()))?;
        let field = |key: &str| -> Result<&String> {
            meta.get(key)
                .ok_or_else(|| Error::ModelFormat(format!("metadata field `{key}` is missing")))
        };
        fn parse<T: serde::de::DeserializeOwned>(key: &str, s: &str) -> Result<T> {
            serde_json::from_str(s).map_err(|e| Error::ModelFormat(format!("field `{key}`: {e}")))
        }
        if field("format")? != FORMAT {
            return Err(Error::ModelFormat("not a sygnet model".into()));
        }
        let version: u32 = parse("format_version", field("format_version")?)?;
        if version > FORMAT_VERSION {
            return Err(Error::ModelFormat(format!(
                "written by a newer sygnet (format {version}); update the package"
            )));
        }
        let weights = candle_core::safetensors::load_buffer(bytes, device)?;
        Ok(Model {
            config: parse("config", field("config")?)?,
            encoder: parse("encoder", field("encoder")?)?,
            condition: parse("condition", field("condition")?)?,
            generator: parse("generator", field("generator")?)?,
            critic: parse("critic", field("critic")?)?,
            weights,
            steps: parse("steps", field("steps")?)?,
        })
    }
}
