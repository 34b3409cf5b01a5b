//! The privacy accountant against opacus, dp-accounting and high-precision integrals
//! (fixtures written by tools/accountant-fixture.py).

use sygnet_core::privacy::accountant::{
    epsilon, epsilon_composed, noise_multiplier, rdp, Use, MAX_ORDER, ORDERS,
};
use sygnet_core::Error;

/// The data rows of a fixture: `#` lines and the header skipped.
fn fixture(name: &str) -> Vec<Vec<f64>> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .skip(1)
        .map(|line| line.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

fn relative(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

#[test]
fn epsilon_matches_opacus_and_never_exceeds_dp_accounting() {
    let rows = fixture("rdp-reference.csv");
    assert_eq!(rows.len(), 7 * 5 * 5 * 4);
    let (mut worst_opacus, mut worst_ratio, mut best_ratio, mut tiny) = (0.0f64, 0.0f64, 1.0f64, 0);
    for row in rows {
        let [sigma, q, steps, delta, opacus, dp_accounting] = row[..] else {
            panic!("bad row {row:?}");
        };
        let spent = epsilon(sigma, q, steps as u64, delta).unwrap();
        let at = format!("sigma {sigma}, q {q}, steps {steps}, delta {delta}");
        if spent.epsilon == 0.0 {
            // The total-variation bound for a tiny total RDP, which dp-accounting
            // applies too and opacus does not.
            assert_eq!(dp_accounting, 0.0, "{at}");
            tiny += 1;
            continue;
        }
        let error = relative(spent.epsilon, opacus);
        assert!(error <= 1e-6, "{at}: {} vs opacus {opacus}", spent.epsilon);
        assert!(
            spent.epsilon <= dp_accounting * (1.0 + 1e-9),
            "{at}: {} vs dp-accounting {dp_accounting}",
            spent.epsilon
        );
        assert!(ORDERS.contains(&spent.order));
        worst_opacus = worst_opacus.max(error);
        worst_ratio = worst_ratio.max(spent.epsilon / dp_accounting);
        best_ratio = best_ratio.min(spent.epsilon / dp_accounting);
    }
    eprintln!(
        "largest relative difference from opacus {worst_opacus:.2e}; ratio to dp-accounting \
         from {best_ratio:.4} to 1 {:+.1e}; {tiny} rows at epsilon 0",
        worst_ratio - 1.0
    );
}

#[test]
fn rdp_matches_high_precision_values() {
    let rows = fixture("rdp-orders.csv");
    assert_eq!(rows.len(), 8 * 6 * 10);
    let (mut worst, mut worst_opacus) = (0.0f64, 0.0f64);
    for row in rows {
        let [q, sigma, order, opacus, exact, reverse] = row[..] else {
            panic!("bad row {row:?}");
        };
        let ours = rdp(q, sigma, order);
        let error = relative(ours, exact);
        assert!(
            error <= 1e-9,
            "q {q}, sigma {sigma}, order {order}: {ours} vs {exact}"
        );
        // The other direction of the divergence (recorded up to order 12) is never
        // the larger one.
        assert_eq!(reverse.is_nan(), order > 12.0);
        assert!(
            reverse.is_nan() || reverse <= ours * (1.0 + 1e-9),
            "q {q}, sigma {sigma}, order {order}: reverse {reverse}"
        );
        worst = worst.max(error);
        worst_opacus = worst_opacus.max(relative(opacus, exact));
    }
    eprintln!("largest relative error {worst:.2e} (opacus: {worst_opacus:.2e})");
}

#[test]
fn noise_multiplier_round_trips_and_is_the_smallest() {
    let cases = [
        (1.0, 1e-5, 0.01, 10_000),
        (8.0, 1e-5, 0.004, 50_000),
        (0.5, 1e-6, 0.001, 1_000),
        (3.0, 1e-5, 0.1, 100),
        (10.0, 1e-5, 1.0, 10),
        (200.0, 1e-5, 0.5, 10),
    ];
    for (target, delta, q, steps) in cases {
        let sigma = noise_multiplier(target, delta, q, steps).unwrap();
        let spent = epsilon(sigma, q, steps, delta).unwrap().epsilon;
        let at = format!("epsilon {target}, delta {delta}, q {q}, steps {steps}: sigma {sigma}");
        assert!(spent <= target, "{at} spends {spent}");
        assert!(spent >= target * (1.0 - 1e-4), "{at} spends only {spent}");
        let less = epsilon(sigma * (1.0 - 1e-5), q, steps, delta)
            .unwrap()
            .epsilon;
        assert!(less > target, "{at}: less noise still within the budget");
    }
}

#[test]
fn more_steps_a_larger_rate_or_less_noise_spend_more() {
    let spend = |sigma: f64, q: f64, steps: u64| epsilon(sigma, q, steps, 1e-5).unwrap().epsilon;
    let increasing = |values: Vec<f64>| values.windows(2).all(|w| w[0] < w[1]);
    let steps = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
    assert!(increasing(
        steps.iter().map(|&s| spend(1.0, 0.01, s)).collect()
    ));
    let rates = [1e-5, 1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9, 1.0];
    assert!(increasing(
        rates.iter().map(|&q| spend(1.0, q, 100)).collect()
    ));
    let noise = [100.0, 10.0, 3.0, 1.0, 0.6, 0.3, 0.1, 0.03];
    assert!(increasing(
        noise.iter().map(|&s| spend(s, 0.01, 1_000)).collect()
    ));
}

/// Epsilon when every step has RDP `per_step(order)`.
fn conversion(per_step: impl Fn(f64) -> f64, steps: f64, delta: f64) -> f64 {
    ORDERS
        .iter()
        .map(|&a| steps * per_step(a) + ((a - 1.0) / a).ln() - (delta.ln() + a.ln()) / (a - 1.0))
        .fold(f64::INFINITY, f64::min)
        .max(0.0)
}

#[test]
fn special_cases() {
    // No sampling: no privacy loss; every row: the Gaussian mechanism alone.
    assert_eq!(rdp(0.0, 1.0, 2.5), 0.0);
    assert_eq!(rdp(0.0, 0.0, 2.5), 0.0);
    assert_eq!(rdp(1.0, 2.0, 3.0), 3.0 / 8.0);
    assert_eq!(rdp(1.0, 2.0, 2.5), 2.5 / 8.0);
    assert_eq!(epsilon(1.0, 0.0, 1000, 1e-5).unwrap().epsilon, 0.0);
    let gaussian = epsilon(3.0, 1.0, 50, 1e-6).unwrap().epsilon;
    let want = conversion(|a| a / 18.0, 50.0, 1e-6);
    assert!(relative(gaussian, want) < 1e-12, "{gaussian} vs {want}");
    // No noise: no privacy.
    assert_eq!(rdp(0.01, 0.0, 2.5), f64::INFINITY);
    assert_eq!(rdp(0.01, 0.0, 3.0), f64::INFINITY);
    assert_eq!(epsilon(0.0, 0.01, 10, 1e-5).unwrap().epsilon, f64::INFINITY);
    // No steps spend nothing.
    assert_eq!(epsilon(0.0, 0.01, 0, 1e-5).unwrap().epsilon, 0.0);
    assert_eq!(noise_multiplier(1.0, 1e-5, 0.01, 0).unwrap(), 0.0);
    assert_eq!(noise_multiplier(1.0, 1e-5, 0.0, 1000).unwrap(), 0.0);
    // Fractional orders agree with their integer neighbours.
    for (q, sigma) in [(1e-4, 5.0), (0.01, 1.0), (0.2, 0.5), (0.5, 0.1)] {
        let (below, at, above) = (
            rdp(q, sigma, 5.0 - 1e-7),
            rdp(q, sigma, 5.0),
            rdp(q, sigma, 5.0 + 1e-7),
        );
        assert!(
            below < at && at < above,
            "q {q}, sigma {sigma}: {below} {at} {above}"
        );
        assert!(relative(below, at) < 1e-5 && relative(above, at) < 1e-5);
    }
}

#[test]
fn extreme_noise_gives_extreme_but_sane_values() {
    for sigma in [1e-300, 1e-100, 1e-10, 1e-3] {
        for order in [1.1, 2.0, 10.9, 1024.0, 4095.5] {
            let r = rdp(0.3, sigma, order);
            assert!(
                r >= 0.05 * order / (sigma * sigma),
                "sigma {sigma}, order {order}: {r}"
            );
        }
        assert!(
            epsilon(sigma, 0.3, 10, 1e-5).unwrap().epsilon > 1e5,
            "sigma {sigma}"
        );
    }
    for sigma in [1e6, 1e100, f64::MAX] {
        for order in [1.1, 2.0, 10.9, 1024.0, 4095.5] {
            let r = rdp(0.3, sigma, order);
            assert!(
                (0.0..1e-9).contains(&r),
                "sigma {sigma}, order {order}: {r}"
            );
        }
    }
}

#[test]
fn out_of_reach_targets_are_errors() {
    // Orders stop at 1024, so epsilon never drops below about 0.01 at delta 1e-8.
    let err = noise_multiplier(1e-3, 1e-8, 0.01, 100).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("out of reach"), "{err}");
    // Generous targets need no more than the smallest noise searched.
    assert_eq!(noise_multiplier(1e9, 1e-5, 1.0, 1).unwrap(), 0.01);
}

fn config<T>(result: sygnet_core::Result<T>) -> bool {
    matches!(result, Err(Error::Config(_)))
}

#[test]
fn invalid_arguments_are_errors() {
    for sigma in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(config(epsilon(sigma, 0.01, 10, 1e-5)), "sigma {sigma}");
    }
    for q in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
        assert!(config(epsilon(1.0, q, 10, 1e-5)), "q {q}");
        assert!(config(noise_multiplier(1.0, 1e-5, q, 10)), "q {q}");
    }
    for delta in [0.0, 1.0, -1e-5, 2.0, f64::NAN] {
        assert!(config(epsilon(1.0, 0.01, 10, delta)), "delta {delta}");
        assert!(
            config(noise_multiplier(1.0, delta, 0.01, 10)),
            "delta {delta}"
        );
    }
    for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(
            config(noise_multiplier(eps, 1e-5, 0.01, 10)),
            "epsilon {eps}"
        );
    }
    for (q, sigma, order) in [
        (0.01, 1.0, 1.0),
        (0.01, 1.0, 0.5),
        (0.01, 1.0, f64::NAN),
        (0.01, 1.0, f64::INFINITY),
        (0.01, 1.0, MAX_ORDER + 1.0),
        (1.5, 1.0, 2.0),
        (0.01, -1.0, 2.0),
        (0.01, f64::NAN, 2.0),
    ] {
        assert!(
            rdp(q, sigma, order).is_nan(),
            "q {q}, sigma {sigma}, order {order}"
        );
    }
}

#[test]
fn the_order_grid() {
    assert_eq!(ORDERS.len(), 99 + 53 + 4);
    assert!(ORDERS.windows(2).all(|w| w[0] < w[1]));
    for a in [1.1, 2.0, 7.3, 10.9, 11.0, 63.0, 128.0, 1024.0] {
        assert!(ORDERS.contains(&a), "{a}");
    }
    assert_eq!(ORDERS[0], 1.1);
    assert_eq!(ORDERS[ORDERS.len() - 1], 1024.0);
}

#[test]
fn composed_uses_add_their_rdp() {
    let one = Use {
        noise_multiplier: 1.1,
        sample_rate: 0.01,
        steps: 3000,
    };
    let twice = epsilon_composed(&[one, one], 1e-5).unwrap();
    let doubled = epsilon(1.1, 0.01, 6000, 1e-5).unwrap();
    assert_eq!(twice, doubled);
    // two fits that each spend 1 spend more than 1 together, and less than 2
    let sigma = noise_multiplier(1.0, 1e-5, 0.02, 2000).unwrap();
    let fit = Use {
        noise_multiplier: sigma,
        sample_rate: 0.02,
        steps: 2000,
    };
    let other = Use {
        noise_multiplier: noise_multiplier(1.0, 1e-5, 0.1, 300).unwrap(),
        sample_rate: 0.1,
        steps: 300,
    };
    let both = epsilon_composed(&[fit, other], 1e-5).unwrap().epsilon;
    assert!(both > 1.0 && both < 2.0, "{both}");
    assert_eq!(epsilon_composed(&[], 1e-5).unwrap().epsilon, 0.0);
}
