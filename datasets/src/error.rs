//! The crate's one error type, for reading and writing alike: every message names the file,
//! and the line where there is one.
//!
//! ```
//! use demud_datasets::{features::read_csv, CsvLayout};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("bad.csv");
//! std::fs::write(&path, "a,1,2\nb,3\n").unwrap();
//! let err = read_csv(&path, CsvLayout::default()).unwrap_err();
//! assert!(err.to_string().ends_with("bad.csv, line 2: 2 columns, expected 3 as on line 1"));
//! ```

use std::path::PathBuf;
use thiserror::Error;

/// Why a file could not be read or written.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("{}, line {line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The file as a whole is unusable (empty, wrong shape, mismatched with another file).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A parser (CSV, `.npy`, JSON, image decoder) refused the file or one of its lines; its
    /// error is the source.
    #[error("{}{}: {what}: {source}", path.display(), line.map_or(String::new(), |l| format!(", line {l}")))]
    Parse {
        /// The file.
        path: PathBuf,
        /// The 1-based line, where the parser gives one.
        line: Option<u64>,
        /// What the file should have been.
        what: String,
        /// The parser's error.
        #[source]
        source: BoxError,
    },
    /// A file or folder could not be written; nothing was changed at `path`.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or folder that was to be written.
        path: PathBuf,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The engine refused the data of a file (a missing or infinite value, too few items).
    #[error("{}: {at}{source}", path.display())]
    Engine {
        /// The data file.
        path: PathBuf,
        /// The item and feature at fault, by id and name (`item "x" (row 3), feature "f2": `).
        at: String,
        /// The engine's error.
        #[source]
        source: demud::DemudError,
    },
    /// An output (a folder, or a file) that is or holds one of the command's own inputs.
    #[error("{}: this output is or holds the input {}; choose another output (inputs are never overwritten)", out.display(), input.display())]
    OutputHoldsInput {
        /// The output folder or file.
        out: PathBuf,
        /// The input inside it.
        input: PathBuf,
    },
}

/// Any error a writer's closure may give: kept as the source of [`DataError::Write`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Shorthand for this crate's results.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    pub(crate) fn write(path: &std::path::Path, source: impl Into<BoxError>) -> Self {
        DataError::Write {
            path: path.to_path_buf(),
            source: source.into(),
        }
    }
    pub(crate) fn parse(
        path: &std::path::Path,
        line: Option<u64>,
        what: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        DataError::Parse {
            path: path.to_path_buf(),
            line,
            what: what.into(),
            source: source.into(),
        }
    }
    pub(crate) fn file(path: &std::path::Path, message: impl Into<String>) -> Self {
        DataError::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
    pub(crate) fn line(path: &std::path::Path, line: u64, message: impl Into<String>) -> Self {
        DataError::Line {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}
