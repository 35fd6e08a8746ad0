//! The neural crate's one error type.

use std::path::PathBuf;
use thiserror::Error;

/// Why a model could not be built, loaded or run.
#[derive(Debug, Error)]
pub enum NeuralError {
    /// libtorch refused (shapes, missing weights, bad file); the message is libtorch's.
    #[error("{context}: {source}")]
    Torch {
        /// What was being done.
        context: String,
        /// The libtorch error.
        source: tch::TchError,
    },
    /// A weights file that cannot be used as it is.
    #[error("{}: {message}", path.display())]
    Weights {
        /// The file.
        path: PathBuf,
        /// What to do about it.
        message: String,
    },
    /// A layer the model does not have.
    #[error("model {model} has no layer {layer:?}; its layers are: {available}")]
    UnknownLayer {
        /// The model.
        model: String,
        /// The requested layer.
        layer: String,
        /// The layers it has.
        available: String,
    },
    /// Loading images failed.
    #[error(transparent)]
    Load(#[from] demud_datasets::LoadError),
    /// Anything else, with its explanation.
    #[error("{0}")]
    Other(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = NeuralError> = std::result::Result<T, E>;

/// Adds context to a tch result.
pub(crate) trait TorchContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> TorchContext<T> for std::result::Result<T, tch::TchError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| NeuralError::Torch {
            context: what(),
            source,
        })
    }
}
