//! Rejection sampling with a learned density ratio (discriminator rejection sampling,
//! Azadi et al. 2019). After training, small classifiers learn to tell training rows
//! from generated ones; their mean logit estimates log(p_real / p_generated) of a row.
//! Synthesis keeps a generated row with probability min(1, exp(logit - threshold)),
//! which moves the kept rows towards the real distribution wherever the generator
//! misses it (joint and conditional structure included). Each classifier is stopped
//! early on held-out rows, so it learns the population's shape rather than the training
//! rows.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::ParamsAdamW;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cpu_step::{add_column_sums, gemm_into, leaky, matrix_mut, split_mut, Net};
use crate::encoding::{Encoder, Transform, MODE_SCALE};
use crate::error::{Error, Result};
use crate::network::{Params, LEAKY_SLOPE};
use crate::rng::SeededRng;
use crate::tilt::Tilt;

/// Name prefix of the classifier's weights in a model file.
pub const REJECTION: &str = "rejection.";
/// Hidden layer widths of the classifier.
const HIDDEN: [usize; 2] = [64, 64];
/// Classifiers averaged.
const MEMBERS: usize = 3;
/// Share of held-out generated rows whose logit is at or below the threshold: the rest
/// are always kept. Higher corrects more and keeps fewer draws.
const THRESHOLD_QUANTILE: f64 = 0.99;
/// Training rows the classifier learns from, at most.
const MAX_REAL: usize = 50_000;
/// Generated rows the classifier learns from, at most.
pub const MAX_GENERATED: usize = 200_000;
const HELD_OUT_SHARE: f64 = 0.2;
const BATCH: usize = 512;
/// Steps between checks of the held-out loss, at least (and at least one epoch).
const CHECK_EVERY: usize = 100;
const MAX_STEPS: usize = 30_000;
/// Checks without a better held-out loss before training stops.
const PATIENCE: usize = 20;
/// Logits outside which a member is certain of a row's class: its probability of being
/// real is 0 or 1 in single precision. Training stops once a row of a training batch or
/// a held-out row falls outside them, with the weights of the best check before.
const CERTAIN: (f32, f32) = (-88.72, 16.64);
const LEARNING_RATE: f64 = 3e-3;
const DROPOUT: f32 = 0.2;
const SLOPE: f32 = LEAKY_SLOPE as f32;
/// Generated rows the classifier learns from, per training row (fresh rows cost
/// nothing, and more of them keep it from learning the generated sample by heart).
pub const GENERATED_PER_ROW: usize = 10;
const WEIGHT_DECAY: f64 = 1e-4;

/// The fitted classifier's shape and the threshold of its logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectionSpec {
    pub input_dim: usize,
    pub hidden: Vec<usize>,
    /// Classifiers trained alike from different starts; their logits are averaged.
    pub members: usize,
    /// Logit at or above which a draw is always kept.
    pub threshold: f32,
    /// Expected share of draws kept, measured on held-out generated rows.
    pub acceptance: f64,
    /// Log weights added to the classifiers' logits that move the kept draws to the
    /// training rows' first and second moments ([`crate::tilt`]).
    #[serde(default)]
    pub tilt: Option<Tilt>,
    /// Whether each round's candidates have their columns drawn independently of each
    /// other (every column's values shuffled across the candidates, [`shuffle_columns`])
    /// before they are screened: a private fit's base when its generator's relations
    /// are further from the released ones than none at all.
    #[serde(default)]
    pub independent: bool,
}

impl RejectionSpec {
    /// Names and shapes of the classifiers' weights, member by member and layer by
    /// layer (weight, then bias).
    pub fn parameters(&self) -> Vec<(String, Vec<usize>)> {
        let mut widths = vec![self.input_dim];
        widths.extend(&self.hidden);
        widths.push(1);
        (0..self.members)
            .flat_map(|m| {
                widths
                    .windows(2)
                    .enumerate()
                    .flat_map(|(i, w)| {
                        [
                            (format!("{}.weight", layer(m, i)), vec![w[1], w[0]]),
                            (format!("{}.bias", layer(m, i)), vec![w[1]]),
                        ]
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Leaves out the balancing of drawn rows ([`crate::balance`]): rows are then drawn
    /// independently of each other.
    pub fn unbalanced(&mut self) {
        if let Some(tilt) = &mut self.tilt {
            tilt.target.clear();
            tilt.scale.clear();
        }
    }

    /// Checks the spec against the encoder it is used with.
    pub fn check(&self, encoder: &Encoder) -> Result<()> {
        // A private fit's sampler only tilts: no classifiers.
        let classifiers = (self.members > 0 && !self.hidden.is_empty())
            || (self.members == 0 && self.tilt.is_some());
        let ok = self.input_dim == feature_width(encoder)
            && classifiers
            && self.hidden.iter().all(|&w| w > 0)
            && self.threshold.is_finite()
            && self.acceptance > 0.0
            && self.acceptance <= 1.0;
        if let Some(tilt) = &self.tilt {
            tilt.check(self.input_dim)?;
        }
        if ok {
            Ok(())
        } else {
            Err(Error::ModelFormat(
                "the rejection sampler does not match the encoding".into(),
            ))
        }
    }
}

fn layer(member: usize, i: usize) -> String {
    format!("{REJECTION}{member}.layer{i}")
}

/// Width of the classifier's input: the encoded row, then two numbers per
/// mode-normalised column (see [`features`]).
pub fn feature_width(encoder: &Encoder) -> usize {
    encoder.width() + 2 * n_mode_columns(encoder)
}

fn n_mode_columns(encoder: &Encoder) -> usize {
    encoder
        .columns
        .iter()
        .filter(|c| matches!(c.transform, Transform::Modes { .. }))
        .count()
}

/// Classifier inputs of `n` rows given as their numeric scalars and chosen slots (as
/// [`slots_of`] gives them for encoded rows; generated rows go through
/// [`features_of_draws`]). A missing value's scalar is zero, as in
/// encoded training rows. Mode-normalised columns also get their value on two whole-
/// column scales, so that the classifier compares values across modes: standardised by
/// the mixture's mean and standard deviation, and its position in the mixture's
/// distribution (2 F(x) - 1, which spreads skewed columns evenly).
pub fn features(encoder: &Encoder, n: usize, scalars: &[f32], slots: &[u32]) -> Vec<f32> {
    let width = feature_width(encoder);
    let encoded = encoder.width();
    let n_groups = encoder.groups.len();
    // Each mixture's mean and standard deviation, once per call rather than per row.
    let moments: Vec<(f64, f64)> = encoder
        .columns
        .iter()
        .map(|c| match &c.transform {
            Transform::Modes { mixture, .. } => mixture.moments(),
            _ => (0.0, 1.0),
        })
        .collect();
    let mut out = vec![0.0; n * width];
    for (i, row) in out.chunks_exact_mut(width).enumerate() {
        let scalars = &scalars[i * encoder.n_scalars..(i + 1) * encoder.n_scalars];
        let slots = &slots[i * n_groups..(i + 1) * n_groups];
        row[..encoder.n_scalars].copy_from_slice(scalars);
        for (g, &slot) in encoder.groups.iter().zip(slots) {
            row[g.start + slot as usize] = 1.0;
        }
        let mut extra = encoded;
        for (codec, &(mean, sd)) in encoder.columns.iter().zip(&moments) {
            let slot = codec.group.map(|g| slots[g] as usize);
            let (present, mixture) = match &codec.transform {
                Transform::MinMax { .. } | Transform::Quantile { .. } => {
                    (slot.is_none_or(|s| s == 0), None)
                }
                Transform::Modes {
                    mixture,
                    spikes,
                    center,
                    scale,
                    ..
                } => {
                    let s = slot.expect("mode-normalised columns have a group");
                    (
                        s < mixture.n_modes() + spikes.len(),
                        Some((mixture, spikes, s, (*center, *scale))),
                    )
                }
                _ => continue,
            };
            let s = codec.scalar.expect("numeric columns have a scalar");
            let spike =
                mixture.and_then(|(m, spikes, slot, _)| spikes.get(slot.wrapping_sub(m.n_modes())));
            if !present || spike.is_some() {
                row[s] = 0.0;
            }
            if let Some((mixture, _, mode, (center, scale))) = mixture {
                if present {
                    // On the mixture's scale (see `Transform::Modes`).
                    let x = match spike {
                        Some(&v) => (v - center) / scale,
                        None => {
                            mixture.means[mode] + MODE_SCALE * mixture.sds[mode] * f64::from(row[s])
                        }
                    };
                    row[extra] = ((x - mean) / sd).clamp(-10.0, 10.0) as f32;
                    row[extra + 1] = (2.0 * mixture.cdf(x) - 1.0) as f32;
                }
                extra += 2;
            }
        }
    }
    out
}

/// [`features`] of generated rows, whose scalars are as the generator draws them (a
/// quantile column's as its logit): on the scale of encoded rows' features.
pub fn features_of_draws(encoder: &Encoder, n: usize, scalars: &[f32], slots: &[u32]) -> Vec<f32> {
    let quantile = encoder
        .columns
        .iter()
        .any(|c| matches!(c.transform, Transform::Quantile { .. }));
    if quantile {
        let mut encoded = scalars.to_vec();
        encoder.generated_to_encoded(&mut encoded);
        features(encoder, n, &encoded, slots)
    } else {
        features(encoder, n, scalars, slots)
    }
}

/// Scalars and slots of encoded rows (one-hot groups), for [`features`].
pub fn slots_of(encoder: &Encoder, encoded: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let width = encoder.width();
    let n = encoded.len() / width;
    let mut scalars = Vec::with_capacity(n * encoder.n_scalars);
    let mut slots = Vec::with_capacity(n * encoder.groups.len());
    for row in encoded.chunks_exact(width) {
        scalars.extend_from_slice(&row[..encoder.n_scalars]);
        for g in &encoder.groups {
            let group = &row[g.start..g.start + g.width];
            let slot = (0..g.width)
                .max_by(|&a, &b| group[a].total_cmp(&group[b]).then(b.cmp(&a)))
                .unwrap_or(0);
            slots.push(slot as u32);
        }
    }
    (scalars, slots)
}

/// One member of the classifier in training: its weights in one buffer (named as in
/// the model file), trained with hand-derived gradients and candle-nn's AdamW.
struct Member {
    net: Net,
    layers: usize,
    grads: Vec<f32>,
}

/// A pass's hidden outputs (after activation and dropout) and, when training, their
/// gates: each output's derivative by its layer's product, dropout included.
struct Pass {
    logits: Vec<f32>,
    outputs: Vec<Array2<f32>>,
    gates: Vec<Array2<f32>>,
}

impl Member {
    /// A member with candle layers' initial weights, drawn from `rng`.
    fn new(spec: &RejectionSpec, member: usize, rng: &mut SeededRng) -> Result<Self> {
        let params = Params::new(&Device::Cpu);
        let mut widths = vec![spec.input_dim];
        widths.extend(&spec.hidden);
        widths.push(1);
        for (i, w) in widths.windows(2).enumerate() {
            params.linear(&layer(member, i), w[0], w[1], rng)?;
        }
        let layers = widths.len() - 1;
        let names = spec.parameters()[2 * layers * member..2 * layers * (member + 1)].to_vec();
        let net = Net::new(names, &params, true)?;
        Ok(Member {
            grads: vec![0.0; net.len()],
            net,
            layers,
        })
    }

    /// Logits of the rows of `x`; with `masks` (one per hidden layer), hidden units are
    /// multiplied by them (dropout) and the gates are kept.
    fn forward(&self, x: ArrayView2<f32>, masks: Option<&[Vec<f32>]>) -> Pass {
        let rows = x.nrows();
        let mut outputs: Vec<Array2<f32>> = Vec::with_capacity(self.layers - 1);
        let mut gates = Vec::new();
        for i in 0..self.layers {
            let input = match outputs.last() {
                Some(o) => o.view(),
                None => x.view(),
            };
            let bias = self.net.vector(2 * i + 1);
            let mut z = Array2::zeros((rows, bias.len()));
            gemm_into(&input, &self.net.transposed(2 * i), &mut z, false);
            if i + 1 == self.layers {
                let logits = z.rows().into_iter().map(|r| r[0] + bias[0]).collect();
                return Pass {
                    logits,
                    outputs,
                    gates,
                };
            }
            let bias = bias.to_slice().expect("a bias is contiguous");
            let dim = z.dim();
            let values = z.as_slice_mut().expect("a fresh matrix is contiguous");
            let rows_of_values = values.chunks_exact_mut(bias.len());
            match masks {
                Some(masks) => {
                    let mut gate = Array2::zeros(dim);
                    let gate_rows = gate.as_slice_mut().expect("contiguous");
                    for ((row, gate_row), mask_row) in rows_of_values
                        .zip(gate_rows.chunks_exact_mut(bias.len()))
                        .zip(masks[i].chunks_exact(bias.len()))
                    {
                        for (((v, g), &m), &b) in
                            row.iter_mut().zip(gate_row).zip(mask_row).zip(bias)
                        {
                            let pre = *v + b;
                            *v = leaky(pre) * m;
                            *g = if pre >= 0.0 { m } else { SLOPE * m };
                        }
                    }
                    gates.push(gate);
                }
                None => {
                    for row in rows_of_values {
                        for (v, &b) in row.iter_mut().zip(bias) {
                            *v = leaky(*v + b);
                        }
                    }
                }
            }
            outputs.push(z);
        }
        unreachable!("the output layer returns")
    }

    /// The gradients of the mean binary cross-entropy of a batch whose first `real`
    /// rows are training rows (label 1) and the rest generated ones (label 0), with
    /// hidden units dropped by `masks`, into `self.grads`. Returns `false`, with no
    /// gradients, where the member is [`CERTAIN`] of a row's class.
    fn gradients(&mut self, x: ArrayView2<f32>, real: usize, masks: &[Vec<f32>]) -> bool {
        let rows = x.nrows();
        let pass = self.forward(x, Some(masks));
        if certain(&pass.logits) {
            return false;
        }
        let mut dz = Array2::from_shape_fn((rows, 1), |(r, _)| {
            let p = 1.0 / (1.0 + (-pass.logits[r]).exp());
            (p - if r < real { 1.0 } else { 0.0 }) / rows as f32
        });
        let mut slots = split_mut(&self.net, &mut self.grads);
        for i in (0..self.layers).rev() {
            let input = if i == 0 {
                x.view()
            } else {
                pass.outputs[i - 1].view()
            };
            let (weight, rest) = slots[2 * i..].split_first_mut().expect("layer slots");
            let bias = &mut rest[0];
            let w = self.net.matrix(2 * i);
            gemm_into(
                &dz.t(),
                &input,
                &mut matrix_mut(weight, w.nrows(), w.ncols()),
                false,
            );
            bias.fill(0.0);
            add_column_sums(bias, &dz.view());
            if i > 0 {
                let mut below = Array2::zeros((rows, w.ncols()));
                gemm_into(&dz, &w, &mut below, false);
                below *= &pass.gates[i - 1];
                dz = below;
            }
        }
        true
    }

    /// Mean binary cross-entropy of held-out training and generated rows, each kind
    /// weighing the same, as in the balanced training batches; `None` where the member
    /// is [`CERTAIN`] of a row's class.
    fn held_out_loss(&self, real: ArrayView2<f32>, generated: ArrayView2<f32>) -> Option<f32> {
        // -log sigmoid(z) for label 1, -log(1 - sigmoid(z)) for label 0.
        let softplus = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
        let mean = |x: ArrayView2<f32>, sign: f64| {
            let logits = self.forward(x, None).logits;
            let sum = logits
                .iter()
                .map(|&z| softplus(sign * f64::from(z)))
                .sum::<f64>();
            (!certain(&logits)).then(|| sum / logits.len() as f64)
        };
        Some(((mean(real, -1.0)? + mean(generated, 1.0)?) / 2.0) as f32)
    }
}

/// Rows of one kind, split into the rows learnt from and the held-out rows.
struct Split {
    fit: Vec<f32>,
    held_out: Vec<f32>,
}

fn split(rows: &[f32], width: usize, cap: usize, rng: &mut SeededRng) -> Split {
    let n = rows.len() / width;
    let mut keep: Vec<u32> = rng
        .subset(n, cap.min(n))
        .into_iter()
        .map(|i| i as u32)
        .collect();
    rng.shuffle(&mut keep);
    let n_held = ((keep.len() as f64 * HELD_OUT_SHARE).round() as usize).clamp(1, keep.len() - 1);
    let gather = |idx: &[u32]| {
        idx.iter()
            .flat_map(|&i| {
                rows[i as usize * width..(i as usize + 1) * width]
                    .iter()
                    .copied()
            })
            .collect::<Vec<f32>>()
    };
    Split {
        held_out: gather(&keep[..n_held]),
        fit: gather(&keep[n_held..]),
    }
}

/// Fits the classifier to `real` and `generated` rows of [`features`] (at least two of
/// each), its members in parallel: on one of this crate's pools, as rayon's global pool
/// would deadlock in a forked R worker. Returns its spec and weights.
pub fn fit(
    encoder: &Encoder,
    real: &[f32],
    generated: &[f32],
    rng: &mut SeededRng,
) -> Result<(RejectionSpec, HashMap<String, Tensor>)> {
    let width = feature_width(encoder);
    if real.len() < 2 * width || generated.len() < 2 * width {
        return Err(Error::Data(
            "the rejection sampler needs at least two real and two generated rows".into(),
        ));
    }
    let real = split(real, width, MAX_REAL, rng);
    let generated = split(generated, width, MAX_GENERATED, rng);
    let mut spec = RejectionSpec {
        input_dim: width,
        hidden: HIDDEN.to_vec(),
        members: MEMBERS,
        threshold: 0.0,
        acceptance: 1.0,
        tilt: None,
        independent: false,
    };
    // The members learn alike from their own streams, on the pool's threads.
    let streams: Vec<SeededRng> = (0..MEMBERS).map(|_| rng.split()).collect();
    let members = streams
        .into_par_iter()
        .enumerate()
        .map(|(member, mut rng)| fit_member(&spec, member, &real, &generated, &mut rng))
        .collect::<Result<Vec<_>>>()?;
    let mut weights = HashMap::new();
    let mut logits = vec![0.0f32; generated.held_out.len() / width];
    for (w, l) in members {
        weights.extend(w);
        logits
            .iter_mut()
            .zip(l)
            .for_each(|(a, b)| *a += b / MEMBERS as f32);
    }
    set_threshold(&mut spec, logits);
    Ok((spec, weights))
}

/// Sets the threshold at [`THRESHOLD_QUANTILE`] of the logits of generated rows, and the
/// share of such rows kept.
fn set_threshold(spec: &mut RejectionSpec, mut logits: Vec<f32>) {
    logits.sort_by(f32::total_cmp);
    let at = ((logits.len() - 1) as f64 * THRESHOLD_QUANTILE).round() as usize;
    spec.threshold = logits[at];
    spec.acceptance = logits
        .iter()
        .map(|&l| f64::from(l - spec.threshold).min(0.0).exp())
        .sum::<f64>()
        / logits.len() as f64;
}

/// Adds the tilt ([`crate::tilt`]) to a fitted sampler: `pool` holds rows of features of
/// fresh generated rows, `real` those of the training rows. The threshold is then set
/// on the pool's logits with the tilt.
pub fn add_tilt(
    encoder: &Encoder,
    spec: &mut RejectionSpec,
    weights: &HashMap<String, Tensor>,
    real: &[f32],
    pool: &[f32],
) -> Result<()> {
    let width = spec.input_dim;
    let n = pool.len() / width;
    let screen = Screen::new(spec, weights)?;
    let logits = screen.logits(pool, n);
    let log_prior: Vec<f64> = logits
        .iter()
        .map(|&l| f64::from(l - spec.threshold).min(0.0))
        .collect();
    spec.tilt = Tilt::fit(encoder, width, real, pool, &log_prior)?;
    if let Some(tilt) = &spec.tilt {
        let tilted: Vec<f32> = logits
            .iter()
            .zip(tilt.log_weights(pool, width))
            .map(|(&l, w)| l + w as f32)
            .collect();
        set_threshold(spec, tilted);
    }
    Ok(())
}

/// A sampler that only tilts, without classifiers: a private fit's, whose tilt matches
/// released feature means. The threshold is set on the log weights of `pool`'s rows
/// (`width` features each), drawn as the sampler draws them (`independent`).
pub fn tilt_only(width: usize, tilt: Tilt, pool: &[f32], independent: bool) -> RejectionSpec {
    let log_weights = tilt
        .log_weights(pool, width)
        .into_iter()
        .map(|w| w as f32)
        .collect();
    let mut spec = RejectionSpec {
        input_dim: width,
        hidden: Vec::new(),
        members: 0,
        threshold: 0.0,
        acceptance: 1.0,
        tilt: Some(tilt),
        independent,
    };
    set_threshold(&mut spec, log_weights);
    spec
}

/// Shuffles every column's values (its scalar and slot together) across the `n` rows
/// given as scalars and slots, each column by its own permutation: the rows then keep
/// each column's values and lose the relations between columns.
pub fn shuffle_columns(
    encoder: &Encoder,
    n: usize,
    scalars: &mut [f32],
    slots: &mut [u32],
    rng: &mut SeededRng,
) {
    let (n_scalars, n_groups) = (encoder.n_scalars, encoder.groups.len());
    let mut order: Vec<u32> = (0..n as u32).collect();
    for codec in &encoder.columns {
        rng.shuffle(&mut order);
        if let Some(s) = codec.scalar {
            permute(scalars, n_scalars, s, &order);
        }
        if let Some(g) = codec.group {
            permute(slots, n_groups, g, &order);
        }
    }
}

/// Puts value `order[i]` of column `at` (rows of `width` values) in row `i`.
fn permute<T: Copy>(rows: &mut [T], width: usize, at: usize, order: &[u32]) {
    let values: Vec<T> = order
        .iter()
        .map(|&i| rows[i as usize * width + at])
        .collect();
    for (i, v) in values.into_iter().enumerate() {
        rows[i * width + at] = v;
    }
}

/// Whether a member is [`CERTAIN`] of the class of a row of these logits.
fn certain(logits: &[f32]) -> bool {
    logits.iter().any(|&z| z <= CERTAIN.0 || z >= CERTAIN.1)
}

/// Rows of `width` values as a matrix.
fn rows_of(rows: &[f32], width: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((rows.len() / width, width), rows).expect("feature rows")
}

/// Trains one member, stopped where its held-out loss was lowest. Returns its weights
/// and its logits of the held-out generated rows.
fn fit_member(
    spec: &RejectionSpec,
    member: usize,
    real: &Split,
    generated: &Split,
    rng: &mut SeededRng,
) -> Result<(HashMap<String, Tensor>, Vec<f32>)> {
    let width = spec.input_dim;
    let mut classifier = Member::new(spec, member, rng)?;
    let adam = ParamsAdamW {
        lr: LEARNING_RATE,
        weight_decay: WEIGHT_DECAY,
        ..ParamsAdamW::default()
    };
    let (held_real, held_generated) = (
        rows_of(&real.held_out, width),
        rows_of(&generated.held_out, width),
    );
    let (n_real, n_gen) = (real.fit.len() / width, generated.fit.len() / width);
    let half = (BATCH / 2).min(n_real).min(n_gen);
    let check_every = n_real.max(n_gen).div_ceil(half).max(CHECK_EVERY);
    let mut batch = Vec::with_capacity(2 * half * width);
    let mut masks: Vec<Vec<f32>> = spec
        .hidden
        .iter()
        .map(|&h| vec![0.0; 2 * half * h])
        .collect();
    let mut best = (f32::INFINITY, classifier.net.values().to_vec());
    let mut since_best = 0;
    'training: for _ in 0..MAX_STEPS.div_ceil(check_every) {
        for _ in 0..check_every {
            batch.clear();
            for (rows, n) in [(&real.fit, n_real), (&generated.fit, n_gen)] {
                for i in rng.indices(half, n) {
                    batch.extend_from_slice(&rows[i as usize * width..(i as usize + 1) * width]);
                }
            }
            for mask in &mut masks {
                rng.fill_dropout_mask(mask, DROPOUT);
            }
            if !classifier.gradients(rows_of(&batch, width), half, &masks) {
                break 'training;
            }
            classifier.net.adam_step(&[&classifier.grads], None, &adam);
        }
        let held_out = classifier.held_out_loss(held_real, held_generated);
        let Some(held_loss) = held_out.filter(|l| l.is_finite()) else {
            break;
        };
        if held_loss < best.0 {
            best = (held_loss, classifier.net.values().to_vec());
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= PATIENCE {
                break;
            }
        }
    }
    classifier.net.set_values(&best.1);
    let logits = classifier.forward(held_generated, None).logits;
    Ok((classifier.net.tensors()?, logits))
}

/// The fitted classifiers on the CPU, for synthesis: logits of rows of features.
pub struct Screen {
    /// Per member, its layers: transposed weight (inputs x outputs) and bias.
    members: Vec<Vec<(Array2<f32>, Vec<f32>)>>,
    pub spec: RejectionSpec,
}

impl Screen {
    pub fn new(spec: &RejectionSpec, weights: &HashMap<String, Tensor>) -> Result<Self> {
        let get = |(name, shape): &(String, Vec<usize>)| -> Result<Tensor> {
            let t = weights
                .get(name)
                .ok_or_else(|| Error::ModelFormat(format!("weight {name} is missing")))?;
            if t.dims() != shape.as_slice() {
                return Err(Error::ModelFormat(format!(
                    "weight {name} has shape {:?}, expected {shape:?}",
                    t.dims()
                )));
            }
            Ok(t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?)
        };
        let transposed = |w: Tensor| -> Result<Array2<f32>> {
            let (outputs, inputs) = w.dims2()?;
            let values = w.t()?.contiguous()?.flatten_all()?.to_vec1()?;
            Ok(Array2::from_shape_vec((inputs, outputs), values).expect("weight shape"))
        };
        let layers: Vec<(Array2<f32>, Vec<f32>)> = spec
            .parameters()
            .chunks_exact(2)
            .map(|wb| Ok((transposed(get(&wb[0])?)?, get(&wb[1])?.to_vec1()?)))
            .collect::<Result<_>>()?;
        let per_member = spec.hidden.len() + 1;
        Ok(Screen {
            members: layers.chunks(per_member).map(<[_]>::to_vec).collect(),
            spec: spec.clone(),
        })
    }

    /// Logits of `n` rows of features (`n * spec.input_dim` values): the members' mean,
    /// plus the tilt's log weight.
    pub fn logits(&self, features: &[f32], n: usize) -> Vec<f32> {
        let input =
            ArrayView2::from_shape((n, self.spec.input_dim), features).expect("feature rows");
        let mut mean = vec![0.0f32; n];
        for layers in &self.members {
            let mut a: Option<Array2<f32>> = None;
            let last = layers.len() - 1;
            for (i, (weight, bias)) in layers.iter().enumerate() {
                let x = a.as_ref().map_or(input.view(), Array2::view);
                let mut y = Array2::zeros((n, bias.len()));
                gemm_into(&x, weight, &mut y, false);
                for row in y.rows_mut() {
                    for (v, b) in row.into_iter().zip(bias) {
                        *v += b;
                        if i < last && *v < 0.0 {
                            *v *= SLOPE;
                        }
                    }
                }
                a = Some(y);
            }
            let k = self.members.len() as f32;
            let logits = a.expect("a classifier has layers");
            mean.iter_mut().zip(logits).for_each(|(m, v)| *m += v / k);
        }
        if let Some(tilt) = &self.spec.tilt {
            let width = self.spec.input_dim;
            for (m, w) in mean.iter_mut().zip(tilt.log_weights(features, width)) {
                *m += w as f32;
            }
        }
        mean
    }

    /// Whether to keep a draw with logit `logit`, given a uniform draw `u`.
    pub fn keep(&self, logit: f32, u: f64) -> bool {
        u < f64::from(logit - self.spec.threshold).min(0.0).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::EncoderOptions;
    use crate::schema::{Column, Kind, Table, Values};

    #[test]
    fn shuffled_columns_keep_their_values_and_lose_their_relations() {
        let n = 2000usize;
        let mut rng = SeededRng::new(4);
        let x: Vec<f64> = (0..n)
            .map(|i| if i % 4 == 0 { f64::NAN } else { i as f64 })
            .collect();
        let y: Vec<f64> = (0..n).map(|i| i as f64 * 2.0).collect();
        let table = Table::new(
            vec![
                Column::new("x", Kind::Double, Values::Real(x)).unwrap(),
                Column::new("y", Kind::Double, Values::Real(y)).unwrap(),
            ],
            n,
        )
        .unwrap();
        let options = EncoderOptions {
            numeric: crate::encoding::NumericEncoding::MinMax,
            ..EncoderOptions::default()
        };
        let encoder = Encoder::fit(&table, &options, &mut rng).unwrap();
        let encoded = encoder.encode(&table, &mut rng).unwrap();
        let (mut scalars, mut slots) = slots_of(&encoder, encoded.as_slice().unwrap());
        let (before_scalars, before_slots) = (scalars.clone(), slots.clone());
        shuffle_columns(&encoder, n, &mut scalars, &mut slots, &mut rng);
        let column = |v: &[f32], j: usize| -> Vec<f32> {
            let mut c: Vec<f32> = v
                .iter()
                .skip(j)
                .step_by(encoder.n_scalars)
                .copied()
                .collect();
            c.sort_by(f32::total_cmp);
            c
        };
        for j in 0..encoder.n_scalars {
            assert_eq!(column(&scalars, j), column(&before_scalars, j));
        }
        // A value keeps its missingness: missing rows' scalars stay zero.
        let g = encoder.columns[0].group.unwrap();
        let s = encoder.columns[0].scalar.unwrap();
        let n_groups = encoder.groups.len();
        let missing = |slots: &[u32]| (0..n).filter(|&i| slots[i * n_groups + g] == 1).count();
        assert_eq!(missing(&slots), missing(&before_slots));
        assert!((0..n)
            .filter(|&i| slots[i * n_groups + g] == 1)
            .all(|i| scalars[i * encoder.n_scalars + s] == 0.0));
        // x and y rose together; shuffled, they do not.
        let sy = encoder.columns[1].scalar.unwrap();
        let present: Vec<(f64, f64)> = (0..n)
            .filter(|&i| slots[i * n_groups + g] == 0)
            .map(|i| {
                let row = &scalars[i * encoder.n_scalars..(i + 1) * encoder.n_scalars];
                (f64::from(row[s]), f64::from(row[sy]))
            })
            .collect();
        let m = present.len() as f64;
        let (mx, my) = present
            .iter()
            .fold((0.0, 0.0), |a, p| (a.0 + p.0 / m, a.1 + p.1 / m));
        let cov: f64 = present.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / m;
        let sd = |f: fn(&(f64, f64)) -> f64, mean: f64| {
            (present.iter().map(|p| (f(p) - mean).powi(2)).sum::<f64>() / m).sqrt()
        };
        let r = cov / (sd(|p| p.0, mx) * sd(|p| p.1, my));
        assert!(r.abs() < 0.1, "correlation {r}");
    }

    #[test]
    fn features_zero_missing_values_and_place_values_on_one_scale() {
        let mut rng = SeededRng::new(1);
        let x: Vec<f64> = (0..300)
            .map(|i| {
                if i % 10 == 0 {
                    f64::NAN
                } else if i % 2 == 0 {
                    f64::from(i) * 0.01
                } else {
                    50.0 + f64::from(i) * 0.02
                }
            })
            .collect();
        let table = Table::new(
            vec![Column::new("x", Kind::Double, Values::Real(x.clone())).unwrap()],
            x.len(),
        )
        .unwrap();
        let encoder = Encoder::fit(&table, &EncoderOptions::default(), &mut rng).unwrap();
        let encoded = encoder.encode(&table, &mut rng).unwrap();
        let (scalars, slots) = slots_of(&encoder, encoded.as_slice().unwrap());
        let f = features(&encoder, x.len(), &scalars, &slots);
        let width = feature_width(&encoder);
        assert_eq!(width, encoder.width() + 2);
        let z: Vec<f32> = f.chunks_exact(width).map(|row| row[width - 2]).collect();
        // Missing: scalar and standardised value are zero. Present: the standardised
        // value is one linear function of x across both modes.
        let present: Vec<(f64, f64)> = x
            .iter()
            .zip(&z)
            .filter(|(x, _)| !x.is_nan())
            .map(|(&x, &z)| (x, f64::from(z)))
            .collect();
        for (row, x) in f.chunks_exact(width).zip(&x) {
            if x.is_nan() {
                assert_eq!(row[0], 0.0);
                assert_eq!(row[width - 2], 0.0);
                assert_eq!(row[width - 1], 0.0);
            }
        }
        // The distribution position rises with x, within (-1, 1).
        let mut by_x: Vec<(f64, f32)> = x
            .iter()
            .zip(f.chunks_exact(width))
            .filter(|(x, _)| !x.is_nan())
            .map(|(&x, row)| (x, row[width - 1]))
            .collect();
        by_x.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(by_x.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(by_x.iter().all(|(_, u)| u.abs() < 1.0));
        assert!(by_x[0].1 < -0.9 && by_x[by_x.len() - 1].1 > 0.9);
        let (x0, z0) = present[0];
        let (x1, z1) = present[present.len() - 1];
        let slope = (z1 - z0) / (x1 - x0);
        assert!(slope > 0.0);
        for &(x, z) in &present {
            assert!((z0 + slope * (x - x0) - z).abs() < 1e-3, "x {x}: z {z}");
        }
    }

    /// The hand-derived gradients of a member equal candle's autograd of the same
    /// layers, dropout and loss.
    #[test]
    fn member_gradients_match_autograd() {
        use candle_core::Var;
        let spec = RejectionSpec {
            input_dim: 7,
            hidden: vec![16, 12],
            members: 2,
            threshold: 0.0,
            acceptance: 1.0,
            tilt: None,
            independent: false,
        };
        let mut rng = SeededRng::new(3);
        let mut member = Member::new(&spec, 1, &mut rng).unwrap();
        let (rows, real) = (40, 15);
        let x = rng.normal_vec(rows * spec.input_dim);
        let masks: Vec<Vec<f32>> = spec
            .hidden
            .iter()
            .map(|&h| rng.dropout_mask(rows * h, DROPOUT))
            .collect();
        assert!(member.gradients(rows_of(&x, spec.input_dim), real, &masks));

        let device = Device::Cpu;
        let vars: HashMap<String, Var> = member
            .net
            .tensors()
            .unwrap()
            .into_iter()
            .map(|(k, t)| (k, Var::from_tensor(&t).unwrap()))
            .collect();
        let mut a = Tensor::from_vec(x, (rows, spec.input_dim), &device).unwrap();
        for i in 0..member.layers {
            let w = vars[&format!("{}.weight", layer(1, i))].as_tensor();
            let b = vars[&format!("{}.bias", layer(1, i))].as_tensor();
            a = a.matmul(&w.t().unwrap()).unwrap().broadcast_add(b).unwrap();
            if i + 1 < member.layers {
                let mask = Tensor::from_vec(masks[i].clone(), a.dims(), &device).unwrap();
                a = (candle_nn::ops::leaky_relu(&a, LEAKY_SLOPE).unwrap() * mask).unwrap();
            }
        }
        let mut y = vec![1.0f32; real];
        y.resize(rows, 0.0);
        let y = Tensor::from_vec(y, rows, &device).unwrap();
        let loss = candle_nn::loss::binary_cross_entropy_with_logit(&a.squeeze(1).unwrap(), &y);
        let grads = loss.unwrap().backward().unwrap();

        let explicit = split_mut(&member.net, &mut member.grads);
        for ((name, _), got) in spec.parameters()[6..].iter().zip(explicit) {
            let want = grads.get(vars[name].as_tensor()).unwrap();
            let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let scale = want.iter().fold(0.0f32, |m, g| m.max(g.abs()));
            assert!(scale > 1e-4, "{name}: no gradient");
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-4 * scale, "{name}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn draws_above_the_threshold_are_always_kept() {
        let spec = RejectionSpec {
            input_dim: 1,
            hidden: vec![1],
            members: 1,
            threshold: 2.0,
            acceptance: 0.5,
            tilt: None,
            independent: false,
        };
        let screen = Screen {
            members: Vec::new(),
            spec,
        };
        assert!(screen.keep(2.5, 0.999_999));
        assert!(screen.keep(2.0 - 1.0, 0.3)); // kept with probability e^-1 = 0.37
        assert!(!screen.keep(2.0 - 1.0, 0.4));
    }
}
