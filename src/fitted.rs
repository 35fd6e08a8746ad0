//! A fitted model used outside a discovery run: a model of a batch of items
//! ([`model_of_items`]), the reconstruction error of new items under a model ([`score_items`],
//! an outlier score: higher is more novel) and new items folded into it ([`fold_items`]). Items
//! are conditioned as the model's own items were (the state's [`Conditioner`]).
//!
//! These are what an estimator-style interface (`fit`, `partial_fit`, `decision_function`)
//! needs beside the discovery loop; the Python package calls them.
//!
//! ```
//! use demud::fitted::{fold_items, model_of_items, score_items};
//! use demud::{Conditioning, DemudParams, MissingPolicy, Scoring};
//! use ndarray::array;
//!
//! // Items on the line y = 2x: a one-direction model explains them.
//! let archive = array![[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]];
//! let params = DemudParams::new(1);
//! let mut state = model_of_items(archive.view(), &params, &Conditioning::none(), MissingPolicy::Error).unwrap();
//! let new = array![[3.0, 6.0], [3.0, 0.0]];
//! let scores = score_items(&state, new.view(), &Scoring::default(), MissingPolicy::Error).unwrap();
//! assert!(scores[0] < 1e-20 && scores[1] > 1.0); // on the line, and off it
//! fold_items(&mut state, new.view(), MissingPolicy::Error).unwrap();
//! assert_eq!(state.model.count(), 5);
//! ```

use crate::conditioning::{Conditioner, Conditioning};
use crate::discovery::{Compatibility, DemudParams, UpdateMethod};
use crate::element::Element;
use crate::error::{DemudError, Result};
use crate::model::{IncrementalMethod, SubspaceModel, Truncation};
use crate::scoring::{exact_scores, explain, MissingPolicy, Scoring};
use crate::state::ModelState;
use ndarray::{Array1, Array2, ArrayView2, Axis, CowArray, Ix2};

/// The top-`k` SVD model of `items` (one per row), after fitting `conditioning` on them, with
/// the options of `params` (k, update, score, compatibility): what a discovery starting from
/// these items as its prior data set would start from. Missing values are refused under the
/// `error` policy, replaced by 0 under `zero`, and by the feature's mean over the items that
/// have it under `ignore` (as the engine's `svd` initialisation does); conditioning steps need
/// every value.
pub fn model_of_items<T: Element>(
    items: ArrayView2<T>,
    params: &DemudParams,
    conditioning: &Conditioning,
    missing: MissingPolicy,
) -> Result<ModelState> {
    let (n, d) = items.dim();
    if n == 0 || d == 0 {
        return Err(DemudError::Empty {
            what: "the data set to model",
            items: n,
            features: d,
        });
    }
    if params.k() == 0 {
        return Err(DemudError::invalid("k", "must be at least 1"));
    }
    let has_missing = check_values(items, missing)?;
    if has_missing && !conditioning.is_none() {
        return Err(conditioning_needs_values(conditioning));
    }
    let conditioner = conditioning.fit(items)?;
    let mut values = if conditioner.is_identity() {
        items.mapv(Element::to_f64)
    } else {
        conditioner.transform(items)?.mapv(Element::to_f64)
    };
    if has_missing {
        fill_missing(&mut values, missing);
    }
    let truncation = match params.compatibility() {
        Compatibility::Clean => Truncation::DropNullDirections,
        Compatibility::Reference => Truncation::KeepAll,
    };
    let model = SubspaceModel::of_collection(
        values.view(),
        params.k(),
        truncation,
        params.svd_method(),
        params.seed_value(),
    )?;
    Ok(ModelState::new(model, params).with_conditioner(conditioner))
}

/// The score of every item (row) under the state's model: the reconstruction error of the item
/// conditioned as the model's items were, with `scoring` (score method and weights). Missing
/// values are refused under the `error` policy, count as 0 under `zero`, and under `ignore`
/// the item is scored on its observed features (possible only without conditioning).
pub fn score_items<T: Element>(
    state: &ModelState,
    items: ArrayView2<T>,
    scoring: &Scoring,
    missing: MissingPolicy,
) -> Result<Array1<f64>> {
    if let Some(weights) = scoring.weights() {
        if weights.len() != state.model.dim() {
            return Err(DemudError::DimensionMismatch {
                what: "the feature weights",
                expected: state.model.dim(),
                found: weights.len(),
            });
        }
    }
    let conditioned = conditioned_items(state, items, missing)?;
    let active = vec![true; conditioned.nrows()];
    Ok(exact_scores(
        conditioned.view(),
        &active,
        &state.model,
        scoring,
    ))
}

/// Adds every item (row), in order, to the state's model with its update method (`brand` or
/// `ross`; `full` and `static` are refused: one needs every modelled item, the other never
/// learns), truncating to its k. Items are conditioned as the model's items were. Missing
/// values are refused under `error`, replaced by 0 under `zero`, and under `ignore` imputed by
/// the model's reconstruction from the observed features (Brand 2002, as a selection is).
/// On an error the state is left as it was.
pub fn fold_items<T: Element>(
    state: &mut ModelState,
    items: ArrayView2<T>,
    missing: MissingPolicy,
) -> Result<()> {
    let method = match state.update {
        UpdateMethod::Brand => IncrementalMethod::Brand,
        UpdateMethod::Ross => IncrementalMethod::Ross,
        UpdateMethod::Full | UpdateMethod::Static => {
            return Err(DemudError::invalid(
                "update",
                "items are folded into a model by an incremental update: `full` recomputes the SVD of every modelled item, which a model does not hold, and `static` never learns; use `brand` or `ross`",
            ))
        }
    };
    let conditioned = conditioned_items(state, items, missing)?;
    let mut model = state.model.clone();
    for row in conditioned.rows() {
        let x = row.mapv(Element::to_f64);
        let x = if x.iter().any(|v| v.is_nan()) {
            let (expected, _) = explain(&model, x.view());
            Array1::from_iter(
                x.iter()
                    .zip(&expected)
                    .map(|(&v, &e)| if v.is_nan() { e } else { v }),
            )
        } else {
            x
        };
        model.add_item(x.view(), method, state.k)?;
    }
    state.model = model;
    Ok(())
}

/// The items in the model's space: checked against the model's width and the missing-value
/// policy, and conditioned by the state's conditioner.
fn conditioned_items<'a, T: Element>(
    state: &ModelState,
    items: ArrayView2<'a, T>,
    missing: MissingPolicy,
) -> Result<CowArray<'a, T, Ix2>> {
    let conditioner = state
        .conditioner
        .clone()
        .unwrap_or_else(|| Conditioner::identity(state.model.dim()));
    if items.ncols() != conditioner.input_dim() {
        return Err(DemudError::DimensionMismatch {
            what: "the model",
            expected: items.ncols(),
            found: conditioner.input_dim(),
        });
    }
    let has_missing = check_values(items, missing)?;
    if conditioner.is_identity() {
        if has_missing && missing == MissingPolicy::Zero {
            let zero = T::from_f64(0.0);
            return Ok(CowArray::from(items.mapv(|v| {
                if v.to_f64().is_nan() {
                    zero
                } else {
                    v
                }
            })));
        }
        return Ok(CowArray::from(items));
    }
    if has_missing {
        return Err(conditioning_needs_values(&conditioner.conditioning()));
    }
    Ok(CowArray::from(conditioner.transform(items)?))
}

/// Refuses infinities always and NaN under the `error` policy; returns whether NaN occur.
fn check_values<T: Element>(items: ArrayView2<T>, missing: MissingPolicy) -> Result<bool> {
    let mut has_missing = false;
    for ((item, feature), v) in items.indexed_iter() {
        let v = v.to_f64();
        if v.is_nan() {
            if missing == MissingPolicy::Error {
                return Err(DemudError::MissingValue { item, feature });
            }
            has_missing = true;
        } else if v.is_infinite() {
            return Err(DemudError::InfiniteValue { item, feature });
        }
    }
    Ok(has_missing)
}

fn conditioning_needs_values(conditioning: &Conditioning) -> DemudError {
    DemudError::invalid(
        "missing",
        format!("the items have missing values and the conditioning {conditioning} needs every value: use no conditioning with missing values"),
    )
}

/// Replaces NaN by 0 (`zero`) or by the feature's mean over the items that have it.
fn fill_missing(values: &mut Array2<f64>, missing: MissingPolicy) {
    for mut column in values.axis_iter_mut(Axis(1)) {
        let fill = match missing {
            MissingPolicy::Zero => 0.0,
            _ => {
                let observed: Vec<f64> = column.iter().copied().filter(|v| !v.is_nan()).collect();
                if observed.is_empty() {
                    0.0
                } else {
                    observed.iter().sum::<f64>() / observed.len() as f64
                }
            }
        };
        column.mapv_inplace(|v| if v.is_nan() { fill } else { v });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RankZeroStyle;
    use ndarray::{array, Array2};

    fn line_state() -> ModelState {
        let archive = array![[0.0, 0.0, 1.0], [1.0, 2.0, 1.0], [2.0, 4.0, 1.0]];
        model_of_items(
            archive.view(),
            &DemudParams::new(2),
            &Conditioning::none(),
            MissingPolicy::Error,
        )
        .unwrap()
    }

    #[test]
    fn scores_are_the_exact_reconstruction_errors() {
        let state = line_state();
        assert_eq!(
            state.model.rank(),
            1,
            "three items on a line span one direction"
        );
        let items = array![[3.0, 6.0, 1.0], [3.0, 0.0, 1.0], [1.0, 2.0, 4.0]];
        let scores = score_items(
            &state,
            items.view(),
            &Scoring::default(),
            MissingPolicy::Error,
        )
        .unwrap();
        for (i, item) in items.rows().into_iter().enumerate() {
            let (_, residual) = explain(&state.model, item.view());
            assert!((scores[i] - residual.dot(&residual)).abs() < 1e-12);
        }
        assert!(scores[0] < 1e-20);
        // (3, 0) is 6 off the line along y, which the line explains partly: e = (2.4, -1.2).
        assert!((scores[1] - 7.2).abs() < 1e-9, "{}", scores[1]);
        assert!(
            (scores[2] - 9.0).abs() < 1e-9,
            "the third feature is 3 above the mean"
        );
        // f32 items score as their f64 values do.
        let single = score_items(
            &state,
            items.mapv(|v| v as f32).view(),
            &Scoring::default(),
            MissingPolicy::Error,
        )
        .unwrap();
        assert!((&single - &scores).iter().all(|d| d.abs() < 1e-5));
    }

    #[test]
    fn folding_matches_the_incremental_updates_one_by_one() {
        let mut state = line_state();
        let new = array![[3.0, 0.0, 1.0], [0.0, 1.0, 5.0]];
        let mut expected = state.model.clone();
        for row in new.rows() {
            expected
                .add_item(row.view(), IncrementalMethod::Brand, 2)
                .unwrap();
        }
        fold_items(&mut state, new.view(), MissingPolicy::Error).unwrap();
        assert_eq!(state.model, expected);
        assert_eq!(state.model.count(), 5);
        assert_eq!(state.model.rank(), 2, "truncated to k = 2");
    }

    #[test]
    fn items_are_conditioned_as_the_models_items_were() {
        let archive = array![[1.0, 0.0], [3.0, 0.0], [2.0, 2.0]];
        let conditioning: Conditioning = "centre+l2".parse().unwrap();
        let state = model_of_items(
            archive.view(),
            &DemudParams::new(1),
            &conditioning,
            MissingPolicy::Error,
        )
        .unwrap();
        let conditioner = state.conditioner.clone().expect("a fitted conditioner");
        let new = array![[5.0, 1.0], [2.0, -3.0]];
        let scores = score_items(
            &state,
            new.view(),
            &Scoring::default(),
            MissingPolicy::Error,
        )
        .unwrap();
        let by_hand = crate::scoring::exact_scores(
            conditioner.transform(new.view()).unwrap().view(),
            &[true, true],
            &state.model,
            &Scoring::default(),
        );
        assert_eq!(scores, by_hand);
        // The model lives in the conditioned space: the archive's mean there is ~0.
        let conditioned_archive = conditioner.transform(archive.view()).unwrap();
        let mean = conditioned_archive.mean_axis(Axis(0)).unwrap();
        assert!((&mean - &state.model.mean())
            .iter()
            .all(|d| d.abs() < 1e-12));
    }

    #[test]
    fn missing_values_follow_the_policy() {
        let state = line_state();
        let items = array![[3.0, f64::NAN, 1.0]];
        let err = score_items(
            &state,
            items.view(),
            &Scoring::default(),
            MissingPolicy::Error,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            DemudError::MissingValue {
                item: 0,
                feature: 1
            }
        ));
        let zero = score_items(
            &state,
            items.view(),
            &Scoring::default(),
            MissingPolicy::Zero,
        )
        .unwrap();
        let zeroed = score_items(
            &state,
            array![[3.0, 0.0, 1.0]].view(),
            &Scoring::default(),
            MissingPolicy::Error,
        )
        .unwrap();
        assert_eq!(zero, zeroed);
        // Observed features only: the item is projected from x and z and scored on them.
        let ignored = score_items(
            &state,
            items.view(),
            &Scoring::default(),
            MissingPolicy::Ignore,
        )
        .unwrap();
        let (expected, residual) = explain(&state.model, items.row(0));
        assert_eq!(ignored[0], Scoring::default().score(residual.view()));
        assert!(ignored[0] > 0.0 && ignored[0].is_finite());
        // Folding imputes the missing feature by that reconstruction.
        let mut folded = state.clone();
        fold_items(&mut folded, items.view(), MissingPolicy::Ignore).unwrap();
        let mut by_hand = state.model.clone();
        by_hand
            .add_item(
                array![3.0, expected[1], 1.0].view(),
                IncrementalMethod::Brand,
                2,
            )
            .unwrap();
        assert_eq!(folded.model, by_hand);
        assert!((folded.model.mean()[1] - (6.0 + expected[1]) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn refusals_name_the_cause_and_leave_the_state_alone() {
        let state = line_state();
        let narrow = Array2::<f64>::zeros((1, 2));
        let err = score_items(
            &state,
            narrow.view(),
            &Scoring::default(),
            MissingPolicy::Error,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("the model has 3 features, the collection has 2"),
            "{err}"
        );
        let mut folded = state.clone();
        let items = array![[1.0, 1.0, 1.0], [f64::INFINITY, 0.0, 0.0]];
        let err = fold_items(&mut folded, items.view(), MissingPolicy::Error).unwrap_err();
        assert!(matches!(
            err,
            DemudError::InfiniteValue {
                item: 1,
                feature: 0
            }
        ));
        assert_eq!(folded, state, "nothing was folded");
        folded.update = UpdateMethod::Static;
        let err = fold_items(&mut folded, narrow.view(), MissingPolicy::Error)
            .unwrap_err()
            .to_string();
        assert!(err.contains("incremental update"), "{err}");
        let weights = Scoring::default().with_weights(array![1.0, 1.0]);
        let err = score_items(&state, narrow.view(), &weights, MissingPolicy::Error)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the feature weights has 2 features"), "{err}");
    }

    #[test]
    fn a_batch_model_is_the_models_svd_of_the_items() {
        let items = array![[1.0, 2.0], [3.0, 1.0], [0.0, 0.0], [2.0, 2.0]];
        let state = model_of_items(
            items.view(),
            &DemudParams::new(1),
            &Conditioning::none(),
            MissingPolicy::Error,
        )
        .unwrap();
        let direct =
            SubspaceModel::from_items(items.view(), 1, Truncation::DropNullDirections).unwrap();
        assert_eq!(state.model, direct);
        assert_eq!(state.conditioner, None, "no conditioning is not written");
        // Under `ignore` a missing value takes the feature's mean over the other items.
        let gappy = array![[1.0, 2.0], [3.0, f64::NAN], [0.0, 0.0], [2.0, 2.0]];
        let filled = model_of_items(
            gappy.view(),
            &DemudParams::new(1),
            &Conditioning::none(),
            MissingPolicy::Ignore,
        )
        .unwrap();
        let by_hand = array![[1.0, 2.0], [3.0, 4.0 / 3.0], [0.0, 0.0], [2.0, 2.0]];
        let expected =
            SubspaceModel::from_items(by_hand.view(), 1, Truncation::DropNullDirections).unwrap();
        assert_eq!(filled.model, expected);
        let one = SubspaceModel::rank_zero(array![1.0, 2.0].view(), RankZeroStyle::Empty);
        let single = model_of_items(
            array![[1.0, 2.0]].view(),
            &DemudParams::new(1),
            &Conditioning::none(),
            MissingPolicy::Error,
        )
        .unwrap();
        assert_eq!(single.model, one);
    }
}
