//! The generator and the critic, built from candle-nn layers with weights drawn from
//! the package's own seeded generator (or loaded from a model file).

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor, Var, D};
use candle_nn::{ops, Linear, VarMap};
use serde::{Deserialize, Serialize};

use crate::encoding::Group;
use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// Negative slope of every LeakyReLU.
pub const LEAKY_SLOPE: f64 = 0.2;
/// Epsilon of every layer norm.
pub const NORM_EPS: f32 = 1e-5;

/// The trainable parameters of one network, by name.
pub struct Params {
    map: VarMap,
    loaded: bool,
    device: Device,
}

impl Params {
    pub fn new(device: &Device) -> Self {
        Params {
            map: VarMap::new(),
            loaded: false,
            device: device.clone(),
        }
    }

    /// Parameters read from a model file; building a network from them fails if a
    /// weight is missing or has the wrong shape.
    pub fn from_tensors(
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        device: &Device,
    ) -> Result<Self> {
        let map = VarMap::new();
        {
            let mut data = map.data().lock().expect("fresh lock");
            for (name, t) in tensors.iter().filter(|(k, _)| k.starts_with(prefix)) {
                let t = t.to_dtype(DType::F32)?.to_device(device)?;
                data.insert(name.clone(), Var::from_tensor(&t)?);
            }
        }
        Ok(Params {
            map,
            loaded: true,
            device: device.clone(),
        })
    }

    pub fn vars(&self) -> Vec<Var> {
        self.map.all_vars()
    }

    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let data = self.map.data().lock().expect("weights lock");
        data.iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// A deep copy of the current values, for rolling back.
    pub fn snapshot(&self) -> Result<HashMap<String, Tensor>> {
        let data = self.map.data().lock().expect("weights lock");
        data.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
            .collect()
    }

    pub fn restore(&self, snapshot: &HashMap<String, Tensor>) -> Result<()> {
        let data = self.map.data().lock().expect("weights lock");
        for (k, v) in data.iter() {
            if let Some(t) = snapshot.get(k) {
                v.set(t)?;
            }
        }
        Ok(())
    }

    /// Replaces the values of the existing parameter `name` (same shape).
    fn set(&self, name: &str, values: Vec<f32>) -> Result<()> {
        let data = self.map.data().lock().expect("weights lock");
        let var = data
            .get(name)
            .ok_or_else(|| Error::ModelFormat(format!("weight {name} is missing")))?;
        let t = Tensor::from_vec(values, var.dims(), &self.device)?;
        var.set(&t)?;
        Ok(())
    }

    fn get_or_init(
        &self,
        name: &str,
        shape: &[usize],
        init: impl FnOnce(usize) -> Vec<f32>,
    ) -> Result<Tensor> {
        let mut data = self.map.data().lock().expect("weights lock");
        if let Some(var) = data.get(name) {
            if var.dims() != shape {
                return Err(Error::ModelFormat(format!(
                    "weight {name} has shape {:?}, expected {shape:?}",
                    var.dims()
                )));
            }
            return Ok(var.as_tensor().clone());
        }
        if self.loaded {
            return Err(Error::ModelFormat(format!("weight {name} is missing")));
        }
        let values = init(shape.iter().product());
        let t = Tensor::from_vec(values, shape, &self.device)?;
        let var = Var::from_tensor(&t)?;
        let t = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(t)
    }

    /// A weight matrix with PyTorch's default initialisation, U(-1/sqrt(in), 1/sqrt(in)).
    pub fn weight(
        &self,
        name: &str,
        d_in: usize,
        d_out: usize,
        rng: &mut SeededRng,
    ) -> Result<Tensor> {
        let bound = 1.0 / (d_in as f32).sqrt();
        self.get_or_init(&format!("{name}.weight"), &[d_out, d_in], |n| {
            rng.uniform_vec(n, -bound, bound)
        })
    }

    /// A linear layer with bias, initialised as in PyTorch.
    pub fn linear(
        &self,
        name: &str,
        d_in: usize,
        d_out: usize,
        rng: &mut SeededRng,
    ) -> Result<Linear> {
        let w = self.weight(name, d_in, d_out, rng)?;
        let bound = 1.0 / (d_in as f32).sqrt();
        let b = self.get_or_init(&format!("{name}.bias"), &[d_out], |n| {
            rng.uniform_vec(n, -bound, bound)
        })?;
        Ok(Linear::new(w, Some(b)))
    }

    fn norm(&self, name: &str, width: usize) -> Result<LayerNorm> {
        Ok(LayerNorm {
            gain: self.get_or_init(&format!("{name}.weight"), &[width], |n| vec![1.0; n])?,
            shift: self.get_or_init(&format!("{name}.bias"), &[width], |n| vec![0.0; n])?,
        })
    }
}

/// Layer normalisation over features, so every row is normalised on its own.
struct LayerNorm {
    gain: Tensor,
    shift: Tensor,
}

impl LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(ops::layer_norm_slow(x, &self.gain, &self.shift, NORM_EPS)?)
    }
}

/// Multi-head self-attention across feature tokens of one row: the hidden vector is cut
/// into `tokens` pieces that attend to each other. Rows never see each other.
struct FeatureAttention {
    tokens: usize,
    heads: usize,
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    norm: LayerNorm,
}

impl FeatureAttention {
    fn new(
        p: &Params,
        name: &str,
        width: usize,
        tokens: usize,
        heads: usize,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        let d = width / tokens;
        Ok(FeatureAttention {
            tokens,
            heads,
            query: p.linear(&format!("{name}.query"), d, d, rng)?,
            // A key bias shifts every score of a query equally, which softmax ignores.
            key: Linear::new(p.weight(&format!("{name}.key"), d, d, rng)?, None),
            value: p.linear(&format!("{name}.value"), d, d, rng)?,
            out: p.linear(&format!("{name}.out"), d, d, rng)?,
            norm: p.norm(&format!("{name}.norm"), width)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, width) = x.dims2()?;
        let d = width / self.tokens;
        let dh = d / self.heads;
        let tokens = x.reshape((b, self.tokens, d))?;
        let split = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape((b, self.tokens, self.heads, dh))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = split(self.query.forward(&tokens)?)?;
        let k = split(self.key.forward(&tokens)?)?;
        let v = split(self.value.forward(&tokens)?)?;
        let scores = (q.matmul(&k.t()?)? / (dh as f64).sqrt())?;
        let weights = ops::softmax(&scores, D::Minus1)?;
        let mixed = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, self.tokens, d))?;
        let out = self.out.forward(&mixed)?.reshape((b, width))?;
        self.norm.forward(&(x + out)?)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorSpec {
    pub noise_dim: usize,
    pub cond_dim: usize,
    pub hidden: Vec<usize>,
    pub dropout: f32,
    /// Feature tokens per attention block; 0 means no attention.
    pub attention_tokens: usize,
    pub attention_heads: usize,
    pub n_scalars: usize,
    pub groups: Vec<Group>,
    pub tau: f64,
}

/// Prefixes of the generator's and the critic's parameter names. Every parameter name is
/// made in this module.
pub const GENERATOR: &str = "generator.";
pub const CRITIC: &str = "critic.";

fn generator_block(i: usize) -> String {
    format!("{GENERATOR}block{i}")
}

fn generator_out() -> String {
    format!("{GENERATOR}out")
}

fn critic_layer(i: usize) -> String {
    format!("{CRITIC}layer{i}")
}

fn critic_out() -> String {
    format!("{CRITIC}out")
}

/// Parameters per generator block in [`GeneratorSpec::parameters`].
const BLOCK_PARAMETERS: usize = 4;

impl GeneratorSpec {
    /// Names and shapes of the parameters of a generator without attention, in order:
    /// per block the linear weight and bias and the norm's gain and shift, then the
    /// output layer's weight and bias. The explicit engine stores them in this order.
    pub fn parameters(&self) -> Vec<(String, Vec<usize>)> {
        let mut names = Vec::new();
        let mut width = self.noise_dim + self.cond_dim;
        for (i, &h) in self.hidden.iter().enumerate() {
            let p = generator_block(i);
            names.push((format!("{p}.linear.weight"), vec![h, width]));
            names.push((format!("{p}.linear.bias"), vec![h]));
            names.push((format!("{p}.norm.weight"), vec![h]));
            names.push((format!("{p}.norm.bias"), vec![h]));
            width += h;
        }
        let out = generator_out();
        names.push((format!("{out}.weight"), vec![self.output_width(), width]));
        names.push((format!("{out}.bias"), vec![self.output_width()]));
        names
    }

    /// Position of block `i`'s linear weight in [`Self::parameters`]; its bias, norm
    /// gain and norm shift follow.
    pub const fn block_weight(i: usize) -> usize {
        BLOCK_PARAMETERS * i
    }

    /// Position of the output weight after `blocks` blocks; its bias follows.
    pub const fn out_weight(blocks: usize) -> usize {
        BLOCK_PARAMETERS * blocks
    }

    pub fn output_width(&self) -> usize {
        self.groups
            .last()
            .map_or(self.n_scalars, |g| g.start + g.width)
    }
}

struct Block {
    linear: Linear,
    norm: LayerNorm,
    attention: Option<FeatureAttention>,
}

/// noise (+ condition) -> residual blocks -> mixed output activations.
pub struct Generator {
    spec: GeneratorSpec,
    blocks: Vec<Block>,
    out: Linear,
}

/// What a generator pass produces.
pub struct Generated {
    /// Pre-activation outputs (softmax groups as logits).
    pub logits: Tensor,
    /// tanh scalars and Gumbel-softmax groups: what the critic sees.
    pub rows: Tensor,
}

impl Generator {
    pub fn new(spec: &GeneratorSpec, p: &Params, rng: &mut SeededRng) -> Result<Self> {
        let mut width = spec.noise_dim + spec.cond_dim;
        let mut blocks = Vec::with_capacity(spec.hidden.len());
        for (i, &h) in spec.hidden.iter().enumerate() {
            let name = generator_block(i);
            let attention = if spec.attention_tokens > 0 {
                Some(FeatureAttention::new(
                    p,
                    &format!("{name}.attention"),
                    h,
                    spec.attention_tokens,
                    spec.attention_heads,
                    rng,
                )?)
            } else {
                None
            };
            blocks.push(Block {
                linear: p.linear(&format!("{name}.linear"), width, h, rng)?,
                norm: p.norm(&format!("{name}.norm"), h)?,
                attention,
            });
            width += h;
        }
        let out = p.linear(&generator_out(), width, spec.output_width(), rng)?;
        Ok(Generator {
            spec: spec.clone(),
            blocks,
            out,
        })
    }

    /// One pass. `dropout` holds a mask per block when training, none when sampling;
    /// `gumbel` holds the Gumbel noise for the softmax groups.
    pub fn forward(
        &self,
        input: &Tensor,
        dropout: Option<&[Tensor]>,
        gumbel: &Tensor,
    ) -> Result<Generated> {
        let mut x = input.clone();
        for (i, block) in self.blocks.iter().enumerate() {
            let mut h = ops::leaky_relu(
                &block.norm.forward(&block.linear.forward(&x)?)?,
                LEAKY_SLOPE,
            )?;
            if let Some(att) = &block.attention {
                h = att.forward(&h)?;
            }
            if let Some(masks) = dropout {
                h = (h * &masks[i])?;
            }
            x = Tensor::cat(&[&h, &x], 1)?;
        }
        let logits = self.out.forward(&x)?;
        let rows = self.activate(&logits, gumbel)?;
        Ok(Generated { logits, rows })
    }

    fn activate(&self, logits: &Tensor, gumbel: &Tensor) -> Result<Tensor> {
        let mut parts = Vec::with_capacity(self.spec.groups.len() + 1);
        if self.spec.n_scalars > 0 {
            parts.push(logits.narrow(1, 0, self.spec.n_scalars)?.tanh()?);
        }
        for g in &self.spec.groups {
            let noise = gumbel.narrow(1, g.start - self.spec.n_scalars, g.width)?;
            let y = ((logits.narrow(1, g.start, g.width)? + noise)? / self.spec.tau)?;
            // candle-nn's fused softmax_last_dim has no backward pass: use the composed one.
            parts.push(ops::softmax(&y, D::Minus1)?);
        }
        Ok(Tensor::cat(&parts, 1)?)
    }

    /// The output layer's bias.
    pub fn output_bias(&self, p: &Params) -> Result<Vec<f32>> {
        let name = format!("{}.bias", generator_out());
        let t = p
            .tensors()
            .remove(&name)
            .ok_or_else(|| Error::ModelFormat(format!("weight {name} is missing")))?;
        Ok(t.to_device(&Device::Cpu)?.to_vec1()?)
    }

    /// Sets the output layer's bias (a private fit's released log shares before
    /// training, so that the untrained generator draws the released marginals; their
    /// calibration after it).
    pub fn set_output_bias(&self, p: &Params, bias: Vec<f32>) -> Result<()> {
        p.set(&format!("{}.bias", generator_out()), bias)
    }

    pub fn spec(&self) -> &GeneratorSpec {
        &self.spec
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriticSpec {
    /// Width of one (unpacked) input row: encoded row plus condition.
    pub input_dim: usize,
    pub hidden: Vec<usize>,
    pub dropout: f32,
    /// Rows packed into one critic input (PacGAN).
    pub pac: usize,
}

impl CriticSpec {
    /// Names and shapes of the critic's parameters, in order: each layer's weight and
    /// bias, then the output layer's. The explicit engine stores them in this order.
    pub fn parameters(&self) -> Vec<(String, Vec<usize>)> {
        let mut names = Vec::new();
        let mut width = self.input_dim * self.pac;
        for (i, &h) in self.hidden.iter().enumerate() {
            let p = critic_layer(i);
            names.push((format!("{p}.weight"), vec![h, width]));
            names.push((format!("{p}.bias"), vec![h]));
            width = h;
        }
        let out = critic_out();
        names.push((format!("{out}.weight"), vec![1, width]));
        names.push((format!("{out}.bias"), vec![1]));
        names
    }

    /// Position of layer `l`'s weight in [`Self::parameters`] (the output layer is
    /// layer `hidden.len()`); its bias follows.
    pub const fn layer_weight(l: usize) -> usize {
        2 * l
    }
}

/// MLP critic with LeakyReLU and dropout over `pac` packed rows.
pub struct Critic {
    spec: CriticSpec,
    layers: Vec<Linear>,
    out: Linear,
}

impl Critic {
    pub fn new(spec: &CriticSpec, p: &Params, rng: &mut SeededRng) -> Result<Self> {
        let mut width = spec.input_dim * spec.pac;
        let mut layers = Vec::with_capacity(spec.hidden.len());
        for (i, &h) in spec.hidden.iter().enumerate() {
            layers.push(p.linear(&critic_layer(i), width, h, rng)?);
            width = h;
        }
        let out = p.linear(&critic_out(), width, 1, rng)?;
        Ok(Critic {
            spec: spec.clone(),
            layers,
            out,
        })
    }

    /// Packs `pac` consecutive rows into one.
    pub fn pack(&self, x: &Tensor) -> Result<Tensor> {
        let (b, d) = x.dims2()?;
        Ok(x.reshape((b / self.spec.pac, d * self.spec.pac))?)
    }

    /// Dropout masks for one pass over `rows` packed rows (tests; training draws them
    /// in parallel blocks).
    #[cfg(test)]
    pub fn dropout_masks(
        &self,
        rows: usize,
        rng: &mut SeededRng,
        dev: &Device,
    ) -> Result<Vec<Tensor>> {
        self.spec
            .hidden
            .iter()
            .map(|&h| Ok(rng.dropout_tensor(rows, h, self.spec.dropout, dev)?))
            .collect()
    }

    pub fn spec(&self) -> &CriticSpec {
        &self.spec
    }

    /// Scores of packed rows, shape (rows, 1).
    pub fn forward(&self, packed: &Tensor, masks: &[Tensor]) -> Result<Tensor> {
        let mut a = packed.clone();
        for (layer, mask) in self.layers.iter().zip(masks) {
            a = (ops::leaky_relu(&layer.forward(&a)?, LEAKY_SLOPE)? * mask)?;
        }
        Ok(self.out.forward(&a)?)
    }

    /// Weights and biases of every linear layer, input to output.
    pub fn linear_parameters(&self) -> Vec<(Tensor, Option<Tensor>)> {
        self.layers
            .iter()
            .chain(std::iter::once(&self.out))
            .map(|l| (l.weight().clone(), l.bias().cloned()))
            .collect()
    }

    /// Scores, plus a [`Tap`] on every linear layer for per-row gradients.
    pub fn forward_with_taps(
        &self,
        packed: &Tensor,
        masks: &[Tensor],
    ) -> Result<(Tensor, Vec<Tap>)> {
        let mut taps = Vec::with_capacity(self.layers.len() + 1);
        let mut a = packed.clone();
        for (layer, mask) in self.layers.iter().zip(masks) {
            let z = tapped(layer, &a, &mut taps)?;
            a = (ops::leaky_relu(&z, LEAKY_SLOPE)? * mask)?;
        }
        let score = tapped(&self.out, &a, &mut taps)?;
        Ok((score, taps))
    }

    /// Scores and their gradient with respect to the packed input, the latter written
    /// as ordinary forward operations (weights times activation-slope masks), so that a
    /// penalty on it is differentiated correctly by first-order backprop.
    pub fn forward_with_input_grad(
        &self,
        packed: &Tensor,
        masks: &[Tensor],
    ) -> Result<(Tensor, Tensor)> {
        let mut a = packed.clone();
        let mut slopes = Vec::with_capacity(self.layers.len());
        for (layer, mask) in self.layers.iter().zip(masks) {
            let z = layer.forward(&a)?;
            let positive = z.ge(0.0)?.to_dtype(z.dtype())?.detach();
            slopes.push((positive.affine(1.0 - LEAKY_SLOPE, LEAKY_SLOPE)? * mask)?);
            a = (ops::leaky_relu(&z, LEAKY_SLOPE)? * mask)?;
        }
        let score = self.out.forward(&a)?;
        let rows = packed.dim(0)?;
        let mut delta = self
            .out
            .weight()
            .broadcast_as((rows, self.out.weight().dim(1)?))?
            .contiguous()?;
        for (layer, slope) in self.layers.iter().zip(&slopes).rev() {
            delta = (delta * slope)?.matmul(layer.weight())?;
        }
        Ok((score, delta))
    }
}

/// A linear layer seen from one forward pass: its input rows and a zero variable added to
/// its output. After backpropagating a sum of per-row losses, the probe's gradient holds
/// each row's gradient with respect to the layer output, from which per-row weight
/// gradients (outer products with the input row) and their norms follow.
pub struct Tap {
    pub input: Tensor,
    pub probe: Var,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

fn tapped(layer: &Linear, a: &Tensor, taps: &mut Vec<Tap>) -> Result<Tensor> {
    let rows = a.dim(0)?;
    let probe = Var::zeros((rows, layer.weight().dim(0)?), a.dtype(), a.device())?;
    let z = (layer.forward(a)? + probe.as_tensor())?;
    taps.push(Tap {
        input: a.clone(),
        probe,
        weight: layer.weight().clone(),
        bias: layer.bias().cloned(),
    });
    Ok(z)
}

/// Mean over rows of (||g|| - 1)^2 for input gradients `g`.
pub fn gradient_penalty(grad: &Tensor) -> Result<Tensor> {
    let norm = (grad.sqr()?.sum(D::Minus1)? + 1e-12)?.sqrt()?;
    Ok((norm - 1.0)?.sqr()?.mean_all()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::backprop::GradStore;

    fn critic(dev: &Device) -> (Critic, Params) {
        let p = Params::new(dev);
        let spec = CriticSpec {
            input_dim: 3,
            hidden: vec![5, 4],
            dropout: 0.5,
            pac: 2,
        };
        let c = Critic::new(&spec, &p, &mut SeededRng::new(11)).unwrap();
        (c, p)
    }

    #[test]
    fn explicit_input_gradient_matches_autodiff() {
        let dev = Device::Cpu;
        let (c, _p) = critic(&dev);
        let mut rng = SeededRng::new(5);
        let x = Var::from_tensor(&rng.normal_tensor(4, 6, &dev).unwrap()).unwrap();
        let masks = c.dropout_masks(4, &mut rng, &dev).unwrap();
        let (score, grad) = c.forward_with_input_grad(x.as_tensor(), &masks).unwrap();
        let auto: GradStore = score.sum_all().unwrap().backward().unwrap();
        let auto = auto.get(x.as_tensor()).unwrap();
        let diff = (auto - &grad)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "max difference {diff}");
    }

    /// The penalty's gradient reaches every layer and matches central differences.
    #[test]
    fn gradient_penalty_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let (c, p) = critic(&dev);
        let mut rng = SeededRng::new(9);
        let x = rng.normal_tensor(4, 6, &dev).unwrap();
        let masks = c.dropout_masks(4, &mut rng, &dev).unwrap();
        let penalty = |c: &Critic| -> f64 {
            let (_, g) = c.forward_with_input_grad(&x, &masks).unwrap();
            gradient_penalty(&g).unwrap().to_scalar::<f32>().unwrap() as f64
        };
        let (_, g) = c.forward_with_input_grad(&x, &masks).unwrap();
        let grads = gradient_penalty(&g).unwrap().backward().unwrap();
        let tensors = p.tensors();
        for name in [
            "critic.layer0.weight",
            "critic.layer1.weight",
            "critic.out.weight",
        ] {
            let var = p
                .vars()
                .into_iter()
                .find(|v| v.as_tensor().id() == tensors[name].id())
                .unwrap();
            let analytic = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            let analytic: Vec<f32> = analytic.flatten_all().unwrap().to_vec1().unwrap();
            let base: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            let shape = var.shape().clone();
            for idx in [0usize, base.len() / 2, base.len() - 1] {
                let h = 1e-2f32;
                let mut plus = base.clone();
                plus[idx] += h;
                var.set(&Tensor::from_vec(plus, shape.clone(), &dev).unwrap())
                    .unwrap();
                let up = penalty(&c);
                let mut minus = base.clone();
                minus[idx] -= h;
                var.set(&Tensor::from_vec(minus, shape.clone(), &dev).unwrap())
                    .unwrap();
                let down = penalty(&c);
                var.set(&Tensor::from_vec(base.clone(), shape.clone(), &dev).unwrap())
                    .unwrap();
                let numeric = (up - down) / (2.0 * h as f64);
                let a = analytic[idx] as f64;
                assert!(
                    (a - numeric).abs() <= 2e-3 + 2e-2 * numeric.abs(),
                    "{name}[{idx}]: analytic {a}, numeric {numeric}"
                );
            }
        }
    }

    /// A generator with attention, `n_scalars` tanh outputs and one 3-way softmax group.
    fn small_generator(hidden: Vec<usize>, n_scalars: usize) -> (Generator, Params) {
        let p = Params::new(&Device::Cpu);
        let spec = GeneratorSpec {
            noise_dim: 4,
            cond_dim: 0,
            hidden,
            dropout: 0.0,
            attention_tokens: 2,
            attention_heads: 2,
            n_scalars,
            groups: vec![Group {
                start: n_scalars,
                width: 3,
            }],
            tau: 0.2,
        };
        let g = Generator::new(&spec, &p, &mut SeededRng::new(1)).unwrap();
        (g, p)
    }

    /// Every generator weight, including those behind softmax groups and attention,
    /// receives a gradient.
    #[test]
    fn gradients_reach_every_generator_weight() {
        let dev = Device::Cpu;
        let (g, p) = small_generator(vec![8], 0);
        let mut rng = SeededRng::new(2);
        let z = rng.normal_tensor(6, 4, &dev).unwrap();
        let noise = rng.gumbel_tensor(6, 3, &dev).unwrap();
        let rows = g.forward(&z, None, &noise).unwrap().rows;
        let target = Tensor::new(&[1f32, 0.0, 0.0], &dev).unwrap();
        let loss = rows
            .broadcast_sub(&target)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        for (name, t) in p.tensors() {
            let grad = grads
                .get(&t)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            let size = grad
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(size > 0.0, "zero gradient for {name}");
        }
    }

    #[test]
    fn generator_rows_are_independent_of_each_other() {
        let dev = Device::Cpu;
        let (g, _) = small_generator(vec![8, 8], 1);
        let mut rng = SeededRng::new(2);
        let z = rng.normal_tensor(5, 4, &dev).unwrap();
        let noise = rng.gumbel_tensor(5, 3, &dev).unwrap();
        let all = g.forward(&z, None, &noise).unwrap().rows;
        let first = g
            .forward(
                &z.narrow(0, 0, 1).unwrap(),
                None,
                &noise.narrow(0, 0, 1).unwrap(),
            )
            .unwrap()
            .rows;
        let diff = (all.narrow(0, 0, 1).unwrap() - first)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
        let sums: Vec<f32> = all
            .narrow(1, 1, 3)
            .unwrap()
            .sum(1)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
    }
}
