//! The interface between the training loop and the engines that compute its updates.
//! The loop draws every random input of an update ([`UpdateDraws`], [`PrivateDraws`])
//! and orders the updates; an [`Engine`] turns them into gradients and optimiser steps:
//! the explicit CPU engine ([`crate::cpu_step`]) or candle's autograd
//! ([`crate::autograd`]). Both consume the same draws in the same order, so they compute
//! the same fit.

use candle_core::{Device, Tensor};

use crate::condition::Conditioner;
use crate::config::TrainConfig;
use crate::encoding::Encoder;
use crate::error::Result;
use crate::network::{Critic, Generator, Params};
pub use crate::privacy::Clipping;

/// Rows of a step are processed in at most this many shards, in parallel when the
/// thread pool has room; the count depends on the batch only, so that results do not
/// depend on the number of threads. Both engines use it.
pub const SHARDS: usize = 4;
/// Packs per shard, at least: in smaller shards, the weight-gradient products over a
/// shard's few rows cost more than a second thread gains.
pub const MIN_SHARD_PACKS: usize = 10;

/// Shards a batch of `packs` packs splits into.
pub fn shard_count(packs: usize) -> usize {
    (packs / MIN_SHARD_PACKS).clamp(1, SHARDS)
}

/// The packs of shard `s` of `shards`: consecutive, sizes differing by at most one.
pub fn shard_packs(packs: usize, s: usize, shards: usize) -> std::ops::Range<usize> {
    packs * s / shards..packs * (s + 1) / shards
}

/// What the engines read: the settings, the encoded data and the networks.
pub struct Context {
    pub config: TrainConfig,
    pub encoder: Encoder,
    pub conditioner: Option<Conditioner>,
    /// The encoded training rows.
    pub data: Tensor,
    /// Rows per step.
    pub batch: usize,
    pub generator: Generator,
    pub critic: Critic,
    pub generator_params: Params,
    pub critic_params: Params,
    pub device: Device,
}

/// The random inputs of one critic update, drawn by the loop in a fixed order.
pub struct UpdateDraws {
    /// Indices of the real rows.
    pub rows: Vec<u32>,
    pub cond: Vec<f32>,
    /// Per conditioning column, the slot each row fixes.
    pub fixed: Vec<Vec<Option<usize>>>,
    pub noise: Vec<f32>,
    pub gumbel: Vec<f32>,
    /// Generator dropout masks per block; empty without generator dropout.
    pub generator_masks: Vec<Vec<f32>>,
    pub real_masks: Vec<Vec<f32>>,
    pub fake_masks: Vec<Vec<f32>>,
    /// Interpolation weights per pack and dropout masks of the gradient penalty.
    pub penalty: Option<(Vec<f32>, Vec<Vec<f32>>)>,
}

/// The random inputs of one differentially private critic update.
pub struct PrivateDraws {
    pub noise: Vec<f32>,
    pub gumbel: Vec<f32>,
    pub generator_masks: Vec<Vec<f32>>,
    pub fake_masks: Vec<Vec<f32>>,
    /// The gradient penalty's draws (WGAN-GP).
    pub penalty: Option<PairPenalty>,
    /// The Poisson sample of real rows.
    pub rows: Vec<u32>,
    pub real_masks: Vec<Vec<f32>>,
    /// Standard normal noise for every critic parameter (empty without noise).
    pub gaussian: Vec<f32>,
}

/// The gradient penalty of a private update is taken between pairs of generated rows.
pub struct PairPenalty {
    /// The row each generated row is paired with.
    pub partner: Vec<u32>,
    pub alpha: Vec<f32>,
    pub masks: Vec<Vec<f32>>,
}

/// Work the loop hands an update, to be done once during it: drawing the next update's
/// random inputs, which do not depend on the weights. The explicit engine does it
/// beside its optimiser step, which is bound by memory rather than arithmetic and
/// leaves threads idle.
pub type Beside<'a> = &'a mut (dyn FnMut() + Send);

/// Computes the updates of a training step from the loop's draws.
pub trait Engine: Send {
    /// One critic update, doing `beside` once; returns the critic loss and the score
    /// gap (mean real minus mean generated score).
    fn critic_update(
        &mut self,
        cx: &Context,
        draws: &UpdateDraws,
        beside: Beside,
    ) -> Result<(f32, f32)>;

    /// The generator update on the rows generated for the last critic update (`last`),
    /// judged with critic dropout `masks`, doing `beside` once; returns the generator
    /// loss.
    fn generator_update(
        &mut self,
        cx: &Context,
        last: &UpdateDraws,
        masks: &[Vec<f32>],
        beside: Beside,
    ) -> Result<f32>;

    /// One DP-SGD critic update (pac 1, no conditioning): generated rows' gradients
    /// clipped, the gradient penalty between pairs of generated rows, the Poisson sample
    /// of real rows clipped and noised; everything divided by the batch size. Does
    /// `beside` once.
    fn private_critic_update(
        &mut self,
        cx: &Context,
        draws: &PrivateDraws,
        clipping: Clipping,
        beside: Beside,
    ) -> Result<()>;

    /// The generator update after private critic updates, on the rows generated for
    /// the last of them, doing `beside` once; returns the generator loss.
    fn private_generator_update(
        &mut self,
        cx: &Context,
        last: &PrivateDraws,
        masks: &[Vec<f32>],
        beside: Beside,
    ) -> Result<f32>;

    /// Remembers the current state for [`Engine::rollback`].
    fn checkpoint(&mut self, cx: &Context) -> Result<()>;

    /// Returns to the state of the last checkpoint.
    fn rollback(&mut self, cx: &Context) -> Result<()>;

    /// Makes the weights in `cx`'s parameters current (the model is read from them).
    fn store(&mut self, cx: &Context) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_with_enough_packs_each() {
        assert_eq!(shard_count(19), 1);
        assert_eq!(shard_count(25), 2);
        assert_eq!(shard_count(500), SHARDS);
        for packs in 1..200 {
            let n = shard_count(packs);
            let ranges: Vec<_> = (0..n).map(|s| shard_packs(packs, s, n)).collect();
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges[n - 1].end, packs);
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
            assert!(n == 1 || ranges.iter().all(|r| r.len() >= MIN_SHARD_PACKS));
        }
    }
}
