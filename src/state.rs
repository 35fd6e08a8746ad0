//! The saved state of a run's model, so that a later run can continue from it.
//!
//! The state is a serde structure with a format name and version; the CLI writes it as JSON.
//!
//! ```
//! use demud::{ModelState, SubspaceModel, DemudParams};
//! use demud::model::RankZeroStyle;
//! use ndarray::array;
//!
//! let model = SubspaceModel::rank_zero(array![1.0, 2.0].view(), RankZeroStyle::Empty);
//! let state = ModelState::new(model, &DemudParams::new(1));
//! let back = ModelState::checked(state.clone()).unwrap();
//! assert_eq!(back.model, state.model);
//! ```

use crate::discovery::{Compatibility, DemudParams, UpdateMethod};
use crate::error::{DemudError, Result};
use crate::model::SubspaceModel;
use crate::scoring::ScoreMethod;
use serde::{Deserialize, Serialize};

/// The `format` field of every saved state.
pub const MODEL_STATE_FORMAT: &str = "demud-model";
/// The version this build writes and reads.
pub const MODEL_STATE_VERSION: u32 = 1;

/// A model with the options it was built under.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelState {
    /// Always [`MODEL_STATE_FORMAT`].
    pub format: String,
    /// [`MODEL_STATE_VERSION`] when written by this build.
    pub version: u32,
    /// Number of principal components the model was truncated to.
    pub k: usize,
    /// The update method of the run that produced it.
    pub update: UpdateMethod,
    /// The score method of that run.
    pub score: ScoreMethod,
    /// The compatibility switch of that run.
    pub compat: Compatibility,
    /// Mean, basis, singular values, count.
    pub model: SubspaceModel,
}

impl ModelState {
    /// Wraps a model with the options of `params`.
    pub fn new(model: SubspaceModel, params: &DemudParams) -> Self {
        ModelState {
            format: MODEL_STATE_FORMAT.to_string(),
            version: MODEL_STATE_VERSION,
            k: params.k(),
            update: params.update_method(),
            score: params.scoring().method(),
            compat: params.compatibility(),
            model,
        }
    }

    /// Checks the format, the version and the model's consistency (shapes, orthonormality).
    pub fn checked(self) -> Result<Self> {
        if self.format != MODEL_STATE_FORMAT {
            return Err(DemudError::ModelState(format!(
                "format is {:?}, expected {MODEL_STATE_FORMAT:?}",
                self.format
            )));
        }
        if self.version != MODEL_STATE_VERSION {
            return Err(DemudError::ModelState(format!(
                "version {} is not supported (this build reads version {MODEL_STATE_VERSION})",
                self.version
            )));
        }
        self.model.validate()?;
        Ok(self)
    }
}
