//! The training loop: WGAN-GP (default) or the standard GAN loss, with conditional
//! training-by-sampling, driven a few steps at a time by the caller. Settings are in
//! [`crate::config`].

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer};
use rayon::prelude::*;

use crate::condition::{CondSpec, Conditioner};
use crate::config::TrainConfig;
use crate::cpu_step::{Buffers, Clipping, CpuStep, PairPenalty, PrivateDraws, UpdateDraws, SHARDS};
use crate::encoding::Encoder;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::network::{
    gradient_penalty, Critic, CriticSpec, Generated, Generator, GeneratorSpec, Params,
};
use crate::parallel::thread_pool;
use crate::privacy::clipping::{noisy_clipped_sum, poisson_sample};
use crate::privacy::PrivacyConfig;
use crate::rng::{PrivacyRng, RandomSource, SeededRng};
use crate::schema::Table;

/// Losses of one training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLosses {
    pub critic: f32,
    pub generator: f32,
    /// Mean critic score on real rows minus on generated rows (a Wasserstein estimate
    /// under WGAN-GP).
    pub score_gap: f32,
}

/// Blocks of rows whose generator noise is drawn in parallel; fixed, so that the draws
/// do not depend on the number of threads.
const DRAW_CHUNKS: usize = 8;

/// Everything random in one critic update, as tensors for the autograd path.
struct CriticDraws {
    batch: Batch,
    z: Tensor,
    gumbel: Tensor,
    generator_masks: Option<Vec<Tensor>>,
    real_masks: Vec<Tensor>,
    fake_masks: Vec<Tensor>,
    /// Interpolation weights and dropout masks of the gradient penalty (WGAN-GP).
    penalty: Option<(Tensor, Vec<Tensor>)>,
}

/// `masks` (one per layer, `rows` x `widths[l]`) as tensors.
fn mask_tensors(
    masks: &[Vec<f32>],
    rows: usize,
    widths: &[usize],
    device: &Device,
) -> Result<Vec<Tensor>> {
    masks
        .iter()
        .zip(widths)
        .map(|(m, &w)| Ok(Tensor::from_slice(m, (rows, w), device)?))
        .collect()
}

/// What [`Trainer::train`] restores when training diverges.
enum Before {
    Weights(HashMap<String, Tensor>, HashMap<String, Tensor>),
    Explicit(Box<CpuStep>),
}

/// How the steps are computed.
enum Engine {
    /// candle's autograd: any device, and attention.
    Autograd {
        generator_opt: AdamW,
        critic_opt: AdamW,
    },
    /// Hand-derived gradients on the CPU.
    Explicit {
        step: Box<CpuStep>,
        buffers: Buffers,
    },
}

/// Sums shard gradients per variable into one store.
fn sum_gradients(mut stores: Vec<GradStore>, vars: Vec<candle_core::Var>) -> Result<GradStore> {
    let mut total = stores.remove(0);
    for store in &stores {
        for var in &vars {
            if let Some(g) = store.get(var.as_tensor()) {
                let sum = match total.get(var.as_tensor()) {
                    Some(t) => (t + g)?,
                    None => g.clone(),
                };
                total.insert(var.as_tensor(), sum);
            }
        }
    }
    Ok(total)
}

/// Real rows of one step, their condition vectors and, per conditioning column, the
/// slot each row fixes.
struct Batch {
    real: Tensor,
    cond: Tensor,
    fixed: Vec<Vec<Option<usize>>>,
}

pub struct Trainer {
    config: TrainConfig,
    encoder: Encoder,
    conditioner: Option<Conditioner>,
    data: Tensor,
    n_rows: usize,
    /// Rows an epoch covers: the data's, or a private fit's declared public count.
    epoch_rows: usize,
    batch: usize,
    generator_params: Params,
    critic_params: Params,
    generator: Generator,
    critic: Critic,
    engine: Engine,
    rng: SeededRng,
    /// Poisson sampling and Gaussian noise of a private fit.
    privacy_rng: Option<PrivacyRng>,
    device: Device,
    pool: Arc<rayon::ThreadPool>,
    steps_before: usize,
    steps: usize,
    /// Differentially private critic updates taken.
    private_steps: u64,
}

impl Trainer {
    /// A new model for `table`. A private fit sees `table` through
    /// [`PrivacyConfig::public_table`], and its privacy draws are replayable only from
    /// [`RandomSource::Seed`] (for tests): released private fits use
    /// [`RandomSource::System`].
    pub fn new(
        table: &Table,
        config: TrainConfig,
        source: RandomSource,
        threads: usize,
        device: Device,
    ) -> Result<Self> {
        config.check()?;
        let mut rng = SeededRng::from_source(source)?;
        let pool = Arc::new(thread_pool(threads)?);
        match &config.privacy {
            Some(privacy) => {
                let table = privacy.public_table(table)?;
                let encoder = privacy.public_encoder(&table, &config.encoder)?;
                Self::build(&table, config, encoder, None, 0, rng, source, pool, device)
            }
            None => {
                let encoder =
                    pool.install(|| Encoder::fit(table, &config.encoder, &mut rng.split()))?;
                Self::build(table, config, encoder, None, 0, rng, source, pool, device)
            }
        }
    }

    /// Continues training `model` on `table` (same columns and classes).
    pub fn resume(
        model: &Model,
        table: &Table,
        source: RandomSource,
        threads: usize,
        device: Device,
    ) -> Result<Self> {
        if model.config.privacy.is_some() {
            return Err(Error::Config(
                "a differentially private fit cannot be trained further: its privacy budget is spent; fit a new model".into(),
            ));
        }
        model.encoder.check_compatible(table)?;
        Self::build(
            table,
            model.config.clone(),
            model.encoder.clone(),
            Some(&model.weights),
            model.steps,
            SeededRng::from_source(source)?,
            source,
            Arc::new(thread_pool(threads)?),
            device,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        table: &Table,
        mut config: TrainConfig,
        encoder: Encoder,
        weights: Option<&HashMap<String, Tensor>>,
        steps_before: usize,
        mut rng: SeededRng,
        source: RandomSource,
        pool: Arc<rayon::ThreadPool>,
        device: Device,
    ) -> Result<Self> {
        let conditioner = if config.condition_on.is_empty() {
            None
        } else {
            Some(Conditioner::new(&encoder, table, &config.condition_on)?)
        };
        let (gspec, cspec) = specs(&config, &encoder, conditioner.as_ref().map(|c| &c.spec));
        let (generator_params, critic_params) = match weights {
            Some(w) => (
                Params::from_tensors(w, "generator.", &device)?,
                Params::from_tensors(w, "critic.", &device)?,
            ),
            None => (Params::new(&device), Params::new(&device)),
        };
        let mut init_rng = rng.split();
        let generator = Generator::new(&gspec, &generator_params, &mut init_rng)?;
        let critic = Critic::new(&cspec, &critic_params, &mut init_rng)?;
        let encoded = pool.install(|| encoder.encode(table, &mut rng.split()))?;
        let (n_rows, width) = encoded.dim();
        let data = Tensor::from_vec(
            encoded.into_raw_vec_and_offset().0,
            (n_rows, width),
            &device,
        )?;
        let epoch_rows = config
            .privacy
            .as_ref()
            .and_then(|p| p.rows)
            .unwrap_or(n_rows);
        let batch = config.effective_batch(epoch_rows);
        let explicit = device.is_cpu() && config.attention_tokens == 0;
        let engine = if explicit {
            let condition_groups = conditioner
                .as_ref()
                .map(|c| {
                    c.spec
                        .columns
                        .iter()
                        .map(|col| {
                            let g = encoder.groups[encoder.columns[col.column]
                                .group
                                .expect("categorical column has a group")];
                            (g.start, g.width)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let (step, buffers) = CpuStep::new(
                generator.spec(),
                critic.spec(),
                &generator_params,
                &critic_params,
                config.adam(),
                config.loss,
                config.gradient_penalty,
                batch,
                condition_groups,
            )?;
            Engine::Explicit {
                step: Box::new(step),
                buffers,
            }
        } else {
            autograd_engine(&config, &generator_params, &critic_params)?
        };
        let critic_steps = config.critic_steps as u64;
        let mut privacy_rng = None;
        if let Some(privacy) = config.privacy.as_mut() {
            let steps = (privacy.epochs * epoch_rows.div_ceil(batch)) as u64 * critic_steps;
            privacy.calibrate(batch as f64 / epoch_rows as f64, steps)?;
            privacy_rng = Some(PrivacyRng::new(source, &mut rng)?);
        }
        Ok(Trainer {
            batch,
            config,
            encoder,
            conditioner,
            data,
            n_rows,
            epoch_rows,
            generator_params,
            critic_params,
            generator,
            critic,
            engine,
            rng,
            privacy_rng,
            device,
            pool,
            steps_before,
            steps: 0,
            private_steps: 0,
        })
    }

    /// Computes every step with candle's autograd, as on a GPU, instead of hand-derived
    /// gradients (for checks and comparisons); only before the first step.
    pub fn use_autograd(&mut self) -> Result<()> {
        if self.steps > 0 {
            return Err(Error::Config(
                "the engine can only be changed before training".into(),
            ));
        }
        self.engine = autograd_engine(&self.config, &self.generator_params, &self.critic_params)?;
        Ok(())
    }

    /// The two optimisers of the autograd engine.
    fn optimisers(&mut self) -> Result<(&mut AdamW, &mut AdamW)> {
        match &mut self.engine {
            Engine::Autograd {
                generator_opt,
                critic_opt,
            } => Ok((generator_opt, critic_opt)),
            Engine::Explicit { .. } => {
                Err(Error::Config("this step needs the autograd engine".into()))
            }
        }
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.epoch_rows.div_ceil(self.batch)
    }

    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Epsilon spent so far, for a differentially private fit.
    pub fn epsilon_spent(&self) -> Result<Option<f64>> {
        self.config
            .privacy
            .as_ref()
            .map(|p| p.spent(self.private_steps))
            .transpose()
    }

    /// Runs `steps` steps. If a loss becomes non-finite, the weights are rolled back
    /// to where they were when this call started and an error is returned.
    pub fn train(&mut self, steps: usize) -> Result<Vec<StepLosses>> {
        // The explicit engine writes the candle weights only when a call succeeds.
        let before = match &self.engine {
            Engine::Explicit { step, .. } => Before::Explicit(step.clone()),
            Engine::Autograd { .. } => Before::Weights(
                self.generator_params.snapshot()?,
                self.critic_params.snapshot()?,
            ),
        };
        let privacy = self.config.privacy.clone();
        let pool = Arc::clone(&self.pool);
        let result = pool.install(|| {
            let mut out = Vec::with_capacity(steps);
            for _ in 0..steps {
                let losses = match (&privacy, &self.engine) {
                    (Some(privacy), Engine::Explicit { .. }) => {
                        self.explicit_private_step(privacy)?
                    }
                    (Some(privacy), Engine::Autograd { .. }) => self.private_step(privacy)?,
                    (None, Engine::Explicit { .. }) => self.explicit_step()?,
                    (None, Engine::Autograd { .. }) => self.autograd_step()?,
                };
                let critic_ok = losses.critic.is_finite() || privacy.is_some();
                if !(critic_ok && losses.generator.is_finite()) {
                    return Err(Error::Diverged(format!(
                        "training diverged at step {} (losses critic {}, generator {}); \
                         try a smaller `learning_rate`",
                        self.steps_before + self.steps,
                        losses.critic,
                        losses.generator
                    )));
                }
                out.push(losses);
            }
            Ok(out)
        });
        match (&result, &mut self.engine, before) {
            (Ok(_), Engine::Explicit { step, .. }, _) => {
                step.store(&self.generator_params, &self.critic_params)?
            }
            (Err(_), Engine::Explicit { step, .. }, Before::Explicit(saved)) => *step = saved,
            (Err(_), _, Before::Weights(generator, critic)) => {
                self.generator_params.restore(&generator)?;
                self.critic_params.restore(&critic)?;
            }
            _ => {}
        }
        result
    }

    /// One step with hand-derived gradients: the same updates, in the same order and
    /// with the same draws, as [`Self::autograd_step`].
    fn explicit_step(&mut self) -> Result<StepLosses> {
        let (mut critic_loss, mut gap) = (0.0, 0.0);
        let mut last = None;
        for _ in 0..self.config.critic_steps {
            let draws = self.draw_critic_update();
            let (step, buffers) = explicit(&mut self.engine)?;
            (critic_loss, gap) =
                with_cpu_values(&self.data, |data| step.critic_update(buffers, &draws, data))?;
            last = Some(draws);
        }
        let draws = last.expect("at least one critic step");
        let masks = self.draw_critic_masks(self.batch / self.config.pac, 1, false);
        let (step, buffers) = explicit(&mut self.engine)?;
        let generator_loss = step.generator_update(buffers, &draws, &masks);
        self.steps += 1;
        Ok(StepLosses {
            critic: critic_loss,
            generator: generator_loss,
            score_gap: gap,
        })
    }

    /// Random values for `rows` rows: the rows are cut into [`DRAW_CHUNKS`] blocks, each
    /// drawn from its own stream, in parallel; `draw(rng, n)` gives every part for `n`
    /// rows, and each part is concatenated over the blocks.
    fn draw_blocks(
        &mut self,
        rows: usize,
        draw: impl Fn(&mut SeededRng, usize) -> Vec<Vec<f32>> + Sync,
    ) -> Vec<Vec<f32>> {
        let seeds: Vec<u64> = (0..DRAW_CHUNKS).map(|_| self.rng.split_seed()).collect();
        let blocks: Vec<Vec<Vec<f32>>> = seeds
            .par_iter()
            .enumerate()
            .map(|(k, &seed)| {
                let n = rows * (k + 1) / DRAW_CHUNKS - rows * k / DRAW_CHUNKS;
                draw(&mut SeededRng::new(seed), n)
            })
            .collect();
        let mut parts = blocks[0].iter().map(|_| Vec::new()).collect::<Vec<_>>();
        for block in blocks {
            for (part, values) in parts.iter_mut().zip(block) {
                part.extend(values);
            }
        }
        parts
    }

    /// The generator's noise, Gumbel noise and dropout masks (none without dropout)
    /// for one batch.
    fn draw_generator_inputs(&mut self) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
        let spec = self.generator.spec().clone();
        let gumbel_dim = spec.output_width() - spec.n_scalars;
        let mut parts = self.draw_blocks(self.batch, |rng, n| {
            let mut parts = vec![
                rng.normal_vec(n * spec.noise_dim),
                rng.gumbel_vec(n * gumbel_dim),
            ];
            if spec.dropout > 0.0 {
                parts.extend(
                    spec.hidden
                        .iter()
                        .map(|&h| rng.dropout_mask(n * h, spec.dropout)),
                );
            }
            parts
        });
        let masks = parts.split_off(2);
        let gumbel = parts.pop().expect("gumbel part");
        let noise = parts.pop().expect("noise part");
        (noise, gumbel, masks)
    }

    /// Critic dropout masks for `sets` passes over `packs` packs, one per hidden layer
    /// and pass, and (if `alpha`) interpolation weights last.
    fn draw_critic_masks(&mut self, packs: usize, sets: usize, alpha: bool) -> Vec<Vec<f32>> {
        let spec = self.critic.spec().clone();
        self.draw_blocks(packs, |rng, n| {
            let mut parts: Vec<Vec<f32>> = (0..sets)
                .flat_map(|_| {
                    spec.hidden
                        .iter()
                        .map(|&h| rng.dropout_mask(n * h, spec.dropout))
                        .collect::<Vec<_>>()
                })
                .collect();
            if alpha {
                parts.push(rng.uniform_vec(n, 0.0, 1.0));
            }
            parts
        })
    }

    /// Everything random in one critic update, drawn in a fixed order.
    fn draw_critic_update(&mut self) -> UpdateDraws {
        let b = self.batch;
        let (rows, cond, fixed) = match &self.conditioner {
            Some(c) => {
                let s = c.sample(b, &mut self.rng);
                (s.rows, s.vectors, s.fixed)
            }
            None => (self.rng.indices(b, self.n_rows), Vec::new(), Vec::new()),
        };
        let (noise, gumbel, generator_masks) = self.draw_generator_inputs();
        let wgan = self.config.loss.has_penalty();
        let layers = self.critic.spec().hidden.len();
        let mut masks = self.draw_critic_masks(b / self.config.pac, 2 + usize::from(wgan), wgan);
        let penalty = wgan.then(|| {
            let alpha = masks.pop().expect("interpolation weights");
            (alpha, masks.split_off(2 * layers))
        });
        let fake_masks = masks.split_off(layers);
        let real_masks = masks;
        UpdateDraws {
            rows,
            cond,
            fixed,
            noise,
            gumbel,
            generator_masks,
            real_masks,
            fake_masks,
            penalty,
        }
    }

    /// The draws of a critic update as tensors, with the real rows looked up.
    fn draw_tensors(&self, d: &UpdateDraws) -> Result<CriticDraws> {
        let (b, dev) = (self.batch, &self.device);
        let packs = b / self.config.pac;
        let spec = self.generator.spec();
        let critic_widths = &self.critic.spec().hidden;
        let idx = Tensor::from_slice(&d.rows, b, dev)?;
        let cond_dim = self.conditioner.as_ref().map_or(0, |c| c.spec.dim());
        let batch = Batch {
            real: self.data.index_select(&idx, 0)?,
            cond: Tensor::from_slice(&d.cond, (b, cond_dim), dev)?,
            fixed: d.fixed.clone(),
        };
        let generator_masks = mask_tensors(&d.generator_masks, b, &spec.hidden, dev)?;
        let penalty = match &d.penalty {
            Some((alpha, masks)) => Some((
                Tensor::from_slice(alpha, (packs, 1), dev)?,
                mask_tensors(masks, packs, critic_widths, dev)?,
            )),
            None => None,
        };
        Ok(CriticDraws {
            batch,
            z: Tensor::from_slice(&d.noise, (b, spec.noise_dim), dev)?,
            gumbel: Tensor::from_slice(&d.gumbel, (b, spec.output_width() - spec.n_scalars), dev)?,
            generator_masks: (!generator_masks.is_empty()).then_some(generator_masks),
            real_masks: mask_tensors(&d.real_masks, packs, critic_widths, dev)?,
            fake_masks: mask_tensors(&d.fake_masks, packs, critic_widths, dev)?,
            penalty,
        })
    }

    /// Shard `s` of `shards` of a critic update: its part of the batch loss (sums divided
    /// by the whole batch's pack count), the gradients of that part, the rows it
    /// generated (graph kept for the generator update) and its part of the score gap.
    fn critic_shard(
        &self,
        draws: &CriticDraws,
        s: usize,
        shards: usize,
    ) -> Result<(GradStore, Generated, f32, f32)> {
        let (rows, packs) = (self.batch / shards, self.batch / self.config.pac / shards);
        let total_packs = (self.batch / self.config.pac) as f64;
        let by_row = |t: &Tensor| t.narrow(0, s * rows, rows);
        let by_pack = |t: &Tensor| t.narrow(0, s * packs, packs);
        let by_pack_all = |ts: &[Tensor]| {
            ts.iter()
                .map(by_pack)
                .collect::<candle_core::Result<Vec<_>>>()
        };
        let cond = by_row(&draws.batch.cond)?;
        let input = Tensor::cat(&[&by_row(&draws.z)?, &cond], 1)?;
        let generator_masks = draws
            .generator_masks
            .as_ref()
            .map(|m| {
                m.iter()
                    .map(by_row)
                    .collect::<candle_core::Result<Vec<_>>>()
            })
            .transpose()?;
        let generated =
            self.generator
                .forward(&input, generator_masks.as_deref(), &by_row(&draws.gumbel)?)?;
        let fake = generated.rows.detach();
        let pr = self
            .critic
            .pack(&Tensor::cat(&[&by_row(&draws.batch.real)?, &cond], 1)?)?;
        let pf = self.critic.pack(&Tensor::cat(&[&fake, &cond], 1)?)?;
        let d_real = self.critic.forward(&pr, &by_pack_all(&draws.real_masks)?)?;
        let d_fake = self.critic.forward(&pf, &by_pack_all(&draws.fake_masks)?)?;
        let terms = self.config.loss.critic_sum(&d_real, &d_fake)?;
        let loss = match &draws.penalty {
            Some((alpha, masks)) => {
                let alpha = by_pack(alpha)?;
                let mixed =
                    (pr.broadcast_mul(&alpha)? + pf.broadcast_mul(&alpha.affine(-1.0, 1.0)?)?)?;
                let (_, grad) = self
                    .critic
                    .forward_with_input_grad(&mixed, &by_pack_all(masks)?)?;
                let penalty =
                    (gradient_penalty(&grad)? * (self.config.gradient_penalty * packs as f64))?;
                (terms + penalty)?
            }
            None => terms,
        };
        let loss = (loss / total_packs)?;
        let gap = ((d_real.sum_all()? - d_fake.sum_all()?)? / total_packs)?;
        Ok((
            loss.backward()?,
            generated,
            loss.to_scalar::<f32>()?,
            gap.to_scalar::<f32>()?,
        ))
    }

    /// Shard `s` of the generator update on rows generated for the last critic update.
    fn generator_shard(
        &self,
        draws: &CriticDraws,
        generated: &Generated,
        masks: &[Tensor],
        s: usize,
        shards: usize,
    ) -> Result<(GradStore, f32)> {
        let (rows, packs) = (self.batch / shards, self.batch / self.config.pac / shards);
        let total_packs = (self.batch / self.config.pac) as f64;
        let cond = draws.batch.cond.narrow(0, s * rows, rows)?;
        let masks = masks
            .iter()
            .map(|m| m.narrow(0, s * packs, packs))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let packed = self
            .critic
            .pack(&Tensor::cat(&[&generated.rows, &cond], 1)?)?;
        let d_fake = self.critic.forward(&packed, &masks)?;
        let mut loss = (self.config.loss.generator_sum(&d_fake)? / total_packs)?;
        if let Some(c) = &self.conditioner {
            let fixed: Vec<Vec<Option<usize>>> = draws
                .batch
                .fixed
                .iter()
                .map(|slots| slots[s * rows..(s + 1) * rows].to_vec())
                .collect();
            loss = (loss
                + condition_cross_entropy(
                    c,
                    &self.encoder,
                    &generated.logits,
                    &fixed,
                    self.batch,
                    &self.device,
                )?)?;
        }
        Ok((loss.backward()?, loss.to_scalar::<f32>()?))
    }

    /// Shards a batch splits into: [`SHARDS`] when its packs divide evenly, else one.
    fn shards(&self) -> usize {
        let packs = self.batch / self.config.pac;
        if packs >= SHARDS && packs.is_multiple_of(SHARDS) {
            SHARDS
        } else {
            1
        }
    }

    /// One step: `critic_steps` critic updates, then a generator update that reuses
    /// the rows generated for the last critic update (their graph is kept), which saves
    /// a generator pass. Each update runs its batch in shards on the thread pool and
    /// sums their gradients, so the result does not depend on the number of threads.
    fn autograd_step(&mut self) -> Result<StepLosses> {
        let shards = self.shards();
        let mut critic_loss = 0.0;
        let mut gap = 0.0;
        let mut last = None;
        for _ in 0..self.config.critic_steps {
            let draws = self.draw_critic_update();
            let draws = self.draw_tensors(&draws)?;
            let parts = (0..shards)
                .into_par_iter()
                .map(|s| self.critic_shard(&draws, s, shards))
                .collect::<Result<Vec<_>>>()?;
            let mut stores = Vec::with_capacity(shards);
            let mut generated = Vec::with_capacity(shards);
            (critic_loss, gap) = (0.0, 0.0);
            for (store, g, loss, shard_gap) in parts {
                stores.push(store);
                generated.push(g);
                critic_loss += loss;
                gap += shard_gap;
            }
            let grads = sum_gradients(stores, self.critic_params.vars())?;
            self.optimisers()?.1.step(&grads)?;
            last = Some((draws, generated));
        }

        let (draws, generated) = last.expect("at least one critic step");
        let packs = self.batch / self.config.pac;
        let masks = self.draw_critic_masks(packs, 1, false);
        let masks = mask_tensors(&masks, packs, &self.critic.spec().hidden, &self.device)?;
        let parts = (0..shards)
            .into_par_iter()
            .map(|s| self.generator_shard(&draws, &generated[s], &masks, s, shards))
            .collect::<Result<Vec<_>>>()?;
        let generator_loss = parts.iter().map(|p| p.1).sum();
        let stores = parts.into_iter().map(|p| p.0).collect();
        let grads = sum_gradients(stores, self.generator_params.vars())?;
        self.optimisers()?.0.step(&grads)?;
        self.steps += 1;
        Ok(StepLosses {
            critic: critic_loss,
            generator: generator_loss,
            score_gap: gap,
        })
    }

    /// The calibrated noise multiplier, if the budget allows one more step.
    fn private_budget(&self, privacy: &PrivacyConfig) -> Result<f64> {
        let sigma = privacy
            .noise_multiplier
            .ok_or_else(|| Error::Config("the noise has not been calibrated".into()))?;
        if self.private_steps + self.config.critic_steps as u64 > privacy.max_steps {
            return Err(Error::Config(
                "the privacy budget is spent: no further training steps are allowed".into(),
            ));
        }
        Ok(sigma)
    }

    /// Standard normal noise for `coordinates` critic coordinates from the privacy
    /// generator, in [`DRAW_CHUNKS`] blocks drawn in parallel, each from its own stream.
    fn draw_privacy_noise(&mut self, coordinates: usize) -> Result<Vec<f32>> {
        let rng = self.privacy_rng()?;
        let mut streams: Vec<PrivacyRng> = (0..DRAW_CHUNKS).map(|_| rng.split()).collect();
        let blocks: Vec<Vec<f32>> = streams
            .par_iter_mut()
            .enumerate()
            .map(|(k, rng)| {
                rng.normal_vec(coordinates * (k + 1) / DRAW_CHUNKS - coordinates * k / DRAW_CHUNKS)
            })
            .collect();
        Ok(blocks.concat())
    }

    fn privacy_rng(&mut self) -> Result<&mut PrivacyRng> {
        self.privacy_rng
            .as_mut()
            .ok_or_else(|| Error::Config("this fit is not differentially private".into()))
    }

    /// Everything random in one private critic update, drawn in a fixed order.
    fn draw_private_update(&mut self, privacy: &PrivacyConfig, sigma: f64) -> Result<PrivateDraws> {
        let b = self.batch;
        let (noise, gumbel, generator_masks) = self.draw_generator_inputs();
        let fake_masks = self.draw_critic_masks(b, 1, false);
        let penalty = if self.config.loss.has_penalty() {
            let mut partner: Vec<u32> = (0..b as u32).collect();
            self.rng.shuffle(&mut partner);
            let alpha = self.rng.uniform_vec(b, 0.0, 1.0);
            let masks = self.draw_critic_masks(b, 1, false);
            Some(PairPenalty {
                partner,
                alpha,
                masks,
            })
        } else {
            None
        };
        let rows = poisson_sample(self.n_rows, privacy.sample_rate, self.privacy_rng()?);
        let real_masks = if rows.is_empty() {
            Vec::new()
        } else {
            self.draw_critic_masks(rows.len(), 1, false)
        };
        let gaussian = if sigma * privacy.max_grad_norm > 0.0 {
            let coordinates = self
                .critic_params
                .vars()
                .iter()
                .map(|v| v.elem_count())
                .sum();
            self.draw_privacy_noise(coordinates)?
        } else {
            Vec::new()
        };
        Ok(PrivateDraws {
            noise,
            gumbel,
            generator_masks,
            fake_masks,
            penalty,
            rows,
            real_masks,
            gaussian,
        })
    }

    /// [`Self::private_step`] with hand-derived gradients: the same draws, the same
    /// updates.
    fn explicit_private_step(&mut self, privacy: &PrivacyConfig) -> Result<StepLosses> {
        let sigma = self.private_budget(privacy)?;
        let mut last_generator_masks = Vec::new();
        for _ in 0..self.config.critic_steps {
            let draws = self.draw_private_update(privacy, sigma)?;
            let clipping = Clipping {
                max_norm: privacy.max_grad_norm as f32,
                noise_multiplier: sigma as f32,
            };
            let (step, buffers) = explicit(&mut self.engine)?;
            with_cpu_values(&self.data, |data| {
                step.private_critic_update(buffers, &draws, data, clipping)
            })?;
            self.private_steps += 1;
            last_generator_masks = draws.generator_masks;
        }
        let masks = self.draw_critic_masks(self.batch, 1, false);
        let (step, buffers) = explicit(&mut self.engine)?;
        let generator = step.private_generator_update(buffers, &masks, &last_generator_masks);
        self.steps += 1;
        Ok(StepLosses {
            critic: f32::NAN,
            generator,
            score_gap: f32::NAN,
        })
    }

    /// One differentially private step: `critic_steps` critic updates, each on a Poisson
    /// sample of real rows whose per-row gradients are clipped and noised (DP-SGD), then
    /// a generator update, which never sees real rows. Generated rows' gradients are
    /// clipped too (noise-free). The gradient penalty is taken at points between pairs of
    /// generated rows, so it touches no real row. Only the
    /// generator loss is reported: the critic loss on real rows would be an unaccounted
    /// look at the data.
    fn private_step(&mut self, privacy: &PrivacyConfig) -> Result<StepLosses> {
        let sigma = self.private_budget(privacy)?;
        let critic_steps = self.config.critic_steps as u64;
        let b = self.batch;
        let dev = self.device.clone();
        let hidden = self.critic.spec().hidden.clone();
        let mut last = None;
        for _ in 0..critic_steps {
            let draws = self.draw_private_update(privacy, sigma)?;
            let spec = self.generator.spec();
            let z = Tensor::from_slice(&draws.noise, (b, spec.noise_dim), &dev)?;
            let gumbel = Tensor::from_slice(
                &draws.gumbel,
                (b, spec.output_width() - spec.n_scalars),
                &dev,
            )?;
            let generator_masks = mask_tensors(&draws.generator_masks, b, &spec.hidden, &dev)?;
            let generated = self.generator.forward(
                &z,
                (!generator_masks.is_empty()).then_some(&generator_masks[..]),
                &gumbel,
            )?;
            let fake = generated.rows.detach();
            let params = self.critic.linear_parameters();
            let scale = 1.0 / b as f64;
            // Generated rows are clipped like real ones (without noise: they cost no
            // privacy), so that neither side's gradient dwarfs the other's.
            let fake_masks = mask_tensors(&draws.fake_masks, b, &hidden, &dev)?;
            let (d_fake, fake_taps) = self.critic.forward_with_taps(&fake, &fake_masks)?;
            let per_fake_row = self.config.loss.critic_fake_terms(&d_fake)?;
            let fake_grads = per_fake_row.sum_all()?.backward()?;
            let fake_part = noisy_clipped_sum(
                &params,
                Some((&fake_taps, &fake_grads)),
                privacy.max_grad_norm,
                0.0,
                &[],
                scale,
                &dev,
            )?;
            let mut grads = match &draws.penalty {
                Some(penalty) => {
                    let partner =
                        fake.index_select(&Tensor::from_slice(&penalty.partner, b, &dev)?, 0)?;
                    let alpha = Tensor::from_slice(&penalty.alpha, (b, 1), &dev)?;
                    let mixed = (fake.broadcast_mul(&alpha)?
                        + partner.broadcast_mul(&alpha.affine(-1.0, 1.0)?)?)?;
                    let masks = mask_tensors(&penalty.masks, b, &hidden, &dev)?;
                    let (_, grad) = self.critic.forward_with_input_grad(&mixed, &masks)?;
                    (gradient_penalty(&grad)? * self.config.gradient_penalty)?.backward()?
                }
                None => {
                    let mut store = fake_grads;
                    for (weight, bias) in &params {
                        store.remove(weight);
                        if let Some(bias) = bias {
                            store.remove(bias);
                        }
                    }
                    store
                }
            };

            let n = draws.rows.len();
            let real_part = if n == 0 {
                noisy_clipped_sum(
                    &params,
                    None,
                    privacy.max_grad_norm,
                    sigma,
                    &draws.gaussian,
                    scale,
                    &dev,
                )?
            } else {
                let real = self
                    .data
                    .index_select(&Tensor::from_slice(&draws.rows, n, &dev)?, 0)?;
                let masks = mask_tensors(&draws.real_masks, n, &hidden, &dev)?;
                let (scores, taps) = self.critic.forward_with_taps(&real, &masks)?;
                let per_row = self.config.loss.critic_real_terms(&scores)?;
                let real_grads = per_row.sum_all()?.backward()?;
                noisy_clipped_sum(
                    &params,
                    Some((&taps, &real_grads)),
                    privacy.max_grad_norm,
                    sigma,
                    &draws.gaussian,
                    scale,
                    &dev,
                )?
            };
            for (param, g) in fake_part.into_iter().chain(real_part) {
                let total = match grads.get(&param) {
                    Some(f) => (f + g)?,
                    None => g,
                };
                grads.insert(&param, total);
            }
            self.optimisers()?.1.step(&grads)?;
            self.private_steps += 1;
            last = Some(generated);
        }

        let generated = last.expect("at least one critic step");
        let masks = self.draw_critic_masks(b, 1, false);
        let d_fake = self
            .critic
            .forward(&generated.rows, &mask_tensors(&masks, b, &hidden, &dev)?)?;
        let loss = self.config.loss.generator_mean(&d_fake)?;
        self.optimisers()?.0.backward_step(&loss)?;
        self.steps += 1;
        Ok(StepLosses {
            critic: f32::NAN,
            generator: loss.to_scalar::<f32>()?,
            score_gap: f32::NAN,
        })
    }

    /// The settings, with the privacy calibration settled.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The current state as a model (weights copied).
    pub fn model(&self) -> Result<Model> {
        let (generator, critic) = specs(
            &self.config,
            &self.encoder,
            self.conditioner.as_ref().map(|c| &c.spec),
        );
        let mut weights = self.generator_params.snapshot()?;
        weights.extend(self.critic_params.snapshot()?);
        let mut config = self.config.clone();
        if let Some(privacy) = config.privacy.as_mut() {
            privacy.steps_taken = self.private_steps;
        }
        Ok(Model {
            config,
            encoder: self.encoder.clone(),
            condition: self.conditioner.as_ref().map(|c| c.spec.clone()),
            generator,
            critic,
            weights,
            steps: self.steps_before + self.steps,
        })
    }
}

/// The explicit engine's state, or an error for the autograd engine.
fn explicit(engine: &mut Engine) -> Result<(&mut CpuStep, &mut Buffers)> {
    match engine {
        Engine::Explicit { step, buffers } => Ok((step, buffers)),
        Engine::Autograd { .. } => Err(Error::Config("this step needs the explicit engine".into())),
    }
}

/// Calls `f` with the values of a CPU tensor, row-major.
fn with_cpu_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        return Err(Error::Config("hand-derived gradients need the CPU".into()));
    };
    Ok(f(&cpu.as_slice::<f32>()?[layout.start_offset()..]))
}

fn autograd_engine(
    config: &TrainConfig,
    generator_params: &Params,
    critic_params: &Params,
) -> Result<Engine> {
    let adam = config.adam();
    Ok(Engine::Autograd {
        generator_opt: AdamW::new(generator_params.vars(), adam.clone())?,
        critic_opt: AdamW::new(critic_params.vars(), adam)?,
    })
}

fn specs(
    config: &TrainConfig,
    encoder: &Encoder,
    cond: Option<&CondSpec>,
) -> (GeneratorSpec, CriticSpec) {
    let cond_dim = cond.map_or(0, CondSpec::dim);
    let generator = GeneratorSpec {
        noise_dim: config.noise_dim,
        cond_dim,
        hidden: config.generator.clone(),
        dropout: config.generator_dropout,
        attention_tokens: config.attention_tokens,
        attention_heads: config.attention_heads,
        n_scalars: encoder.n_scalars,
        groups: encoder.groups.clone(),
        tau: config.tau,
    };
    let critic = CriticSpec {
        input_dim: encoder.width() + cond_dim,
        hidden: config.critic.clone(),
        dropout: config.critic_dropout,
        pac: config.pac,
    };
    (generator, critic)
}

/// log(1 + exp(x)), computed stably.
/// Cross-entropy between the generator's logits for each conditioning column and the
/// fixed level, averaged over the batch (rows where the column is not fixed count 0).
/// Cross-entropy of the fixed condition slots, summed over `logits`' rows and divided by
/// `batch` (the whole batch, of which these rows may be a shard).
fn condition_cross_entropy(
    c: &Conditioner,
    encoder: &Encoder,
    logits: &Tensor,
    fixed: &[Vec<Option<usize>>],
    batch: usize,
    device: &Device,
) -> Result<Tensor> {
    let b = logits.dim(0)?;
    let mut total = Tensor::zeros((), logits.dtype(), device)?;
    for (col, slots) in c.spec.columns.iter().zip(fixed) {
        let g = encoder.groups[encoder.columns[col.column]
            .group
            .expect("categorical column has a group")];
        let mut target = vec![0f32; b * g.width];
        for (i, s) in slots.iter().enumerate() {
            if let Some(s) = s {
                target[i * g.width + s] = 1.0;
            }
        }
        let target = Tensor::from_vec(target, (b, g.width), device)?;
        let log_p = candle_nn::ops::log_softmax(&logits.narrow(1, g.start, g.width)?, 1)?;
        total = (total - ((log_p * target)?.sum_all()? / batch as f64)?)?;
    }
    Ok(total)
}
