//! A run made again from its inputs and recorded parameters, keeping the model that scored
//! each selection: what re-scoring a changed version of a selected item needs (does removing
//! the part a map points at remove the novelty?). DEMUD is deterministic, so the replay makes
//! the same picks; it checks that it does, and says so when the inputs changed since.

use super::{read_model_state, RunFolder, Start};
use crate::error::{DataError, Result};
use crate::features::{open_features, read_features, CsvLayout, MatrixVisitor};
use demud::scoring::Scoring;
use demud::{Conditioner, DemudParams, Element, Init, SubspaceModel};
use ndarray::ArrayView2;

/// The models of a replayed run.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The run's fitted conditioning.
    pub conditioner: Conditioner,
    /// Its scoring (method and weights).
    pub scoring: Scoring,
    /// The model that scored selection `r + 1` (`None` for a first pick made without one: an
    /// index or random init), for the first selections asked for.
    pub models: Vec<Option<SubspaceModel>>,
}

impl Replay {
    /// The score of an item (features in the run's own space) under the model that scored
    /// selection `rank`, or `None` when no model scored it.
    pub fn score(&self, rank: usize, item: ndarray::ArrayView1<f64>) -> Option<f64> {
        let model = self.models.get(rank.checked_sub(1)?)?.as_ref()?;
        let z = self.conditioner.transform_item(item);
        let residual = &z - &model.reconstruct(z.view());
        Some(self.scoring.score(residual.view()))
    }
}

/// Replays the first `upto` selections of `run`.
pub fn replay(run: &RunFolder, upto: usize) -> Result<Replay> {
    let record = run.record();
    let features = run.features_path();
    let items = run.items_path();
    let table = open_features(&features, CsvLayout::default(), items.as_deref())?;
    if table.matrix.dim() != (record.n_items, record.n_features) {
        return Err(DataError::file(
            &features,
            format!(
                "{:?} items x features, the run in {} had {} x {}: the features changed since the run",
                table.matrix.dim(),
                run.dir().display(),
                record.n_items,
                record.n_features
            ),
        ));
    }
    if let Some(s) = run
        .selections()
        .iter()
        .find(|s| table.ids.get(s.index) != Some(&s.id))
    {
        return Err(DataError::file(
            &features,
            format!(
                "row {} is not item {:?} of the run's rank {}: the features changed since the run",
                s.index + 1,
                s.id,
                s.rank
            ),
        ));
    }
    let conditioner = run.conditioner()?;
    let engine = |e: demud::DemudError| DataError::Engine {
        path: features.clone(),
        at: String::new(),
        source: e,
    };
    let upto = upto.min(record.n_selected);
    let mut params = DemudParams::new(record.k)
        .n_select(upto)
        .update(record.update)
        .score(record.score)
        .missing(record.missing)
        .compat(record.compat)
        .path(record.score_path)
        .refresh_every(record.refresh_every)
        .selection(record.selection)
        .seed(record.seed)
        .svd(record.svd);
    if let Some(weights) = run.scoring()?.weights() {
        params = params.weights(weights.clone());
    }
    params = params.init(match &record.start {
        Start::Svd => Init::Svd,
        Start::Mean => Init::Mean,
        Start::Random => Init::Random,
        Start::Index { item } => Init::Index(*item),
        Start::Prior { path } => {
            let path = run.resolve(path);
            let prior = read_features(&path, CsvLayout::default(), None)?
                .matrix
                .to_f64();
            Init::Prior(conditioner.transform(prior.view()).map_err(engine)?)
        }
        Start::Model { path } => Init::Model(read_model_state(&run.resolve(path))?.model),
    });
    if let Some(review) = &record.review {
        params = review.apply(
            params,
            &table.ids,
            &conditioner,
            |i| table.matrix.row_f64(i),
            &features,
        )?;
    }
    struct Replayed<'a> {
        params: &'a DemudParams,
        conditioner: &'a Conditioner,
        run: &'a RunFolder,
    }
    impl MatrixVisitor for Replayed<'_> {
        type Output = Result<Vec<Option<SubspaceModel>>>;
        fn visit<T: Element>(self, data: ArrayView2<'_, T>) -> Self::Output {
            replay_engine(self.params, self.conditioner, data, self.run)
        }
    }
    let models = table.matrix.visit(Replayed {
        params: &params,
        conditioner: &conditioner,
        run,
    })?;
    Ok(Replay {
        conditioner,
        scoring: params.scoring().clone(),
        models,
    })
}

/// An engine error while replaying `run`, on its features file.
fn engine_error(run: &RunFolder) -> impl Fn(demud::DemudError) -> DataError + '_ {
    move |e| DataError::Engine {
        path: run.features_path(),
        at: String::new(),
        source: e,
    }
}

fn replay_engine<T: Element>(
    params: &DemudParams,
    conditioner: &Conditioner,
    data: ArrayView2<T>,
    run: &RunFolder,
) -> Result<Vec<Option<SubspaceModel>>> {
    // As the run was made (`run_discovery`): the features in place without conditioning,
    // else a conditioned copy (in f32 for f16 features).
    if conditioner.is_identity() {
        return replay_ranked(params, data, run);
    }
    let conditioned = conditioner
        .transform_as::<T, T::Arithmetic>(data)
        .map_err(engine_error(run))?;
    replay_ranked(params, conditioned.view(), run)
}

fn replay_ranked<T: Element>(
    params: &DemudParams,
    data: ArrayView2<T>,
    run: &RunFolder,
) -> Result<Vec<Option<SubspaceModel>>> {
    let engine = engine_error(run);
    let mut discovery = params
        .discover(data)
        .map_err(&engine)?
        .keeping_selecting_models();
    let mut models = Vec::new();
    while let Some(selection) = discovery.next() {
        let selection = selection.map_err(&engine)?;
        let made = &run.selections()[selection.rank - 1];
        if selection.index != made.index {
            return Err(DataError::file(
                run.dir(),
                format!(
                    "made again, the run picks item {} at rank {} where it picked {} ({:?}): its inputs changed since; run discover again",
                    selection.index, selection.rank, made.index, made.id
                ),
            ));
        }
        models.push(discovery.selecting_model());
    }
    Ok(models)
}
