//! The linear classification head the softmax measures read: logits `z = W f + b` for a
//! feature vector f, class probabilities `softmax(z / T)`. A head comes from elsewhere (the
//! last layer of the network that made the features) or is trained here as a multinomial
//! logistic regression by `linfa-logistic` (L-BFGS from zero weights: deterministic, so there
//! is nothing to seed).

use crate::error::{DemudError, Result};
use linfa::prelude::*;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// A linear head: `weights` is `classes x features`, `bias` has one value per class.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearHead {
    weights: Array2<f64>,
    bias: Array1<f64>,
}

impl LinearHead {
    /// A head from its weights (`classes x features`) and biases (one per class). Refuses
    /// mismatched shapes and non-finite values.
    pub fn new(weights: Array2<f64>, bias: Array1<f64>) -> Result<Self> {
        if weights.nrows() != bias.len() {
            return Err(DemudError::DimensionMismatch {
                what: "the head's bias",
                expected: weights.nrows(),
                found: bias.len(),
            });
        }
        if weights.is_empty() {
            return Err(DemudError::Empty {
                what: "the linear head",
                items: weights.nrows(),
                features: weights.ncols(),
            });
        }
        if weights.iter().chain(&bias).any(|v| !v.is_finite()) {
            return Err(DemudError::invalid(
                "head",
                "the weights and biases must be finite",
            ));
        }
        Ok(LinearHead { weights, bias })
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.weights.nrows()
    }

    /// Number of features it reads.
    pub fn dim(&self) -> usize {
        self.weights.ncols()
    }

    /// The weights, `classes x features`.
    pub fn weights(&self) -> ArrayView2<'_, f64> {
        self.weights.view()
    }

    /// The biases, one per class.
    pub fn bias(&self) -> ArrayView1<'_, f64> {
        self.bias.view()
    }

    /// Logits of every item (row): `items W^T + b`, `items x classes`.
    pub fn logits(&self, items: ArrayView2<f64>) -> Array2<f64> {
        items.dot(&self.weights.t()) + &self.bias
    }
}

/// Softmax of each row of `logits / temperature`, computed after subtracting the row's
/// maximum so that no exponential overflows.
pub fn softmax(logits: ArrayView2<f64>, temperature: f64) -> Array2<f64> {
    let mut p = logits.mapv(|z| z / temperature);
    for mut row in p.rows_mut() {
        let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    p
}

/// Training of a multinomial logistic regression head.
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticParams {
    alpha: f64,
    max_iterations: u64,
}

impl Default for LogisticParams {
    /// L2 penalty 1 on the summed log-loss, at most 200 L-BFGS iterations.
    fn default() -> Self {
        LogisticParams {
            alpha: 1.0,
            max_iterations: 200,
        }
    }
}

impl LogisticParams {
    /// The L2 penalty `alpha`: the loss minimised is
    /// `-sum_i log p_{y_i}(x_i) + alpha/2 ||W||²` (the bias is not penalised).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// The most L-BFGS iterations.
    pub fn max_iterations(mut self, iterations: u64) -> Self {
        self.max_iterations = iterations;
        self
    }

    /// Fits the head on `items` (one per row) with classes `labels[i] < n_classes`. Every
    /// class must have an item (a class without one has no weights to learn).
    pub fn fit(
        &self,
        items: ArrayView2<f64>,
        labels: &[usize],
        n_classes: usize,
    ) -> Result<LinearHead> {
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(DemudError::invalid(
                "alpha",
                format!("must be finite and >= 0, got {}", self.alpha),
            ));
        }
        if self.max_iterations == 0 {
            return Err(DemudError::invalid("max_iterations", "must be at least 1"));
        }
        check_labels(labels, items.nrows(), n_classes)?;
        if n_classes < 2 {
            return Err(DemudError::invalid(
                "labels",
                "a classifier needs at least two classes",
            ));
        }
        let targets = Array1::from_vec(labels.to_vec());
        let dataset = DatasetBase::new(items.to_owned(), targets);
        let fitted = linfa_logistic::MultiLogisticRegression::default()
            .alpha(self.alpha)
            .max_iterations(self.max_iterations)
            .fit(&dataset)
            .map_err(|e| {
                DemudError::invalid(
                    "head",
                    format!("the logistic regression failed to fit: {e}"),
                )
            })?;
        // linfa keeps the classes it saw, sorted, with `params` as `features x classes`.
        let mut weights = Array2::zeros((n_classes, items.ncols()));
        let mut bias = Array1::zeros(n_classes);
        for (column, &class) in fitted.classes().iter().enumerate() {
            weights
                .row_mut(class)
                .assign(&fitted.params().index_axis(Axis(1), column));
            bias[class] = fitted.intercept()[column];
        }
        LinearHead::new(weights, bias)
    }
}

/// Every label below `n_classes`, every class present, one label per item.
pub(crate) fn check_labels(labels: &[usize], n_items: usize, n_classes: usize) -> Result<()> {
    if labels.len() != n_items {
        return Err(DemudError::DimensionMismatch {
            what: "the labels",
            expected: n_items,
            found: labels.len(),
        });
    }
    let mut count = vec![0usize; n_classes];
    for (i, &l) in labels.iter().enumerate() {
        if l >= n_classes {
            return Err(DemudError::invalid(
                "labels",
                format!("item {i} has class {l}, but there are {n_classes} classes"),
            ));
        }
        count[l] += 1;
    }
    if let Some(c) = count.iter().position(|&c| c == 0) {
        return Err(DemudError::invalid(
            "labels",
            format!("class {c} has no training item"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn softmax_by_hand() {
        // Logits (0, ln 2, ln 3): probabilities 1/6, 2/6, 3/6; at T = 2 they are
        // proportional to 1, sqrt 2, sqrt 3.
        let z = array![[0.0, 2f64.ln(), 3f64.ln()]];
        let p = softmax(z.view(), 1.0);
        for (a, b) in p.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
            assert!((a - b).abs() < 1e-12);
        }
        let p2 = softmax(z.view(), 2.0);
        let s = 1.0 + 2f64.sqrt() + 3f64.sqrt();
        assert!((p2[(0, 2)] - 3f64.sqrt() / s).abs() < 1e-12);
        // No overflow on large logits.
        let big = softmax(array![[1000.0, 1000.0]].view(), 1.0);
        assert_eq!(big, array![[0.5, 0.5]]);
    }

    #[test]
    fn logits_are_w_f_plus_b() {
        let head = LinearHead::new(
            array![[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]],
            array![0.5, 0.0, -1.0],
        )
        .unwrap();
        assert_eq!(
            head.logits(array![[3.0, 4.0]].view()),
            array![[3.5, 8.0, 6.0]]
        );
        assert!(LinearHead::new(array![[1.0]], array![1.0, 2.0]).is_err());
        assert!(LinearHead::new(array![[f64::NAN]], array![1.0]).is_err());
    }

    /// The fitted head satisfies the optimum's first-order condition of the loss it claims
    /// to minimise, written with our own logits: `X^T (P - Y) + alpha W = 0` and
    /// `sum_i (P - Y) = 0`. A head whose classes or weights were put in the wrong rows fails.
    #[test]
    fn the_fitted_head_is_the_penalised_optimum() {
        let x = array![
            [0.0, 0.1],
            [0.2, -0.1],
            [1.0, 1.1],
            [1.2, 0.9],
            [-1.0, 1.0],
            [-0.8, 1.2],
            [0.1, 0.0],
            [1.0, 0.8],
            [-1.1, 0.9]
        ];
        // Class 2 first in the data, so linfa's sorted order differs from the order seen.
        let labels = [0, 0, 1, 1, 2, 2, 0, 1, 2];
        let alpha = 0.5;
        let head = LogisticParams::default()
            .alpha(alpha)
            .max_iterations(500)
            .fit(x.view(), &labels, 3)
            .unwrap();
        let p = softmax(head.logits(x.view()).view(), 1.0);
        let mut diff = p.clone();
        for (i, &l) in labels.iter().enumerate() {
            diff[(i, l)] -= 1.0;
        }
        let grad_w = diff.t().dot(&x) + &(head.weights().to_owned() * alpha);
        let grad_b = diff.sum_axis(Axis(0));
        assert!(grad_w.iter().all(|g| g.abs() < 1e-3), "{grad_w}");
        assert!(grad_b.iter().all(|g| g.abs() < 1e-3), "{grad_b}");
        // And it classifies these separable clusters.
        for (i, row) in p.rows().into_iter().enumerate() {
            let best = (0..3).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            assert_eq!(best, labels[i], "item {i}");
        }
    }

    #[test]
    fn labels_are_checked() {
        let x = array![[0.0], [1.0]];
        assert!(LogisticParams::default().fit(x.view(), &[0, 2], 2).is_err());
        assert!(LogisticParams::default().fit(x.view(), &[0, 0], 2).is_err());
        assert!(LogisticParams::default().fit(x.view(), &[0], 2).is_err());
    }
}
