//! What a classifier trained on other classes calls the images of a labelled collection
//! (Eshed 2020, "Novelty detection and analysis in convolutional neural networks"): per class
//! of the collection, the distribution of the classifier's top-1 labels with each label's
//! mean confidence, and the top-n label frequency.
//!
//! For a class with m images whose top-1 labels, sorted by how often they occur, have counts
//! c_1 ≥ c_2 ≥ ..., the **top-n label frequency** is (c_1 + ... + c_n) / m: the fraction of
//! the class's images whose top-1 label is one of the class's n most frequent labels. A class
//! the classifier sees as one thing has 1 at n = 1; a class it scatters over many labels
//! climbs slowly. Averaged over the classes of a group (in ImageNet, not in, ...) it compares
//! how consistently the classifier names each kind of class.
//!
//! ```
//! use demud::ood::labels::{label_distributions, top1};
//! use ndarray::array;
//! // Three images of class 0: two called label 1, one label 0.
//! let logits = array![[0.0, 5.0], [0.0, 4.0], [3.0, 0.0]];
//! let dist = label_distributions(&top1(logits.view()), &[0, 0, 0], 1).unwrap();
//! assert_eq!(dist[0].labels[0].label, 1);
//! assert!((dist[0].top_n_frequency(1) - 2.0 / 3.0).abs() < 1e-12);
//! ```

use super::head::{check_labels, softmax};
use crate::error::{DemudError, Result};
use ndarray::{Array2, ArrayView2};

/// An item's top-1 label and the classifier's softmax probability of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Top1 {
    /// The most probable label (column of the logits).
    pub label: usize,
    /// Its softmax probability.
    pub confidence: f64,
}

/// The top-1 label of every row of `logits` (ties: the lower label) with its softmax
/// probability.
pub fn top1(logits: ArrayView2<f64>) -> Vec<Top1> {
    let p = softmax(logits, 1.0);
    p.rows()
        .into_iter()
        .map(|row| {
            let (label, &confidence) = row
                .iter()
                .enumerate()
                .fold(None, |best: Option<(usize, &f64)>, (i, v)| match best {
                    Some((_, b)) if b >= v => best,
                    _ => Some((i, v)),
                })
                .expect("a row has values");
            Top1 { label, confidence }
        })
        .collect()
}

/// One top-1 label of a class: how many of the class's images got it, and their mean
/// confidence in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelCount {
    /// The label.
    pub label: usize,
    /// Images of the class whose top-1 label it is.
    pub count: usize,
    /// Their mean confidence in it.
    pub mean_confidence: f64,
}

/// The top-1 labels of one class's images.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassLabels {
    /// Images of the class.
    pub items: usize,
    /// Every label that is some image's top-1, most frequent first (ties: lower label).
    pub labels: Vec<LabelCount>,
}

impl ClassLabels {
    /// The top-n label frequency (module documentation): the share of the class's images
    /// whose label is among its `n` most frequent. 1 once n reaches the number of labels.
    pub fn top_n_frequency(&self, n: usize) -> f64 {
        let covered: usize = self.labels.iter().take(n).map(|l| l.count).sum();
        covered as f64 / self.items as f64
    }
}

/// The label distribution of every class: `top[i]` is item i's top-1, `classes[i] <
/// n_classes` its class in the collection (every class needs an item).
pub fn label_distributions(
    top: &[Top1],
    classes: &[usize],
    n_classes: usize,
) -> Result<Vec<ClassLabels>> {
    check_labels(classes, top.len(), n_classes)?;
    let mut per_class: Vec<std::collections::BTreeMap<usize, (usize, f64)>> =
        vec![Default::default(); n_classes];
    for (t, &c) in top.iter().zip(classes) {
        let e = per_class[c].entry(t.label).or_insert((0, 0.0));
        e.0 += 1;
        e.1 += t.confidence;
    }
    Ok(per_class
        .into_iter()
        .map(|counts| {
            let items = counts.values().map(|(n, _)| n).sum();
            let mut labels: Vec<LabelCount> = counts
                .into_iter()
                .map(|(label, (count, sum))| LabelCount {
                    label,
                    count,
                    mean_confidence: sum / count as f64,
                })
                .collect();
            // Stable sort of a label-ordered list: ties keep the lower label first.
            labels.sort_by_key(|l| std::cmp::Reverse(l.count));
            ClassLabels { items, labels }
        })
        .collect())
}

/// The top-n label frequency for n = 1..=`max_n` averaged over the classes of each group:
/// row g is the mean over the classes c with `groups[c] == g` (a `n_groups x max_n` matrix;
/// a group without classes is refused).
pub fn mean_top_n_by_group(
    distributions: &[ClassLabels],
    groups: &[usize],
    n_groups: usize,
    max_n: usize,
) -> Result<Array2<f64>> {
    check_labels(groups, distributions.len(), n_groups)?;
    if max_n == 0 {
        return Err(DemudError::invalid("max_n", "must be at least 1"));
    }
    let mut sums = Array2::<f64>::zeros((n_groups, max_n));
    let mut counts = vec![0usize; n_groups];
    for (d, &g) in distributions.iter().zip(groups) {
        counts[g] += 1;
        for n in 1..=max_n {
            sums[(g, n - 1)] += d.top_n_frequency(n);
        }
    }
    for (mut row, &c) in sums.rows_mut().into_iter().zip(&counts) {
        row /= c as f64;
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Hand-computed: class 0 has 5 images with top-1 labels 2, 2, 2, 0, 1 (confidences
    /// 0.9, 0.7, 0.5, 0.4, 0.6); class 1 has 2 images, both label 1 (0.8, 0.6).
    /// Class 0: label 2 (3, mean 0.7), then 0 (1, 0.4) and 1 (1, 0.6) in label order;
    /// top-n frequency 3/5, 4/5, 1, 1. Class 1: label 1 (2, 0.7); 1, 1, ...
    /// Groups {class 0} and {class 1}: the rows; one group: (0.8, 0.9, 1, 1).
    #[test]
    fn label_distribution_and_top_n_by_hand() {
        let t = |label, confidence| Top1 { label, confidence };
        let top = [
            t(2, 0.9),
            t(1, 0.8),
            t(2, 0.7),
            t(0, 0.4),
            t(1, 0.6),
            t(2, 0.5),
            t(1, 0.6),
        ];
        let classes = [0, 1, 0, 0, 1, 0, 0];
        let d = label_distributions(&top, &classes, 2).unwrap();
        assert_eq!(d[0].items, 5);
        let got: Vec<(usize, usize)> = d[0].labels.iter().map(|l| (l.label, l.count)).collect();
        assert_eq!(got, vec![(2, 3), (0, 1), (1, 1)]);
        assert!((d[0].labels[0].mean_confidence - 0.7).abs() < 1e-12);
        assert!((d[0].labels[1].mean_confidence - 0.4).abs() < 1e-12);
        assert!((d[0].labels[2].mean_confidence - 0.6).abs() < 1e-12);
        assert_eq!(d[1].labels.len(), 1);
        assert!((d[1].labels[0].mean_confidence - 0.7).abs() < 1e-12);
        let f: Vec<f64> = (1..=4).map(|n| d[0].top_n_frequency(n)).collect();
        assert_eq!(f, vec![0.6, 0.8, 1.0, 1.0]);

        let by_class = mean_top_n_by_group(&d, &[0, 1], 2, 4).unwrap();
        assert_eq!(by_class.row(0).to_vec(), f);
        assert_eq!(by_class.row(1).to_vec(), vec![1.0; 4]);
        let together = mean_top_n_by_group(&d, &[0, 0], 1, 4).unwrap();
        for (a, b) in together.iter().zip([0.8, 0.9, 1.0, 1.0]) {
            assert!((a - b).abs() < 1e-12);
        }
        // A group without classes, a class without images.
        assert!(mean_top_n_by_group(&d, &[0, 0], 2, 4).is_err());
        assert!(label_distributions(&top, &classes, 3).is_err());
    }

    #[test]
    fn top1_is_the_argmax_with_its_softmax() {
        // Logits (0, ln 3): p = (1/4, 3/4).
        let t = top1(array![[0.0, 3f64.ln()], [1.0, 1.0]].view());
        assert_eq!(t[0].label, 1);
        assert!((t[0].confidence - 0.75).abs() < 1e-12);
        // Ties: the lower label.
        assert_eq!(t[1].label, 0);
        assert!((t[1].confidence - 0.5).abs() < 1e-12);
    }
}
