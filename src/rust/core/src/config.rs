//! Every setting of a fit, its defaults and its checks: the bottom layer that training,
//! model files and the R binding share.

use candle_nn::ParamsAdamW;
use serde::{Deserialize, Serialize};

use crate::encoding::EncoderOptions;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::privacy::PrivacyConfig;

/// Tokens each hidden vector is cut into when attention is asked for without a number.
pub const ATTENTION_TOKENS: usize = 8;

/// Every setting of a fit, with its default ([`Default`]); validated by `check`. The R
/// functions `gan()` and `gan_control()` take their defaults from here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub batch_size: usize,
    pub noise_dim: usize,
    pub generator: Vec<usize>,
    pub critic: Vec<usize>,
    pub attention_tokens: usize,
    pub attention_heads: usize,
    pub generator_dropout: f32,
    pub critic_dropout: f32,
    pub learning_rate: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub loss: Loss,
    pub pac: usize,
    pub critic_steps: usize,
    pub gradient_penalty: f64,
    pub tau: f64,
    pub condition_on: Vec<String>,
    pub encoder: EncoderOptions,
    /// Differentially private training of the critic (DP-SGD), if asked for.
    #[serde(default)]
    pub privacy: Option<PrivacyConfig>,
    /// Whether a rejection sampler is fitted after training ([`crate::rejection`]).
    #[serde(default)]
    pub rejection: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 200,
            noise_dim: 128,
            generator: vec![256, 256],
            critic: vec![256, 256],
            attention_tokens: 0,
            attention_heads: 4,
            generator_dropout: 0.0,
            critic_dropout: 0.2,
            learning_rate: 1e-3,
            beta1: 0.5,
            beta2: 0.9,
            weight_decay: 1e-6,
            loss: Loss::WganGp,
            pac: 10,
            critic_steps: 3,
            gradient_penalty: 10.0,
            tau: 0.2,
            condition_on: Vec::new(),
            encoder: EncoderOptions::default(),
            privacy: None,
            rejection: true,
        }
    }
}

/// Widest layer (and noise input), and most hidden layers, accepted: larger networks
/// would need more memory than a machine has.
pub const MAX_WIDTH: usize = 16_384;
pub const MAX_LAYERS: usize = 64;

impl TrainConfig {
    /// Checks every setting; messages name them as `gan()` and `gan_control()` do.
    pub fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Config(msg));
        if self.batch_size == 0 || self.noise_dim == 0 || self.pac == 0 || self.critic_steps == 0 {
            return bad(
                "`batch_size`, `noise_dim`, `pac` and `critic_steps` must be positive".into(),
            );
        }
        if self.generator.is_empty()
            || self.critic.is_empty()
            || self.generator.iter().chain(&self.critic).any(|&w| w == 0)
        {
            return bad(
                "`generator` and `critic` need at least one layer, each of positive width".into(),
            );
        }
        for (name, widths) in [
            ("generator", &self.generator),
            ("critic", &self.critic),
            ("noise_dim", &vec![self.noise_dim]),
        ] {
            if widths.iter().any(|&w| w > MAX_WIDTH) || widths.len() > MAX_LAYERS {
                return bad(format!(
                    "`{name}` must have at most {MAX_LAYERS} layers of at most {MAX_WIDTH} units"
                ));
            }
        }
        if self.pac > self.batch_size {
            return bad(format!(
                "`pac` ({}) cannot exceed `batch_size` ({})",
                self.pac, self.batch_size
            ));
        }
        for (name, p) in [
            ("dropout", f64::from(self.generator_dropout)),
            ("critic_dropout", f64::from(self.critic_dropout)),
            ("beta1", self.beta1),
            ("beta2", self.beta2),
        ] {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("`{name}` must be in [0, 1), not {p}"));
            }
        }
        for (name, x) in [("learning_rate", self.learning_rate), ("tau", self.tau)] {
            if !(x > 0.0 && x.is_finite()) {
                return bad(format!("`{name}` must be a positive number, not {x}"));
            }
        }
        for (name, x) in [
            ("gradient_penalty", self.gradient_penalty),
            ("weight_decay", self.weight_decay),
        ] {
            if !(x >= 0.0 && x.is_finite()) {
                return bad(format!("`{name}` must be a non-negative number, not {x}"));
            }
        }
        if self.encoder.max_modes == 0 || self.encoder.max_levels == 0 {
            return bad("`max_modes` and `max_levels` must be positive".into());
        }
        if let Some(c) = self
            .encoder
            .codes
            .iter()
            .find(|c| c.values.iter().any(|v| !v.is_finite()))
        {
            return bad(format!(
                "missing-value codes of `{}` must be finite numbers",
                c.column
            ));
        }
        if self.attention_heads == 0 {
            return bad("`attention_heads` must be positive".into());
        }
        if let Some(privacy) = &self.privacy {
            privacy.check()?;
            if self.pac != 1 {
                return bad("differentially private training needs `pac` = 1, so that each row is clipped on its own".into());
            }
            if !self.condition_on.is_empty() {
                return bad("`condition_on` samples rows by their categories, which differentially private training cannot account for".into());
            }
            if !self.encoder.codes.is_empty() {
                return bad("missing-value codes are not yet supported with differential privacy: recode them to NA or to a factor column".into());
            }
            if self.rejection {
                return bad("`rejection` sampling reads the training rows outside the privacy budget, so differentially private training cannot use it".into());
            }
        }
        if self.attention_tokens > 0 {
            let unit = self.attention_tokens * self.attention_heads;
            if let Some(&w) = self
                .generator
                .iter()
                .find(|&&w| unit == 0 || !w.is_multiple_of(unit))
            {
                return bad(format!(
                    "attention needs every generator width divisible by tokens x heads ({} x {}); {} is not",
                    self.attention_tokens, self.attention_heads, w
                ));
            }
        }
        Ok(())
    }

    /// AdamW settings of both networks.
    pub fn adam(&self) -> ParamsAdamW {
        ParamsAdamW {
            lr: self.learning_rate,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: 1e-8,
            weight_decay: self.weight_decay,
        }
    }

    /// Rows per step: the batch size, at most the row count, a multiple of `pac`.
    pub fn effective_batch(&self, n_rows: usize) -> usize {
        let b = self.batch_size.min(n_rows.max(self.pac));
        (b / self.pac).max(1) * self.pac
    }
}
