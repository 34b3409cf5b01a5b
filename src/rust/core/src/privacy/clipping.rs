//! DP-SGD for the critic: Poisson sampling of real rows, per-row gradient clipping and
//! Gaussian noise.
//!
//! candle has no per-example gradients. For a linear layer `z = a W' + b` and a loss that
//! sums per-row terms, row `i`'s weight gradient is the outer product `delta_i a_i'`, where
//! `delta_i` is the gradient with respect to `z_i`; its squared norm is
//! `|delta_i|^2 |a_i|^2`. One backward pass through [`Tap`] probes gives every `delta`, so
//! per-row norms and the clipped sum (one weighted matrix product per layer) cost about as
//! much as an ordinary step.

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, D};

use crate::error::{Error, Result};
use crate::network::Tap;
use crate::rng::PrivacyRng;

/// Rows drawn independently with probability `rate` each (Poisson sampling), in order.
pub fn poisson_sample(n: usize, rate: f64, rng: &mut PrivacyRng) -> Vec<u32> {
    if rate >= 1.0 {
        return (0..n as u32).collect();
    }
    if rate <= 0.0 {
        return Vec::new();
    }
    // Gaps between chosen rows are geometric: skip ahead instead of a draw per row.
    let log_keep = (1.0 - rate).ln();
    let mut rows = Vec::with_capacity((n as f64 * rate * 1.2) as usize + 8);
    let mut next = 0f64;
    loop {
        let u = 1.0 - rng.uniform();
        next += (u.ln() / log_keep).floor();
        if next >= n as f64 {
            break;
        }
        rows.push(next as u32);
        next += 1.0;
    }
    rows
}

fn probe_grad(tap: &Tap, grads: &GradStore) -> Result<Tensor> {
    grads
        .get(tap.probe.as_tensor())
        .cloned()
        .ok_or_else(|| Error::Config("a critic layer received no gradient".into()))
}

/// Each row's gradient norm over all tapped layers, from a backward pass of a sum of
/// per-row losses.
pub fn row_norms(taps: &[Tap], grads: &GradStore) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for tap in taps {
        let delta_sq = probe_grad(tap, grads)?.sqr()?.sum(D::Minus1)?;
        let input_sq = tap.input.sqr()?.sum(D::Minus1)?;
        let with_bias = if tap.bias.is_some() { 1.0 } else { 0.0 };
        let term = (delta_sq * (input_sq + with_bias)?)?;
        total = Some(match total {
            Some(t) => (t + term)?,
            None => term,
        });
    }
    let total = total.ok_or_else(|| Error::Config("no critic layers to clip".into()))?;
    Ok(total.sqrt()?)
}

/// The parameters of a set of linear layers, as (weight, bias) pairs.
pub type LinearParams = [(Tensor, Option<Tensor>)];

/// The privatised gradient of a sum of per-row losses: each row's gradient scaled down to
/// norm at most `max_norm`, summed, plus Gaussian noise with standard deviation
/// `noise_multiplier * max_norm` on every coordinate (none when it is 0), all multiplied
/// by `scale`. `gaussian` holds one standard normal draw per coordinate, parameters in
/// order (weight, then bias, layer by layer); it may be empty without noise. Returns
/// (parameter, gradient) pairs. `rows` is `None` when no row was sampled (noise only).
pub fn noisy_clipped_sum(
    params: &LinearParams,
    rows: Option<(&[Tap], &GradStore)>,
    max_norm: f64,
    noise_multiplier: f64,
    gaussian: &[f32],
    scale: f64,
    device: &Device,
) -> Result<Vec<(Tensor, Tensor)>> {
    let clipped: Option<Vec<(Tensor, Option<Tensor>)>> = match rows {
        None => None,
        Some((taps, grads)) => {
            if taps.len() != params.len() {
                return Err(Error::Config(
                    "taps do not match the critic's layers".into(),
                ));
            }
            let factors = (row_norms(taps, grads)? + 1e-6)?
                .recip()?
                .affine(max_norm, 0.0)?
                .minimum(1.0)?
                .unsqueeze(1)?;
            let sums = taps
                .iter()
                .map(|tap| {
                    let delta = probe_grad(tap, grads)?.broadcast_mul(&factors)?;
                    let weight = delta.t()?.matmul(&tap.input)?;
                    let bias = tap.bias.as_ref().map(|_| delta.sum(0)).transpose()?;
                    Ok((weight, bias))
                })
                .collect::<Result<Vec<_>>>()?;
            Some(sums)
        }
    };
    let std = noise_multiplier * max_norm;
    let coordinates: usize = params
        .iter()
        .map(|(w, b)| w.elem_count() + b.as_ref().map_or(0, Tensor::elem_count))
        .sum();
    if std > 0.0 && gaussian.len() != coordinates {
        return Err(Error::Config(format!(
            "{} noise draws for {coordinates} coordinates",
            gaussian.len()
        )));
    }
    let mut offset = 0;
    let mut noise = |shape: &[usize]| -> Result<Tensor> {
        let len: usize = shape.iter().product();
        let t = Tensor::from_slice(&gaussian[offset..offset + len], shape, device)?;
        offset += len;
        Ok((t * std)?)
    };
    let mut out = Vec::with_capacity(params.len() * 2);
    for (i, (weight, bias)) in params.iter().enumerate() {
        let sum = match (&clipped, std > 0.0) {
            (Some(c), false) => c[i].0.clone(),
            (Some(c), true) => (&c[i].0 + noise(weight.dims())?)?,
            (None, _) => noise(weight.dims())?,
        };
        out.push((weight.clone(), (sum * scale)?));
        if let Some(bias) = bias {
            let clipped_bias = clipped.as_ref().and_then(|c| c[i].1.as_ref());
            let sum = match (clipped_bias, std > 0.0) {
                (Some(b), false) => b.clone(),
                (Some(b), true) => (b + noise(bias.dims())?)?,
                (None, _) => noise(bias.dims())?,
            };
            out.push((bias.clone(), (sum * scale)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Critic, CriticSpec, Params};
    use crate::rng::{RandomSource, SeededRng};

    fn critic(device: &Device) -> (Critic, Params) {
        let params = Params::new(device);
        let spec = CriticSpec {
            input_dim: 5,
            hidden: vec![8, 6],
            dropout: 0.0,
            pac: 1,
        };
        let critic = Critic::new(&spec, &params, &mut SeededRng::new(1)).unwrap();
        (critic, params)
    }

    /// Per-row gradients by one backward pass per row.
    fn per_row_gradients(critic: &Critic, x: &Tensor, masks: &[Tensor]) -> Vec<Vec<Tensor>> {
        let params = critic.linear_parameters();
        (0..x.dim(0).unwrap())
            .map(|i| {
                let row = x.narrow(0, i, 1).unwrap();
                let row_masks: Vec<Tensor> =
                    masks.iter().map(|m| m.narrow(0, i, 1).unwrap()).collect();
                let loss = critic
                    .forward(&row, &row_masks)
                    .unwrap()
                    .neg()
                    .unwrap()
                    .sum_all()
                    .unwrap();
                let grads = loss.backward().unwrap();
                params
                    .iter()
                    .flat_map(|(w, b)| std::iter::once(w.clone()).chain(b.clone()))
                    .map(|p| grads.get(&p).unwrap().clone())
                    .collect()
            })
            .collect()
    }

    fn norm(ts: &[Tensor]) -> f64 {
        ts.iter()
            .map(|t| {
                t.sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap() as f64
            })
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn norms_and_clipped_sum_match_per_row_backward_passes() {
        let device = Device::Cpu;
        let (critic, _params) = critic(&device);
        let mut rng = SeededRng::new(2);
        let x = (rng.normal_tensor(7, 5, &device).unwrap() * 3.0).unwrap();
        let masks = vec![
            rng.dropout_tensor(7, 8, 0.3, &device).unwrap(),
            rng.dropout_tensor(7, 6, 0.3, &device).unwrap(),
        ];
        let (scores, taps) = critic.forward_with_taps(&x, &masks).unwrap();
        let grads = scores.neg().unwrap().sum_all().unwrap().backward().unwrap();
        let norms: Vec<f32> = row_norms(&taps, &grads).unwrap().to_vec1().unwrap();
        let per_row = per_row_gradients(&critic, &x, &masks);
        for (i, g) in per_row.iter().enumerate() {
            let expected = norm(g);
            assert!(
                (norms[i] as f64 - expected).abs() < 1e-4 * expected.max(1.0),
                "row {i}"
            );
        }

        let max_norm = 0.5 * norms.iter().copied().fold(0f32, f32::max) as f64;
        let sums = noisy_clipped_sum(
            &critic.linear_parameters(),
            Some((&taps, &grads)),
            max_norm,
            0.0,
            &[],
            1.0,
            &device,
        )
        .unwrap();
        for (k, (_, got)) in sums.iter().enumerate() {
            let mut expected = per_row[0][k].zeros_like().unwrap();
            for g in &per_row {
                let factor = (max_norm / (norm(g) + 1e-6)).min(1.0);
                expected = (expected + (&g[k] * factor).unwrap()).unwrap();
            }
            let diff = (got - &expected)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-4, "parameter {k}: {diff}");
        }
    }

    #[test]
    fn every_clipped_row_contributes_at_most_the_bound() {
        let device = Device::Cpu;
        let (critic, _params) = critic(&device);
        let mut rng = SeededRng::new(3);
        let x = (rng.normal_tensor(1, 5, &device).unwrap() * 100.0).unwrap();
        let masks = critic.dropout_masks(1, &mut rng, &device).unwrap();
        let (scores, taps) = critic.forward_with_taps(&x, &masks).unwrap();
        let grads = scores.neg().unwrap().sum_all().unwrap().backward().unwrap();
        let sums = noisy_clipped_sum(
            &critic.linear_parameters(),
            Some((&taps, &grads)),
            0.1,
            0.0,
            &[],
            1.0,
            &device,
        )
        .unwrap();
        let total: Vec<Tensor> = sums.into_iter().map(|(_, g)| g).collect();
        assert!((norm(&total) - 0.1).abs() < 1e-4, "norm {}", norm(&total));
    }

    #[test]
    fn noise_has_the_requested_scale() {
        let device = Device::Cpu;
        let (critic, _params) = critic(&device);
        // 5*8 + 8 + 8*6 + 6 + 6 + 1 = 109 coordinates
        let gaussian = SeededRng::new(4).normal_vec(109);
        let sums = noisy_clipped_sum(
            &critic.linear_parameters(),
            None,
            2.0,
            1.5,
            &gaussian,
            0.1,
            &device,
        )
        .unwrap();
        let values: Vec<f64> = sums
            .iter()
            .flat_map(|(_, g)| g.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .map(f64::from)
            .collect();
        let sd = (values.iter().map(|v| v * v).sum::<f64>() / values.len() as f64).sqrt();
        // 1.5 * 2.0 * 0.1 = 0.3
        assert!((sd - 0.3).abs() < 0.05, "sd {sd}");
    }

    #[test]
    fn poisson_sampling_has_the_expected_rate_and_no_repeats() {
        let mut rng = PrivacyRng::new(RandomSource::System, &mut SeededRng::new(5)).unwrap();
        let rows = poisson_sample(100_000, 0.02, &mut rng);
        assert!(
            (rows.len() as f64 - 2000.0).abs() < 4.0 * 2000f64.sqrt(),
            "{}",
            rows.len()
        );
        assert!(rows.windows(2).all(|w| w[0] < w[1]));
        assert!(rows.iter().all(|&r| r < 100_000));
        assert_eq!(poisson_sample(10, 1.0, &mut rng).len(), 10);
        assert!(poisson_sample(10, 0.0, &mut rng).is_empty());
    }
}
