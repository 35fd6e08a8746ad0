//! The one mapping from the engine's and the file layer's errors to Python exceptions: bad
//! input (values, shapes, parameters, a model file's content) is a `ValueError`, a failed read
//! or write an `OSError` (its errno subclass, such as `FileNotFoundError`, with the path), a
//! LAPACK failure a `RuntimeError`. The message is the engine's own.

use demud::DemudError;
use demud_datasets::DataError;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

/// A Python exception for an engine error.
pub fn engine_error(error: DemudError) -> PyErr {
    match error {
        DemudError::Linalg { .. } => PyRuntimeError::new_err(error.to_string()),
        _ => PyValueError::new_err(error.to_string()),
    }
}

/// A Python exception for an error reading or writing a file.
pub fn file_error(error: DataError) -> PyErr {
    match &error {
        DataError::Io { path, source } => {
            let message = error.to_string();
            match source.raw_os_error() {
                // `OSError(errno, message, filename)` becomes the errno's subclass.
                Some(errno) => {
                    PyOSError::new_err((errno, message, path.to_string_lossy().into_owned()))
                }
                None => PyOSError::new_err(message),
            }
        }
        DataError::Write { .. } => PyOSError::new_err(error.to_string()),
        _ => PyValueError::new_err(error.to_string()),
    }
}

/// A `ValueError` naming a parameter and why its value is refused.
pub fn invalid_parameter(name: &str, reason: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("invalid parameter `{name}`: {reason}"))
}
