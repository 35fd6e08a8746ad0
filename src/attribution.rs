//! Attribution: which parts of an item make up its score, and how its features move it.
//!
//! **Exact split over parts.** Many CNN layers are a sum of parts: a spatial average
//! `x = (1/HW) Σ_hw f_hw` (EfficientNet's `pool` and `block`), a flattened map (AlexNet's
//! `pool5`: part `hw` holds position `hw`'s channels and zeros elsewhere), or either followed
//! by an affine map (the logits `W x + b`: part `hw` is `(W f_hw + b) / HW`). Given the parts
//! `p_1..p_m` with `Σ p_i = x`, a selection's residual `e = z - x̂` in the space DEMUD ranks
//! (`z` the conditioned item) and the score direction `s` (`score = <e, s>`, see
//! [`Scoring::direction`]; `s = e` for the plain score):
//!
//! ```text
//! score = <z - x̂, s> = Σ_i <q_i - x̂/m, s> = Σ_i c_i
//! ```
//!
//! where `q_i` are the parts carried through the conditioning: every conditioning step is
//! affine once the item is fixed (centre subtracts the mean, `l2` divides by the item's length,
//! `power` multiplies feature j by `1/sqrt|x_j|`, whitening is affine), so applying that map to
//! each part, with any constant shared equally, gives parts that sum to `z`
//! ([`Conditioner::condition_parts`]). The contributions `c_i` sum to the score exactly (up to
//! rounding): a position with a large positive `c_i` is where the novel content is.
//!
//! **Gradient.** With the model `(U, μ)` fixed, the plain score of a conditioned item `z` is
//! `|P (z - μ)|²` with `P = I - U Uᵀ`, whose gradient is `2 P (z - μ) = 2 e`; for weighted or
//! one-sided scores the gradient with `x̂` held fixed is `2 s`. [`feature_gradient`] carries it
//! back through the conditioning to the layer's features, where a network's autograd takes it
//! on to the pixels.
//!
//! ```
//! use demud::attribution::contributions;
//! use demud::conditioning::Conditioner;
//! use demud::scoring::{ScoreMethod, Scoring};
//! use ndarray::array;
//!
//! // An item of two features made of two parts; the model expects (1, 0).
//! let parts = array![[1.0, 2.0], [1.0, 0.0]];
//! let expected = array![1.0, 0.0];
//! let residual = array![1.0, 2.0]; // z - x̂ with z = (2, 2)
//! let c = contributions(
//!     &Conditioner::identity(2),
//!     &Scoring::new(ScoreMethod::LowHigh),
//!     parts.view(),
//!     expected.view(),
//!     residual.view(),
//! )
//! .unwrap();
//! // Score 5: the first part carries all the unexpected second feature.
//! assert_eq!(c.to_vec(), vec![4.5, 0.5]);
//! ```

use crate::conditioning::Conditioner;
use crate::error::{DemudError, Result};
use crate::scoring::Scoring;
use ndarray::{Array1, ArrayView1, ArrayView2};

fn check_explanation(
    conditioner: &Conditioner,
    expected: ArrayView1<f64>,
    residual: ArrayView1<f64>,
) -> Result<()> {
    let dim = conditioner.output_dim();
    for (what, len) in [
        ("the expected content", expected.len()),
        ("the residual", residual.len()),
    ] {
        if len != dim {
            return Err(DemudError::DimensionMismatch {
                what,
                expected: dim,
                found: len,
            });
        }
    }
    Ok(())
}

/// Each part's contribution `c_i` to the score (see the module documentation): `parts` is
/// `m x input_dim` in the features' own space (rows summing to the item), `expected` and
/// `residual` the selection's x̂ and e in the conditioned space DEMUD ranked. The result sums
/// to `scoring.score(residual)`.
pub fn contributions(
    conditioner: &Conditioner,
    scoring: &Scoring,
    parts: ArrayView2<f64>,
    expected: ArrayView1<f64>,
    residual: ArrayView1<f64>,
) -> Result<Array1<f64>> {
    check_explanation(conditioner, expected, residual)?;
    let conditioned = conditioner.condition_parts(parts)?;
    let direction = scoring.direction(residual);
    let shared = expected.dot(&direction) / parts.nrows().max(1) as f64;
    Ok(conditioned.dot(&direction) - shared)
}

/// The gradient of the selection's score with respect to the item's features (`item` in the
/// features' own space, `residual` in the conditioned space), the model fixed at the one that
/// selected it (see the module documentation).
pub fn feature_gradient(
    conditioner: &Conditioner,
    scoring: &Scoring,
    item: ArrayView1<f64>,
    residual: ArrayView1<f64>,
) -> Result<Array1<f64>> {
    check_explanation(conditioner, residual, residual)?;
    let direction = scoring.direction(residual) * 2.0;
    conditioner.pullback(item, direction.view())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditioning::Conditioning;
    use crate::scoring::ScoreMethod;
    use crate::{DemudParams, Init};
    use ndarray::{Array2, Array3, Axis};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const CONDITIONINGS: [&str; 7] = [
        "none",
        "centre",
        "l2",
        "power",
        "centre+l2",
        "power+centre+l2",
        "power+centre+whiten:4+l2",
    ];

    /// `n` items of `m` parts in `d` features, some parts negative, some features exactly 0
    /// (as a rectifier leaves them).
    fn parted(n: usize, m: usize, d: usize, seed: u64) -> (Array3<f64>, Array2<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let parts = Array3::from_shape_fn((n, m, d), |(i, _, j)| {
            if j == d - 1 && i % 3 == 0 {
                0.0
            } else {
                rng.random_range(-0.5..2.0) * (1.0 + j as f64)
            }
        });
        let items = parts.sum_axis(Axis(1));
        (parts, items)
    }

    fn relative(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1e-300)
    }

    /// Runs DEMUD on the conditioned items and checks that every selection's contributions
    /// sum to its score (and that the score is the run's own).
    fn assert_every_selection_splits(
        conditioner: &Conditioner,
        params: &DemudParams,
        parts: &Array3<f64>,
        items: &Array2<f64>,
        what: &str,
    ) {
        let ranked = conditioner.transform(items.view()).unwrap();
        let scoring = params.scoring();
        for selection in params.discover(ranked.view()).unwrap() {
            let s = selection.unwrap();
            let c = contributions(
                conditioner,
                scoring,
                parts.index_axis(Axis(0), s.index),
                s.expected.view(),
                s.residual.view(),
            )
            .unwrap();
            let score = scoring.score(s.residual.view());
            assert!(
                relative(c.sum(), score) < 1e-9,
                "{what}, rank {}: contributions sum to {} for a score of {score}",
                s.rank,
                c.sum()
            );
            assert!(
                relative(score, s.score) < 1e-9,
                "{what}: the run's own score"
            );
        }
    }

    #[test]
    fn contributions_sum_to_every_selections_score_under_every_conditioning() {
        let (parts, items) = parted(40, 9, 6, 7);
        for name in CONDITIONINGS {
            let conditioner = name
                .parse::<Conditioning>()
                .unwrap()
                .fit(items.view())
                .unwrap();
            let params = DemudParams::new(2).init(Init::Svd).n_select(12);
            assert_every_selection_splits(&conditioner, &params, &parts, &items, name);
        }
    }

    #[test]
    fn weighted_and_one_sided_scores_split_exactly_too() {
        let (parts, items) = parted(30, 4, 5, 11);
        let conditioner = "power+centre+l2"
            .parse::<Conditioning>()
            .unwrap()
            .fit(items.view())
            .unwrap();
        for method in [ScoreMethod::High, ScoreMethod::Low] {
            let weights = Array1::from(vec![1.0, 0.5, 2.0, 0.0, 1.5]);
            let params = DemudParams::new(2)
                .score(method)
                .weights(weights)
                .n_select(8);
            assert_every_selection_splits(
                &conditioner,
                &params,
                &parts,
                &items,
                &format!("{method:?}"),
            );
        }
    }

    #[test]
    fn a_part_that_holds_the_novelty_holds_the_score() {
        // Every item is two parts; the last item's second part moves a feature no other
        // item uses. Under a model of the others, that part carries nearly all the score.
        let mut parts = Array3::<f64>::zeros((20, 2, 3));
        for i in 0..20 {
            parts[[i, 0, 0]] = 1.0 + i as f64 * 0.1;
            parts[[i, 1, 1]] = 2.0 - i as f64 * 0.05;
        }
        parts[[19, 1, 2]] = 3.0;
        let items = parts.sum_axis(Axis(1));
        let conditioner = Conditioner::identity(3);
        let params = DemudParams::new(1).n_select(1);
        let s = params
            .discover(items.view())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(s.index, 19);
        let c = contributions(
            &conditioner,
            params.scoring(),
            parts.index_axis(Axis(0), 19),
            s.expected.view(),
            s.residual.view(),
        )
        .unwrap();
        assert!(c[1] > 0.9 * s.score, "{c}");
    }

    #[test]
    fn the_feature_gradient_matches_finite_differences_through_every_conditioning() {
        let (_, items) = parted(40, 3, 6, 3);
        for name in CONDITIONINGS {
            let conditioner = name
                .parse::<Conditioning>()
                .unwrap()
                .fit(items.view())
                .unwrap();
            let ranked = conditioner.transform(items.view()).unwrap();
            let params = DemudParams::new(2).n_select(3);
            let mut discovery = params.discover(ranked.view()).unwrap();
            discovery.next().unwrap().unwrap();
            let model = discovery.model().unwrap();
            let scoring = params.scoring();
            // The plain score of any item under the fixed model.
            let score_of = |x: ArrayView1<f64>| {
                let z = conditioner.transform_item(x);
                let e = &z - &model.reconstruct(z.view());
                scoring.score(e.view())
            };
            let item = items.row(5).to_owned();
            let z = conditioner.transform_item(item.view());
            let residual = &z - &model.reconstruct(z.view());
            let gradient =
                feature_gradient(&conditioner, scoring, item.view(), residual.view()).unwrap();
            for j in 0..item.len() {
                let h = 1e-6 * item[j].abs().max(1.0);
                let (mut up, mut down) = (item.clone(), item.clone());
                up[j] += h;
                down[j] -= h;
                let numeric = (score_of(up.view()) - score_of(down.view())) / (2.0 * h);
                assert!(
                    (numeric - gradient[j]).abs() <= 1e-5 * (1.0 + numeric.abs()),
                    "{name}, feature {j}: analytic {} numeric {numeric}",
                    gradient[j]
                );
            }
        }
    }

    #[test]
    fn mismatched_shapes_are_errors_not_panics() {
        let conditioner = Conditioner::identity(3);
        let scoring = Scoring::new(ScoreMethod::LowHigh);
        let parts = Array2::<f64>::zeros((4, 2));
        let v = Array1::<f64>::zeros(3);
        assert!(contributions(&conditioner, &scoring, parts.view(), v.view(), v.view()).is_err());
        let parts = Array2::<f64>::zeros((4, 3));
        let short = Array1::<f64>::zeros(2);
        assert!(
            contributions(&conditioner, &scoring, parts.view(), short.view(), v.view()).is_err()
        );
        assert!(feature_gradient(&conditioner, &scoring, short.view(), v.view()).is_err());
    }
}
