//! What the timing examples share: their numeric arguments and a small mixed table.
// Each example uses only part of this module.
#![allow(dead_code)]

use sygnet_core::rng::SeededRng;
use sygnet_core::schema::{Column, Kind, Table, Values};

/// The command-line arguments, each a number.
pub fn numeric_args() -> Vec<usize> {
    std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect()
}

/// Three normal columns (standard deviations 1, 2, 3) and factors of 2 and 4 levels.
pub fn small_table(rows: usize) -> Table {
    let mut rng = SeededRng::new(1);
    let mut columns = Vec::new();
    for j in 0..3 {
        let x = rng
            .normal_vec(rows)
            .into_iter()
            .map(|v| f64::from(v) * (j + 1) as f64)
            .collect();
        columns.push(Column::new(format!("x{j}"), Kind::Double, Values::Real(x)).unwrap());
    }
    for (j, levels) in [2usize, 4].into_iter().enumerate() {
        let codes = (0..rows).map(|_| Some(rng.below(levels) as u32)).collect();
        let kind = Kind::Factor {
            levels: (0..levels).map(|l| format!("l{l}")).collect(),
            ordered: false,
        };
        columns.push(Column::new(format!("f{j}"), kind, Values::Code(codes)).unwrap());
    }
    Table::new(columns, rows).unwrap()
}
