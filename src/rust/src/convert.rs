//! R values <-> core types. Nothing else in the binding touches `Robj` internals.

use extendr_api::prelude::*;
use sygnet_core::schema::{Column, Kind, Table, Values};
use sygnet_core::Error as CoreError;

/// A data frame (as a list of columns) to a core table; R's NaN is refused.
pub fn table_from_r(data: &List, n_rows: usize) -> std::result::Result<Table, CoreError> {
    table_with(data, n_rows, false)
}

/// As [`table_from_r`], but R's NaN passes as a missing value: a private fit must not
/// fail on what one row holds (see `PrivacyConfig::public_table`).
pub fn table_from_r_private(data: &List, n_rows: usize) -> std::result::Result<Table, CoreError> {
    table_with(data, n_rows, true)
}

fn table_with(
    data: &List,
    n_rows: usize,
    nan_is_missing: bool,
) -> std::result::Result<Table, CoreError> {
    let names: Vec<String> = match data.names() {
        Some(n) => n.map(str::to_string).collect(),
        None => vec![String::new(); data.len()],
    };
    let columns = names
        .iter()
        .zip(data.values())
        .map(|(name, robj)| column_from_r(name, &robj, nan_is_missing))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Table::new(columns, n_rows)
}

fn class_of(robj: &Robj) -> Vec<String> {
    robj.class()
        .map(|c| c.map(str::to_string).collect())
        .unwrap_or_default()
}

fn unsupported(name: &str, what: &str) -> CoreError {
    CoreError::column(
        name,
        format!(
            "is {what}, which sygnet does not support; supported columns are numeric, integer, \
             logical, factor, ordered factor, character, Date and POSIXct"
        ),
    )
}

fn column_from_r(
    name: &str,
    robj: &Robj,
    nan_is_missing: bool,
) -> std::result::Result<Column, CoreError> {
    let class = class_of(robj);
    if robj.inherits("data.frame") {
        return Err(unsupported(name, "a data frame column"));
    }
    if robj.get_attrib("dim").is_some() {
        return Err(unsupported(name, "a matrix column"));
    }
    let (kind, values) = if robj.is_factor() {
        let levels: Vec<&str> = robj.levels().map(|l| l.collect()).unwrap_or_default();
        if levels.iter().any(|l| l.is_na()) {
            return Err(CoreError::column(
                name,
                "has NA as a factor level; use a named level instead",
            ));
        }
        let levels: Vec<String> = levels.into_iter().map(str::to_string).collect();
        let codes = robj.as_integer_slice().unwrap_or(&[]);
        let values = codes
            .iter()
            .map(|&c| (c != i32::MIN).then(|| (c - 1) as u32))
            .collect();
        let ordered = robj.inherits("ordered");
        (Kind::Factor { levels, ordered }, Values::Code(values))
    } else if robj.inherits("Date") {
        (Kind::Date, Values::Real(reals(name, robj, nan_is_missing)?))
    } else if robj.inherits("POSIXct") {
        let tz = robj
            .get_attrib("tzone")
            .and_then(|t| t.as_str().map(str::to_string));
        (
            Kind::DateTime { tz },
            Values::Real(reals(name, robj, nan_is_missing)?),
        )
    } else if !class.is_empty() {
        return Err(unsupported(
            name,
            &format!("of class `{}`", class.join("/")),
        ));
    } else {
        match robj.rtype() {
            Rtype::Doubles => (
                Kind::Double,
                Values::Real(reals(name, robj, nan_is_missing)?),
            ),
            Rtype::Integers => {
                let v = robj.as_integer_slice().unwrap_or(&[]);
                (
                    Kind::Integer,
                    Values::Integer(v.iter().map(|&x| (x != i32::MIN).then_some(x)).collect()),
                )
            }
            Rtype::Logicals => {
                let v = robj.as_logical_slice().unwrap_or(&[]);
                (
                    Kind::Logical,
                    Values::Logical(
                        v.iter()
                            .map(|b| (!b.is_na()).then(|| b.is_true()))
                            .collect(),
                    ),
                )
            }
            Rtype::Strings => {
                let strings: Vec<Option<String>> = robj
                    .as_str_iter()
                    .map(|it| it.map(|s| (!s.is_na()).then(|| s.to_string())).collect())
                    .unwrap_or_default();
                let mut levels: Vec<String> = strings.iter().flatten().cloned().collect();
                levels.sort();
                levels.dedup();
                let codes = strings
                    .iter()
                    .map(|s| {
                        s.as_ref()
                            .map(|s| levels.binary_search(s).expect("level present") as u32)
                    })
                    .collect();
                (Kind::Character { levels }, Values::Code(codes))
            }
            Rtype::List => return Err(unsupported(name, "a list column")),
            Rtype::Complexes => return Err(unsupported(name, "a complex column")),
            Rtype::Raw => return Err(unsupported(name, "a raw column")),
            other => return Err(unsupported(name, &format!("a column of type {other:?}"))),
        }
    };
    Column::new(name, kind, values)
}

/// Real values with NA as NaN; R's NaN (not NA) is refused unless `nan_is_missing`.
fn reals(
    name: &str,
    robj: &Robj,
    nan_is_missing: bool,
) -> std::result::Result<Vec<f64>, CoreError> {
    if let Some(v) = robj.as_real_slice() {
        if !nan_is_missing && v.iter().any(|x| x.is_nan() && !x.is_na()) {
            return Err(CoreError::column(
                name,
                "contains NaN; use NA for missing values",
            ));
        }
        return Ok(v
            .iter()
            .map(|&x| if x.is_na() { f64::NAN } else { x })
            .collect());
    }
    if let Some(v) = robj.as_integer_slice() {
        return Ok(v
            .iter()
            .map(|&x| {
                if x == i32::MIN {
                    f64::NAN
                } else {
                    f64::from(x)
                }
            })
            .collect());
    }
    Err(unsupported(name, "a date column not stored as numbers"))
}

/// A core table back to a named list of R columns with their original classes.
pub fn table_to_r(table: Table) -> extendr_api::Result<List> {
    let names: Vec<String> = table.columns().iter().map(|c| c.name.clone()).collect();
    let columns = table
        .into_columns()
        .into_iter()
        .map(column_to_r)
        .collect::<extendr_api::Result<Vec<Robj>>>()?;
    let mut list = List::from_values(columns);
    list.set_names(names)?;
    Ok(list)
}

fn column_to_r(col: Column) -> extendr_api::Result<Robj> {
    let mut robj: Robj = match col.values {
        Values::Real(v) => v
            .into_iter()
            .map(|x| {
                if x.is_nan() {
                    Rfloat::na()
                } else {
                    Rfloat::from(x)
                }
            })
            .collect::<Doubles>()
            .into(),
        Values::Integer(v) => v
            .into_iter()
            .map(|x| x.map_or(Rint::na(), Rint::from))
            .collect::<Integers>()
            .into(),
        Values::Logical(v) => v
            .into_iter()
            .map(|x| x.map_or(Rbool::na(), Rbool::from))
            .collect::<Logicals>()
            .into(),
        Values::Code(codes) => match &col.kind {
            Kind::Character { levels } => {
                let strings: Vec<Option<&str>> = codes
                    .iter()
                    .map(|c| c.map(|c| levels[c as usize].as_str()))
                    .collect();
                Strings::from_values(
                    strings
                        .into_iter()
                        .map(|s| s.map_or_else(Rstr::na, Rstr::from)),
                )
                .into()
            }
            _ => codes
                .into_iter()
                .map(|c| c.map_or(Rint::na(), |c| Rint::from(c as i32 + 1)))
                .collect::<Integers>()
                .into(),
        },
    };
    match col.kind {
        Kind::Factor { levels, ordered } => {
            robj.set_attrib("levels", levels)?;
            if ordered {
                robj.set_class(["ordered", "factor"])?;
            } else {
                robj.set_class(["factor"])?;
            }
        }
        Kind::Date => {
            robj.set_class(["Date"])?;
        }
        Kind::DateTime { tz } => {
            robj.set_class(["POSIXct", "POSIXt"])?;
            if let Some(tz) = tz {
                robj.set_attrib("tzone", tz)?;
            }
        }
        Kind::Double | Kind::Integer | Kind::Logical | Kind::Character { .. } => {}
    }
    Ok(robj)
}
