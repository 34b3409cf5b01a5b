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

/// The `k` nearest reference rows of each query row, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    /// Neighbours per query row.
    pub k: usize,
    /// Gower distances, `k` per query row (infinite where there are fewer reference rows).
    pub distances: Vec<f64>,
    /// 0-based reference row indices, `k` per query row (`usize::MAX` where missing).
    pub indices: Vec<usize>,
}

impl Neighbours {
    /// Distances of every query row to its `j`-th nearest reference row (0: the nearest).
    pub fn nth(&self, j: usize) -> Vec<f64> {
        self.distances
            .iter()
            .skip(j)
            .step_by(self.k)
            .copied()
            .collect()
    }
}

/// Gower's per-column term on scaled values (NaN: missing).
#[inline]
fn term(x: f64, y: f64, numeric: bool) -> f64 {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => 0.0,
        (true, false) | (false, true) => 1.0,
        (false, false) if numeric => (x - y).abs().min(1.0),
        (false, false) => f64::from(x != y),
    }
}

/// Sum of per-column terms, abandoned (returning a value >= `bound`) once it reaches
/// `bound`.
#[inline]
fn partial_distance(a: &[f64], b: &[f64], numeric: &[bool], bound: f64) -> f64 {
    let mut sum = 0.0;
    for ((&x, &y), &is_numeric) in a.iter().zip(b).zip(numeric) {
        sum += term(x, y, is_numeric);
        if sum >= bound {
            return sum;
        }
    }
    sum
}

/// Most groups the reference rows are split into by categorical columns.
const MAX_GROUPS: usize = 256;

/// Reference rows with the same values on some categorical columns, sorted within the
/// group by one numeric column (missing values of that column at the end).
struct Group {
    key: Vec<f64>,
    start: usize,
    sorted_end: usize,
    end: usize,
}

/// The reference rows arranged for exact search. Rows in a group share the categorical
/// part of their distance to a query, which bounds the whole distance from below; so does
/// the distance on the sort column. Groups and rows whose bound cannot beat the
/// second-nearest found so far are skipped.
struct Index {
    grouping: Vec<usize>,
    rest: Vec<usize>,
    rest_numeric: Vec<bool>,
    sorted: bool,
    groups: Vec<Group>,
    rows: Vec<f64>,
    original: Vec<usize>,
}

fn canonical_bits(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else {
        x.to_bits()
    }
}

impl Index {
    fn new(scaled: &[Vec<f64>], features: &[Feature]) -> Self {
        let n = scaled[0].len();
        let order = discriminating_order(scaled, features);
        let mut grouping = Vec::new();
        for &j in &order {
            if features[j] != Feature::Categorical {
                continue;
            }
            let mut trial = grouping.clone();
            trial.push(j);
            if distinct_keys(scaled, &trial, MAX_GROUPS + 1) <= MAX_GROUPS {
                grouping = trial;
            }
        }
        let mut rest: Vec<usize> = order
            .into_iter()
            .filter(|j| !grouping.contains(j))
            .collect();
        let sort_column = rest
            .iter()
            .position(|&j| matches!(features[j], Feature::Numeric { .. }));
        if let Some(at) = sort_column {
            let j = rest.remove(at);
            rest.insert(0, j);
        }
        let sorted = sort_column.is_some();
        let rest_numeric = rest
            .iter()
            .map(|&j| matches!(features[j], Feature::Numeric { .. }))
            .collect();

        let mut by_key: std::collections::BTreeMap<Vec<u64>, Vec<usize>> = Default::default();
        for i in 0..n {
            by_key
                .entry(row_key(scaled, &grouping, i))
                .or_default()
                .push(i);
        }
        let width = rest.len();
        let mut rows = Vec::with_capacity(n * width);
        let mut original = Vec::with_capacity(n);
        let mut groups = Vec::with_capacity(by_key.len());
        for mut members in by_key.into_values() {
            let start = original.len();
            let mut sorted_end = start;
            if sorted {
                let s = &scaled[rest[0]];
                members.sort_by(|&a, &b| match (s[a].is_nan(), s[b].is_nan()) {
                    (false, false) => s[a].total_cmp(&s[b]),
                    (a_nan, b_nan) => a_nan.cmp(&b_nan),
                });
                sorted_end += members.iter().filter(|&&i| !s[i].is_nan()).count();
            }
            let key = grouping.iter().map(|&j| scaled[j][members[0]]).collect();
            for &i in &members {
                rows.extend(rest.iter().map(|&j| scaled[j][i]));
                original.push(i);
            }
            groups.push(Group {
                key,
                start,
                sorted_end,
                end: original.len(),
            });
        }
        Index {
            grouping,
            rest,
            rest_numeric,
            sorted,
            groups,
            rows,
            original,
        }
    }

    fn row(&self, pos: usize) -> &[f64] {
        let w = self.rest.len();
        &self.rows[pos * w..(pos + 1) * w]
    }

    /// The `k` nearest stored rows to `query` (a full row of scaled values), skipping the
    /// reference row `skip`, as raw (unaveraged) distances.
    fn search(&self, query: &[f64], skip: Option<usize>, k: usize) -> KBest {
        let q_rest: Vec<f64> = self.rest.iter().map(|&j| query[j]).collect();
        let mut by_bound: Vec<(f64, usize)> = self
            .groups
            .iter()
            .enumerate()
            .map(|(g, group)| {
                let d = self
                    .grouping
                    .iter()
                    .zip(&group.key)
                    .map(|(&j, &k)| term(query[j], k, false))
                    .sum();
                (d, g)
            })
            .collect();
        by_bound.sort_by(|a, b| a.0.total_cmp(&b.0));

        let mut found = KBest::new(k);
        for (base, g) in by_bound {
            if base >= found.bound() {
                break;
            }
            let group = &self.groups[g];
            let visit = |pos: usize, found: &mut KBest| {
                if skip == Some(self.original[pos]) {
                    return;
                }
                let d = base
                    + partial_distance(
                        &q_rest,
                        self.row(pos),
                        &self.rest_numeric,
                        found.bound() - base,
                    );
                found.offer(d, self.original[pos]);
            };
            if !self.sorted {
                (group.start..group.end).for_each(|pos| visit(pos, &mut found));
                continue;
            }
            let s = q_rest[0];
            if s.is_nan() {
                (group.sorted_end..group.end).for_each(|pos| visit(pos, &mut found));
                if base + 1.0 < found.bound() {
                    (group.start..group.sorted_end).for_each(|pos| visit(pos, &mut found));
                }
                continue;
            }
            let (mut down, mut up) = {
                let (mut lo, mut hi) = (group.start, group.sorted_end);
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if self.row(mid)[0] < s {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                (lo, lo)
            };
            loop {
                let gap_down = (down > group.start).then(|| s - self.row(down - 1)[0]);
                let gap_up = (up < group.sorted_end).then(|| self.row(up)[0] - s);
                let (gap, go_up) = match (gap_down, gap_up) {
                    (None, None) => break,
                    (Some(d), None) => (d, false),
                    (None, Some(u)) => (u, true),
                    (Some(d), Some(u)) => (d.min(u), u < d),
                };
                if base + gap.min(1.0) >= found.bound() {
                    break;
                }
                if go_up {
                    visit(up, &mut found);
                    up += 1;
                } else {
                    down -= 1;
                    visit(down, &mut found);
                }
            }
            if base + 1.0 < found.bound() {
                (group.sorted_end..group.end).for_each(|pos| visit(pos, &mut found));
            }
        }
        found
    }
}

/// The `k` smallest distances seen so far, ascending, with their row indices.
struct KBest {
    k: usize,
    distances: Vec<f64>,
    indices: Vec<usize>,
}

impl KBest {
    fn new(k: usize) -> Self {
        KBest {
            k,
            distances: Vec::with_capacity(k + 1),
            indices: Vec::with_capacity(k + 1),
        }
    }

    /// A candidate must be closer than this to enter.
    fn bound(&self) -> f64 {
        if self.distances.len() < self.k {
            f64::INFINITY
        } else {
            self.distances[self.k - 1]
        }
    }

    fn offer(&mut self, d: f64, index: usize) {
        if d >= self.bound() {
            return;
        }
        let at = self.distances.partition_point(|&x| x <= d);
        self.distances.insert(at, d);
        self.indices.insert(at, index);
        self.distances.truncate(self.k);
        self.indices.truncate(self.k);
    }
}

/// The bits of row `i`'s values in `columns`, NaNs made equal.
fn row_key(scaled: &[Vec<f64>], columns: &[usize], i: usize) -> Vec<u64> {
    columns
        .iter()
        .map(|&j| canonical_bits(scaled[j][i]))
        .collect()
}

/// Number of distinct value combinations of `columns`, counted up to `limit`.
fn distinct_keys(scaled: &[Vec<f64>], columns: &[usize], limit: usize) -> usize {
    let mut seen = std::collections::HashSet::new();
    for i in 0..scaled[0].len() {
        seen.insert(row_key(scaled, columns, i));
        if seen.len() >= limit {
            break;
        }
    }
    seen.len()
}

/// Columns divided by their ranges (numeric) or as they are (categorical).
fn scale(columns: &[Vec<f64>], features: &[Feature]) -> Vec<Vec<f64>> {
    columns
        .iter()
        .zip(features)
        .map(|(c, f)| match f {
            Feature::Numeric { range } => c.iter().map(|x| x / range).collect(),
            Feature::Categorical => c.clone(),
        })
        .collect()
}

/// For every row of `query`, the `k` nearest rows of `reference` by Gower distance.
///
/// Columns are given as equal-length vectors of f64 (category codes for categorical
/// columns; NaN marks a missing value). With `exclude_self`, `query` must be `reference`
/// itself and each row's own index is skipped (leave-one-out distances). The search is
/// exact (reference rows are grouped and sorted so that most can be skipped) and runs in parallel over query rows on `threads` threads.
pub fn nearest(
    reference: &[Vec<f64>],
    query: &[Vec<f64>],
    features: &[Feature],
    k: usize,
    exclude_self: bool,
    threads: usize,
) -> Result<Neighbours> {
    if k == 0 {
        return Err(Error::Config("ask for at least one neighbour".into()));
    }
    check_columns(reference, features, "reference")?;
    check_columns(query, features, "query")?;
    let n_ref = reference[0].len();
    let n_query = query[0].len();
    if exclude_self && n_ref != n_query {
        return Err(Error::Config(
            "leave-one-out distances need the query to be the reference".into(),
        ));
    }
    if n_ref < 1 + usize::from(exclude_self) {
        return Err(Error::Data("too few reference rows".into()));
    }
    let index = Index::new(&scale(reference, features), features);
    let query = scale(query, features);
    let p = features.len() as f64;

    let pool = crate::parallel::thread_pool(threads)?;
    let found: Vec<KBest> = pool.install(|| {
        (0..n_query)
            .into_par_iter()
            .map_init(
                || vec![0.0; features.len()],
                |row, i| {
                    for (x, column) in row.iter_mut().zip(&query) {
                        *x = column[i];
                    }
                    index.search(row, exclude_self.then_some(i), k)
                },
            )
            .collect()
    });
    let mut distances = Vec::with_capacity(n_query * k);
    let mut indices = Vec::with_capacity(n_query * k);
    for f in found {
        let missing = k - f.distances.len();
        distances.extend(f.distances.iter().map(|d| d / p));
        distances.extend(std::iter::repeat_n(f64::INFINITY, missing));
        indices.extend(f.indices);
        indices.extend(std::iter::repeat_n(usize::MAX, missing));
    }
    Ok(Neighbours {
        k,
        distances,
        indices,
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

/// Columns ordered by how far apart two rows are on them (largest first, estimated from
/// consecutive rows of the scaled columns), so that scans abandon hopeless candidates early.
fn discriminating_order(scaled: &[Vec<f64>], features: &[Feature]) -> Vec<usize> {
    let spread: Vec<f64> = scaled
        .iter()
        .zip(features)
        .map(|(c, f)| {
            let numeric = matches!(f, Feature::Numeric { .. });
            let pairs = c.len().saturating_sub(1).min(2000);
            let total: f64 = (0..pairs).map(|i| term(c[i], c[i + 1], numeric)).sum();
            total / pairs.max(1) as f64
        })
        .collect();
    let mut order: Vec<usize> = (0..scaled.len()).collect();
    order.sort_by(|&a, &b| spread[b].total_cmp(&spread[a]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `K` smallest distances of each query row by a full scan.
    fn brute_force(
        reference: &[Vec<f64>],
        query: &[Vec<f64>],
        features: &[Feature],
        exclude_self: bool,
    ) -> Vec<Vec<f64>> {
        let scaled_ref = scale(reference, features);
        let scaled_query = scale(query, features);
        (0..query[0].len())
            .map(|i| {
                let mut d: Vec<f64> = (0..reference[0].len())
                    .filter(|&r| !(exclude_self && r == i))
                    .map(|r| {
                        features
                            .iter()
                            .enumerate()
                            .map(|(j, f)| {
                                let numeric = matches!(f, Feature::Numeric { .. });
                                term(scaled_query[j][i], scaled_ref[j][r], numeric)
                            })
                            .sum::<f64>()
                            / features.len() as f64
                    })
                    .collect();
                d.sort_by(f64::total_cmp);
                d.resize(K, f64::INFINITY);
                d
            })
            .collect()
    }

    /// Mixed columns: skewed numbers, a few and many categories, missing values in both.
    fn table(n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = crate::rng::SeededRng::new(seed);
        let mut u = || rng.uniform();
        let mut columns = vec![Vec::new(); 5];
        for _ in 0..n {
            columns[0].push((u() * 3.0).exp());
            columns[1].push((u() * 4.0).floor());
            columns[2].push(if u() < 0.2 { f64::NAN } else { u() });
            columns[3].push((u() * 300.0).floor());
            columns[4].push(if u() < 0.1 {
                f64::NAN
            } else {
                (u() * 3.0).floor()
            });
        }
        columns
    }

    const FEATURES: [Feature; 5] = [
        Feature::Numeric { range: 20.0 },
        Feature::Categorical,
        Feature::Numeric { range: 1.0 },
        Feature::Categorical,
        Feature::Categorical,
    ];

    const K: usize = 4;

    fn assert_matches(found: &Neighbours, expected: &[Vec<f64>]) {
        assert_eq!(found.k, K);
        for (i, row) in expected.iter().enumerate() {
            let got = &found.distances[i * K..(i + 1) * K];
            for (a, b) in got.iter().zip(row) {
                assert!(
                    (a - b).abs() < 1e-12 || a == b,
                    "row {i}: {got:?} vs {row:?}"
                );
            }
        }
    }

    #[test]
    fn matches_a_full_scan() {
        let reference = table(2000, 1);
        let query = table(300, 2);
        let found = nearest(&reference, &query, &FEATURES, K, false, 2).unwrap();
        assert_matches(&found, &brute_force(&reference, &query, &FEATURES, false));
        let loo = nearest(&reference, &reference, &FEATURES, K, true, 2).unwrap();
        assert_matches(&loo, &brute_force(&reference, &reference, &FEATURES, true));
    }

    #[test]
    fn matches_a_full_scan_without_numeric_or_categorical_columns() {
        let reference = table(500, 3);
        let query = table(100, 4);
        for keep in [vec![0, 2], vec![1, 3, 4]] {
            let pick = |t: &[Vec<f64>]| keep.iter().map(|&j| t[j].clone()).collect::<Vec<_>>();
            let features: Vec<Feature> = keep.iter().map(|&j| FEATURES[j]).collect();
            let found = nearest(&pick(&reference), &pick(&query), &features, K, false, 1).unwrap();
            assert_matches(
                &found,
                &brute_force(&pick(&reference), &pick(&query), &features, false),
            );
        }
    }

    #[test]
    fn a_copy_is_at_distance_zero_unless_excluded() {
        let reference = table(50, 3);
        let found = nearest(&reference, &reference, &FEATURES, 1, false, 1).unwrap();
        assert!(found.distances.iter().all(|&d| d == 0.0));
        let same_row =
            |i: usize, r: usize| reference.iter().all(|c| c[i].to_bits() == c[r].to_bits());
        assert!(found
            .indices
            .iter()
            .enumerate()
            .all(|(i, &r)| same_row(i, r)));
        let loo = nearest(&reference, &reference, &FEATURES, 1, true, 1).unwrap();
        assert!(loo.distances.iter().all(|&d| d > 0.0));
        assert!(loo.indices.iter().enumerate().all(|(i, &r)| i != r));
    }

    #[test]
    fn missing_values_follow_gower_and_absent_neighbours_are_marked() {
        let reference = vec![vec![f64::NAN], vec![1.0]];
        let query = vec![vec![f64::NAN, 0.5], vec![1.0, 1.0]];
        let features = [Feature::Numeric { range: 1.0 }, Feature::Categorical];
        let found = nearest(&reference, &query, &features, 2, false, 1).unwrap();
        assert_eq!(found.nth(0), vec![0.0, 0.5]);
        assert!(found.nth(1).iter().all(|d| d.is_infinite()));
        assert_eq!(found.indices, vec![0, usize::MAX, 0, usize::MAX]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let reference = table(10, 4);
        assert!(nearest(&reference, &reference[..2], &FEATURES, 1, false, 1).is_err());
        let mut bad = FEATURES;
        bad[0] = Feature::Numeric { range: 0.0 };
        assert!(nearest(&reference, &reference, &bad, 1, false, 1).is_err());
        assert!(nearest(&reference, &table(5, 1), &FEATURES, 1, true, 1).is_err());
        assert!(nearest(&reference, &reference, &FEATURES, 0, false, 1).is_err());
    }
}
