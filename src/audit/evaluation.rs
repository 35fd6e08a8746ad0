//! Measuring an audit on planted label noise: seeded flips, precision among the top m, AUROC.
//!
//! ```
//! use demud::audit::{auroc, precision_at};
//! // Flagged items 1 and 3; the ranking puts 3 first, then 0, then 1.
//! let scores = [0.5, 0.4, 0.1, 0.9];
//! let planted = [false, true, false, true];
//! assert_eq!(precision_at(&scores, &planted, 2), 0.5);
//! // Pairs (planted, clean) ordered right: (3,0), (3,2), (1,2); wrong: (1,0). 3 of 4.
//! assert_eq!(auroc(&scores, &planted), Some(0.75));
//! ```

use crate::error::{DemudError, Result};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Flips `round(fraction · n)` labels, chosen at random (seeded), each to a random other class
/// among `0..n_classes`. Returns the noisy labels and the flipped items (ascending).
pub fn flip_labels(
    labels: &[usize],
    n_classes: usize,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..=1.0).contains(&fraction) {
        return Err(DemudError::invalid(
            "fraction",
            format!("{fraction} is not between 0 and 1"),
        ));
    }
    if n_classes < 2 || labels.iter().any(|&c| c >= n_classes) {
        return Err(DemudError::invalid(
            "labels",
            format!("flipping needs at least 2 classes and labels below {n_classes}"),
        ));
    }
    let n = labels.len();
    let m = (fraction * n as f64).round() as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut flipped: Vec<usize> = sample(&mut rng, n, m).into_vec();
    flipped.sort_unstable();
    let mut noisy = labels.to_vec();
    for &i in &flipped {
        let other = rng.random_range(0..n_classes - 1);
        noisy[i] = if other < labels[i] { other } else { other + 1 };
    }
    Ok((noisy, flipped))
}

/// The share of planted items among the `m` highest scores (ties by lower index).
pub fn precision_at(scores: &[f64], planted: &[bool], m: usize) -> f64 {
    if m == 0 {
        return 0.0;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let hits = order.iter().take(m).filter(|&&i| planted[i]).count();
    hits as f64 / m.min(scores.len()) as f64
}

/// The area under the ROC curve of `scores` for finding the `planted` items: the probability
/// that a planted item scores above a clean one, ties counting one half (Mann-Whitney U).
/// `None` when either group is empty.
pub fn auroc(scores: &[f64], planted: &[bool]) -> Option<f64> {
    let positives = planted.iter().filter(|&&p| p).count();
    let negatives = planted.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let ranks = super::percentiles(scores);
    let n = scores.len() as f64;
    let rank_sum: f64 = ranks
        .iter()
        .zip(planted)
        .filter(|(_, &p)| p)
        .map(|(r, _)| r * n)
        .sum();
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_counts_ties_as_half_and_perfect_as_one() {
        // Planted 0 ties clean 1 (half), beats clean 2: (1 + 0.5) / 2.
        assert_eq!(auroc(&[0.5, 0.5, 0.1], &[true, false, false]), Some(0.75));
        assert_eq!(auroc(&[3.0, 2.0, 1.0], &[true, true, false]), Some(1.0));
        assert_eq!(auroc(&[1.0, 2.0, 3.0], &[true, true, false]), Some(0.0));
        assert_eq!(auroc(&[1.0, 2.0], &[false, false]), None);
    }

    #[test]
    fn flips_change_exactly_the_chosen_labels_to_other_classes_and_repeat_under_a_seed() {
        let labels: Vec<usize> = (0..200).map(|i| i % 4).collect();
        let (noisy, flipped) = flip_labels(&labels, 4, 0.1, 7).unwrap();
        assert_eq!(flipped.len(), 20);
        for i in 0..200 {
            assert_eq!(noisy[i] != labels[i], flipped.contains(&i), "item {i}");
            assert!(noisy[i] < 4);
        }
        assert_eq!(flip_labels(&labels, 4, 0.1, 7).unwrap().1, flipped);
        assert_ne!(flip_labels(&labels, 4, 0.1, 8).unwrap().1, flipped);
        assert!(flip_labels(&labels, 4, 1.5, 7).is_err());
    }

    #[test]
    fn precision_takes_the_top_m_with_ties_to_the_lower_index() {
        let scores = [1.0, 1.0, 0.0];
        assert_eq!(precision_at(&scores, &[false, true, false], 1), 0.0);
        assert_eq!(precision_at(&scores, &[true, false, false], 1), 1.0);
        assert_eq!(precision_at(&scores, &[false, true, true], 2), 0.5);
    }
}
