//! The only source of randomness. candle's CPU generator cannot be seeded, so every
//! random number (weights, noise, minibatches, dropout, Gumbel noise) is drawn here.
//! [`PrivacyRng`] draws what differential privacy rests on.

#[cfg(test)]
use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::{ChaCha20Rng, ChaCha8Rng};
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Error, Result};

/// Where a fit's random numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandomSource {
    /// A seed: the same seed replays every draw.
    Seed(u64),
    /// A seed for every draw but the privacy draws ([`PrivacyRng`]), which come from the
    /// operating system: a private fit whose data-independent draws (initial weights,
    /// the generator's inputs, dropout) are known to everyone, as in privacy audits.
    SeedExceptPrivacy(u64),
    /// The operating system's cryptographic generator: nothing kept replays the draws.
    System,
}

pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        SeededRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A generator seeded from `source`.
    pub fn from_source(source: RandomSource) -> Result<Self> {
        match source {
            RandomSource::Seed(seed) | RandomSource::SeedExceptPrivacy(seed) => {
                Ok(SeededRng::new(seed))
            }
            RandomSource::System => ChaCha8Rng::try_from_os_rng()
                .map(SeededRng)
                .map_err(os_error),
        }
    }

    /// An independent stream for a sub-task, so that adding draws in one place does
    /// not shift every later draw elsewhere.
    pub fn split(&mut self) -> Self {
        SeededRng::new(self.split_seed())
    }

    /// A seed for another generator.
    pub fn split_seed(&mut self) -> u64 {
        self.0.random()
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }

    pub fn uniform(&mut self) -> f64 {
        self.0.random()
    }

    pub fn normal_vec(&mut self, n: usize) -> Vec<f32> {
        filled(n, |values| self.fill_normal(values))
    }

    pub fn fill_normal(&mut self, out: &mut [f32]) {
        for x in out {
            *x = StandardNormal.sample(&mut self.0);
        }
    }

    pub fn uniform_vec(&mut self, n: usize, low: f32, high: f32) -> Vec<f32> {
        filled(n, |values| self.fill_uniform(values, low, high))
    }

    pub fn fill_uniform(&mut self, out: &mut [f32], low: f32, high: f32) {
        for x in out {
            *x = self.0.random_range(low..high);
        }
    }

    /// Standard Gumbel draws, -ln(-ln U).
    pub fn gumbel_vec(&mut self, n: usize) -> Vec<f32> {
        filled(n, |values| self.fill_gumbel(values))
    }

    pub fn fill_gumbel(&mut self, out: &mut [f32]) {
        for x in out {
            let u: f64 = self.0.random_range(f64::EPSILON..1.0);
            *x = -(-u.ln()).ln() as f32;
        }
    }

    /// Inverted-dropout mask: 0 with probability `p`, else 1 / (1 - p).
    pub fn dropout_mask(&mut self, n: usize, p: f32) -> Vec<f32> {
        filled(n, |mask| self.fill_dropout_mask(mask, p))
    }

    pub fn fill_dropout_mask(&mut self, out: &mut [f32], p: f32) {
        let keep = 1.0 / (1.0 - p);
        // A uniform f32 is k / 2^24 for the top 24 bits k of a u32, and k / 2^24 < p
        // exactly when k < ceil(p 2^24): the same draws without floats or branches.
        let drop_below = (f64::from(p) * f64::from(1u32 << 24)).ceil() as u32;
        // The words of consecutive `next_u32` calls, a block at a time.
        let mut words = [0u32; 256];
        for chunk in out.chunks_mut(words.len()) {
            let words = &mut words[..chunk.len()];
            self.0.fill(words);
            for (x, &w) in chunk.iter_mut().zip(words.iter()) {
                *x = keep * f32::from(u8::from(w >> 8 >= drop_below));
            }
        }
    }

    /// `k` indices drawn uniformly with replacement from `0..n`.
    pub fn indices(&mut self, k: usize, n: usize) -> Vec<u32> {
        (0..k).map(|_| self.0.random_range(0..n) as u32).collect()
    }

    /// `k` indices drawn with replacement, index `i` with probability proportional to
    /// the weight whose running total `cumulative[i]` ends (the last entry is the total).
    pub fn weighted_indices(&mut self, k: usize, cumulative: &[f64]) -> Vec<u32> {
        let total = cumulative.last().copied().unwrap_or(0.0);
        (0..k)
            .map(|_| {
                let u = self.uniform() * total;
                cumulative
                    .partition_point(|&c| c <= u)
                    .min(cumulative.len() - 1) as u32
            })
            .collect()
    }

    /// A random subset of `0..n` of size `k` (or all of it when `k >= n`).
    pub fn subset(&mut self, n: usize, k: usize) -> Vec<usize> {
        if k >= n {
            return (0..n).collect();
        }
        rand::seq::index::sample(&mut self.0, n, k).into_vec()
    }

    pub fn shuffle(&mut self, xs: &mut [u32]) {
        use rand::seq::SliceRandom;
        xs.shuffle(&mut self.0);
    }
}

/// The random numbers a differential-privacy guarantee rests on (which rows join an
/// update, the Gaussian noise): ChaCha20 keyed by the operating system's cryptographic
/// generator, so that nothing stored or printed replays them. Keyed from a seed only
/// where a test must replay a private fit.
pub struct PrivacyRng(ChaCha20Rng);

impl PrivacyRng {
    /// Keyed from `seeded` for [`RandomSource::Seed`], else by the operating system.
    pub fn new(source: RandomSource, seeded: &mut SeededRng) -> Result<Self> {
        match source {
            RandomSource::System | RandomSource::SeedExceptPrivacy(_) => {
                ChaCha20Rng::try_from_os_rng()
                    .map(PrivacyRng)
                    .map_err(os_error)
            }
            RandomSource::Seed(_) => {
                Ok(PrivacyRng(ChaCha20Rng::seed_from_u64(seeded.split_seed())))
            }
        }
    }

    /// An independent stream with a fresh 256-bit key from this one.
    pub fn split(&mut self) -> Self {
        PrivacyRng(ChaCha20Rng::from_seed(self.0.random()))
    }

    /// Uniform on [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.random()
    }

    /// Standard normal draws, each the sum of four normal draws halved: the sum hides
    /// the gaps in floating-point normal samplers that single draws expose (Mironov 2012;
    /// the remedy of Holohan and Braghin 2021, as in opacus' secure mode).
    pub fn normal_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let sum: f64 = (0..4)
                    .map(|_| -> f64 { StandardNormal.sample(&mut self.0) })
                    .sum::<f64>();
                (sum / 2.0) as f32
            })
            .collect()
    }
}

/// `n` values written by `fill`.
fn filled(n: usize, fill: impl FnOnce(&mut [f32])) -> Vec<f32> {
    let mut values = vec![0.0; n];
    fill(&mut values);
    values
}

fn os_error(e: impl std::fmt::Display) -> Error {
    Error::Config(format!(
        "the operating system's random number generator failed: {e}"
    ))
}

/// Random tensors for tests of the candle networks.
#[cfg(test)]
impl SeededRng {
    pub fn normal_tensor(
        &mut self,
        rows: usize,
        cols: usize,
        dev: &candle_core::Device,
    ) -> candle_core::Result<Tensor> {
        Tensor::from_vec(self.normal_vec(rows * cols), (rows, cols), dev)
    }

    pub fn gumbel_tensor(
        &mut self,
        rows: usize,
        cols: usize,
        dev: &candle_core::Device,
    ) -> candle_core::Result<Tensor> {
        Tensor::from_vec(self.gumbel_vec(rows * cols), (rows, cols), dev)
    }

    pub fn dropout_tensor(
        &mut self,
        rows: usize,
        cols: usize,
        p: f32,
        dev: &candle_core::Device,
    ) -> candle_core::Result<Tensor> {
        Tensor::from_vec(self.dropout_mask(rows * cols, p), (rows, cols), dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_indices_follow_the_weights_and_skip_zero_weights() {
        let cumulative = [1.0, 1.0, 4.0, 4.0]; // weights 1, 0, 3, 0
        let drawn = SeededRng::new(3).weighted_indices(40_000, &cumulative);
        let share = |i: u32| drawn.iter().filter(|&&d| d == i).count() as f64 / 40_000.0;
        assert!((share(0) - 0.25).abs() < 0.01 && (share(2) - 0.75).abs() < 0.01);
        assert_eq!(share(1) + share(3), 0.0);
    }

    #[test]
    fn same_seed_same_stream() {
        let a = SeededRng::new(7).normal_vec(10);
        let b = SeededRng::new(7).normal_vec(10);
        let c = SeededRng::new(8).normal_vec(10);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn dropout_mask_keeps_expected_share_and_scale() {
        let mask = SeededRng::new(1).dropout_mask(100_000, 0.25);
        let kept = mask.iter().filter(|&&m| m > 0.0).count() as f64 / 1e5;
        assert!((kept - 0.75).abs() < 0.01, "kept {kept}");
        let mean: f64 = mask.iter().map(|&m| m as f64).sum::<f64>() / 1e5;
        assert!((mean - 1.0).abs() < 0.02, "mean {mean}");
    }

    #[test]
    fn privacy_draws_from_the_system_differ_and_are_standard_normal() {
        let mut seeded = SeededRng::new(1);
        let a = PrivacyRng::new(RandomSource::System, &mut seeded)
            .unwrap()
            .normal_vec(200_000);
        let b = PrivacyRng::new(RandomSource::System, &mut seeded)
            .unwrap()
            .normal_vec(10);
        assert_ne!(a[..10], b[..]);
        let n = a.len() as f64;
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let kurtosis = a.iter().map(|&x| (x as f64 - mean).powi(4)).sum::<f64>() / n / var.powi(2);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
        assert!((kurtosis - 3.0).abs() < 0.06, "kurtosis {kurtosis}");
    }

    #[test]
    fn seeded_privacy_draws_replay() {
        let draw = |seed| {
            let mut seeded = SeededRng::new(seed);
            PrivacyRng::new(RandomSource::Seed(seed), &mut seeded)
                .unwrap()
                .split()
                .normal_vec(5)
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn gumbel_draws_have_the_gumbel_mean() {
        let g = SeededRng::new(3).gumbel_vec(200_000);
        let mean = g.iter().map(|&x| x as f64).sum::<f64>() / g.len() as f64;
        assert!((mean - 0.5772).abs() < 0.01, "mean {mean}");
    }
}
