//! Training steps on the CPU with hand-derived gradients: explicit forward and backward
//! passes of the generator and the critic over buffers allocated once, and a fused AdamW
//! update, including DP-SGD's per-row clipping. It computes what the autograd path in
//! `train` computes, for every CPU fit without attention, without candle's fresh tensor per
//! element-wise operation. Each step's packs are cut into [`SHARDS`] shards that run
//! on the thread pool and whose gradients are summed in a fixed order, so results do
//! not depend on the number of threads.

use std::collections::HashMap;

use candle_core::Tensor;
use ndarray::{s, Array2, ArrayBase, ArrayView1, ArrayView2, ArrayViewMut2, Data, DataMut, Ix2};
use rayon::prelude::*;

use crate::error::Result;
use crate::network::{CriticSpec, GeneratorSpec, Params, LEAKY_SLOPE, NORM_EPS};
use crate::train::Loss;

/// Shards per step (fewer when a batch has fewer packs).
pub const SHARDS: usize = 2;

const SLOPE: f32 = LEAKY_SLOPE as f32;

/// Parameters per parallel task in element-wise updates.
const CHUNK: usize = 1 << 15;

/// Adam settings, as candle-nn's `ParamsAdamW`.
#[derive(Debug, Clone, Copy)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

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
struct Net {
    slots: Vec<Slot>,
    values: Vec<f32>,
    first_moment: Vec<f32>,
    second_moment: Vec<f32>,
    step: i32,
}

impl Net {
    fn new(names: Vec<(String, Vec<usize>)>, params: &Params) -> Result<Self> {
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
        Ok(Net {
            slots,
            values,
            first_moment: vec![0.0; n],
            second_moment: vec![0.0; n],
            step: 0,
        })
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn matrix(&self, i: usize) -> ArrayView2<'_, f32> {
        let s = &self.slots[i];
        ArrayView2::from_shape(
            (s.dims[0], s.dims[1]),
            &self.values[s.offset..s.offset + s.len],
        )
        .expect("weight shape")
    }

    fn vector(&self, i: usize) -> ArrayView1<'_, f32> {
        ArrayView1::from(self.slice(i))
    }

    fn slice(&self, i: usize) -> &[f32] {
        let s = &self.slots[i];
        &self.values[s.offset..s.offset + s.len]
    }

    /// candle-nn's AdamW update, fused into one pass.
    fn adam_step(&mut self, grad: &[f32], adam: &Adam) {
        self.step += 1;
        let (b1, b2) = (adam.beta1 as f32, adam.beta2 as f32);
        let scale_m = (1.0 / (1.0 - adam.beta1.powi(self.step))) as f32;
        let scale_v = (1.0 / (1.0 - adam.beta2.powi(self.step))) as f32;
        let decay = (1.0 - adam.lr * adam.weight_decay) as f32;
        let (lr, eps) = (adam.lr as f32, adam.eps as f32);
        self.values
            .par_chunks_mut(CHUNK)
            .zip(self.first_moment.par_chunks_mut(CHUNK))
            .zip(self.second_moment.par_chunks_mut(CHUNK))
            .zip(grad.par_chunks(CHUNK))
            .for_each(|(((theta, m), v), g)| {
                for (((theta, m), v), &g) in theta.iter_mut().zip(m).zip(v).zip(g) {
                    *m = *m * b1 + g * (1.0 - b1);
                    *v = *v * b2 + g * g * (1.0 - b2);
                    let step = (*m * scale_m) / ((*v * scale_v).sqrt() + eps);
                    *theta = *theta * decay - step * lr;
                }
            });
    }

    /// Writes the values into candle parameters of the same names.
    fn store(&self, params: &Params) -> Result<()> {
        let tensors = self
            .slots
            .iter()
            .map(|s| {
                let t = Tensor::from_slice(
                    &self.values[s.offset..s.offset + s.len],
                    s.dims.as_slice(),
                    &candle_core::Device::Cpu,
                )?;
                Ok((s.name.clone(), t))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        params.restore(&tensors)
    }
}

/// Mutable views of a flat gradient buffer laid out like `net`.
fn split_mut<'a>(net: &Net, mut buf: &'a mut [f32]) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(net.slots.len());
    for s in &net.slots {
        let (head, tail) = buf.split_at_mut(s.len);
        out.push(head);
        buf = tail;
    }
    out
}

fn matrix_mut<'a>(buf: &'a mut [f32], rows: usize, cols: usize) -> ArrayViewMut2<'a, f32> {
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
fn add_column_sums(out: &mut [f32], x: &ArrayView2<f32>) {
    for row in x.rows() {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// `y = x w^T + b` for a weight `w` of shape (out, in).
fn linear(x: &ArrayView2<f32>, w: &ArrayView2<f32>, b: &ArrayView1<f32>, y: &mut Array2<f32>) {
    matmul(x, &w.t(), y, false);
    for mut row in y.rows_mut() {
        row += b;
    }
}

fn leaky(x: f32) -> f32 {
    if x >= 0.0 {
        x
    } else {
        SLOPE * x
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The generator's shapes: block `i` writes its output at columns `starts[i]..` of the
/// wide buffer `[h_{L-1}, ..., h_0, noise, condition]` and reads every column after it.
#[derive(Clone)]
struct GeneratorShape {
    hidden: Vec<usize>,
    starts: Vec<usize>,
    hidden_total: usize,
    wide: usize,
    noise_dim: usize,
    cond_dim: usize,
    out: usize,
    n_scalars: usize,
    groups: Vec<(usize, usize)>,
    tau: f32,
}

impl GeneratorShape {
    fn new(spec: &GeneratorSpec) -> Self {
        let hidden_total: usize = spec.hidden.iter().sum();
        let starts = (0..spec.hidden.len())
            .map(|i| spec.hidden[i + 1..].iter().sum())
            .collect();
        GeneratorShape {
            hidden: spec.hidden.clone(),
            starts,
            hidden_total,
            wide: hidden_total + spec.noise_dim + spec.cond_dim,
            noise_dim: spec.noise_dim,
            cond_dim: spec.cond_dim,
            out: spec.output_width(),
            n_scalars: spec.n_scalars,
            groups: spec.groups.iter().map(|g| (g.start, g.width)).collect(),
            tau: spec.tau as f32,
        }
    }

    fn parameter_names(&self) -> Vec<(String, Vec<usize>)> {
        let mut names = Vec::new();
        let mut width = self.noise_dim + self.cond_dim;
        for (i, &h) in self.hidden.iter().enumerate() {
            let p = format!("generator.block{i}");
            names.push((format!("{p}.linear.weight"), vec![h, width]));
            names.push((format!("{p}.linear.bias"), vec![h]));
            names.push((format!("{p}.norm.weight"), vec![h]));
            names.push((format!("{p}.norm.bias"), vec![h]));
            width += h;
        }
        names.push(("generator.out.weight".into(), vec![self.out, width]));
        names.push(("generator.out.bias".into(), vec![self.out]));
        names
    }
}

fn critic_parameter_names(spec: &CriticSpec) -> Vec<(String, Vec<usize>)> {
    let mut names = Vec::new();
    let mut width = spec.input_dim * spec.pac;
    for (i, &h) in spec.hidden.iter().enumerate() {
        names.push((format!("critic.layer{i}.weight"), vec![h, width]));
        names.push((format!("critic.layer{i}.bias"), vec![h]));
        width = h;
    }
    names.push(("critic.out.weight".into(), vec![1, width]));
    names.push(("critic.out.bias".into(), vec![1]));
    names
}

/// Buffers of one generator pass over a shard's rows.
struct GeneratorPass {
    /// `[h_{L-1}, ..., h_0, noise, condition]` per row.
    wide: Array2<f32>,
    pre: Vec<Array2<f32>>,
    normed: Vec<Array2<f32>>,
    inv_std: Vec<Vec<f32>>,
    logits: Array2<f32>,
    out: Array2<f32>,
    grad_wide: Array2<f32>,
    grad_logits: Array2<f32>,
    grad_pre: Array2<f32>,
}

impl GeneratorPass {
    fn new(shape: &GeneratorShape, rows: usize) -> Self {
        let widest = shape.hidden.iter().copied().max().unwrap_or(0);
        GeneratorPass {
            wide: Array2::zeros((rows, shape.wide)),
            pre: shape
                .hidden
                .iter()
                .map(|&h| Array2::zeros((rows, h)))
                .collect(),
            normed: shape
                .hidden
                .iter()
                .map(|&h| Array2::zeros((rows, h)))
                .collect(),
            inv_std: shape.hidden.iter().map(|_| vec![0.0; rows]).collect(),
            logits: Array2::zeros((rows, shape.out)),
            out: Array2::zeros((rows, shape.out)),
            grad_wide: Array2::zeros((rows, shape.hidden_total)),
            grad_logits: Array2::zeros((rows, shape.out)),
            grad_pre: Array2::zeros((rows, widest)),
        }
    }

    /// `noise`, `cond`, `gumbel` and `masks` hold this shard's rows only.
    fn forward(
        &mut self,
        shape: &GeneratorShape,
        net: &Net,
        noise: &[f32],
        cond: &[f32],
        gumbel: &[f32],
        masks: &[&[f32]],
    ) {
        let rows = self.wide.nrows();
        let first = shape.hidden_total;
        for r in 0..rows {
            let mut row = self.wide.row_mut(r);
            let row = row.as_slice_mut().expect("standard layout");
            row[first..first + shape.noise_dim]
                .copy_from_slice(&noise[r * shape.noise_dim..(r + 1) * shape.noise_dim]);
            row[first + shape.noise_dim..]
                .copy_from_slice(&cond[r * shape.cond_dim..(r + 1) * shape.cond_dim]);
        }
        for (i, &h) in shape.hidden.iter().enumerate() {
            let start = shape.starts[i];
            let input = self.wide.slice(s![.., start + h..]);
            let pre = &mut self.pre[i];
            linear(&input, &net.matrix(4 * i), &net.vector(4 * i + 1), pre);
            let (gain, shift) = (net.slice(4 * i + 2), net.slice(4 * i + 3));
            for r in 0..rows {
                let z = pre.row(r);
                let z = z.as_slice().expect("standard layout");
                let mean = z.iter().sum::<f32>() / h as f32;
                let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
                let inv = 1.0 / (var + NORM_EPS).sqrt();
                self.inv_std[i][r] = inv;
                let normed = self.normed[i]
                    .row_mut(r)
                    .into_slice()
                    .expect("standard layout");
                let out = &mut self.wide.row_mut(r).into_slice().expect("standard layout")
                    [start..start + h];
                for j in 0..h {
                    let n = (z[j] - mean) * inv;
                    normed[j] = n;
                    out[j] = leaky(n * gain[j] + shift[j]);
                }
                if let Some(m) = masks.get(i) {
                    for (o, m) in out.iter_mut().zip(&m[r * h..(r + 1) * h]) {
                        *o *= m;
                    }
                }
            }
        }
        let k = 4 * shape.hidden.len();
        linear(
            &self.wide.view(),
            &net.matrix(k),
            &net.vector(k + 1),
            &mut self.logits,
        );
        for r in 0..rows {
            let l = self.logits.row(r);
            let l = l.as_slice().expect("standard layout");
            let mut o = self.out.row_mut(r);
            let o = o.as_slice_mut().expect("standard layout");
            for j in 0..shape.n_scalars {
                o[j] = l[j].tanh();
            }
            let g = &gumbel[r * (shape.out - shape.n_scalars)..];
            for &(start, width) in &shape.groups {
                let noise = &g[start - shape.n_scalars..start - shape.n_scalars + width];
                let y = &mut o[start..start + width];
                for j in 0..width {
                    y[j] = (l[start + j] + noise[j]) / shape.tau;
                }
                softmax_in_place(y);
            }
        }
    }

    /// Backpropagates the gradient in `grad_logits` (see [`Self::set_output_gradient`])
    /// and adds the parameter gradient to `grad`.
    fn backward(&mut self, shape: &GeneratorShape, net: &Net, grad: &mut [f32], masks: &[&[f32]]) {
        let rows = self.wide.nrows();
        let mut grads = split_mut(net, grad);
        let k = 4 * shape.hidden.len();
        {
            let (w, b) = grads.split_at_mut(k + 1);
            let dw = &mut w[k];
            let mut dw = matrix_mut(dw, shape.out, shape.wide);
            matmul(&self.grad_logits.t(), &self.wide, &mut dw, true);
            add_column_sums(b[0], &self.grad_logits.view());
        }
        let w_out = net.matrix(k);
        matmul(
            &self.grad_logits,
            &w_out.slice(s![.., ..shape.hidden_total]),
            &mut self.grad_wide,
            false,
        );
        for i in (0..shape.hidden.len()).rev() {
            let (h, start) = (shape.hidden[i], shape.starts[i]);
            let (gain, shift) = (net.slice(4 * i + 2), net.slice(4 * i + 3));
            let mut grad_pre = self.grad_pre.slice_mut(s![.., ..h]);
            let (mut dgain, mut dshift) = (vec![0f32; h], vec![0f32; h]);
            for r in 0..rows {
                let normed = self.normed[i].row(r).to_slice().expect("standard layout");
                let up = self.grad_wide.row(r);
                let up = &up.to_slice().expect("standard layout")[start..start + h];
                let d = grad_pre.row_mut(r).into_slice().expect("standard layout");
                for j in 0..h {
                    let y = normed[j] * gain[j] + shift[j];
                    d[j] = up[j] * if y >= 0.0 { 1.0 } else { SLOPE };
                }
                if let Some(m) = masks.get(i) {
                    for (g, m) in d.iter_mut().zip(&m[r * h..(r + 1) * h]) {
                        *g *= m;
                    }
                }
                let (mut sum, mut dot) = (0f32, 0f32);
                for j in 0..h {
                    let g = d[j];
                    dgain[j] += g * normed[j];
                    dshift[j] += g;
                    let dn = g * gain[j];
                    d[j] = dn;
                    sum += dn;
                    dot += dn * normed[j];
                }
                let (mean, mean_dot) = (sum / h as f32, dot / h as f32);
                let inv = self.inv_std[i][r];
                for j in 0..h {
                    d[j] = inv * (d[j] - mean - normed[j] * mean_dot);
                }
            }
            for (g, v) in grads[4 * i + 2].iter_mut().zip(&dgain) {
                *g += v;
            }
            for (g, v) in grads[4 * i + 3].iter_mut().zip(&dshift) {
                *g += v;
            }
            let input = self.wide.slice(s![.., start + h..]);
            let width = input.ncols();
            let mut dw = matrix_mut(grads[4 * i], h, width);
            matmul(&grad_pre.t(), &input, &mut dw, true);
            add_column_sums(grads[4 * i + 1], &grad_pre.view());
            let hidden_inputs = shape.hidden_total - start - h;
            if hidden_inputs > 0 {
                let w = net.matrix(4 * i);
                let mut into = self.grad_wide.slice_mut(s![.., start + h..]);
                matmul(
                    &grad_pre,
                    &w.slice(s![.., ..hidden_inputs]),
                    &mut into,
                    true,
                );
            }
        }
    }

    /// Turns the gradient with respect to the activated rows (`grad_rows`, `rows` x
    /// `stride`, first `out` columns used) into one with respect to the logits.
    fn set_output_gradient(&mut self, shape: &GeneratorShape, grad_rows: &[f32], stride: usize) {
        let rows = self.out.nrows();
        for r in 0..rows {
            let up = &grad_rows[r * stride..r * stride + shape.out];
            let y = self.out.row(r);
            let y = y.as_slice().expect("standard layout");
            let mut d = self.grad_logits.row_mut(r);
            let d = d.as_slice_mut().expect("standard layout");
            for j in 0..shape.n_scalars {
                d[j] = up[j] * (1.0 - y[j] * y[j]);
            }
            for &(start, width) in &shape.groups {
                let (u, p) = (&up[start..start + width], &y[start..start + width]);
                let dot: f32 = u.iter().zip(p).map(|(a, b)| a * b).sum();
                for j in 0..width {
                    d[start + j] = p[j] * (u[j] - dot) / shape.tau;
                }
            }
        }
    }

    /// Adds the gradient of the conditioning cross-entropy (summed over rows, divided
    /// by `batch`) and returns that loss part.
    fn add_condition_gradient(
        &mut self,
        groups: &[(usize, usize)],
        fixed: &[&[Option<usize>]],
        batch: usize,
    ) -> f64 {
        let mut loss = 0f64;
        let mut p = Vec::new();
        for (&(start, width), slots) in groups.iter().zip(fixed) {
            for (r, slot) in slots.iter().enumerate() {
                let Some(slot) = *slot else { continue };
                p.clear();
                p.extend(self.logits.row(r).iter().skip(start).take(width));
                softmax_in_place(&mut p);
                loss -= f64::from(p[slot].max(f32::MIN_POSITIVE).ln());
                let mut d = self.grad_logits.row_mut(r);
                for j in 0..width {
                    let target = if j == slot { 1.0 } else { 0.0 };
                    d[start + j] += (p[j] - target) / batch as f32;
                }
            }
        }
        loss / batch as f64
    }
}

fn softmax_in_place(y: &mut [f32]) {
    let max = y.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut total = 0f32;
    for v in y.iter_mut() {
        *v = (*v - max).exp();
        total += *v;
    }
    for v in y.iter_mut() {
        *v /= total;
    }
}

/// Buffers of one critic pass over a shard's packs.
struct CriticPass {
    input: Array2<f32>,
    /// Activations after each hidden layer (dropout applied).
    act: Vec<Array2<f32>>,
    /// LeakyReLU slope times dropout mask per hidden unit: the layer's local derivative.
    slope: Vec<Array2<f32>>,
    score: Array2<f32>,
    grad: Vec<Array2<f32>>,
    grad_input: Array2<f32>,
}

impl CriticPass {
    fn new(spec: &CriticSpec, packs: usize) -> Self {
        Self::with_widths(&spec.hidden, packs, spec.input_dim * spec.pac)
    }

    fn with_widths(hidden: &[usize], packs: usize, width: usize) -> Self {
        let zeros =
            || -> Vec<Array2<f32>> { hidden.iter().map(|&h| Array2::zeros((packs, h))).collect() };
        CriticPass {
            input: Array2::zeros((packs, width)),
            act: zeros(),
            slope: zeros(),
            score: Array2::zeros((packs, 1)),
            grad: zeros(),
            grad_input: Array2::zeros((packs, width)),
        }
    }

    /// Fills the input with `rows` rows (`pac` per pack), each `row(r)` followed by
    /// its condition.
    fn pack<'r>(&mut self, rows: usize, row: impl Fn(usize) -> &'r [f32], cond: &[f32]) {
        let flat = self.input.as_slice_mut().expect("standard layout");
        let stride = flat.len() / rows;
        for (r, dst) in flat.chunks_exact_mut(stride).enumerate() {
            let values = row(r);
            dst[..values.len()].copy_from_slice(values);
            let cond_dim = stride - values.len();
            dst[values.len()..].copy_from_slice(&cond[r * cond_dim..(r + 1) * cond_dim]);
        }
    }

    fn forward(&mut self, net: &Net, masks: &[&[f32]]) {
        let layers = self.act.len();
        for l in 0..layers {
            let (before, after) = self.act.split_at_mut(l);
            let input = if l == 0 {
                self.input.view()
            } else {
                before[l - 1].view()
            };
            let a = &mut after[0];
            linear(&input, &net.matrix(2 * l), &net.vector(2 * l + 1), a);
            let mask = masks[l];
            let a = a.as_slice_mut().expect("standard layout");
            let slope = self.slope[l].as_slice_mut().expect("standard layout");
            for ((v, s), &m) in a.iter_mut().zip(slope).zip(mask) {
                let d = if *v >= 0.0 { 1.0 } else { SLOPE };
                *s = d * m;
                *v *= d * m;
            }
        }
        linear(
            &self.act[layers - 1].view(),
            &net.matrix(2 * layers),
            &net.vector(2 * layers + 1),
            &mut self.score,
        );
    }

    /// Backpropagates `sum(d_score * score)`: adds the parameter gradient to `grad` if
    /// given and, if asked, writes the gradient with respect to the input into
    /// `grad_input`.
    fn backward(&mut self, net: &Net, d_score: &[f32], grad: Option<&mut [f32]>, want_input: bool) {
        let layers = self.act.len();
        let mut grads = grad.map(|g| split_mut(net, g));
        let w_out = net.matrix(2 * layers);
        let packs = d_score.len();
        let d = ArrayView2::from_shape((packs, 1), d_score).expect("score shape");
        if let Some(grads) = grads.as_mut() {
            let mut dw = matrix_mut(grads[2 * layers], 1, w_out.ncols());
            matmul(&d.t(), &self.act[layers - 1], &mut dw, true);
            grads[2 * layers + 1][0] += d_score.iter().sum::<f32>();
        }
        matmul(&d, &w_out, &mut self.grad[layers - 1], false);
        for l in (0..layers).rev() {
            self.grad[l] *= &self.slope[l];
            if let Some(grads) = grads.as_mut() {
                let input = if l == 0 {
                    self.input.view()
                } else {
                    self.act[l - 1].view()
                };
                let (rows, cols) = (self.grad[l].ncols(), input.ncols());
                let mut dw = matrix_mut(grads[2 * l], rows, cols);
                matmul(&self.grad[l].t(), &input, &mut dw, true);
                add_column_sums(grads[2 * l + 1], &self.grad[l].view());
            }
            let w = net.matrix(2 * l);
            if l > 0 {
                let (before, after) = self.grad.split_at_mut(l);
                matmul(&after[0], &w, &mut before[l - 1], false);
            } else if want_input {
                matmul(&self.grad[0], &w, &mut self.grad_input, false);
            }
        }
    }

    /// After `forward`, adds the parameter gradient of `weight * sum over packs of
    /// (||g|| - 1)^2`, where g is the gradient of the score with respect to the input
    /// (the activation slopes held fixed, as they are almost everywhere), and returns
    /// that sum.
    fn penalty_backward(&mut self, net: &Net, weight: f32, grad: &mut [f32]) -> f64 {
        let layers = self.act.len();
        // The score's input gradient, by backpropagating 1 from every pack; `grad[l]`
        // keeps layer l's slope times the gradient reaching it.
        self.backward(net, &vec![1.0; self.score.nrows()], None, true);
        let mut grads = split_mut(net, grad);
        // Penalty and its gradient with respect to the input gradient, in place.
        let mut total = 0f64;
        for mut g in self.grad_input.rows_mut() {
            let norm = (g.iter().map(|v| v * v).sum::<f32>() + 1e-12).sqrt();
            total += f64::from((norm - 1.0) * (norm - 1.0));
            g *= weight * 2.0 * (norm - 1.0) / norm;
        }
        // Backward through the chain, layer 0 upwards; `act` is reused as scratch.
        for l in 0..layers {
            let (before, after) = self.act.split_at_mut(l);
            let upstream = if l == 0 {
                self.grad_input.view()
            } else {
                before[l - 1].view()
            };
            let (rows, cols) = (self.grad[l].ncols(), upstream.ncols());
            let mut dw = matrix_mut(grads[2 * l], rows, cols);
            matmul(&self.grad[l].t(), &upstream, &mut dw, true);
            let scratch = &mut after[0];
            matmul(&upstream, &net.matrix(2 * l).t(), scratch, false);
            *scratch *= &self.slope[l];
        }
        let last = &self.act[layers - 1];
        let dw = &mut grads[2 * layers];
        add_column_sums(dw, &last.view());
        total
    }
}

/// The random inputs of one critic update, drawn by the trainer in a fixed order (the
/// autograd path turns the same draws into tensors).
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
    condition_groups: &'a [(usize, usize)],
}

/// One shard's packs, its passes and its gradients.
struct Shard {
    packs: std::ops::Range<usize>,
    generator: GeneratorPass,
    real: CriticPass,
    fake: CriticPass,
    mixed: Option<CriticPass>,
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
        self.real.pack(
            rows.len(),
            |r| {
                let i = indices[r] as usize;
                &data[i * width..(i + 1) * width]
            },
            cond,
        );
        let out = self.generator.out.as_slice().expect("standard layout");
        self.fake
            .pack(rows.len(), |r| &out[r * width..(r + 1) * width], cond);
        let critic_widths = &self.real.act.iter().map(|a| a.ncols()).collect::<Vec<_>>();
        let real_masks = mask_rows(&draws.real_masks, &self.packs, critic_widths);
        let fake_masks = mask_rows(&draws.fake_masks, &self.packs, critic_widths);
        self.real.forward(ctx.critic, &real_masks);
        self.fake.forward(ctx.critic, &fake_masks);
        let scale = 1.0 / ctx.packs as f32;
        let real_sum: f64 = self.real.score.iter().map(|&v| f64::from(v)).sum();
        let fake_sum: f64 = self.fake.score.iter().map(|&v| f64::from(v)).sum();
        let (mut real_loss, mut fake_loss) = (-real_sum, fake_sum);
        match ctx.loss {
            Loss::WganGp => {
                self.scores.fill(-scale);
                self.real
                    .backward(ctx.critic, &self.scores, Some(&mut self.critic_grad), false);
                self.scores.fill(scale);
                self.fake
                    .backward(ctx.critic, &self.scores, Some(&mut self.critic_grad), false);
            }
            Loss::Gan => {
                real_loss = self
                    .real
                    .score
                    .iter()
                    .map(|&d| f64::from(softplus(-d)))
                    .sum();
                fake_loss = self
                    .fake
                    .score
                    .iter()
                    .map(|&d| f64::from(softplus(d)))
                    .sum();
                for (g, &d) in self.scores.iter_mut().zip(self.real.score.iter()) {
                    *g = -sigmoid(-d) * scale;
                }
                self.real
                    .backward(ctx.critic, &self.scores, Some(&mut self.critic_grad), false);
                for (g, &d) in self.scores.iter_mut().zip(self.fake.score.iter()) {
                    *g = sigmoid(d) * scale;
                }
                self.fake
                    .backward(ctx.critic, &self.scores, Some(&mut self.critic_grad), false);
            }
        }
        let mut penalty = 0.0;
        if let (Some(mixed), Some((alpha, masks))) = (self.mixed.as_mut(), &draws.penalty) {
            let alpha = &alpha[self.packs.clone()];
            for (p, &a) in alpha.iter().enumerate() {
                let (r, f) = (self.real.input.row(p), self.fake.input.row(p));
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
        let critic_widths = self.fake.act.iter().map(|a| a.ncols()).collect::<Vec<_>>();
        self.fake
            .forward(ctx.critic, &mask_rows(masks, &self.packs, &critic_widths));
        let loss: f64 = match ctx.loss {
            Loss::WganGp => {
                self.scores.fill(-scale);
                -self.fake.score.iter().map(|&d| f64::from(d)).sum::<f64>()
            }
            Loss::Gan => {
                for (g, &d) in self.scores.iter_mut().zip(self.fake.score.iter()) {
                    *g = -sigmoid(-d) * scale;
                }
                self.fake
                    .score
                    .iter()
                    .map(|&d| f64::from(softplus(-d)))
                    .sum()
            }
        };
        self.fake.backward(ctx.critic, &self.scores, None, true);
        let stride = shape.out + shape.cond_dim;
        let grad_rows = self.fake.grad_input.as_slice().expect("standard layout");
        self.generator.set_output_gradient(shape, grad_rows, stride);
        let rows = self.rows(ctx.pac);
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
    adam: Adam,
    loss: Loss,
    penalty_weight: f32,
    pac: usize,
    batch: usize,
    condition_groups: Vec<(usize, usize)>,
}

/// Buffers of a [`CpuStep`]; rebuilt, never cloned.
pub struct Buffers(Vec<Shard>);

impl CpuStep {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        generator_spec: &GeneratorSpec,
        critic_spec: &CriticSpec,
        generator_params: &Params,
        critic_params: &Params,
        adam: Adam,
        loss: Loss,
        penalty_weight: f64,
        batch: usize,
        condition_groups: Vec<(usize, usize)>,
    ) -> Result<(Self, Buffers)> {
        let shape = GeneratorShape::new(generator_spec);
        let generator = Net::new(shape.parameter_names(), generator_params)?;
        let critic = Net::new(critic_parameter_names(critic_spec), critic_params)?;
        let pac = critic_spec.pac;
        let packs = batch / pac;
        let n = SHARDS.min(packs);
        let shards = (0..n)
            .map(|k| {
                let range = packs * k / n..packs * (k + 1) / n;
                let size = range.len();
                Shard {
                    packs: range,
                    generator: GeneratorPass::new(&shape, size * pac),
                    real: CriticPass::new(critic_spec, size),
                    fake: CriticPass::new(critic_spec, size),
                    mixed: (loss == Loss::WganGp).then(|| CriticPass::new(critic_spec, size)),
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
            condition_groups: &self.condition_groups,
        }
    }

    /// One critic update on `data` (encoded rows, row-major); returns the critic loss
    /// and the score gap.
    pub fn critic_update(
        &mut self,
        buffers: &mut Buffers,
        draws: &UpdateDraws,
        data: &[f32],
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
        let grad = sum_shards(&mut buffers.0, |s| &mut s.critic_grad);
        self.critic.adam_step(grad, &self.adam);
        ((loss / packs) as f32, (gap / packs) as f32)
    }

    /// The generator update after the last critic update, with critic dropout `masks`;
    /// returns the generator loss.
    pub fn generator_update(
        &mut self,
        buffers: &mut Buffers,
        draws: &UpdateDraws,
        masks: &[Vec<f32>],
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
        let grad = sum_shards(&mut buffers.0, |s| &mut s.generator_grad);
        self.generator.adam_step(grad, &self.adam);
        loss as f32
    }

    /// Writes the current weights into the candle parameters.
    pub fn store(&self, generator: &Params, critic: &Params) -> Result<()> {
        self.generator.store(generator)?;
        self.critic.store(critic)
    }
}

/// Adds every shard's gradient into the first shard's, in shard order; returns it.
fn sum_shards(shards: &mut [Shard], grad: impl Fn(&mut Shard) -> &mut Vec<f32>) -> &[f32] {
    let (first, rest) = shards.split_at_mut(1);
    let total = grad(&mut first[0]);
    for shard in rest {
        total
            .par_chunks_mut(CHUNK)
            .zip(grad(shard).par_chunks(CHUNK))
            .for_each(|(t, g)| {
                for (t, g) in t.iter_mut().zip(g) {
                    *t += g;
                }
            });
    }
    total
}

/// The random inputs of one differentially private critic update, in the order the
/// autograd path draws them.
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

fn as_slices(masks: &[Vec<f32>]) -> Vec<&[f32]> {
    masks.iter().map(Vec::as_slice).collect()
}

/// DP-SGD settings of a private critic update.
#[derive(Debug, Clone, Copy)]
pub struct Clipping {
    pub max_norm: f32,
    pub noise_multiplier: f32,
}

impl CriticPass {
    /// After `forward`, backpropagates per-row losses with gradients `d_score` and adds
    /// the sum of the rows' parameter gradients, each first scaled to norm at most
    /// `max_norm`, times `scale`, to `grad`. Needs one row per pack.
    fn clipped_backward(
        &mut self,
        net: &Net,
        d_score: &mut [f32],
        max_norm: f32,
        scale: f32,
        grad: &mut [f32],
    ) {
        self.backward(net, d_score, None, false);
        let layers = self.act.len();
        let squares = |m: &Array2<f32>, r: usize| m.row(r).iter().map(|v| v * v).sum::<f32>();
        for (r, d) in d_score.iter_mut().enumerate() {
            let mut norm_sq = *d * *d * (squares(&self.act[layers - 1], r) + 1.0);
            for l in 0..layers {
                let input = if l == 0 {
                    &self.input
                } else {
                    &self.act[l - 1]
                };
                norm_sq += squares(&self.grad[l], r) * (squares(input, r) + 1.0);
            }
            let factor = (max_norm / (norm_sq.sqrt() + 1e-6)).min(1.0) * scale;
            *d *= factor;
            for l in 0..layers {
                self.grad[l].row_mut(r).map_inplace(|v| *v *= factor);
            }
        }
        let mut grads = split_mut(net, grad);
        let packs = d_score.len();
        let d = ArrayView2::from_shape((packs, 1), &*d_score).expect("score shape");
        let mut dw = matrix_mut(grads[2 * layers], 1, self.act[layers - 1].ncols());
        matmul(&d.t(), &self.act[layers - 1], &mut dw, true);
        grads[2 * layers + 1][0] += d_score.iter().sum::<f32>();
        for l in 0..layers {
            let input = if l == 0 {
                self.input.view()
            } else {
                self.act[l - 1].view()
            };
            let (rows, cols) = (self.grad[l].ncols(), input.ncols());
            let mut dw = matrix_mut(grads[2 * l], rows, cols);
            matmul(&self.grad[l].t(), &input, &mut dw, true);
            add_column_sums(grads[2 * l + 1], &self.grad[l].view());
        }
    }
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
    /// sample of real rows clipped and noised; all divided by the batch size.
    pub fn private_critic_update(
        &mut self,
        buffers: &mut Buffers,
        draws: &PrivateDraws,
        data: &[f32],
        clipping: Clipping,
    ) {
        let b = self.batch;
        let scale = 1.0 / b as f32;
        let hidden = self.critic_hidden();
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
            let mut fake_pass = CriticPass::with_widths(&hidden, rows.len(), width);
            let mine = rows_of(fake_rows, &rows, width);
            fake_pass.pack(rows.len(), |r| &mine[r * width..(r + 1) * width], &[]);
            fake_pass.forward(critic, &mask_rows(&draws.fake_masks, &rows, &hidden));
            let mut d: Vec<f32> = match loss {
                Loss::WganGp => vec![1.0; rows.len()],
                Loss::Gan => fake_pass.score.iter().map(|&s| sigmoid(s)).collect(),
            };
            fake_pass.clipped_backward(critic, &mut d, clipping.max_norm, scale, grad);
            if let Some(penalty) = &draws.penalty {
                let mut mixed = CriticPass::with_widths(&hidden, rows.len(), width);
                for (r, i) in rows.clone().enumerate() {
                    let (a, p) = (penalty.alpha[i], penalty.partner[i] as usize);
                    let (x, y) = (fake.row(i), fake.row(p));
                    let mut m = mixed.input.row_mut(r);
                    for j in 0..width {
                        m[j] = x[j] * a + y[j] * (1.0 - a);
                    }
                }
                mixed.forward(critic, &mask_rows(&penalty.masks, &rows, &hidden));
                mixed.penalty_backward(critic, penalty_weight * scale, grad);
            }
            // This shard's part of the Poisson sample of real rows: clipped.
            let real_rows = n * k / shards..n * (k + 1) / shards;
            if !real_rows.is_empty() {
                let count = real_rows.len();
                let mut real = CriticPass::with_widths(&hidden, count, width);
                let row = |r: usize| {
                    let i = draws.rows[real_rows.start + r] as usize;
                    &data[i * width..(i + 1) * width]
                };
                real.pack(count, row, &[]);
                real.forward(critic, &mask_rows(&draws.real_masks, &real_rows, &hidden));
                let mut d: Vec<f32> = match loss {
                    Loss::WganGp => vec![-1.0; count],
                    Loss::Gan => real.score.iter().map(|&s| -sigmoid(-s)).collect(),
                };
                real.clipped_backward(critic, &mut d, clipping.max_norm, scale, grad);
            }
        });
        let grad = sum_shards(&mut buffers.0, |s| &mut s.critic_grad);
        let std = clipping.noise_multiplier * clipping.max_norm * scale;
        let noised: Vec<f32> = grad
            .iter()
            .zip(&draws.gaussian)
            .map(|(g, z)| g + std * z)
            .collect();
        let grad = if draws.gaussian.is_empty() {
            grad
        } else {
            &noised
        };
        self.critic.adam_step(grad, &self.adam);
    }

    /// The generator update of a private step, on the rows of the last critic update
    /// (generated with dropout `generator_masks`) with critic dropout `masks`; returns
    /// the generator loss.
    pub fn private_generator_update(
        &mut self,
        buffers: &mut Buffers,
        masks: &[Vec<f32>],
        generator_masks: &[Vec<f32>],
    ) -> f32 {
        let b = self.batch;
        let scale = 1.0 / b as f32;
        let width = self.shape.out;
        let mut pass = CriticPass::with_widths(&self.critic_hidden(), b, width);
        for shard in &buffers.0 {
            pass.input
                .slice_mut(s![shard.rows(1), ..])
                .assign(&shard.generator.out);
        }
        pass.forward(&self.critic, &as_slices(masks));
        let (d, loss): (Vec<f32>, f64) = match self.loss {
            Loss::WganGp => (
                vec![-scale; b],
                -pass.score.iter().map(|&s| f64::from(s)).sum::<f64>(),
            ),
            Loss::Gan => (
                pass.score.iter().map(|&s| -sigmoid(-s) * scale).collect(),
                pass.score.iter().map(|&s| f64::from(softplus(-s))).sum(),
            ),
        };
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
        let grad = sum_shards(&mut buffers.0, |s| &mut s.generator_grad);
        self.generator.adam_step(grad, &self.adam);
        (loss / b as f64) as f32
    }

    /// Hidden widths of the critic, read from its weight shapes.
    fn critic_hidden(&self) -> Vec<usize> {
        self.critic.slots[..self.critic.slots.len() - 2]
            .iter()
            .step_by(2)
            .map(|s| s.dims[0])
            .collect()
    }
}
