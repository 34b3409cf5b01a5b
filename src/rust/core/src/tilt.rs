//! Exponential tilting of generated rows towards the training rows' first and second
//! moments. After the rejection classifiers, each generated row gets the log weight
//! `coef . phi(row)`, where `phi` holds simple features of a row (standardised values,
//! distribution positions, indicators of categories, exact values and missingness)
//! and their pairwise products, and where the rows allow, the tails of numbers'
//! positions and their products with other columns; the coefficients make the
//! weighted generated rows have the training rows' means of `phi`: the smallest
//! change of the generated
//! distribution, in Kullback-Leibler divergence, with those moments. Means, variances
//! and covariances of these features are what linear regressions among the columns
//! are computed from. A ridge penalty of the order of 1/n keeps the match within the
//! training rows' sampling error, and the number of features grows with the rows. A
//! private fit's tilt has no classifiers before it and matches feature means released
//! with noise ([`crate::privacy::moments`]), with squares of numbers as terms in place
//! of tails, and a ridge penalty that grows with the noise.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::encoding::{Encoder, Transform};
use crate::error::{Error, Result};

/// Categories, exact values and missingness held by fewer than this share of the
/// training rows or fewer than [`MIN_ROWS`] of them (or by all but those) are not
/// features: their means are mostly noise.
pub(crate) const MIN_SHARE: f64 = 0.005;
pub(crate) const MIN_ROWS: usize = 10;
/// Category indicators per column, at most (the commonest category is the baseline).
pub(crate) const MAX_LEVELS: usize = 10;
/// Training rows per feature, at least: fewer rows, fewer products.
pub(crate) const ROWS_PER_FEATURE: usize = 2;
pub(crate) const MAX_FEATURES: usize = 600;
/// The ridge penalty, times the number of training rows.
const PENALTY: f64 = 2.0;
/// The weights must keep this share of the pool's effective size; the penalty is
/// raised (up to [`PENALTY_RAISES`] times, by 4 each) until they do.
const MIN_EFFECTIVE_SHARE: f64 = 0.3;
const PENALTY_RAISES: usize = 6;
const NEWTON_STEPS: usize = 15;
/// Features whose spread in the pool is at most this are constant: not matched.
const MIN_SD: f64 = 1e-6;
/// Tails of a number's distribution position (in [-1, 1]) begin this far out.
const TAIL_KNOT: f32 = 0.6;

/// Fitted tilt: log weight = `coef . (terms, then products of pairs of terms)`, the
/// terms being the base features, the tails and the squares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tilt {
    /// Positions of the base features in a row of rejection features.
    pub base: Vec<usize>,
    /// Tails of distribution positions, `(base feature, sign)`: the term is how far
    /// `sign * position` lies beyond [`TAIL_KNOT`], zero inside it. Tails by other
    /// columns carry the curvature of a relation (a wage profile that falls with age).
    #[serde(default)]
    pub tails: Vec<(usize, i8)>,
    /// Squares of base features (their positions in `base`). Their products with other
    /// columns carry the curvature of a relation where tails cannot (a private fit's).
    #[serde(default)]
    pub squares: Vec<usize>,
    /// Pairs of terms (positions in base features, then tails, then squares) whose
    /// products are features.
    pub pairs: Vec<(usize, usize)>,
    /// One coefficient per term, then one per pair.
    pub coef: Vec<f64>,
    /// Per feature, the training rows' mean and the generated rows' standard deviation
    /// (zero where constant): what [`crate::balance`] matches drawn rows to. Empty in
    /// models saved before them, which are drawn without balancing.
    #[serde(default)]
    pub target: Vec<f64>,
    #[serde(default)]
    pub scale: Vec<f64>,
}

impl Tilt {
    /// Log weights of rows of rejection features, `width` per row (up to a constant).
    pub fn log_weights(&self, rows: &[f32], width: usize) -> Vec<f64> {
        let (main, products) = self.coef.split_at(self.terms());
        let mut b = Vec::with_capacity(self.terms());
        rows.chunks_exact(width)
            .map(|row| {
                b.clear();
                b.extend((0..self.terms()).map(|i| self.term(row, i)));
                let linear: f64 = main.iter().zip(&b).map(|(c, b)| c * b).sum();
                let quadratic: f64 = products
                    .iter()
                    .zip(&self.pairs)
                    .map(|(c, &(i, j))| c * b[i] * b[j])
                    .sum();
                linear + quadratic
            })
            .collect()
    }

    /// How far `rows` (`width` features each), weighted by the tilt, are from its
    /// targets: the mean squared difference of feature means in units of each feature's
    /// spread (features without one left out).
    pub fn mismatch(&self, rows: &[f32], width: usize) -> f64 {
        let weights = relative_weights(&self.log_weights(rows, width));
        let total: f64 = weights.iter().sum();
        let mut means = vec![0.0; self.n_features()];
        let mut phi = Vec::with_capacity(means.len());
        for (row, w) in rows.chunks_exact(width).zip(&weights) {
            phi.clear();
            self.features(row, &mut phi);
            means
                .iter_mut()
                .zip(&phi)
                .for_each(|(m, x)| *m += x * w / total);
        }
        let gaps: Vec<f64> = means
            .iter()
            .zip(self.target.iter().zip(&self.scale))
            .filter(|(_, (_, &sd))| sd > 0.0)
            .map(|(m, (t, sd))| ((m - t) / sd).powi(2))
            .collect();
        gaps.iter().sum::<f64>() / gaps.len().max(1) as f64
    }

    /// Checks positions and coefficients against a feature row of `width` values.
    pub fn check(&self, width: usize) -> Result<()> {
        let terms = self.terms();
        let ok = self.base.iter().all(|&i| i < width)
            && self
                .tails
                .iter()
                .all(|&(i, sign)| i < self.base.len() && sign.abs() == 1)
            && self.squares.iter().all(|&i| i < self.base.len())
            && self.pairs.iter().all(|&(i, j)| i < terms && j < terms)
            && self.coef.len() == terms + self.pairs.len()
            && self.coef.iter().all(|c| c.is_finite())
            && self.target.len() == self.scale.len()
            && (self.target.is_empty() || self.target.len() == self.coef.len())
            && self.target.iter().chain(&self.scale).all(|x| x.is_finite());
        if ok {
            Ok(())
        } else {
            Err(Error::ModelFormat(
                "the tilt of the rejection sampler does not match the encoding".into(),
            ))
        }
    }

    /// Fits the tilt of `pool` (rows of `width` rejection features, with log weights
    /// `log_prior` from the classifiers) towards the moments of `real`. `None` when
    /// there is nothing to match or no penalty keeps the weights spread.
    pub fn fit(
        encoder: &Encoder,
        width: usize,
        real: &[f32],
        pool: &[f32],
        log_prior: &[f64],
    ) -> Result<Option<Tilt>> {
        let n_real = real.len() / width;
        let m = pool.len() / width;
        if n_real < 2 || m < 2 || log_prior.len() != m {
            return Ok(None);
        }
        let (base, binary, column, position) = base_features(encoder, width, real, n_real);
        if base.is_empty() {
            return Ok(None);
        }
        let most = MAX_FEATURES.min((n_real / ROWS_PER_FEATURE).max(base.len()));
        let mut pairs = product_pairs(&binary, &column, &position);
        let every_pair = pairs.len() <= most - base.len();
        pairs.truncate(most - base.len());
        let positions: Vec<usize> = (0..base.len()).filter(|&i| position[i]).collect();
        // Tails only where the rows leave room for them after every pair.
        let room = most - base.len() - pairs.len();
        let mut tails = Vec::new();
        if every_pair && room >= 2 * positions.len() {
            tails = positions.iter().flat_map(|&i| [(i, 1), (i, -1)]).collect();
            let most_products = room - tails.len();
            pairs.extend(tail_pairs(
                base.len(),
                &tails,
                &binary,
                &column,
                most_products,
            ));
        }
        let tilt = Tilt {
            base,
            tails,
            squares: Vec::new(),
            pairs,
            coef: Vec::new(),
            target: Vec::new(),
            scale: Vec::new(),
        };
        // Feature rows are made as they are summed, not held: a pool of 40,000 rows
        // has up to 24 million of them.
        let target: Vec<f64> = tilt
            .feature_sums(real, width, |_, x| x)
            .iter()
            .map(|s| s / n_real as f64)
            .collect();
        tilt.fitted(width, target, pool, log_prior, PENALTY / n_real as f64, 0.0)
    }

    /// Fits the coefficients of this tilt's features (a tilt from
    /// [`crate::privacy::moments::plan`]) so that `pool` (rows of `width` rejection
    /// features, equally likely) takes the released feature means `means` of `rows`
    /// training rows, each with noise of standard deviation `noise_sd`. The ridge
    /// penalty grows with each feature's noise against its spread in the pool.
    pub fn fit_released(
        self,
        width: usize,
        means: Vec<f64>,
        noise_sd: f64,
        rows: usize,
        pool: &[f32],
    ) -> Result<Option<Tilt>> {
        let m = pool.len() / width;
        if m < 2 || rows == 0 || means.len() != self.n_features() {
            return Ok(None);
        }
        let log_prior = vec![0.0; m];
        let base_penalty = PENALTY / rows as f64;
        self.fitted(
            width,
            means,
            pool,
            &log_prior,
            base_penalty,
            noise_sd * noise_sd,
        )
    }

    /// This tilt with the coefficients that give `pool` the feature means `target`:
    /// each standardised feature's ridge penalty is `penalty + noise_var / sd^2`, `sd`
    /// its spread in the pool. `None` when no feature varies or no penalty keeps the
    /// weights spread.
    fn fitted(
        self,
        width: usize,
        target: Vec<f64>,
        pool: &[f32],
        log_prior: &[f64],
        penalty: f64,
        noise_var: f64,
    ) -> Result<Option<Tilt>> {
        let m = pool.len() / width;
        let p = self.n_features();
        let mut tilt = self;
        // Standardised by the pool's spread; constant features keep coefficient zero.
        let mean: Vec<f64> = tilt
            .feature_sums(pool, width, |_, x| x)
            .iter()
            .map(|s| s / m as f64)
            .collect();
        let sd: Vec<f64> = tilt
            .feature_sums(pool, width, |k, x| (x - mean[k]).powi(2))
            .iter()
            .map(|s| (s / m as f64).sqrt())
            .collect();
        let used: Vec<usize> = (0..p).filter(|&k| sd[k] > MIN_SD).collect();
        if used.is_empty() {
            return Ok(None);
        }
        let q = used.len();
        let mut standardised: Vec<f32> = Vec::with_capacity(m * q);
        let mut phi = Vec::with_capacity(p);
        for row in pool.chunks_exact(width) {
            phi.clear();
            tilt.features(row, &mut phi);
            standardised.extend(used.iter().map(|&k| ((phi[k] - mean[k]) / sd[k]) as f32));
        }
        let t: Vec<f64> = used
            .iter()
            .map(|&k| (target[k] - mean[k]) / sd[k])
            .collect();
        let design = Tensor::from_vec(standardised, (m, q), &Device::Cpu)?;
        let prior_ess = effective_share(log_prior);
        let mut penalty = penalty;
        let mut noise_penalty: Vec<f64> =
            used.iter().map(|&k| noise_var / (sd[k] * sd[k])).collect();
        for _ in 0..=PENALTY_RAISES {
            // A Hessian that rounding left indefinite is met like weights too uneven:
            // with a larger penalty.
            let Some((lambda, eta)) = solve(&design, log_prior, &t, penalty, &noise_penalty)?
            else {
                penalty *= 4.0;
                noise_penalty.iter_mut().for_each(|p| *p *= 4.0);
                continue;
            };
            if effective_share(&eta) >= MIN_EFFECTIVE_SHARE * prior_ess {
                let mut coef = vec![0.0; p];
                for (&k, l) in used.iter().zip(&lambda) {
                    coef[k] = l / sd[k];
                }
                tilt.coef = coef;
                tilt.target = target;
                tilt.scale = sd
                    .iter()
                    .map(|&s| if s > MIN_SD { s } else { 0.0 })
                    .collect();
                return Ok(Some(tilt));
            }
            penalty *= 4.0;
            noise_penalty.iter_mut().for_each(|p| *p *= 4.0);
        }
        Ok(None)
    }

    /// Per feature, the sum over `rows` of `f(feature, value)`, rows in order.
    fn feature_sums(&self, rows: &[f32], width: usize, f: impl Fn(usize, f64) -> f64) -> Vec<f64> {
        let p = self.n_features();
        let mut sums = vec![0.0; p];
        let mut phi = Vec::with_capacity(p);
        for row in rows.chunks_exact(width) {
            phi.clear();
            self.features(row, &mut phi);
            for (k, (sum, &x)) in sums.iter_mut().zip(&phi).enumerate() {
                *sum += f(k, x);
            }
        }
        sums
    }

    /// Number of terms: base features, tails and squares.
    fn terms(&self) -> usize {
        self.base.len() + self.tails.len() + self.squares.len()
    }

    /// Term `i` of a row of rejection features.
    fn term(&self, row: &[f32], i: usize) -> f64 {
        let first_square = self.base.len() + self.tails.len();
        if i < self.base.len() {
            f64::from(row[self.base[i]])
        } else if i < first_square {
            let (b, sign) = self.tails[i - self.base.len()];
            let x = f32::from(sign) * row[self.base[b]];
            f64::from((x - TAIL_KNOT).max(0.0))
        } else {
            f64::from(row[self.base[self.squares[i - first_square]]]).powi(2)
        }
    }

    /// Number of features: terms, then products of pairs.
    pub fn n_features(&self) -> usize {
        self.terms() + self.pairs.len()
    }

    /// Appends the features of one row: terms, then products.
    pub fn features(&self, row: &[f32], out: &mut Vec<f64>) {
        let start = out.len();
        out.extend((0..self.terms()).map(|i| self.term(row, i)));
        for &(i, j) in &self.pairs {
            let v = out[start + i] * out[start + j];
            out.push(v);
        }
    }
}

/// Positions of the base features, whether each is an indicator, its column, and
/// whether it is a distribution position. Numbers: the standardised value and
/// distribution position of mode-normalised columns (the scalar of min-max ones);
/// indicators of exact values and missingness; categories but the commonest, up to
/// [`MAX_LEVELS`].
fn base_features(
    encoder: &Encoder,
    width: usize,
    real: &[f32],
    n: usize,
) -> (Vec<usize>, Vec<bool>, Vec<usize>, Vec<bool>) {
    let share = |i: usize| {
        real.iter()
            .skip(i)
            .step_by(width)
            .map(|&x| f64::from(x))
            .sum::<f64>()
            / n as f64
    };
    let (mut base, mut binary, mut column) = (Vec::new(), Vec::new(), Vec::new());
    let mut position = Vec::new();
    let mut extra = encoder.width();
    for (c, codec) in encoder.columns.iter().enumerate() {
        let group = codec.group.map(|g| encoder.groups[g]);
        let mut indicators: Vec<usize> = Vec::new();
        match &codec.transform {
            Transform::Modes { mixture, .. } => {
                base.extend([extra, extra + 1]);
                binary.extend([false, false]);
                column.extend([c, c]);
                position.extend([false, true]);
                extra += 2;
                if let Some(g) = group {
                    indicators.extend(g.start + mixture.n_modes()..g.start + g.width);
                }
            }
            Transform::MinMax { .. } | Transform::Quantile { .. } => {
                if let Some(s) = codec.scalar {
                    base.push(s);
                    binary.push(false);
                    column.push(c);
                    position.push(false);
                }
                if let Some(g) = group {
                    indicators.extend(g.start..g.start + g.width);
                }
            }
            Transform::Categorical { .. } => {
                if let Some(g) = group {
                    let mut slots: Vec<(usize, f64)> = (g.start..g.start + g.width)
                        .map(|i| (i, share(i)))
                        .collect();
                    slots.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    indicators.extend(slots.iter().skip(1).take(MAX_LEVELS).map(|s| s.0));
                }
            }
            Transform::AllMissing => {}
        }
        for i in indicators {
            let s = share(i);
            let least = MIN_SHARE.max(MIN_ROWS as f64 / n as f64);
            if (least..=1.0 - least).contains(&s) {
                base.push(i);
                binary.push(true);
                column.push(c);
                position.push(false);
            }
        }
    }
    (base, binary, column, position)
}

/// Products of base features from different columns, and squares of numbers. First
/// those a linear regression's normal equations use (of values and indicators), then
/// those with a distribution position; within each, those of two numbers first, then
/// of a number and an indicator, then of two indicators.
pub(crate) fn product_pairs(
    binary: &[bool],
    column: &[usize],
    position: &[bool],
) -> Vec<(usize, usize)> {
    let q = binary.len();
    let mut pairs: Vec<(bool, usize, usize, usize)> = Vec::new();
    for i in 0..q {
        for j in i..q {
            let square = i == j && !binary[i];
            if square || column[i] != column[j] {
                let indicators = usize::from(binary[i]) + usize::from(binary[j]);
                pairs.push((position[i] || position[j], indicators, i, j));
            }
        }
    }
    pairs.sort();
    pairs.into_iter().map(|(_, _, i, j)| (i, j)).collect()
}

/// Products of each tail (term `first_tail + t`) with the base features of other
/// columns: by numbers first, then by indicators, at most `most`.
fn tail_pairs(
    first_tail: usize,
    tails: &[(usize, i8)],
    binary: &[bool],
    column: &[usize],
    most: usize,
) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(bool, usize, usize)> = Vec::new();
    for (t, &(of, _)) in tails.iter().enumerate() {
        for j in (0..binary.len()).filter(|&j| column[j] != column[of]) {
            pairs.push((binary[j], j, first_tail + t));
        }
    }
    pairs.sort();
    pairs
        .into_iter()
        .take(most)
        .map(|(_, j, t)| (j, t))
        .collect()
}

/// Log weights `log_prior + design . lambda`, normalised to sum to one, and the log of
/// their sum before normalising.
fn log_weights(design: &Tensor, lambda: &[f64], log_prior: &[f64]) -> Result<(Vec<f64>, f64)> {
    let l = Tensor::from_vec(
        lambda.iter().map(|&x| x as f32).collect::<Vec<f32>>(),
        (lambda.len(), 1),
        &Device::Cpu,
    )?;
    let eta: Vec<f32> = design.matmul(&l)?.flatten_all()?.to_vec1()?;
    let mut out: Vec<f64> = eta
        .iter()
        .zip(log_prior)
        .map(|(&e, p)| f64::from(e) + p)
        .collect();
    let top = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = out.iter().map(|x| (x - top).exp()).sum();
    let log_sum = top + total.ln();
    out.iter_mut().for_each(|x| *x -= log_sum);
    Ok((out, log_sum))
}

/// Weights from log weights, the largest 1.
fn relative_weights(log_weights: &[f64]) -> Vec<f64> {
    let top = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    log_weights.iter().map(|x| (x - top).exp()).collect()
}

/// Effective sample size of normalised log weights, as a share of their number.
fn effective_share(log_weights: &[f64]) -> f64 {
    let w = relative_weights(log_weights);
    let s: f64 = w.iter().sum();
    let s2: f64 = w.iter().map(|x| x * x).sum();
    s * s / s2 / log_weights.len() as f64
}

/// Coefficients and the normalised log weights they give.
type Solution = (Vec<f64>, Vec<f64>);

/// Minimises `log sum exp(log_prior + design . lambda) - lambda . t + penalty |lambda|^2 / 2
/// + sum noise_penalty lambda^2 / 2`
/// by Newton's method with backtracking; `None` when a Hessian cannot be factored.
fn solve(
    design: &Tensor,
    log_prior: &[f64],
    t: &[f64],
    penalty: f64,
    noise_penalty: &[f64],
) -> Result<Option<Solution>> {
    let q = t.len();
    // The objective at `lambda`, with the normalised log weights it was computed from.
    let objective = |lambda: &[f64]| -> Result<(f64, Vec<f64>)> {
        let (lw, log_sum) = log_weights(design, lambda, log_prior)?;
        let dot: f64 = lambda.iter().zip(t).map(|(a, b)| a * b).sum();
        let norm: f64 = lambda.iter().map(|x| x * x).sum();
        let noise: f64 = lambda
            .iter()
            .zip(noise_penalty)
            .map(|(x, p)| p * x * x)
            .sum();
        Ok((log_sum - dot + (penalty * norm + noise) / 2.0, lw))
    };
    let mut lambda = vec![0.0; q];
    let (mut value, mut lw) = objective(&lambda)?;
    for _ in 0..NEWTON_STEPS {
        let w: Vec<f32> = lw.iter().map(|x| x.exp() as f32).collect();
        let m = w.len();
        let wt = Tensor::from_vec(w.clone(), (m, 1), &Device::Cpu)?;
        let mean: Vec<f32> = design.t()?.matmul(&wt)?.flatten_all()?.to_vec1()?;
        let grad: Vec<f64> = (0..q)
            .map(|k| f64::from(mean[k]) - t[k] + (penalty + noise_penalty[k]) * lambda[k])
            .collect();
        if grad.iter().all(|g| g.abs() < 1e-6) {
            break;
        }
        let root = Tensor::from_vec(
            w.iter().map(|x| x.sqrt()).collect::<Vec<f32>>(),
            (m, 1),
            &Device::Cpu,
        )?;
        // The weighted covariance from centred rows: no cancellation in f32.
        let centre = Tensor::from_vec(mean.clone(), (1, q), &Device::Cpu)?;
        let scaled = design.broadcast_sub(&centre)?.broadcast_mul(&root)?;
        let gram: Vec<f32> = scaled.t()?.matmul(&scaled)?.flatten_all()?.to_vec1()?;
        let mut hessian: Vec<f64> = gram.iter().map(|&x| f64::from(x)).collect();
        for i in 0..q {
            hessian[i * q + i] += penalty + noise_penalty[i];
        }
        let Some(step) = cholesky_solve(&mut hessian, &grad, q) else {
            return Ok(None);
        };
        let slope: f64 = grad.iter().zip(&step).map(|(g, s)| g * s).sum();
        let mut size = 1.0;
        loop {
            let next: Vec<f64> = lambda
                .iter()
                .zip(&step)
                .map(|(l, s)| l - size * s)
                .collect();
            let (v, next_lw) = objective(&next)?;
            if v <= value - 1e-4 * size * slope || size < 1e-6 {
                lambda = next;
                value = v;
                lw = next_lw;
                break;
            }
            size /= 2.0;
        }
    }
    Ok(Some((lambda, lw)))
}

/// Solves `a x = b` for a symmetric positive definite `a` (`q` x `q`, row-major,
/// overwritten by its Cholesky factor); `None` when `a` is not positive definite.
fn cholesky_solve(a: &mut [f64], b: &[f64], q: usize) -> Option<Vec<f64>> {
    for j in 0..q {
        let mut d = a[j * q + j];
        for k in 0..j {
            d -= a[j * q + k] * a[j * q + k];
        }
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        let d = d.sqrt();
        a[j * q + j] = d;
        for i in j + 1..q {
            let mut s = a[i * q + j];
            for k in 0..j {
                s -= a[i * q + k] * a[j * q + k];
            }
            a[i * q + j] = s / d;
        }
    }
    let mut y = b.to_vec();
    for i in 0..q {
        for k in 0..i {
            y[i] -= a[i * q + k] * y[k];
        }
        y[i] /= a[i * q + i];
    }
    for i in (0..q).rev() {
        for k in i + 1..q {
            y[i] -= a[k * q + i] * y[k];
        }
        y[i] /= a[i * q + i];
    }
    Some(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::EncoderOptions;
    use crate::rejection::{feature_width, features, slots_of};
    use crate::rng::SeededRng;
    use crate::schema::{Column, Kind, Table, Values};

    /// Rows of x, y (correlation `rho`) and a group whose share of "b" is `share`.
    fn table(n: usize, rho: f64, share: f64, rng: &mut SeededRng) -> Table {
        let e = rng.normal_vec(2 * n);
        let x: Vec<f64> = (0..n).map(|i| f64::from(e[2 * i])).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| rho * x[i] + (1.0 - rho * rho).sqrt() * f64::from(e[2 * i + 1]))
            .collect();
        let g: Vec<Option<u32>> = (0..n)
            .map(|_| Some(u32::from(rng.uniform() < share)))
            .collect();
        let cols = vec![
            Column::new("x", Kind::Double, Values::Real(x)).unwrap(),
            Column::new("y", Kind::Double, Values::Real(y)).unwrap(),
            Column::new(
                "g",
                Kind::Factor {
                    levels: vec!["a".into(), "b".into()],
                    ordered: false,
                },
                Values::Code(g),
            )
            .unwrap(),
        ];
        Table::new(cols, n).unwrap()
    }

    fn feature_rows(encoder: &Encoder, t: &Table, rng: &mut SeededRng) -> Vec<f32> {
        let encoded = encoder.encode(t, rng).unwrap();
        let (scalars, slots) = slots_of(encoder, encoded.as_slice().unwrap());
        features(encoder, t.n_rows(), &scalars, &slots)
    }

    /// The encoder fitted to `real`, the width of a feature row, the feature rows of
    /// `real` and `pool`, and the tilt of the pool (equal prior weights) towards `real`.
    fn tilted(
        real: &Table,
        pool: &Table,
        rng: &mut SeededRng,
    ) -> (Encoder, usize, Vec<f32>, Vec<f32>, Tilt) {
        let encoder = Encoder::fit(real, &EncoderOptions::default(), rng).unwrap();
        let width = feature_width(&encoder);
        let real_rows = feature_rows(&encoder, real, rng);
        let pool_rows = feature_rows(&encoder, pool, rng);
        let prior = vec![0.0; pool.n_rows()];
        let tilt = Tilt::fit(&encoder, width, &real_rows, &pool_rows, &prior)
            .unwrap()
            .expect("a tilt");
        (encoder, width, real_rows, pool_rows, tilt)
    }

    /// Weighted mean of feature `f(row)` under the tilt's weights (or equal weights).
    fn mean_of(rows: &[f32], width: usize, tilt: Option<&Tilt>, f: impl Fn(&[f32]) -> f64) -> f64 {
        let w = match tilt {
            Some(t) => t.log_weights(rows, width),
            None => vec![0.0; rows.len() / width],
        };
        let top = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (mut num, mut den) = (0.0, 0.0);
        for (row, lw) in rows.chunks_exact(width).zip(&w) {
            let weight = (lw - top).exp();
            num += weight * f(row);
            den += weight;
        }
        num / den
    }

    #[test]
    fn tilting_moves_the_pool_to_the_real_correlation_and_shares() {
        let mut rng = SeededRng::new(7);
        let real = table(3000, 0.6, 0.3, &mut rng);
        let pool = table(20000, 0.0, 0.5, &mut rng);
        let (encoder, width, real_rows, pool_rows, tilt) = tilted(&real, &pool, &mut rng);
        tilt.check(width).unwrap();
        // The standardised values of x and y sit in the features after the encoded row.
        let (zx, zy) = (encoder.width(), encoder.width() + 2);
        let product = |r: &[f32]| f64::from(r[zx]) * f64::from(r[zy]);
        let real_product = mean_of(&real_rows, width, None, product);
        let before = mean_of(&pool_rows, width, None, product);
        let after = mean_of(&pool_rows, width, Some(&tilt), product);
        assert!(
            (real_product - after).abs() < 0.05 * real_product,
            "{real_product} vs {after}"
        );
        assert!((real_product - before).abs() > 0.5 * real_product);
        // The targets are the real rows' means of the features, the scales their
        // spread in the pool.
        let row = &real_rows[..width];
        let mut phi = Vec::new();
        tilt.features(row, &mut phi);
        let k = (0..tilt.n_features())
            .find(|&k| phi[k] == f64::from(row[zx]) * f64::from(row[zy]))
            .expect("the product of x and y is a feature");
        assert!((tilt.target[k] - real_product).abs() < 1e-9);
        assert!((tilt.scale[k] - 1.0).abs() < 0.1, "{}", tilt.scale[k]);
        let b = encoder.groups[encoder.columns[2].group.unwrap()].start + 1;
        let share_b = |r: &[f32]| f64::from(r[b]);
        let after = mean_of(&pool_rows, width, Some(&tilt), share_b);
        assert!(
            (after - mean_of(&real_rows, width, None, share_b)).abs() < 0.01,
            "{after}"
        );
        // The weights stay spread over the pool.
        let w = tilt.log_weights(&pool_rows, width);
        assert!(effective_share(&w) > MIN_EFFECTIVE_SHARE);
    }

    #[test]
    fn tails_give_the_pool_a_curved_relation() {
        // Real y rises with x in both tails (y ~ x^2, uncorrelated with x); the pool's
        // y does not depend on x. Pairs alone cannot see that: it is a third moment.
        let mut rng = SeededRng::new(10);
        let n = 3000;
        let straight = table(n, 0.0, 0.3, &mut rng);
        let mut columns = straight.columns().to_vec();
        let Values::Real(x) = columns[0].values.clone() else {
            unreachable!()
        };
        let noise = rng.normal_vec(n);
        let curved: Vec<f64> = x
            .iter()
            .zip(&noise)
            .map(|(x, e)| 0.8 * (x * x - 1.0) / 2f64.sqrt() + 0.6 * f64::from(*e))
            .collect();
        columns[1] = Column::new("y", Kind::Double, Values::Real(curved)).unwrap();
        let real = Table::new(columns, n).unwrap();
        let pool = table(20000, 0.0, 0.3, &mut rng);
        let (encoder, width, real_rows, pool_rows, tilt) = tilted(&real, &pool, &mut rng);
        assert_eq!(tilt.tails.len(), 4);
        // Mean standardised y where x's position is in its upper tail.
        let (px, zy) = (encoder.width() + 1, encoder.width() + 2);
        let y_in_tail = |r: &[f32]| f64::from(r[zy]) * f64::from(u8::from(r[px] > 0.8));
        let in_tail = |r: &[f32]| f64::from(u8::from(r[px] > 0.8));
        let conditional = |rows: &[f32], tilt: Option<&Tilt>| {
            mean_of(rows, width, tilt, y_in_tail) / mean_of(rows, width, tilt, in_tail)
        };
        let real_mean = conditional(&real_rows, None);
        let before = conditional(&pool_rows, None);
        let after = conditional(&pool_rows, Some(&tilt));
        assert!(
            real_mean > 1.0 && before.abs() < 0.1,
            "{real_mean} {before}"
        );
        assert!(
            (after - real_mean).abs() < 0.25 * real_mean,
            "{real_mean} vs {after}"
        );
    }

    #[test]
    fn few_rows_get_few_products_and_a_pool_like_the_real_rows_is_left_alone() {
        let mut rng = SeededRng::new(8);
        let real = table(60, 0.3, 0.4, &mut rng);
        let encoder = Encoder::fit(&real, &EncoderOptions::default(), &mut rng).unwrap();
        let real_rows = feature_rows(&encoder, &real, &mut rng);
        let tilt = Tilt::fit(
            &encoder,
            feature_width(&encoder),
            &real_rows,
            &real_rows,
            &vec![0.0; 60],
        )
        .unwrap()
        .expect("a tilt");
        assert!(tilt.base.len() + tilt.pairs.len() <= tilt.base.len().max(60 / ROWS_PER_FEATURE));
        assert!(tilt.coef.iter().all(|c| c.abs() < 1e-3), "{:?}", tilt.coef);
    }

    #[test]
    fn products_for_a_linear_regression_come_first() {
        // Column 0: value and position; column 1: value and position; column 2: an
        // indicator.
        let binary = [false, false, false, false, true];
        let column = [0, 0, 1, 1, 2];
        let position = [false, true, false, true, false];
        let pairs = product_pairs(&binary, &column, &position);
        let linear = [(0, 0), (0, 2), (2, 2), (0, 4), (2, 4)];
        assert_eq!(pairs[..linear.len()], linear);
        assert!(pairs[linear.len()..]
            .iter()
            .all(|&(i, j)| position[i] || position[j]));
        assert_eq!(pairs.len(), 12);
    }

    #[test]
    fn categories_of_few_rows_are_not_features() {
        // 200 rows, "b" in 8 of them: more than 0.5% of the rows, fewer than ten.
        let mut rng = SeededRng::new(11);
        let rare = table(200, 0.3, 0.04, &mut rng);
        let encoder = Encoder::fit(&rare, &EncoderOptions::default(), &mut rng).unwrap();
        let width = feature_width(&encoder);
        let rows = feature_rows(&encoder, &rare, &mut rng);
        let b = encoder.groups[encoder.columns[2].group.unwrap()].start + 1;
        let held = rows.chunks_exact(width).filter(|r| r[b] == 1.0).count();
        assert!((2..10).contains(&held), "{held}");
        let (base, ..) = base_features(&encoder, width, &rows, 200);
        assert!(!base.contains(&b));
        let common = table(200, 0.3, 0.3, &mut rng);
        let rows = feature_rows(&encoder, &common, &mut rng);
        let (base, ..) = base_features(&encoder, width, &rows, 200);
        assert!(base.contains(&b));
    }

    #[test]
    fn a_tilt_saved_before_tails_and_targets_loads() {
        let tilt: Tilt =
            serde_json::from_str(r#"{"base":[0,2],"pairs":[[0,1]],"coef":[0.5,-0.1,0.2]}"#)
                .unwrap();
        assert!(tilt.tails.is_empty() && tilt.squares.is_empty());
        assert!(tilt.target.is_empty() && tilt.scale.is_empty());
        tilt.check(3).unwrap();
        assert!((tilt.log_weights(&[1.0, 9.0, 2.0], 3)[0] - (0.5 - 0.2 + 0.4)).abs() < 1e-12);
    }

    #[test]
    fn cholesky_solves_a_small_system() {
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        let x = cholesky_solve(&mut a, &[2.0, 1.0], 2).unwrap();
        assert!((4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12);
        assert!((2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12);
        assert!(cholesky_solve(&mut [0.0], &[1.0], 1).is_none());
    }

    #[test]
    fn an_indefinite_hessian_is_reported_not_an_error() {
        // Two identical standardised features: their covariance is singular, and a
        // negative penalty makes the Hessian indefinite.
        let rows: Vec<f32> = (0..200)
            .flat_map(|i| {
                let x = if i % 2 == 0 { 1.0 } else { -1.0 };
                [x, x]
            })
            .collect();
        let design = Tensor::from_vec(rows, (200, 2), &Device::Cpu).unwrap();
        let prior = vec![0.0; 200];
        assert!(solve(&design, &prior, &[0.1, 0.1], -1.0, &[0.0, 0.0])
            .unwrap()
            .is_none());
        let (fitted, _) = solve(&design, &prior, &[0.1, 0.1], 0.01, &[0.0, 0.0])
            .unwrap()
            .unwrap();
        assert!((fitted[0] - fitted[1]).abs() < 1e-9 && fitted[0] > 0.0);
    }
}
