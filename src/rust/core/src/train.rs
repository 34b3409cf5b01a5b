//! The training loop, driven a few steps at a time by the caller: it draws every random
//! input of a step, orders the critic and generator updates, accounts for differential
//! privacy, and rolls back when training diverges. An [`Engine`] computes the updates.
//! Settings are in [`crate::config`], the losses in [`crate::loss`].

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::autograd::Autograd;
use crate::condition::{CondSpec, Conditioner};
use crate::config::TrainConfig;
use crate::cpu_step::Explicit;
use crate::encoding::{Encoder, Transform};
use crate::engine::{shard_count, Context, Engine, PairPenalty, PrivateDraws, UpdateDraws};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::network::{Critic, CriticSpec, Generator, GeneratorSpec, Params, CRITIC, GENERATOR};
use crate::parallel::{install_busy, thread_pool, DRAW_CHUNKS};
use crate::privacy::marginals::{self, Marginal};
use crate::privacy::moments::{self, MomentPlan};
use crate::privacy::DpSgd;
use crate::rejection::{self, RejectionSpec};
use crate::rng::{PrivacyRng, RandomSource, SeededRng};
use crate::sample;
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

/// Generated rows per round of a private fit's calibration, most rounds of its bias
/// shifts (it stops once every drawn share is this close to its released share), and
/// the generated values it records per numeric column.
const CALIBRATION_ROWS: usize = 20_000;
const CALIBRATION_ROUNDS: usize = 20;
const CALIBRATION_TOLERANCE: f64 = 0.003;
const CALIBRATION_KNOTS: usize = 101;
/// Fewest and most generated rows the tilt of the rejection sampler is fitted to (with
/// fewer, the tilt of a small data set's hundreds of features fits the pool's own
/// sampling error).
const TILT_POOL: (usize, usize) = (20_000, 40_000);
/// Rows drawn by weight, per training row, for the moments the tilt matches in a
/// weighted fit (at most the pool's largest size).
const TILT_DRAWS_PER_ROW: usize = 20;

pub struct Trainer {
    cx: Context,
    engine: Box<dyn Engine>,
    n_rows: usize,
    /// Rows an epoch covers: the data's, or a private fit's declared public count.
    epoch_rows: usize,
    rng: SeededRng,
    /// DP-SGD's settings, secret randomness and count, for a private fit.
    dp: Option<DpSgd>,
    pool: Arc<rayon::ThreadPool>,
    steps_before: usize,
    steps: usize,
    /// The rejection sampler fitted to the current weights, if any.
    rejection: Option<(RejectionSpec, HashMap<String, Tensor>)>,
    /// A private fit's released marginals, until [`Trainer::finish_private`].
    released: Option<Vec<Marginal>>,
    /// The feature means a private fit releases after training, if any.
    moments: Option<MomentPlan>,
    /// Set by the calibration, after which training cannot go on.
    calibrated: bool,
    /// Running totals of the rows' survey weights, if the rows are weighted.
    row_weights: Option<Vec<f64>>,
}

impl Trainer {
    /// A new model for `table`. A private fit sees `table` through
    /// [`crate::privacy::PrivacyConfig::public_table`]; its privacy draws replay only
    /// from [`RandomSource::Seed`] (tests): released private fits use
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
        let mut config = config;
        match config.privacy.as_mut() {
            Some(privacy) => {
                let table = privacy.public_table(table)?;
                let released = match privacy.settle_release_noise()? {
                    Some(noise) => {
                        let rows = privacy.rows.unwrap_or(table.n_rows());
                        let mut secret = PrivacyRng::new(source, &mut rng)?;
                        Some(marginals::release(
                            &table,
                            privacy,
                            noise,
                            rows,
                            &mut secret,
                        )?)
                    }
                    None => None,
                };
                let encoder =
                    privacy.public_encoder(&table, &config.encoder, released.as_deref())?;
                let rows = privacy.rows.unwrap_or(table.n_rows());
                let moments = match (privacy.moment_noise, released.as_deref()) {
                    (Some(noise), Some(released)) => moments::plan(&encoder, released, rows, noise),
                    _ => None,
                };
                if moments.is_none() {
                    // Nothing worth its noise: the share goes to training.
                    privacy.moment_noise = None;
                }
                let mut trainer = Self::build(
                    &table, config, encoder, None, released, 0, rng, source, pool, device,
                )?;
                trainer.moments = moments;
                Ok(trainer)
            }
            None => {
                let encoder =
                    pool.install(|| Encoder::fit(table, &config.encoder, &mut rng.split()))?;
                Self::build(
                    table, config, encoder, None, None, 0, rng, source, pool, device,
                )
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
            None,
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
        released: Option<Vec<Marginal>>,
        steps_before: usize,
        mut rng: SeededRng,
        source: RandomSource,
        pool: Arc<rayon::ThreadPool>,
        device: Device,
    ) -> Result<Self> {
        if table.n_rows() < 2 {
            let n = table.n_rows();
            let rows = if n == 1 { "row" } else { "rows" };
            return Err(Error::Data(format!(
                "the data has {n} {rows}; training needs at least 2"
            )));
        }
        if encoder.width() == 0 {
            return Err(Error::Data(
                "every column is entirely missing: there is nothing to learn".into(),
            ));
        }
        let conditioner = if config.condition_on.is_empty() {
            None
        } else {
            Some(Conditioner::new(&encoder, table, &config.condition_on)?)
        };
        let (gspec, cspec) = specs(&config, &encoder, conditioner.as_ref().map(|c| &c.spec));
        let (generator_params, critic_params) = match weights {
            Some(w) => (
                Params::from_tensors(w, GENERATOR, &device)?,
                Params::from_tensors(w, CRITIC, &device)?,
            ),
            None => (Params::new(&device), Params::new(&device)),
        };
        let mut init_rng = rng.split();
        let generator = Generator::new(&gspec, &generator_params, &mut init_rng)?;
        if let Some(m) = &released {
            generator.set_output_bias(&generator_params, marginals::prior_logits(&encoder, m))?;
        }
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
        let critic_steps = config.critic_steps as u64;
        let mut dp = None;
        if let Some(privacy) = config.privacy.as_mut() {
            let steps = (privacy.epochs * epoch_rows.div_ceil(batch)) as u64 * critic_steps;
            privacy.calibrate(batch as f64 / epoch_rows as f64, steps)?;
            dp = Some(DpSgd::new(
                privacy.clone(),
                PrivacyRng::new(source, &mut rng)?,
            )?);
        }
        let explicit = device.is_cpu() && config.attention_tokens == 0;
        let cx = Context {
            config,
            encoder,
            conditioner,
            data,
            batch,
            generator,
            critic,
            generator_params,
            critic_params,
            device,
        };
        let engine: Box<dyn Engine> = if explicit {
            Box::new(Explicit::new(&cx)?)
        } else {
            Box::new(Autograd::new(&cx)?)
        };
        Ok(Trainer {
            cx,
            engine,
            n_rows,
            epoch_rows,
            rng,
            dp,
            pool,
            steps_before,
            steps: 0,
            rejection: None,
            released,
            moments: None,
            calibrated: false,
            row_weights: None,
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
        self.engine = Box::new(Autograd::new(&self.cx)?);
        Ok(())
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.epoch_rows.div_ceil(self.cx.batch)
    }

    pub fn batch_size(&self) -> usize {
        self.cx.batch
    }

    /// Epsilon spent so far, for a differentially private fit.
    pub fn epsilon_spent(&self) -> Result<Option<f64>> {
        self.dp.as_ref().map(DpSgd::epsilon_spent).transpose()
    }

    /// Runs `steps` steps. If a loss becomes non-finite, the weights are rolled back
    /// to where they were when this call started and an error is returned.
    pub fn train(&mut self, steps: usize) -> Result<Vec<StepLosses>> {
        if self.calibrated {
            return Err(Error::Config(
                "training has finished: the generator was calibrated to the released marginals"
                    .into(),
            ));
        }
        self.rejection = None;
        self.engine.checkpoint(&self.cx)?;
        let private = self.dp.is_some();
        let pool = Arc::clone(&self.pool);
        // A thread per shard waits busily; more would have little to do.
        let waiting = shard_count(self.cx.batch / self.cx.config.pac) - 1;
        let result = install_busy(&pool, waiting, || {
            let mut out = Vec::with_capacity(steps);
            let (mut first, mut first_private) = (None, None);
            for k in 1..=steps {
                let losses = if private {
                    let (losses, next) = self.private_step(first_private.take(), k < steps)?;
                    first_private = next;
                    losses
                } else {
                    let (losses, next) = self.step(first.take(), k < steps)?;
                    first = next;
                    losses
                };
                let critic_ok = losses.critic.is_finite() || private;
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
        match &result {
            Ok(_) => self.engine.store(&self.cx)?,
            Err(_) => self.engine.rollback(&self.cx)?,
        }
        result
    }

    /// One step: `critic_steps` critic updates, then a generator update on the rows
    /// generated for the last critic update. The random inputs of each update after
    /// the first are drawn during the update before it (beside its optimiser step), in
    /// the same order as one after the other; so are the next step's first ones, which
    /// are returned, if `draw_next`. `first` holds this step's first ones if they were
    /// drawn so.
    fn step(
        &mut self,
        first: Option<UpdateDraws>,
        draw_next: bool,
    ) -> Result<(StepLosses, Option<UpdateDraws>)> {
        let (engine, mut draws, _) = self.parts();
        let cx = draws.cx;
        let critic_steps = cx.config.critic_steps;
        let mut update = first.unwrap_or_else(|| draws.critic_update());
        let (mut critic, mut score_gap) = (f32::NAN, f32::NAN);
        let mut masks = Vec::new();
        for k in 1..=critic_steps {
            let mut next = None;
            (critic, score_gap) = engine.critic_update(cx, &update, &mut || {
                if k < critic_steps {
                    next = Some(draws.critic_update());
                } else {
                    masks = draws.critic_masks(cx.batch / cx.config.pac, 1, false);
                }
            })?;
            if let Some(next) = next {
                update = next;
            }
        }
        let mut following = None;
        let generator = engine.generator_update(cx, &update, &masks, &mut || {
            if draw_next {
                following = Some(draws.critic_update());
            }
        })?;
        self.steps += 1;
        let losses = StepLosses {
            critic,
            generator,
            score_gap,
        };
        Ok((losses, following))
    }

    /// One differentially private step: `critic_steps` DP-SGD critic updates, each on a
    /// Poisson sample of real rows, counted against the budget, then a generator update,
    /// which never sees real rows. Only the generator loss is reported: the critic loss
    /// on real rows would be an unaccounted look at the data. The random inputs are
    /// drawn as in [`Trainer::step`], with `first` and `draw_next` as there.
    fn private_step(
        &mut self,
        first: Option<PrivateDraws>,
        draw_next: bool,
    ) -> Result<(StepLosses, Option<PrivateDraws>)> {
        let (engine, mut draws, dp) = self.parts();
        let dp =
            dp.ok_or_else(|| Error::Config("this fit is not differentially private".into()))?;
        let cx = draws.cx;
        let critic_steps = cx.config.critic_steps;
        let clipping = dp.clipping(critic_steps as u64)?;
        let coordinates = cx.critic_params.vars().iter().map(|v| v.elem_count()).sum();
        let mut update = first.unwrap_or_else(|| draws.private_update(dp, coordinates));
        let mut masks = Vec::new();
        for k in 1..=critic_steps {
            let mut next = None;
            engine.private_critic_update(cx, &update, clipping, &mut || {
                if k < critic_steps {
                    next = Some(draws.private_update(dp, coordinates));
                } else {
                    masks = draws.critic_masks(cx.batch, 1, false);
                }
            })?;
            dp.record_update();
            if let Some(next) = next {
                update = next;
            }
        }
        let mut following = None;
        let generator = engine.private_generator_update(cx, &update, &masks, &mut || {
            if draw_next {
                following = Some(draws.private_update(dp, coordinates));
            }
        })?;
        self.steps += 1;
        let losses = StepLosses {
            critic: f32::NAN,
            generator,
            score_gap: f32::NAN,
        };
        Ok((losses, following))
    }

    /// The engine, the draws of training updates (with the context) and the DP-SGD
    /// state, borrowed apart.
    fn parts(&mut self) -> (&mut dyn Engine, Draws<'_>, Option<&mut DpSgd>) {
        let draws = Draws {
            cx: &self.cx,
            rng: &mut self.rng,
            row_weights: self.row_weights.as_deref(),
            n_rows: self.n_rows,
        };
        (self.engine.as_mut(), draws, self.dp.as_mut())
    }

    /// Weights the training rows (survey weights, one per row, not negative, some
    /// positive): training batches, and the rows the rejection sampler learns from,
    /// draw rows with probability proportional to their weight, so that the model
    /// learns the weighted (population) distribution. Not for private fits, whose
    /// accounting assumes every row is sampled alike, nor with conditioning columns.
    pub fn weight_rows(&mut self, weights: &[f64]) -> Result<()> {
        if self.dp.is_some() || self.cx.conditioner.is_some() {
            return Err(Error::Config(
                "row weights cannot be combined with differential privacy or conditioning columns"
                    .into(),
            ));
        }
        if weights.len() != self.n_rows {
            return Err(Error::Data(format!(
                "{} weights for {} rows",
                weights.len(),
                self.n_rows
            )));
        }
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::Data(
                "weights must be finite numbers, not negative".into(),
            ));
        }
        let mut total = 0.0;
        let cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        if total <= 0.0 {
            return Err(Error::Data("at least one weight must be positive".into()));
        }
        self.row_weights = Some(cumulative);
        Ok(())
    }

    /// Fits the rejection sampler ([`crate::rejection`]) to the training rows and the
    /// generator as it is now; training further discards it. Not for private fits: it
    /// reads the training rows outside the privacy budget.
    pub fn fit_rejection(&mut self) -> Result<()> {
        if self.dp.is_some() {
            return Err(Error::Config(
                "rejection sampling reads the training rows outside the privacy budget, so a differentially private fit cannot use it".into(),
            ));
        }
        self.rejection = None;
        let model = self.model()?;
        let rows = self.training_features()?;
        let encoder = &self.cx.encoder;
        // Weighted rows stand for the population: the classifier learns from as many
        // rows drawn by weight, and the tilt matches the moments of many such draws.
        let (real, tilt_real) = match &self.row_weights {
            Some(cumulative) => {
                let width = rows.len() / self.n_rows;
                let mut draw = |count: usize| -> Vec<f32> {
                    self.rng
                        .weighted_indices(count, cumulative)
                        .into_iter()
                        .flat_map(|i| rows[i as usize * width..(i as usize + 1) * width].to_vec())
                        .collect()
                };
                let many = (self.n_rows * TILT_DRAWS_PER_ROW).min(TILT_POOL.1);
                (draw(self.n_rows), Some(draw(many.max(self.n_rows))))
            }
            None => (rows, None),
        };
        let n = (self.n_rows * rejection::GENERATED_PER_ROW).min(rejection::MAX_GENERATED);
        let seed = self.rng.split_seed();
        let threads = self.pool.current_num_threads();
        let (scalars, slots) = sample::draw_unscreened(&model, n, seed, threads, &Device::Cpu)?;
        let generated = rejection::features_of_draws(encoder, n, &scalars, &slots);
        let mut rng = self.rng.split();
        let (mut spec, weights) = self
            .pool
            .install(|| rejection::fit(encoder, &real, &generated, &mut rng))?;
        let m = (self.n_rows * rejection::GENERATED_PER_ROW).clamp(TILT_POOL.0, TILT_POOL.1);
        let seed = self.rng.split_seed();
        let (scalars, slots) = sample::draw_unscreened(&model, m, seed, threads, &Device::Cpu)?;
        let pool = rejection::features_of_draws(encoder, m, &scalars, &slots);
        self.pool.install(|| {
            rejection::add_tilt(
                encoder,
                &mut spec,
                &weights,
                tilt_real.as_deref().unwrap_or(&real),
                &pool,
            )
        })?;
        self.rejection = Some((spec, weights));
        Ok(())
    }

    /// The training rows as rows of rejection features.
    fn training_features(&self) -> Result<Vec<f32>> {
        let encoder = &self.cx.encoder;
        let encoded: Vec<f32> = self
            .cx
            .data
            .flatten_all()?
            .to_device(&Device::Cpu)?
            .to_vec1()?;
        let (scalars, slots) = rejection::slots_of(encoder, &encoded);
        Ok(rejection::features(encoder, self.n_rows, &scalars, &slots))
    }

    /// Ends a private fit. Post-processing of its generator by its released marginals
    /// (no further privacy cost): shifts the output bias of every softmax group until
    /// the generator draws the released shares, then records each numeric column's
    /// generated values at equally spaced probabilities, so that decoding maps them by
    /// rank onto the released distribution. Then the planned feature means are released
    /// and the draws tilted towards them ([`Self::tilt_to_released_moments`]). Training
    /// cannot go on afterwards; without released marginals this does nothing.
    pub fn finish_private(&mut self) -> Result<()> {
        let Some(released) = self.released.take() else {
            return Ok(());
        };
        self.engine.store(&self.cx)?;
        self.calibrated = true;
        let threads = self.pool.current_num_threads();
        let n_groups = self.cx.encoder.groups.len();
        let n = CALIBRATION_ROWS;
        for _ in 0..CALIBRATION_ROUNDS {
            let mut worst: f64 = 0.0;
            let model = self.model()?;
            let seed = self.rng.split_seed();
            let (_, slots) = sample::draw_unscreened(&model, n, seed, threads, &Device::Cpu)?;
            let mut bias = self.cx.generator.output_bias(&self.cx.generator_params)?;
            for (codec, m) in self.cx.encoder.columns.iter().zip(&released) {
                let Some(gi) = codec.group else { continue };
                let g = self.cx.encoder.groups[gi];
                let target = m.slot_shares();
                if target.len() != g.width {
                    continue;
                }
                let mut drawn = vec![0.0; g.width];
                for row in slots.chunks(n_groups) {
                    drawn[row[gi] as usize] += 1.0 / n as f64;
                }
                for (j, (p, q)) in target.iter().zip(&drawn).enumerate() {
                    worst = worst.max((p - q).abs());
                    let shift =
                        (p.max(marginals::SHARE_FLOOR) / q.max(marginals::SHARE_FLOOR)).ln();
                    bias[g.start + j] += shift as f32;
                }
            }
            if worst < CALIBRATION_TOLERANCE {
                break;
            }
            self.cx
                .generator
                .set_output_bias(&self.cx.generator_params, bias)?;
        }
        let model = self.model()?;
        let seed = self.rng.split_seed();
        let (scalars, slots) = sample::draw_unscreened(&model, n, seed, threads, &Device::Cpu)?;
        let n_scalars = self.cx.encoder.n_scalars;
        for codec in self.cx.encoder.columns.iter_mut() {
            let (Some(s), Transform::Quantile { generated, .. }) =
                (codec.scalar, &mut codec.transform)
            else {
                continue;
            };
            let mut values: Vec<f64> = (0..n)
                .filter(|&i| codec.group.is_none_or(|gi| slots[i * n_groups + gi] == 0))
                .map(|i| f64::from(scalars[i * n_scalars + s]))
                .collect();
            if values.is_empty() {
                continue;
            }
            values.sort_by(f64::total_cmp);
            *generated = (0..CALIBRATION_KNOTS)
                .map(|k| values[k * (values.len() - 1) / (CALIBRATION_KNOTS - 1)])
                .collect();
        }
        self.tilt_to_released_moments()
    }

    /// Releases a private fit's planned feature means ([`moments`]) and tilts the
    /// calibrated generator's draws towards them: a tilt without classifiers, fitted on
    /// a pool of generated rows (post-processing). Does nothing without a plan.
    fn tilt_to_released_moments(&mut self) -> Result<()> {
        let Some(plan) = self.moments.take() else {
            return Ok(());
        };
        let real = self.training_features()?;
        let encoder = &self.cx.encoder;
        let width = rejection::feature_width(encoder);
        let dp = self.dp.as_mut().ok_or_else(|| {
            Error::Config("feature means are released only by a private fit".into())
        })?;
        let noise = dp.standard_normal(plan.tilt.n_features());
        let means = moments::release(&plan, &real, width, &noise, self.epoch_rows);
        let mean_noise = plan.noise_sd() / self.epoch_rows as f64;
        let model = self.model()?;
        let seed = self.rng.split_seed();
        let threads = self.pool.current_num_threads();
        let m = (self.epoch_rows * rejection::GENERATED_PER_ROW).clamp(TILT_POOL.0, TILT_POOL.1);
        let (mut scalars, mut slots) =
            sample::draw_unscreened(&model, m, seed, threads, &Device::Cpu)?;
        let generated = rejection::features_of_draws(encoder, m, &scalars, &slots);
        rejection::shuffle_columns(encoder, m, &mut scalars, &mut slots, &mut self.rng);
        let shuffled = rejection::features_of_draws(encoder, m, &scalars, &slots);
        // The base whose tilted draws come closer to the released means: the
        // generator's own relations, or none.
        let mut best: Option<(f64, rejection::RejectionSpec)> = None;
        for (independent, pool) in [(false, &generated), (true, &shuffled)] {
            let fitted = self.pool.install(|| {
                plan.tilt.clone().fit_released(
                    width,
                    means.clone(),
                    mean_noise,
                    self.epoch_rows,
                    pool,
                )
            })?;
            let Some(tilt) = fitted else { continue };
            let mismatch = tilt.mismatch(pool, width);
            if best.as_ref().is_none_or(|(m, _)| mismatch < *m) {
                best = Some((
                    mismatch,
                    rejection::tilt_only(width, tilt, pool, independent),
                ));
            }
        }
        self.rejection = best.map(|(_, spec)| (spec, HashMap::new()));
        Ok(())
    }

    /// The settings, with the privacy calibration settled.
    pub fn config(&self) -> &TrainConfig {
        &self.cx.config
    }

    /// The current state as a model (weights copied).
    pub fn model(&self) -> Result<Model> {
        let (generator, critic) = specs(
            &self.cx.config,
            &self.cx.encoder,
            self.cx.conditioner.as_ref().map(|c| &c.spec),
        );
        let mut weights = self.cx.generator_params.snapshot()?;
        weights.extend(self.cx.critic_params.snapshot()?);
        if let Some((_, w)) = &self.rejection {
            weights.extend(w.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let mut config = self.cx.config.clone();
        if let Some(dp) = &self.dp {
            config.privacy = Some(dp.report());
        }
        Ok(Model {
            config,
            encoder: self.cx.encoder.clone(),
            condition: self.cx.conditioner.as_ref().map(|c| c.spec.clone()),
            generator,
            critic,
            weights,
            steps: self.steps_before + self.steps,
            rejection: self.rejection.as_ref().map(|(spec, _)| spec.clone()),
        })
    }
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

/// The random inputs of training updates, drawn from the trainer's stream, and how the
/// rows of a batch are picked.
struct Draws<'a> {
    cx: &'a Context,
    rng: &'a mut SeededRng,
    /// Running totals of the rows' survey weights, if the rows are weighted.
    row_weights: Option<&'a [f64]>,
    n_rows: usize,
}

impl Draws<'_> {
    /// Random values for `rows` rows, one part per entry of `widths` (values per row):
    /// the rows are cut into [`DRAW_CHUNKS`] blocks, each drawn from its own stream, in
    /// parallel and straight into the parts; `draw(rng, parts)` fills one block's rows
    /// of every part.
    fn blocks(
        &mut self,
        rows: usize,
        widths: &[usize],
        draw: impl Fn(&mut SeededRng, &mut [&mut [f32]]) + Sync,
    ) -> Vec<Vec<f32>> {
        let seeds: Vec<u64> = (0..DRAW_CHUNKS).map(|_| self.rng.split_seed()).collect();
        let mut parts: Vec<Vec<f32>> = widths.iter().map(|&w| vec![0.0; rows * w]).collect();
        let mut blocks: Vec<Vec<&mut [f32]>> = (0..DRAW_CHUNKS)
            .map(|_| Vec::with_capacity(widths.len()))
            .collect();
        for (part, &width) in parts.iter_mut().zip(widths) {
            let mut rest = part.as_mut_slice();
            for (k, block) in blocks.iter_mut().enumerate() {
                let n = rows * (k + 1) / DRAW_CHUNKS - rows * k / DRAW_CHUNKS;
                let (head, tail) = rest.split_at_mut(n * width);
                block.push(head);
                rest = tail;
            }
        }
        blocks
            .par_iter_mut()
            .zip(&seeds)
            .for_each(|(block, &seed)| draw(&mut SeededRng::new(seed), block));
        parts
    }

    /// The generator's noise, Gumbel noise and dropout masks (none without dropout)
    /// for one batch.
    fn generator_inputs(&mut self) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
        let spec = self.cx.generator.spec();
        let mut widths = vec![spec.noise_dim, spec.output_width() - spec.n_scalars];
        if spec.dropout > 0.0 {
            widths.extend(&spec.hidden);
        }
        let mut parts = self.blocks(self.cx.batch, &widths, |rng, parts| {
            let (inputs, masks) = parts.split_at_mut(2);
            rng.fill_normal(inputs[0]);
            rng.fill_gumbel(inputs[1]);
            for mask in masks {
                rng.fill_dropout_mask(mask, spec.dropout);
            }
        });
        let masks = parts.split_off(2);
        let gumbel = parts.pop().expect("gumbel part");
        let noise = parts.pop().expect("noise part");
        (noise, gumbel, masks)
    }

    /// Critic dropout masks for `sets` passes over `packs` packs, one per hidden layer
    /// and pass, and (if `alpha`) interpolation weights last.
    fn critic_masks(&mut self, packs: usize, sets: usize, alpha: bool) -> Vec<Vec<f32>> {
        let spec = self.cx.critic.spec();
        let mut widths = spec.hidden.repeat(sets);
        if alpha {
            widths.push(1);
        }
        self.blocks(packs, &widths, |rng, parts| {
            let (masks, alpha) = parts.split_at_mut(spec.hidden.len() * sets);
            for mask in masks {
                rng.fill_dropout_mask(mask, spec.dropout);
            }
            for weights in alpha {
                rng.fill_uniform(weights, 0.0, 1.0);
            }
        })
    }

    /// Everything random in one critic update, drawn in a fixed order.
    fn critic_update(&mut self) -> UpdateDraws {
        let b = self.cx.batch;
        let (rows, cond, fixed) = match &self.cx.conditioner {
            Some(c) => {
                let s = c.sample(b, self.rng);
                (s.rows, s.vectors, s.fixed)
            }
            None => match self.row_weights {
                Some(cumulative) => (
                    self.rng.weighted_indices(b, cumulative),
                    Vec::new(),
                    Vec::new(),
                ),
                None => (self.rng.indices(b, self.n_rows), Vec::new(), Vec::new()),
            },
        };
        let (noise, gumbel, generator_masks) = self.generator_inputs();
        let wgan = self.cx.config.loss.has_penalty();
        let layers = self.cx.critic.spec().hidden.len();
        let mut masks = self.critic_masks(b / self.cx.config.pac, 2 + usize::from(wgan), wgan);
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

    /// Everything random in one private critic update, drawn in a fixed order; the
    /// Poisson sample of rows and the noise for `coordinates` gradient coordinates come
    /// from `dp`'s privacy stream.
    fn private_update(&mut self, dp: &mut DpSgd, coordinates: usize) -> PrivateDraws {
        let b = self.cx.batch;
        let (noise, gumbel, generator_masks) = self.generator_inputs();
        let fake_masks = self.critic_masks(b, 1, false);
        let penalty = self.cx.config.loss.has_penalty().then(|| {
            let mut partner: Vec<u32> = (0..b as u32).collect();
            self.rng.shuffle(&mut partner);
            let alpha = self.rng.uniform_vec(b, 0.0, 1.0);
            let masks = self.critic_masks(b, 1, false);
            PairPenalty {
                partner,
                alpha,
                masks,
            }
        });
        let rows = dp.sample_rows(self.n_rows);
        let real_masks = if rows.is_empty() {
            Vec::new()
        } else {
            self.critic_masks(rows.len(), 1, false)
        };
        let gaussian = dp.noise(coordinates);
        PrivateDraws {
            noise,
            gumbel,
            generator_masks,
            fake_masks,
            penalty,
            rows,
            real_masks,
            gaussian,
        }
    }
}
