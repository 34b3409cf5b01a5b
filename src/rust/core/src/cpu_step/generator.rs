//! The generator's explicit passes: CTGAN-style blocks (linear, layer norm, LeakyReLU,
//! dropout) whose outputs are concatenated to their inputs, then tanh scalars and
//! Gumbel-softmax groups.

use ndarray::{s, Array2};

use super::{add_column_sums, leaky, linear, matmul, matrix_mut, split_mut, Net, SLOPE};
use crate::lanes::{dot, sum, sum_by};
use crate::network::{GeneratorSpec, NORM_EPS};

/// Position of block `i`'s linear weight; its bias, norm gain and norm shift follow.
const fn block(i: usize) -> usize {
    GeneratorSpec::block_weight(i)
}

/// The generator's shapes: block `i` writes its output at columns `starts[i]..` of the
/// wide buffer `[h_{L-1}, ..., h_0, noise, condition]` and reads every column after it.
#[derive(Clone)]
pub(super) struct GeneratorShape {
    pub(super) hidden: Vec<usize>,
    pub(super) starts: Vec<usize>,
    pub(super) hidden_total: usize,
    pub(super) wide: usize,
    pub(super) noise_dim: usize,
    pub(super) cond_dim: usize,
    pub(super) out: usize,
    pub(super) n_scalars: usize,
    pub(super) groups: Vec<(usize, usize)>,
    pub(super) tau: f32,
}

impl GeneratorShape {
    pub(super) fn new(spec: &GeneratorSpec) -> Self {
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
}
/// Buffers of one generator pass over a shard's rows.
pub(super) struct GeneratorPass {
    /// `[h_{L-1}, ..., h_0, noise, condition]` per row.
    wide: Array2<f32>,
    pre: Vec<Array2<f32>>,
    normed: Vec<Array2<f32>>,
    inv_std: Vec<Vec<f32>>,
    logits: Array2<f32>,
    pub(super) out: Array2<f32>,
    grad_wide: Array2<f32>,
    grad_logits: Array2<f32>,
    grad_pre: Array2<f32>,
}

impl GeneratorPass {
    pub(super) fn new(shape: &GeneratorShape, rows: usize) -> Self {
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
    pub(super) fn forward(
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
            linear(
                &input,
                &net.matrix(block(i)).t(),
                &net.vector(block(i) + 1),
                pre,
            );
            let (gain, shift) = (net.slice(block(i) + 2), net.slice(block(i) + 3));
            for r in 0..rows {
                let z = pre.row(r);
                let z = z.as_slice().expect("standard layout");
                let mean = sum(z) / h as f32;
                let var = sum_by(z, |v| (v - mean) * (v - mean)) / h as f32;
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
        let k = GeneratorSpec::out_weight(shape.hidden.len());
        linear(
            &self.wide.view(),
            &net.matrix(k).t(),
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
    pub(super) fn backward(
        &mut self,
        shape: &GeneratorShape,
        net: &Net,
        grad: &mut [f32],
        masks: &[&[f32]],
    ) {
        let rows = self.wide.nrows();
        let mut grads = split_mut(net, grad);
        let k = GeneratorSpec::out_weight(shape.hidden.len());
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
            let (gain, shift) = (net.slice(block(i) + 2), net.slice(block(i) + 3));
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
                for j in 0..h {
                    let g = d[j];
                    dgain[j] += g * normed[j];
                    dshift[j] += g;
                    d[j] = g * gain[j];
                }
                let (mean, mean_dot) = (sum(d) / h as f32, dot(d, normed) / h as f32);
                let inv = self.inv_std[i][r];
                for j in 0..h {
                    d[j] = inv * (d[j] - mean - normed[j] * mean_dot);
                }
            }
            for (g, v) in grads[block(i) + 2].iter_mut().zip(&dgain) {
                *g += v;
            }
            for (g, v) in grads[block(i) + 3].iter_mut().zip(&dshift) {
                *g += v;
            }
            let input = self.wide.slice(s![.., start + h..]);
            let width = input.ncols();
            let mut dw = matrix_mut(grads[block(i)], h, width);
            matmul(&grad_pre.t(), &input, &mut dw, true);
            add_column_sums(grads[block(i) + 1], &grad_pre.view());
            let hidden_inputs = shape.hidden_total - start - h;
            if hidden_inputs > 0 {
                let w = net.matrix(block(i));
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
    pub(super) fn set_output_gradient(
        &mut self,
        shape: &GeneratorShape,
        grad_rows: &[f32],
        stride: usize,
    ) {
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
    pub(super) fn add_condition_gradient(
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
