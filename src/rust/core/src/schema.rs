//! The data contract: a table of typed columns that round-trips every supported R
//! column class exactly. Missing values are `None`, except in `Real` columns where
//! they are NaN (the binding refuses a NaN that is not a missing value).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a column is, beyond its storage: enough to rebuild the original class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    Double,
    Integer,
    Logical,
    Factor {
        levels: Vec<String>,
        ordered: bool,
    },
    /// Character data, modelled as categories over the distinct values seen.
    Character {
        levels: Vec<String>,
    },
    /// Days since 1970-01-01.
    Date,
    /// Seconds since 1970-01-01 UTC; `tz` is the time zone attribute, if any.
    DateTime {
        tz: Option<String>,
    },
}

impl Kind {
    pub fn levels(&self) -> Option<&[String]> {
        match self {
            Kind::Factor { levels, .. } | Kind::Character { levels } => Some(levels),
            _ => None,
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Double => "double",
            Kind::Integer => "integer",
            Kind::Logical => "logical",
            Kind::Factor { ordered: true, .. } => "ordered factor",
            Kind::Factor { .. } => "factor",
            Kind::Character { .. } => "character",
            Kind::Date => "Date",
            Kind::DateTime { .. } => "POSIXct",
        }
    }
}

/// Column storage.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// NaN marks a missing value.
    Real(Vec<f64>),
    Integer(Vec<Option<i32>>),
    Logical(Vec<Option<bool>>),
    /// Zero-based index into the kind's levels.
    Code(Vec<Option<u32>>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Real(v) => v.len(),
            Values::Integer(v) => v.len(),
            Values::Logical(v) => v.len(),
            Values::Code(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_missing(&self, i: usize) -> bool {
        match self {
            Values::Real(v) => v[i].is_nan(),
            Values::Integer(v) => v[i].is_none(),
            Values::Logical(v) => v[i].is_none(),
            Values::Code(v) => v[i].is_none(),
        }
    }

    pub fn count_missing(&self) -> usize {
        (0..self.len()).filter(|&i| self.is_missing(i)).count()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    pub values: Values,
}

impl Column {
    /// Builds a column, checking that storage and kind agree.
    pub fn new(name: impl Into<String>, kind: Kind, values: Values) -> Result<Self> {
        let name = name.into();
        let fits = match (&kind, &values) {
            (Kind::Double | Kind::Date | Kind::DateTime { .. }, Values::Real(_)) => true,
            (Kind::Integer, Values::Integer(_)) => true,
            (Kind::Logical, Values::Logical(_)) => true,
            (Kind::Factor { levels, .. } | Kind::Character { levels }, Values::Code(codes)) => {
                codes.iter().flatten().all(|&c| (c as usize) < levels.len())
            }
            _ => false,
        };
        if !fits {
            return Err(Error::column(
                &name,
                format!("storage does not match its class ({})", kind.describe()),
            ));
        }
        Ok(Column { name, kind, values })
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A data frame: named columns of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    columns: Vec<Column>,
    n_rows: usize,
}

impl Table {
    pub fn new(columns: Vec<Column>, n_rows: usize) -> Result<Self> {
        for (i, col) in columns.iter().enumerate() {
            if col.name.is_empty() {
                return Err(Error::Data(format!("column {} has no name", i + 1)));
            }
            if columns[..i].iter().any(|c| c.name == col.name) {
                return Err(Error::column(
                    &col.name,
                    "the name is used by more than one column",
                ));
            }
            if col.len() != n_rows {
                return Err(Error::column(
                    &col.name,
                    format!("has {} values but the table has {} rows", col.len(), n_rows),
                ));
            }
        }
        Ok(Table { columns, n_rows })
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    /// The rows at `rows`, in that order.
    pub fn take(&self, rows: &[usize]) -> Table {
        let pick = |values: &Values| match values {
            Values::Real(v) => Values::Real(rows.iter().map(|&i| v[i]).collect()),
            Values::Integer(v) => Values::Integer(rows.iter().map(|&i| v[i]).collect()),
            Values::Logical(v) => Values::Logical(rows.iter().map(|&i| v[i]).collect()),
            Values::Code(v) => Values::Code(rows.iter().map(|&i| v[i]).collect()),
        };
        let columns = self
            .columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                kind: c.kind.clone(),
                values: pick(&c.values),
            })
            .collect();
        Table {
            columns,
            n_rows: rows.len(),
        }
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_codes_outside_the_levels() {
        let kind = Kind::Factor {
            levels: vec!["a".into()],
            ordered: false,
        };
        let err = Column::new("f", kind, Values::Code(vec![Some(0), Some(1)])).unwrap_err();
        assert!(err.to_string().contains("`f`"));
    }

    #[test]
    fn rejects_ragged_and_duplicated_columns() {
        let a = Column::new("a", Kind::Double, Values::Real(vec![1.0, 2.0])).unwrap();
        let b = Column::new("b", Kind::Double, Values::Real(vec![1.0])).unwrap();
        assert!(Table::new(vec![a.clone(), b], 2).is_err());
        assert!(Table::new(vec![a.clone(), a], 2).is_err());
    }

    #[test]
    fn counts_missing_values_in_every_storage() {
        assert_eq!(Values::Real(vec![1.0, f64::NAN]).count_missing(), 1);
        assert_eq!(
            Values::Integer(vec![None, None, Some(1)]).count_missing(),
            2
        );
        assert_eq!(Values::Logical(vec![Some(true)]).count_missing(), 0);
        assert_eq!(Values::Code(vec![None]).count_missing(), 1);
    }
}
