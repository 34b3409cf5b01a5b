//! CTGAN's conditional vector and training-by-sampling, extended so that any subset of
//! the conditioning columns can be fixed at sampling time.
//!
//! The condition is a one-hot block per conditioning column (all zeros when that
//! column is not fixed). In training, one column is chosen at random and a level of it
//! with probability proportional to log(1 + frequency), so rare levels are seen often;
//! a real row with that level is drawn, and each other conditioning column is fixed to
//! that row's value with probability 1/2.

use serde::{Deserialize, Serialize};

use crate::encoding::{Encoder, Transform};
use crate::error::{Error, Result};
use crate::rng::SeededRng;
use crate::schema::Table;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CondColumn {
    /// Index of the column in the table.
    pub column: usize,
    /// Offset of its block in the condition vector.
    pub offset: usize,
    /// Slots: the column's softmax group in the encoded row.
    pub width: usize,
    /// Relative frequency of each slot in the training data.
    pub frequency: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CondSpec {
    pub columns: Vec<CondColumn>,
}

impl CondSpec {
    pub fn dim(&self) -> usize {
        self.columns.last().map_or(0, |c| c.offset + c.width)
    }

    /// Whether a stored spec fits `encoder`: each column categorical with a softmax
    /// group of its width, blocks in order, frequencies one per slot.
    pub fn fits(&self, encoder: &Encoder) -> bool {
        let mut offset = 0;
        self.columns.iter().all(|c| {
            let group = encoder
                .columns
                .get(c.column)
                .filter(|codec| matches!(codec.transform, Transform::Categorical { .. }))
                .and_then(|codec| codec.group)
                .and_then(|g| encoder.groups.get(g));
            let ok = group.is_some_and(|g| g.width == c.width)
                && c.offset == offset
                && c.frequency.len() == c.width
                && c.frequency.iter().all(|f| f.is_finite() && *f >= 0.0);
            offset += c.width;
            ok
        })
    }

    /// A condition vector per row for sampling. `fixed[i][j]` is the slot that row i
    /// must have in conditioning column j, if fixed. Rows with nothing fixed get one
    /// column fixed at a level drawn from its training frequency, as in training.
    pub fn sampling_vectors(&self, fixed: &[Vec<Option<usize>>], rng: &mut SeededRng) -> Vec<f32> {
        let dim = self.dim();
        let mut out = vec![0.0; fixed.len() * dim];
        for (i, row) in fixed.iter().enumerate() {
            let v = &mut out[i * dim..(i + 1) * dim];
            if row.iter().all(Option::is_none) {
                let j = rng.below(self.columns.len());
                let c = &self.columns[j];
                v[c.offset + draw(&c.frequency, rng)] = 1.0;
                continue;
            }
            for (c, slot) in self.columns.iter().zip(row) {
                if let Some(s) = slot {
                    v[c.offset + s] = 1.0;
                }
            }
        }
        out
    }
}

/// The training-time sampler: the spec plus the rows holding each slot.
pub struct Conditioner {
    pub spec: CondSpec,
    /// Per conditioning column, the slot of every training row.
    slots: Vec<Vec<usize>>,
    /// Per conditioning column and slot, the rows holding it.
    rows: Vec<Vec<Vec<u32>>>,
    /// Per conditioning column, sampling weights log(1 + count) over slots.
    log_weights: Vec<Vec<f64>>,
}

/// A training batch's rows and their condition vectors.
pub struct CondBatch {
    pub rows: Vec<u32>,
    pub vectors: Vec<f32>,
    /// Per conditioning column, for each batch row, the fixed slot (or none).
    pub fixed: Vec<Vec<Option<usize>>>,
}

impl Conditioner {
    pub fn new(encoder: &Encoder, table: &Table, names: &[String]) -> Result<Self> {
        let mut columns = Vec::new();
        let mut slots = Vec::new();
        let mut rows = Vec::new();
        let mut log_weights = Vec::new();
        let mut offset = 0;
        for name in names {
            let column = table.column_index(name).ok_or_else(|| {
                Error::Config(format!(
                    "`condition_on` names `{name}`, which is not a column of the data"
                ))
            })?;
            if matches!(encoder.columns[column].transform, Transform::AllMissing) {
                return Err(Error::column(
                    name,
                    "is entirely missing, so there is nothing to condition on",
                ));
            }
            let col_slots = encoder.category_slots(table, column).ok_or_else(|| {
                Error::column(
                    name,
                    "cannot be conditioned on: only factor, character and logical columns can",
                )
            })?;
            let codec = &encoder.columns[column];
            let width = encoder.groups[codec.group.expect("categorical column has a group")].width;
            let mut by_slot = vec![Vec::new(); width];
            for (i, &s) in col_slots.iter().enumerate() {
                by_slot[s].push(i as u32);
            }
            let n = col_slots.len() as f64;
            columns.push(CondColumn {
                column,
                offset,
                width,
                frequency: by_slot.iter().map(|r| r.len() as f64 / n).collect(),
            });
            log_weights.push(
                by_slot
                    .iter()
                    .map(|r| (1.0 + r.len() as f64).ln() * f64::from(u8::from(!r.is_empty())))
                    .collect(),
            );
            slots.push(col_slots);
            rows.push(by_slot);
            offset += width;
        }
        Ok(Conditioner {
            spec: CondSpec { columns },
            slots,
            rows,
            log_weights,
        })
    }

    pub fn sample(&self, batch: usize, rng: &mut SeededRng) -> CondBatch {
        let dim = self.spec.dim();
        let k = self.spec.columns.len();
        let mut rows = Vec::with_capacity(batch);
        let mut vectors = vec![0.0; batch * dim];
        let mut fixed = vec![vec![None; batch]; k];
        for b in 0..batch {
            let j = rng.below(k);
            let slot = draw(&self.log_weights[j], rng);
            let candidates = &self.rows[j][slot];
            let row = candidates[rng.below(candidates.len())];
            rows.push(row);
            for (other, c) in self.spec.columns.iter().enumerate() {
                if other == j || rng.uniform() < 0.5 {
                    let s = self.slots[other][row as usize];
                    vectors[b * dim + c.offset + s] = 1.0;
                    fixed[other][b] = Some(s);
                }
            }
        }
        CondBatch {
            rows,
            vectors,
            fixed,
        }
    }
}

/// Index drawn with probability proportional to `weights`.
fn draw(weights: &[f64], rng: &mut SeededRng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.uniform() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::EncoderOptions;
    use crate::schema::{Column, Kind, Values};

    fn table() -> Table {
        // 95 "common", 5 "rare".
        let codes: Vec<Option<u32>> = (0..100).map(|i| Some(u32::from(i >= 95))).collect();
        let kind = Kind::Factor {
            levels: vec!["common".into(), "rare".into()],
            ordered: false,
        };
        let f = Column::new("f", kind, Values::Code(codes)).unwrap();
        let x = Column::new(
            "x",
            Kind::Double,
            Values::Real((0..100).map(f64::from).collect()),
        )
        .unwrap();
        Table::new(vec![f, x], 100).unwrap()
    }

    #[test]
    fn training_by_sampling_oversamples_rare_levels_and_matches_rows() {
        let t = table();
        let enc = Encoder::fit(&t, &EncoderOptions::default(), &mut SeededRng::new(1)).unwrap();
        let cond = Conditioner::new(&enc, &t, &["f".to_string()]).unwrap();
        let batch = cond.sample(4000, &mut SeededRng::new(2));
        let rare = batch.rows.iter().filter(|&&r| r >= 95).count() as f64 / 4000.0;
        // log(6) / (log(96) + log(6)) = 0.28, far above the raw 5%.
        assert!((rare - 0.282).abs() < 0.03, "rare share {rare}");
        for (b, &r) in batch.rows.iter().enumerate() {
            let slot = usize::from(r >= 95);
            assert_eq!(batch.vectors[b * 2 + slot], 1.0);
            assert_eq!(batch.fixed[0][b], Some(slot));
        }
    }

    #[test]
    fn refuses_numeric_and_unknown_columns() {
        let t = table();
        let enc = Encoder::fit(&t, &EncoderOptions::default(), &mut SeededRng::new(1)).unwrap();
        let err = Conditioner::new(&enc, &t, &["x".to_string()])
            .err()
            .unwrap();
        assert!(err.to_string().contains("`x`"));
        assert!(Conditioner::new(&enc, &t, &["nope".to_string()]).is_err());
    }
}
