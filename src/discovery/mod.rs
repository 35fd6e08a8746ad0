//! The DEMUD loop: select the remaining item the model explains worst, explain it, add it to
//! the model, repeat.
//!
//! ```
//! use demud::discovery::{DemudParams, Init};
//! use ndarray::array;
//!
//! // Three items near the origin and one far away.
//! let data = array![[0.0, 0.1], [0.1, 0.0], [0.0, 0.0], [5.0, 5.0]];
//! let params = DemudParams::new(1).init(Init::Index(0)).n_select(2);
//! let picks: Vec<_> = params.discover(data.view()).unwrap().map(|s| s.unwrap()).collect();
//! assert_eq!(picks[0].index, 0);
//! assert_eq!(picks[1].index, 3); // the outlier comes second
//! // Its novel content is everything that differs from the one item seen before.
//! assert_eq!(picks[1].residual.to_vec(), vec![5.0, 4.9]);
//! ```

pub mod distributed;
mod fast;
mod params;
mod rescaling;

pub use distributed::{Collective, DistributedDiscovery, ThreadRanks};
pub use params::{Compatibility, DemudParams, Init, ScorePath, SelectionRule, UpdateMethod};

use crate::element::Element;
use crate::error::{DemudError, Result};
pub use crate::model::SvdMethod;
use crate::model::{IncrementalMethod, RankZeroStyle, SubspaceModel, Truncation};
use crate::scoring::{exact_scores, explain, MissingPolicy};
use fast::FastScores;
use ndarray::{Array, Array1, ArrayView1, ArrayView2, Axis, CowArray, Dimension, Ix2, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rescaling::{Largest, Rescaling};

/// One selection with its explanation.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// 1-based position in the selection order.
    pub rank: usize,
    /// 0-based index of the item in the collection.
    pub index: usize,
    /// Reconstruction error under the model that selected it (0 for an index or random init).
    pub score: f64,
    /// Expected content `xhat` (what the model predicted).
    pub expected: Array1<f64>,
    /// Novel content `e = x - xhat` (NaN on missing features).
    pub residual: Array1<f64>,
}

/// Where the scores of the remaining items come from.
enum Scores {
    /// Recomputed by explicit reconstruction at every selection.
    Exact,
    /// Maintained incrementally; `since_rebuild` counts updates since the last exact rebuild.
    Fast {
        state: Box<FastScores>,
        since_rebuild: usize,
    },
    /// Static model: the whole order was fixed once.
    Fixed(Vec<(usize, f64)>),
}

/// A running discovery: an iterator over [`Selection`]s. Created by [`DemudParams::discover`].
pub struct Discovery<'a, T: Element> {
    data: CowArray<'a, T, Ix2>,
    params: DemudParams,
    active: Vec<bool>,
    limit: usize,
    made: usize,
    model: Option<SubspaceModel>,
    scores: Scores,
    /// Items the `full` update models (prior items first, then selections), one per row.
    modelled_items: Vec<f64>,
    /// Per-feature fallback for missing values of the first selection (collection nanmean).
    fill_values: Option<Array1<f64>>,
    /// Whether the fast score update applies to this run.
    fast: bool,
    /// Each item's isolation (distance to its k-th nearest neighbour) under the
    /// [`SelectionRule::Isolated`] rule.
    isolation: Option<Vec<f64>>,
    failed: bool,
    /// The model that scored the latest selection, kept when asked for
    /// ([`Discovery::keeping_selecting_models`]).
    selecting: Option<Option<SubspaceModel>>,
    /// The exact power-of-two factor the data (and prior, and saved model) were multiplied by
    /// before ranking; every number reported is divided back ([`rescaling`]).
    rescaling: Rescaling,
}

impl DemudParams {
    /// Starts a run on `data` (one item per row). Validates the parameters and the data:
    /// NaN is refused under the `error` policy and replaced under `zero`; infinities are
    /// always refused, and so are values whose squared distances exceed the largest `f64`
    /// ([`DemudError::ValueTooLarge`]). Any other scale is ranked: a collection of tiny or huge
    /// values is rescaled internally by an exact power of two, so the picks do not depend on
    /// the units, and everything reported is in the data's units.
    pub fn discover<'a, T: Element>(&self, data: ArrayView2<'a, T>) -> Result<Discovery<'a, T>> {
        let (n, d) = data.dim();
        self.check(n, d)?;
        let (data, largest) = prepare_data(data, self.missing)?;
        let (data, init, rescaling) = rescale_inputs(data, largest, &self.init)?;
        let has_missing = data.iter().any(|v| v.to_f64().is_nan());
        let fill_values = has_missing.then(|| nan_mean(data.view()));
        let fast_applies = self.fast_applies() && !has_missing;
        let isolation = match self.rule {
            SelectionRule::Residual => None,
            SelectionRule::Isolated { neighbours, .. } => {
                if has_missing {
                    return Err(DemudError::invalid(
                        "selection",
                        "the isolated-item rule measures distances between whole items: it needs data without missing values",
                    ));
                }
                let all = data.mapv(Element::to_f64);
                let params = crate::peers::KnnParams::new(neighbours);
                Some(crate::peers::knn_distance_scores(all.view(), &params)?.to_vec())
            }
        };
        let mut modelled_items = Vec::new();
        let mut model = None;
        match &init {
            Init::Prior(prior) => {
                model = Some(SubspaceModel::of_collection(
                    prior.view(),
                    self.k,
                    self.truncation(),
                    self.svd,
                    self.seed,
                )?);
                if self.update == UpdateMethod::Full {
                    modelled_items.extend(prior.iter().copied());
                }
            }
            Init::Model(saved) => model = Some(saved.clone()),
            _ => {}
        }
        // Items a reviewer has seen are what DEMUD would have selected: they enter the model in
        // order, with the run's update, before the first candidate is scored.
        if let Some(m) = model.as_mut() {
            let method = match self.update {
                UpdateMethod::Ross => IncrementalMethod::Ross,
                _ => IncrementalMethod::Brand,
            };
            for &i in &self.seen {
                let x = data.row(i).mapv(Element::to_f64);
                if x.iter().any(|v| v.is_nan()) {
                    return Err(DemudError::invalid(
                        "seen",
                        format!("seen item {i} has missing values: only complete items can be added to the model"),
                    ));
                }
                m.add_item(x.view(), method, self.k)?;
            }
        }
        let mut active = vec![true; n];
        for &i in self.seen.iter().chain(&self.withheld) {
            active[i] = false;
        }
        let candidates = active.iter().filter(|&&a| a).count();
        let scores = match (&model, fast_applies) {
            (Some(m), true) => Scores::Fast {
                state: Box::new(FastScores::rebuild(data.view(), m, self.k)),
                since_rebuild: 0,
            },
            _ => Scores::Exact,
        };
        Ok(Discovery {
            limit: self.n_select.unwrap_or(n).min(candidates),
            active,
            made: 0,
            params: DemudParams {
                init,
                ..self.clone()
            },
            data,
            model,
            scores,
            modelled_items,
            fill_values,
            fast: fast_applies,
            isolation,
            failed: false,
            selecting: None,
            rescaling,
        })
    }

    fn truncation(&self) -> Truncation {
        match self.compat {
            Compatibility::Clean => Truncation::DropNullDirections,
            Compatibility::Reference => Truncation::KeepAll,
        }
    }

    fn fast_applies(&self) -> bool {
        // Reference compatibility re-projects every item as the reference does: ties that are
        // exact in real arithmetic (common on data with repeated values) then fall as
        // rounding makes them fall there.
        self.path == ScorePath::Auto
            && self.compat == Compatibility::Clean
            && matches!(self.update, UpdateMethod::Brand | UpdateMethod::Ross)
            && self.scoring.is_plain_norm()
    }
}

/// Checks the values under the missing-value policy (zeroing NaN under `zero`) and finds the
/// largest |value|, in one pass.
fn prepare_data<T: Element>(
    data: ArrayView2<'_, T>,
    policy: MissingPolicy,
) -> Result<(CowArray<'_, T, Ix2>, Largest)> {
    let mut needs_zeroing = false;
    let mut largest = Largest::default();
    for ((item, feature), v) in data.indexed_iter() {
        let v = v.to_f64();
        if v.abs() > largest.value {
            largest = Largest {
                value: v.abs(),
                item,
                feature,
            };
        }
        if v.is_nan() {
            match policy {
                MissingPolicy::Error => return Err(DemudError::MissingValue { item, feature }),
                MissingPolicy::Zero => needs_zeroing = true,
                MissingPolicy::Ignore => {}
            }
        } else if v.is_infinite() {
            return Err(DemudError::InfiniteValue { item, feature });
        }
    }
    let data = if needs_zeroing {
        let zero = T::from_f64(0.0);
        CowArray::from(data.mapv(|v| if v.to_f64().is_nan() { zero } else { v }))
    } else if data.is_standard_layout() {
        CowArray::from(data)
    } else {
        // BLAS needs contiguous rows for the one pass per selection.
        CowArray::from(data.as_standard_layout().into_owned())
    };
    Ok((data, largest))
}

/// Refuses magnitudes whose squared distances cannot be represented and rescales the data,
/// and a prior or saved model with it, when their magnitude is outside what `T`'s arithmetic
/// ranks as it is. Returns the data and the init in the engine's units.
fn rescale_inputs<'a, T: Element>(
    data: CowArray<'a, T, Ix2>,
    in_data: Largest,
    init: &Init,
) -> Result<(CowArray<'a, T, Ix2>, Init, Rescaling)> {
    let d = data.ncols();
    in_data.check_representable("the collection", d)?;
    let mut largest = in_data.value;
    match init {
        Init::Prior(prior) => {
            let in_prior = Largest::of(prior.view());
            in_prior.check_representable("the prior data set", d)?;
            largest = largest.max(in_prior.value);
        }
        Init::Model(model) => {
            let mean = model.mean().iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            let in_model = Largest {
                value: mean,
                ..Largest::default()
            };
            if in_model.check_representable("the model", d).is_err() {
                return Err(DemudError::ModelState(format!(
                    "the model's mean holds |value| {mean:e}: squared distances to it exceed the largest f64"
                )));
            }
            largest = largest.max(mean);
        }
        _ => {}
    }
    let rescaling = Rescaling::for_magnitude::<T>(largest);
    if rescaling.is_identity() {
        return Ok((data, init.clone(), rescaling));
    }
    let scale = |v: T| T::from_f64(rescaling.apply(v.to_f64()));
    let init = match init {
        Init::Prior(prior) => Init::Prior(prior.mapv(|v| rescaling.apply(v))),
        Init::Model(model) => Init::Model(model.rescaled(|v| rescaling.apply(v))),
        other => other.clone(),
    };
    Ok((CowArray::from(data.mapv(scale)), init, rescaling))
}

/// Per-feature mean over observed values (0 where a feature is never observed).
fn nan_mean<T: Element>(data: ArrayView2<T>) -> Array1<f64> {
    data.axis_iter(Axis(1))
        .map(|col| {
            let (sum, count) = col
                .iter()
                .map(|v| v.to_f64())
                .filter(|v| !v.is_nan())
                .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
            if count == 0 {
                0.0
            } else {
                sum / count as f64
            }
        })
        .collect()
}

/// Index of the largest score among active rows; ties go to the lowest index.
fn argmax(scores: impl Iterator<Item = (usize, f64)>) -> Option<(usize, f64)> {
    scores.fold(None, |best, (i, s)| match best {
        Some((_, b)) if s <= b => best,
        _ => Some((i, s)),
    })
}

impl<T: Element> Discovery<'_, T> {
    /// A copy of the current model (after the selections made so far), in the data's units;
    /// `None` before the first selection of an item-index or random initialisation.
    pub fn model(&self) -> Option<SubspaceModel> {
        self.model.as_ref().map(|m| self.in_data_units(m))
    }

    /// A model of the engine's (possibly rescaled) units in the data's units.
    fn in_data_units(&self, model: &SubspaceModel) -> SubspaceModel {
        if self.rescaling.is_identity() {
            return model.clone();
        }
        let rescaling = self.rescaling;
        model.rescaled(|v| rescaling.undo(v))
    }

    /// Keeps a copy of the model that scored each selection, before it learns the item
    /// ([`Discovery::selecting_model`]): what re-scoring a changed version of a selected item
    /// needs (explanation faithfulness). Costs one copy of the model per selection.
    pub fn keeping_selecting_models(mut self) -> Self {
        self.selecting = Some(None);
        self
    }

    /// The model that scored the latest selection (`None` when not kept, before the first
    /// selection, or for a first pick made without a model: an index or random init).
    pub fn selecting_model(&self) -> Option<SubspaceModel> {
        self.selecting
            .as_ref()
            .and_then(Option::as_ref)
            .map(|m| self.in_data_units(m))
    }

    /// Number of selections this run will make in all.
    pub fn len_total(&self) -> usize {
        self.limit
    }

    /// Number of selections made so far.
    pub fn made(&self) -> usize {
        self.made
    }

    fn row(&self, i: usize) -> Array1<f64> {
        self.data.row(i).mapv(Element::to_f64)
    }

    fn rank_zero_style(&self) -> RankZeroStyle {
        let reference = self.params.compat == Compatibility::Reference;
        // Under `full`, the reference re-runs a batch SVD of the one item after an svd or mean
        // init (a zero column); otherwise it stores e_0.
        let batch = self.params.update == UpdateMethod::Full
            && matches!(self.params.init, Init::Svd | Init::Mean);
        if reference && !batch {
            RankZeroStyle::ReferenceFirstAxis
        } else {
            RankZeroStyle::Empty
        }
    }

    /// The first selection, and the model that chose it, for the inits without a model.
    fn first_pick(&mut self) -> Result<(usize, Option<SubspaceModel>)> {
        let n = self.data.nrows();
        let model = match &self.params.init {
            Init::Index(i) => return Ok((*i, None)),
            Init::Random => {
                let i = ChaCha8Rng::seed_from_u64(self.params.seed).random_range(0..n);
                return Ok((i, None));
            }
            Init::Mean => {
                let mean = match &self.fill_values {
                    Some(fill) => fill.clone(),
                    None => nan_mean(self.data.view()),
                };
                // The reference stores this mean-only model with the e_0 quirk too.
                let style = match self.params.compat {
                    Compatibility::Reference => RankZeroStyle::ReferenceFirstAxis,
                    Compatibility::Clean => RankZeroStyle::Empty,
                };
                SubspaceModel::mean_only(mean, n, style)
            }
            Init::Svd => self.collection_svd()?,
            Init::Prior(_) | Init::Model(_) => unreachable!("these inits start with a model"),
        };
        let scores = exact_scores(self.data.view(), &self.active, &model, &self.params.scoring);
        let (i, _) = argmax(scores.iter().copied().enumerate()).expect("n > 0");
        Ok((i, Some(model)))
    }

    fn next_pick(&mut self) -> Result<(usize, f64)> {
        if let (Some(isolation), SelectionRule::Isolated { warmup, .. }) =
            (&self.isolation, self.params.rule)
        {
            // After the warm-up, selections warmup + 1, warmup + 3, ... (0-based) take the most
            // isolated remaining item; its score is computed by `select` as for any pick.
            if self.made > warmup && (self.made - warmup) % 2 == 1 {
                let active = &self.active;
                let remaining = (0..active.len())
                    .filter(|&i| active[i])
                    .map(|i| (i, isolation[i]));
                return Ok(argmax(remaining).expect("an active item remains"));
            }
        }
        let model = self
            .model
            .as_ref()
            .expect("a model exists after the first selection");
        let active = &self.active;
        let pick = match &mut self.scores {
            Scores::Fixed(order) => order.get(self.made).copied(),
            Scores::Fast { state, .. } => {
                let scores = state.scores();
                let fast = (0..active.len())
                    .filter(|&i| active[i])
                    .map(|i| (i, scores[i]));
                let best = argmax(fast.clone());
                // Items whose fast scores are within rounding of the best are re-scored by
                // explicit reconstruction, so near-ties fall as the exact path decides them.
                best.map(|(i, top)| {
                    let floor = top - T::NEAR_TIE * top.abs();
                    let close: Vec<usize> =
                        fast.filter(|&(_, s)| s >= floor).map(|(j, _)| j).collect();
                    if close.len() == 1 {
                        return (i, top);
                    }
                    let rows = self.data.select(Axis(0), &close);
                    let exact = exact_scores(
                        rows.view(),
                        &vec![true; close.len()],
                        model,
                        &self.params.scoring,
                    );
                    argmax(close.into_iter().zip(exact)).unwrap_or((i, top))
                })
            }
            Scores::Exact => {
                let scores = exact_scores(self.data.view(), active, model, &self.params.scoring);
                argmax(
                    scores
                        .iter()
                        .copied()
                        .enumerate()
                        .filter(|&(i, _)| active[i]),
                )
            }
        };
        Ok(pick.expect("an active item remains"))
    }

    /// Adds the selected item to the model (and the fast state).
    fn learn(&mut self, index: usize, x: ArrayView1<f64>, first_model: bool) -> Result<()> {
        let params = &self.params;
        if params.update == UpdateMethod::Static {
            return Ok(());
        }
        if first_model {
            // The model that chose the first item is discarded: the seen data is that item.
            self.model = Some(SubspaceModel::rank_zero(x, self.rank_zero_style()));
            if params.update == UpdateMethod::Full {
                self.modelled_items.extend(x.iter().copied());
            }
            if self.fast {
                let model = self.model.as_ref().expect("just set");
                let state = Box::new(FastScores::rebuild(self.data.view(), model, params.k));
                self.scores = Scores::Fast {
                    state,
                    since_rebuild: 0,
                };
            }
            return Ok(());
        }
        let model = self.model.as_mut().expect("model exists");
        match params.update {
            UpdateMethod::Full => {
                self.modelled_items.extend(x.iter().copied());
                let d = x.len();
                let rows = self.modelled_items.len() / d;
                let items = ArrayView2::from_shape((rows, d), &self.modelled_items)
                    .expect("rows of d features");
                *model = SubspaceModel::from_items(items, params.k, params.truncation())?;
            }
            UpdateMethod::Brand | UpdateMethod::Ross => {
                let method = if params.update == UpdateMethod::Brand {
                    IncrementalMethod::Brand
                } else {
                    IncrementalMethod::Ross
                };
                let change = model.add_item(x, method, params.k)?;
                if let Scores::Fast {
                    state,
                    since_rebuild,
                } = &mut self.scores
                {
                    *since_rebuild += 1;
                    if params.refresh_every > 0 && *since_rebuild >= params.refresh_every {
                        state.refresh(self.data.view(), model);
                        *since_rebuild = 0;
                    } else {
                        state.apply(self.data.view(), index, &change, model);
                    }
                }
            }
            UpdateMethod::Static => unreachable!(),
        }
        Ok(())
    }

    /// The top-k SVD model of the whole collection (missing values filled by feature means).
    fn collection_svd(&self) -> Result<SubspaceModel> {
        SubspaceModel::of_collection(
            self.data.view(),
            self.params.k,
            self.params.truncation(),
            self.params.svd,
            self.params.seed,
        )
    }

    fn select(&mut self) -> Result<Selection> {
        if self.made == 0 && self.params.update == UpdateMethod::Static {
            let model = match self.model.take() {
                Some(model) => model,
                None => self.collection_svd()?,
            };
            self.fix_static_order(&model);
            self.model = Some(model);
        }
        let (index, first_model) = if self.model.is_none() {
            let (index, chooser) = self.first_pick()?;
            // The first pick is explained by the model that chose it (none for an index init).
            self.model = chooser;
            (index, true)
        } else {
            (self.next_pick()?.0, false)
        };
        let x = self.row(index);
        let (expected, residual, score) = match &self.model {
            Some(model) => {
                let (expected, residual) = explain(model, x.view());
                let score = self.params.scoring.score(residual.view());
                (expected, residual, score)
            }
            None => (x.clone(), Array1::zeros(x.len()), 0.0),
        };
        if !score.is_finite() {
            // The data's magnitude was checked at the start; only weights can get here.
            let heaviest = self
                .params
                .scoring
                .weights()
                .map_or(1.0, |w| w.fold(0.0_f64, |m, &v| m.max(v)));
            return Err(DemudError::invalid(
                "weights",
                format!(
                    "the weighted score of item {index} overflows f64 (the largest weight is {heaviest:e}): scale the weights down"
                ),
            ));
        }
        // Missing features enter the model as the model expects them (Brand 2002); the very
        // first item, with no model, takes the collection's per-feature means.
        let learned = if x.iter().any(|v| v.is_nan()) {
            let fill = match &self.model {
                Some(_) => expected.clone(),
                None => self.fill_values.clone().expect("data has missing values"),
            };
            fill_missing(x, fill.view())
        } else {
            x
        };
        if let Some(kept) = &mut self.selecting {
            *kept = self.model.clone();
        }
        self.learn(index, learned.view(), first_model)?;
        self.active[index] = false;
        self.made += 1;
        let r = self.rescaling;
        Ok(Selection {
            rank: self.made,
            index,
            score: r.undo_squared(score),
            expected: expected.mapv_into(|v| r.undo(v)),
            residual: residual.mapv_into(|v| r.undo(v)),
        })
    }

    fn fix_static_order(&mut self, model: &SubspaceModel) {
        let scores = exact_scores(self.data.view(), &self.active, model, &self.params.scoring);
        let mut order: Vec<(usize, f64)> = scores.iter().copied().enumerate().collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        self.scores = Scores::Fixed(order);
    }

    #[cfg(test)]
    pub(crate) fn fast_and_exact_scores(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        let Scores::Fast { state, .. } = &self.scores else {
            return None;
        };
        let model = self.model.as_ref()?;
        let exact = exact_scores(self.data.view(), &self.active, model, &self.params.scoring);
        let idx: Vec<usize> = (0..self.active.len()).filter(|&i| self.active[i]).collect();
        Some((
            idx.iter().map(|&i| state.scores()[i]).collect(),
            idx.iter().map(|&i| exact[i]).collect(),
        ))
    }
}

/// Replaces NaN entries by the per-feature `fill` values (rows of a matrix, or one item).
fn fill_missing<D: Dimension>(mut values: Array<f64, D>, fill: ArrayView1<f64>) -> Array<f64, D> {
    let fill = fill
        .broadcast(values.raw_dim())
        .expect("one fill value per feature");
    Zip::from(&mut values).and(&fill).for_each(|v, &f| {
        if v.is_nan() {
            *v = f;
        }
    });
    values
}

impl<T: Element> Iterator for Discovery<'_, T> {
    type Item = Result<Selection>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.made >= self.limit {
            return None;
        }
        let result = self.select();
        self.failed = result.is_err();
        Some(result)
    }
}

#[cfg(test)]
mod review_tests;
#[cfg(test)]
mod tests;
