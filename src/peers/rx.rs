//! The RX detector (Reed & Yu 1990, "Reed–Xiaoli"): the Mahalanobis distance of each item to
//! the collection mean.
//!
//! With the mean `μ` and the sample covariance `Σ = Σ_i (x_i - μ)(x_i - μ)ᵀ / (n - 1)`, the
//! score of x is `sqrt((x - μ)ᵀ Σ_λ⁻¹ (x - μ))`, where
//!
//! `Σ_λ = Σ + λ · (tr(Σ) / d) · I`
//!
//! adds λ times the average variance to the diagonal (a ridge, or shrinkage towards the
//! isotropic covariance with the same trace). Without it Σ is singular whenever n ≤ d or a
//! feature is constant, and the distance would be dominated by the noise in its smallest
//! eigenvalues. Scaling all the data scales Σ and the ridge alike, so the ranking does not
//! depend on the data's units.
//!
//! The inverse is applied through the eigendecomposition `Σ_λ = V diag(w) Vᵀ` (LAPACK
//! `dsyevd` through ndarray-linalg): the squared distance is `Σ_j ((x - μ)·v_j)² / w_j`.
//!
//! ```
//! use demud::peers::{rx_scores, RxParams};
//! use ndarray::array;
//!
//! // x varies much more than y: the item 2 away along y beats the item 6 away along x.
//! let data = array![[6.0, 0.0], [-6.0, 0.0], [4.0, 0.0], [-4.0, 0.0],
//!                   [0.0, 2.0], [0.0, -2.0], [0.0, 1.0], [0.0, -1.0]];
//! let s = rx_scores(data.view(), &RxParams::default()).unwrap();
//! assert!(s[4] > s[0]);
//! ```

use super::check_data;
use super::distance::Points;
use crate::error::{DemudError, Result};
use ndarray::{Array1, ArrayView2, Axis};
use ndarray_linalg::{Eigh, UPLO};
use serde::{Deserialize, Serialize};

/// Parameters of the RX detector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RxParams {
    lambda: f64,
}

impl Default for RxParams {
    /// λ = 1e-3.
    fn default() -> Self {
        RxParams { lambda: 1e-3 }
    }
}

impl RxParams {
    /// Default parameters (λ = 1e-3).
    pub fn new() -> Self {
        Self::default()
    }
    /// The ridge λ, relative to the average variance `tr(Σ)/d` (finite, >= 0; 0 is the
    /// plain Mahalanobis distance, refused when Σ is singular).
    pub fn lambda(mut self, lambda: f64) -> Self {
        self.lambda = lambda;
        self
    }
    /// The ridge λ.
    pub fn lambda_value(&self) -> f64 {
        self.lambda
    }

    pub(crate) fn check(&self) -> Result<()> {
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(DemudError::invalid(
                "lambda",
                format!("is {}; the ridge must be finite and >= 0", self.lambda),
            ));
        }
        Ok(())
    }
}

/// The RX score (Mahalanobis distance to the mean under `Σ_λ`) of every item.
///
/// All items equal (zero covariance): every score is 0.
pub fn rx_scores(data: ArrayView2<'_, f64>, params: &RxParams) -> Result<Array1<f64>> {
    check_data(data)?;
    params.check()?;
    let (n, d) = data.dim();
    let points = Points::centred(data);
    let x = &points.x;
    let mut cov = x.t().dot(x) / (n.max(2) - 1) as f64;
    let trace = cov.diag().sum();
    if trace <= 0.0 {
        return Ok(Array1::zeros(n));
    }
    let ridge = params.lambda * trace / d as f64;
    cov.diag_mut().mapv_inplace(|v| v + ridge);
    let (w, v) = cov
        .eigh(UPLO::Lower)
        .map_err(|e| DemudError::linalg("the eigendecomposition of the RX covariance", e))?;
    // Eigenvalues come in ascending order. Below this the inverse is rounding noise.
    let largest = w[d - 1];
    let floor = largest * f64::EPSILON * d as f64;
    if w[0] <= floor {
        return Err(DemudError::invalid(
            "lambda",
            format!(
                "the covariance is singular (smallest eigenvalue {:e}, largest {:e}) and λ = {} does not regularise it; use λ > 0",
                w[0], largest, params.lambda
            ),
        ));
    }
    // Coordinates in the eigenbasis, whitened: y_ij = ((x_i - μ)·v_j) / sqrt(w_j).
    let mut y = x.dot(&v);
    let inv_sd = w.mapv(|w| 1.0 / w.sqrt());
    y *= &inv_sd.insert_axis(Axis(0));
    Ok(y.rows().into_iter().map(|r| r.dot(&r).sqrt()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{rank, PeerMethod};
    use ndarray::array;

    /// Symmetric about both axes, so the mean is 0 and the covariance diagonal:
    /// var_x = (2·36 + 2·16)/7 = 104/7, var_y = (2·4 + 2·1)/7 = 10/7, tr/d = 57/7.
    fn cross() -> ndarray::Array2<f64> {
        array![
            [6.0, 0.0],
            [-6.0, 0.0],
            [4.0, 0.0],
            [-4.0, 0.0],
            [0.0, 2.0],
            [0.0, -2.0],
            [0.0, 1.0],
            [0.0, -1.0]
        ]
    }

    #[test]
    fn mahalanobis_order_differs_from_euclidean_as_computed_by_hand() {
        let lambda = 1e-3;
        let s = rx_scores(cross().view(), &RxParams::new().lambda(lambda)).unwrap();
        // D² = x²/(var_x + r) + y²/(var_y + r) with r = λ·57/7.
        let vx = 104.0 / 7.0 + lambda * 57.0 / 7.0;
        let vy = 10.0 / 7.0 + lambda * 57.0 / 7.0;
        let expected = [
            (36.0 / vx).sqrt(),
            (36.0 / vx).sqrt(),
            (16.0 / vx).sqrt(),
            (16.0 / vx).sqrt(),
            (4.0 / vy).sqrt(),
            (4.0 / vy).sqrt(),
            (1.0 / vy).sqrt(),
            (1.0 / vy).sqrt(),
        ];
        for (i, (a, e)) in s.iter().zip(expected).enumerate() {
            assert!((a - e).abs() < 1e-12, "item {i}: {a} vs {e}");
        }
        // (0, ±2) are 2 from the mean, (±6, 0) are 6, yet RX puts (0, ±2) first:
        // 4/(10/7) = 2.8 > 36/(104/7) = 2.42.
        let order: Vec<usize> = rank(&PeerMethod::Rx(RxParams::new()), cross().view(), 8, 0)
            .unwrap()
            .iter()
            .map(|r| r.index)
            .collect();
        assert_eq!(order, vec![4, 5, 0, 1, 2, 3, 6, 7]);
    }

    #[test]
    fn singular_covariance_needs_a_ridge() {
        // A constant second feature.
        let data = array![[0.0, 1.0], [1.0, 1.0], [3.0, 1.0]];
        let err = rx_scores(data.view(), &RxParams::new().lambda(0.0)).unwrap_err();
        assert!(err.to_string().contains("singular"), "{err}");
        // With the default ridge the scores are |x - 4/3| / sqrt(var_x + r).
        let s = rx_scores(data.view(), &RxParams::new()).unwrap();
        let var: f64 = (16.0 / 9.0 + 1.0 / 9.0 + 25.0 / 9.0) / 2.0;
        let r = 1e-3 * var / 2.0;
        assert!((s[2] - (5.0 / 3.0) / (var + r).sqrt()).abs() < 1e-12);
        assert!(rx_scores(data.view(), &RxParams::new().lambda(-1.0)).is_err());
        // All items equal: all scores 0.
        let same = array![[2.0, 2.0], [2.0, 2.0]];
        assert_eq!(
            rx_scores(same.view(), &RxParams::new()).unwrap().to_vec(),
            vec![0.0, 0.0]
        );
    }
}
