//! Rényi differential privacy (RDP) of the Poisson-subsampled Gaussian mechanism
//! (Mironov, Talwar & Zhang 2019), composed over identical steps and converted to
//! (epsilon, delta) as the smallest over [`ORDERS`] of
//! `steps rdp(alpha) + ln((alpha - 1) / alpha) - (ln delta + ln alpha) / (alpha - 1)`
//! (Balle et al. 2020; Canonne, Kamath & Steinke 2020).
//!
//! With `Z ~ N(0, sigma^2)` and the likelihood ratio `Y = 1 - q + q exp((2Z - 1) /
//! (2 sigma^2))` between the subsampled mechanism's output on neighbouring data sets,
//! one step has RDP `ln E[Y^alpha] / (alpha - 1)` at order `alpha`. `E[Y^alpha] - 1`
//! is computed directly, so that the tiny RDP of small sampling rates keeps its
//! relative precision:
//! - integer orders: the binomial expansion, a sum of positive terms;
//! - fractional orders: the trapezoidal rule on `E[Y^alpha - 1 - alpha (Y - 1)]`,
//!   whose integrand is never negative; it converges geometrically because the
//!   integrand is analytic in a strip around the real line. Small noise narrows that
//!   strip, so there the two-sided series of Mironov et al. (section 3.3), which then
//!   converges fast, is tried first.

use std::f64::consts::{LN_2, PI, SQRT_2};

use candle_core::cpu::erf::erfc_f64 as erfc;

use crate::error::{Error, Result};

const N_ORDERS: usize = 156;

/// The orders epsilon is minimised over: 1.1, 1.2, ..., 10.9, then 11, 12, ..., 63,
/// then 128, 256, 512 and 1024.
pub const ORDERS: [f64; N_ORDERS] = {
    let mut orders = [0.0; N_ORDERS];
    let mut i = 0;
    while i < 99 {
        orders[i] = (i + 11) as f64 / 10.0;
        i += 1;
    }
    while i < 152 {
        orders[i] = (i - 88) as f64;
        i += 1;
    }
    let mut order = 128.0;
    while i < N_ORDERS {
        orders[i] = order;
        order *= 2.0;
        i += 1;
    }
    orders
};

/// The largest fractional order in [`ORDERS`].
const MAX_FRACTIONAL_ORDER: f64 = 10.9;

/// The largest order [`rdp`] accepts.
pub const MAX_ORDER: f64 = 4096.0;

/// The noise multipliers [`noise_multiplier`] searches.
pub const NOISE_MULTIPLIER_RANGE: (f64, f64) = (0.01, 1e4);

/// Relative width of the final bracket in [`noise_multiplier`].
const NOISE_TOLERANCE: f64 = 1e-7;

/// Privacy spent: `epsilon` at the requested delta, reached at RDP order `order`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spent {
    pub epsilon: f64,
    pub order: f64,
}

/// RDP of one step at `order` (finite, above 1, at most [`MAX_ORDER`]); infinite
/// without noise, NaN for arguments outside their domain.
pub fn rdp(sample_rate: f64, noise_multiplier: f64, order: f64) -> f64 {
    if check_rate(sample_rate).is_err()
        || check_noise(noise_multiplier).is_err()
        || !(order > 1.0 && order <= MAX_ORDER)
    {
        return f64::NAN;
    }
    Sampled::new(sample_rate, noise_multiplier, order).rdp(order)
}

/// Epsilon after `steps` steps with noise multiplier `noise_multiplier` and sampling
/// rate `sample_rate`, at `delta`: the smallest over [`ORDERS`], at least 0 (and 0
/// when the total RDP is below `-ln(1 - delta^2)`); infinite without noise.
pub fn epsilon(noise_multiplier: f64, sample_rate: f64, steps: u64, delta: f64) -> Result<Spent> {
    epsilon_composed(
        &[Use {
            noise_multiplier,
            sample_rate,
            steps,
        }],
        delta,
    )
}

/// Steps of one subsampled Gaussian mechanism on the same data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Use {
    pub noise_multiplier: f64,
    pub sample_rate: f64,
    pub steps: u64,
}

/// Epsilon at `delta` of all `uses` together (several fits on the same data): their RDP
/// adds up order by order before the conversion, which is tighter than adding epsilons.
pub fn epsilon_composed(uses: &[Use], delta: f64) -> Result<Spent> {
    check_delta(delta)?;
    let mut mechanisms = Vec::with_capacity(uses.len());
    for u in uses {
        check_noise(u.noise_multiplier)?;
        check_rate(u.sample_rate)?;
        mechanisms.push((
            u.steps,
            Sampled::new(u.sample_rate, u.noise_multiplier, MAX_FRACTIONAL_ORDER),
        ));
    }
    let mut best = Spent {
        epsilon: f64::INFINITY,
        order: ORDERS[0],
    };
    for &order in &ORDERS {
        let total: f64 = mechanisms
            .iter_mut()
            .filter(|(steps, _)| *steps > 0)
            .map(|(steps, sampled)| *steps as f64 * sampled.rdp(order))
            .sum();
        // Total variation is at most sqrt(1 - exp(-KL)) (Bretagnolle and Huber), and KL
        // at most the RDP at any order: a tiny total RDP already gives (0, delta).
        let eps = if total < -(-delta * delta).ln_1p() {
            0.0
        } else {
            total + (-1.0 / order).ln_1p() - (delta.ln() + order.ln()) / (order - 1.0)
        };
        // (An order whose RDP could not be computed is NaN and never chosen.)
        if eps < best.epsilon {
            best = Spent {
                epsilon: eps,
                order,
            };
        }
    }
    best.epsilon = best.epsilon.max(0.0);
    Ok(best)
}

/// The smallest noise multiplier whose [`epsilon`] is at most `epsilon`, found by
/// bisection to 1e-7 relative and rounded up; 0 when no noise is needed, the lower end
/// of [`NOISE_MULTIPLIER_RANGE`] when that already suffices, an error when its upper
/// end does not.
pub fn noise_multiplier(epsilon: f64, delta: f64, sample_rate: f64, steps: u64) -> Result<f64> {
    noise_multiplier_after(&[], epsilon, delta, sample_rate, steps)
}

/// As [`noise_multiplier`], for `steps` that come after the `earlier` uses of the same
/// data: the smallest noise multiplier that keeps all of them within `epsilon`.
pub fn noise_multiplier_after(
    earlier: &[Use],
    epsilon: f64,
    delta: f64,
    sample_rate: f64,
    steps: u64,
) -> Result<f64> {
    if !(epsilon > 0.0 && epsilon.is_finite()) {
        return Err(Error::Config(format!(
            "epsilon must be a positive number, got {epsilon}"
        )));
    }
    check_rate(sample_rate)?;
    check_delta(delta)?;
    let spends = |sigma: f64| -> Result<f64> {
        let mut uses = earlier.to_vec();
        uses.push(Use {
            noise_multiplier: sigma,
            sample_rate,
            steps,
        });
        Ok(epsilon_composed(&uses, delta)?.epsilon)
    };
    if spends(0.0)? <= epsilon {
        return Ok(0.0);
    }
    let (mut lo, mut hi) = NOISE_MULTIPLIER_RANGE;
    let most = spends(hi)?;
    if most > epsilon {
        return Err(Error::Config(format!(
            "epsilon {epsilon} is out of reach: even noise multiplier {hi} spends {most}"
        )));
    }
    if spends(lo)? <= epsilon {
        return Ok(lo);
    }
    // Invariant: spends(lo) > epsilon >= spends(hi).
    while hi > lo * (1.0 + NOISE_TOLERANCE) {
        let mid = (lo * hi).sqrt();
        if spends(mid)? <= epsilon {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

fn check_noise(sigma: f64) -> Result<()> {
    if sigma >= 0.0 && sigma.is_finite() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "noise multiplier must be a non-negative number, got {sigma}"
        )))
    }
}

fn check_rate(q: f64) -> Result<()> {
    if (0.0..=1.0).contains(&q) {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "sample rate must be in [0, 1], got {q}"
        )))
    }
}

fn check_delta(delta: f64) -> Result<()> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "delta must be in (0, 1), got {delta}"
        )))
    }
}

/// Below this noise multiplier fractional orders try the series first.
const SERIES_NOISE: f64 = 0.25;
/// Terms this many e-folds below the largest one are left out.
const NEGLIGIBLE: f64 = 45.0;
/// Terms of the series tried past the order before falling back to the trapezoidal
/// rule.
const SERIES_MAX_TERMS: usize = 200;
/// Target error of the trapezoidal rule, in e-folds below the integral.
const TRAPEZOID_LOG_ERROR: f64 = 40.0;
/// The trapezoidal rule covers `[-TAIL_SDS sigma, max(alpha, 2) + TAIL_SDS sigma]`.
const TAIL_SDS: f64 = 12.0;
/// Where `|Y - 1|` is at most this, the integrand uses its power series.
const SMALL_X: f64 = 0.125;
/// Terms of that power series at most.
const SMALL_X_TERMS: usize = 48;
/// Most trapezoidal nodes laid out (tiny noise would need ever more).
const MAX_NODES: usize = 1 << 20;
/// Largest exponent the trapezoidal sum evaluates without rescaling.
const MAX_EXP: f64 = 690.0;

/// One mechanism (sampling rate q, noise multiplier sigma), with what several orders share.
struct Sampled {
    q: f64,
    sigma: f64,
    ln_q: f64,
    ln_p: f64,
    /// Largest fractional order the trapezoidal nodes are laid out for.
    max_fractional: f64,
    nodes: Option<Nodes>,
    /// `ln k` and `ln(expm1((k^2 - k) / (2 sigma^2)))` by `k`, for integer orders.
    ln_k: Vec<f64>,
    ln_growth: Vec<f64>,
    /// Scratch space for the log-terms of one integer order.
    ln_terms: Vec<f64>,
}

impl Sampled {
    fn new(q: f64, sigma: f64, max_fractional: f64) -> Self {
        Sampled {
            q,
            sigma,
            ln_q: q.ln(),
            ln_p: (-q).ln_1p(),
            max_fractional,
            nodes: None,
            ln_k: Vec::new(),
            ln_growth: Vec::new(),
            ln_terms: Vec::new(),
        }
    }

    fn rdp(&mut self, order: f64) -> f64 {
        if self.q == 0.0 {
            return 0.0;
        }
        if self.sigma == 0.0 || !(1.0 / (2.0 * self.sigma * self.sigma)).is_finite() {
            return f64::INFINITY;
        }
        if self.q == 1.0 {
            return order / (2.0 * self.sigma * self.sigma);
        }
        let ln_a = if order.fract() == 0.0 {
            self.ln_a_integer(order as usize)
        } else {
            self.ln_a_fractional(order)
        };
        ln_a / (order - 1.0)
    }

    /// `ln E[Y^n] = ln(1 + sum_{k>=2} C(n, k) p^(n-k) q^k expm1((k^2 - k) / (2 sigma^2)))`.
    fn ln_a_integer(&mut self, n: usize) -> f64 {
        let two_var = 2.0 * self.sigma * self.sigma;
        for k in self.ln_k.len()..=n {
            self.ln_k.push((k as f64).ln());
            self.ln_growth
                .push(ln_expm1((k as f64 * k as f64 - k as f64) / two_var));
        }
        self.ln_terms.clear();
        let mut ln_binom = 0.0;
        let mut max = f64::NEG_INFINITY;
        for k in 1..=n {
            ln_binom += self.ln_k[n - k + 1] - self.ln_k[k];
            if k >= 2 {
                let term = ln_binom
                    + (n - k) as f64 * self.ln_p
                    + k as f64 * self.ln_q
                    + self.ln_growth[k];
                max = max.max(term);
                self.ln_terms.push(term);
            }
        }
        let scaled: f64 = self
            .ln_terms
            .iter()
            .filter(|&&t| t - max > -NEGLIGIBLE)
            .map(|&t| (t - max).exp())
            .sum();
        ln_1p_exp(max + scaled.ln())
    }

    fn ln_a_fractional(&mut self, order: f64) -> f64 {
        if self.sigma < SERIES_NOISE {
            if let Some(ln_a) = self.ln_a_series(order) {
                return ln_a;
            }
        }
        // The range also covers the peak of the (Y - 1)^2 part of the integrand at z = 2.
        let cover = order.max(self.max_fractional).max(2.0);
        if self.nodes.as_ref().is_none_or(|n| n.cover < cover) {
            self.nodes = Nodes::new(self.q, self.sigma, cover);
        }
        self.nodes.as_ref().map_or(f64::NAN, |n| n.ln_a(order))
    }

    /// `ln E[Y^alpha]` from the series over `Z <= z0` and `Z > z0` (where `q exp(...)`
    /// crosses `1 - q`), less `E[1 + alpha (Y - 1)] = 1`; `None` when the series has
    /// not converged within `alpha +` [`SERIES_MAX_TERMS`] terms.
    fn ln_a_series(&self, a: f64) -> Option<f64> {
        let (q, sigma, ln_p, ln_q) = (self.q, self.sigma, self.ln_p, self.ln_q);
        let two_var = 2.0 * sigma * sigma;
        let z0 = sigma * sigma * (ln_p - ln_q) + 0.5;
        // E[exp(s (2Z - 1) / (2 sigma^2)); Z <= z0] = exp((s^2 - s) / (2 sigma^2)) Phi((z0 - s) / sigma).
        let below = |s: f64| (s * s - s) / two_var + ln_normal_cdf((z0 - s) / sigma);
        let above = |s: f64| (s * s - s) / two_var + ln_normal_cdf((s - z0) / sigma);
        let mut sum = SignedSum::default();
        // Below z0, the k = 0 and 1 terms of (p + qL)^a with 1 + a (Y - 1) taken out.
        sum.add_value(binomial_tail(a, q), below(0.0));
        sum.add_value(a * q * ((a - 1.0) * ln_p).exp_m1(), below(1.0));
        // Above z0, 1 + a (Y - 1) = (1 - a q) + a q L.
        sum.add_value(-(1.0 - a * q), above(0.0));
        sum.add_value(-a * q, above(1.0));
        let (mut ln_binom, mut negative) = (0.0, false);
        for k in 0..SERIES_MAX_TERMS + a as usize {
            let kf = k as f64;
            let right = ln_binom + kf * ln_p + (a - kf) * ln_q + above(a - kf);
            sum.add(right, negative);
            let mut last = right;
            if k >= 2 {
                let left = ln_binom + (a - kf) * ln_p + kf * ln_q + below(kf);
                sum.add(left, negative);
                last = last.max(left);
            }
            if kf > a && last - sum.max < -NEGLIGIBLE {
                return sum.ln().map(ln_1p_exp);
            }
            ln_binom += (a - kf).abs().ln() - (kf + 1.0).ln();
            negative ^= a < kf;
        }
        None
    }
}

/// Trapezoidal nodes for `E[f(Z)]`, `Z ~ N(0, sigma^2)`, shared by fractional orders.
struct Nodes {
    /// Largest order the range is laid out for.
    cover: f64,
    sigma: f64,
    /// Step between nodes.
    h: f64,
    /// `X = Y - 1` at each node.
    x: Vec<f64>,
    ln_y: Vec<f64>,
    /// Log of the weight: step times the normal density.
    ln_w: Vec<f64>,
    w: Vec<f64>,
    /// Weight times `Y`.
    wy: Vec<f64>,
}

impl Nodes {
    /// `None` when more than [`MAX_NODES`] nodes would be needed.
    fn new(q: f64, sigma: f64, cover: f64) -> Option<Self> {
        let var = sigma * sigma;
        // The integrand is analytic for |Im z| < pi sigma^2 (where Y first vanishes); on
        // the line Im z = s the normal density grows by exp(s^2 / (2 sigma^2)), so the
        // error is about exp(s^2 / (2 sigma^2) - 2 pi s / h).
        let s = (0.8 * PI * var).min(sigma * (2.0 * TRAPEZOID_LOG_ERROR).sqrt());
        let h = 2.0 * PI * s / (TRAPEZOID_LOG_ERROR + s * s / (2.0 * var));
        let lo = -TAIL_SDS * sigma;
        let n = Self::count(cover, sigma, h);
        if n > MAX_NODES as f64 {
            return None;
        }
        let n = n as usize;
        let (ln_p, ln_q) = ((-q).ln_1p(), q.ln());
        let ln_norm = h.ln() - sigma.ln() - 0.5 * (2.0 * PI).ln();
        let mut nodes = Nodes {
            cover,
            sigma,
            h,
            x: Vec::with_capacity(n),
            ln_y: Vec::with_capacity(n),
            ln_w: Vec::with_capacity(n),
            w: Vec::with_capacity(n),
            wy: Vec::with_capacity(n),
        };
        for i in 0..n {
            let z = lo + i as f64 * h;
            let u = (2.0 * z - 1.0) / (2.0 * var);
            let x = q * u.exp_m1();
            let ln_y = if u <= 30.0 {
                x.ln_1p()
            } else {
                ln_add_exp(ln_p, ln_q + u)
            };
            let ln_w = ln_norm - z * z / (2.0 * var);
            nodes.x.push(x);
            nodes.ln_y.push(ln_y);
            nodes.ln_w.push(ln_w);
            nodes.w.push(ln_w.exp());
            nodes.wy.push((ln_w + ln_y).exp());
        }
        Some(nodes)
    }

    /// Nodes from `-TAIL_SDS sigma` to `cover + TAIL_SDS sigma`.
    fn count(cover: f64, sigma: f64, h: f64) -> f64 {
        ((cover + 2.0 * TAIL_SDS * sigma) / h).ceil() + 1.0
    }

    /// `ln E[Y^a]`, summing `Y^a - 1 - a (Y - 1)` (or, when `E[Y^a]` is huge, `Y^a`)
    /// over the nodes up to `max(a, 2) + TAIL_SDS sigma`.
    fn ln_a(&self, a: f64) -> f64 {
        let n = (Self::count(a.max(2.0), self.sigma, self.h) as usize).min(self.x.len());
        let (x, ln_y, ln_w) = (&self.x[..n], &self.ln_y[..n], &self.ln_w[..n]);
        let ln_terms = || ln_y.iter().zip(ln_w).map(|(y, w)| a * y + w);
        let max = ln_terms().fold(f64::NEG_INFINITY, f64::max);
        if max > MAX_EXP {
            // Next to E[Y^a] > exp(MAX_EXP), E[1 + a (Y - 1)] = 1 does not count.
            let sum: f64 = ln_terms().map(|t| (t - max).exp()).sum();
            return max + sum.ln();
        }
        // (1 + x)^a - 1 - a x = c2 x^2 (1 + ratio[0] x (1 + ratio[1] x (...))).
        let c2 = 0.5 * a * (a - 1.0);
        let mut ratios = [0.0; SMALL_X_TERMS];
        for (k, r) in ratios.iter_mut().enumerate() {
            let k = (k + 2) as f64;
            *r = (a - k) / (k + 1.0);
        }
        let mut b = 0.0;
        for i in 0..n {
            b += if x[i].abs() <= SMALL_X {
                let mut term = c2 * x[i] * x[i];
                let mut g = term;
                for r in &ratios {
                    term *= r * x[i];
                    g += term;
                    if term.abs() <= 1e-17 * g {
                        break;
                    }
                }
                self.w[i] * g
            } else {
                (a * ln_y[i] + ln_w[i]).exp() - a * self.wy[i] - (1.0 - a) * self.w[i]
            };
        }
        b.ln_1p()
    }
}

/// `(1 - q)^a - 1 + a q`, without cancellation for small q.
fn binomial_tail(a: f64, q: f64) -> f64 {
    if q > 0.5 {
        return (a * (-q).ln_1p()).exp_m1() + a * q;
    }
    let mut term = 0.5 * a * (a - 1.0) * q * q;
    let mut sum = term;
    let mut k = 2.0;
    while term.abs() > 1e-17 * sum.abs() && k < 200.0 {
        term *= -q * (a - k) / (k + 1.0);
        sum += term;
        k += 1.0;
    }
    sum
}

/// `ln Phi(x)`, Phi the standard normal distribution function.
fn ln_normal_cdf(x: f64) -> f64 {
    let y = -x / SQRT_2;
    if y <= 0.0 {
        (-0.5 * erfc(-y)).ln_1p()
    } else if y < 26.0 {
        (0.5 * erfc(y)).ln()
    } else {
        // erfc(y) = exp(-y^2) / (y sqrt(pi)) (1 - 1/(2y^2) + 3/(2y^2)^2 - ...).
        let inv = 1.0 / (2.0 * y * y);
        let (mut term, mut series) = (1.0, 1.0);
        for n in 1..12 {
            term *= -((2 * n - 1) as f64) * inv;
            series += term;
        }
        -y * y - (y * PI.sqrt()).ln() - LN_2 + series.ln()
    }
}

/// `ln(expm1(x))` for `x > 0`.
fn ln_expm1(x: f64) -> f64 {
    if x > NEGLIGIBLE {
        x
    } else if x > 1.0 {
        x + (-(-x).exp()).ln_1p()
    } else {
        x.exp_m1().ln()
    }
}

/// `ln(1 + exp(x))`.
fn ln_1p_exp(x: f64) -> f64 {
    ln_add_exp(0.0, x)
}

/// `ln(exp(x) + exp(y))`.
fn ln_add_exp(x: f64, y: f64) -> f64 {
    let (hi, lo) = if x > y { (x, y) } else { (y, x) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// A sum of terms of either sign given by sign and log-magnitude.
struct SignedSum {
    terms: Vec<(f64, bool)>,
    max: f64,
}

impl Default for SignedSum {
    fn default() -> Self {
        SignedSum {
            terms: Vec::new(),
            max: f64::NEG_INFINITY,
        }
    }
}

impl SignedSum {
    fn add(&mut self, ln_magnitude: f64, negative: bool) {
        self.max = self.max.max(ln_magnitude);
        self.terms.push((ln_magnitude, negative));
    }

    /// Adds `factor * exp(ln_rest)`.
    fn add_value(&mut self, factor: f64, ln_rest: f64) {
        if factor != 0.0 {
            self.add(factor.abs().ln() + ln_rest, factor < 0.0);
        }
    }

    /// The log of the sum, `None` unless it is positive.
    fn ln(&self) -> Option<f64> {
        let sum: f64 = self
            .terms
            .iter()
            .map(|&(l, neg)| {
                let t = (l - self.max).exp();
                if neg {
                    -t
                } else {
                    t
                }
            })
            .sum();
        (sum > 0.0).then(|| self.max + sum.ln())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs()
    }

    #[test]
    fn log_normal_cdf_is_accurate_on_both_sides_of_each_branch() {
        // ln Phi(x) from mpmath at 30 digits, rounded.
        let reference = [
            (3.0, -0.0013508099647481938),
            (0.5, -0.3689464152886564),
            (-1.0, -1.8410216450092636),
            (-10.0, -53.23128515051247),
            (-36.7, -677.9674563663302),
            (-36.8, -681.6451734417034),
            (-100.0, -5005.524208694205),
        ];
        for (x, want) in reference {
            let got = ln_normal_cdf(x);
            assert!(close(got, want, 1e-14), "ln Phi({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn binomial_tail_has_no_cancellation() {
        // (1 - q)^a - 1 + a q = a (a - 1) q^2 / 2 + O(q^3).
        let got = binomial_tail(2.5, 1e-9);
        assert!(close(got, 2.5 * 1.5 / 2.0 * 1e-18, 1e-8), "{got}");
        for (a, q) in [(1.3f64, 0.3f64), (7.7, 0.5), (1.1, 0.9)] {
            let direct = (1.0 - q).powf(a) - 1.0 + a * q;
            assert!(close(binomial_tail(a, q), direct, 1e-12));
        }
    }

    /// Both fractional methods also work at integer orders, where the binomial sum is
    /// exact.
    #[test]
    fn fractional_methods_agree_with_the_binomial_sum_at_integer_orders() {
        for sigma in [0.08, 0.12, 0.2, 0.3, 1.0, 4.0, 50.0] {
            for q in [1e-7, 1e-3, 0.1, 0.5, 0.95] {
                let mut sampled = Sampled::new(q, sigma, 10.0);
                for n in [2usize, 3, 7, 10] {
                    let exact = sampled.ln_a_integer(n);
                    let nodes = Nodes::new(q, sigma, 10.0).unwrap();
                    let trapezoid = nodes.ln_a(n as f64);
                    assert!(
                        close(trapezoid, exact, 1e-10),
                        "trapezoid, q {q}, sigma {sigma}, order {n}: {trapezoid} vs {exact}"
                    );
                    if sigma < SERIES_NOISE {
                        if let Some(series) = sampled.ln_a_series(n as f64) {
                            assert!(
                                close(series, exact, 1e-10),
                                "series, q {q}, sigma {sigma}, order {n}: {series} vs {exact}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn series_and_trapezoid_agree_where_both_apply() {
        let mut compared = 0;
        for sigma in [0.09, 0.14, 0.2, 0.24] {
            for q in [1e-6, 1e-2, 0.3, 0.9] {
                let sampled = Sampled::new(q, sigma, 10.9);
                let nodes = Nodes::new(q, sigma, 10.9).unwrap();
                for a in [1.1, 1.5, 3.7, 10.9] {
                    if let Some(series) = sampled.ln_a_series(a) {
                        let trapezoid = nodes.ln_a(a);
                        assert!(
                            close(series, trapezoid, 1e-10),
                            "q {q}, sigma {sigma}, order {a}: {series} vs {trapezoid}"
                        );
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared >= 30, "only {compared} comparisons");
    }
}
