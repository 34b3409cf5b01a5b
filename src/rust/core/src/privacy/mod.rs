//! Differential privacy for training: DP-SGD on the critic ([`clipping`]) and the
//! privacy accountant.

pub mod accountant;
pub mod clipping;
mod dpsgd;
pub mod marginals;
pub mod moments;

pub use dpsgd::{Clipping, DpSgd};

use serde::{Deserialize, Serialize};

use crate::encoding::{ColumnCodec, Encoder, EncoderOptions, Transform};
use crate::error::{Error, Result};
use crate::schema::{Column, Kind, Table, Values};
use marginals::Marginal;

/// Public bounds of a numeric column, supplied by the user (never read from the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    pub column: String,
    pub lower: f64,
    pub upper: f64,
}

/// Public levels of a factor or character column, supplied by the user (a codebook,
/// never read from the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Levels {
    pub column: String,
    pub levels: Vec<String>,
}

/// What the user asks for, and what training settled on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyConfig {
    /// The privacy budget: training never spends more.
    pub epsilon: f64,
    pub delta: f64,
    /// Per-row gradient norm bound C.
    pub max_grad_norm: f64,
    /// Noise standard deviation over C; `None` until calibrated to the budget.
    pub noise_multiplier: Option<f64>,
    /// Epochs the budget is spread over.
    pub epochs: usize,
    pub bounds: Vec<Bound>,
    #[serde(default)]
    pub levels: Vec<Levels>,
    /// A public number of rows, if declared: it sets the sampling rate and the length of
    /// an epoch in place of the data's row count, so the count is not used.
    #[serde(default)]
    pub rows: Option<usize>,
    /// Probability that a row joins a critic update (set when training starts).
    #[serde(default)]
    pub sample_rate: f64,
    /// Critic updates the budget allows (set when training starts).
    #[serde(default)]
    pub max_steps: u64,
    /// Critic updates taken, each a use of the data the accountant counts.
    #[serde(default)]
    pub steps_taken: u64,
    /// Share of the budget spent on releasing every column's histogram before training
    /// ([`marginals`]); 0 releases none (fits from before the release existed).
    #[serde(default)]
    pub marginal_share: f64,
    /// Noise multiplier of that release (set when training starts).
    #[serde(default)]
    pub marginal_noise: Option<f64>,
    /// Share of the budget spent on releasing feature means for the tilt of draws
    /// ([`moments`]) after training; 0 releases none (fits from before the release
    /// existed). Only with a histogram release.
    #[serde(default)]
    pub moment_share: f64,
    /// Noise multiplier of that release: set when training starts, `None` when the
    /// public row count is too small for any feature mean to be released.
    #[serde(default)]
    pub moment_noise: Option<f64>,
}

impl PrivacyConfig {
    pub fn check(&self) -> Result<()> {
        let positive = |x: f64| x > 0.0 && x.is_finite();
        if !positive(self.epsilon) || !positive(self.max_grad_norm) {
            return Err(Error::Config(
                "`epsilon` and `max_grad_norm` must be positive".into(),
            ));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(Error::Config("`delta` must be in (0, 1)".into()));
        }
        if !(0.0..1.0).contains(&self.marginal_share) || !(0.0..1.0).contains(&self.moment_share) {
            return Err(Error::Config(
                "`marginal_share` and `moment_share` must be at least 0 and below 1".into(),
            ));
        }
        if self.marginal_share + self.moment_share >= 1.0 {
            return Err(Error::Config(
                "`marginal_share` and `moment_share` must leave part of the budget to training"
                    .into(),
            ));
        }
        if self.noise_multiplier.is_some_and(|s| !positive(s)) {
            return Err(Error::Config("`noise_multiplier` must be positive".into()));
        }
        if self.rows == Some(0) {
            return Err(Error::Config(
                "the declared number of rows must be positive".into(),
            ));
        }
        if self.epochs == 0 {
            return Err(Error::Config("`epochs` must be positive".into()));
        }
        for b in &self.bounds {
            if !(b.lower.is_finite() && b.upper.is_finite() && b.lower < b.upper) {
                return Err(Error::column(
                    &b.column,
                    "bounds must be two finite numbers, lower below upper",
                ));
            }
        }
        for l in &self.levels {
            let mut sorted: Vec<&String> = l.levels.iter().collect();
            sorted.sort();
            sorted.dedup();
            if l.levels.is_empty() || sorted.len() < l.levels.len() {
                return Err(Error::column(
                    &l.column,
                    "declared levels must be distinct, and at least one",
                ));
            }
        }
        Ok(())
    }

    /// The bound declared for `column`.
    pub fn bound(&self, column: &str) -> Option<&Bound> {
        self.bounds.iter().find(|b| b.column == column)
    }

    /// The levels declared for `column`.
    pub fn declared_levels(&self, column: &str) -> Option<&[String]> {
        self.levels
            .iter()
            .find(|l| l.column == column)
            .map(|l| &l.levels[..])
    }

    /// `table` as a private fit sees it, by rules fixed before any row is read: a
    /// factor or character column takes its declared levels, and a value outside them
    /// becomes missing; NaN and infinite numbers become missing. (Numbers outside their
    /// bounds are clipped to them when encoded.) A categorical column without declared
    /// levels, or declarations for columns that are not categorical, are errors about the
    /// schema, never about values.
    pub fn public_table(&self, table: &Table) -> Result<Table> {
        for l in &self.levels {
            match table
                .column_index(&l.column)
                .map(|i| &table.columns()[i].kind)
            {
                None => {
                    return Err(Error::column(
                        &l.column,
                        "has declared levels but is not in the data",
                    ))
                }
                Some(Kind::Factor { .. } | Kind::Character { .. }) => {}
                Some(kind) => {
                    return Err(Error::column(
                        &l.column,
                        format!("has declared levels but is {}", kind.describe()),
                    ))
                }
            }
        }
        let columns = table
            .columns()
            .iter()
            .map(|col| self.public_column(col))
            .collect::<Result<Vec<_>>>()?;
        Table::new(columns, table.n_rows())
    }

    /// An encoding that reads nothing from the data but its schema and the released
    /// `marginals`: category levels as declared (see [`Self::public_table`], which gives
    /// the `table` to encode), numeric ranges from `bounds`, a missing slot in every
    /// column, and numbers placed by their column's released distribution (min-max
    /// scaling without a release). For differentially private training, where anything
    /// else learned from the rows would escape the privacy budget.
    pub fn public_encoder(
        &self,
        table: &Table,
        options: &EncoderOptions,
        marginals: Option<&[Marginal]>,
    ) -> Result<Encoder> {
        if table.n_cols() == 0 {
            return Err(Error::Data("the data has no columns".into()));
        }
        let mut columns = Vec::with_capacity(table.n_cols());
        for (j, col) in table.columns().iter().enumerate() {
            let released = marginals.and_then(|m| m.get(j)).and_then(|m| {
                m.edges
                    .as_ref()
                    .map(|edges| (edges.clone(), m.cumulative()))
            });
            let transform = match &col.kind {
                Kind::Logical => Transform::Categorical { n_levels: 2 },
                Kind::Factor { levels, .. } | Kind::Character { levels } => {
                    if levels.len() > options.max_levels {
                        return Err(Error::column(
                            &col.name,
                            "has more levels than `max_levels`",
                        ));
                    }
                    Transform::Categorical {
                        n_levels: levels.len(),
                    }
                }
                Kind::Double | Kind::Integer | Kind::Date | Kind::DateTime { .. } => {
                    let b = self.bound(&col.name).ok_or_else(|| {
                        Error::column(&col.name, "needs public bounds for differential privacy: give them in `dp(bounds =)`")
                    })?;
                    // Whole numbers, days and seconds stay whole.
                    let decimals = (!matches!(col.kind, Kind::Double)).then_some(0);
                    match released {
                        Some((edges, cumulative)) => Transform::Quantile {
                            edges,
                            cumulative,
                            min: b.lower,
                            max: b.upper,
                            decimals,
                            generated: Vec::new(),
                        },
                        None => Transform::MinMax {
                            min: b.lower,
                            max: b.upper,
                            decimals,
                        },
                    }
                }
            };
            columns.push(ColumnCodec {
                name: col.name.clone(),
                kind: col.kind.clone(),
                missing: true,
                transform,
                scalar: None,
                group: None,
            });
        }
        Ok(Encoder::layout(columns, table.n_rows()))
    }

    fn public_column(&self, col: &Column) -> Result<Column> {
        let codebook = || -> Result<Vec<String>> {
            let declared = self.declared_levels(&col.name).ok_or_else(|| {
                Error::column(
                    &col.name,
                    format!(
                        "is {}; with differential privacy its levels must be declared in advance, \
                         from a codebook rather than the data: `dp(levels = list({} = c(...)))`",
                        col.kind.describe(),
                        col.name
                    ),
                )
            })?;
            Ok(declared.to_vec())
        };
        let (kind, values) = match (&col.kind, &col.values) {
            (Kind::Factor { levels, ordered }, Values::Code(codes)) => {
                let declared = codebook()?;
                let codes = declared_codes(codes, levels, &declared);
                (
                    Kind::Factor {
                        levels: declared,
                        ordered: *ordered,
                    },
                    Values::Code(codes),
                )
            }
            (Kind::Character { levels }, Values::Code(codes)) => {
                let declared = codebook()?;
                let codes = declared_codes(codes, levels, &declared);
                (Kind::Character { levels: declared }, Values::Code(codes))
            }
            (kind, Values::Real(x)) => (
                kind.clone(),
                Values::Real(
                    x.iter()
                        .map(|&v| if v.is_finite() { v } else { f64::NAN })
                        .collect(),
                ),
            ),
            (kind, values) => (kind.clone(), values.clone()),
        };
        Column::new(col.name.clone(), kind, values)
    }

    /// Settles the noise multipliers of the histogram and feature-mean releases: each
    /// the one that spends its share of epsilon on its own. `None` for a release that is
    /// not made (the feature means are released only beside the histograms). Returns the
    /// histograms'.
    pub fn settle_release_noise(&mut self) -> Result<Option<f64>> {
        let alone = |share: f64| -> Result<Option<f64>> {
            Ok(if share > 0.0 {
                Some(accountant::noise_multiplier(
                    share * self.epsilon,
                    self.delta,
                    1.0,
                    1,
                )?)
            } else {
                None
            })
        };
        self.marginal_noise = alone(self.marginal_share)?;
        self.moment_noise = match self.marginal_noise {
            Some(_) => alone(self.moment_share)?,
            None => None,
        };
        Ok(self.marginal_noise)
    }

    /// Settles the sampling rate and the number of critic updates, and calibrates the
    /// noise to what the budget leaves after the releases (or checks that a
    /// given noise multiplier stays within it).
    pub fn calibrate(&mut self, sample_rate: f64, max_steps: u64) -> Result<()> {
        self.sample_rate = sample_rate;
        self.max_steps = max_steps;
        let sigma = match self.noise_multiplier {
            Some(sigma) => {
                let spent = accountant::epsilon_composed(&self.uses(sigma, max_steps), self.delta)?;
                if spent.epsilon > self.epsilon {
                    return Err(Error::Config(format!(
                        "noise multiplier {sigma} spends epsilon {:.3} over {max_steps} critic updates, more than the budget {}",
                        spent.epsilon, self.epsilon
                    )));
                }
                sigma
            }
            None => accountant::noise_multiplier_after(
                &self.release_uses(),
                self.epsilon,
                self.delta,
                sample_rate,
                max_steps,
            )?,
        };
        self.noise_multiplier = Some(sigma);
        Ok(())
    }

    /// Epsilon spent by the releases and the critic updates taken.
    pub fn epsilon_spent(&self) -> Result<f64> {
        self.spent(self.steps_taken)
    }

    /// Epsilon spent by the releases and `steps` critic updates.
    pub fn spent(&self, steps: u64) -> Result<f64> {
        let sigma = self
            .noise_multiplier
            .ok_or_else(|| Error::Config("the noise has not been calibrated".into()))?;
        Ok(accountant::epsilon_composed(&self.uses(sigma, steps), self.delta)?.epsilon)
    }

    /// The histogram and feature-mean releases that are made, as uses of the data: each
    /// one unsampled Gaussian mechanism.
    pub fn release_uses(&self) -> Vec<accountant::Use> {
        [self.marginal_noise, self.moment_noise]
            .into_iter()
            .flatten()
            .map(|noise_multiplier| accountant::Use {
                noise_multiplier,
                sample_rate: 1.0,
                steps: 1,
            })
            .collect()
    }

    fn uses(&self, sigma: f64, steps: u64) -> Vec<accountant::Use> {
        let mut uses = self.release_uses();
        uses.push(accountant::Use {
            noise_multiplier: sigma,
            sample_rate: self.sample_rate,
            steps,
        });
        uses
    }
}

/// `codes` into `levels`, re-expressed as codes into `declared` (missing where the level
/// is not declared).
fn declared_codes(
    codes: &[Option<u32>],
    levels: &[String],
    declared: &[String],
) -> Vec<Option<u32>> {
    let map: Vec<Option<u32>> = levels
        .iter()
        .map(|l| declared.iter().position(|d| d == l).map(|p| p as u32))
        .collect();
    codes
        .iter()
        .map(|c| c.and_then(|c| map[c as usize]))
        .collect()
}
