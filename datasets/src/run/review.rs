//! A reviewer's feedback on a collection, by item id: items seen and found uninteresting
//! (added to the model before ranking, never candidates), and items kept as a class of
//! interest whose look-alikes are ranked up or down (never candidates, not added). Recorded
//! in `run.json`, so a replay ranks as the run did.

use crate::error::{DataError, Result};
use crate::features::read_items;
use demud::model::{IncrementalMethod, Truncation};
use demud::scoring::explain;
use demud::{
    Compatibility, Conditioner, DemudParams, Init, Interest, InterestMode, SubspaceModel,
    UpdateMethod,
};
use ndarray::{Array2, ArrayView1};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Feedback on the items of a collection, by id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// Items seen and found uninteresting, in the order they were reviewed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    /// Items kept as a class of interest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interesting: Vec<String>,
    /// Whether the class's look-alikes are ranked up or down.
    #[serde(default)]
    pub interest: InterestMode,
}

impl Review {
    /// No feedback.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty() && self.interesting.is_empty()
    }

    /// Reads the ids of an id list: one id per line (`id[,label]` CSV; a header starting with
    /// `id` is skipped), as `selections.csv`-style id columns are usually copied.
    pub fn read_ids(path: &Path) -> Result<Vec<String>> {
        Ok(read_items(path)?.into_iter().map(|r| r.id).collect())
    }

    /// The parameters with the feedback applied to a collection with these ids: seen items by
    /// index, and the class of interest as the novel directions of the kept items under the
    /// starting model after the seen items were added (rows conditioned by `conditioner`;
    /// `row(i)` gives item `i`'s features). `path` names the features in errors.
    pub fn apply(
        &self,
        params: DemudParams,
        ids: &[String],
        conditioner: &Conditioner,
        row: impl Fn(usize) -> ndarray::Array1<f64>,
        path: &Path,
    ) -> Result<DemudParams> {
        if self.is_empty() {
            return Ok(params);
        }
        let index: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let find = |what: &str, id: &String| {
            index.get(id.as_str()).copied().ok_or_else(|| {
                DataError::file(
                    path,
                    format!("the {what} item {id:?} is not an item of this collection"),
                )
            })
        };
        let seen: Vec<usize> = self
            .seen
            .iter()
            .map(|id| find("seen", id))
            .collect::<Result<_>>()?;
        let kept: Vec<usize> = self
            .interesting
            .iter()
            .map(|id| find("interesting", id))
            .collect::<Result<_>>()?;
        let engine = |source| DataError::Engine {
            path: path.to_path_buf(),
            at: String::new(),
            source,
        };
        let mut params = params.seen(seen.clone()).withheld(kept.clone());
        if kept.is_empty() {
            return Ok(params);
        }
        let truncation = match params.compatibility() {
            Compatibility::Clean => Truncation::DropNullDirections,
            Compatibility::Reference => Truncation::KeepAll,
        };
        let mut model = match params.initial() {
            Init::Model(model) => model.clone(),
            Init::Prior(prior) => {
                SubspaceModel::from_items(prior.view(), params.k(), truncation).map_err(engine)?
            }
            _ => {
                return Err(DataError::file(
                    path,
                    "a class of interest is ranked by its novel content under a model of what was seen: give prior items or a saved model",
                ))
            }
        };
        let conditioned = |i: usize| conditioner.transform_item(row(i).view());
        let method = match params.update_method() {
            UpdateMethod::Ross => IncrementalMethod::Ross,
            _ => IncrementalMethod::Brand,
        };
        for &i in &seen {
            model
                .add_item(conditioned(i).view(), method, params.k())
                .map_err(engine)?;
        }
        let d = model.dim();
        let mut residuals = Array2::zeros((kept.len(), d));
        for (r, &i) in kept.iter().enumerate() {
            let z = conditioned(i);
            let residual = explain(&model, ArrayView1::from(&z)).1;
            residuals.row_mut(r).assign(&residual);
        }
        let interest = Interest::from_residuals(residuals.view(), params.k(), self.interest)
            .map_err(engine)?;
        params = params.interest(interest);
        Ok(params)
    }
}
