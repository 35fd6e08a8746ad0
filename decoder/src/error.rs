//! The decoder crate's one error type; every variant that wraps another error keeps it as its
//! source.

use std::path::PathBuf;
use thiserror::Error;

/// Why a decoder could not be built, trained, saved, loaded or run.
#[derive(Debug, Error)]
pub enum DecoderError {
    /// libtorch refused (shapes, missing weights, bad file): its message without the C++
    /// stack frames libtorch appends.
    #[error("{context}: {message}")]
    Torch {
        /// What was being done.
        context: String,
        /// libtorch's message.
        message: String,
    },
    /// An architecture that cannot be built.
    #[error("decoder architecture: {reason}")]
    Architecture {
        /// Which field is wrong and why.
        reason: String,
    },
    /// `.npy` training features without the items file that names each row's image.
    #[error("{}: no items file; the decoder needs each row's image id (pass --items)", path.display())]
    NoItems {
        /// The items file looked for.
        path: PathBuf,
    },
    /// Training features with missing or infinite values.
    #[error("{}: the decoder needs finite features (missing values found)", path.display())]
    NotFinite {
        /// The features file.
        path: PathBuf,
    },
    /// A batch size of zero.
    #[error("batch size must be positive")]
    BatchSize,
    /// A learning rate that is not a positive number.
    #[error("learning rate {value} must be positive")]
    LearningRate {
        /// The rate given.
        value: f64,
    },
    /// The loss stopped being a number: the weights are lost (nothing is saved).
    #[error("training diverged at epoch {epoch}, step {step}: the loss is {loss}; lower the learning rate (--lr); no checkpoint was written")]
    Diverged {
        /// The epoch (1-based).
        epoch: usize,
        /// The step in it (1-based).
        step: usize,
        /// The loss.
        loss: f64,
    },
    /// A decoder trained on images prepared otherwise than a run's features.
    #[error("{reason}; train the decoder on features extracted like the run's")]
    View {
        /// The two preprocessings.
        reason: String,
    },
    /// Feature vectors of another length than the decoder reads.
    #[error("the decoder reads {expected} features, these vectors have {found}")]
    FeatureWidth {
        /// The decoder's input length.
        expected: usize,
        /// The vectors' length.
        found: usize,
    },
    /// Training images that do not match the feature vectors or the decoder's image size.
    #[error(
        "{pairs} feature vectors need {pairs} x 3 x {side} x {side} target images, got {found:?}"
    )]
    TargetShape {
        /// Feature vectors given.
        pairs: usize,
        /// The decoder's image side.
        side: usize,
        /// Shape of the images given.
        found: (usize, usize, usize, usize),
    },
    /// An epoch over an empty training set.
    #[error("no training pairs")]
    NoTrainingPairs,
    /// Expected content and residuals of different shapes.
    #[error("expected content is {expected:?} and residuals are {residual:?}: they must have the same shape")]
    ExplanationShape {
        /// Shape of the expected content x̂.
        expected: (usize, usize),
        /// Shape of the residuals e.
        residual: (usize, usize),
    },
    /// A checkpoint record that cannot be read.
    #[error("{}: cannot read the decoder checkpoint: {source}", path.display())]
    CheckpointIo {
        /// The record file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint record that is not JSON of a decoder checkpoint.
    #[error("{}: not a decoder checkpoint: {source}", path.display())]
    Checkpoint {
        /// The record file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A checkpoint whose recorded training loss is not a number: its training diverged.
    #[error("{}: this decoder's training diverged (its loss at epoch {epoch} is not a number): it draws nothing; train it again with a lower --lr", path.display())]
    DivergedCheckpoint {
        /// The record file.
        path: PathBuf,
        /// The first epoch whose loss is not a number (1-based).
        epoch: usize,
    },
    /// A checkpoint whose weights hold NaN or infinite values.
    #[error("{}: tensor {tensor:?} has NaN or infinite values: the training diverged; train the decoder again with a lower --lr", path.display())]
    DivergedWeights {
        /// The weights file.
        path: PathBuf,
        /// The first tensor (by name) that is not finite.
        tensor: String,
    },
    /// A checkpoint record of another format, or of a newer version than this crate reads.
    #[error("{}: format {format:?} version {version} is not {:?} version <= {}", path.display(), crate::checkpoint::FORMAT, crate::checkpoint::VERSION)]
    CheckpointFormat {
        /// The record file.
        path: PathBuf,
        /// Its format field.
        format: String,
        /// Its version field.
        version: u32,
    },
    /// An optimizer file that lacks a moment of one of the decoder's variables.
    #[error("{}: no {key} of shape {shape:?}: not this decoder's optimizer state", path.display())]
    OptimizerState {
        /// The optimizer file.
        path: PathBuf,
        /// The missing (or misshapen) moment's name.
        key: String,
        /// The shape it should have.
        shape: Vec<i64>,
    },
    /// Writing a checkpoint file or reading a training image failed.
    #[error(transparent)]
    Data(#[from] demud_datasets::DataError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = DecoderError> = std::result::Result<T, E>;

/// Adds context to a tch result.
pub(crate) trait TorchContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> TorchContext<T> for std::result::Result<T, tch::TchError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| DecoderError::Torch {
            context: what(),
            message: libtorch_message(&source),
        })
    }
}

/// libtorch's message on one line, without the C++ stack frames it appends ("Exception
/// raised from ...", "frame #0: ...").
fn libtorch_message(error: &tch::TchError) -> String {
    let text = error.to_string();
    let said = text
        .split("Exception raised from")
        .next()
        .unwrap_or_default();
    let lines: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("frame #"))
        .collect();
    match lines.is_empty() {
        true => text.lines().next().unwrap_or_default().trim().to_string(),
        false => lines.join(" "),
    }
}
