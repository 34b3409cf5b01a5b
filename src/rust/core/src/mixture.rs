//! One-dimensional Gaussian mixtures for mode-specific normalisation (as in CTGAN).
//! The number of modes (up to a maximum) is chosen by BIC, fitting by EM on at most
//! `MAX_FIT_ROWS` values; modes with negligible weight are dropped.

use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;

const MAX_FIT_ROWS: usize = 10_000;
const MAX_ITER: usize = 100;
const MIN_WEIGHT: f64 = 0.005;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mixture {
    pub means: Vec<f64>,
    pub sds: Vec<f64>,
    pub weights: Vec<f64>,
}

impl Mixture {
    pub fn n_modes(&self) -> usize {
        self.means.len()
    }

    /// Fits up to `max_modes` components to the finite values `x` (not empty).
    pub fn fit(x: &[f64], max_modes: usize, rng: &mut SeededRng) -> Mixture {
        let sample: Vec<f64> = rng
            .subset(x.len(), MAX_FIT_ROWS)
            .into_iter()
            .map(|i| x[i])
            .collect();
        let mut sorted = sample.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let sd = (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let range = sorted[sorted.len() - 1] - sorted[0];
        // Keeps components on a single repeated value from collapsing to zero width.
        let floor = (0.01 * sd).max(1e-6 * range).max(1e-12);
        let one = Mixture {
            means: vec![mean],
            sds: vec![sd.max(floor)],
            weights: vec![1.0],
        };
        let distinct = 1 + sorted.windows(2).filter(|w| w[1] > w[0]).count();
        let max_k = max_modes.max(1).min(distinct);
        if max_k == 1 || sd <= floor {
            return one;
        }
        let quantile = |p: f64| sorted[((p * (n - 1.0)).round() as usize).min(sorted.len() - 1)];
        let bic = |m: &Mixture| -> f64 {
            let loglik: f64 = sample.iter().map(|&v| m.log_density(v)).sum();
            -2.0 * loglik + (3 * m.n_modes() - 1) as f64 * n.ln()
        };
        let mut best_bic = bic(&one);
        let mut best = one;
        let mut worse_in_a_row = 0;
        for k in 2..=max_k {
            let mut m = Mixture {
                means: (0..k)
                    .map(|j| quantile((j as f64 + 0.5) / k as f64))
                    .collect(),
                sds: vec![(sd / k as f64).max(floor); k],
                weights: vec![1.0 / k as f64; k],
            };
            m.run_em(&sample, floor);
            m.drop_small_modes();
            let b = bic(&m);
            if b < best_bic {
                best_bic = b;
                best = m;
                worse_in_a_row = 0;
            } else {
                worse_in_a_row += 1;
                if worse_in_a_row == 2 {
                    break;
                }
            }
        }
        best.sorted()
    }

    fn drop_small_modes(&mut self) {
        let keep: Vec<usize> = (0..self.n_modes())
            .filter(|&j| self.weights[j] >= MIN_WEIGHT)
            .collect();
        let total: f64 = keep.iter().map(|&j| self.weights[j]).sum();
        *self = Mixture {
            means: keep.iter().map(|&j| self.means[j]).collect(),
            sds: keep.iter().map(|&j| self.sds[j]).collect(),
            weights: keep.iter().map(|&j| self.weights[j] / total).collect(),
        };
    }

    fn sorted(self) -> Mixture {
        let mut order: Vec<usize> = (0..self.n_modes()).collect();
        order.sort_by(|&a, &b| self.means[a].total_cmp(&self.means[b]));
        Mixture {
            means: order.iter().map(|&j| self.means[j]).collect(),
            sds: order.iter().map(|&j| self.sds[j]).collect(),
            weights: order.iter().map(|&j| self.weights[j]).collect(),
        }
    }

    fn log_density(&self, x: f64) -> f64 {
        let mut buf = vec![0.0; self.n_modes()];
        self.log_posterior_into(x, &mut buf)
    }

    fn run_em(&mut self, x: &[f64], floor: f64) {
        let k = self.n_modes();
        let n = x.len();
        let mut resp = vec![0.0; n * k];
        let mut last = f64::NEG_INFINITY;
        for _ in 0..MAX_ITER {
            let mut loglik = 0.0;
            for (i, &xi) in x.iter().enumerate() {
                let row = &mut resp[i * k..(i + 1) * k];
                loglik += self.log_posterior_into(xi, row);
                for r in row.iter_mut() {
                    *r = r.exp();
                }
            }
            for j in 0..k {
                let w: f64 = (0..n).map(|i| resp[i * k + j]).sum();
                if w <= 1e-12 {
                    self.weights[j] = 0.0;
                    continue;
                }
                let mu = (0..n).map(|i| resp[i * k + j] * x[i]).sum::<f64>() / w;
                let var = (0..n)
                    .map(|i| resp[i * k + j] * (x[i] - mu).powi(2))
                    .sum::<f64>()
                    / w;
                self.means[j] = mu;
                self.sds[j] = var.sqrt().max(floor);
                self.weights[j] = w / n as f64;
            }
            loglik /= n as f64;
            if (loglik - last).abs() < 1e-6 {
                break;
            }
            last = loglik;
        }
    }

    /// Mean and standard deviation of the whole mixture.
    pub fn moments(&self) -> (f64, f64) {
        let total: f64 = self.weights.iter().sum();
        let mean = self
            .weights
            .iter()
            .zip(&self.means)
            .map(|(w, m)| w * m)
            .sum::<f64>()
            / total;
        let second = (self.weights.iter().zip(&self.means).zip(&self.sds))
            .map(|((w, m), s)| w * (s * s + m * m))
            .sum::<f64>()
            / total;
        (mean, (second - mean * mean).max(0.0).sqrt().max(1e-12))
    }

    /// The mixture's cumulative distribution function at `x`.
    pub fn cdf(&self, x: f64) -> f64 {
        let total: f64 = self.weights.iter().sum();
        let p = (self.weights.iter().zip(&self.means).zip(&self.sds))
            .map(|((w, m), s)| w * normal_cdf((x - m) / s))
            .sum::<f64>()
            / total;
        p.clamp(0.0, 1.0)
    }

    /// Writes log P(mode | x) into `out` and returns log p(x).
    pub fn log_posterior_into(&self, x: f64, out: &mut [f64]) -> f64 {
        let mut max = f64::NEG_INFINITY;
        for (j, o) in out.iter_mut().enumerate() {
            let z = (x - self.means[j]) / self.sds[j];
            *o = if self.weights[j] > 0.0 {
                self.weights[j].ln() - self.sds[j].ln() - 0.5 * z * z
            } else {
                f64::NEG_INFINITY
            };
            max = max.max(*o);
        }
        let total = max + out.iter().map(|o| (o - max).exp()).sum::<f64>().ln();
        for o in out.iter_mut() {
            *o -= total;
        }
        total - 0.5 * (2.0 * std::f64::consts::PI).ln()
    }
}

/// The standard normal distribution function, from the complementary error function
/// in Chebyshev form (Numerical Recipes' `erfcc`; relative error below 1.2e-7).
fn normal_cdf(z: f64) -> f64 {
    const C: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = C.iter().rev().fold(0.0, |acc, c| acc * t + c);
    let erfc = t * (-x * x + poly).exp();
    if z >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_two_well_separated_modes() {
        let mut rng = SeededRng::new(1);
        let mut x: Vec<f64> = rng.normal_vec(3000).iter().map(|&z| z as f64).collect();
        x.extend(rng.normal_vec(1000).iter().map(|&z| 20.0 + 2.0 * z as f64));
        let m = Mixture::fit(&x, 10, &mut rng);
        let big: Vec<usize> = (0..m.n_modes()).filter(|&j| m.weights[j] > 0.1).collect();
        assert_eq!(big.len(), 2, "{m:?}");
        assert!((m.means[big[0]] - 0.0).abs() < 0.2);
        assert!((m.means[big[1]] - 20.0).abs() < 0.4);
        assert!((m.weights[big[0]] - 0.75).abs() < 0.05);
    }

    #[test]
    fn constant_and_two_valued_data_give_usable_mixtures() {
        let mut rng = SeededRng::new(2);
        let m = Mixture::fit(&[5.0; 100], 10, &mut rng);
        assert_eq!(m.n_modes(), 1);
        assert!(m.sds[0] > 0.0);
        let x: Vec<f64> = (0..200).map(|i| (i % 2) as f64).collect();
        let m = Mixture::fit(&x, 10, &mut rng);
        assert!(m.n_modes() <= 2);
        assert!(m.sds.iter().all(|s| s.is_finite() && *s > 0.0));
    }

    #[test]
    fn normal_distribution_function_matches_tables() {
        for (z, p) in [
            (0.0, 0.5),
            (1.959_964, 0.975),
            (-1.0, 0.158_655_25),
            (3.0, 0.998_650_1),
        ] {
            assert!((normal_cdf(z) - p).abs() < 1e-7, "{z}: {}", normal_cdf(z));
        }
        let m = Mixture {
            means: vec![0.0, 10.0],
            sds: vec![1.0, 1.0],
            weights: vec![0.5, 0.5],
        };
        assert!((m.cdf(5.0) - 0.5).abs() < 1e-6);
        assert!(m.cdf(-10.0) < 1e-9 && m.cdf(20.0) > 1.0 - 1e-9);
    }
}
