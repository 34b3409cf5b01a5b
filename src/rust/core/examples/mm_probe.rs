use candle_core::{Device, Tensor};
use ndarray::{linalg::general_mat_mul, Array2};
use std::time::Instant;
fn main() {
    let dev = Device::Cpu;
    for &(m, k, n) in &[
        (500usize, 128usize, 256usize),
        (500, 384, 256),
        (500, 640, 40),
        (50, 400, 256),
        (50, 256, 256),
    ] {
        let a = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, (k, n), &dev).unwrap();
        let reps = 200;
        let t = Instant::now();
        for _ in 0..reps {
            let _c = a.matmul(&b).unwrap();
        }
        let tc = t.elapsed().as_secs_f64() / reps as f64;
        let an = Array2::<f32>::from_shape_fn((m, k), |(i, j)| ((i * 7 + j) % 13) as f32);
        let bn = Array2::<f32>::from_shape_fn((k, n), |(i, j)| ((i * 3 + j) % 11) as f32);
        let mut cn = Array2::<f32>::zeros((m, n));
        let t = Instant::now();
        for _ in 0..reps {
            general_mat_mul(1.0, &an, &bn, 0.0, &mut cn);
        }
        let tn = t.elapsed().as_secs_f64() / reps as f64;
        // transposed A (gradient shape W^T)
        let at = an.t().to_owned();
        let t = Instant::now();
        let mut g = Array2::<f32>::zeros((k, n));
        for _ in 0..reps {
            general_mat_mul(1.0, &an.t(), &cn, 0.0, &mut g);
        }
        let tt = t.elapsed().as_secs_f64() / reps as f64;
        let _ = at;
        let gf = 2.0 * (m * k * n) as f64 / 1e9;
        println!("{m}x{k}x{n}: candle {:.3} ms ({:.0} GF/s), ndarray {:.3} ms ({:.0} GF/s), ndarray A^T B {:.3} ms", tc*1e3, gf/tc, tn*1e3, gf/tn, tt*1e3);
    }
}
