//! The training loop: WGAN-GP (default) or the standard GAN loss, with conditional
//! training-by-sampling, driven a few steps at a time by the caller.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use crate::condition::{CondSpec, Conditioner};
use crate::encoding::{Encoder, EncoderOptions};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::network::{gradient_penalty, Critic, CriticSpec, Generator, GeneratorSpec, Params};
use crate::privacy::clipping::{noisy_clipped_sum, poisson_sample};
use crate::privacy::PrivacyConfig;
use crate::rng::SeededRng;
use crate::schema::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Wasserstein loss with gradient penalty.
    WganGp,
    /// The standard (non-saturating) GAN loss.
    Gan,
}

/// Every setting of a fit. Validated by `check`.
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
        }
    }
}

impl TrainConfig {
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
        if self.pac > self.batch_size {
            return bad(format!(
                "`pac` ({}) cannot exceed `batch_size` ({})",
                self.pac, self.batch_size
            ));
        }
        for (name, p) in [
            ("generator dropout", self.generator_dropout),
            ("critic dropout", self.critic_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("{name} must be in [0, 1), not {p}"));
            }
        }
        let positive = |x: f64| x > 0.0 && x.is_finite();
        if !positive(self.learning_rate) || !positive(self.tau) {
            return bad("`learning_rate` and `tau` must be positive".into());
        }
        if let Some(privacy) = &self.privacy {
            privacy.check()?;
            if self.pac != 1 {
                return bad("differentially private training needs `pac` = 1, so that each row is clipped on its own".into());
            }
            if !self.condition_on.is_empty() {
                return bad("`condition_on` samples rows by their categories, which differentially private training cannot account for".into());
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

    /// Rows per step: the batch size, at most the row count, a multiple of `pac`.
    pub fn effective_batch(&self, n_rows: usize) -> usize {
        let b = self.batch_size.min(n_rows.max(self.pac));
        (b / self.pac).max(1) * self.pac
    }
}

/// Losses of one training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLosses {
    pub critic: f32,
    pub generator: f32,
    /// Mean critic score on real rows minus on generated rows (a Wasserstein estimate
    /// under WGAN-GP).
    pub score_gap: f32,
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
    batch: usize,
    generator_params: Params,
    critic_params: Params,
    generator: Generator,
    critic: Critic,
    generator_opt: AdamW,
    critic_opt: AdamW,
    rng: SeededRng,
    device: Device,
    pool: Arc<rayon::ThreadPool>,
    steps_before: usize,
    steps: usize,
    /// Differentially private critic updates taken.
    private_steps: u64,
}

impl Trainer {
    /// A new model for `table`.
    pub fn new(
        table: &Table,
        config: TrainConfig,
        seed: u64,
        threads: usize,
        device: Device,
    ) -> Result<Self> {
        config.check()?;
        let mut rng = SeededRng::new(seed);
        let encoder = match &config.privacy {
            Some(privacy) => Encoder::public(table, privacy, &config.encoder)?,
            None => Encoder::fit(table, &config.encoder, &mut rng.split())?,
        };
        Self::build(table, config, encoder, None, 0, rng, threads, device)
    }

    /// Continues training `model` on `table` (same columns and classes).
    pub fn resume(
        model: &Model,
        table: &Table,
        seed: u64,
        threads: usize,
        device: Device,
    ) -> Result<Self> {
        if model.config.privacy.is_some() {
            return Err(Error::Config(
                "a differentially private fit cannot be trained further: its privacy budget is spent; fit a new model".into(),
            ));
        }
        model.encoder.check_compatible(table)?;
        let rng = SeededRng::new(seed);
        Self::build(
            table,
            model.config.clone(),
            model.encoder.clone(),
            Some(&model.weights),
            model.steps,
            rng,
            threads,
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
        threads: usize,
        device: Device,
    ) -> Result<Self> {
        let pool = Arc::new(thread_pool(threads)?);
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
        let adam = |lr| ParamsAdamW {
            lr,
            beta1: config.beta1,
            beta2: config.beta2,
            eps: 1e-8,
            weight_decay: config.weight_decay,
        };
        let generator_opt = AdamW::new(generator_params.vars(), adam(config.learning_rate))?;
        let critic_opt = AdamW::new(critic_params.vars(), adam(config.learning_rate))?;
        let batch = config.effective_batch(n_rows);
        let critic_steps = config.critic_steps as u64;
        if let Some(privacy) = config.privacy.as_mut() {
            let steps = (privacy.epochs * n_rows.div_ceil(batch)) as u64 * critic_steps;
            privacy.calibrate(batch as f64 / n_rows as f64, steps)?;
        }
        Ok(Trainer {
            batch,
            config,
            encoder,
            conditioner,
            data,
            n_rows,
            generator_params,
            critic_params,
            generator,
            critic,
            generator_opt,
            critic_opt,
            rng,
            device,
            pool,
            steps_before,
            steps: 0,
            private_steps: 0,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.n_rows.div_ceil(self.batch)
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
        let g_before = self.generator_params.snapshot()?;
        let c_before = self.critic_params.snapshot()?;
        let pool = Arc::clone(&self.pool);
        let result = pool.install(|| {
            let mut out = Vec::with_capacity(steps);
            for _ in 0..steps {
                let losses = match self.config.privacy.clone() {
                    Some(privacy) => self.private_step(&privacy)?,
                    None => self.step()?,
                };
                let critic_ok = losses.critic.is_finite() || self.config.privacy.is_some();
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
        if result.is_err() {
            self.generator_params.restore(&g_before)?;
            self.critic_params.restore(&c_before)?;
        }
        result
    }

    fn batch_rows(&mut self) -> Result<Batch> {
        let b = self.batch;
        let (rows, vectors, fixed) = match &self.conditioner {
            Some(c) => {
                let s = c.sample(b, &mut self.rng);
                (s.rows, s.vectors, s.fixed)
            }
            None => (self.rng.indices(b, self.n_rows), Vec::new(), Vec::new()),
        };
        let idx = Tensor::from_vec(rows, b, &self.device)?;
        let real = self.data.index_select(&idx, 0)?;
        let cond_dim = self.conditioner.as_ref().map_or(0, |c| c.spec.dim());
        let cond = Tensor::from_vec(vectors, (b, cond_dim), &self.device)?;
        Ok(Batch { real, cond, fixed })
    }

    fn generate(&mut self, cond: &Tensor) -> Result<crate::network::Generated> {
        let b = self.batch;
        let spec = self.generator.spec().clone();
        let z = self.rng.normal_tensor(b, spec.noise_dim, &self.device)?;
        let input = Tensor::cat(&[&z, cond], 1)?;
        let gumbel =
            self.rng
                .gumbel_tensor(b, spec.output_width() - spec.n_scalars, &self.device)?;
        let masks = if spec.dropout > 0.0 {
            let masks = spec
                .hidden
                .iter()
                .map(|&h| Ok(self.rng.dropout_tensor(b, h, spec.dropout, &self.device)?))
                .collect::<Result<Vec<_>>>()?;
            Some(masks)
        } else {
            None
        };
        self.generator.forward(&input, masks.as_deref(), &gumbel)
    }

    fn critic_scores(&mut self, rows: &Tensor, cond: &Tensor) -> Result<Tensor> {
        let packed = self.critic.pack(&Tensor::cat(&[rows, cond], 1)?)?;
        let masks = self
            .critic
            .dropout_masks(packed.dim(0)?, &mut self.rng, &self.device)?;
        self.critic.forward(&packed, &masks)
    }

    /// One step: `critic_steps` critic updates, then a generator update that reuses
    /// the rows generated for the last critic update (their graph is kept), which saves
    /// a generator pass.
    fn step(&mut self) -> Result<StepLosses> {
        let mut critic_loss = 0.0;
        let mut gap = 0.0;
        let mut last = None;
        for _ in 0..self.config.critic_steps {
            let batch = self.batch_rows()?;
            let generated = self.generate(&batch.cond)?;
            let fake = generated.rows.detach();
            let (real, cond) = (&batch.real, &batch.cond);
            let d_real = self.critic_scores(real, cond)?;
            let d_fake = self.critic_scores(&fake, cond)?;
            let loss = match self.config.loss {
                Loss::WganGp => {
                    let pr = self.critic.pack(&Tensor::cat(&[real, cond], 1)?)?;
                    let pf = self.critic.pack(&Tensor::cat(&[&fake, cond], 1)?)?;
                    let rows = pr.dim(0)?;
                    let alpha = Tensor::from_vec(
                        self.rng.uniform_vec(rows, 0.0, 1.0),
                        (rows, 1),
                        &self.device,
                    )?;
                    let mixed = (pr.broadcast_mul(&alpha)?
                        + pf.broadcast_mul(&alpha.affine(-1.0, 1.0)?)?)?;
                    let masks = self
                        .critic
                        .dropout_masks(rows, &mut self.rng, &self.device)?;
                    let (_, grad) = self.critic.forward_with_input_grad(&mixed, &masks)?;
                    let penalty = (gradient_penalty(&grad)? * self.config.gradient_penalty)?;
                    ((d_fake.mean_all()? - d_real.mean_all()?)? + penalty)?
                }
                Loss::Gan => {
                    (softplus(&d_real.neg()?)?.mean_all()? + softplus(&d_fake)?.mean_all()?)?
                }
            };
            self.critic_opt.backward_step(&loss)?;
            critic_loss = loss.to_scalar::<f32>()?;
            gap = (d_real.mean_all()? - d_fake.mean_all()?)?.to_scalar::<f32>()?;
            last = Some((generated, batch));
        }

        let (generated, batch) = last.expect("at least one critic step");
        let d_fake = self.critic_scores(&generated.rows, &batch.cond)?;
        let mut loss = match self.config.loss {
            Loss::WganGp => d_fake.mean_all()?.neg()?,
            Loss::Gan => softplus(&d_fake.neg()?)?.mean_all()?,
        };
        if let Some(c) = &self.conditioner {
            loss = (loss
                + condition_cross_entropy(
                    c,
                    &self.encoder,
                    &generated.logits,
                    &batch.fixed,
                    &self.device,
                )?)?;
        }
        let grads = loss.backward()?;
        self.generator_opt.step(&grads)?;
        self.steps += 1;
        Ok(StepLosses {
            critic: critic_loss,
            generator: loss.to_scalar::<f32>()?,
            score_gap: gap,
        })
    }

    /// One differentially private step: `critic_steps` critic updates, each on a Poisson
    /// sample of real rows whose per-row gradients are clipped and noised (DP-SGD), then
    /// a generator update, which never sees real rows. The gradient penalty is taken at
    /// points between pairs of generated rows, so it touches no real row. Only the
    /// generator loss is reported: the critic loss on real rows would be an unaccounted
    /// look at the data.
    fn private_step(&mut self, privacy: &PrivacyConfig) -> Result<StepLosses> {
        let sigma = privacy
            .noise_multiplier
            .ok_or_else(|| Error::Config("the noise has not been calibrated".into()))?;
        let critic_steps = self.config.critic_steps as u64;
        if self.private_steps + critic_steps > privacy.max_steps {
            return Err(Error::Config(
                "the privacy budget is spent: no further training steps are allowed".into(),
            ));
        }
        let b = self.batch;
        let no_condition = Tensor::zeros((b, 0), candle_core::DType::F32, &self.device)?;
        let mut last = None;
        for _ in 0..critic_steps {
            let generated = self.generate(&no_condition)?;
            let fake = generated.rows.detach();
            let d_fake = self.critic_scores(&fake, &no_condition)?;
            let mut fake_loss = match self.config.loss {
                Loss::WganGp => d_fake.mean_all()?,
                Loss::Gan => softplus(&d_fake)?.mean_all()?,
            };
            if self.config.loss == Loss::WganGp {
                let mut order: Vec<u32> = (0..b as u32).collect();
                self.rng.shuffle(&mut order);
                let partner = fake.index_select(&Tensor::from_vec(order, b, &self.device)?, 0)?;
                let alpha =
                    Tensor::from_vec(self.rng.uniform_vec(b, 0.0, 1.0), (b, 1), &self.device)?;
                let mixed = (fake.broadcast_mul(&alpha)?
                    + partner.broadcast_mul(&alpha.affine(-1.0, 1.0)?)?)?;
                let masks = self.critic.dropout_masks(b, &mut self.rng, &self.device)?;
                let (_, grad) = self.critic.forward_with_input_grad(&mixed, &masks)?;
                fake_loss =
                    (fake_loss + (gradient_penalty(&grad)? * self.config.gradient_penalty)?)?;
            }
            let mut grads = fake_loss.backward()?;

            let rows = poisson_sample(self.n_rows, privacy.sample_rate, &mut self.rng);
            let params = self.critic.linear_parameters();
            let scale = 1.0 / b as f64;
            let real_part = if rows.is_empty() {
                noisy_clipped_sum(
                    &params,
                    None,
                    privacy.max_grad_norm,
                    sigma,
                    scale,
                    &mut self.rng,
                    &self.device,
                )?
            } else {
                let n = rows.len();
                let real = self
                    .data
                    .index_select(&Tensor::from_vec(rows, n, &self.device)?, 0)?;
                let masks = self.critic.dropout_masks(n, &mut self.rng, &self.device)?;
                let (scores, taps) = self.critic.forward_with_taps(&real, &masks)?;
                let per_row = match self.config.loss {
                    Loss::WganGp => scores.neg()?,
                    Loss::Gan => softplus(&scores.neg()?)?,
                };
                let real_grads = per_row.sum_all()?.backward()?;
                noisy_clipped_sum(
                    &params,
                    Some((&taps, &real_grads)),
                    privacy.max_grad_norm,
                    sigma,
                    scale,
                    &mut self.rng,
                    &self.device,
                )?
            };
            for (param, g) in real_part {
                let total = match grads.get(&param) {
                    Some(f) => (f + g)?,
                    None => g,
                };
                grads.insert(&param, total);
            }
            self.critic_opt.step(&grads)?;
            self.private_steps += 1;
            last = Some(generated);
        }

        let generated = last.expect("at least one critic step");
        let d_fake = self.critic_scores(&generated.rows, &no_condition)?;
        let loss = match self.config.loss {
            Loss::WganGp => d_fake.mean_all()?.neg()?,
            Loss::Gan => softplus(&d_fake.neg()?)?.mean_all()?,
        };
        self.generator_opt.backward_step(&loss)?;
        self.steps += 1;
        Ok(StepLosses {
            critic: f32::NAN,
            generator: loss.to_scalar::<f32>()?,
            score_gap: f32::NAN,
        })
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

/// A private pool, so no global thread pool is ever started (forked R workers would
/// inherit it without its threads and deadlock).
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::Config(format!("cannot start {threads} threads: {e}")))
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
fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// Cross-entropy between the generator's logits for each conditioning column and the
/// fixed level, averaged over the batch (rows where the column is not fixed count 0).
fn condition_cross_entropy(
    c: &Conditioner,
    encoder: &Encoder,
    logits: &Tensor,
    fixed: &[Vec<Option<usize>>],
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
        total = (total - ((log_p * target)?.sum_all()? / b as f64)?)?;
    }
    Ok(total)
}
