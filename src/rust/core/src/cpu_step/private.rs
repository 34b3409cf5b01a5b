//! DP-SGD on the explicit engine: a private critic update (generated rows clipped, the
//! penalty between pairs of generated rows, the Poisson sample of real rows clipped and
//! noised) and the generator update that follows.

use ndarray::{s, Array2};
use rayon::prelude::*;

use super::{mask_rows, rows_of, shard_grads, Buffers, CpuStep, CriticPass};
use crate::engine::{Beside, Clipping, PrivateDraws};

fn as_slices(masks: &[Vec<f32>]) -> Vec<&[f32]> {
    masks.iter().map(Vec::as_slice).collect()
}

impl CpuStep {
    /// Runs the generator on every shard's rows of the batch; returns the activated rows.
    fn generate_all(
        &self,
        buffers: &mut Buffers,
        noise: &[f32],
        gumbel: &[f32],
        masks: &[Vec<f32>],
    ) -> Array2<f32> {
        let shape = &self.shape;
        let net = &self.generator;
        buffers.0.par_iter_mut().for_each(|shard| {
            let rows = shard.rows(1);
            let masks = mask_rows(masks, &rows, &shape.hidden);
            shard.generator.forward(
                shape,
                net,
                rows_of(noise, &rows, shape.noise_dim),
                &[],
                rows_of(gumbel, &rows, shape.out - shape.n_scalars),
                &masks,
            );
        });
        let mut out = Array2::zeros((self.batch, shape.out));
        for shard in &buffers.0 {
            out.slice_mut(s![shard.rows(1), ..])
                .assign(&shard.generator.out);
        }
        out
    }

    /// One differentially private critic update (pac 1, no conditioning): generated
    /// rows' gradients clipped, the penalty between pairs of generated rows, the Poisson
    /// sample of real rows clipped and noised; all divided by the batch size. Does
    /// `beside` beside the AdamW step.
    pub fn private_critic_update(
        &mut self,
        buffers: &mut Buffers,
        draws: &PrivateDraws,
        data: &[f32],
        clipping: Clipping,
        beside: Beside,
    ) {
        let b = self.batch;
        let scale = 1.0 / b as f32;
        let (max_norm, sigma) = (clipping.max_norm as f32, clipping.noise_multiplier as f32);
        let hidden = &self.critic_hidden;
        let width = self.shape.out;
        let fake = self.generate_all(buffers, &draws.noise, &draws.gumbel, &draws.generator_masks);
        let fake_rows = fake.as_slice().expect("standard layout");
        let (critic, loss, penalty_weight) = (&self.critic, self.loss, self.penalty_weight);
        let (n, shards) = (draws.rows.len(), buffers.0.len());
        buffers.0.par_iter_mut().enumerate().for_each(|(k, shard)| {
            shard.critic_grad.fill(0.0);
            let grad = &mut shard.critic_grad;
            // This shard's generated rows: clipped, no noise.
            let rows = shard.packs.clone();
            let mut fake_pass = CriticPass::with_widths(hidden, rows.len(), width);
            let mine = rows_of(fake_rows, &rows, width);
            fake_pass.pack(rows.len(), |r| &mine[r * width..(r + 1) * width], &[]);
            fake_pass.forward(critic, &mask_rows(&draws.fake_masks, &rows, hidden));
            let mut d: Vec<f32> = fake_pass
                .score
                .iter()
                .map(|&s| loss.d_critic_fake(s))
                .collect();
            fake_pass.clipped_backward(critic, &mut d, max_norm, scale, grad);
            if let Some(penalty) = &draws.penalty {
                let mut mixed = CriticPass::with_widths(hidden, rows.len(), width);
                for (r, i) in rows.clone().enumerate() {
                    let (a, p) = (penalty.alpha[i], penalty.partner[i] as usize);
                    let (x, y) = (fake.row(i), fake.row(p));
                    let mut m = mixed.input.row_mut(r);
                    for j in 0..width {
                        m[j] = x[j] * a + y[j] * (1.0 - a);
                    }
                }
                mixed.forward(critic, &mask_rows(&penalty.masks, &rows, hidden));
                mixed.penalty_backward(critic, penalty_weight * scale, grad);
            }
            // This shard's part of the Poisson sample of real rows: clipped.
            let real_rows = n * k / shards..n * (k + 1) / shards;
            if !real_rows.is_empty() {
                let count = real_rows.len();
                let mut real = CriticPass::with_widths(hidden, count, width);
                let row = |r: usize| {
                    let i = draws.rows[real_rows.start + r] as usize;
                    &data[i * width..(i + 1) * width]
                };
                real.pack(count, row, &[]);
                real.forward(critic, &mask_rows(&draws.real_masks, &real_rows, hidden));
                let mut d: Vec<f32> = real.score.iter().map(|&s| loss.d_critic_real(s)).collect();
                real.clipped_backward(critic, &mut d, max_norm, scale, grad);
            }
        });
        let grads = shard_grads(&buffers.0, |s| &s.critic_grad);
        let noise = (!draws.gaussian.is_empty())
            .then_some((draws.gaussian.as_slice(), sigma * max_norm * scale));
        let (critic, adam) = (&mut self.critic, &self.adam);
        rayon::join(|| critic.adam_step(&grads, noise, adam), beside);
    }

    /// The generator update of a private step, on the rows of the last critic update
    /// (generated with dropout `generator_masks`) with critic dropout `masks`, doing
    /// `beside` beside the AdamW step; returns the generator loss.
    pub fn private_generator_update(
        &mut self,
        buffers: &mut Buffers,
        masks: &[Vec<f32>],
        generator_masks: &[Vec<f32>],
        beside: Beside,
    ) -> f32 {
        let b = self.batch;
        let scale = 1.0 / b as f32;
        let width = self.shape.out;
        let mut pass = CriticPass::with_widths(&self.critic_hidden, b, width);
        for shard in &buffers.0 {
            pass.input
                .slice_mut(s![shard.rows(1), ..])
                .assign(&shard.generator.out);
        }
        pass.forward(&self.critic, &as_slices(masks));
        let d: Vec<f32> = pass
            .score
            .iter()
            .map(|&s| self.loss.d_generator(s) * scale)
            .collect();
        let loss: f64 = pass.score.iter().map(|&s| self.loss.generator(s)).sum();
        pass.backward(&self.critic, &d, None, true);
        let grad_rows = pass.grad_input.as_slice().expect("standard layout");
        let shape = &self.shape;
        let net = &self.generator;
        buffers.0.par_iter_mut().for_each(|shard| {
            let rows = shard.rows(1);
            shard
                .generator
                .set_output_gradient(shape, &grad_rows[rows.start * width..], width);
            shard.generator_grad.fill(0.0);
            let masks = mask_rows(generator_masks, &rows, &shape.hidden);
            shard
                .generator
                .backward(shape, net, &mut shard.generator_grad, &masks);
        });
        let grads = shard_grads(&buffers.0, |s| &s.generator_grad);
        let (generator, adam) = (&mut self.generator, &self.adam);
        rayon::join(|| generator.adam_step(&grads, None, adam), beside);
        (loss / b as f64) as f32
    }
}
