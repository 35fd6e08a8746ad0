//! The validated parameters of an estimator: every keyword of `demud.DEMUD(...)` is parsed and
//! checked once, here, into the engine's `DemudParams` and the feature conditioning; a refused
//! value is a `ValueError` naming the parameter and the values it takes.

use crate::errors::invalid_parameter;
use crate::model::Model;
use demud::{
    Compatibility, Conditioning, DemudParams, Init, MissingPolicy, ScoreMethod, ScorePath,
    SelectionRule,
};
use numpy::ndarray::Array1;
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use serde::de::DeserializeOwned;

/// The parameters of a DEMUD estimator, checked.
#[pyclass(frozen, module = "demud._demud")]
pub struct Params {
    /// The engine's parameters. The init is `Init::Model` when the run starts from `start`.
    pub engine: DemudParams,
    /// The saved model a run starts from (`init=<Model>`), with its conditioning.
    pub start: Option<Py<Model>>,
    /// The conditioning asked for; `None` takes the starting model's, or none.
    pub conditioning: Option<Conditioning>,
}

#[pymethods]
impl Params {
    /// Checks every parameter (see `demud.DEMUD` for their meaning).
    #[new]
    #[pyo3(signature = (
        k = 50, *, n_select = None, init = None, update = "brand", score = "lowhigh",
        conditioning = None, missing = "error", compat = "clean", selection = "residual",
        weights = None, seed = 0, exact = false, refresh_every = 256
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        k: i64,
        n_select: Option<i64>,
        init: Option<&Bound<'_, PyAny>>,
        update: &str,
        score: &str,
        conditioning: Option<&str>,
        missing: &str,
        compat: &str,
        selection: &str,
        weights: Option<PyReadonlyArray1<'_, f64>>,
        seed: u64,
        exact: bool,
        refresh_every: i64,
    ) -> PyResult<Self> {
        let k = at_least_one("k", k)?;
        let mut engine = DemudParams::new(k)
            .update(named::<demud::UpdateMethod>(
                "update",
                update,
                "brand, full, ross, static",
            )?)
            .score(named::<ScoreMethod>("score", score, "lowhigh, low, high")?)
            .missing(named::<MissingPolicy>(
                "missing",
                missing,
                "error, zero, ignore",
            )?)
            .compat(named::<Compatibility>(
                "compat",
                compat,
                "clean, reference",
            )?)
            .selection(selection_rule(selection)?)
            .seed(seed)
            .path(if exact {
                ScorePath::Exact
            } else {
                ScorePath::Auto
            })
            .refresh_every(
                usize::try_from(refresh_every)
                    .map_err(|_| invalid_parameter("refresh_every", "must be >= 0 (0: never)"))?,
            );
        if let Some(n) = n_select {
            engine = engine.n_select(at_least_one("n_select", n)?);
        }
        if let Some(weights) = weights {
            let weights: Array1<f64> = weights.as_array().to_owned();
            if let Some((j, w)) = weights
                .iter()
                .enumerate()
                .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
            {
                return Err(invalid_parameter(
                    "weights",
                    format!("weight of feature {j} is {w}; weights must be finite and >= 0"),
                ));
            }
            engine = engine.weights(weights);
        }
        let conditioning = conditioning
            .map(|text| {
                text.parse::<Conditioning>()
                    .map_err(|e| invalid_parameter("conditioning", e))
            })
            .transpose()?;
        let mut start = None;
        match init {
            None => {}
            Some(value) => {
                if let Ok(model) = value.cast::<Model>() {
                    let saved = &model.get().saved.state;
                    if let Some(asked) = &conditioning {
                        let own = saved
                            .conditioner
                            .as_ref()
                            .map(|c| c.conditioning())
                            .unwrap_or_default();
                        if *asked != own {
                            return Err(invalid_parameter(
                                "conditioning",
                                format!("the model ranks features conditioned by {own}; a run continuing it cannot use {asked} (leave the conditioning out to use the model's)"),
                            ));
                        }
                    }
                    engine = engine.init(Init::Model(saved.model.clone()));
                    start = Some(model.clone().unbind());
                } else {
                    engine = engine.init(first_selection(py, value)?);
                }
            }
        }
        Ok(Params {
            engine,
            start,
            conditioning,
        })
    }
}

impl Params {
    /// The engine's parameters without a starting model or prior (what a saved state records).
    pub fn options(&self) -> DemudParams {
        self.engine.clone().init(Init::Svd)
    }
}

/// A count that must be at least 1.
fn at_least_one(name: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v >= 1)
        .ok_or_else(|| invalid_parameter(name, format!("must be at least 1, not {value}")))
}

/// One of the engine's named options, by its serialised (lowercase) name.
fn named<T: DeserializeOwned>(name: &str, value: &str, known: &str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(value.to_ascii_lowercase()))
        .map_err(|_| invalid_parameter(name, format!("{value:?} is not one of {known}")))
}

/// `init`: "svd", "mean", "random" or a 0-based item index.
fn first_selection(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Init> {
    let refuse =
        || {
            invalid_parameter(
                "init",
                format!(
                "{} is not \"svd\", \"mean\", \"random\", a 0-based item index or a demud.Model",
                value.repr().map_or_else(|_| "the value".into(), |r| r.to_string())
            ),
            )
        };
    if let Ok(text) = value.extract::<String>() {
        return match text.to_ascii_lowercase().as_str() {
            "svd" => Ok(Init::Svd),
            "mean" => Ok(Init::Mean),
            "random" => Ok(Init::Random),
            other => other.parse().map(Init::Index).map_err(|_| refuse()),
        };
    }
    // Python ints and numpy integers (not bool, not float).
    let is_bool = value.is_instance_of::<pyo3::types::PyBool>();
    let index = py
        .import("operator")?
        .call_method1("index", (value,))
        .ok()
        .filter(|_| !is_bool)
        .ok_or_else(refuse)?;
    let index: i64 = index.extract()?;
    usize::try_from(index)
        .map(Init::Index)
        .map_err(|_| invalid_parameter("init", format!("item index {index} is negative")))
}

/// `selection`: "residual" or "isolated[:WARMUP[:K]]" (defaults 50 and 5, as the CLI's).
fn selection_rule(text: &str) -> PyResult<SelectionRule> {
    let refuse = || {
        invalid_parameter(
            "selection",
            format!("{text:?} is not \"residual\" or \"isolated[:WARMUP[:K]]\""),
        )
    };
    let parts: Vec<&str> = text.split(':').collect();
    let number = |at: usize, default: usize| {
        parts
            .get(at)
            .map_or(Ok(default), |p| p.parse::<usize>().map_err(|_| refuse()))
    };
    match parts.as_slice() {
        ["residual"] => Ok(SelectionRule::Residual),
        ["isolated", ..] if parts.len() <= 3 => Ok(SelectionRule::Isolated {
            warmup: number(1, 50)?,
            neighbours: number(2, 5)?,
        }),
        _ => Err(refuse()),
    }
}

/// An option's serialised (lowercase) name, as saved states and the CLI write it.
pub fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        other => format!("{other:?}"),
    }
}
