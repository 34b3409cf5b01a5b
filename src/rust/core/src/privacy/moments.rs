//! Released feature means, which tilt a private fit's draws towards the relations
//! between columns ([`crate::tilt`]): the means of simple features of a row (numbers'
//! encoded values and their squares, indicators of categories and missingness) and of
//! products of pairs of them from different columns, released by the Gaussian
//! mechanism. Which features, and the bound on the
//! L2 norm of a row's features that is the sensitivity of their sums, follow from the
//! encoding, the released histograms and the public row count alone; each row's
//! features are scaled down to that norm before they are summed.

use super::marginals::Marginal;
use crate::encoding::{Encoder, Transform};
use crate::tilt::{
    product_pairs, Tilt, MAX_FEATURES, MAX_LEVELS, MIN_ROWS, MIN_SHARE, ROWS_PER_FEATURE,
};

/// Noise standard deviation of a released mean, at most: each product released widens
/// the bound on a row's norm, and so the noise on every mean; products are released in
/// the tilt's order of importance until the next would pass this.
pub const MAX_MEAN_NOISE: f64 = 0.05;

/// The features whose means a private fit releases.
#[derive(Debug, Clone, PartialEq)]
pub struct MomentPlan {
    /// The features, without coefficients.
    pub tilt: Tilt,
    /// Bound on the L2 norm of a row's features.
    pub bound: f64,
    /// The release's noise multiplier: its noise has standard deviation
    /// `noise_multiplier * bound`.
    pub noise_multiplier: f64,
}

impl MomentPlan {
    /// Standard deviation of the noise on each released sum.
    pub fn noise_sd(&self) -> f64 {
        self.noise_multiplier * self.bound
    }
}

/// What a base feature is, for the bound on a row's norm.
#[derive(Debug, Clone, Copy)]
enum Term {
    /// A number's encoded value, in [-1, 1], zero unless the value is present (slot 0
    /// of the column's group, if it has one).
    Scalar { grouped: bool },
    /// Indicator of slot `k` of the column's group.
    Slot(usize),
}

impl Term {
    /// Largest square of the term in a row whose column is in slot `state`.
    fn square(self, state: usize) -> f64 {
        match self {
            Term::Scalar { grouped } => f64::from(!grouped || state == 0),
            Term::Slot(k) => f64::from(k == state),
        }
    }
}

/// The features released for `encoder` (a private fit's, built on the released
/// histograms `released`, one per column) and the bound on a row's feature norm, given
/// the public row count and the release's noise multiplier: every base feature, then
/// products in the tilt's order while the noise on a mean stays within
/// [`MAX_MEAN_NOISE`]. `None` when even the base features would pass it.
pub fn plan(
    encoder: &Encoder,
    released: &[Marginal],
    rows: usize,
    noise_multiplier: f64,
) -> Option<MomentPlan> {
    if rows == 0 || released.len() != encoder.columns.len() {
        return None;
    }
    let least = MIN_SHARE.max(MIN_ROWS as f64 / rows as f64);
    let (mut base, mut binary, mut column, mut terms) = (vec![], vec![], vec![], vec![]);
    let mut states = Vec::with_capacity(encoder.columns.len());
    for (c, (codec, marginal)) in encoder.columns.iter().zip(released).enumerate() {
        let group = codec.group.map(|g| encoder.groups[g]);
        states.push(group.map_or(1, |g| g.width));
        let shares = marginal.slot_shares();
        let mut slots: Vec<(usize, f64)> = match group {
            Some(g) if shares.len() == g.width => shares.into_iter().enumerate().collect(),
            Some(_) => return None,
            None => Vec::new(),
        };
        match &codec.transform {
            Transform::MinMax { .. } | Transform::Quantile { .. } => {
                if let Some(s) = codec.scalar {
                    base.push(s);
                    binary.push(false);
                    column.push(c);
                    terms.push(Term::Scalar {
                        grouped: group.is_some(),
                    });
                }
            }
            Transform::Categorical { .. } => {}
            Transform::AllMissing => continue,
            Transform::Modes { .. } => return None,
        }
        // The commonest slot is the baseline; rare ones are mostly noise.
        slots.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for &(k, share) in slots.iter().skip(1).take(MAX_LEVELS) {
            if (least..=1.0 - least).contains(&share) {
                let start = group.map_or(0, |g| g.start);
                base.push(start + k);
                binary.push(true);
                column.push(c);
                terms.push(Term::Slot(k));
            }
        }
    }
    if base.is_empty() {
        return None;
    }
    let position = vec![false; base.len()];
    let most = MAX_FEATURES.min((rows / ROWS_PER_FEATURE).max(base.len()));
    let noise = |bound: f64| noise_multiplier * bound / rows as f64;
    let n_base = base.len();
    let (mut squares, mut pairs) = (Vec::new(), Vec::new());
    let mut bound = norm_bound(&terms, &column, &states, &pairs);
    if noise(bound) > MAX_MEAN_NOISE {
        return None;
    }
    // In the tilt's order, products of pairs, a number's square taken as a term of its
    // own (so that it can pair with other columns); then products of squares with other
    // columns, numbers first.
    let mut candidates: Vec<Candidate> = product_pairs(&binary, &column, &position)
        .into_iter()
        .map(|(i, j)| {
            if i == j {
                Candidate::Square(i)
            } else {
                Candidate::Pair(i, j)
            }
        })
        .collect();
    let mut by_square: Vec<(bool, usize, usize)> = Vec::new();
    for i in (0..n_base).filter(|&i| !binary[i]) {
        for j in (0..n_base).filter(|&j| column[j] != column[i]) {
            by_square.push((binary[j], i, j));
        }
    }
    by_square.sort();
    candidates.extend(
        by_square
            .into_iter()
            .map(|(_, i, j)| Candidate::SquareBy(i, j)),
    );
    for candidate in candidates {
        if n_base + squares.len() + pairs.len() >= most {
            break;
        }
        match candidate {
            Candidate::Square(i) => {
                squares.push(i);
                terms.push(terms[i]);
                column.push(column[i]);
            }
            Candidate::Pair(i, j) => pairs.push((i, j)),
            Candidate::SquareBy(i, j) => match squares.iter().position(|&s| s == i) {
                Some(k) => pairs.push((n_base + k, j)),
                None => continue,
            },
        }
        let wider = norm_bound(&terms, &column, &states, &pairs);
        if noise(wider) > MAX_MEAN_NOISE {
            if let Candidate::Square(_) = candidate {
                squares.pop();
                terms.pop();
                column.pop();
            } else {
                pairs.pop();
            }
            break;
        }
        bound = wider;
    }
    Some(MomentPlan {
        tilt: Tilt {
            base,
            tails: Vec::new(),
            squares,
            pairs,
            coef: Vec::new(),
            target: Vec::new(),
            scale: Vec::new(),
        },
        bound,
        noise_multiplier,
    })
}

/// A feature the plan may add, in order.
#[derive(Debug, Clone, Copy)]
enum Candidate {
    /// The square of base feature `i`, as a term.
    Square(usize),
    /// The product of base features `i` and `j`.
    Pair(usize, usize),
    /// The product of base feature `i`'s square (if it is a term) and base feature `j`.
    SquareBy(usize, usize),
}

/// Bound on the L2 norm of a row's features: terms `terms` of columns `column` (a
/// column in one of `states[c]` slots at a time) and products `pairs` of terms. A
/// column's terms add at most their largest sum of squares over its slots (a square,
/// as a term, is at most its value's square); the products of two columns' terms at
/// most the product of the two columns' largest sums of squares over the terms in
/// those products.
fn norm_bound(terms: &[Term], column: &[usize], states: &[usize], pairs: &[(usize, usize)]) -> f64 {
    let n_cols = states.len();
    // Whether term i is in a product with a term of column d.
    let mut paired = vec![vec![false; n_cols]; terms.len()];
    for &(a, b) in pairs {
        paired[a][column[b]] = true;
        paired[b][column[a]] = true;
    }
    let of_column: Vec<Vec<usize>> = (0..n_cols)
        .map(|c| (0..terms.len()).filter(|&i| column[i] == c).collect())
        .collect();
    let most_over_states = |c: usize, counted: &dyn Fn(usize) -> bool| -> f64 {
        (0..states[c])
            .map(|state| {
                of_column[c]
                    .iter()
                    .filter(|&&i| counted(i))
                    .map(|&i| terms[i].square(state))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max)
    };
    let mut total: f64 = (0..n_cols).map(|c| most_over_states(c, &|_| true)).sum();
    for c in 0..n_cols {
        for d in c + 1..n_cols {
            let (c_side, d_side) = (
                most_over_states(c, &|i| paired[i][d]),
                most_over_states(d, &|i| paired[i][c]),
            );
            total += c_side * d_side;
        }
    }
    total.sqrt()
}

/// The released feature means: each row of `features` (`width` rejection features per
/// row) gives its features scaled down to norm at most `plan.bound`; their sums get
/// Gaussian noise of standard deviation [`MomentPlan::noise_sd`] (`noise`: one standard
/// normal draw per feature) and are divided by the public row count `rows`.
pub fn release(
    plan: &MomentPlan,
    features: &[f32],
    width: usize,
    noise: &[f32],
    rows: usize,
) -> Vec<f64> {
    let p = plan.tilt.n_features();
    let mut sums = vec![0.0; p];
    let mut phi = Vec::with_capacity(p);
    for row in features.chunks_exact(width) {
        phi.clear();
        plan.tilt.features(row, &mut phi);
        let norm = phi.iter().map(|x| x * x).sum::<f64>().sqrt();
        let scale = if norm > plan.bound {
            plan.bound / norm
        } else {
            1.0
        };
        sums.iter_mut().zip(&phi).for_each(|(s, x)| *s += x * scale);
    }
    let sd = plan.noise_sd();
    sums.iter()
        .zip(noise)
        .map(|(s, &z)| (s + sd * f64::from(z)) / rows as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::EncoderOptions;
    use crate::privacy::{marginals, Bound, Levels, PrivacyConfig};
    use crate::rejection::{feature_width, features, slots_of};
    use crate::rng::{PrivacyRng, RandomSource, SeededRng};
    use crate::schema::{Column, Kind, Table, Values};

    /// A number with missing values, a second number and a three-level factor.
    fn table(n: usize, seed: u64) -> Table {
        let mut rng = SeededRng::new(seed);
        let x: Vec<f64> = (0..n)
            .map(|i| {
                if i % 5 == 0 {
                    f64::NAN
                } else {
                    4.0 * rng.uniform()
                }
            })
            .collect();
        let y: Vec<f64> = (0..n).map(|i| 10.0 * (i as f64 / n as f64)).collect();
        let f: Vec<Option<u32>> = (0..n).map(|_| Some(rng.below(3) as u32)).collect();
        let levels = vec!["a".to_string(), "b".into(), "c".into()];
        Table::new(
            vec![
                Column::new("x", Kind::Double, Values::Real(x)).unwrap(),
                Column::new("y", Kind::Double, Values::Real(y)).unwrap(),
                Column::new(
                    "f",
                    Kind::Factor {
                        levels,
                        ordered: false,
                    },
                    Values::Code(f),
                )
                .unwrap(),
            ],
            n,
        )
        .unwrap()
    }

    fn privacy() -> PrivacyConfig {
        let bound = |column: &str, upper: f64| Bound {
            column: column.into(),
            lower: 0.0,
            upper,
        };
        PrivacyConfig {
            epsilon: 1.0,
            delta: 1e-5,
            max_grad_norm: 1.0,
            noise_multiplier: None,
            epochs: 1,
            bounds: vec![bound("x", 4.0), bound("y", 10.0)],
            levels: vec![Levels {
                column: "f".into(),
                levels: vec!["a".into(), "b".into(), "c".into()],
            }],
            rows: None,
            sample_rate: 0.0,
            max_steps: 0,
            steps_taken: 0,
            marginal_share: 0.5,
            marginal_noise: None,
            moment_share: 0.25,
            moment_noise: None,
        }
    }

    /// The private encoder of `t` (histograms released without noise) and its released
    /// histograms.
    fn encoder(t: &Table) -> (Encoder, Vec<Marginal>) {
        let p = privacy();
        let mut seeded = SeededRng::new(1);
        let mut secret = PrivacyRng::new(RandomSource::Seed(2), &mut seeded).unwrap();
        let released = marginals::release(t, &p, 0.0, t.n_rows(), &mut secret).unwrap();
        let e = p
            .public_encoder(t, &EncoderOptions::default(), Some(&released))
            .unwrap();
        (e, released)
    }

    fn feature_rows(e: &Encoder, t: &Table) -> Vec<f32> {
        let encoded = e.encode(t, &mut SeededRng::new(3)).unwrap();
        let (scalars, slots) = slots_of(e, encoded.as_slice().unwrap());
        features(e, t.n_rows(), &scalars, &slots)
    }

    #[test]
    fn no_row_passes_the_bound_and_the_bound_follows_the_plan_alone() {
        let t = table(4000, 1);
        let (e, released) = encoder(&t);
        let plan = plan(&e, &released, 4000, 1.0).unwrap();
        // Both numbers, x's missingness, two of the three levels (y is never missing),
        // the two numbers' squares, and every product of two columns' terms: 8 of base
        // features, 7 of a square and a base feature.
        assert_eq!(plan.tilt.base.len(), 5);
        assert_eq!(plan.tilt.squares.len(), 2);
        assert_eq!(plan.tilt.pairs.len(), 15);
        let width = feature_width(&e);
        // Rows at the ends of the bounds and every slot, beside the data's own.
        let extremes = Table::new(
            vec![
                Column::new(
                    "x",
                    Kind::Double,
                    Values::Real(vec![0.0, 4.0, f64::NAN, 4.0]),
                )
                .unwrap(),
                Column::new("y", Kind::Double, Values::Real(vec![0.0, 10.0, 10.0, 0.0])).unwrap(),
                Column::new(
                    "f",
                    t.columns()[2].kind.clone(),
                    Values::Code(vec![Some(0), Some(1), Some(2), Some(2)]),
                )
                .unwrap(),
            ],
            4,
        )
        .unwrap();
        let mut largest: f64 = 0.0;
        let mut phi = Vec::new();
        for rows in [feature_rows(&e, &t), feature_rows(&e, &extremes)] {
            for row in rows.chunks_exact(width) {
                phi.clear();
                plan.tilt.features(row, &mut phi);
                largest = largest.max(phi.iter().map(|v| v * v).sum::<f64>().sqrt());
            }
        }
        assert!(largest <= plan.bound + 1e-9, "{largest} > {}", plan.bound);
        // Fewer rows or more noise: fewer products, then nothing.
        let fewer = super::plan(&e, &released, 400, 8.0).unwrap();
        assert!(fewer.tilt.pairs.len() < plan.tilt.pairs.len());
        assert!(fewer.bound < plan.bound);
        assert!(super::plan(&e, &released, 400, 100.0).is_none());
    }

    #[test]
    fn one_row_moves_the_released_sums_by_at_most_the_bound() {
        let t = table(2000, 3);
        let (e, released) = encoder(&t);
        let plan = plan(&e, &released, 2000, 1.0).unwrap();
        let width = feature_width(&e);
        let rows = feature_rows(&e, &t);
        let p = plan.tilt.n_features();
        let quiet = vec![0.0; p];
        let all = release(&plan, &rows, width, &quiet, 1);
        // A row outside every encoding (scalars far beyond [-1, 1]) is scaled down too.
        let mut wild = rows[..width].to_vec();
        wild.iter_mut().for_each(|v| *v = 50.0);
        for extra in [&rows[..width], &wild[..]] {
            let more: Vec<f32> = rows.iter().chain(extra).copied().collect();
            let with = release(&plan, &more, width, &quiet, 1);
            let moved = with
                .iter()
                .zip(&all)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt();
            assert!(moved <= plan.bound + 1e-6, "{moved} > {}", plan.bound);
        }
        // The noise: standard deviation noise multiplier x bound, over the rows.
        let unit = vec![1.0; p];
        let louder = MomentPlan {
            noise_multiplier: 2.0,
            ..plan.clone()
        };
        let noisy = release(&louder, &rows, width, &unit, 2000);
        for (n, a) in noisy.iter().zip(&all) {
            assert!((n - a / 2000.0 - 2.0 * plan.bound / 2000.0).abs() < 1e-9);
        }
    }
}
