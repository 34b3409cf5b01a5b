//! Drawing synthetic rows from a fitted generator. Rows are generated independently of
//! each other, in fixed-size chunks (so the network's working memory does not grow with
//! the number of rows) that run in parallel on the CPU. Each chunk has its own random
//! stream derived from the seed, so the rows depend on the seed but not on the number
//! of threads. A model with a rejection sampler ([`crate::rejection`]) fills each chunk
//! with the candidates the sampler keeps, drawn from the chunk's own stream.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use ndarray::{s, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::balance;
use crate::cpu_step::gemm_into;
use crate::error::{Error, Result};
use crate::lanes::{add_and_sum, sum_by};
use crate::model::Model;
use crate::network::{
    Generator, GeneratorSpec, Params, GENERATOR, LEAKY_SLOPE as LEAKY_SLOPE_F64, NORM_EPS,
};
use crate::parallel::thread_pool;
use crate::rejection::{self, Screen};
use crate::rng::SeededRng;
use crate::schema::{Column, Kind, Table, Values};

/// Rows are drawn in chunks of this many, each from its own random stream.
pub const CHUNK_ROWS: usize = 512;
/// Rounds of rejection sampling before a row takes its last candidate.
const MAX_ROUNDS: usize = 64;
/// Candidates per wanted row and round, at most.
const MAX_TRIES: usize = 16;
/// Spare rows a balanced chunk draws, per row it keeps.
const SPARE_SHARE: f64 = 0.5;
/// Chunks per generator pass on a GPU.
const GPU_CHUNKS: usize = 32;
/// The generator's LeakyReLU slope, in the precision of the CPU forward pass.
const LEAKY_SLOPE: f32 = LEAKY_SLOPE_F64 as f32;

/// Per requested row, the fixed slot of each conditioning column (if fixed).
pub type Fixed = Vec<Vec<Option<usize>>>;

/// Translates a table of wanted values (a subset of the conditioning columns, one row
/// per synthetic row; missing means "not fixed") into fixed slots. Values are matched
/// to the model's levels by their labels.
pub fn conditions_to_fixed(model: &Model, conditions: &Table) -> Result<Fixed> {
    let spec = model.condition.as_ref();
    let n_cond = spec.map_or(0, |s| s.columns.len());
    let mut fixed = vec![vec![None; n_cond]; conditions.n_rows()];
    for col in conditions.columns() {
        let found = spec.and_then(|s| {
            s.columns
                .iter()
                .position(|c| model.encoder.columns[c.column].name == col.name)
                .map(|j| (j, &model.encoder.columns[s.columns[j].column]))
        });
        let Some((j, codec)) = found else {
            return Err(Error::column(
                &col.name,
                "is not a conditioning column of this model; fit with `condition_on` including it",
            ));
        };
        let model_labels = labels(&codec.kind);
        let col_labels = labels(&col.kind);
        for (i, row) in fixed.iter_mut().enumerate() {
            let code = match &col.values {
                Values::Logical(v) => v[i].map(usize::from),
                Values::Code(v) => v[i].map(|c| c as usize),
                _ => {
                    return Err(Error::column(
                        &col.name,
                        format!("must hold {} values", codec.kind.describe()),
                    ))
                }
            };
            let Some(code) = code else { continue };
            let label = &col_labels[code];
            let slot = model_labels
                .iter()
                .position(|l| l == label)
                .ok_or_else(|| {
                    Error::column(
                        &col.name,
                        format!("has value `{label}`, which is not one of its levels"),
                    )
                })?;
            row[j] = Some(slot);
        }
    }
    Ok(fixed)
}

fn labels(kind: &Kind) -> Vec<String> {
    match kind {
        Kind::Logical => vec!["FALSE".to_string(), "TRUE".to_string()],
        k => k.levels().map(<[String]>::to_vec).unwrap_or_default(),
    }
}

/// `n` synthetic rows; `fixed`, if given, has one entry per row.
pub fn synthesize(
    model: &Model,
    n: usize,
    fixed: Option<&Fixed>,
    seed: u64,
    threads: usize,
    device: &Device,
) -> Result<Table> {
    synthesize_rows(model, n, 0..n, fixed, seed, threads, device)
}

/// Rows `rows` of the `n` rows that [`synthesize`] draws with the same arguments, so that
/// a long draw can be made in pieces; `rows.start` must be a multiple of [`CHUNK_ROWS`].
pub fn synthesize_rows(
    model: &Model,
    n: usize,
    rows: std::ops::Range<usize>,
    fixed: Option<&Fixed>,
    seed: u64,
    threads: usize,
    device: &Device,
) -> Result<Table> {
    if !rows.start.is_multiple_of(CHUNK_ROWS) || rows.end > n || rows.start > rows.end {
        return Err(Error::Config(format!(
            "rows {}..{} of {n} do not start at a multiple of {CHUNK_ROWS}",
            rows.start, rows.end
        )));
    }
    if let Some(f) = fixed {
        if f.len() != n {
            return Err(Error::Config(format!(
                "{} conditions for {} rows",
                f.len(),
                n
            )));
        }
    }
    let pool = thread_pool(threads)?;
    pool.install(|| {
        let sampler = Sampler::new(model, device, true)?;
        if rows.is_empty() {
            return model.encoder.decode_slots(0, &[], &[]);
        }
        let mut rng = SeededRng::new(seed);
        let first = rows.start / CHUNK_ROWS;
        let seeds: Vec<u64> = (0..rows.end.div_ceil(CHUNK_ROWS))
            .map(|_| rng.split_seed())
            .skip(first)
            .collect();
        // On the CPU, chunks run in parallel; a GPU gets them in batches.
        let parts: Vec<Vec<Table>> = if let Some(screen) = &sampler.screen {
            seeds
                .par_iter()
                .enumerate()
                .map_init(Scratch::default, |scratch, (c, &seed)| {
                    sampler
                        .screened_chunk(screen, first + c, seed, rows.end, fixed, scratch)
                        .map(|t| vec![t])
                })
                .collect::<Result<_>>()?
        } else if device.is_cpu() {
            seeds
                .par_iter()
                .enumerate()
                .map_init(Scratch::default, |scratch, (c, &seed)| {
                    sampler.chunks(first + c, &[seed], rows.end, fixed, scratch)
                })
                .collect::<Result<_>>()?
        } else {
            let mut scratch = Scratch::default();
            seeds
                .chunks(GPU_CHUNKS)
                .enumerate()
                .map(|(b, seeds)| {
                    let first = first + b * GPU_CHUNKS;
                    sampler.chunks(first, seeds, rows.end, fixed, &mut scratch)
                })
                .collect::<Result<_>>()?
        };
        concat(parts.into_iter().flatten().collect())
    })
}

/// `n` rows drawn from the generator without the model's rejection sampler, as numeric
/// scalars and slots (see [`Encoder::decode_slots`](crate::encoding::Encoder::decode_slots)).
pub fn draw_unscreened(
    model: &Model,
    n: usize,
    seed: u64,
    threads: usize,
    device: &Device,
) -> Result<(Vec<f32>, Vec<u32>)> {
    let pool = thread_pool(threads)?;
    pool.install(|| {
        let sampler = Sampler::new(model, device, false)?;
        let mut rng = SeededRng::new(seed);
        let seeds: Vec<u64> = (0..n.div_ceil(CHUNK_ROWS))
            .map(|_| rng.split_seed())
            .collect();
        let parts: Vec<(Vec<f32>, Vec<u32>)> = seeds
            .par_iter()
            .enumerate()
            .map_init(Scratch::default, |scratch, (c, &seed)| {
                let rows = n.min((c + 1) * CHUNK_ROWS) - c * CHUNK_ROWS;
                sampler.candidates(rows, None, &mut SeededRng::new(seed), scratch)
            })
            .collect::<Result<_>>()?;
        let mut scalars = Vec::new();
        let mut slots = Vec::new();
        for (s, g) in parts {
            scalars.extend(s);
            slots.extend(g);
        }
        Ok((scalars, slots))
    })
}

/// How generator logits are computed: on the CPU without attention, by [`Mlp`]; else by
/// the generator itself.
enum Forward {
    Mlp(Mlp),
    Generator(Generator, Device),
}

struct Sampler<'a> {
    model: &'a Model,
    forward: Forward,
    /// Per softmax group, the conditioning column it belongs to, if any.
    group_condition: Vec<Option<usize>>,
    /// The model's rejection sampler, if it has one and it is used.
    screen: Option<Screen>,
    /// Per numeric scalar, whether it is decoded from the generator's logit rather than
    /// its tanh (see [`Encoder::logit_scalars`](crate::encoding::Encoder::logit_scalars)).
    logit_scalars: Vec<bool>,
}

impl<'a> Sampler<'a> {
    fn new(model: &'a Model, device: &Device, screened: bool) -> Result<Self> {
        let spec = &model.generator;
        let params = Params::from_tensors(&model.weights, GENERATOR, device)?;
        // Building the generator checks that every weight is there with its shape.
        let generator = Generator::new(spec, &params, &mut SeededRng::new(0))?;
        let forward = if device.is_cpu() && spec.attention_tokens == 0 {
            Forward::Mlp(Mlp::new(spec, &params.tensors())?)
        } else {
            Forward::Generator(generator, device.clone())
        };
        let mut group_condition = vec![None; spec.groups.len()];
        for (j, c) in model
            .condition
            .iter()
            .flat_map(|c| c.columns.iter().enumerate())
        {
            group_condition[model.encoder.columns[c.column].group.expect("group")] = Some(j);
        }
        let screen = match &model.rejection {
            Some(r) if screened => {
                r.check(&model.encoder)?;
                Some(Screen::new(r, &model.weights)?)
            }
            _ => None,
        };
        Ok(Sampler {
            model,
            forward,
            group_condition,
            screen,
            logit_scalars: model.encoder.logit_scalars(),
        })
    }

    /// Pre-activation generator outputs, `rows` x output width, from the `rows` input
    /// rows in `scratch.input`.
    fn logits<'s>(&self, rows: usize, scratch: &'s mut Scratch) -> Result<&'s [f32]> {
        let spec = &self.model.generator;
        match &self.forward {
            Forward::Mlp(mlp) => Ok(mlp.logits(rows, scratch)),
            Forward::Generator(generator, device) => {
                let x = Tensor::from_slice(
                    &scratch.input,
                    (rows, spec.noise_dim + spec.cond_dim),
                    device,
                )?;
                let gumbel = Tensor::zeros(
                    (rows, spec.output_width() - spec.n_scalars),
                    DType::F32,
                    device,
                )?;
                let logits = generator.forward(&x, None, &gumbel)?.logits;
                scratch.logits = logits.flatten_all()?.to_vec1()?;
                Ok(&scratch.logits)
            }
        }
    }

    /// Chunks `first`, `first + 1`, ... of an `n`-row sample, one per seed, in one
    /// generator pass.
    fn chunks(
        &self,
        first: usize,
        seeds: &[u64],
        n: usize,
        fixed: Option<&Fixed>,
        scratch: &mut Scratch,
    ) -> Result<Vec<Table>> {
        scratch.input.clear();
        let mut streams = Vec::with_capacity(seeds.len());
        for (c, &seed) in (first..).zip(seeds) {
            let rows = c * CHUNK_ROWS..n.min((c + 1) * CHUNK_ROWS);
            let mut rng = SeededRng::new(seed);
            self.input(
                rows.len(),
                fixed.map(|f| &f[rows.clone()]),
                &mut rng,
                &mut scratch.input,
            );
            streams.push((rows, rng));
        }
        let total = streams.iter().map(|(rows, _)| rows.len()).sum();
        let logits = self.logits(total, scratch)?;
        let width = self.model.generator.output_width();
        let mut done = 0;
        streams
            .into_iter()
            .map(|(rows, mut rng)| {
                let l = &logits[done * width..(done + rows.len()) * width];
                done += rows.len();
                let (scalars, slots) = self.draw(l, fixed.map(|f| &f[rows.clone()]), &mut rng);
                self.model
                    .encoder
                    .decode_slots(rows.len(), &scalars, &slots)
            })
            .collect()
    }

    /// `rows` unscreened rows from one generator pass, as numeric scalars and slots; row
    /// `i` with the conditions `fixed[i]`.
    fn candidates(
        &self,
        rows: usize,
        fixed: Option<&[Vec<Option<usize>>]>,
        rng: &mut SeededRng,
        scratch: &mut Scratch,
    ) -> Result<(Vec<f32>, Vec<u32>)> {
        scratch.input.clear();
        self.input(rows, fixed, rng, &mut scratch.input);
        let logits = self.logits(rows, scratch)?;
        Ok(self.draw(logits, fixed, rng))
    }

    /// Chunk `c` of an `n`-row sample by rejection sampling, in rounds of candidates,
    /// about one kept per row still wanted in expectation. Without conditions, all
    /// candidates come from the same distribution, so the kept ones fill the empty rows
    /// in turn; with conditions, each row gets its own candidates and the first kept one
    /// fills it. Rows still empty after [`MAX_ROUNDS`] take their last candidates, so a
    /// chunk always finishes. Where the tilt has targets and no row is conditioned, the
    /// chunk draws [`SPARE_SHARE`] more rows and keeps the balanced subset
    /// ([`balance::select`]).
    fn screened_chunk(
        &self,
        screen: &Screen,
        c: usize,
        seed: u64,
        n: usize,
        fixed: Option<&Fixed>,
        scratch: &mut Scratch,
    ) -> Result<Table> {
        let spec = &self.model.generator;
        let (n_scalars, n_groups) = (spec.n_scalars, spec.groups.len());
        let rows = c * CHUNK_ROWS..n.min((c + 1) * CHUNK_ROWS);
        let len = rows.len();
        let balanced = match &screen.spec.tilt {
            Some(tilt) if fixed.is_none() && !tilt.target.is_empty() => Some(tilt),
            _ => None,
        };
        let drawn = match balanced {
            Some(_) => len + (len as f64 * SPARE_SHARE).ceil() as usize,
            None => len,
        };
        let mut rng = SeededRng::new(seed);
        let acceptance = screen.spec.acceptance;
        let tries = ((1.0 / acceptance).ceil() as usize).clamp(1, MAX_TRIES);
        let mut scalars = vec![0.0; drawn * n_scalars];
        let mut slots = vec![0u32; drawn * n_groups];
        let mut pending: Vec<usize> = (0..drawn).collect();
        for round in 0..MAX_ROUNDS {
            // With conditions, the row each candidate is drawn for; without, none.
            let owners: Vec<usize> = match fixed {
                Some(_) => pending
                    .iter()
                    .flat_map(|&r| std::iter::repeat_n(r, tries))
                    .collect(),
                None => Vec::new(),
            };
            let count = match fixed {
                Some(_) => owners.len(),
                None => ((pending.len() as f64 / acceptance).ceil() as usize)
                    .clamp(pending.len(), pending.len() * MAX_TRIES),
            };
            let conditions: Option<Vec<Vec<Option<usize>>>> =
                fixed.map(|f| owners.iter().map(|&r| f[rows.start + r].clone()).collect());
            let (mut cand_scalars, mut cand_slots) =
                self.candidates(count, conditions.as_deref(), &mut rng, scratch)?;
            if screen.spec.independent {
                let encoder = &self.model.encoder;
                rejection::shuffle_columns(
                    encoder,
                    count,
                    &mut cand_scalars,
                    &mut cand_slots,
                    &mut rng,
                );
            }
            let features = rejection::features_of_draws(
                &self.model.encoder,
                count,
                &cand_scalars,
                &cand_slots,
            );
            let logits = screen.logits(&features, count);
            let last = round + 1 == MAX_ROUNDS;
            let mut filled = vec![false; drawn];
            let mut empty = pending.iter();
            for (k, &logit) in logits.iter().enumerate() {
                let u = rng.uniform();
                if !(last || screen.keep(logit, u)) {
                    continue;
                }
                let r = match owners.get(k) {
                    None => match empty.next() {
                        Some(&r) => r,
                        None => break,
                    },
                    Some(&r) if filled[r] => continue,
                    Some(&r) => r,
                };
                filled[r] = true;
                scalars[r * n_scalars..(r + 1) * n_scalars]
                    .copy_from_slice(&cand_scalars[k * n_scalars..(k + 1) * n_scalars]);
                slots[r * n_groups..(r + 1) * n_groups]
                    .copy_from_slice(&cand_slots[k * n_groups..(k + 1) * n_groups]);
            }
            pending.retain(|&r| !filled[r]);
            if pending.is_empty() {
                break;
            }
        }
        if let Some(tilt) = balanced {
            let encoder = &self.model.encoder;
            let features = rejection::features_of_draws(encoder, drawn, &scalars, &slots);
            let kept = balance::select(tilt, &features, screen.spec.input_dim, len);
            scalars = rows_at(&scalars, n_scalars, &kept);
            slots = rows_at(&slots, n_groups, &kept);
        }
        self.model.encoder.decode_slots(len, &scalars, &slots)
    }

    /// Appends the generator input of `rows` rows (noise, then condition) to `input`.
    fn input(
        &self,
        rows: usize,
        fixed: Option<&[Vec<Option<usize>>]>,
        rng: &mut SeededRng,
        input: &mut Vec<f32>,
    ) {
        let noise_dim = self.model.generator.noise_dim;
        let Some(c) = &self.model.condition else {
            let start = input.len();
            input.resize(start + rows * noise_dim, 0.0);
            rng.fill_normal(&mut input[start..]);
            return;
        };
        let z = rng.normal_vec(rows * noise_dim);
        let cond = match fixed {
            Some(f) => c.sampling_vectors(f, rng),
            None => c.sampling_vectors(&vec![vec![None; c.columns.len()]; rows], rng),
        };
        for (z, cond) in z.chunks_exact(noise_dim).zip(cond.chunks_exact(c.dim())) {
            input.extend_from_slice(z);
            input.extend_from_slice(cond);
        }
    }

    /// Rows from their generator logits: scalars (tanh, or the logit itself where the
    /// encoder decodes from it), and a slot drawn for every softmax group that `fixed`
    /// does not set.
    fn draw(
        &self,
        logits: &[f32],
        fixed: Option<&[Vec<Option<usize>>]>,
        rng: &mut SeededRng,
    ) -> (Vec<f32>, Vec<u32>) {
        let spec = &self.model.generator;
        let width = spec.output_width();
        let n = logits.len() / width;
        let mut scalars = Vec::with_capacity(n * spec.n_scalars);
        let mut slots = Vec::with_capacity(n * spec.groups.len());
        let mut weights = vec![0.0; width];
        for (i, l) in logits.chunks_exact(width).enumerate() {
            scalars.extend(
                l[..spec.n_scalars]
                    .iter()
                    .zip(&self.logit_scalars)
                    .map(|(v, &logit)| if logit { *v } else { v.tanh() }),
            );
            // Softmax weights of each group, up to a factor.
            for g in &spec.groups {
                let l = &l[g.start..g.start + g.width];
                let max = l
                    .iter()
                    .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
                for (w, &v) in weights[g.start..g.start + g.width].iter_mut().zip(l) {
                    *w = v - max;
                }
            }
            for w in &mut weights[spec.n_scalars..] {
                *w = exp_nonpositive(*w);
            }
            for (g, cond) in spec.groups.iter().zip(&self.group_condition) {
                let slot = match cond.and_then(|j| fixed.and_then(|f| f[i][j])) {
                    Some(s) => s,
                    None => draw(&weights[g.start..g.start + g.width], rng.uniform()),
                };
                slots.push(slot as u32);
            }
        }
        (scalars, slots)
    }
}

/// Rows `rows` of a row-major buffer of rows of `width` values, in that order.
fn rows_at<T: Copy>(values: &[T], width: usize, rows: &[usize]) -> Vec<T> {
    rows.iter()
        .flat_map(|&r| &values[r * width..(r + 1) * width])
        .copied()
        .collect()
}

/// A slot drawn with probabilities proportional to `weights` (softmax weights of the
/// logits: the argmax of the generator's Gumbel-softmax output, which is what decoding
/// keeps, has this distribution). Branch-free, as the outcome is random.
fn draw(weights: &[f32], u: f64) -> usize {
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    let mut left = u * total;
    let mut slot = 0;
    for &w in &weights[..weights.len() - 1] {
        left -= f64::from(w);
        slot += usize::from(left >= 0.0);
    }
    slot
}

/// e^x for x <= 0 (to about 2 ulp; below -87, e^-87), in plain arithmetic so that loops
/// over it vectorise: Cephes' `expf`.
fn exp_nonpositive(x: f32) -> f32 {
    /// Adding and subtracting 1.5 * 2^23 rounds to an integer.
    const ROUND: f32 = 12_582_912.0;
    let x = if x < -87.0 { -87.0 } else { x };
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    (p * r * r + r + 1.0) * scale
}

/// Buffers that one thread reuses from one generator pass to the next.
#[derive(Default)]
struct Scratch {
    /// The generator's input rows (noise, then condition).
    input: Vec<f32>,
    /// Per row, the growing residual concatenation of [`Mlp`].
    layers: Vec<f32>,
    logits: Vec<f32>,
}

/// The generator without attention and dropout, for sampling on the CPU: matrix products
/// written straight into one buffer per pass, holding per row the growing residual
/// concatenation `[h_k, ..., h_1, input]`, and the rest in plain loops.
struct Mlp {
    input_dim: usize,
    blocks: Vec<Block>,
    out: Dense,
}

/// A linear layer: the transposed weight (inputs x outputs, row-major) and the bias.
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// Linear layer, layer normalisation and leaky ReLU.
struct Block {
    dense: Dense,
    gain: Vec<f32>,
    shift: Vec<f32>,
}

impl Dense {
    fn outputs(&self) -> usize {
        self.bias.len()
    }

    fn weight(&self) -> ArrayView2<'_, f32> {
        let outputs = self.outputs();
        ArrayView2::from_shape((self.weight.len() / outputs, outputs), &self.weight)
            .expect("weight shape")
    }
}

impl Mlp {
    fn new(spec: &GeneratorSpec, tensors: &HashMap<String, Tensor>) -> Result<Self> {
        let names = spec.parameters();
        let get = |position: usize| -> Result<Tensor> {
            let name = &names[position].0;
            tensors
                .get(name)
                .map(Tensor::detach)
                .ok_or_else(|| Error::ModelFormat(format!("weight {name} is missing")))
        };
        // A weight, with its bias next.
        let dense = |position: usize| -> Result<Dense> {
            Ok(Dense {
                weight: get(position)?.t()?.flatten_all()?.to_vec1()?,
                bias: get(position + 1)?.to_vec1()?,
            })
        };
        let blocks = (0..spec.hidden.len())
            .map(|i| {
                let k = GeneratorSpec::block_weight(i);
                Ok(Block {
                    dense: dense(k)?,
                    gain: get(k + 2)?.to_vec1()?,
                    shift: get(k + 3)?.to_vec1()?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Mlp {
            input_dim: spec.noise_dim + spec.cond_dim,
            blocks,
            out: dense(GeneratorSpec::out_weight(spec.hidden.len()))?,
        })
    }

    /// The logits of the `rows` rows of `scratch.input`, in `scratch`.
    fn logits<'s>(&self, rows: usize, scratch: &'s mut Scratch) -> &'s [f32] {
        let Scratch {
            input,
            layers,
            logits,
        } = scratch;
        let hidden: usize = self.blocks.iter().map(Block::outputs).sum();
        let width = hidden + self.input_dim;
        // Every value is written before it is read, so the buffers are only resized.
        layers.resize(layers.len().max(rows * width), 0.0);
        let layers = &mut layers[..rows * width];
        for (row, input) in layers
            .chunks_exact_mut(width)
            .zip(input.chunks_exact(self.input_dim))
        {
            row[hidden..].copy_from_slice(input);
        }
        let mut start = hidden;
        for block in &self.blocks {
            let end = start;
            start -= block.outputs();
            let mut x = ArrayViewMut2::from_shape((rows, width), &mut *layers).expect("shape");
            let (mut before, after) = x.view_mut().split_at(Axis(1), end);
            let mut y = before.slice_mut(s![.., start..]);
            gemm_into(&after, &block.dense.weight(), &mut y, false);
            for row in layers.chunks_exact_mut(width) {
                block.activate(&mut row[start..end]);
            }
        }
        let outputs = self.out.outputs();
        logits.resize(logits.len().max(rows * outputs), 0.0);
        let logits = &mut logits[..rows * outputs];
        let x = ArrayView2::from_shape((rows, width), &*layers).expect("shape");
        let mut y = ArrayViewMut2::from_shape((rows, outputs), &mut *logits).expect("shape");
        gemm_into(&x, &self.out.weight(), &mut y, false);
        for row in logits.chunks_exact_mut(outputs) {
            row.iter_mut()
                .zip(&self.out.bias)
                .for_each(|(v, b)| *v += b);
        }
        logits
    }
}

impl Block {
    fn outputs(&self) -> usize {
        self.gain.len()
    }

    /// `h <- leaky_relu(layer_norm(h + bias))` for one row of linear outputs `h`.
    fn activate(&self, h: &mut [f32]) {
        let width = h.len() as f32;
        let mean = add_and_sum(h, &self.dense.bias) / width;
        let var = sum_by(h, |v| (v - mean) * (v - mean)) / width;
        let scale = 1.0 / (var + NORM_EPS).sqrt();
        for ((h, g), s) in h.iter_mut().zip(&self.gain).zip(&self.shift) {
            let v = (*h - mean) * scale * g + s;
            *h = if v >= 0.0 { v } else { v * LEAKY_SLOPE };
        }
    }
}

/// Joins the parts column by column, in parallel.
fn concat(parts: Vec<Table>) -> Result<Table> {
    let n = parts.iter().map(Table::n_rows).sum();
    let mut parts = parts.into_iter();
    let first = parts.next().expect("at least one part").into_columns();
    let mut columns: Vec<(Column, Vec<Values>)> =
        first.into_iter().map(|c| (c, Vec::new())).collect();
    for part in parts {
        for ((_, rest), col) in columns.iter_mut().zip(part.into_columns()) {
            rest.push(col.values);
        }
    }
    let columns = columns
        .into_par_iter()
        .map(|(mut col, rest)| {
            let more = n - col.len();
            reserve(&mut col.values, more);
            for values in rest {
                append(&mut col, values);
            }
            col
        })
        .collect();
    Table::new(columns, n)
}

fn reserve(values: &mut Values, more: usize) {
    match values {
        Values::Real(a) => a.reserve(more),
        Values::Integer(a) => a.reserve(more),
        Values::Logical(a) => a.reserve(more),
        Values::Code(a) => a.reserve(more),
    }
}

fn append(acc: &mut Column, values: Values) {
    match (&mut acc.values, values) {
        (Values::Real(a), Values::Real(b)) => a.extend(b),
        (Values::Integer(a), Values::Integer(b)) => a.extend(b),
        (Values::Logical(a), Values::Logical(b)) => a.extend(b),
        (Values::Code(a), Values::Code(b)) => a.extend(b),
        _ => unreachable!("parts decoded by one encoder share column storage"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::encoding::Group;
    use crate::rng::RandomSource;
    use crate::train::Trainer;

    /// A numeric column with missing values, a factor and a logical.
    fn table(n: usize) -> Table {
        let mut rng = SeededRng::new(1);
        let x = rng
            .normal_vec(n)
            .into_iter()
            .enumerate()
            .map(|(i, v)| if i % 7 == 0 { f64::NAN } else { f64::from(v) })
            .collect();
        let kind = Kind::Factor {
            levels: vec!["a".into(), "b".into(), "c".into()],
            ordered: false,
        };
        let f = (0..n).map(|_| Some(rng.below(3) as u32)).collect();
        let b = (0..n).map(|i| Some(i % 3 == 0)).collect();
        let columns = vec![
            Column::new("x", Kind::Double, Values::Real(x)).unwrap(),
            Column::new("f", kind, Values::Code(f)).unwrap(),
            Column::new("b", Kind::Logical, Values::Logical(b)).unwrap(),
        ];
        Table::new(columns, n).unwrap()
    }

    fn model(config: TrainConfig) -> Model {
        let config = TrainConfig {
            batch_size: 50,
            noise_dim: 8,
            generator: vec![16, 12],
            critic: vec![16],
            pac: 5,
            ..config
        };
        let mut trainer =
            Trainer::new(&table(200), config, RandomSource::Seed(3), 1, Device::Cpu).unwrap();
        trainer.train(2).unwrap();
        trainer.model().unwrap()
    }

    fn sample(model: &Model, n: usize, fixed: Option<&Fixed>, seed: u64, threads: usize) -> String {
        let t = synthesize(model, n, fixed, seed, threads, &Device::Cpu).unwrap();
        assert_eq!(t.n_rows(), n);
        format!("{t:?}")
    }

    /// Several chunks, the last one partial.
    const ROWS: usize = 2 * CHUNK_ROWS + 37;

    #[test]
    fn same_seed_same_rows_with_any_number_of_threads() {
        let m = model(TrainConfig::default());
        let one = sample(&m, ROWS, None, 5, 1);
        assert_eq!(one, sample(&m, ROWS, None, 5, 2));
        assert_eq!(one, sample(&m, ROWS, None, 5, 3));
        assert_ne!(one, sample(&m, ROWS, None, 6, 2));
        assert_eq!(sample(&m, 0, None, 5, 2), sample(&m, 0, None, 5, 1));
    }

    #[test]
    fn attention_models_are_sampled_the_same_with_any_number_of_threads() {
        let m = model(TrainConfig {
            attention_tokens: 2,
            attention_heads: 2,
            ..TrainConfig::default()
        });
        assert_eq!(sample(&m, ROWS, None, 5, 1), sample(&m, ROWS, None, 5, 2));
    }

    /// Batched chunks (as on a GPU) give the rows of separate ones.
    #[test]
    fn rows_drawn_in_pieces_are_the_rows_drawn_at_once() {
        let m = model(TrainConfig::default());
        let n = 3 * CHUNK_ROWS + 100;
        let all = synthesize(&m, n, None, 9, 2, &Device::Cpu).unwrap();
        let pieces = [0..2 * CHUNK_ROWS, 2 * CHUNK_ROWS..n]
            .into_iter()
            .map(|rows| synthesize_rows(&m, n, rows, None, 9, 2, &Device::Cpu).unwrap())
            .collect::<Vec<_>>();
        assert_eq!(format!("{:?}", concat(pieces).unwrap()), format!("{all:?}"));
        assert!(synthesize_rows(&m, n, 100..200, None, 9, 1, &Device::Cpu).is_err());
    }

    #[test]
    fn batched_chunks_match_separate_ones() {
        let m = model(TrainConfig {
            attention_tokens: 2,
            attention_heads: 2,
            condition_on: vec!["b".into()],
            ..TrainConfig::default()
        });
        let sampler = Sampler::new(&m, &Device::Cpu, false).unwrap();
        let fixed: Fixed = (0..ROWS).map(|i| vec![(i % 3 == 0).then_some(1)]).collect();
        let seeds = [4, 5, 6];
        for f in [None, Some(&fixed)] {
            let scratch = &mut Scratch::default();
            let batched = sampler.chunks(0, &seeds, ROWS, f, scratch).unwrap();
            for (c, part) in batched.iter().enumerate() {
                let alone = sampler.chunks(c, &seeds[c..=c], ROWS, f, scratch).unwrap();
                assert_eq!(format!("{part:?}"), format!("{:?}", alone[0]));
            }
            assert_eq!(batched[2].n_rows(), ROWS - 2 * CHUNK_ROWS);
        }
    }

    #[test]
    fn fixed_conditions_are_kept_and_do_not_depend_on_threads() {
        let m = model(TrainConfig {
            condition_on: vec!["f".into()],
            ..TrainConfig::default()
        });
        let fixed: Fixed = (0..ROWS).map(|i| vec![(i % 2 == 0).then_some(2)]).collect();
        let t = synthesize(&m, ROWS, Some(&fixed), 5, 2, &Device::Cpu).unwrap();
        let Values::Code(f) = &t.columns()[1].values else {
            panic!("factor expected")
        };
        assert!(f.iter().step_by(2).all(|&c| c == Some(2)));
        assert_eq!(format!("{t:?}"), sample(&m, ROWS, Some(&fixed), 5, 1),);
        assert_eq!(sample(&m, ROWS, None, 5, 1), sample(&m, ROWS, None, 5, 2));
    }

    /// The CPU forward pass computes the generator's logits.
    #[test]
    fn mlp_matches_the_generator() {
        let p = Params::new(&Device::Cpu);
        let spec = GeneratorSpec {
            noise_dim: 5,
            cond_dim: 3,
            hidden: vec![20, 7],
            dropout: 0.0,
            attention_tokens: 0,
            attention_heads: 1,
            n_scalars: 2,
            groups: vec![Group { start: 2, width: 3 }, Group { start: 5, width: 2 }],
            tau: 0.2,
        };
        let mut rng = SeededRng::new(4);
        let generator = Generator::new(&spec, &p, &mut rng).unwrap();
        let mlp = Mlp::new(&spec, &p.tensors()).unwrap();
        let rows = 33;
        let input = rng.normal_vec(rows * 8);
        let x = Tensor::from_slice(&input, (rows, 8), &Device::Cpu).unwrap();
        let gumbel = Tensor::zeros((rows, 5), DType::F32, &Device::Cpu).unwrap();
        let want: Vec<f32> = generator
            .forward(&x, None, &gumbel)
            .unwrap()
            .logits
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let mut scratch = Scratch {
            input,
            ..Scratch::default()
        };
        let got = mlp.logits(rows, &mut scratch).to_vec();
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn draws_follow_the_weights() {
        let logits = [0.5f32, -1.0, 2.0, 0.0];
        let max = 2.0;
        let weights: Vec<f32> = logits.iter().map(|&l| exp_nonpositive(l - max)).collect();
        let total: f32 = logits.iter().map(|&l| l.exp()).sum();
        let mut rng = SeededRng::new(2);
        let mut counts = [0usize; 4];
        let n = 200_000;
        for _ in 0..n {
            counts[draw(&weights, rng.uniform())] += 1;
        }
        for (c, l) in counts.iter().zip(logits) {
            let p = l.exp() / total;
            assert!((*c as f32 / n as f32 - p).abs() < 0.005, "{c} for {p}");
        }
        assert_eq!(draw(&[0.0, 1.0, 0.0], 0.0), 1);
        assert_eq!(draw(&[0.0, 1.0, 0.0], 1.0 - f64::EPSILON), 1);
    }

    #[test]
    fn fast_exp_is_accurate() {
        for i in 0..=100_000 {
            let x = -100.0 * i as f32 / 100_000.0;
            let (got, want) = (exp_nonpositive(x), x.exp());
            if x >= -87.0 {
                assert!(
                    (got - want).abs() <= 2e-7 * want,
                    "exp({x}): {got} vs {want}"
                );
            } else {
                assert!(got < 2e-38);
            }
        }
    }
}
