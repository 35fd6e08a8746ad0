//! The saved state of a run's model, so that a later run can continue from it.
//!
//! The state is a serde structure with a format name and version; the CLI writes it as JSON.
//! Version 2 added the fitted feature conditioning, so that a later batch is conditioned as the
//! items the model was built from were; version 1 files (no conditioning) are still read.
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

use crate::conditioning::Conditioner;
use crate::discovery::{Compatibility, DemudParams, UpdateMethod};
use crate::error::{DemudError, Result};
use crate::model::SubspaceModel;
use crate::scoring::ScoreMethod;
use serde::{Deserialize, Serialize};

/// The `format` field of every saved state.
pub const MODEL_STATE_FORMAT: &str = "demud-model";
/// The version this build writes.
pub const MODEL_STATE_VERSION: u32 = 2;
/// The oldest version this build reads (version 1 had no conditioning: the identity).
pub const MODEL_STATE_OLDEST_VERSION: u32 = 1;

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
    /// The conditioning items go through before the model sees them (absent: none). The
    /// model lives in its output space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditioner: Option<Conditioner>,
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
            conditioner: None,
        }
    }

    /// The same state with the conditioning its items went through.
    pub fn with_conditioner(mut self, conditioner: Conditioner) -> Self {
        self.conditioner = (!conditioner.is_identity()).then_some(conditioner);
        self
    }

    /// Checks the format, the version and the model's consistency (shapes, orthonormality).
    pub fn checked(self) -> Result<Self> {
        if self.format != MODEL_STATE_FORMAT {
            return Err(DemudError::ModelState(format!(
                "format is {:?}, expected {MODEL_STATE_FORMAT:?}",
                self.format
            )));
        }
        if !(MODEL_STATE_OLDEST_VERSION..=MODEL_STATE_VERSION).contains(&self.version) {
            return Err(DemudError::ModelState(format!(
                "version {} is not supported (this build reads versions {MODEL_STATE_OLDEST_VERSION} to {MODEL_STATE_VERSION})",
                self.version
            )));
        }
        // Before the model's own check, whose orthonormality test costs O(d r^2) time and r^2
        // memory: a basis of more directions than features cannot be orthonormal, and a
        // file of r numbers could otherwise make that test allocate r^2 of them.
        let (d, r) = (self.model.dim(), self.model.rank());
        if d == 0 {
            return Err(DemudError::ModelState("the model has no features".into()));
        }
        if r > d {
            return Err(DemudError::ModelState(format!(
                "the basis has {r} directions for {d} features; at most {d} can be orthonormal"
            )));
        }
        self.model.validate()?;
        if let Some(conditioner) = &self.conditioner {
            conditioner.validate()?;
            if conditioner.output_dim() != self.model.dim() {
                return Err(DemudError::ModelState(format!(
                    "the conditioning gives {} features but the model has {}",
                    conditioner.output_dim(),
                    self.model.dim()
                )));
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditioning::Conditioning;
    use crate::model::RankZeroStyle;
    use ndarray::array;

    fn state() -> ModelState {
        let model = SubspaceModel::rank_zero(array![0.6, 0.8].view(), RankZeroStyle::Empty);
        ModelState::new(model, &DemudParams::new(1))
    }

    #[test]
    fn a_conditioned_state_reads_back_with_its_conditioner() {
        let archive = array![[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]];
        let conditioner = "centre+l2"
            .parse::<Conditioning>()
            .unwrap()
            .fit(archive.view())
            .unwrap();
        let saved = state().with_conditioner(conditioner.clone());
        let text = serde_json::to_string(&saved).unwrap();
        let back = serde_json::from_str::<ModelState>(&text)
            .unwrap()
            .checked()
            .unwrap();
        assert_eq!(back.conditioner, Some(conditioner));
        // The identity is not written at all.
        let plain = state().with_conditioner(Conditioner::identity(2));
        assert!(!serde_json::to_string(&plain)
            .unwrap()
            .contains("conditioner"));
    }

    #[test]
    fn version_1_states_are_read_as_unconditioned_and_version_3_is_refused() {
        let mut value = serde_json::to_value(state()).unwrap();
        value["version"] = 1.into();
        let old: ModelState = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(old.checked().unwrap().conditioner, None);
        value["version"] = 3.into();
        let new: ModelState = serde_json::from_value(value).unwrap();
        let err = new.checked().unwrap_err().to_string();
        assert!(err.contains("version 3 is not supported"), "{err}");
    }

    #[test]
    fn a_basis_wider_than_the_features_is_refused_before_its_gram_matrix_is_built() {
        // Four zero columns in two dimensions; a million would make the orthonormality
        // check allocate a million squared values.
        let mut value = serde_json::to_value(state()).unwrap();
        value["model"]["basis"] = serde_json::json!({"v": 1, "dim": [2, 4], "data": vec![0.0; 8]});
        value["model"]["singular_values"] =
            serde_json::json!({"v": 1, "dim": [4], "data": vec![0.0; 4]});
        let wide: ModelState = serde_json::from_value(value.clone()).unwrap();
        let err = wide.checked().unwrap_err().to_string();
        assert!(err.contains("4 directions for 2 features"), "{err}");
        value["model"]["mean"] = serde_json::json!({"v": 1, "dim": [0], "data": []});
        value["model"]["basis"] = serde_json::json!({"v": 1, "dim": [0, 0], "data": []});
        value["model"]["singular_values"] = serde_json::json!({"v": 1, "dim": [0], "data": []});
        let empty: ModelState = serde_json::from_value(value).unwrap();
        let err = empty.checked().unwrap_err().to_string();
        assert!(err.contains("no features"), "{err}");
    }

    #[test]
    fn a_conditioner_of_another_width_is_refused() {
        let conditioner = Conditioning::new(vec![crate::conditioning::Step::Centre])
            .fit(array![[1.0, 2.0, 3.0]].view())
            .unwrap();
        let err = state()
            .with_conditioner(conditioner)
            .checked()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gives 3 features but the model has 2"),
            "{err}"
        );
    }
}
