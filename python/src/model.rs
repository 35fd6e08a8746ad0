//! A saved model as a Python object: the engine's model state (mean, basis, singular values,
//! count, the options it was built under and its fitted conditioning) and, when its features
//! came from images, how they were extracted. Files are read and written by the same typed
//! reader and writer as the command line's `--model-in` / `--model-out`, so a file written by
//! either is read by the other.

use crate::arrays::{matrix, vector, Features};
use crate::errors::{engine_error, file_error};
use crate::params::{serde_name, Params};
use crate::with_view;
use demud::fitted::{fold_items, model_of_items, score_items};
use demud::{Conditioning, ModelState};
use demud_datasets::run::{read_saved_model, write_saved_model, SavedModel};
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;

/// A DEMUD model: what `DEMUD.fit` leaves in `model_`, `DEMUD.save` writes and `DEMUD.load`
/// reads. Immutable: folding items in (`DEMUD.partial_fit`) makes a new one.
#[pyclass(frozen, module = "demud._demud")]
pub struct Model {
    /// The state and the features' extraction record.
    pub saved: SavedModel,
}

impl Model {
    /// A model with the state's options and the extraction record of the model it continues.
    pub fn new(state: ModelState, extraction_from: Option<&Model>) -> Self {
        Model {
            saved: SavedModel {
                state,
                extraction: extraction_from.and_then(|m| m.saved.extraction.clone()),
            },
        }
    }
}

#[pymethods]
impl Model {
    /// Reads a model file written by `Model.save` or `demud discover --model-out`, checked
    /// (format, version, shapes, an orthonormal basis, the conditioning's widths).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Model> {
        let saved = py.detach(|| read_saved_model(&path)).map_err(file_error)?;
        Ok(Model { saved })
    }

    /// Writes the model file (versioned JSON, replaced atomically), which
    /// `demud discover --model-in` continues from.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| write_saved_model(&path, &self.saved))
            .map_err(file_error)
    }

    /// The model file's text.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.saved).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// A model from a model file's text, checked as `Model.load` checks a file.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Model> {
        let saved: SavedModel = serde_json::from_str(text)
            .map_err(|e| PyValueError::new_err(format!("not a demud model state: {e}")))?;
        let state = saved.state.checked().map_err(engine_error)?;
        Ok(Model {
            saved: SavedModel { state, ..saved },
        })
    }

    /// Pickles as the model file's text.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let rebuild = slf.get_type().getattr("from_json")?;
        Ok((rebuild, (slf.get().to_json()?,)))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Model>()
            .is_ok_and(|other| other.get().saved == self.saved)
    }

    fn __repr__(&self) -> String {
        let state = &self.saved.state;
        format!(
            "Model(features={}, count={}, rank={}, k={}, update={:?}, conditioning={:?})",
            self.n_features_in(),
            state.model.count(),
            state.model.rank(),
            state.k,
            serde_name(&state.update),
            self.conditioning()
        )
    }

    /// Number of principal components the model is truncated to.
    #[getter]
    fn k(&self) -> usize {
        self.saved.state.k
    }
    /// The update method of the run that made it.
    #[getter]
    fn update(&self) -> String {
        serde_name(&self.saved.state.update)
    }
    /// The score method of the run that made it.
    #[getter]
    fn score(&self) -> String {
        serde_name(&self.saved.state.score)
    }
    /// The compatibility switch of the run that made it.
    #[getter]
    fn compat(&self) -> String {
        serde_name(&self.saved.state.compat)
    }
    /// The conditioning items go through before the model sees them (`"none"` if none).
    #[getter]
    fn conditioning(&self) -> String {
        self.saved
            .state
            .conditioner
            .as_ref()
            .map_or_else(Conditioning::none, |c| c.conditioning())
            .to_string()
    }
    /// Number of features of the items it takes.
    #[getter]
    fn n_features_in(&self) -> usize {
        let state = &self.saved.state;
        state
            .conditioner
            .as_ref()
            .map_or(state.model.dim(), |c| c.input_dim())
    }
    /// Number of items it models.
    #[getter]
    fn count(&self) -> usize {
        self.saved.state.model.count()
    }
    /// Number of basis directions (at most k).
    #[getter]
    fn rank(&self) -> usize {
        self.saved.state.model.rank()
    }
    /// The mean of the modelled items (in the conditioned space).
    #[getter]
    fn mean<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        vector(py, self.saved.state.model.mean().to_owned())
    }
    /// The orthonormal basis, one direction per column (features x rank).
    #[getter]
    fn basis<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        matrix(py, self.saved.state.model.basis().to_owned())
    }
    /// The singular values, one per direction.
    #[getter]
    fn singular_values<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        vector(py, self.saved.state.model.singular_values().to_owned())
    }
}

/// The score of every item (row of `items`) under `model`, with the scoring and missing-value
/// policy of `params`: its reconstruction error, higher for items the model explains worse.
#[pyfunction]
pub fn score_items_under<'py>(
    py: Python<'py>,
    params: &Params,
    model: &Model,
    items: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let items = Features::borrow(items, "X")?;
    let scoring = params.engine.scoring();
    let missing = params.engine.missing_policy();
    let state = &model.saved.state;
    let scores = with_view!(&items, |view| py
        .detach(|| score_items(state, view, scoring, missing)))
    .map_err(engine_error)?;
    Ok(vector(py, scores))
}

/// A new model: `model` with every item (row of `items`) added in order, under the update
/// method and k of `params`.
#[pyfunction]
pub fn fold_items_into(
    py: Python<'_>,
    params: &Params,
    model: &Model,
    items: &Bound<'_, PyAny>,
) -> PyResult<Model> {
    let items = Features::borrow(items, "X")?;
    let mut state = model.saved.state.clone();
    state.k = params.engine.k();
    state.update = params.engine.update_method();
    let missing = params.engine.missing_policy();
    with_view!(&items, |view| py
        .detach(|| fold_items(&mut state, view, missing)))
    .map_err(engine_error)?;
    Ok(Model::new(state, Some(model)))
}

/// A model of `items` alone: their top-k SVD after the conditioning of `params` (none when
/// not given) fitted on them, as a run with these items as its prior would start.
#[pyfunction]
pub fn model_of(py: Python<'_>, params: &Params, items: &Bound<'_, PyAny>) -> PyResult<Model> {
    let items = Features::borrow(items, "X")?;
    let options = params.options();
    let conditioning = params.conditioning.clone().unwrap_or_default();
    let missing = params.engine.missing_policy();
    let state = with_view!(&items, |view| py.detach(|| model_of_items(
        view,
        &options,
        &conditioning,
        missing
    )))
    .map_err(engine_error)?;
    Ok(Model::new(state, None))
}
