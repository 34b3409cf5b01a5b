//! DP-SGD during a fit, whichever engine computes the gradients: the calibrated settings,
//! the secret randomness (which rows join an update, the Gaussian noise) and the count
//! of critic updates the accountant charges. The loop asks it for each private update's
//! sample, noise and clipping; the engine clips each row's gradient and adds the noise.

use rayon::prelude::*;

use super::clipping::poisson_sample;
use super::PrivacyConfig;
use crate::error::{Error, Result};
use crate::parallel::DRAW_CHUNKS;
use crate::rng::PrivacyRng;

/// DP-SGD settings of a private critic update.
#[derive(Debug, Clone, Copy)]
pub struct Clipping {
    /// Per-row gradient norm bound C.
    pub max_norm: f64,
    /// Noise standard deviation over C.
    pub noise_multiplier: f64,
}

pub struct DpSgd {
    /// Settings with the noise calibrated (see [`PrivacyConfig::calibrate`]).
    config: PrivacyConfig,
    rng: PrivacyRng,
    updates_taken: u64,
}

impl DpSgd {
    /// DP-SGD for a calibrated `config`.
    pub fn new(config: PrivacyConfig, rng: PrivacyRng) -> Result<Self> {
        if config.noise_multiplier.is_none() {
            return Err(Error::Config("the noise has not been calibrated".into()));
        }
        Ok(DpSgd {
            config,
            rng,
            updates_taken: 0,
        })
    }

    /// The clipping of the next `updates` critic updates, if the budget allows them all.
    pub fn clipping(&self, updates: u64) -> Result<Clipping> {
        if self.updates_taken + updates > self.config.max_steps {
            return Err(Error::Config(
                "the privacy budget is spent: no further training steps are allowed".into(),
            ));
        }
        Ok(Clipping {
            max_norm: self.config.max_grad_norm,
            noise_multiplier: self.config.noise_multiplier.unwrap_or_default(),
        })
    }

    /// The real rows of the next update: each of `n_rows` with the accounted probability.
    pub fn sample_rows(&mut self, n_rows: usize) -> Vec<u32> {
        poisson_sample(n_rows, self.config.sample_rate, &mut self.rng)
    }

    /// Standard normal noise for `coordinates` critic coordinates (none without noise),
    /// in [`DRAW_CHUNKS`] blocks drawn in parallel, each from its own stream.
    pub fn noise(&mut self, coordinates: usize) -> Vec<f32> {
        let std = self.config.noise_multiplier.unwrap_or_default() * self.config.max_grad_norm;
        if std <= 0.0 {
            return Vec::new();
        }
        let mut streams: Vec<PrivacyRng> = (0..DRAW_CHUNKS).map(|_| self.rng.split()).collect();
        let blocks: Vec<Vec<f32>> = streams
            .par_iter_mut()
            .enumerate()
            .map(|(k, rng)| {
                rng.normal_vec(coordinates * (k + 1) / DRAW_CHUNKS - coordinates * k / DRAW_CHUNKS)
            })
            .collect();
        blocks.concat()
    }

    /// `n` standard normal draws from the secret stream, for a release beside training.
    pub fn standard_normal(&mut self, n: usize) -> Vec<f32> {
        self.rng.normal_vec(n)
    }

    /// Counts one critic update against the budget.
    pub fn record_update(&mut self) {
        self.updates_taken += 1;
    }

    /// The settings, with the updates taken so far.
    pub fn report(&self) -> PrivacyConfig {
        PrivacyConfig {
            steps_taken: self.updates_taken,
            ..self.config.clone()
        }
    }

    /// Epsilon spent by the updates taken so far.
    pub fn epsilon_spent(&self) -> Result<f64> {
        self.config.spent(self.updates_taken)
    }
}
