//! The critic's explicit passes: LeakyReLU layers with dropout over packed rows, the
//! gradient penalty's parameter gradient and DP-SGD's per-row clipping.

use ndarray::{Array2, ArrayView2};

use super::{add_column_sums, linear, matmul, matrix_mut, split_mut, Net, SLOPE};
use crate::lanes::sum_by;
use crate::network::CriticSpec;

/// Position of layer `l`'s weight; its bias follows.
const fn layer_weight(l: usize) -> usize {
    CriticSpec::layer_weight(l)
}

/// Buffers of one critic pass over a shard's packs.
pub(super) struct CriticPass {
    pub(super) input: Array2<f32>,
    /// Activations after each hidden layer (dropout applied).
    pub(super) act: Vec<Array2<f32>>,
    /// LeakyReLU slope times dropout mask per hidden unit: the layer's local derivative.
    slope: Vec<Array2<f32>>,
    pub(super) score: Array2<f32>,
    grad: Vec<Array2<f32>>,
    pub(super) grad_input: Array2<f32>,
    /// Equal blocks of packs whose score gradients are summed apart for the output
    /// bias (see [`Self::pair`]).
    blocks: usize,
}

impl CriticPass {
    pub(super) fn new(spec: &CriticSpec, packs: usize) -> Self {
        Self::with_widths(&spec.hidden, packs, spec.input_dim * spec.pac)
    }

    /// A pass over `packs` real packs followed by as many generated ones. The output
    /// bias's gradient adds the two halves' sums, so that WGAN's equal and opposite
    /// terms cancel exactly, as in separate passes (Adam would turn their rounding
    /// error into full-size steps).
    pub(super) fn pair(spec: &CriticSpec, packs: usize) -> Self {
        CriticPass {
            blocks: 2,
            ..Self::new(spec, 2 * packs)
        }
    }

    pub(super) fn with_widths(hidden: &[usize], packs: usize, width: usize) -> Self {
        let zeros =
            || -> Vec<Array2<f32>> { hidden.iter().map(|&h| Array2::zeros((packs, h))).collect() };
        CriticPass {
            input: Array2::zeros((packs, width)),
            act: zeros(),
            slope: zeros(),
            score: Array2::zeros((packs, 1)),
            grad: zeros(),
            grad_input: Array2::zeros((packs, width)),
            blocks: 1,
        }
    }

    /// Fills the input with `rows` rows (`pac` per pack), each `row(r)` followed by
    /// its condition.
    pub(super) fn pack<'r>(&mut self, rows: usize, row: impl Fn(usize) -> &'r [f32], cond: &[f32]) {
        let flat = self.input.as_slice_mut().expect("standard layout");
        let stride = flat.len() / rows;
        for (r, dst) in flat.chunks_exact_mut(stride).enumerate() {
            let values = row(r);
            dst[..values.len()].copy_from_slice(values);
            let cond_dim = stride - values.len();
            dst[values.len()..].copy_from_slice(&cond[r * cond_dim..(r + 1) * cond_dim]);
        }
    }

    pub(super) fn forward(&mut self, net: &Net, masks: &[&[f32]]) {
        let layers = self.act.len();
        for (l, mask) in masks.iter().enumerate().take(layers) {
            let (input, a) = chain_step(&self.input, &mut self.act, l);
            linear(
                &input,
                &net.transposed(layer_weight(l)),
                &net.vector(layer_weight(l) + 1),
                a,
            );
            let a = a.as_slice_mut().expect("standard layout");
            let slope = self.slope[l].as_slice_mut().expect("standard layout");
            for ((v, s), &m) in a.iter_mut().zip(slope).zip(mask.iter()) {
                let d = if *v >= 0.0 { 1.0 } else { SLOPE };
                *s = d * m;
                *v *= d * m;
            }
        }
        linear(
            &self.act[layers - 1].view(),
            &net.transposed(layer_weight(layers)),
            &net.vector(layer_weight(layers) + 1),
            &mut self.score,
        );
    }

    /// Backpropagates `sum(d_score * score)`: adds the parameter gradient to `grad` if
    /// given and, if asked, writes the gradient with respect to the input into
    /// `grad_input`.
    pub(super) fn backward(
        &mut self,
        net: &Net,
        d_score: &[f32],
        grad: Option<&mut [f32]>,
        want_input: bool,
    ) {
        let layers = self.act.len();
        let mut grads = grad.map(|g| split_mut(net, g));
        let w_out = net.matrix(layer_weight(layers));
        let packs = d_score.len();
        let d = ArrayView2::from_shape((packs, 1), d_score).expect("score shape");
        if let Some(grads) = grads.as_mut() {
            self.add_output_gradient(d_score, grads);
        }
        matmul(&d, &w_out, &mut self.grad[layers - 1], false);
        for l in (0..layers).rev() {
            self.grad[l] *= &self.slope[l];
            if let Some(grads) = grads.as_mut() {
                self.add_layer_gradient(l, grads);
            }
            let w = net.matrix(layer_weight(l));
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
    pub(super) fn penalty_backward(&mut self, net: &Net, weight: f32, grad: &mut [f32]) -> f64 {
        let layers = self.act.len();
        // The score's input gradient, by backpropagating 1 from every pack; `grad[l]`
        // keeps layer l's slope times the gradient reaching it.
        self.backward(net, &vec![1.0; self.score.nrows()], None, true);
        let mut grads = split_mut(net, grad);
        // Penalty and its gradient with respect to the input gradient, in place.
        let mut total = 0f64;
        for mut g in self.grad_input.rows_mut() {
            let squares = sum_by(g.as_slice().expect("standard layout"), |v| v * v);
            let norm = (squares + 1e-12).sqrt();
            total += f64::from((norm - 1.0) * (norm - 1.0));
            g *= weight * 2.0 * (norm - 1.0) / norm;
        }
        // Backward through the chain, layer 0 upwards; `act` is reused as scratch.
        for l in 0..layers {
            let (upstream, scratch) = chain_step(&self.grad_input, &mut self.act, l);
            let (rows, cols) = (self.grad[l].ncols(), upstream.ncols());
            let mut dw = matrix_mut(grads[layer_weight(l)], rows, cols);
            matmul(&self.grad[l].t(), &upstream, &mut dw, true);
            matmul(&upstream, &net.transposed(layer_weight(l)), scratch, false);
            *scratch *= &self.slope[l];
        }
        let last = &self.act[layers - 1];
        let dw = &mut grads[layer_weight(layers)];
        add_column_sums(dw, &last.view());
        total
    }
}

impl CriticPass {
    /// After `forward`, backpropagates per-row losses with gradients `d_score` and adds
    /// the sum of the rows' parameter gradients, each first scaled to norm at most
    /// `max_norm`, times `scale`, to `grad`. Needs one row per pack.
    pub(super) fn clipped_backward(
        &mut self,
        net: &Net,
        d_score: &mut [f32],
        max_norm: f32,
        scale: f32,
        grad: &mut [f32],
    ) {
        self.backward(net, d_score, None, false);
        let layers = self.act.len();
        let squares = |m: &ArrayView2<f32>, r: usize| {
            sum_by(m.row(r).as_slice().expect("standard layout"), |v| v * v)
        };
        for (r, d) in d_score.iter_mut().enumerate() {
            let mut norm_sq = *d * *d * (squares(&self.act[layers - 1].view(), r) + 1.0);
            for l in 0..layers {
                norm_sq +=
                    squares(&self.grad[l].view(), r) * (squares(&self.layer_input(l), r) + 1.0);
            }
            let factor = (max_norm / (norm_sq.sqrt() + 1e-6)).min(1.0) * scale;
            *d *= factor;
            for l in 0..layers {
                self.grad[l].row_mut(r).map_inplace(|v| *v *= factor);
            }
        }
        let mut grads = split_mut(net, grad);
        self.add_output_gradient(d_score, &mut grads);
        for l in 0..layers {
            self.add_layer_gradient(l, &mut grads);
        }
    }

    /// The input of hidden layer `l`.
    fn layer_input(&self, l: usize) -> ArrayView2<'_, f32> {
        if l == 0 {
            self.input.view()
        } else {
            self.act[l - 1].view()
        }
    }

    /// Adds the output layer's parameter gradient for score gradients `d_score`.
    fn add_output_gradient(&self, d_score: &[f32], grads: &mut [&mut [f32]]) {
        let last = &self.act[self.act.len() - 1];
        let k = layer_weight(self.act.len());
        let d = ArrayView2::from_shape((d_score.len(), 1), d_score).expect("score shape");
        let mut dw = matrix_mut(grads[k], 1, last.ncols());
        matmul(&d.t(), last, &mut dw, true);
        grads[k + 1][0] += d_score
            .chunks(d_score.len().div_ceil(self.blocks).max(1))
            .map(|block| block.iter().sum::<f32>())
            .sum::<f32>();
    }

    /// Adds hidden layer `l`'s parameter gradient from the gradient at its output.
    fn add_layer_gradient(&self, l: usize, grads: &mut [&mut [f32]]) {
        let input = self.layer_input(l);
        let (rows, cols) = (self.grad[l].ncols(), input.ncols());
        let mut dw = matrix_mut(grads[layer_weight(l)], rows, cols);
        matmul(&self.grad[l].t(), &input, &mut dw, true);
        add_column_sums(grads[layer_weight(l) + 1], &self.grad[l].view());
    }
}

/// Layer `l` of a chain whose first input is `first` and whose layer outputs are
/// `outputs`: its input (read) and its output (written).
fn chain_step<'a>(
    first: &'a Array2<f32>,
    outputs: &'a mut [Array2<f32>],
    l: usize,
) -> (ArrayView2<'a, f32>, &'a mut Array2<f32>) {
    let (before, after) = outputs.split_at_mut(l);
    let input = if l == 0 {
        first.view()
    } else {
        before[l - 1].view()
    };
    (input, &mut after[0])
}
