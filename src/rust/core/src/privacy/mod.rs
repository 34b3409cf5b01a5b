//! Differential privacy for training: DP-SGD on the critic ([`clipping`]) and the
//! privacy accountant.

pub mod accountant;
pub mod clipping;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Public bounds of a numeric column, supplied by the user (never read from the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    pub column: String,
    pub lower: f64,
    pub upper: f64,
}

/// What the user asks for, and what training settled on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyConfig {
    /// The privacy budget: training never spends more.
    pub epsilon: f64,
    pub delta: f64,
    /// Per-row gradient norm bound C.
    pub max_grad_norm: f64,
    /// Noise standard deviation over C; `None` until calibrated to the budget.
    pub noise_multiplier: Option<f64>,
    /// Epochs the budget is spread over.
    pub epochs: usize,
    pub bounds: Vec<Bound>,
    /// Probability that a row joins a critic update (set when training starts).
    #[serde(default)]
    pub sample_rate: f64,
    /// Critic updates the budget allows (set when training starts).
    #[serde(default)]
    pub max_steps: u64,
    /// Critic updates taken, each a use of the data the accountant counts.
    #[serde(default)]
    pub steps_taken: u64,
}

impl PrivacyConfig {
    pub fn check(&self) -> Result<()> {
        let positive = |x: f64| x > 0.0 && x.is_finite();
        if !positive(self.epsilon) || !positive(self.max_grad_norm) {
            return Err(Error::Config(
                "`epsilon` and `max_grad_norm` must be positive".into(),
            ));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(Error::Config("`delta` must be in (0, 1)".into()));
        }
        if self.noise_multiplier.is_some_and(|s| !positive(s)) {
            return Err(Error::Config("`noise_multiplier` must be positive".into()));
        }
        if self.epochs == 0 {
            return Err(Error::Config("`epochs` must be positive".into()));
        }
        for b in &self.bounds {
            if !(b.lower.is_finite() && b.upper.is_finite() && b.lower < b.upper) {
                return Err(Error::column(
                    &b.column,
                    "bounds must be two finite numbers, lower below upper",
                ));
            }
        }
        Ok(())
    }

    /// The bound declared for `column`.
    pub fn bound(&self, column: &str) -> Option<&Bound> {
        self.bounds.iter().find(|b| b.column == column)
    }

    /// Settles the sampling rate and the number of critic updates, and calibrates the
    /// noise to the budget (or checks that a given noise multiplier stays within it).
    pub fn calibrate(&mut self, sample_rate: f64, max_steps: u64) -> Result<()> {
        self.sample_rate = sample_rate;
        self.max_steps = max_steps;
        let sigma = match self.noise_multiplier {
            Some(sigma) => {
                let spent = accountant::epsilon(sigma, sample_rate, max_steps, self.delta)?;
                if spent.epsilon > self.epsilon {
                    return Err(Error::Config(format!(
                        "noise multiplier {sigma} spends epsilon {:.3} over {max_steps} critic updates, more than the budget {}",
                        spent.epsilon, self.epsilon
                    )));
                }
                sigma
            }
            None => accountant::noise_multiplier(self.epsilon, self.delta, sample_rate, max_steps)?,
        };
        self.noise_multiplier = Some(sigma);
        Ok(())
    }

    /// Epsilon spent by the critic updates taken.
    pub fn epsilon_spent(&self) -> Result<f64> {
        self.spent(self.steps_taken)
    }

    /// Epsilon spent after `steps` critic updates.
    pub fn spent(&self, steps: u64) -> Result<f64> {
        let sigma = self
            .noise_multiplier
            .ok_or_else(|| Error::Config("the noise has not been calibrated".into()))?;
        if steps == 0 {
            return Ok(0.0);
        }
        Ok(accountant::epsilon(sigma, self.sample_rate, steps, self.delta)?.epsilon)
    }
}
