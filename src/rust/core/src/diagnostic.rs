//! A quick quality check: how well a logistic regression on the encoded columns tells
//! real rows from synthetic ones, as the area under the ROC curve on held-out rows
//! (0.5: indistinguishable; 1: perfectly separable).

use candle_core::{Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::encoding::Encoder;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::rng::SeededRng;
use crate::sample::synthesize;
use crate::schema::Table;

const STEPS: usize = 300;
/// Real rows (at most) compared with as many synthetic rows.
const MAX_ROWS: usize = 5000;

/// Draws synthetic rows from `model` and scores them against (a sample of) `real`.
pub fn check_fit(
    model: &Model,
    real: &Table,
    seed: u64,
    threads: usize,
    device: &Device,
) -> Result<f64> {
    let mut rng = SeededRng::new(seed);
    let rows = rng.subset(real.n_rows(), MAX_ROWS);
    let real = real.take(&rows);
    let synthetic = synthesize(
        model,
        real.n_rows(),
        None,
        rng.split_seed(),
        threads,
        device,
    )?;
    propensity_auc(&model.encoder, &real, &synthetic, rng.split_seed())
}

/// Propensity-score AUC of `synthetic` against `real` (both compatible with `encoder`).
/// Half of the rows, drawn at random, fit the model; the other half score it.
pub fn propensity_auc(
    encoder: &Encoder,
    real: &Table,
    synthetic: &Table,
    seed: u64,
) -> Result<f64> {
    let mut rng = SeededRng::new(seed);
    let a = encoder.encode(real, &mut rng)?;
    let b = encoder.encode(synthetic, &mut rng)?;
    let (n_a, n_b, width) = (a.nrows(), b.nrows(), a.ncols());
    if n_a < 2 || n_b < 2 {
        return Err(Error::Data(
            "need at least two real and two synthetic rows".into(),
        ));
    }
    let labels: Vec<f32> = std::iter::repeat_n(0.0, n_a)
        .chain(std::iter::repeat_n(1.0, n_b))
        .collect();
    let rows: Vec<f32> = a.iter().chain(b.iter()).copied().collect();
    let mut order: Vec<u32> = (0..(n_a + n_b) as u32).collect();
    rng.shuffle(&mut order);
    let (train, test) = order.split_at(order.len() / 2);
    let dev = Device::Cpu;
    let x = Tensor::from_vec(rows, (n_a + n_b, width), &dev)?;
    let y = Tensor::from_vec(labels.clone(), (n_a + n_b, 1), &dev)?;
    let pick = |idx: &[u32], t: &Tensor| -> Result<Tensor> {
        Ok(t.index_select(&Tensor::new(idx, &dev)?, 0)?)
    };
    let (x_train, y_train) = (pick(train, &x)?, pick(train, &y)?);
    let w = Var::zeros((width, 1), candle_core::DType::F32, &dev)?;
    let bias = Var::zeros(1, candle_core::DType::F32, &dev)?;
    let params = ParamsAdamW {
        lr: 0.05,
        weight_decay: 1e-4,
        ..ParamsAdamW::default()
    };
    let mut opt = AdamW::new(vec![w.clone(), bias.clone()], params)?;
    for _ in 0..STEPS {
        let logits = x_train
            .matmul(w.as_tensor())?
            .broadcast_add(bias.as_tensor())?;
        // Binary cross-entropy with logits: softplus(z) - y z.
        let softplus = (logits.relu()? + (logits.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
        let loss = (softplus - (&y_train * &logits)?)?.mean_all()?;
        opt.backward_step(&loss)?;
    }
    let scores: Vec<f32> = pick(test, &x)?
        .matmul(w.as_tensor())?
        .squeeze(D::Minus1)?
        .to_vec1()?;
    let truth: Vec<bool> = test.iter().map(|&i| labels[i as usize] > 0.5).collect();
    Ok(auc(&scores, &truth))
}

/// Area under the ROC curve by the rank-sum formula, ties given average ranks.
pub fn auc(scores: &[f32], positive: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[i].total_cmp(&scores[j]));
    let mut ranks = vec![0.0; scores.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[start]] {
            end += 1;
        }
        let rank = (start + end) as f64 / 2.0 + 1.0;
        for &k in &order[start..=end] {
            ranks[k] = rank;
        }
        start = end + 1;
    }
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return 0.5;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(positive)
        .filter(|(_, &p)| p)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::EncoderOptions;
    use crate::schema::{Column, Kind, Values};

    #[test]
    fn auc_of_known_orderings() {
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), 1.0);
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), 0.0);
        assert_eq!(auc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]), 0.5);
    }

    fn table(shift: f64, seed: u64) -> Table {
        let x = SeededRng::new(seed)
            .normal_vec(2000)
            .into_iter()
            .map(|v| f64::from(v) + shift)
            .collect();
        Table::new(
            vec![Column::new("x", Kind::Double, Values::Real(x)).unwrap()],
            2000,
        )
        .unwrap()
    }

    #[test]
    fn separates_shifted_data_but_not_equal_data() {
        let options = EncoderOptions {
            numeric: crate::encoding::NumericEncoding::MinMax,
            ..EncoderOptions::default()
        };
        let real = table(0.0, 1);
        let enc = Encoder::fit(&real, &options, &mut SeededRng::new(1)).unwrap();
        let same = propensity_auc(&enc, &real, &table(0.0, 2), 3).unwrap();
        let shifted = propensity_auc(&enc, &real, &table(1.0, 2), 3).unwrap();
        assert!((same - 0.5).abs() < 0.05, "same {same}");
        assert!(shifted > 0.7, "shifted {shifted}");
    }
}
