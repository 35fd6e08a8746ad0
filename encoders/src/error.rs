//! The encoders' one error type; every variant keeps its source (libtorch's errors as their
//! message, without the C++ stack frames).

use std::path::PathBuf;
use thiserror::Error;

/// Why a feature extractor could not be built, loaded or run.
#[derive(Debug, Error)]
pub enum EncoderError {
    /// libtorch refused (shapes, missing weights, bad file): its message without the C++
    /// stack frames libtorch appends ([`libtorch_message`]).
    #[error("{context}: {message}")]
    Torch {
        /// What was being done.
        context: String,
        /// libtorch's message.
        message: String,
    },
    /// A weights file in a format this crate does not read.
    #[error("{}: expected a .safetensors file; convert a PyTorch state dict once with the venv's torch: .venv/bin/python scripts/convert_weights.py {} OUT.safetensors", path.display(), path.display())]
    WeightsFormat {
        /// The file.
        path: PathBuf,
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
    /// A TorchScript module whose output is not a tensor, a tuple or list of tensors, or a
    /// string-keyed dict of tensors.
    #[error("the TorchScript module's output {what} is not a tensor")]
    NotTensor {
        /// Which output, as libtorch shows it.
        what: String,
    },
    /// A weights file whose tensors do not fit the network.
    #[error("{}: {reason}", path.display())]
    Weights {
        /// The file.
        path: PathBuf,
        /// What does not fit, naming the tensor.
        reason: String,
    },
    /// A class-names file that cannot be read.
    #[error("{}: {source}", path.display())]
    ClassNamesIo {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A class-names file that is not a JSON list of strings.
    #[error("{}: not a JSON list of class names: {source}", path.display())]
    ClassNamesJson {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A class-names file that does not fit the network's classes.
    #[error("{}: {reason}", path.display())]
    ClassNames {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// Logits whose width is not the number of class names.
    #[error("{classes} class names, but the layer has {values} values per image")]
    ClassCount {
        /// Class names.
        classes: usize,
        /// Values per row.
        values: usize,
    },
    /// An extractor asked for with a wrong or missing option.
    #[error("{reason}")]
    Spec {
        /// What is wrong, naming the option.
        reason: String,
    },
    /// Loading an image collection failed.
    #[error(transparent)]
    Data(#[from] demud_datasets::DataError),
    /// Not one image of the collection could be read.
    #[error("none of the {total} images could be read{}", first.as_ref().map_or(String::new(), |e| format!(" (first problem: {e})")))]
    NothingReadable {
        /// Images in the collection.
        total: usize,
        /// The first image's problem.
        #[source]
        first: Option<demud_datasets::DataError>,
    },
    /// The bag of words has fewer descriptors than words to learn.
    #[error("a vocabulary of {words} words needs at least that many descriptors; the images gave {descriptors}")]
    Vocabulary {
        /// Words asked for.
        words: usize,
        /// Descriptors available.
        descriptors: usize,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = EncoderError> = std::result::Result<T, E>;

/// Adds context to a tch result.
pub(crate) trait TorchContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> TorchContext<T> for std::result::Result<T, tch::TchError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| EncoderError::Torch {
            context: what(),
            message: libtorch_message(&source),
        })
    }
}

/// libtorch's message of an error, on one line: what it says before the C++ stack frames it
/// appends ("Exception raised from ...", "frame #0: ..."), which mean nothing to a user.
pub fn libtorch_message(error: &tch::TchError) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_messages_lose_their_stack_frames() {
        let error = tch::TchError::Torch(
            "PytorchStreamReader failed reading zip archive: failed finding central directory\nException raised from valid at inline_container.cc:242 (most recent call first):\nframe #0: c10::Error::Error() + 0x9d (0x7f in libc10.so)\nframe #1: f() + 0xca".into(),
        );
        assert_eq!(
            libtorch_message(&error),
            "Internal torch error: PytorchStreamReader failed reading zip archive: failed finding central directory"
        );
    }
}
