//! Discovery curves and nAUC (Lee & Wagstaff 2018, eq. 3), the oracle and the random baseline.
//!
//! `C_i` is the number of distinct classes among the first i selections. With c classes and
//! t selections, `nAUC_t = 100 * sum_{i<=t} C_i / sum_{i<=t} min(i, c)`: the area under the
//! curve relative to the oracle's, which finds a new class at every selection until all are
//! found.
//!
//! ```
//! use demud::evaluation::{discovery_curve, nauc};
//!
//! let curve = discovery_curve(["a", "a", "b", "c"]);
//! assert_eq!(curve, vec![1.0, 1.0, 2.0, 3.0]);
//! // Oracle with 3 classes: 1 + 2 + 3 + 3 = 9; the curve sums to 7.
//! assert!((nauc(&curve, 3, 4).unwrap() - 100.0 * 7.0 / 9.0).abs() < 1e-12);
//! ```

use crate::error::{DemudError, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use std::hash::Hash;

/// `C_i` for every prefix of the selection order, given the selections' labels in order.
pub fn discovery_curve<L: Eq + Hash>(labels: impl IntoIterator<Item = L>) -> Vec<f64> {
    let mut seen = HashSet::new();
    labels
        .into_iter()
        .map(|label| {
            seen.insert(label);
            seen.len() as f64
        })
        .collect()
}

/// The oracle's curve: `min(i, c)` for i = 1..=t.
pub fn oracle_curve(n_classes: usize, t: usize) -> Vec<f64> {
    (1..=t).map(|i| i.min(n_classes) as f64).collect()
}

/// `nAUC_t` of a curve (percent). The curve needs at least t points and c >= 1.
pub fn nauc(curve: &[f64], n_classes: usize, t: usize) -> Result<f64> {
    if t == 0 || n_classes == 0 {
        return Err(DemudError::invalid(
            "t",
            "nAUC needs t >= 1 selections and at least one class",
        ));
    }
    if curve.len() < t {
        return Err(DemudError::invalid(
            "t",
            format!(
                "nAUC at t = {t} needs {t} selections; the curve has {}",
                curve.len()
            ),
        ));
    }
    // sum_{i<=c} i + (t - c) c, or sum_{i<=t} i when t < c.
    let c = n_classes.min(t);
    let oracle_area = (c * (c + 1) / 2 + (t - c) * n_classes.min(t)) as f64;
    Ok(100.0 * curve[..t].iter().sum::<f64>() / oracle_area)
}

/// The mean discovery curve of `orders` random selection orders of t items, drawn with
/// `seed`. `classes[i]` is the class of item i (any integer code).
pub fn random_baseline(classes: &[usize], t: usize, orders: usize, seed: u64) -> Vec<f64> {
    let t = t.min(classes.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = classes.to_vec();
    let mut sum = vec![0.0; t];
    for _ in 0..orders {
        // The first t positions of a uniform shuffle are a uniform random t-prefix.
        let (prefix, _) = order.partial_shuffle(&mut rng, t);
        for (acc, c) in sum.iter_mut().zip(discovery_curve(prefix.iter())) {
            *acc += c;
        }
    }
    sum.into_iter().map(|s| s / orders.max(1) as f64).collect()
}

/// Codes labels as integers 0.. in order of first appearance; returns codes and class count.
pub fn class_codes<L: Eq + Hash + Clone>(labels: &[L]) -> (Vec<usize>, usize) {
    let mut codes = std::collections::HashMap::new();
    let coded = labels
        .iter()
        .map(|l| {
            let next = codes.len();
            *codes.entry(l.clone()).or_insert(next)
        })
        .collect();
    (coded, codes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nauc_matches_hand_computed_values() {
        // Curve 1,2,2,3,3 with c = 3 classes, t = 5: oracle 1,2,3,3,3 (sum 12), curve sum 11.
        let curve = [1.0, 2.0, 2.0, 3.0, 3.0];
        assert!((nauc(&curve, 3, 5).unwrap() - 100.0 * 11.0 / 12.0).abs() < 1e-12);
        // t < c: denominator is 1 + 2 = 3; curve 1,1 sums to 2.
        assert!((nauc(&[1.0, 1.0], 5, 2).unwrap() - 200.0 / 3.0).abs() < 1e-12);
        // The oracle scores 100 for any t.
        for t in 1..10 {
            assert!((nauc(&oracle_curve(4, t), 4, t).unwrap() - 100.0).abs() < 1e-12);
        }
        assert!(nauc(&curve, 3, 6).is_err());
        assert!(nauc(&curve, 0, 3).is_err());
    }

    #[test]
    fn random_baseline_matches_the_exact_expectation() {
        // Two classes of 1 and 3 items: P(rare class among the first i) = i/4, so
        // E[C_i] = 1 + P(both classes seen) = 1 + 1 - P(all i from the big class).
        let classes = [0, 1, 1, 1];
        let mean = random_baseline(&classes, 4, 20_000, 7);
        let exact = [1.0, 1.0 + 0.5, 1.0 + 0.75, 2.0];
        for (m, e) in mean.iter().zip(exact) {
            assert!((m - e).abs() < 0.01, "{mean:?} vs {exact:?}");
        }
        // Same seed, same baseline.
        assert_eq!(mean, random_baseline(&classes, 4, 20_000, 7));
    }

    #[test]
    fn class_codes_follow_first_appearance() {
        let (codes, c) = class_codes(&["b", "a", "b", "c"]);
        assert_eq!(codes, vec![0, 1, 0, 2]);
        assert_eq!(c, 3);
    }
}
