//! Noisy one-way marginals of a private fit, released by the Gaussian mechanism before
//! training: a histogram of every column over its declared levels, or over bins between
//! its declared bounds, with a count of missing values. They set the encoding of numeric
//! columns (the position of a value in its column's private distribution) and the
//! generator's starting outputs, so that a short, noisy private fit starts from the
//! right marginals and DP-SGD spends its budget on how the columns relate.

use super::PrivacyConfig;
use crate::encoding::{category_code, numeric_value, Encoder};
use crate::error::{Error, Result};
use crate::rng::PrivacyRng;
use crate::schema::{Kind, Table};

/// Bins of a numeric column: between these, as many as the noise allows (see [`bins`]).
const MIN_BINS: usize = 8;
const MAX_BINS: usize = 32;
/// A bin should expect this many times the noise's standard deviation in rows.
const ROWS_PER_NOISE: f64 = 4.0;
/// Released counts of a zero-width bin below this many noise standard deviations are
/// taken for noise.
const FAINT: f64 = 2.0;
/// Smallest share given to a slot in the generator's starting outputs.
pub const SHARE_FLOOR: f64 = 1e-3;

/// A column's released histogram: noisy counts, clipped at zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Marginal {
    /// Bin edges of a numeric column (one more than `counts`); `None` for a categorical
    /// column, whose counts follow its levels.
    pub edges: Option<Vec<f64>>,
    pub counts: Vec<f64>,
    pub missing: f64,
}

impl Marginal {
    /// Shares of the column's slots in the encoding: each level then missing, or
    /// observed then missing for a numeric column; uniform when every count is zero.
    pub fn slot_shares(&self) -> Vec<f64> {
        let mut counts = match self.edges {
            Some(_) => vec![self.counts.iter().sum()],
            None => self.counts.clone(),
        };
        counts.push(self.missing);
        normalise(counts)
    }

    /// The cumulative shares of a numeric column's bins at its edges (from 0 to 1);
    /// uniform when every count is zero.
    pub fn cumulative(&self) -> Vec<f64> {
        let mut cumulative = vec![0.0];
        for share in normalise(self.counts.clone()) {
            cumulative.push((cumulative.last().copied().unwrap_or(0.0) + share).min(1.0));
        }
        if let Some(last) = cumulative.last_mut() {
            *last = 1.0;
        }
        cumulative
    }

    /// Log shares for the starting bias of the column's softmax group.
    pub fn prior_logits(&self) -> Vec<f32> {
        self.slot_shares()
            .into_iter()
            .map(|p| p.max(SHARE_FLOOR).ln() as f32)
            .collect()
    }
}

fn normalise(mut counts: Vec<f64>) -> Vec<f64> {
    let total: f64 = counts.iter().sum();
    if total > 0.0 {
        counts.iter_mut().for_each(|c| *c /= total);
    } else {
        let k = counts.len() as f64;
        counts.iter_mut().for_each(|c| *c = 1.0 / k);
    }
    counts
}

/// Number of equal-width bins for a numeric column: about `rows / (4 sd)` rows a bin
/// on average, where `sd` is the noise's standard deviation, between 8 and 32.
pub fn bins(rows: usize, noise_sd: f64) -> usize {
    let fit = (rows as f64 / (ROWS_PER_NOISE * noise_sd)).floor();
    if fit.is_finite() {
        (fit as usize).clamp(MIN_BINS, MAX_BINS)
    } else {
        MAX_BINS
    }
}

/// Bin edges between the bounds: one bin per whole number for whole-number columns
/// (integers, dates) with at most `n_bins` of them, else `n_bins` equal bins and, when
/// the bounds contain zero, a bin of width zero at zero (zero hours, zero income: a
/// value social data often holds exactly, chosen before seeing the data).
pub fn edges(kind: &Kind, lower: f64, upper: f64, n_bins: usize) -> Vec<f64> {
    let whole = matches!(kind, Kind::Integer | Kind::Date);
    let (first, last) = (lower.ceil(), upper.floor());
    if whole && last >= first && last - first < n_bins as f64 {
        let mut edges: Vec<f64> = (0..=(last - first) as usize + 1)
            .map(|k| first + k as f64 - 0.5)
            .collect();
        let end = edges.len() - 1;
        edges[0] = edges[0].max(lower);
        edges[end] = edges[end].min(upper);
        return edges;
    }
    let mut edges: Vec<f64> = (0..=n_bins)
        .map(|k| lower + (upper - lower) * k as f64 / n_bins as f64)
        .collect();
    if lower <= 0.0 && 0.0 < upper {
        let at = edges.partition_point(|&e| e < 0.0);
        if edges[at] == 0.0 {
            edges.insert(at, 0.0);
        } else {
            edges.splice(at..at, [0.0, 0.0]);
        }
    }
    edges
}

/// The bin of `v` among `edges`: a zero-width bin holds its value exactly; other
/// values fall in the bin whose upper edge is the first one above them (the last bin
/// takes the upper bound).
pub fn bin_of(edges: &[f64], v: f64) -> usize {
    let last = edges.len() - 2;
    let at = edges.partition_point(|&e| e < v);
    if at + 1 < edges.len() && edges[at] == v && edges[at + 1] == v {
        return at;
    }
    edges[1..edges.len() - 1]
        .partition_point(|&e| e <= v)
        .min(last)
}

/// The closest counts to `noisy` (in squared error) that are not negative and add up
/// to the public row count `total`: post-processing that removes the excess mass
/// clipping at zero would give empty slots.
pub fn onto_total(noisy: &[f64], total: f64) -> Vec<f64> {
    if noisy.is_empty() || total <= 0.0 {
        return vec![0.0; noisy.len()];
    }
    let mut sorted = noisy.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let (mut sum, mut shift) = (0.0, 0.0);
    for (k, &v) in sorted.iter().enumerate() {
        sum += v;
        let candidate = (sum - total) / (k + 1) as f64;
        if v - candidate > 0.0 {
            shift = candidate;
        }
    }
    noisy.iter().map(|&v| (v - shift).max(0.0)).collect()
}

/// `counts` with those of the `slots` below [`FAINT`] noise standard deviations set to
/// zero, the rest scaled to keep the total; unchanged if that would leave nothing. For
/// zero-width bins: a faint count there is most likely noise in an empty slot (exact
/// zero wages where nobody earns nothing, which breaks a log), and other bins keep
/// even faint counts (dropping them loses real rows of small data).
pub fn without_faint(counts: Vec<f64>, slots: &[usize], noise_sd: f64) -> Vec<f64> {
    let total: f64 = counts.iter().sum();
    let kept: Vec<f64> = counts
        .iter()
        .enumerate()
        .map(|(k, &c)| {
            if slots.contains(&k) && c < FAINT * noise_sd {
                0.0
            } else {
                c
            }
        })
        .collect();
    let left: f64 = kept.iter().sum();
    if left <= 0.0 {
        return counts;
    }
    kept.into_iter().map(|c| c * total / left).collect()
}

/// Releases every column's histogram of `table` (as [`PrivacyConfig::public_table`]
/// gives it) with Gaussian noise of standard deviation `noise_multiplier * sqrt(columns)`:
/// a row adds one to one slot of each column's histogram, so the histograms together
/// have L2 sensitivity `sqrt(columns)` and the release is the Gaussian mechanism with
/// that noise multiplier. `rows` is the public row count that sets the number of bins.
pub fn release(
    table: &Table,
    privacy: &PrivacyConfig,
    noise_multiplier: f64,
    rows: usize,
    rng: &mut PrivacyRng,
) -> Result<Vec<Marginal>> {
    let noise_sd = noise_multiplier * (table.n_cols() as f64).sqrt();
    let n_bins = bins(rows, noise_sd);
    let mut marginals = Vec::with_capacity(table.n_cols());
    for col in table.columns() {
        let n = col.len();
        let (edges, mut counts, missing) = match &col.kind {
            Kind::Logical | Kind::Factor { .. } | Kind::Character { .. } => {
                let n_levels = match &col.kind {
                    Kind::Factor { levels, .. } | Kind::Character { levels } => levels.len(),
                    _ => 2,
                };
                let mut counts = vec![0.0; n_levels];
                let mut missing = 0.0;
                for i in 0..n {
                    match category_code(&col.values, i).and_then(|c| counts.get_mut(c)) {
                        Some(count) => *count += 1.0,
                        None => missing += 1.0,
                    }
                }
                (None, counts, missing)
            }
            kind => {
                let b = privacy.bound(&col.name).ok_or_else(|| {
                    Error::column(
                        &col.name,
                        "needs public bounds for differential privacy: give them in `dp(bounds =)`",
                    )
                })?;
                let edges = edges(kind, b.lower, b.upper, n_bins);
                let mut counts = vec![0.0; edges.len() - 1];
                let mut missing = 0.0;
                for i in 0..n {
                    let v = numeric_value(&col.values, i);
                    if v.is_finite() {
                        counts[bin_of(&edges, v.clamp(b.lower, b.upper))] += 1.0;
                    } else {
                        missing += 1.0;
                    }
                }
                (Some(edges), counts, missing)
            }
        };
        counts.push(missing);
        let noise = rng.normal_vec(counts.len());
        for (count, z) in counts.iter_mut().zip(&noise) {
            *count += noise_sd * f64::from(*z);
        }
        let zero_bins: Vec<usize> = edges
            .as_ref()
            .map(|e| (0..e.len() - 1).filter(|&k| e[k] == e[k + 1]).collect())
            .unwrap_or_default();
        let mut counts = without_faint(onto_total(&counts, rows as f64), &zero_bins, noise_sd);
        let missing = counts.pop().unwrap_or(0.0);
        marginals.push(Marginal {
            edges,
            counts,
            missing,
        });
    }
    Ok(marginals)
}

/// The generator's starting output bias: each softmax group's released log shares
/// (numeric scalars 0), in the layout of `encoder`, made from the same `marginals`.
pub fn prior_logits(encoder: &Encoder, marginals: &[Marginal]) -> Vec<f32> {
    let mut bias = vec![0.0; encoder.width()];
    for (codec, m) in encoder.columns.iter().zip(marginals) {
        if let Some(g) = codec.group.map(|g| encoder.groups[g]) {
            let logits = m.prior_logits();
            if logits.len() == g.width {
                bias[g.start..g.start + g.width].copy_from_slice(&logits);
            }
        }
    }
    bias
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_number_columns_get_a_bin_per_value_within_the_bounds() {
        assert_eq!(
            edges(&Kind::Integer, -0.3, 3.3, 8),
            vec![-0.3, 0.5, 1.5, 2.5, 3.3]
        );
        // Too many values for the bins: equal widths.
        assert_eq!(edges(&Kind::Integer, 1.0, 100.0, 4).len(), 5);
        assert_eq!(
            edges(&Kind::Double, 0.0, 1.0, 4),
            vec![0.0, 0.0, 0.25, 0.5, 0.75, 1.0]
        );
        // Bounds containing zero get a zero-width bin there.
        let e = edges(&Kind::Double, -1.0, 3.0, 2);
        assert_eq!(e, vec![-1.0, 0.0, 0.0, 1.0, 3.0]);
        assert_eq!(edges(&Kind::Double, 1.0, 2.0, 2), vec![1.0, 1.5, 2.0]);
        assert_eq!(
            [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0].map(|v| bin_of(&e, v)),
            [0, 0, 1, 2, 3, 3, 3]
        );
    }

    #[test]
    fn counts_are_projected_onto_the_public_total() {
        let projected = onto_total(&[50.0, -10.0, 30.0, 5.0], 80.0);
        assert!((projected.iter().sum::<f64>() - 80.0).abs() < 1e-9);
        assert!(projected.iter().all(|&c| c >= 0.0));
        // The excess is taken evenly from the slots that stay positive.
        let excess = (85.0 - 80.0) / 3.0;
        assert!((projected[0] - (50.0 - excess)).abs() < 1e-9 && projected[1] == 0.0);
        // Counts that already fit are kept.
        assert_eq!(onto_total(&[20.0, 0.0, 60.0], 80.0), vec![20.0, 0.0, 60.0]);
    }

    #[test]
    fn faint_counts_are_dropped_and_the_total_kept() {
        let kept = without_faint(vec![60.0, 3.0, 37.0], &[1], 2.0);
        assert_eq!(kept[1], 0.0);
        assert!((kept.iter().sum::<f64>() - 100.0).abs() < 1e-9);
        assert!((kept[0] / kept[2] - 60.0 / 37.0).abs() < 1e-9);
        // Only the given slots are judged; nothing left means nothing changes.
        assert_eq!(without_faint(vec![3.0, 97.0], &[1], 2.0), vec![3.0, 97.0]);
        assert_eq!(without_faint(vec![1.0, 3.0], &[0, 1], 2.0), vec![1.0, 3.0]);
    }

    #[test]
    fn bins_follow_the_rows_per_unit_of_noise() {
        assert_eq!(bins(600, 60.0), MIN_BINS);
        assert_eq!(bins(6000, 30.0), MAX_BINS);
        assert_eq!(bins(2000, 40.0), 12);
    }

    #[test]
    fn shares_and_cumulative_are_normalised_and_uniform_without_counts() {
        let m = Marginal {
            edges: Some(vec![0.0, 1.0, 2.0, 3.0]),
            counts: vec![1.0, 0.0, 3.0],
            missing: 4.0,
        };
        assert_eq!(m.slot_shares(), vec![0.5, 0.5]);
        assert_eq!(m.cumulative(), vec![0.0, 0.25, 0.25, 1.0]);
        let empty = Marginal {
            edges: None,
            counts: vec![0.0; 3],
            missing: 0.0,
        };
        assert_eq!(empty.slot_shares(), vec![0.25; 4]);
        assert!((empty.prior_logits()[0] - 0.25f32.ln()).abs() < 1e-6);
    }
}
