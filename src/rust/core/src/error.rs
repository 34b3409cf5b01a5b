//! One error type for the whole core; `kind()` gives the stable category the R layer
//! turns into a condition class.

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem with the user's data, tied to one column.
    #[error("column `{column}`: {problem}")]
    Column { column: String, problem: String },
    /// A problem with the user's data as a whole.
    #[error("{0}")]
    Data(String),
    /// An invalid setting.
    #[error("{0}")]
    Config(String),
    /// A model blob that cannot be read.
    #[error("not a usable sygnet model: {0}")]
    ModelFormat(String),
    /// Non-finite losses during training.
    #[error("{0}")]
    Diverged(String),
    /// A device that was asked for but is not available.
    #[error("{0}")]
    Device(String),
    #[error("tensor computation failed: {0}")]
    Candle(candle_core::Error),
}

impl From<candle_core::Error> for Error {
    /// Keeps the message and drops any captured backtrace (it would end up in R's
    /// error message).
    fn from(e: candle_core::Error) -> Self {
        match e {
            candle_core::Error::WithBacktrace { inner, .. } => Error::Candle(*inner),
            other => Error::Candle(other),
        }
    }
}

impl Error {
    pub fn column(column: &str, problem: impl Into<String>) -> Self {
        Error::Column {
            column: column.to_string(),
            problem: problem.into(),
        }
    }

    /// Stable category name, used by the R layer as part of the condition class.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Column { .. } | Error::Data(_) => "input",
            Error::Config(_) => "config",
            Error::ModelFormat(_) => "model",
            Error::Diverged(_) => "diverged",
            Error::Device(_) => "device",
            Error::Candle(_) => "internal",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
