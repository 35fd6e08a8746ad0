//! Detection metrics of a score that is larger for out-of-distribution items: the ROC curve,
//! its area (AUROC), average precision (AUPR, OOD as the positive class), the true-positive
//! rate at a false-positive rate (TPR@1%FPR) and the false-positive rate at a true-positive
//! rate (FPR@95%TPR).
//!
//! Definitions follow scikit-learn, so that numbers compare with published ones:
//!
//! - the ROC curve has one point per distinct score, taken as a threshold `score >= t`, from
//!   the largest down, after the point (0, 0) (`sklearn.metrics.roc_curve` with
//!   `drop_intermediate=False`);
//! - AUROC is the trapezoidal area under it (`roc_auc_score`), which counts a tied
//!   positive/negative pair as one half;
//! - AUPR is `sum_n (R_n - R_{n-1}) P_n` over the same thresholds, with no interpolation
//!   (`average_precision_score`);
//! - TPR@x FPR is the largest TPR of a point whose FPR is at most x (the best a threshold can
//!   do without exceeding x); FPR@y TPR is the smallest FPR of a point whose TPR is at least y
//!   (OpenOOD's `fpr[argmax(tpr >= y)]`).
//!
//! ```
//! use demud::ood::metrics::detection_metrics;
//!
//! let scores = [0.9, 0.8, 0.4, 0.35, 0.1];
//! let ood = [true, false, true, false, false];
//! let m = detection_metrics(&scores, &ood).unwrap();
//! assert!((m.auroc - 5.0 / 6.0).abs() < 1e-12);
//! ```

use crate::error::{DemudError, Result};
use serde::{Deserialize, Serialize};

/// The false-positive rate at which [`Metrics::tpr_at_fpr`] is read (1%).
pub const AT_FPR: f64 = 0.01;
/// The true-positive rate at which [`Metrics::fpr_at_tpr`] is read (95%).
pub const AT_TPR: f64 = 0.95;

/// The four numbers reported for a score.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Area under the ROC curve.
    pub auroc: f64,
    /// Average precision with OOD as the positive class.
    pub aupr: f64,
    /// True-positive rate at [`AT_FPR`] false positives.
    pub tpr_at_fpr: f64,
    /// False-positive rate at [`AT_TPR`] true positives.
    pub fpr_at_tpr: f64,
}

/// One point of a ROC curve per distinct threshold, from (0, 0) to (1, 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Roc {
    /// False-positive rates, non-decreasing.
    pub fpr: Vec<f64>,
    /// True-positive rates, non-decreasing.
    pub tpr: Vec<f64>,
    /// Precision at each threshold (the first point, no item accepted, has none: NaN).
    precision: Vec<f64>,
}

/// The ROC curve of `scores` (larger: more likely out of distribution) against `positive`
/// (true: out of distribution). Needs at least one item of each kind and finite scores.
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Result<Roc> {
    if scores.len() != positive.len() {
        return Err(DemudError::DimensionMismatch {
            what: "the labels of the scored items",
            expected: scores.len(),
            found: positive.len(),
        });
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(DemudError::invalid(
            "scores",
            format!(
                "item {i} has score {}; every score must be finite",
                scores[i]
            ),
        ));
    }
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Err(DemudError::invalid(
            "labels",
            format!("a ROC curve needs both kinds of item; found {n_pos} out-of-distribution and {n_neg} in-distribution"),
        ));
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut fpr, mut tpr, mut precision) = (vec![0.0], vec![0.0], vec![f64::NAN]);
    let (mut tp, mut fp) = (0usize, 0usize);
    for (at, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        // A point only after the last item of a run of equal scores: a threshold cannot
        // separate tied items.
        let last_of_tie = order
            .get(at + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie {
            fpr.push(fp as f64 / n_neg as f64);
            tpr.push(tp as f64 / n_pos as f64);
            precision.push(tp as f64 / (tp + fp) as f64);
        }
    }
    Ok(Roc {
        fpr,
        tpr,
        precision,
    })
}

impl Roc {
    /// The trapezoidal area under the curve.
    pub fn auroc(&self) -> f64 {
        self.fpr
            .windows(2)
            .zip(self.tpr.windows(2))
            .map(|(f, t)| (f[1] - f[0]) * (t[0] + t[1]) / 2.0)
            .sum()
    }

    /// Average precision: each threshold's precision weighted by the recall it adds.
    pub fn average_precision(&self) -> f64 {
        (1..self.tpr.len())
            .map(|i| (self.tpr[i] - self.tpr[i - 1]) * self.precision[i])
            .sum()
    }

    /// The largest TPR among points with FPR at most `max_fpr`.
    pub fn tpr_at_fpr(&self, max_fpr: f64) -> f64 {
        self.fpr
            .iter()
            .zip(&self.tpr)
            .filter(|(&f, _)| f <= max_fpr)
            .map(|(_, &t)| t)
            .fold(0.0, f64::max)
    }

    /// The smallest FPR among points with TPR at least `min_tpr`.
    pub fn fpr_at_tpr(&self, min_tpr: f64) -> f64 {
        self.fpr
            .iter()
            .zip(&self.tpr)
            .filter(|(_, &t)| t >= min_tpr)
            .map(|(&f, _)| f)
            .fold(1.0, f64::min)
    }

    /// The four reported numbers.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            auroc: self.auroc(),
            aupr: self.average_precision(),
            tpr_at_fpr: self.tpr_at_fpr(AT_FPR),
            fpr_at_tpr: self.fpr_at_tpr(AT_TPR),
        }
    }
}

/// AUROC, AUPR, TPR@1%FPR and FPR@95%TPR of `scores` against `positive` (see the module).
pub fn detection_metrics(scores: &[f64], positive: &[bool]) -> Result<Metrics> {
    Ok(roc_curve(scores, positive)?.metrics())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Reference values from scikit-learn 1.8 (Python):
    ///
    /// ```python
    /// from sklearn.metrics import roc_auc_score, average_precision_score, roc_curve
    /// fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    /// tpr_at = tpr[fpr <= x].max();  fpr_at = fpr[tpr >= y_].min()
    /// ```
    struct Case {
        scores: &'static [f64],
        labels: &'static [u8],
        auroc: f64,
        aupr: f64,
        // (x, TPR at FPR <= x)
        tpr_at: &'static [(f64, f64)],
        // (y, FPR at TPR >= y)
        fpr_at: &'static [(f64, f64)],
    }

    const CASES: &[Case] = &[
        // No ties.
        Case {
            scores: &[0.9, 0.8, 0.4, 0.35, 0.1],
            labels: &[1, 0, 1, 0, 0],
            auroc: SKL_AUROC_0,
            aupr: SKL_AUPR_0,
            tpr_at: SKL_TPR_AT_0,
            fpr_at: SKL_FPR_AT_0,
        },
        // Ties across classes and within a class.
        Case {
            scores: &[0.5, 0.5, 0.5, 0.2, 0.2, 0.9, 0.1, 0.9, 0.3, 0.3],
            labels: &[1, 0, 0, 1, 0, 1, 0, 0, 1, 1],
            auroc: SKL_AUROC_1,
            aupr: SKL_AUPR_1,
            tpr_at: SKL_TPR_AT_1,
            fpr_at: SKL_FPR_AT_1,
        },
        // 200 negatives and 20 positives with integer scores (many ties), where 1% FPR is
        // two negatives.
        Case {
            scores: BIG_SCORES,
            labels: BIG_LABELS,
            auroc: SKL_AUROC_2,
            aupr: SKL_AUPR_2,
            tpr_at: SKL_TPR_AT_2,
            fpr_at: SKL_FPR_AT_2,
        },
    ];

    include!("metrics_reference.rs");

    #[test]
    fn metrics_match_scikit_learn() {
        for (c, case) in CASES.iter().enumerate() {
            let positive: Vec<bool> = case.labels.iter().map(|&l| l == 1).collect();
            let roc = roc_curve(case.scores, &positive).unwrap();
            assert!(
                close(roc.auroc(), case.auroc),
                "case {c}: auroc {}",
                roc.auroc()
            );
            assert!(
                close(roc.average_precision(), case.aupr),
                "case {c}: aupr {}",
                roc.average_precision()
            );
            for &(x, want) in case.tpr_at {
                assert!(close(roc.tpr_at_fpr(x), want), "case {c}: tpr at {x}");
            }
            for &(y, want) in case.fpr_at {
                assert!(close(roc.fpr_at_tpr(y), want), "case {c}: fpr at {y}");
            }
        }
    }

    #[test]
    fn hand_computed_small_case() {
        // Scores 0.9+ 0.8- 0.4+ 0.35- 0.1-: of the 6 positive/negative pairs the positive is
        // above in 5 (0.4 < 0.8 is the one miss); AP = 1/2 * 1 + 1/2 * 2/3.
        let m = detection_metrics(
            &[0.9, 0.8, 0.4, 0.35, 0.1],
            &[true, false, true, false, false],
        )
        .unwrap();
        assert!(close(m.auroc, 5.0 / 6.0));
        assert!(close(m.aupr, 0.5 + 1.0 / 3.0));
        assert!(close(m.tpr_at_fpr, 0.5));
        assert!(close(m.fpr_at_tpr, 1.0 / 3.0));
    }

    #[test]
    fn ties_count_one_half_and_a_reversed_score_mirrors() {
        let all_tied = detection_metrics(&[1.0; 4], &[true, false, true, false]).unwrap();
        assert!(close(all_tied.auroc, 0.5));
        assert!(close(all_tied.aupr, 0.5));
        assert!(close(all_tied.tpr_at_fpr, 0.0));
        let s = [0.3, 0.7, 0.2, 0.9, 0.5];
        let y = [false, true, false, true, true];
        let up = detection_metrics(&s, &y).unwrap();
        let down: Vec<f64> = s.iter().map(|v| -v).collect();
        let down = detection_metrics(&down, &y).unwrap();
        assert!(close(up.auroc, 1.0) && close(down.auroc, 0.0));
        assert!(close(up.tpr_at_fpr, 1.0) && close(up.fpr_at_tpr, 0.0));
    }

    #[test]
    fn one_kind_only_or_non_finite_is_refused() {
        assert!(roc_curve(&[0.1, 0.2], &[true, true]).is_err());
        assert!(roc_curve(&[0.1, f64::NAN], &[true, false]).is_err());
        assert!(roc_curve(&[0.1], &[true, false]).is_err());
    }
}
