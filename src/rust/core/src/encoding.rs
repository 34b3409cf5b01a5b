//! Turns a table into the network's numeric matrix and back.
//!
//! Layout of an encoded row: first one scalar in [-1, 1] per numeric column (a tanh
//! output), then one softmax group per column: the levels of a categorical column, the
//! modes of a mode-normalised numeric, or "observed / missing" for a min-max numeric.
//! A column with missing values gets one more slot in its group meaning "missing", so
//! missingness is learned jointly with everything else.

use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mixture::Mixture;
use crate::rng::SeededRng;
use crate::schema::{Column, Kind, Table, Values};

/// Largest number of decimal places detected and restored for a numeric column.
const MAX_DECIMALS: i32 = 6;
/// Mode-normalised values are scaled so that +-4 standard deviations map to +-1.
pub(crate) const MODE_SCALE: f64 = 4.0;
/// A numeric value is a spike when this share of the values, and at least
/// `SPIKE_ROWS` rows, take it.
const SPIKE_SHARE: f64 = 0.05;
const SPIKE_ROWS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumericEncoding {
    /// Min-max scaling to [-1, 1].
    MinMax,
    /// Mode-specific normalisation: a Gaussian mixture per column (CTGAN).
    Modes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderOptions {
    pub numeric: NumericEncoding,
    pub max_modes: usize,
    /// Categorical columns with more levels than this are refused.
    pub max_levels: usize,
    /// Values of numeric columns that are codes (e.g. -8 "don't know") rather than
    /// measurements: each gets its own slot, like a spike, and the range and mixture of
    /// the column are learned from its other values.
    #[serde(default)]
    pub codes: Vec<ColumnCodes>,
}

/// Declared codes of one numeric column (see [`EncoderOptions::codes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnCodes {
    pub column: String,
    pub values: Vec<f64>,
}

impl EncoderOptions {
    /// The codes declared for `column`, sorted.
    fn codes_of(&self, column: &str) -> Vec<f64> {
        let mut codes: Vec<f64> = self
            .codes
            .iter()
            .filter(|c| c.column == column)
            .flat_map(|c| c.values.iter().copied())
            .collect();
        codes.sort_by(f64::total_cmp);
        codes.dedup();
        codes
    }
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            numeric: NumericEncoding::Modes,
            max_modes: 10,
            max_levels: 1000,
            codes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Transform {
    /// Every value is missing: nothing to learn, always decoded as missing.
    AllMissing,
    MinMax {
        min: f64,
        max: f64,
        decimals: Option<i32>,
    },
    Modes {
        mixture: Mixture,
        min: f64,
        max: f64,
        decimals: Option<i32>,
        /// Values held by many rows (see [`spikes`]), each with its own slot after the
        /// modes, so that they come back exactly and at their rates.
        #[serde(default)]
        spikes: Vec<f64>,
        /// The mixture is fitted to `(x - center) / scale` (the column's range mapped to
        /// [-1, 1]), so that values of any magnitude keep their spread.
        #[serde(default)]
        center: f64,
        #[serde(default = "unit_scale")]
        scale: f64,
    },
    Categorical {
        n_levels: usize,
    },
    /// A private fit's numeric column, placed by its released distribution
    /// ([`crate::privacy::marginals`]): `tanh(QUANTILE_SCALE * logit(F(x)))`, `F` the
    /// piecewise-linear distribution function through `cumulative` at `edges`.
    Quantile {
        edges: Vec<f64>,
        cumulative: Vec<f64>,
        min: f64,
        max: f64,
        decimals: Option<i32>,
        /// After calibration, the generator's logits at equally spaced probabilities:
        /// a generated logit is decoded by its position among them, so that generated
        /// values follow the released distribution whatever their own spread.
        #[serde(default)]
        generated: Vec<f64>,
    },
}

fn unit_scale() -> f64 {
    1.0
}

/// Scale of a quantile-encoded value's logistic score: an untrained generator's outputs
/// (about N(0, 0.45^2) before tanh) then draw close to the column's distribution.
const QUANTILE_SCALE: f64 = 0.25;
/// Distribution positions are kept this far from 0 and 1.
const QUANTILE_MARGIN: f64 = 1e-6;

/// Whether a stored number of decimals is one [`Finish`] can apply.
fn decimals_ok(decimals: Option<i32>) -> bool {
    decimals.is_none_or(|d| (0..=MAX_DECIMALS).contains(&d))
}

/// The position in [0, 1] of `x` among `knots` (sorted values at equally spaced
/// probabilities), linear between knots; the middle of a run of knots equal to `x`.
fn position(knots: &[f64], x: f64) -> f64 {
    let last = (knots.len() - 1).max(1) as f64;
    let below = knots.partition_point(|&k| k < x);
    let through = knots.partition_point(|&k| k <= x);
    if below < through {
        return (below + through - 1) as f64 / 2.0 / last;
    }
    if below == 0 {
        return 0.0;
    }
    if below == knots.len() {
        return 1.0;
    }
    let (a, b) = (knots[below - 1], knots[below]);
    ((below - 1) as f64 + (x - a) / (b - a)) / last
}

impl Transform {
    /// A min-max or quantile column's value `x` on the network's scale [-1, 1].
    fn scale(&self, x: f64) -> f64 {
        match self {
            Transform::MinMax { min, max, .. } if max > min => {
                (2.0 * (x - min) / (max - min) - 1.0).clamp(-1.0, 1.0)
            }
            Transform::Quantile {
                edges, cumulative, ..
            } => {
                let below = edges.partition_point(|&e| e < x);
                let i = edges.partition_point(|&e| e <= x);
                let p = if i >= below + 2 {
                    // x is a zero-width bin: the middle of its jump.
                    (cumulative[below] + cumulative[i - 1]) / 2.0
                } else if i == 0 {
                    0.0
                } else if i == edges.len() {
                    1.0
                } else {
                    let share = (x - edges[i - 1]) / (edges[i] - edges[i - 1]);
                    cumulative[i - 1] + share * (cumulative[i] - cumulative[i - 1])
                };
                let p = p.clamp(QUANTILE_MARGIN, 1.0 - QUANTILE_MARGIN);
                (QUANTILE_SCALE * (p / (1.0 - p)).ln()).tanh()
            }
            _ => 0.0,
        }
    }

    /// A quantile column's generated logit `e` as a position in its released
    /// distribution (by its place among the calibrated logits, once there are some),
    /// kept [`QUANTILE_MARGIN`] from 0 and 1.
    fn generated_position(&self, e: f64) -> f64 {
        let p = match self {
            Transform::Quantile { generated, .. } if !generated.is_empty() => {
                position(generated, e)
            }
            _ => 1.0 / (1.0 + (-e / QUANTILE_SCALE).exp()),
        };
        p.clamp(QUANTILE_MARGIN, 1.0 - QUANTILE_MARGIN)
    }

    /// The inverse of [`Self::scale`]: from `e` in [-1, 1], or for a quantile column
    /// from the generator's logit `e` (whose tanh [`Self::scale`] gives).
    fn unscale(&self, e: f64) -> f64 {
        match self {
            Transform::MinMax { min, max, .. } => min + (e + 1.0) / 2.0 * (max - min),
            Transform::Quantile {
                edges, cumulative, ..
            } => {
                let p = self.generated_position(e);
                // The bin whose cumulative share first reaches p rises from below p.
                let i = cumulative
                    .partition_point(|&c| c < p)
                    .clamp(1, edges.len() - 1);
                let rise = cumulative[i] - cumulative[i - 1];
                let share = if rise > 0.0 {
                    (p - cumulative[i - 1]) / rise
                } else {
                    0.5
                };
                edges[i - 1] + share * (edges[i] - edges[i - 1])
            }
            _ => f64::NAN,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnCodec {
    pub name: String,
    pub kind: Kind,
    /// Whether the training data had missing values (and so a "missing" slot).
    pub missing: bool,
    pub transform: Transform,
    /// Position of the numeric scalar, if any.
    pub scalar: Option<usize>,
    /// Index of the column's softmax group, if any.
    pub group: Option<usize>,
}

/// A softmax group in the encoded row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub start: usize,
    pub width: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    pub columns: Vec<ColumnCodec>,
    pub n_scalars: usize,
    pub groups: Vec<Group>,
    pub n_rows: usize,
}

impl Encoder {
    /// Learns the encoding of every column of `table`, columns in parallel on the
    /// current thread pool, each from its own random stream.
    pub fn fit(table: &Table, options: &EncoderOptions, rng: &mut SeededRng) -> Result<Encoder> {
        if table.n_cols() == 0 {
            return Err(Error::Data("the data has no columns".into()));
        }
        if table.n_rows() == 0 {
            return Err(Error::Data("the data has no rows".into()));
        }
        for declared in &options.codes {
            let numeric = table.columns().iter().any(|c| {
                c.name == declared.column
                    && matches!(
                        c.kind,
                        Kind::Double | Kind::Integer | Kind::Date | Kind::DateTime { .. }
                    )
            });
            if !numeric {
                return Err(Error::Data(format!(
                    "missing-value codes are declared for `{}`, which is not a numeric column",
                    declared.column
                )));
            }
        }
        let seeds: Vec<u64> = table.columns().iter().map(|_| rng.split_seed()).collect();
        let fitted: Vec<Result<ColumnCodec>> = table
            .columns()
            .par_iter()
            .zip(seeds)
            .map(|(col, seed)| fit_column(col, options, &mut SeededRng::new(seed)))
            .collect();
        let columns = fitted.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(Self::layout(columns, table.n_rows()))
    }

    /// Places scalars first, then each column's softmax group.
    pub(crate) fn layout(mut columns: Vec<ColumnCodec>, n_rows: usize) -> Encoder {
        let mut n_scalars = 0;
        for c in columns.iter_mut() {
            if matches!(
                c.transform,
                Transform::MinMax { .. } | Transform::Modes { .. } | Transform::Quantile { .. }
            ) {
                c.scalar = Some(n_scalars);
                n_scalars += 1;
            }
        }
        let mut groups = Vec::new();
        let mut start = n_scalars;
        for c in columns.iter_mut() {
            let width = match &c.transform {
                Transform::AllMissing => 0,
                Transform::MinMax { .. } | Transform::Quantile { .. } => usize::from(c.missing) * 2,
                Transform::Modes {
                    mixture, spikes, ..
                } => mixture.n_modes() + spikes.len() + usize::from(c.missing),
                Transform::Categorical { n_levels } => n_levels + usize::from(c.missing),
            };
            if width > 0 {
                c.group = Some(groups.len());
                groups.push(Group { start, width });
                start += width;
            }
        }
        Encoder {
            columns,
            n_scalars,
            groups,
            n_rows,
        }
    }

    /// Checks a stored encoder (read from a model file) for consistency: its layout is
    /// the one [`Self::layout`] gives its columns, every level count matches its kind,
    /// and every numeric transform is finite and ordered. Errors name what is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::ModelFormat(what));
        let relaid = Self::layout(self.columns.clone(), self.n_rows);
        if relaid.n_scalars != self.n_scalars
            || relaid.groups != self.groups
            || relaid
                .columns
                .iter()
                .zip(&self.columns)
                .any(|(a, b)| a.scalar != b.scalar || a.group != b.group)
        {
            return bad("the encoding's layout does not match its columns".into());
        }
        let finite = |xs: &[f64]| xs.iter().all(|x| x.is_finite());
        let sorted = |xs: &[f64]| xs.windows(2).all(|w| w[0] <= w[1]);
        for c in &self.columns {
            let ok = match &c.transform {
                Transform::AllMissing => true,
                Transform::Categorical { n_levels } => match &c.kind {
                    Kind::Logical => *n_levels == 2,
                    Kind::Factor { levels, .. } | Kind::Character { levels } => {
                        *n_levels == levels.len()
                    }
                    _ => false,
                },
                Transform::MinMax { min, max, decimals } => {
                    finite(&[*min, *max]) && min <= max && decimals_ok(*decimals)
                }
                Transform::Modes {
                    mixture,
                    min,
                    max,
                    decimals,
                    spikes,
                    center,
                    scale,
                } => {
                    let k = mixture.n_modes();
                    k > 0
                        && center.is_finite()
                        && *scale > 0.0
                        && scale.is_finite()
                        && mixture.sds.len() == k
                        && mixture.weights.len() == k
                        && finite(&mixture.means)
                        && finite(&mixture.weights)
                        && mixture.sds.iter().all(|&s| s > 0.0 && s.is_finite())
                        && finite(spikes)
                        && finite(&[*min, *max])
                        && min <= max
                        && decimals_ok(*decimals)
                }
                Transform::Quantile {
                    edges,
                    cumulative,
                    min,
                    max,
                    decimals,
                    generated,
                } => {
                    edges.len() >= 2
                        && cumulative.len() == edges.len()
                        && finite(edges)
                        && sorted(edges)
                        && cumulative.iter().all(|p| (0.0..=1.0).contains(p))
                        && sorted(cumulative)
                        && finite(generated)
                        && sorted(generated)
                        && finite(&[*min, *max])
                        && min <= max
                        && decimals_ok(*decimals)
                }
            };
            let numeric = matches!(
                c.kind,
                Kind::Double | Kind::Integer | Kind::Date | Kind::DateTime { .. }
            );
            let kind_ok = match &c.transform {
                Transform::AllMissing => true,
                Transform::Categorical { .. } => !numeric,
                _ => numeric,
            };
            if !(ok && kind_ok) {
                return bad(format!("the encoding of column `{}` is not valid", c.name));
            }
        }
        Ok(())
    }

    /// Per numeric scalar, whether [`Self::decode_slots`] takes the generator's logit
    /// instead of its tanh: quantile columns, which are decoded by rank and whose logits,
    /// unlike their tanh, never tie when the generator pushes them far out.
    pub fn logit_scalars(&self) -> Vec<bool> {
        let mut logit = vec![false; self.n_scalars];
        for c in &self.columns {
            if let (Some(s), Transform::Quantile { .. }) = (c.scalar, &c.transform) {
                logit[s] = true;
            }
        }
        logit
    }

    /// Generated scalars (`n_scalars` per row, a quantile column's as its logit) on the
    /// encoded rows' scale: a quantile column's value as [`Transform::scale`] gives it
    /// for the value the logit decodes to.
    pub fn generated_to_encoded(&self, scalars: &mut [f32]) {
        for c in &self.columns {
            if let (Some(s), Transform::Quantile { .. }) = (c.scalar, &c.transform) {
                for row in scalars.chunks_exact_mut(self.n_scalars) {
                    let p = c.transform.generated_position(f64::from(row[s]));
                    row[s] = (QUANTILE_SCALE * (p / (1.0 - p)).ln()).tanh() as f32;
                }
            }
        }
    }

    pub fn width(&self) -> usize {
        self.groups
            .last()
            .map_or(self.n_scalars, |g| g.start + g.width)
    }

    /// Checks that `table` has the columns (names, order and classes) this encoder
    /// was fitted on.
    pub fn check_compatible(&self, table: &Table) -> Result<()> {
        if table.n_cols() != self.columns.len() {
            return Err(Error::Data(format!(
                "the data has {} columns but the model was fitted on {}",
                table.n_cols(),
                self.columns.len()
            )));
        }
        for (codec, col) in self.columns.iter().zip(table.columns()) {
            if codec.name != col.name {
                return Err(Error::column(
                    &col.name,
                    format!("expected column `{}` at this position", codec.name),
                ));
            }
            if codec.kind != col.kind {
                return Err(Error::column(
                    &col.name,
                    format!(
                        "is {} but the model was fitted on {} (or on other levels)",
                        col.kind.describe(),
                        codec.kind.describe()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Encodes `table` (compatible with this encoder) into an n x width matrix.
    /// Modes are drawn from each value's posterior, so `rng` is needed.
    pub fn encode(&self, table: &Table, rng: &mut SeededRng) -> Result<Array2<f32>> {
        self.check_compatible(table)?;
        let n = table.n_rows();
        let mut out = Array2::<f32>::zeros((n, self.width()));
        for (codec, col) in self.columns.iter().zip(table.columns()) {
            check_finite(col)?;
            let group = codec.group.map(|g| self.groups[g]);
            match &codec.transform {
                Transform::AllMissing => {}
                Transform::Categorical { n_levels } => {
                    let g = group.expect("categorical columns have a group");
                    for i in 0..n {
                        let slot = category_code(&col.values, i).unwrap_or(*n_levels);
                        if slot >= g.width {
                            return Err(Error::column(
                                &col.name,
                                "has missing values but the model was fitted without any",
                            ));
                        }
                        out[[i, g.start + slot]] = 1.0;
                    }
                }
                Transform::MinMax { .. } | Transform::Quantile { .. } => {
                    let s = codec.scalar.expect("numeric columns have a scalar");
                    for i in 0..n {
                        let x = numeric_value(&col.values, i);
                        if x.is_nan() {
                            let g = missing_group(codec, group)?;
                            out[[i, g.start + 1]] = 1.0;
                            continue;
                        }
                        out[[i, s]] = codec.transform.scale(x) as f32;
                        if let Some(g) = group {
                            out[[i, g.start]] = 1.0;
                        }
                    }
                }
                Transform::Modes {
                    mixture,
                    spikes,
                    center,
                    scale,
                    ..
                } => {
                    let s = codec.scalar.expect("numeric columns have a scalar");
                    let g = group.expect("mode-normalised columns have a group");
                    let k = mixture.n_modes();
                    let mut post = vec![0.0; k];
                    for i in 0..n {
                        let x = numeric_value(&col.values, i);
                        if x.is_nan() {
                            if !codec.missing {
                                return Err(Error::column(
                                    &col.name,
                                    "has missing values but the model was fitted without any",
                                ));
                            }
                            out[[i, g.start + k + spikes.len()]] = 1.0;
                            continue;
                        }
                        if let Some(j) = spikes.iter().position(|&v| v == x) {
                            out[[i, g.start + k + j]] = 1.0;
                            continue;
                        }
                        let z = (x - center) / scale;
                        mixture.log_posterior_into(z, &mut post);
                        let mode = draw_from_log_probs(&post, rng);
                        let alpha = (z - mixture.means[mode]) / (MODE_SCALE * mixture.sds[mode]);
                        out[[i, s]] = alpha.clamp(-0.99, 0.99) as f32;
                        out[[i, g.start + mode]] = 1.0;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Decodes generator output (rows of `width()` values, softmax groups one-hot or
    /// probability vectors) into a table with the original column kinds.
    pub fn decode(&self, encoded: &Array2<f32>) -> Result<Table> {
        let n = encoded.nrows();
        if encoded.ncols() != self.width() {
            return Err(Error::ModelFormat(format!(
                "generator output has {} columns, the encoding needs {}",
                encoded.ncols(),
                self.width()
            )));
        }
        let mut scalars = Vec::with_capacity(n * self.n_scalars);
        let mut slots = Vec::with_capacity(n * self.groups.len());
        let logit = self.logit_scalars();
        for row in encoded.rows() {
            scalars.extend(
                row.iter()
                    .zip(&logit)
                    .map(|(e, &logit)| if logit { e.atanh() } else { *e }),
            );
            for g in &self.groups {
                let (slot, _) = (0..g.width).fold((0, f32::NEG_INFINITY), |best, j| {
                    let v = row[g.start + j];
                    if v > best.1 {
                        (j, v)
                    } else {
                        best
                    }
                });
                slots.push(slot as u32);
            }
        }
        self.decode_slots(n, &scalars, &slots)
    }

    /// Decodes `n` rows given, row by row, as their numeric scalars (`n_scalars` per
    /// row: tanh outputs, clamped to [-1, 1], or logits where [`Self::logit_scalars`]
    /// says so) and the chosen slot of each softmax group (one per group).
    pub fn decode_slots(&self, n: usize, scalars: &[f32], slots: &[u32]) -> Result<Table> {
        let n_groups = self.groups.len();
        if scalars.len() != n * self.n_scalars || slots.len() != n * n_groups {
            return Err(Error::ModelFormat(format!(
                "{} scalars and {} slots for {n} rows of {} and {n_groups}",
                scalars.len(),
                slots.len(),
                self.n_scalars
            )));
        }
        let logit = self.logit_scalars();
        let scalar = |s: usize, i: usize| {
            let v = scalars[i * self.n_scalars + s];
            f64::from(if logit[s] { v } else { v.clamp(-1.0, 1.0) })
        };
        let slot = |g: usize, i: usize| slots[i * n_groups + g] as usize;
        let mut columns = Vec::with_capacity(self.columns.len());
        for codec in &self.columns {
            let (s, g) = (codec.scalar.unwrap_or(0), codec.group.unwrap_or(0));
            let values = match &codec.transform {
                Transform::AllMissing => missing_values(&codec.kind, n),
                Transform::Categorical { n_levels } => {
                    let code = |i| Some(slot(g, i)).filter(|j| j < n_levels);
                    match codec.kind {
                        Kind::Logical => {
                            Values::Logical((0..n).map(|i| code(i).map(|c| c == 1)).collect())
                        }
                        _ => Values::Code((0..n).map(|i| code(i).map(|c| c as u32)).collect()),
                    }
                }
                Transform::MinMax { min, max, decimals }
                | Transform::Quantile {
                    min, max, decimals, ..
                } => {
                    let finish = Finish::new(*min, *max, *decimals);
                    let missing = codec.group.is_some();
                    numeric_values(&codec.kind, n, |i| {
                        if missing && slot(g, i) == 1 {
                            return f64::NAN;
                        }
                        finish.apply(codec.transform.unscale(scalar(s, i)))
                    })
                }
                Transform::Modes {
                    mixture,
                    min,
                    max,
                    decimals,
                    spikes,
                    center,
                    scale,
                } => {
                    let finish = Finish::new(*min, *max, *decimals);
                    numeric_values(&codec.kind, n, |i| {
                        let mode = slot(g, i);
                        if mode >= mixture.n_modes() {
                            return spikes
                                .get(mode - mixture.n_modes())
                                .copied()
                                .unwrap_or(f64::NAN);
                        }
                        let z = scalar(s, i) * MODE_SCALE * mixture.sds[mode] + mixture.means[mode];
                        finish.apply(center + scale * z)
                    })
                }
            };
            columns.push(Column::new(codec.name.clone(), codec.kind.clone(), values)?);
        }
        Table::new(columns, n)
    }

    /// For a categorical column, the slot of each row in the column's group (the
    /// missing slot for missing values).
    pub fn category_slots(&self, table: &Table, column: usize) -> Option<Vec<usize>> {
        let codec = &self.columns[column];
        let Transform::Categorical { n_levels } = codec.transform else {
            return None;
        };
        let values = &table.columns()[column].values;
        Some(
            (0..table.n_rows())
                .map(|i| category_code(values, i).unwrap_or(n_levels))
                .collect(),
        )
    }
}

fn fit_column(col: &Column, options: &EncoderOptions, rng: &mut SeededRng) -> Result<ColumnCodec> {
    check_finite(col)?;
    let n_missing = col.values.count_missing();
    let missing = n_missing > 0;
    let transform = if n_missing == col.len() {
        Transform::AllMissing
    } else {
        match &col.kind {
            Kind::Logical => Transform::Categorical { n_levels: 2 },
            Kind::Factor { levels, .. } | Kind::Character { levels } => {
                if levels.len() > options.max_levels {
                    return Err(Error::column(
                        &col.name,
                        format!(
                            "has {} levels, more than `max_levels` ({}); merge rare levels or drop the column",
                            levels.len(),
                            options.max_levels
                        ),
                    ));
                }
                Transform::Categorical {
                    n_levels: levels.len(),
                }
            }
            Kind::Double | Kind::Integer | Kind::Date | Kind::DateTime { .. } => {
                let codes = options.codes_of(&col.name);
                let all: Vec<f64> = (0..col.len())
                    .map(|i| numeric_value(&col.values, i))
                    .filter(|v| !v.is_nan())
                    .collect();
                check_codes(col, &codes, &all, options)?;
                // The measurements; a column of codes only keeps them all.
                let measured: Vec<f64> =
                    all.iter().copied().filter(|v| !codes.contains(v)).collect();
                let x = if measured.is_empty() { all } else { measured };
                let min = x.iter().copied().fold(f64::INFINITY, f64::min);
                let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let decimals = match col.kind {
                    Kind::Integer => Some(0),
                    _ => detect_decimals(&x),
                };
                match options.numeric {
                    NumericEncoding::MinMax => Transform::MinMax { min, max, decimals },
                    NumericEncoding::Modes => {
                        let mut spikes = spikes(&x);
                        spikes.extend(codes);
                        spikes.sort_by(f64::total_cmp);
                        spikes.dedup();
                        // Halves first, so that the range of huge values cannot overflow.
                        let center = min / 2.0 + max / 2.0;
                        let half_range = max / 2.0 - min / 2.0;
                        let scale = if half_range > 0.0 { half_range } else { 1.0 };
                        let rest: Vec<f64> = x
                            .iter()
                            .filter(|v| !spikes.contains(v))
                            .map(|v| (v - center) / scale)
                            .collect();
                        let all: Vec<f64>;
                        let continuous = if rest.is_empty() {
                            all = x.iter().map(|v| (v - center) / scale).collect();
                            &all
                        } else {
                            &rest
                        };
                        Transform::Modes {
                            mixture: Mixture::fit(continuous, options.max_modes, rng),
                            min,
                            max,
                            decimals,
                            spikes,
                            center,
                            scale,
                        }
                    }
                }
            }
        }
    };
    Ok(ColumnCodec {
        name: col.name.clone(),
        kind: col.kind.clone(),
        missing,
        transform,
        scalar: None,
        group: None,
    })
}

/// Values that at least [`SPIKE_SHARE`] of the values, and at least [`SPIKE_ROWS`]
/// rows, take exactly (zeros of zero-inflated columns, common whole numbers, codes).
fn spikes(x: &[f64]) -> Vec<f64> {
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let needed = (SPIKE_SHARE * x.len() as f64).max(SPIKE_ROWS as f64);
    sorted
        .chunk_by(|a, b| a == b)
        .filter(|run| run.len() as f64 >= needed)
        .map(|run| run[0])
        .collect()
}

/// Declared codes must be values of a numeric column encoded by modes.
fn check_codes(col: &Column, codes: &[f64], x: &[f64], options: &EncoderOptions) -> Result<()> {
    if codes.is_empty() {
        return Ok(());
    }
    if options.numeric != NumericEncoding::Modes {
        return Err(Error::column(
            &col.name,
            "has missing-value codes, which need `numeric_encoding = \"modes\"`",
        ));
    }
    match codes.iter().find(|c| !x.contains(c)) {
        Some(c) => Err(Error::column(
            &col.name,
            format!("has no value {c}, declared as a missing-value code"),
        )),
        None => Ok(()),
    }
}

fn check_finite(col: &Column) -> Result<()> {
    if let Values::Real(x) = &col.values {
        if x.iter().any(|v| v.is_infinite()) {
            return Err(Error::column(
                &col.name,
                "contains infinite values; recode them or set them to NA",
            ));
        }
    }
    Ok(())
}

fn missing_group(codec: &ColumnCodec, group: Option<Group>) -> Result<Group> {
    group.filter(|_| codec.missing).ok_or_else(|| {
        Error::column(
            &codec.name,
            "has missing values but the model was fitted without any",
        )
    })
}

pub(crate) fn numeric_value(values: &Values, i: usize) -> f64 {
    match values {
        Values::Real(v) => v[i],
        Values::Integer(v) => v[i].map_or(f64::NAN, f64::from),
        _ => unreachable!("numeric columns are stored as real or integer"),
    }
}

pub(crate) fn category_code(values: &Values, i: usize) -> Option<usize> {
    match values {
        Values::Logical(v) => v[i].map(usize::from),
        Values::Code(v) => v[i].map(|c| c as usize),
        _ => unreachable!("categorical columns are stored as codes or logicals"),
    }
}

/// The smallest number of decimal places that represents every value, if any does:
/// rounding moves no value by more than a billionth of itself, nor of the column's
/// range (so tiny values and narrow ranges far from zero keep their spread).
fn detect_decimals(x: &[f64]) -> Option<i32> {
    let min = x.iter().copied().fold(f64::INFINITY, f64::min);
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let spread = max / 2.0 - min / 2.0;
    (0..=MAX_DECIMALS).find(|&d| {
        let scale = 10f64.powi(d);
        x.iter().all(|&v| {
            let s = v * scale;
            let moved = (v - s.round() / scale).abs();
            (s - s.round()).abs() <= 1e-9 * s.abs().max(1.0)
                && (moved == 0.0 || moved <= 1e-9 * spread)
        })
    })
}

/// Clamping to the observed range and rounding to the detected decimal places.
struct Finish {
    min: f64,
    max: f64,
    scale: Option<f64>,
}

impl Finish {
    fn new(min: f64, max: f64, decimals: Option<i32>) -> Self {
        Finish {
            min,
            max,
            scale: decimals.map(|d| 10f64.powi(d)),
        }
    }

    fn apply(&self, x: f64) -> f64 {
        let x = x.clamp(self.min, self.max);
        match self.scale {
            Some(scale) => ((x * scale).round() / scale).clamp(self.min, self.max),
            None => x,
        }
    }
}

fn draw_from_log_probs(log_probs: &[f64], rng: &mut SeededRng) -> usize {
    let u = rng.uniform();
    let mut acc = 0.0;
    for (j, lp) in log_probs.iter().enumerate() {
        acc += lp.exp();
        if u < acc {
            return j;
        }
    }
    log_probs.len() - 1
}

fn missing_values(kind: &Kind, n: usize) -> Values {
    match kind {
        Kind::Integer => Values::Integer(vec![None; n]),
        Kind::Logical => Values::Logical(vec![None; n]),
        Kind::Factor { .. } | Kind::Character { .. } => Values::Code(vec![None; n]),
        Kind::Double | Kind::Date | Kind::DateTime { .. } => Values::Real(vec![f64::NAN; n]),
    }
}

fn numeric_values(kind: &Kind, n: usize, x: impl Fn(usize) -> f64) -> Values {
    match kind {
        Kind::Integer => Values::Integer(
            (0..n)
                .map(|i| {
                    let v = x(i);
                    (!v.is_nan()).then_some(v as i32)
                })
                .collect(),
        ),
        _ => Values::Real((0..n).map(x).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_of_any_magnitude_keep_their_spread() {
        let mut rng = SeededRng::new(2);
        let base: Vec<f64> = rng
            .normal_vec(300)
            .iter()
            .map(|&z| f64::from(z).exp())
            .collect();
        let columns = |x: Vec<f64>| {
            Table::new(
                vec![Column::new("x", Kind::Double, Values::Real(x)).unwrap()],
                300,
            )
            .unwrap()
        };
        let cases: Vec<Vec<f64>> = [1e-300, 1e-12, 1.0, 1e154, 1e300]
            .iter()
            .map(|&s| base.iter().map(|v| v * s).collect())
            .chain(std::iter::once(
                (0..300).map(|i| 1.0 + f64::from(i) * 1e-13).collect(),
            ))
            .collect();
        for x in cases {
            let table = columns(x.clone());
            let enc = Encoder::fit(&table, &EncoderOptions::default(), &mut rng).unwrap();
            let description = serde_json::to_string(&enc).unwrap();
            let enc: Encoder = serde_json::from_str(&description).unwrap();
            enc.validate().unwrap();
            let back = enc.decode(&enc.encode(&table, &mut rng).unwrap()).unwrap();
            let Values::Real(y) = &back.columns()[0].values else {
                unreachable!()
            };
            let mut distinct = y.clone();
            distinct.sort_by(f64::total_cmp);
            distinct.dedup();
            assert!(
                distinct.len() > 250,
                "{} distinct of {:e}",
                distinct.len(),
                x[0]
            );
            let worst = x
                .iter()
                .zip(y)
                .map(|(a, b)| ((a - b) / a).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-3, "relative error {worst} at {:e}", x[0]);
        }
    }

    #[test]
    fn generated_logits_go_to_the_scale_of_the_values_they_decode_to() {
        let codec = |generated: Vec<f64>| ColumnCodec {
            name: "x".into(),
            kind: Kind::Double,
            missing: false,
            transform: Transform::Quantile {
                edges: vec![0.0, 1.0, 2.0, 4.0],
                cumulative: vec![0.0, 0.3, 0.6, 1.0],
                min: 0.0,
                max: 4.0,
                decimals: None,
                generated,
            },
            scalar: Some(0),
            group: None,
        };
        for generated in [Vec::new(), vec![-0.2, -0.1, 0.0, 0.1, 0.25]] {
            let encoder = Encoder {
                columns: vec![codec(generated)],
                n_scalars: 1,
                groups: Vec::new(),
                n_rows: 1,
            };
            let t = &encoder.columns[0].transform;
            let logits: Vec<f32> = vec![-0.3, -0.15, 0.0, 0.05, 0.2, 0.4];
            let mut scaled = logits.clone();
            encoder.generated_to_encoded(&mut scaled);
            for (e, s) in logits.iter().zip(&scaled) {
                let expected = t.scale(t.unscale(f64::from(*e)));
                assert!(
                    (f64::from(*s) - expected).abs() < 1e-5,
                    "{e}: {s} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn quantile_encoding_places_values_by_their_released_distribution() {
        let mut t = Transform::Quantile {
            edges: vec![0.0, 1.0, 2.0, 4.0],
            cumulative: vec![0.0, 0.5, 0.5, 1.0],
            min: 0.0,
            max: 4.0,
            decimals: None,
            generated: Vec::new(),
        };
        // The median of the released distribution sits at 0; the round trip holds
        // where the distribution has mass, and the empty bin is never decoded.
        assert!(t.scale(1.0).abs() < 1e-12);
        for x in [0.3, 0.9, 2.5, 3.7] {
            assert!((t.unscale(t.scale(x).atanh()) - x).abs() < 1e-9, "{x}");
        }
        assert!(t.scale(0.2) < t.scale(0.9) && t.scale(2.1) < t.scale(3.9));
        let decoded: Vec<f64> = (-400..=400)
            .map(|k| t.unscale(f64::from(k) / 100.0))
            .collect();
        assert!(decoded.iter().all(|x| !(1.0..2.0).contains(x) || *x == 1.0));
        // Calibrated: generated values decode by their rank among the recorded ones.
        if let Transform::Quantile { generated, .. } = &mut t {
            *generated = vec![-0.2, -0.1, 0.0, 0.1, 0.2];
        }
        assert!(
            (t.unscale(0.0) - 1.0).abs() < 1e-6,
            "the middle knot is the median"
        );
        assert!(
            (t.unscale(-0.15) - 0.25).abs() < 1e-6,
            "an eighth of the way"
        );
        assert_eq!(position(&[0.5, 0.5, 0.5], 0.5), 0.5);
        // A zero-width bin is a point mass: its value is placed in the middle of its
        // jump and decoded exactly.
        let spike = Transform::Quantile {
            edges: vec![-1.0, 0.0, 0.0, 1.0],
            cumulative: vec![0.0, 0.2, 0.7, 1.0],
            min: -1.0,
            max: 1.0,
            decimals: None,
            generated: Vec::new(),
        };
        let at_zero = spike.scale(0.0).atanh();
        assert!((1.0 / (1.0 + (-at_zero / QUANTILE_SCALE).exp()) - 0.45).abs() < 1e-9);
        assert_eq!(spike.unscale(at_zero), 0.0);
        assert!((spike.unscale(spike.scale(0.5).atanh()) - 0.5).abs() < 1e-9);
    }

    fn mixed_table() -> Table {
        let n = 6;
        let cols = vec![
            Column::new(
                "x",
                Kind::Double,
                Values::Real(vec![1.5, 2.25, f64::NAN, 10.0, 3.0, 2.0]),
            )
            .unwrap(),
            Column::new(
                "i",
                Kind::Integer,
                Values::Integer(vec![Some(1), Some(5), Some(3), None, Some(2), Some(9)]),
            )
            .unwrap(),
            Column::new(
                "b",
                Kind::Logical,
                Values::Logical(vec![
                    Some(true),
                    Some(false),
                    None,
                    Some(true),
                    Some(true),
                    Some(false),
                ]),
            )
            .unwrap(),
            Column::new(
                "f",
                Kind::Factor {
                    levels: vec!["a".into(), "b".into(), "unused".into()],
                    ordered: false,
                },
                Values::Code(vec![Some(0), Some(1), Some(1), Some(0), Some(0), Some(1)]),
            )
            .unwrap(),
            Column::new("none", Kind::Date, Values::Real(vec![f64::NAN; n])).unwrap(),
        ];
        Table::new(cols, n).unwrap()
    }

    fn round_trip(numeric: NumericEncoding) {
        let table = mixed_table();
        let options = EncoderOptions {
            numeric,
            ..EncoderOptions::default()
        };
        let mut rng = SeededRng::new(1);
        let enc = Encoder::fit(&table, &options, &mut rng).unwrap();
        let m = enc.encode(&table, &mut rng).unwrap();
        assert_eq!(m.ncols(), enc.width());
        let back = enc.decode(&m).unwrap();
        for (a, b) in table.columns().iter().zip(back.columns()) {
            match (&a.values, &b.values) {
                (Values::Real(x), Values::Real(y)) => {
                    for (u, v) in x.iter().zip(y) {
                        assert!(
                            u.is_nan() && v.is_nan() || (u - v).abs() < 1e-4,
                            "{u} vs {v}"
                        );
                    }
                }
                _ => assert_eq!(a, b),
            }
        }
    }

    #[test]
    fn common_exact_values_get_their_own_slots_and_come_back_exactly() {
        // 40% zeros, 10% of 3.2000000476837 (a float stored as double), the rest spread.
        let n = 200;
        let x: Vec<f64> = (0..n)
            .map(|i| match i % 10 {
                0..=3 => 0.0,
                4 => 3.200_000_047_683_72,
                _ => 5.0 + i as f64 * 0.137,
            })
            .collect();
        let table = Table::new(
            vec![Column::new("x", Kind::Double, Values::Real(x.clone())).unwrap()],
            n,
        )
        .unwrap();
        let mut rng = SeededRng::new(3);
        let enc = Encoder::fit(&table, &EncoderOptions::default(), &mut rng).unwrap();
        let Transform::Modes {
            spikes: found,
            mixture,
            ..
        } = &enc.columns[0].transform
        else {
            panic!("mode encoding expected")
        };
        assert_eq!(found, &vec![0.0, 3.200_000_047_683_72]);
        assert_eq!(enc.groups[0].width, mixture.n_modes() + 2);
        let back = enc.decode(&enc.encode(&table, &mut rng).unwrap()).unwrap();
        let Values::Real(y) = &back.columns()[0].values else {
            panic!()
        };
        for (a, b) in x.iter().zip(y) {
            if *a == 0.0 || *a == 3.200_000_047_683_72 {
                assert_eq!(a, b);
            } else {
                assert!((a - b).abs() < 1e-3, "{a} vs {b}");
            }
        }
        // Values below the share are not spikes.
        assert!(spikes(&[1.0, 1.0, 2.0, 3.0]).is_empty());
    }

    #[test]
    fn declared_codes_get_slots_and_stay_out_of_the_range() {
        // Incomes from 106 to 298, with 1% coded -9 and 2% coded -8: too rare for spikes.
        let n = 300;
        let x: Vec<f64> = (0..n)
            .map(|i| match i % 100 {
                0 => -9.0,
                1 | 2 => -8.0,
                _ => 100.0 + (i % 100) as f64 * 2.0,
            })
            .collect();
        let table = Table::new(
            vec![Column::new("income", Kind::Double, Values::Real(x.clone())).unwrap()],
            n,
        )
        .unwrap();
        let declared = |values: Vec<f64>| EncoderOptions {
            codes: vec![ColumnCodes {
                column: "income".into(),
                values,
            }],
            ..EncoderOptions::default()
        };
        let mut rng = SeededRng::new(4);
        let enc = Encoder::fit(&table, &declared(vec![-8.0, -9.0]), &mut rng).unwrap();
        let Transform::Modes {
            spikes, min, max, ..
        } = &enc.columns[0].transform
        else {
            panic!("mode encoding expected")
        };
        assert_eq!(spikes, &vec![-9.0, -8.0]);
        assert_eq!((*min, *max), (106.0, 298.0));
        let back = enc.decode(&enc.encode(&table, &mut rng).unwrap()).unwrap();
        let Values::Real(y) = &back.columns()[0].values else {
            panic!()
        };
        for (a, b) in x.iter().zip(y) {
            if *a < 0.0 {
                assert_eq!(a, b);
            } else {
                assert!((a - b).abs() < 1e-3, "{a} vs {b}");
            }
        }
        // Undeclared, the codes are part of the range.
        let plain = Encoder::fit(&table, &EncoderOptions::default(), &mut rng).unwrap();
        let Transform::Modes { spikes, min, .. } = &plain.columns[0].transform else {
            panic!("mode encoding expected")
        };
        assert!(spikes.is_empty());
        assert_eq!(*min, -9.0);
        // A code the column does not hold, or codes of a column that is not numeric.
        let err = Encoder::fit(&table, &declared(vec![-7.0]), &mut rng).unwrap_err();
        assert!(err.to_string().contains("income") && err.to_string().contains("-7"));
        let mut other = declared(vec![-9.0]);
        other.codes[0].column = "nothing".into();
        let err = Encoder::fit(&table, &other, &mut rng).unwrap_err();
        assert!(err.to_string().contains("nothing"));
    }

    #[test]
    fn min_max_encoding_round_trips() {
        round_trip(NumericEncoding::MinMax);
    }

    #[test]
    fn mode_encoding_round_trips() {
        round_trip(NumericEncoding::Modes);
    }

    #[test]
    fn layout_puts_scalars_first_and_missing_slots_last() {
        let table = mixed_table();
        let options = EncoderOptions {
            numeric: NumericEncoding::MinMax,
            ..EncoderOptions::default()
        };
        let enc = Encoder::fit(&table, &options, &mut SeededRng::new(1)).unwrap();
        assert_eq!(enc.n_scalars, 2);
        // x and i: observed/missing; b: 2 + missing; f: 3 levels; none: nothing.
        let widths: Vec<usize> = enc.groups.iter().map(|g| g.width).collect();
        assert_eq!(widths, vec![2, 2, 3, 3]);
        assert_eq!(enc.width(), 2 + 10);
        assert!(matches!(enc.columns[4].transform, Transform::AllMissing));
    }

    #[test]
    fn decoding_clamps_to_the_observed_range_and_rounds() {
        let table = mixed_table();
        let enc = Encoder::fit(&table, &EncoderOptions::default(), &mut SeededRng::new(1)).unwrap();
        let mut m = enc.encode(&table, &mut SeededRng::new(2)).unwrap();
        m.column_mut(0).fill(0.99);
        m.column_mut(1).fill(-0.99);
        let back = enc.decode(&m).unwrap();
        let Values::Real(x) = &back.columns()[0].values else {
            panic!()
        };
        assert!(x
            .iter()
            .filter(|v| !v.is_nan())
            .all(|&v| (1.5..=10.0).contains(&v)));
        assert!(x
            .iter()
            .filter(|v| !v.is_nan())
            .all(|&v| (v * 100.0 - (v * 100.0).round()).abs() < 1e-6));
        let Values::Integer(i) = &back.columns()[1].values else {
            panic!()
        };
        assert!(i.iter().flatten().all(|&v| (1..=9).contains(&v)));
    }

    #[test]
    fn refuses_infinite_values_and_too_many_levels() {
        let col = Column::new("y", Kind::Double, Values::Real(vec![1.0, f64::INFINITY])).unwrap();
        let t = Table::new(vec![col], 2).unwrap();
        let err = Encoder::fit(&t, &EncoderOptions::default(), &mut SeededRng::new(1)).unwrap_err();
        assert!(err.to_string().contains("`y`") && err.to_string().contains("infinite"));

        let levels: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
        let kind = Kind::Character { levels };
        let col = Column::new("id", kind, Values::Code((0..20).map(Some).collect())).unwrap();
        let t = Table::new(vec![col], 20).unwrap();
        let options = EncoderOptions {
            max_levels: 10,
            ..EncoderOptions::default()
        };
        let err = Encoder::fit(&t, &options, &mut SeededRng::new(1)).unwrap_err();
        assert!(err.to_string().contains("`id`") && err.to_string().contains("20 levels"));
    }

    #[test]
    fn detects_decimal_places() {
        assert_eq!(detect_decimals(&[1.0, 2.0]), Some(0));
        assert_eq!(detect_decimals(&[1.25, 2.5]), Some(2));
        assert_eq!(detect_decimals(&[std::f64::consts::PI]), None);
    }
}
