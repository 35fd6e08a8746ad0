//! Discovery runs from Python: `fit` makes every selection in one call, reading the caller's
//! array in place; `Run` makes them one at a time, for a generator. Both release the GIL while
//! the engine works and check for signals (Ctrl-C) between selections, so a run can be
//! interrupted with `KeyboardInterrupt` and leaves nothing half-made behind.

use crate::arrays::{indices, matrix, row_f64, stack, vector, Features};
use crate::errors::{engine_error, invalid_parameter};
use crate::model::Model;
use crate::params::Params;
use crate::with_view;
use demud::conditioning::Step;
use demud::{
    Conditioner, Conditioning, DemudParams, Discovery, Element, Init, MissingPolicy, ModelState,
    Selection, SubspaceModel,
};
use numpy::ndarray::{Array1, Array2, ArrayView2, CowArray, Ix2};
use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;
use self_cell::self_cell;

/// How a run starts: the engine's parameters with the first selection or starting model
/// resolved, the conditioning fitted for it, and the saved model it continues.
struct Start {
    engine: DemudParams,
    conditioner: Conditioner,
    continues: Option<Py<Model>>,
}

/// Resolves where a run on `items` starts: from the saved model of `init=<Model>` (with its
/// conditioning), from `prior` items (the conditioning fitted on them), or from the init rule
/// (the conditioning fitted on `items`).
fn start_run(
    py: Python<'_>,
    params: &Params,
    items: &Features<'_>,
    prior: Option<&Bound<'_, PyAny>>,
) -> PyResult<Start> {
    let (n, d) = items.dim();
    if n == 0 || d == 0 {
        return Err(engine_error(demud::DemudError::Empty {
            what: "the collection",
            items: n,
            features: d,
        }));
    }
    let asked = params.conditioning.clone().unwrap_or_default();
    let missing = params.engine.missing_policy();
    let (engine, conditioner, continues) = match (&params.start, prior) {
        (Some(_), Some(_)) => {
            return Err(invalid_parameter(
                "prior",
                "give prior items or start from a saved model (init=<Model>), not both",
            ))
        }
        (Some(model), None) => {
            let state = &model.get().saved.state;
            let conditioner = state
                .conditioner
                .clone()
                .unwrap_or_else(|| Conditioner::identity(state.model.dim()));
            if !conditioner.is_identity() {
                refuse_missing_values(py, &conditioner.conditioning(), items, missing)?;
            }
            (
                params.engine.clone(),
                conditioner,
                Some(model.clone_ref(py)),
            )
        }
        (None, Some(prior)) => {
            let prior = Features::borrow(prior, "prior")?;
            if prior.dim().1 != d {
                return Err(invalid_parameter(
                    "prior",
                    format!("the prior items have {} features, X has {d}", prior.dim().1),
                ));
            }
            refuse_missing_values(py, &asked, &prior, missing)?;
            let prior = prior.to_f64();
            let conditioner = py
                .detach(|| asked.fit(prior.view()))
                .map_err(engine_error)?;
            let conditioned = py
                .detach(|| conditioner.transform(prior.view()))
                .map_err(engine_error)?;
            let engine = params.engine.clone().init(Init::Prior(conditioned));
            (engine, conditioner, None)
        }
        (None, None) => {
            refuse_missing_values(py, &asked, items, missing)?;
            let conditioner =
                with_view!(items, |view| py.detach(|| asked.fit(view))).map_err(engine_error)?;
            (params.engine.clone(), conditioner, None)
        }
    };
    let whitened = conditioner
        .conditioning()
        .steps()
        .iter()
        .any(|step| matches!(step, Step::Whiten { .. }));
    if whitened && engine.scoring().weights().is_some() {
        return Err(invalid_parameter(
            "weights",
            format!(
                "per-feature weights apply to the features DEMUD ranks, and the conditioning {} turns {} features into {}: give weights without whitening",
                conditioner.conditioning(),
                conditioner.input_dim(),
                conditioner.output_dim()
            ),
        ));
    }
    Ok(Start {
        engine,
        conditioner,
        continues,
    })
}

/// Conditioning steps need every value: with missing values allowed (`zero`, `ignore`) and
/// present, say so rather than let the conditioning refuse the first NaN.
fn refuse_missing_values(
    py: Python<'_>,
    conditioning: &Conditioning,
    items: &Features<'_>,
    missing: MissingPolicy,
) -> PyResult<()> {
    if conditioning.is_none() || missing == MissingPolicy::Error {
        return Ok(());
    }
    let has_missing = with_view!(items, |view| py
        .detach(|| view.iter().any(|v| v.to_f64().is_nan())));
    if has_missing {
        return Err(invalid_parameter(
            "conditioning",
            format!("the items have missing values and the conditioning {conditioning} needs every value: use conditioning=\"none\" with missing values"),
        ));
    }
    Ok(())
}

/// The items as the engine ranks them: the caller's array itself when there is nothing to
/// condition, else the conditioned copy.
fn ranked_items<'a, T: Element>(
    conditioner: &Conditioner,
    items: ArrayView2<'a, T>,
) -> demud::Result<CowArray<'a, T, Ix2>> {
    if conditioner.is_identity() {
        Ok(CowArray::from(items))
    } else {
        Ok(CowArray::from(conditioner.transform(items)?))
    }
}

/// A selection with its explanation mapped back from the conditioned space to the item's own
/// features, as the command line's `expected.npy` and `residual.npy` hold it. The score stays
/// the one the engine ranked by.
fn in_features(
    conditioner: &Conditioner,
    item: Array1<f64>,
    mut selection: Selection,
) -> Selection {
    if !conditioner.is_identity() {
        let (expected, residual) =
            conditioner.explain_in_input_space(item.view(), selection.expected.view());
        selection.expected = expected;
        selection.residual = residual;
    }
    selection
}

/// The model after a run's selections, as a saved state with the run's options.
fn model_after(py: Python<'_>, start: &Start, model: Option<SubspaceModel>) -> Option<Model> {
    model.map(|m| {
        let options = start.engine.clone().init(Init::Svd);
        let state = ModelState::new(m, &options).with_conditioner(start.conditioner.clone());
        let continues = start.continues.as_ref().map(|c| c.bind(py).get());
        Model::new(state, continues)
    })
}

/// Every selection of a run on `items` (`params.n_select` of them, default all): item
/// indices, scores, expected content and novel content (in the items' own features, one row
/// per selection) and the model after the last one. `items` is read in place.
#[pyfunction]
#[pyo3(signature = (params, items, prior = None))]
#[allow(clippy::type_complexity)]
pub fn fit<'py>(
    py: Python<'py>,
    params: &Params,
    items: &Bound<'py, PyAny>,
    prior: Option<&Bound<'py, PyAny>>,
) -> PyResult<(
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Option<Model>,
)> {
    let features = Features::borrow(items, "X")?;
    let start = start_run(py, params, &features, prior)?;
    let (selections, model) = with_view!(&features, |view| rank_all(py, &start, view))?;
    let width = features.dim().1;
    Ok((
        indices(py, selections.iter().map(|s| s.index)),
        vector(py, selections.iter().map(|s| s.score).collect()),
        matrix(py, stack(selections.iter().map(|s| &s.expected), width)),
        matrix(py, stack(selections.iter().map(|s| &s.residual), width)),
        model_after(py, &start, model),
    ))
}

fn rank_all<T: Element>(
    py: Python<'_>,
    start: &Start,
    items: ArrayView2<'_, T>,
) -> PyResult<(Vec<Selection>, Option<SubspaceModel>)> {
    let ranked = py
        .detach(|| ranked_items(&start.conditioner, items))
        .map_err(engine_error)?;
    let mut discovery = py
        .detach(|| start.engine.discover(ranked.view()))
        .map_err(engine_error)?;
    let mut selections = Vec::with_capacity(discovery.len_total());
    loop {
        // Ctrl-C raises KeyboardInterrupt here, between two selections.
        py.check_signals()?;
        match py.detach(|| discovery.next()) {
            None => break,
            Some(selection) => selections.push(selection.map_err(engine_error)?),
        }
    }
    let model = discovery.model();
    let conditioner = &start.conditioner;
    let selections = py.detach(|| {
        selections
            .into_iter()
            .map(|s| in_features(conditioner, row_f64(items, s.index), s))
            .collect()
    });
    Ok((selections, model))
}

type SingleDiscovery<'a> = Discovery<'a, f32>;
type DoubleDiscovery<'a> = Discovery<'a, f64>;

self_cell!(
    /// A `float32` run with the copy of the items it ranks.
    struct SingleRun {
        owner: Array2<f32>,
        #[not_covariant]
        dependent: SingleDiscovery,
    }
);

self_cell!(
    /// A `float64` run with the copy of the items it ranks.
    struct DoubleRun {
        owner: Array2<f64>,
        #[not_covariant]
        dependent: DoubleDiscovery,
    }
);

/// An engine run that owns the items it ranks, in their precision.
enum Running {
    Single(SingleRun),
    Double(DoubleRun),
}

impl Running {
    fn next(&mut self) -> Option<demud::Result<Selection>> {
        match self {
            Running::Single(run) => run.with_dependent_mut(|_, discovery| discovery.next()),
            Running::Double(run) => run.with_dependent_mut(|_, discovery| discovery.next()),
        }
    }
    fn model(&self) -> Option<SubspaceModel> {
        match self {
            Running::Single(run) => run.with_dependent(|_, discovery| discovery.model()),
            Running::Double(run) => run.with_dependent(|_, discovery| discovery.model()),
        }
    }
    fn total(&self) -> usize {
        match self {
            Running::Single(run) => run.with_dependent(|_, discovery| discovery.len_total()),
            Running::Double(run) => run.with_dependent(|_, discovery| discovery.len_total()),
        }
    }
}

/// The engine's copy of the items to rank: the conditioned items, or the items themselves
/// (row-major). A run that outlives the call needs its own copy: the caller may change or
/// free the array between two selections.
fn owned_ranked_items<T: Element>(
    conditioner: &Conditioner,
    items: ArrayView2<'_, T>,
) -> demud::Result<Array2<T>> {
    if conditioner.is_identity() {
        Ok(items.as_standard_layout().into_owned())
    } else {
        conditioner.transform(items)
    }
}

/// A discovery run, one selection per `next()`: the iterator behind `DEMUD.discover`. It
/// keeps every selection it made and the model after them, so what it reports is always
/// consistent, even after a `KeyboardInterrupt`.
#[pyclass(module = "demud._demud")]
pub struct Run {
    running: Running,
    start: Start,
    /// The caller's items, read for each selection's explanation in the original features
    /// when the run ranks conditioned copies.
    items: Py<PyAny>,
    made: Vec<Selection>,
    width: usize,
}

#[pymethods]
impl Run {
    /// Starts a run on `items` with `params` (see `fit`); no selection is made yet.
    #[new]
    #[pyo3(signature = (params, items, prior = None))]
    fn new(
        py: Python<'_>,
        params: &Params,
        items: &Bound<'_, PyAny>,
        prior: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Run> {
        let features = Features::borrow(items, "X")?;
        let start = start_run(py, params, &features, prior)?;
        let engine = &start.engine;
        let conditioner = &start.conditioner;
        let running = match &features {
            Features::Single(array) => {
                let view = array.as_array();
                py.detach(|| {
                    let ranked = owned_ranked_items(conditioner, view)?;
                    SingleRun::try_new(ranked, |data| engine.discover(data.view()))
                })
                .map(Running::Single)
            }
            Features::Double(array) => {
                let view = array.as_array();
                py.detach(|| {
                    let ranked = owned_ranked_items(conditioner, view)?;
                    DoubleRun::try_new(ranked, |data| engine.discover(data.view()))
                })
                .map(Running::Double)
            }
        }
        .map_err(engine_error)?;
        Ok(Run {
            running,
            start,
            items: items.clone().unbind(),
            made: Vec::new(),
            width: features.dim().1,
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next selection as `(rank, index, score, expected, residual)`.
    #[allow(clippy::type_complexity)]
    fn __next__<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<
        Option<(
            usize,
            usize,
            f64,
            Bound<'py, PyArray1<f64>>,
            Bound<'py, PyArray1<f64>>,
        )>,
    > {
        // A Ctrl-C that came before this step raises here, before the step is taken.
        py.check_signals()?;
        let running = &mut self.running;
        let Some(selection) = py.detach(|| running.next()) else {
            return Ok(None);
        };
        let selection = selection.map_err(engine_error)?;
        let selection = if self.start.conditioner.is_identity() {
            selection
        } else {
            let items = Features::borrow(self.items.bind(py), "X")?;
            let item = with_view!(&items, |view| row_f64(view, selection.index));
            in_features(&self.start.conditioner, item, selection)
        };
        self.made.push(selection);
        let s = self.made.last().expect("just made");
        Ok(Some((
            s.rank,
            s.index,
            s.score,
            vector(py, s.expected.clone()),
            vector(py, s.residual.clone()),
        )))
    }

    /// The model after the selections made so far (`None` before the first selection of an
    /// index or random init).
    fn model(&self, py: Python<'_>) -> Option<Model> {
        model_after(py, &self.start, self.running.model())
    }

    /// Number of selections the run makes in all.
    #[getter]
    fn total(&self) -> usize {
        self.running.total()
    }

    /// Item indices of the selections made so far, in order.
    fn indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        indices(py, self.made.iter().map(|s| s.index))
    }

    /// Scores of the selections made so far.
    fn scores<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        vector(py, self.made.iter().map(|s| s.score).collect())
    }

    /// Expected content of the selections made so far, one row each.
    fn expected<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        matrix(py, stack(self.made.iter().map(|s| &s.expected), self.width))
    }

    /// Novel content of the selections made so far, one row each.
    fn residual<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        matrix(py, stack(self.made.iter().map(|s| &s.residual), self.width))
    }
}
