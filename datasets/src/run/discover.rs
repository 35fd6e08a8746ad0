//! A discovery run from files to a run folder's contents: load the features (and prior items
//! or a saved model), run the engine with progress, and build the records of [`NewRun`].
//! The command line's `discover`, `demo` and `pipeline` all run discoveries through here.

use super::{
    ExplanationFiles, Explanations, NewRun, Precision, RunRecord, SelectionRow, Start,
    TopFeatureRow, RUN_FORMAT, RUN_VERSION,
};

use crate::error::{DataError, Result};
use crate::features::{read_features, CsvLayout, FeatureMatrix, FeatureTable};
use demud::{DemudError, DemudParams, Element, Init, ModelState, Selection, SubspaceModel};
use ndarray::{Array1, Array2, ArrayView2};
use std::path::{Path, PathBuf};

/// What a discovery reads, beside its parameters.
#[derive(Clone, Debug, Default)]
pub struct DiscoveryInputs {
    /// The collection's features (CSV or `.npy`).
    pub features: PathBuf,
    /// The items file of `.npy` features (default: the one beside them).
    pub items: Option<PathBuf>,
    /// Labels matched by id, overriding the features file's.
    pub labels: Option<PathBuf>,
    /// Per-feature weights, one per line.
    pub weights: Option<PathBuf>,
    /// Prior items (same features) to start the model from; never candidates.
    pub prior: Option<PathBuf>,
    /// A saved model state to continue from.
    pub model_in: Option<PathBuf>,
    /// How to read a CSV.
    pub layout: CsvLayout,
}

/// What a discovery writes beside the selections.
#[derive(Clone, Copy, Debug)]
pub struct DiscoveryOutputs {
    /// Features listed per selection in `top_features.csv`.
    pub top_features: usize,
    /// Whether `expected.npy` / `residual.npy` are kept.
    pub explanations: ExplanationFiles,
}

/// A finished discovery: the run folder's contents and the final model.
#[derive(Debug)]
pub struct Finished {
    /// The records to write with [`super::write_run`].
    pub run: NewRun,
    /// The model after the last selection, with the run's options (for `--model-out`).
    pub model: Option<ModelState>,
}

/// Reads a saved model state (JSON written by [`write_model_state`]), checked.
pub fn read_model_state(path: &Path) -> Result<ModelState> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let state: ModelState = serde_json::from_str(&text)
        .map_err(|e| DataError::parse(path, None, "not a demud model state", e))?;
    state.checked().map_err(|source| DataError::Engine {
        path: path.to_path_buf(),
        at: String::new(),
        source,
    })
}

/// Writes a model state as JSON, atomically.
pub fn write_model_state(path: &Path, state: &ModelState) -> Result<()> {
    super::write_json(path, state)
}

/// Reads a weights file: one non-negative number per line (`#` comments and blank lines
/// skipped), one line per feature.
pub fn read_weights(path: &Path, d: usize) -> Result<Array1<f64>> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut weights = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w = line
            .parse::<f64>()
            .ok()
            .filter(|w| w.is_finite() && *w >= 0.0)
            .ok_or_else(|| {
                DataError::line(
                    path,
                    i as u64 + 1,
                    format!("{line:?} is not a non-negative number"),
                )
            })?;
        weights.push(w);
    }
    if weights.len() != d {
        return Err(DataError::file(
            path,
            format!("{} weights, the features have {d}", weights.len()),
        ));
    }
    Ok(Array1::from(weights))
}

/// Loads the inputs, runs DEMUD with `params` (whose init is replaced by the prior's or the
/// saved model's when given; `k = None` takes the saved model's), and builds the run folder's
/// records. `progress(done, total)` is called after each selection.
pub fn run_discovery(
    inputs: &DiscoveryInputs,
    params: DemudParams,
    k: Option<usize>,
    outputs: DiscoveryOutputs,
    mut progress: impl FnMut(usize, usize),
) -> Result<Finished> {
    let started = std::time::Instant::now();
    let mut table = read_features(&inputs.features, inputs.layout, inputs.items.as_deref())?;
    if let Some(labels) = &inputs.labels {
        table.attach_labels(labels)?;
    }
    let (n, d) = table.matrix.dim();
    let state = inputs
        .model_in
        .as_deref()
        .map(read_model_state)
        .transpose()?;
    let k =
        match (k, &state) {
            (Some(k), _) => k,
            (None, Some(state)) => state.k,
            (None, None) => return Err(DataError::file(
                &inputs.features,
                "k (the number of principal components) is required unless a saved model gives it",
            )),
        };
    let mut params = params.with_k(k);
    let start = match (&inputs.prior, state) {
        (Some(_), Some(_)) => {
            return Err(DataError::file(
                &inputs.features,
                "give either prior items or a saved model, not both",
            ))
        }
        (Some(prior), None) => {
            let prior_table = read_features(prior, inputs.layout, None)?;
            if prior_table.matrix.dim().1 != d {
                return Err(DataError::file(
                    prior,
                    format!(
                        "the prior data has {} features, {} has {d}",
                        prior_table.matrix.dim().1,
                        inputs.features.display()
                    ),
                ));
            }
            params = params.init(Init::Prior(prior_table.matrix.to_f64()));
            Start::Prior {
                path: prior.clone(),
            }
        }
        (None, Some(state)) => {
            params = params.init(Init::Model(state.model));
            Start::Model {
                path: inputs.model_in.clone().expect("a model file"),
            }
        }
        (None, None) => match params.initial() {
            Init::Svd => Start::Svd,
            Init::Mean => Start::Mean,
            Init::Random => Start::Random,
            Init::Index(item) => Start::Index { item: *item },
            Init::Prior(_) | Init::Model(_) => unreachable!("set only from files here"),
        },
    };
    if let Some(w) = &inputs.weights {
        params = params.weights(read_weights(w, d)?);
    }
    let (selections, model) = match &table.matrix {
        FeatureMatrix::F32(a) => run_engine(&params, a.view(), &mut progress),
        FeatureMatrix::F64(a) => run_engine(&params, a.view(), &mut progress),
    }
    .map_err(|e| engine_error(e, &table, &inputs.features))?;

    let record = RunRecord {
        format: RUN_FORMAT.into(),
        version: RUN_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        features: inputs.features.clone(),
        items: inputs.items.clone(),
        labels: inputs.labels.clone(),
        weights: inputs.weights.clone(),
        start,
        n_items: n,
        n_features: d,
        precision: match table.matrix {
            FeatureMatrix::F32(_) => Precision::F32,
            FeatureMatrix::F64(_) => Precision::F64,
        },
        k,
        n_selected: selections.len(),
        update: params.update_method(),
        score: params.scoring().method(),
        missing: params.missing_policy(),
        compat: params.compatibility(),
        score_path: params.score_path(),
        refresh_every: params.refresh_interval(),
        seed: params.seed_value(),
        explanations: outputs.explanations,
        seconds: started.elapsed().as_secs_f64(),
    };
    let model = model.map(|m| ModelState::new(m, &params));
    Ok(Finished {
        run: records(record, &table, &selections, outputs),
        model,
    })
}

fn run_engine<T: Element>(
    params: &DemudParams,
    data: ArrayView2<T>,
    progress: &mut impl FnMut(usize, usize),
) -> demud::Result<(Vec<Selection>, Option<SubspaceModel>)> {
    let mut discovery = params.discover(data)?;
    let total = discovery.len_total();
    let mut selections = Vec::with_capacity(total);
    for selection in discovery.by_ref() {
        selections.push(selection?);
        progress(selections.len(), total);
    }
    Ok((selections, discovery.model().cloned()))
}

/// Names the item and feature of a data error by id and feature name.
fn engine_error(source: DemudError, table: &FeatureTable, path: &Path) -> DataError {
    let at = match &source {
        DemudError::MissingValue { item, feature }
        | DemudError::InfiniteValue { item, feature } => {
            format!(
                "item {:?} (row {} of the data), feature {:?}: ",
                table.ids[*item],
                item + 1,
                table.feature_names[*feature]
            )
        }
        _ => String::new(),
    };
    DataError::Engine {
        path: path.to_path_buf(),
        at,
        source,
    }
}

/// The run folder's records of a finished discovery.
fn records(
    record: RunRecord,
    table: &FeatureTable,
    selections: &[Selection],
    outputs: DiscoveryOutputs,
) -> NewRun {
    let label = |i: usize| {
        table
            .labels
            .as_ref()
            .map_or("", |l| l[i].as_str())
            .to_string()
    };
    let rows = selections
        .iter()
        .map(|s| SelectionRow {
            rank: s.rank,
            index: s.index,
            id: table.ids[s.index].clone(),
            label: label(s.index),
            score: s.score,
        })
        .collect();
    let mut top = Vec::new();
    for s in selections {
        // The largest |residual| first; unobserved features (NaN) are not listed.
        let mut order: Vec<usize> = (0..s.residual.len())
            .filter(|&j| !s.residual[j].is_nan())
            .collect();
        order.sort_by(|&a, &b| s.residual[b].abs().total_cmp(&s.residual[a].abs()));
        for &j in order.iter().take(outputs.top_features) {
            top.push(TopFeatureRow {
                rank: s.rank,
                index: s.index,
                id: table.ids[s.index].clone(),
                feature: table.feature_names[j].clone(),
                residual: s.residual[j],
                expected: s.expected[j],
                value: s.expected[j] + s.residual[j],
            });
        }
    }
    let explanations = (outputs.explanations == ExplanationFiles::Written).then(|| {
        let d = table.matrix.dim().1;
        let stack = |f: &dyn Fn(&Selection) -> &Array1<f64>| {
            let mut m = Array2::<f64>::zeros((selections.len(), d));
            for (mut row, s) in m.rows_mut().into_iter().zip(selections) {
                row.assign(f(s));
            }
            m
        };
        Explanations {
            expected: stack(&|s| &s.expected),
            residual: stack(&|s| &s.residual),
        }
    });
    NewRun {
        record,
        selections: rows,
        top_features: top,
        explanations,
    }
}
