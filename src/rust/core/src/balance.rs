//! Balanced selection of drawn rows. The tilt ([`crate::tilt`]) gives generated rows
//! the training rows' means of its features in expectation; a sample of `n` rows still
//! misses them by its sampling error, which moves a regression on the sample about as
//! far as a new sample of real rows would. Drawing a few more rows than wanted and
//! keeping the subset whose feature means are closest to the training rows' removes
//! most of that error (balanced sampling), so that the sample's regressions stay near
//! the training rows' ones.

use ndarray::{Array1, Array2, ArrayView2};

use crate::cpu_step::gemm_into;
use crate::tilt::Tilt;

/// Features matched per row kept, at most: fewer rows, fewer features.
const ROWS_PER_FEATURE: usize = 2;
/// Passes over the spare rows, each trying every spare row once.
const PASSES: usize = 2;

/// Which `keep` of the rows of `features` (rejection features, `width` per row) to
/// keep, in increasing order: the first `keep` rows, then exchanges of a kept row with
/// a spare one wherever that brings the kept rows' sums of the tilt's standardised
/// features closer to the training rows' means. All rows when there are at most `keep`
/// or the tilt has no targets.
pub fn select(tilt: &Tilt, features: &[f32], width: usize, keep: usize) -> Vec<usize> {
    let rows = features.len() / width;
    let matched: Vec<usize> = (0..tilt.target.len())
        .filter(|&k| tilt.scale[k] > 0.0)
        .take(keep / ROWS_PER_FEATURE)
        .collect();
    if rows <= keep || matched.is_empty() {
        return (0..rows.min(keep)).collect();
    }
    let q = matched.len();
    let mut phi = Vec::with_capacity(tilt.n_features());
    let mut z: Vec<f32> = Vec::with_capacity(rows * q);
    for row in features.chunks_exact(width) {
        phi.clear();
        tilt.features(row, &mut phi);
        z.extend(
            matched
                .iter()
                .map(|&k| ((phi[k] - tilt.target[k]) / tilt.scale[k]) as f32),
        );
    }
    let z = ArrayView2::from_shape((rows, q), &z).expect("feature rows");
    // Inner products of every pair of rows, so that an exchange costs no inner products.
    let mut gram = Array2::zeros((rows, rows));
    gemm_into(&z, &z.t(), &mut gram, false);
    let mut kept: Vec<usize> = (0..keep).collect();
    let mut spare: Vec<usize> = (keep..rows).collect();
    // The sum of the kept rows' standardised features (zero is the training rows'
    // means), and its inner product with every row.
    let sum = kept.iter().fold(Array1::zeros(q), |s, &r| s + z.row(r));
    let mut with_sum = z.dot(&sum);
    for _ in 0..PASSES {
        let mut exchanged = false;
        for slot in spare.iter_mut() {
            let b = *slot;
            // |sum - z_a + z_b|^2 - |sum|^2 = |z_b|^2 + 2 sum.z_b + |z_a|^2 - 2 z_a.(sum + z_b)
            let gain_b = gram[[b, b]] + 2.0 * with_sum[b];
            let (mut best, mut change) = (0, f32::INFINITY);
            for (i, &a) in kept.iter().enumerate() {
                let c = gain_b + gram[[a, a]] - 2.0 * (with_sum[a] + gram[[a, b]]);
                if c < change {
                    (best, change) = (i, c);
                }
            }
            if change < 0.0 {
                let a = kept[best];
                for ((s, &to_b), &to_a) in with_sum.iter_mut().zip(gram.row(b)).zip(gram.row(a)) {
                    *s += to_b - to_a;
                }
                kept[best] = b;
                *slot = a;
                exchanged = true;
            }
        }
        if !exchanged {
            break;
        }
    }
    kept.sort_unstable();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    /// A tilt on rows of two numbers x, y whose features are x, y, x^2, xy and y^2,
    /// with targets of a correlation of 0.5.
    fn tilt() -> Tilt {
        Tilt {
            base: vec![0, 1],
            tails: Vec::new(),
            squares: Vec::new(),
            pairs: vec![(0, 0), (0, 1), (1, 1)],
            coef: vec![0.0; 5],
            target: vec![0.0, 0.0, 1.0, 0.5, 1.0],
            scale: vec![1.0, 1.0, 1.4, 1.0, 1.4],
        }
    }

    /// Largest gap between the features' means over `kept` rows and their targets, in
    /// units of their scale.
    fn worst_gap(tilt: &Tilt, rows: &[f32], kept: &[usize]) -> f64 {
        let mut sums = vec![0.0; tilt.n_features()];
        let mut phi = Vec::new();
        for &r in kept {
            phi.clear();
            tilt.features(&rows[2 * r..2 * r + 2], &mut phi);
            for (s, x) in sums.iter_mut().zip(&phi) {
                *s += x;
            }
        }
        sums.iter()
            .enumerate()
            .map(|(k, s)| ((s / kept.len() as f64 - tilt.target[k]) / tilt.scale[k]).abs())
            .fold(0.0, f64::max)
    }

    /// Rows of x, y with correlation `rho`.
    fn rows(n: usize, rho: f32, rng: &mut SeededRng) -> Vec<f32> {
        let e = rng.normal_vec(2 * n);
        e.chunks_exact(2)
            .flat_map(|p| [p[0], rho * p[0] + (1.0 - rho * rho).sqrt() * p[1]])
            .collect()
    }

    #[test]
    fn selected_rows_have_the_target_moments() {
        let tilt = tilt();
        let mut rng = SeededRng::new(3);
        // Drawn from the target distribution: only sampling error to remove.
        let drawn = rows(768, 0.5, &mut rng);
        let kept = select(&tilt, &drawn, 2, 512);
        assert_eq!(kept.len(), 512);
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        let first: Vec<usize> = (0..512).collect();
        let before = worst_gap(&tilt, &drawn, &first);
        let after = worst_gap(&tilt, &drawn, &kept);
        assert!(before > 0.03, "sampling error {before}");
        assert!(after < before / 5.0, "{before} -> {after}");
        assert_eq!(kept, select(&tilt, &drawn, 2, 512));
    }

    #[test]
    fn selection_closes_a_gap_that_spare_rows_allow() {
        let tilt = tilt();
        let mut rng = SeededRng::new(4);
        // Uncorrelated draws: the kept rows' correlation moves towards 0.5.
        let drawn = rows(768, 0.0, &mut rng);
        let first: Vec<usize> = (0..512).collect();
        let kept = select(&tilt, &drawn, 2, 512);
        let xy = |kept: &[usize]| {
            kept.iter()
                .map(|&r| f64::from(drawn[2 * r] * drawn[2 * r + 1]))
                .sum::<f64>()
                / kept.len() as f64
        };
        assert!(xy(&first) < 0.1, "{}", xy(&first));
        assert!(xy(&kept) > 0.3, "{}", xy(&kept));
    }

    #[test]
    fn without_targets_or_spare_rows_the_first_rows_are_kept() {
        let mut tilt = tilt();
        let mut rng = SeededRng::new(5);
        let drawn = rows(300, 0.5, &mut rng);
        assert_eq!(select(&tilt, &drawn, 2, 300), (0..300).collect::<Vec<_>>());
        assert_eq!(select(&tilt, &drawn[..400], 2, 150).len(), 150);
        tilt.target.clear();
        tilt.scale.clear();
        assert_eq!(select(&tilt, &drawn, 2, 200), (0..200).collect::<Vec<_>>());
    }
}
