//! An empirical privacy audit: a distinguishing game over many small private fits. The
//! adversary knows every draw but the privacy draws (initial weights, the generator's
//! inputs), sees the released model, and guesses whether a canary row was in the
//! training data from the critic's score at the canary. Any test's true- and
//! false-positive rates bound epsilon from below (TPR <= exp(epsilon) FPR + delta); with
//! Clopper-Pearson intervals on held-out games the bound holds with 95% confidence
//! (Jagielski, Ullman & Oprea 2020). It must stay under the claimed epsilon, and the same
//! game against a fit with far too little noise must exceed that claim, or the audit would
//! be too weak to catch a broken mechanism.

use candle_core::{Device as CandleDevice, Tensor};
use sygnet_core::config::TrainConfig;
use sygnet_core::device::Device;
use sygnet_core::model::Model;
use sygnet_core::network::{Critic, Params, CRITIC};
use sygnet_core::privacy::{Bound, PrivacyConfig};
use sygnet_core::rng::{RandomSource, SeededRng};
use sygnet_core::schema::{Column, Kind, Table, Values};
use sygnet_core::train::Trainer;

const DELTA: f64 = 1e-5;
const CANARY: f64 = 1.0;
const ROWS: usize = 5;

/// A few rows near -0.5 on [-1, 1]; the neighbouring data set adds a canary at the upper
/// bound. Both declare the same number of rows, so both sample at the same rate (here 1,
/// so the game measures clipping, noise and accounting without sampling's help): the
/// neighbours of the guarantee.
fn data(with_canary: bool) -> Table {
    let mut x: Vec<f64> = SeededRng::new(1)
        .normal_vec(ROWS)
        .into_iter()
        .map(|v| (0.05 * f64::from(v) - 0.5).clamp(-1.0, 0.0))
        .collect();
    if with_canary {
        x.push(CANARY);
    }
    let n = x.len();
    Table::new(
        vec![Column::new("x", Kind::Double, Values::Real(x)).unwrap()],
        n,
    )
    .unwrap()
}

fn config(epsilon: f64) -> TrainConfig {
    TrainConfig {
        batch_size: ROWS,
        noise_dim: 4,
        generator: vec![8],
        critic: vec![8],
        pac: 1,
        critic_steps: 1,
        critic_dropout: 0.0,
        learning_rate: 1e-2,
        rejection: false,
        privacy: Some(PrivacyConfig {
            epsilon,
            delta: DELTA,
            max_grad_norm: 1.0,
            noise_multiplier: None,
            epochs: 30,
            bounds: vec![Bound {
                column: "x".into(),
                lower: -1.0,
                upper: 1.0,
            }],
            levels: Vec::new(),
            sample_rate: 0.0,
            max_steps: 0,
            steps_taken: 0,
            rows: Some(ROWS),
            marginal_share: 0.0,
            marginal_noise: None,
            moment_share: 0.0,
            moment_noise: None,
        }),
        ..TrainConfig::default()
    }
}

/// The released critic's score at the canary.
fn canary_score(model: &Model) -> f32 {
    let dev = CandleDevice::Cpu;
    let params = Params::from_tensors(&model.weights, CRITIC, &dev).unwrap();
    let critic = Critic::new(&model.critic, &params, &mut SeededRng::new(0)).unwrap();
    let canary = Table::new(
        vec![Column::new("x", Kind::Double, Values::Real(vec![CANARY])).unwrap()],
        1,
    )
    .unwrap();
    let encoded = model
        .encoder
        .encode(&canary, &mut SeededRng::new(0))
        .unwrap();
    let x = Tensor::from_vec(encoded.into_raw_vec_and_offset().0, (1, 3), &dev).unwrap();
    let ones: Vec<Tensor> = model
        .critic
        .hidden
        .iter()
        .map(|&h| Tensor::ones((1, h), candle_core::DType::F32, &dev).unwrap())
        .collect();
    critic
        .forward(&x, &ones)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()[0]
}

/// Canary scores of `trials` fits, each with fresh privacy draws and the same other draws.
fn scores(epsilon: f64, with_canary: bool, trials: usize) -> Vec<f32> {
    let table = data(with_canary);
    (0..trials)
        .map(|_| {
            let mut trainer = Trainer::new(
                &table,
                config(epsilon),
                RandomSource::SeedExceptPrivacy(7),
                1,
                Device::Cpu,
            )
            .unwrap();
            trainer.train(30 * trainer.steps_per_epoch()).unwrap();
            canary_score(&trainer.model().unwrap())
        })
        .collect()
}

/// ln P(X = k) for X ~ Binomial(n, p).
fn ln_binomial_pmf(k: usize, n: usize, p: f64) -> f64 {
    let ln_choose: f64 = (1..=k).map(|i| ((n - k + i) as f64 / i as f64).ln()).sum();
    let with = if k == 0 { 0.0 } else { k as f64 * p.ln() };
    let without = if k == n {
        0.0
    } else {
        (n - k) as f64 * (1.0 - p).ln()
    };
    ln_choose + with + without
}

/// P(X >= k) for X ~ Binomial(n, p).
fn upper_tail(k: usize, n: usize, p: f64) -> f64 {
    (k..=n).map(|i| ln_binomial_pmf(i, n, p).exp()).sum()
}

/// The p where `f(p)` (increasing in p) crosses `target`, by bisection on [0, 1].
fn solve(f: impl Fn(f64) -> f64, target: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// One-sided Clopper-Pearson bounds for `k` successes in `n` trials, each at 97.5%.
fn rate_lower(k: usize, n: usize) -> f64 {
    if k == 0 {
        0.0
    } else {
        solve(|p| upper_tail(k, n, p), 0.025)
    }
}

fn rate_upper(k: usize, n: usize) -> f64 {
    if k == n {
        1.0
    } else {
        solve(|p| upper_tail(k + 1, n, p), 0.975)
    }
}

/// A 95%-confidence lower bound on epsilon from scores with and without the canary: the
/// first half of each picks the threshold and direction, the second half is counted.
fn epsilon_lower_bound(with: &[f32], without: &[f32]) -> f64 {
    let (with_pick, with_test) = with.split_at(with.len() / 2);
    let (without_pick, without_test) = without.split_at(without.len() / 2);
    let share_above = |xs: &[f32], t: f32| xs.iter().filter(|&&x| x > t).count();
    let mut best = (f64::NEG_INFINITY, 0.0f32, true);
    for &t in with_pick.iter().chain(without_pick) {
        let tpr = share_above(with_pick, t) as f64 / with_pick.len() as f64;
        let fpr = share_above(without_pick, t) as f64 / without_pick.len() as f64;
        for (gap, above) in [(tpr - fpr, true), (fpr - tpr, false)] {
            if gap > best.0 {
                best = (gap, t, above);
            }
        }
    }
    let (_, t, above) = best;
    let count = |xs: &[f32]| {
        let k = share_above(xs, t);
        if above {
            k
        } else {
            xs.len() - k
        }
    };
    let (m, n) = (with_test.len(), without_test.len());
    let tpr = rate_lower(count(with_test), m);
    let fpr = rate_upper(count(without_test), n);
    // The test and its complement both bound epsilon.
    let direct = ((tpr - DELTA) / fpr).ln();
    let complement = ((1.0 - fpr - DELTA) / (1.0 - tpr)).ln();
    direct.max(complement).max(0.0)
}

#[test]
fn clopper_pearson_bounds_bracket_the_rate() {
    let (lo, hi) = (rate_lower(30, 100), rate_upper(30, 100));
    // R: binom.test(30, 100)$conf.int is 0.2124 to 0.3998
    assert!((lo - 0.2124).abs() < 1e-3, "{lo}");
    assert!((hi - 0.3998).abs() < 1e-3, "{hi}");
}

#[test]
fn the_audit_bound_stays_below_the_claim_and_catches_a_leaky_fit() {
    let trials = 200;
    let bound = |epsilon| {
        epsilon_lower_bound(
            &scores(epsilon, true, trials),
            &scores(epsilon, false, trials),
        )
    };
    let claimed = 1.0;
    let private = bound(claimed);
    // A fit that spends 64 where 1 is claimed, as if the noise were 40 times too small.
    let leaky = bound(64.0);
    println!(
        "audit: epsilon lower bound {private:.3} at claimed {claimed}; {leaky:.3} at epsilon 64"
    );
    assert!(private < claimed, "lower bound {private} above the claim");
    assert!(
        leaky > claimed,
        "the audit cannot tell a leaky fit: {leaky}"
    );
}
