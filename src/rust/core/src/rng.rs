//! The only source of randomness. candle's CPU generator cannot be seeded, so every
//! random number (weights, noise, minibatches, dropout, Gumbel noise) is drawn here.

#[cfg(test)]
use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        SeededRng(ChaCha8Rng::seed_from_u64(seed))
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
        (0..n).map(|_| StandardNormal.sample(&mut self.0)).collect()
    }

    pub fn uniform_vec(&mut self, n: usize, low: f32, high: f32) -> Vec<f32> {
        (0..n).map(|_| self.0.random_range(low..high)).collect()
    }

    /// Standard Gumbel draws, -ln(-ln U).
    pub fn gumbel_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let u: f64 = self.0.random_range(f64::EPSILON..1.0);
                -(-u.ln()).ln() as f32
            })
            .collect()
    }

    /// Inverted-dropout mask: 0 with probability `p`, else 1 / (1 - p).
    pub fn dropout_mask(&mut self, n: usize, p: f32) -> Vec<f32> {
        let keep = 1.0 / (1.0 - p);
        (0..n)
            .map(|_| {
                if self.0.random::<f32>() < p {
                    0.0
                } else {
                    keep
                }
            })
            .collect()
    }

    /// `k` indices drawn uniformly with replacement from `0..n`.
    pub fn indices(&mut self, k: usize, n: usize) -> Vec<u32> {
        (0..k).map(|_| self.0.random_range(0..n) as u32).collect()
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
    fn gumbel_draws_have_the_gumbel_mean() {
        let g = SeededRng::new(3).gumbel_vec(200_000);
        let mean = g.iter().map(|&x| x as f64).sum::<f64>() / g.len() as f64;
        assert!((mean - 0.5772).abs() < 0.01, "mean {mean}");
    }
}
