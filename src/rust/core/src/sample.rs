//! Drawing synthetic rows from a fitted generator, in fixed-size chunks so memory does
//! not grow with the number of rows. Rows are generated independently of each other.

use candle_core::{Device, Tensor};
use ndarray::Array2;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::network::{Generator, Params};
use crate::rng::SeededRng;
use crate::schema::{Column, Kind, Table, Values};
use crate::train::thread_pool;

const CHUNK_ROWS: usize = 10_000;

/// Per requested row, the fixed slot of each conditioning column (if fixed).
pub type Fixed = Vec<Vec<Option<usize>>>;

/// Translates a table of wanted values (a subset of the conditioning columns, one row
/// per synthetic row; missing means "not fixed") into fixed slots. Values are matched
/// to the model's levels by their labels.
pub fn conditions_to_fixed(model: &Model, conditions: &Table) -> Result<Fixed> {
    let spec = model.condition.as_ref();
    let n_cond = spec.map_or(0, |s| s.columns.len());
    let mut fixed = vec![vec![None; n_cond]; conditions.n_rows()];
    for col in conditions.columns() {
        let found = spec.and_then(|s| {
            s.columns
                .iter()
                .position(|c| model.encoder.columns[c.column].name == col.name)
                .map(|j| (j, &model.encoder.columns[s.columns[j].column]))
        });
        let Some((j, codec)) = found else {
            return Err(Error::column(
                &col.name,
                "is not a conditioning column of this model; fit with `condition_on` including it",
            ));
        };
        let model_labels = labels(&codec.kind);
        let col_labels = labels(&col.kind);
        for (i, row) in fixed.iter_mut().enumerate() {
            let code = match &col.values {
                Values::Logical(v) => v[i].map(usize::from),
                Values::Code(v) => v[i].map(|c| c as usize),
                _ => {
                    return Err(Error::column(
                        &col.name,
                        format!("must hold {} values", codec.kind.describe()),
                    ))
                }
            };
            let Some(code) = code else { continue };
            let label = &col_labels[code];
            let slot = model_labels
                .iter()
                .position(|l| l == label)
                .ok_or_else(|| {
                    Error::column(
                        &col.name,
                        format!("has value `{label}`, which is not one of its levels"),
                    )
                })?;
            row[j] = Some(slot);
        }
    }
    Ok(fixed)
}

fn labels(kind: &Kind) -> Vec<String> {
    match kind {
        Kind::Logical => vec!["FALSE".to_string(), "TRUE".to_string()],
        k => k.levels().map(<[String]>::to_vec).unwrap_or_default(),
    }
}

/// `n` synthetic rows; `fixed`, if given, has one entry per row.
pub fn synthesize(
    model: &Model,
    n: usize,
    fixed: Option<&Fixed>,
    seed: u64,
    threads: usize,
    device: &Device,
) -> Result<Table> {
    if let Some(f) = fixed {
        if f.len() != n {
            return Err(Error::Config(format!(
                "{} conditions for {} rows",
                f.len(),
                n
            )));
        }
    }
    let pool = thread_pool(threads)?;
    pool.install(|| {
        let params = Params::from_tensors(&model.weights, "generator.", device)?;
        let generator = Generator::new(&model.generator, &params, &mut SeededRng::new(0))?;
        let spec = &model.generator;
        let mut rng = SeededRng::new(seed);
        if n == 0 {
            return model
                .encoder
                .decode(&Array2::zeros((0, spec.output_width())));
        }
        let mut parts = Vec::new();
        let mut done = 0;
        while done < n {
            let rows = (n - done).min(CHUNK_ROWS);
            let chunk_fixed: Fixed = match fixed {
                Some(f) => f[done..done + rows].to_vec(),
                None => {
                    vec![vec![None; model.condition.as_ref().map_or(0, |c| c.columns.len())]; rows]
                }
            };
            let z = rng.normal_tensor(rows, spec.noise_dim, device)?;
            let input = match &model.condition {
                Some(c) => {
                    let v = c.sampling_vectors(&chunk_fixed, &mut rng);
                    Tensor::cat(&[&z, &Tensor::from_vec(v, (rows, c.dim()), device)?], 1)?
                }
                None => z,
            };
            let gumbel = rng.gumbel_tensor(rows, spec.output_width() - spec.n_scalars, device)?;
            let out = generator.forward(&input, None, &gumbel)?.rows;
            let values: Vec<f32> = out.flatten_all()?.to_vec1()?;
            let mut encoded = Array2::from_shape_vec((rows, spec.output_width()), values)
                .map_err(|e| Error::ModelFormat(e.to_string()))?;
            if let Some(c) = &model.condition {
                for (i, row) in chunk_fixed.iter().enumerate() {
                    for (col, slot) in c.columns.iter().zip(row) {
                        if let Some(s) = slot {
                            let g = model.encoder.groups
                                [model.encoder.columns[col.column].group.expect("group")];
                            for k in 0..g.width {
                                encoded[[i, g.start + k]] = f32::from(u8::from(k == *s));
                            }
                        }
                    }
                }
            }
            parts.push(model.encoder.decode(&encoded)?);
            done += rows;
        }
        concat(parts)
    })
}

fn concat(parts: Vec<Table>) -> Result<Table> {
    let n: usize = parts.iter().map(Table::n_rows).sum();
    let mut parts = parts.into_iter();
    let mut columns = parts.next().expect("at least one part").into_columns();
    for part in parts {
        for (acc, col) in columns.iter_mut().zip(part.into_columns()) {
            append(acc, col.values);
        }
    }
    let columns = columns
        .into_iter()
        .map(|c| Column::new(c.name, c.kind, c.values))
        .collect::<Result<Vec<_>>>()?;
    Table::new(columns, n)
}

fn append(acc: &mut Column, values: Values) {
    match (&mut acc.values, values) {
        (Values::Real(a), Values::Real(b)) => a.extend(b),
        (Values::Integer(a), Values::Integer(b)) => a.extend(b),
        (Values::Logical(a), Values::Logical(b)) => a.extend(b),
        (Values::Code(a), Values::Code(b)) => a.extend(b),
        _ => unreachable!("parts decoded by one encoder share column storage"),
    }
}
