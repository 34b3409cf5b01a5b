//! Training steps on the CPU with hand-derived gradients: explicit forward and backward
//! passes of the generator and the critic over buffers allocated once, and a fused AdamW
//! update, including DP-SGD's per-row clipping. The [`Explicit`] engine computes what the
//! autograd engine ([`crate::autograd`]) computes, for every CPU fit without attention,
//! without candle's fresh tensor per element-wise operation. Each step's packs are cut into shards ([`crate::engine::shard_count`]) that run
//! on the thread pool and whose gradients are summed in a fixed order, so results do
//! not depend on the number of threads.

use std::collections::HashMap;

use candle_core::Tensor;
use candle_nn::ParamsAdamW;
use ndarray::{Array2, ArrayBase, ArrayView1, ArrayView2, ArrayViewMut2, Data, DataMut, Ix2};
use rayon::prelude::*;

use crate::engine::{
    shard_count, shard_packs, Beside, Clipping, Context, Engine, PrivateDraws, UpdateDraws,
};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::network::{CriticSpec, GeneratorSpec, Params, LEAKY_SLOPE};

mod critic;
mod generator;
mod private;
pub mod products;

use critic::CriticPass;
use generator::{GeneratorPass, GeneratorShape};

const SLOPE: f32 = LEAKY_SLOPE as f32;

/// Parameters per parallel task in AdamW updates, at least.
const CHUNK: usize = 1 << 13;
/// Parameters whose shard gradients AdamW sums on the stack at a time.
const BLOCK: usize = 256;
/// Rows of a transposed weight written per parallel task.
const TRANSPOSE_ROWS: usize = 16;

/// One parameter's place in a network's flat buffer.
#[derive(Debug, Clone)]
struct Slot {
    name: String,
    dims: Vec<usize>,
    offset: usize,
    len: usize,
}

/// All parameters of one network in one buffer, with AdamW's moments.
#[derive(Clone)]
pub(crate) struct Net {
    slots: Vec<Slot>,
    values: Vec<f32>,
    first_moment: Vec<f32>,
    second_moment: Vec<f32>,
    step: i32,
    /// Every weight matrix transposed, (in, out) row-major, at the matrix's offset;
    /// empty unless the net keeps them. Products over a few rows are two to three times
    /// faster with the weight in this layout. Refreshed after every update.
    transposed: Vec<f32>,
}

impl Net {
    /// A net of the named parameters; with `keep_transposed`, it also keeps the
    /// weights transposed ([`Net::transposed`]).
    pub(crate) fn new(
        names: Vec<(String, Vec<usize>)>,
        params: &Params,
        keep_transposed: bool,
    ) -> Result<Self> {
        let tensors = params.tensors();
        let mut slots = Vec::with_capacity(names.len());
        let mut values = Vec::new();
        for (name, dims) in names {
            let len = dims.iter().product();
            let t = &tensors[&name];
            debug_assert_eq!(t.dims(), &dims[..]);
            values.extend(t.flatten_all()?.to_vec1::<f32>()?);
            slots.push(Slot {
                name,
                dims,
                offset: values.len() - len,
                len,
            });
        }
        let n = values.len();
        let mut net = Net {
            slots,
            values,
            first_moment: vec![0.0; n],
            second_moment: vec![0.0; n],
            step: 0,
            transposed: if keep_transposed {
                vec![0.0; n]
            } else {
                Vec::new()
            },
        };
        net.refresh_transposed(false);
        Ok(net)
    }

    /// Writes the transposes of the weight matrices, if the net keeps them, in blocks
    /// of [`TRANSPOSE_ROWS`] rows of each transpose; in parallel if asked, which must
    /// be on one of this crate's pools (a net is built outside them, and rayon's
    /// global pool would deadlock in a forked R worker).
    fn refresh_transposed(&mut self, parallel: bool) {
        if self.transposed.is_empty() {
            return;
        }
        let mut buffer = std::mem::take(&mut self.transposed);
        let blocks: Vec<(&Slot, usize, &mut [f32])> = split_mut(self, &mut buffer)
            .into_iter()
            .zip(&self.slots)
            .filter(|(_, slot)| slot.dims.len() == 2)
            .flat_map(|(dst, slot)| {
                dst.chunks_mut(TRANSPOSE_ROWS * slot.dims[0])
                    .enumerate()
                    .map(move |(b, block)| (slot, b * TRANSPOSE_ROWS, block))
            })
            .collect();
        let write = |(slot, first, block): (&Slot, usize, &mut [f32])| {
            let (rows, cols) = (slot.dims[0], slot.dims[1]);
            let width = block.len() / rows;
            let src = &self.values[slot.offset..slot.offset + slot.len];
            for (r, row) in src.chunks_exact(cols).enumerate() {
                for (k, &x) in row[first..first + width].iter().enumerate() {
                    block[k * rows + r] = x;
                }
            }
        };
        if parallel {
            blocks.into_par_iter().for_each(write);
        } else {
            blocks.into_iter().for_each(write);
        }
        self.transposed = buffer;
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn matrix(&self, i: usize) -> ArrayView2<'_, f32> {
        let dims = &self.slots[i].dims;
        self.view(&self.values, i, (dims[0], dims[1]))
    }

    /// Weight matrix `i` transposed, (in, out); the net must keep transposes.
    pub(crate) fn transposed(&self, i: usize) -> ArrayView2<'_, f32> {
        let dims = &self.slots[i].dims;
        self.view(&self.transposed, i, (dims[1], dims[0]))
    }

    /// Slot `i` of `buffer`, laid out like the values, as a matrix of shape `shape`.
    fn view<'a>(&self, buffer: &'a [f32], i: usize, shape: (usize, usize)) -> ArrayView2<'a, f32> {
        let s = &self.slots[i];
        ArrayView2::from_shape(shape, &buffer[s.offset..s.offset + s.len]).expect("weight shape")
    }

    pub(crate) fn vector(&self, i: usize) -> ArrayView1<'_, f32> {
        ArrayView1::from(self.slice(i))
    }

    fn slice(&self, i: usize) -> &[f32] {
        let s = &self.slots[i];
        &self.values[s.offset..s.offset + s.len]
    }

    /// candle-nn's AdamW update on the sum of `grads` (added in the order given) plus,
    /// where given, `noise` values times their scale: summed and applied in one
    /// parallel pass.
    pub(crate) fn adam_step(
        &mut self,
        grads: &[&[f32]],
        noise: Option<(&[f32], f32)>,
        adam: &ParamsAdamW,
    ) {
        self.step += 1;
        let (b1, b2) = (adam.beta1 as f32, adam.beta2 as f32);
        let scale_m = (1.0 / (1.0 - adam.beta1.powi(self.step))) as f32;
        let scale_v = (1.0 / (1.0 - adam.beta2.powi(self.step))) as f32;
        let decay = (1.0 - adam.lr * adam.weight_decay) as f32;
        let (lr, eps) = (adam.lr as f32, adam.eps as f32);
        self.values
            .par_chunks_mut(BLOCK)
            .zip(self.first_moment.par_chunks_mut(BLOCK))
            .zip(self.second_moment.par_chunks_mut(BLOCK))
            .with_min_len(CHUNK / BLOCK)
            .enumerate()
            .for_each(|(b, ((theta, m), v))| {
                let at = b * BLOCK..b * BLOCK + theta.len();
                let mut sum = [0.0f32; BLOCK];
                let g = &mut sum[..theta.len()];
                g.copy_from_slice(&grads[0][at.clone()]);
                for grad in &grads[1..] {
                    for (g, x) in g.iter_mut().zip(&grad[at.clone()]) {
                        *g += x;
                    }
                }
                if let Some((values, scale)) = noise {
                    for (g, z) in g.iter_mut().zip(&values[at]) {
                        *g += scale * z;
                    }
                }
                for (((theta, m), v), &g) in theta.iter_mut().zip(m).zip(v).zip(&*g) {
                    *m = *m * b1 + g * (1.0 - b1);
                    *v = *v * b2 + g * g * (1.0 - b2);
                    let step = (*m * scale_m) / ((*v * scale_v).sqrt() + eps);
                    *theta = *theta * decay - step * lr;
                }
            });
        self.refresh_transposed(true);
    }

    /// The values as CPU tensors, by name.
    pub(crate) fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        self.slots
            .iter()
            .map(|s| {
                let t = Tensor::from_slice(
                    &self.values[s.offset..s.offset + s.len],
                    s.dims.as_slice(),
                    &candle_core::Device::Cpu,
                )?;
                Ok((s.name.clone(), t))
            })
            .collect()
    }

    /// Writes the values into candle parameters of the same names.
    fn store(&self, params: &Params) -> Result<()> {
        params.restore(&self.tensors()?)
    }

    pub(crate) fn values(&self) -> &[f32] {
        &self.values
    }

    /// Replaces the values (laid out as [`Net::values`] gives them); the moments stay.
    pub(crate) fn set_values(&mut self, values: &[f32]) {
        self.values.copy_from_slice(values);
        self.refresh_transposed(false);
    }
}

/// Mutable views of a flat gradient buffer laid out like `net`.
pub(crate) fn split_mut<'a>(net: &Net, mut buf: &'a mut [f32]) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(net.slots.len());
    for s in &net.slots {
        let (head, tail) = buf.split_at_mut(s.len);
        out.push(head);
        buf = tail;
    }
    out
}

pub(crate) fn matrix_mut<'a>(
    buf: &'a mut [f32],
    rows: usize,
    cols: usize,
) -> ArrayViewMut2<'a, f32> {
    ArrayViewMut2::from_shape((rows, cols), buf).expect("gradient shape")
}

/// `c = a b`, or `c += a b` when `accumulate`, on one thread by the gemm crate (the
/// kernels behind candle's CPU matmul); any strides.
fn matmul<A: Data<Elem = f32>, B: Data<Elem = f32>, C: DataMut<Elem = f32>>(
    a: &ArrayBase<A, Ix2>,
    b: &ArrayBase<B, Ix2>,
    c: &mut ArrayBase<C, Ix2>,
    accumulate: bool,
) {
    products::note(products::Product {
        m: a.nrows(),
        n: b.ncols(),
        k: a.ncols(),
        a_columns: a.strides()[1] != 1,
        b_columns: b.strides()[1] != 1,
        c_columns: c.strides()[1] != 1,
        accumulate,
    });
    gemm_into(a, b, c, accumulate);
}

/// [`matmul`] without recording the product.
pub(crate) fn gemm_into<A: Data<Elem = f32>, B: Data<Elem = f32>, C: DataMut<Elem = f32>>(
    a: &ArrayBase<A, Ix2>,
    b: &ArrayBase<B, Ix2>,
    c: &mut ArrayBase<C, Ix2>,
    accumulate: bool,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    assert!(b.nrows() == k && c.dim() == (m, n), "matmul shapes");
    let (a_s, b_s, c_s) = (a.strides(), b.strides(), c.strides().to_vec());
    // SAFETY: the three views are valid for their shapes and strides, and `c` is
    // borrowed mutably, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_s[1],
            c_s[0],
            accumulate,
            a.as_ptr(),
            a_s[1],
            a_s[0],
            b.as_ptr(),
            b_s[1],
            b_s[0],
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Adds column sums of `x` to `out`.
pub(crate) fn add_column_sums(out: &mut [f32], x: &ArrayView2<f32>) {
    for row in x.rows() {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// `y = x w_t + b` for a transposed weight `w_t` of shape (in, out).
fn linear(x: &ArrayView2<f32>, w_t: &ArrayView2<f32>, b: &ArrayView1<f32>, y: &mut Array2<f32>) {
    matmul(x, w_t, y, false);
    for mut row in y.rows_mut() {
        row += b;
    }
}

pub(crate) fn leaky(x: f32) -> f32 {
    if x >= 0.0 {
        x
    } else {
        SLOPE * x
    }
}

/// What every shard reads.
struct Shared<'a> {
    shape: &'a GeneratorShape,
    generator: &'a Net,
    critic: &'a Net,
    loss: Loss,
    penalty_weight: f32,
    pac: usize,
    /// Packs in the whole batch.
    packs: usize,
    critic_hidden: &'a [usize],
    condition_groups: &'a [(usize, usize)],
}

/// One shard's packs, its passes and its gradients.
struct Shard {
    packs: std::ops::Range<usize>,
    generator: GeneratorPass,
    /// The critic update's pass: the shard's real packs, then its generated packs, so
    /// that each layer is one matrix product over both.
    pair: CriticPass,
    /// The generator update's pass over the generated packs.
    fake: CriticPass,
    mixed: Option<CriticPass>,
    pair_scores: Vec<f32>,
    scores: Vec<f32>,
    generator_grad: Vec<f32>,
    critic_grad: Vec<f32>,
}

/// Rows `range` (in units of `width` values) of `v`.
fn rows_of<'a>(v: &'a [f32], range: &std::ops::Range<usize>, width: usize) -> &'a [f32] {
    &v[range.start * width..range.end * width]
}

fn mask_rows<'a>(
    masks: &'a [Vec<f32>],
    range: &std::ops::Range<usize>,
    widths: &[usize],
) -> Vec<&'a [f32]> {
    masks
        .iter()
        .zip(widths)
        .map(|(m, &w)| rows_of(m, range, w))
        .collect()
}

impl Shard {
    fn rows(&self, pac: usize) -> std::ops::Range<usize> {
        self.packs.start * pac..self.packs.end * pac
    }

    /// Generator pass, critic passes on real and generated rows (and the penalty);
    /// returns this shard's sums of real and generated scores and of the penalty.
    fn critic_update(
        &mut self,
        ctx: &Shared,
        draws: &UpdateDraws,
        data: &[f32],
    ) -> (f64, f64, f64) {
        let shape = ctx.shape;
        let rows = self.rows(ctx.pac);
        let hidden = &shape.hidden;
        let generator_masks = mask_rows(&draws.generator_masks, &rows, hidden);
        self.generator.forward(
            shape,
            ctx.generator,
            rows_of(&draws.noise, &rows, shape.noise_dim),
            rows_of(&draws.cond, &rows, shape.cond_dim),
            rows_of(&draws.gumbel, &rows, shape.out - shape.n_scalars),
            &generator_masks,
        );
        self.critic_grad.fill(0.0);
        let cond = rows_of(&draws.cond, &rows, shape.cond_dim);
        let width = shape.out;
        let indices = &draws.rows[rows.clone()];
        let out = self.generator.out.as_slice().expect("standard layout");
        let n = rows.len();
        let both_cond = [cond, cond].concat();
        self.pair.pack(
            2 * n,
            |r| {
                if r < n {
                    let i = indices[r] as usize;
                    &data[i * width..(i + 1) * width]
                } else {
                    &out[(r - n) * width..(r - n + 1) * width]
                }
            },
            &both_cond,
        );
        let critic_widths = ctx.critic_hidden;
        let real_masks = mask_rows(&draws.real_masks, &self.packs, critic_widths);
        let fake_masks = mask_rows(&draws.fake_masks, &self.packs, critic_widths);
        let pair_masks: Vec<Vec<f32>> = real_masks
            .iter()
            .zip(&fake_masks)
            .map(|(r, f)| [*r, *f].concat())
            .collect();
        let pair_masks: Vec<&[f32]> = pair_masks.iter().map(Vec::as_slice).collect();
        self.pair.forward(ctx.critic, &pair_masks);
        let packs = self.packs.len();
        let scores = self.pair.score.as_slice().expect("standard layout");
        let (real, fake) = scores.split_at(packs);
        let scale = 1.0 / ctx.packs as f32;
        let real_sum: f64 = real.iter().map(|&v| f64::from(v)).sum();
        let fake_sum: f64 = fake.iter().map(|&v| f64::from(v)).sum();
        let loss = ctx.loss;
        let real_loss: f64 = real.iter().map(|&d| loss.critic_real(d)).sum();
        let fake_loss: f64 = fake.iter().map(|&d| loss.critic_fake(d)).sum();
        let (d_real, d_fake) = self.pair_scores.split_at_mut(packs);
        for (g, &d) in d_real.iter_mut().zip(real) {
            *g = loss.d_critic_real(d) * scale;
        }
        for (g, &d) in d_fake.iter_mut().zip(fake) {
            *g = loss.d_critic_fake(d) * scale;
        }
        self.pair.backward(
            ctx.critic,
            &self.pair_scores,
            Some(&mut self.critic_grad),
            false,
        );
        let mut penalty = 0.0;
        if let (Some(mixed), Some((alpha, masks))) = (self.mixed.as_mut(), &draws.penalty) {
            let alpha = &alpha[self.packs.clone()];
            for (p, &a) in alpha.iter().enumerate() {
                let (r, f) = (self.pair.input.row(p), self.pair.input.row(packs + p));
                let mut m = mixed.input.row_mut(p);
                for j in 0..m.len() {
                    m[j] = a * r[j] + (1.0 - a) * f[j];
                }
            }
            mixed.forward(ctx.critic, &mask_rows(masks, &self.packs, critic_widths));
            penalty = mixed.penalty_backward(
                ctx.critic,
                ctx.penalty_weight * scale,
                &mut self.critic_grad,
            );
        }
        (real_loss + fake_loss, real_sum - fake_sum, penalty)
    }

    /// The generator update on the rows of the last critic update; returns this shard's
    /// loss (sums divided by the whole batch).
    fn generator_update(
        &mut self,
        ctx: &Shared,
        draws: &UpdateDraws,
        masks: &[Vec<f32>],
        batch: usize,
    ) -> f64 {
        let shape = ctx.shape;
        let scale = 1.0 / ctx.packs as f32;
        let rows = self.rows(ctx.pac);
        let out = self.generator.out.as_slice().expect("standard layout");
        let width = shape.out;
        self.fake.pack(
            rows.len(),
            |r| &out[r * width..(r + 1) * width],
            rows_of(&draws.cond, &rows, shape.cond_dim),
        );
        self.fake.forward(
            ctx.critic,
            &mask_rows(masks, &self.packs, ctx.critic_hidden),
        );
        for (g, &d) in self.scores.iter_mut().zip(self.fake.score.iter()) {
            *g = ctx.loss.d_generator(d) * scale;
        }
        let loss: f64 = self.fake.score.iter().map(|&d| ctx.loss.generator(d)).sum();
        self.fake.backward(ctx.critic, &self.scores, None, true);
        let stride = shape.out + shape.cond_dim;
        let grad_rows = self.fake.grad_input.as_slice().expect("standard layout");
        self.generator.set_output_gradient(shape, grad_rows, stride);
        let fixed: Vec<&[Option<usize>]> = draws.fixed.iter().map(|f| &f[rows.clone()]).collect();
        let condition = self
            .generator
            .add_condition_gradient(ctx.condition_groups, &fixed, batch);
        self.generator_grad.fill(0.0);
        let generator_masks = mask_rows(&draws.generator_masks, &rows, &shape.hidden);
        self.generator.backward(
            shape,
            ctx.generator,
            &mut self.generator_grad,
            &generator_masks,
        );
        loss * f64::from(scale) + condition
    }
}

/// The hand-derived training engine: both networks' parameters and optimiser states,
/// and per-shard buffers for a fixed batch.
#[derive(Clone)]
pub struct CpuStep {
    shape: GeneratorShape,
    generator: Net,
    critic: Net,
    adam: ParamsAdamW,
    loss: Loss,
    penalty_weight: f32,
    pac: usize,
    batch: usize,
    critic_hidden: Vec<usize>,
    condition_groups: Vec<(usize, usize)>,
}

/// Buffers of a [`CpuStep`]; rebuilt, never cloned.
pub struct Buffers(Vec<Shard>);

/// The explicit engine: a [`CpuStep`], its buffers, and the state to roll back to.
pub struct Explicit {
    step: Box<CpuStep>,
    buffers: Buffers,
    checkpoint: Option<Box<CpuStep>>,
}

impl Explicit {
    /// The engine for `cx`'s networks, on the CPU without attention.
    pub fn new(cx: &Context) -> Result<Self> {
        let condition_groups = cx
            .conditioner
            .as_ref()
            .map(|c| {
                c.spec
                    .columns
                    .iter()
                    .map(|col| {
                        let g = cx.encoder.groups[cx.encoder.columns[col.column]
                            .group
                            .expect("categorical column has a group")];
                        (g.start, g.width)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (step, buffers) = CpuStep::new(
            cx.generator.spec(),
            cx.critic.spec(),
            &cx.generator_params,
            &cx.critic_params,
            cx.config.adam(),
            cx.config.loss,
            cx.config.gradient_penalty,
            cx.batch,
            condition_groups,
        )?;
        Ok(Explicit {
            step: Box::new(step),
            buffers,
            checkpoint: None,
        })
    }
}

impl Engine for Explicit {
    fn critic_update(
        &mut self,
        cx: &Context,
        draws: &UpdateDraws,
        beside: Beside,
    ) -> Result<(f32, f32)> {
        let (step, buffers) = (&mut self.step, &mut self.buffers);
        with_cpu_values(&cx.data, |data| {
            step.critic_update(buffers, draws, data, beside)
        })
    }

    fn generator_update(
        &mut self,
        _cx: &Context,
        last: &UpdateDraws,
        masks: &[Vec<f32>],
        beside: Beside,
    ) -> Result<f32> {
        Ok(self
            .step
            .generator_update(&mut self.buffers, last, masks, beside))
    }

    fn private_critic_update(
        &mut self,
        cx: &Context,
        draws: &PrivateDraws,
        clipping: Clipping,
        beside: Beside,
    ) -> Result<()> {
        let (step, buffers) = (&mut self.step, &mut self.buffers);
        with_cpu_values(&cx.data, |data| {
            step.private_critic_update(buffers, draws, data, clipping, beside)
        })
    }

    fn private_generator_update(
        &mut self,
        _cx: &Context,
        last: &PrivateDraws,
        masks: &[Vec<f32>],
        beside: Beside,
    ) -> Result<f32> {
        Ok(self.step.private_generator_update(
            &mut self.buffers,
            masks,
            &last.generator_masks,
            beside,
        ))
    }

    fn checkpoint(&mut self, _cx: &Context) -> Result<()> {
        self.checkpoint = Some(self.step.clone());
        Ok(())
    }

    fn rollback(&mut self, _cx: &Context) -> Result<()> {
        if let Some(saved) = self.checkpoint.take() {
            self.step = saved;
        }
        Ok(())
    }

    /// The weights live in the engine's buffers until written here.
    fn store(&mut self, cx: &Context) -> Result<()> {
        self.step.store(&cx.generator_params, &cx.critic_params)
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

impl CpuStep {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        generator_spec: &GeneratorSpec,
        critic_spec: &CriticSpec,
        generator_params: &Params,
        critic_params: &Params,
        adam: ParamsAdamW,
        loss: Loss,
        penalty_weight: f64,
        batch: usize,
        condition_groups: Vec<(usize, usize)>,
    ) -> Result<(Self, Buffers)> {
        let shape = GeneratorShape::new(generator_spec);
        let generator = Net::new(generator_spec.parameters(), generator_params, false)?;
        // The critic's passes are over a shard's packs: few rows.
        let critic = Net::new(critic_spec.parameters(), critic_params, true)?;
        let pac = critic_spec.pac;
        let packs = batch / pac;
        let n = shard_count(packs);
        let shards = (0..n)
            .map(|k| {
                let range = shard_packs(packs, k, n);
                let size = range.len();
                Shard {
                    packs: range,
                    generator: GeneratorPass::new(&shape, size * pac),
                    pair: CriticPass::pair(critic_spec, size),
                    fake: CriticPass::new(critic_spec, size),
                    mixed: loss
                        .has_penalty()
                        .then(|| CriticPass::new(critic_spec, size)),
                    pair_scores: vec![0.0; 2 * size],
                    scores: vec![0.0; size],
                    generator_grad: vec![0.0; generator.len()],
                    critic_grad: vec![0.0; critic.len()],
                }
            })
            .collect();
        let step = CpuStep {
            shape,
            generator,
            critic,
            adam,
            loss,
            penalty_weight: penalty_weight as f32,
            pac,
            batch,
            critic_hidden: critic_spec.hidden.clone(),
            condition_groups,
        };
        Ok((step, Buffers(shards)))
    }

    fn shared(&self) -> Shared<'_> {
        Shared {
            shape: &self.shape,
            generator: &self.generator,
            critic: &self.critic,
            loss: self.loss,
            penalty_weight: self.penalty_weight,
            pac: self.pac,
            packs: self.batch / self.pac,
            critic_hidden: &self.critic_hidden,
            condition_groups: &self.condition_groups,
        }
    }

    /// One critic update on `data` (encoded rows, row-major), doing `beside` beside its
    /// AdamW step; returns the critic loss and the score gap.
    pub fn critic_update(
        &mut self,
        buffers: &mut Buffers,
        draws: &UpdateDraws,
        data: &[f32],
        beside: Beside,
    ) -> (f32, f32) {
        let ctx = self.shared();
        let parts: Vec<(f64, f64, f64)> = buffers
            .0
            .par_iter_mut()
            .map(|shard| shard.critic_update(&ctx, draws, data))
            .collect();
        let packs = ctx.packs as f64;
        let (mut loss, mut gap) = (0.0, 0.0);
        for (scores, shard_gap, penalty) in parts {
            loss += scores + f64::from(self.penalty_weight) * penalty;
            gap += shard_gap;
        }
        let grads = shard_grads(&buffers.0, |s| &s.critic_grad);
        let (critic, adam) = (&mut self.critic, &self.adam);
        rayon::join(|| critic.adam_step(&grads, None, adam), beside);
        ((loss / packs) as f32, (gap / packs) as f32)
    }

    /// The generator update after the last critic update, with critic dropout `masks`,
    /// doing `beside` beside its AdamW step; returns the generator loss.
    pub fn generator_update(
        &mut self,
        buffers: &mut Buffers,
        draws: &UpdateDraws,
        masks: &[Vec<f32>],
        beside: Beside,
    ) -> f32 {
        let ctx = self.shared();
        let batch = self.batch;
        let loss: f64 = buffers
            .0
            .par_iter_mut()
            .map(|shard| shard.generator_update(&ctx, draws, masks, batch))
            .collect::<Vec<_>>()
            .into_iter()
            .sum();
        let grads = shard_grads(&buffers.0, |s| &s.generator_grad);
        let (generator, adam) = (&mut self.generator, &self.adam);
        rayon::join(|| generator.adam_step(&grads, None, adam), beside);
        loss as f32
    }

    /// Writes the current weights into the candle parameters.
    pub fn store(&self, generator: &Params, critic: &Params) -> Result<()> {
        self.generator.store(generator)?;
        self.critic.store(critic)
    }
}

/// Every shard's gradient, in shard order.
fn shard_grads(shards: &[Shard], grad: impl Fn(&Shard) -> &[f32]) -> Vec<&[f32]> {
    shards.iter().map(grad).collect()
}
