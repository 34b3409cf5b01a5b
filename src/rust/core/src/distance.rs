//! Gower distances and exact nearest neighbours between two tables, for disclosure-risk
//! measures (distance to the closest record, nearest-neighbour distance ratio).
//!
//! Gower's distance between two rows is the mean over columns of a per-column distance in
//! [0, 1]: |a - b| / range for numbers (capped at 1), 0 or 1 for categories, 0 when both are
//! missing and 1 when only one is. Each term is a metric, so the mean is one too.

use rayon::prelude::*;

use crate::error::{Error, Result};

/// How a column is compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Feature {
    /// Numbers, compared as |a - b| / `range` (at most 1). `range` must be positive.
    Numeric { range: f64 },
    /// Category codes, compared for equality.
    Categorical,
}

/// The two nearest reference rows of each query row.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    /// Gower distance to the nearest reference row.
    pub nearest: Vec<f64>,
    /// Gower distance to the second-nearest reference row (infinite with one reference row).
    pub second: Vec<f64>,
    /// Index (0-based) of the nearest reference row.
    pub index: Vec<usize>,
}

/// Rows stored contiguously as scaled values, missing values as NaN.
struct Rows {
    values: Vec<f64>,
    width: usize,
}

impl Rows {
    fn new(columns: &[Vec<f64>], features: &[Feature], order: &[usize]) -> Self {
        let n = columns.first().map_or(0, Vec::len);
        let width = order.len();
        let mut values = vec![0.0; n * width];
        for (slot, &j) in order.iter().enumerate() {
            let scale = match features[j] {
                Feature::Numeric { range } => 1.0 / range,
                Feature::Categorical => 1.0,
            };
            for (i, &x) in columns[j].iter().enumerate() {
                values[i * width + slot] = x * scale;
            }
        }
        Rows { values, width }
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    fn len(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }
}

/// Sum of per-column distances, abandoned (returning a value >= `bound`) once it reaches
/// `bound`.
#[inline]
fn partial_distance(a: &[f64], b: &[f64], numeric: &[bool], bound: f64) -> f64 {
    let mut sum = 0.0;
    for ((&x, &y), &is_numeric) in a.iter().zip(b).zip(numeric) {
        sum += match (x.is_nan(), y.is_nan()) {
            (true, true) => 0.0,
            (true, false) | (false, true) => 1.0,
            (false, false) if is_numeric => (x - y).abs().min(1.0),
            (false, false) => f64::from(x != y),
        };
        if sum >= bound {
            return sum;
        }
    }
    sum
}

/// For every row of `query`, the two nearest rows of `reference` by Gower distance.
///
/// Columns are given as equal-length vectors of f64 (category codes for categorical
/// columns; NaN marks a missing value). With `exclude_self`, `query` must be `reference`
/// itself and each row's own index is skipped (leave-one-out distances). The search is
/// exact: a brute-force scan that abandons a candidate as soon as its partial distance
/// exceeds the second-best so far, in parallel over query rows on `threads` threads.
pub fn nearest(
    reference: &[Vec<f64>],
    query: &[Vec<f64>],
    features: &[Feature],
    exclude_self: bool,
    threads: usize,
) -> Result<Neighbours> {
    check_columns(reference, features, "reference")?;
    check_columns(query, features, "query")?;
    let n_ref = reference.first().map_or(0, Vec::len);
    let n_query = query.first().map_or(0, Vec::len);
    if exclude_self && n_ref != n_query {
        return Err(Error::Config(
            "leave-one-out distances need the query to be the reference".into(),
        ));
    }
    if n_ref < 1 + usize::from(exclude_self) {
        return Err(Error::Data("too few reference rows".into()));
    }
    let order = discriminating_order(reference, features);
    let numeric: Vec<bool> = order
        .iter()
        .map(|&j| matches!(features[j], Feature::Numeric { .. }))
        .collect();
    let reference = Rows::new(reference, features, &order);
    let query = Rows::new(query, features, &order);
    let p = features.len() as f64;

    let pool = crate::train::thread_pool(threads)?;
    let found: Vec<(f64, f64, usize)> = pool.install(|| {
        (0..query.len())
            .into_par_iter()
            .map(|i| {
                let q = query.row(i);
                let (mut best, mut second, mut index) = (f64::INFINITY, f64::INFINITY, 0);
                for r in 0..reference.len() {
                    if exclude_self && r == i {
                        continue;
                    }
                    let d = partial_distance(q, reference.row(r), &numeric, second);
                    if d < best {
                        second = best;
                        best = d;
                        index = r;
                    } else if d < second {
                        second = d;
                    }
                }
                (best, second, index)
            })
            .collect()
    });
    Ok(Neighbours {
        nearest: found.iter().map(|f| f.0 / p).collect(),
        second: found.iter().map(|f| f.1 / p).collect(),
        index: found.iter().map(|f| f.2).collect(),
    })
}

fn check_columns(columns: &[Vec<f64>], features: &[Feature], what: &str) -> Result<()> {
    if columns.len() != features.len() || columns.is_empty() {
        return Err(Error::Config(format!(
            "{what}: expected {} columns, got {}",
            features.len(),
            columns.len()
        )));
    }
    let n = columns[0].len();
    if columns.iter().any(|c| c.len() != n) {
        return Err(Error::Config(format!("{what}: columns differ in length")));
    }
    for f in features {
        if let Feature::Numeric { range } = f {
            if !(range.is_finite() && *range > 0.0) {
                return Err(Error::Config(format!(
                    "numeric range must be positive and finite, not {range}"
                )));
            }
        }
    }
    if columns.iter().flatten().any(|x| x.is_infinite()) {
        return Err(Error::Data(format!("{what}: infinite values")));
    }
    Ok(())
}

/// Columns ordered by how far apart two random rows are on them (largest first, estimated
/// from consecutive rows), so that scans abandon hopeless candidates early.
fn discriminating_order(columns: &[Vec<f64>], features: &[Feature]) -> Vec<usize> {
    let spread: Vec<f64> = columns
        .iter()
        .zip(features)
        .map(|(c, f)| {
            let pairs = c.len().saturating_sub(1).min(2000);
            let total: f64 = (0..pairs)
                .map(|i| match (c[i].is_nan(), c[i + 1].is_nan(), f) {
                    (true, true, _) => 0.0,
                    (true, false, _) | (false, true, _) => 1.0,
                    (false, false, Feature::Numeric { range }) => {
                        ((c[i] - c[i + 1]).abs() / range).min(1.0)
                    }
                    (false, false, Feature::Categorical) => f64::from(c[i] != c[i + 1]),
                })
                .sum();
            total / pairs.max(1) as f64
        })
        .collect();
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by(|&a, &b| spread[b].total_cmp(&spread[a]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(reference: &[Vec<f64>], query: &[Vec<f64>], features: &[Feature]) -> Vec<f64> {
        let n_ref = reference[0].len();
        (0..query[0].len())
            .map(|i| {
                (0..n_ref)
                    .map(|r| {
                        let terms: f64 = features
                            .iter()
                            .enumerate()
                            .map(|(j, f)| {
                                let (a, b) = (query[j][i], reference[j][r]);
                                match (a.is_nan(), b.is_nan(), f) {
                                    (true, true, _) => 0.0,
                                    (true, false, _) | (false, true, _) => 1.0,
                                    (false, false, Feature::Numeric { range }) => {
                                        ((a - b).abs() / range).min(1.0)
                                    }
                                    (false, false, Feature::Categorical) => f64::from(a != b),
                                }
                            })
                            .sum();
                        terms / features.len() as f64
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    fn table(n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = crate::rng::SeededRng::new(seed);
        let u: Vec<f64> = (0..n * 3).map(|_| rng.uniform()).collect();
        vec![
            (0..n).map(|i| u[i] * 10.0).collect(),
            (0..n).map(|i| (u[n + i] * 4.0).floor()).collect(),
            (0..n)
                .map(|i| {
                    if u[2 * n + i] < 0.2 {
                        f64::NAN
                    } else {
                        u[2 * n + i]
                    }
                })
                .collect(),
        ]
    }

    const FEATURES: [Feature; 3] = [
        Feature::Numeric { range: 10.0 },
        Feature::Categorical,
        Feature::Numeric { range: 1.0 },
    ];

    #[test]
    fn matches_a_full_scan() {
        let reference = table(300, 1);
        let query = table(100, 2);
        let found = nearest(&reference, &query, &FEATURES, false, 2).unwrap();
        let expected = brute_force(&reference, &query, &FEATURES);
        for (a, b) in found.nearest.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert!(found.nearest.iter().zip(&found.second).all(|(a, b)| a <= b));
    }

    #[test]
    fn a_copy_is_at_distance_zero_unless_excluded() {
        let reference = table(50, 3);
        let found = nearest(&reference, &reference, &FEATURES, false, 1).unwrap();
        assert!(found.nearest.iter().all(|&d| d == 0.0));
        assert_eq!(found.index, (0..50).collect::<Vec<_>>());
        let loo = nearest(&reference, &reference, &FEATURES, true, 1).unwrap();
        assert!(loo.nearest.iter().all(|&d| d > 0.0));
        assert!(loo.index.iter().enumerate().all(|(i, &r)| i != r));
    }

    #[test]
    fn missing_values_follow_gower() {
        let reference = vec![vec![f64::NAN], vec![1.0]];
        let query = vec![vec![f64::NAN, 0.5], vec![1.0, 1.0]];
        let features = [Feature::Numeric { range: 1.0 }, Feature::Categorical];
        let found = nearest(&reference, &query, &features, false, 1).unwrap();
        assert_eq!(found.nearest, vec![0.0, 0.5]);
        assert!(found.second.iter().all(|d| d.is_infinite()));
    }

    #[test]
    fn bad_input_is_an_error() {
        let reference = table(10, 4);
        assert!(nearest(&reference, &reference[..2], &FEATURES, false, 1).is_err());
        let bad = [Feature::Numeric { range: 0.0 }, FEATURES[1], FEATURES[2]];
        assert!(nearest(&reference, &reference, &bad, false, 1).is_err());
        assert!(nearest(&reference, &table(5, 1), &FEATURES, true, 1).is_err());
    }
}
