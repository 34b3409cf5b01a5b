//! Sums in sixteen lanes: independent partial sums, which the compiler turns into vector
//! instructions (a plain sum of floats must add in order and stays scalar).

const LANES: usize = 16;

/// The sum of `f(v)` over `x`.
pub fn sum_by(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        acc.iter_mut().zip(c).for_each(|(a, &v)| *a += f(v));
    }
    acc.iter().sum::<f32>() + rest
}

pub fn sum(x: &[f32]) -> f32 {
    sum_by(x, |v| v)
}

/// Adds `ys` to `x` in place and returns the sum of the new values, added as [`sum`]
/// adds them.
pub fn add_and_sum(x: &mut [f32], ys: &[f32]) -> f32 {
    debug_assert_eq!(x.len(), ys.len());
    let mut acc = [0.0f32; LANES];
    let main = x.len() - x.len() % LANES;
    let (head, tail) = x.split_at_mut(main);
    for (c, y) in head.chunks_exact_mut(LANES).zip(ys.chunks_exact(LANES)) {
        for i in 0..LANES {
            c[i] += y[i];
            acc[i] += c[i];
        }
    }
    let rest: f32 = tail
        .iter_mut()
        .zip(&ys[main..])
        .map(|(v, &y)| {
            *v += y;
            *v
        })
        .sum();
    acc.iter().sum::<f32>() + rest
}

/// Inner product of two slices of equal length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; LANES];
    let main = a.len() - a.len() % LANES;
    for (x, y) in a[..main]
        .chunks_exact(LANES)
        .zip(b[..main].chunks_exact(LANES))
    {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let rest: f32 = a[main..].iter().zip(&b[main..]).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sums_add_every_value() {
        for n in [0, 1, 15, 16, 17, 40] {
            let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 3) as f32 - 1.0).collect();
            let plain: f32 = a.iter().sum();
            assert_eq!(sum(&a), plain);
            let squares: f32 = a.iter().map(|v| v * v).sum();
            assert_eq!(sum_by(&a, |v| v * v), squares);
            let products: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert_eq!(dot(&a, &b), products);
            let mut added = a.clone();
            let total = add_and_sum(&mut added, &b);
            let expected: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
            assert_eq!(added, expected);
            assert_eq!(total, sum(&expected));
        }
    }
}
