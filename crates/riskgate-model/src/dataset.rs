//! The numeric table a caller hands to training and batch scoring.

/// Column names and row-major rows; `NaN` = missing.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub names: Vec<String>,
    pub rows: usize,
    /// Row-major, `rows * names.len()` values.
    pub values: Vec<f64>,
}

impl Dataset {
    pub fn new(names: Vec<String>) -> Self {
        Dataset { names, rows: 0, values: Vec::new() }
    }

    /// Appends one row.
    ///
    /// # Panics
    /// If `row.len()` is not the number of columns: a caller bug, not a data problem.
    pub fn push(&mut self, row: &[f64]) {
        assert_eq!(row.len(), self.cols(), "row has {} values but the dataset has {} columns", row.len(), self.cols());
        self.values.extend_from_slice(row);
        self.rows += 1;
    }

    pub fn row(&self, i: usize) -> &[f64] {
        let cols = self.cols();
        &self.values[i * cols..(i + 1) * cols]
    }

    pub fn cols(&self) -> usize {
        self.names.len()
    }

    /// The same values column by column, the layout the trainer reads.
    pub(crate) fn column_major(&self) -> Vec<f64> {
        let cols = self.cols();
        let mut out = Vec::with_capacity(self.rows * cols);
        for c in 0..cols {
            out.extend(self.values.iter().skip(c).step_by(cols.max(1)).take(self.rows));
        }
        out
    }
}
