//! The maps crate's one error type.

use demud_datasets::DataError;
use demud_encoders::EncoderError;
use thiserror::Error;

/// Why explanation maps could not be made or scored.
#[derive(Debug, Error)]
pub enum MapsError {
    /// Reading or writing a run, an image or a maps folder.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Loading or running the network.
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    /// The engine refused (shapes of a conditioner or an explanation).
    #[error("{context}: {source}")]
    Engine {
        /// What was being done.
        context: String,
        /// The engine's error.
        #[source]
        source: demud::DemudError,
    },
    /// libtorch refused: its message without the C++ stack frames.
    #[error("{context}: {message}")]
    Torch {
        /// What was being done.
        context: String,
        /// libtorch's message ([`demud_encoders::error::libtorch_message`]).
        message: String,
    },
    /// Inputs that do not belong together (a network that did not make the run's features).
    #[error("{0}")]
    Mismatch(String),
    /// A setting out of its range.
    #[error("{name}: {reason}")]
    Setting {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// Results of this crate.
pub type Result<T, E = MapsError> = std::result::Result<T, E>;

pub(crate) trait TorchContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> TorchContext<T> for std::result::Result<T, tch::TchError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| MapsError::Torch {
            context: what(),
            message: demud_encoders::error::libtorch_message(&source),
        })
    }
}
