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
use rand::seq::{IndexedRandom, SliceRandom};
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

/// Mean and standard deviation of a statistic over random orders.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The mean.
    pub mean: f64,
    /// The (population) standard deviation.
    pub sd: f64,
}

/// `nAUC_t` of `orders` seeded uniformly random orders, summarised for each t of `at`: the
/// random baseline of the papers' tables (mean) and how far a method must be from it to
/// differ from chance (sd). `classes[i]` is the class code of item i; t beyond the collection
/// is clamped to its size.
pub fn random_nauc(
    classes: &[usize],
    at: &[usize],
    orders: usize,
    seed: u64,
) -> Result<Vec<Spread>> {
    let n_classes = classes.iter().copied().collect::<HashSet<_>>().len();
    let t_max = at.iter().copied().max().unwrap_or(0).min(classes.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = classes.to_vec();
    let mut sums = vec![(0.0, 0.0); at.len()];
    for _ in 0..orders {
        let (prefix, _) = order.partial_shuffle(&mut rng, t_max);
        let curve = discovery_curve(prefix.iter());
        for (sum, &t) in sums.iter_mut().zip(at) {
            let v = nauc(&curve, n_classes, t.min(t_max))?;
            sum.0 += v;
            sum.1 += v * v;
        }
    }
    let k = orders.max(1) as f64;
    Ok(sums
        .into_iter()
        .map(|(s, s2)| {
            let mean = s / k;
            Spread {
                mean,
                sd: (s2 / k - mean * mean).max(0.0).sqrt(),
            }
        })
        .collect())
}

/// The unbalanced variant of a labelled collection (Lee & Wagstaff 2018, Table 1): half of the
/// classes (rounded down), drawn with `seed`, are cut to one item each, drawn with the same
/// generator; every item of the other classes stays. Returns the kept item indices, ascending.
pub fn unbalanced_subset(classes: &[usize], seed: u64) -> Vec<usize> {
    let mut by_class: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, &c) in classes.iter().enumerate() {
        by_class.entry(c).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ids: Vec<usize> = by_class.keys().copied().collect();
    ids.shuffle(&mut rng);
    let cut: HashSet<usize> = ids[..ids.len() / 2].iter().copied().collect();
    let mut kept = Vec::with_capacity(classes.len());
    for (class, members) in &by_class {
        if cut.contains(class) {
            kept.push(*members.choose(&mut rng).expect("a class has a member"));
        } else {
            kept.extend_from_slice(members);
        }
    }
    kept.sort_unstable();
    kept
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
    fn random_nauc_spread_matches_the_exact_distribution() {
        // Two classes of 1 and 3 items, t = 2: the curve is 1,2 (nAUC 100) when the rare item
        // is among the first two (probability 1/2), else 1,1 (nAUC 2/3 * 100).
        let classes = [0, 1, 1, 1];
        let spread = random_nauc(&classes, &[2], 40_000, 3).unwrap();
        let (hi, lo) = (100.0, 200.0 / 3.0);
        let mean = (hi + lo) / 2.0;
        assert!((spread[0].mean - mean).abs() < 0.3, "{spread:?}");
        assert!((spread[0].sd - (hi - lo) / 2.0).abs() < 0.3, "{spread:?}");
        // t = 4: the rare item at position 1, 2, 3 or 4 (each 1/4) gives curve sums 7, 7, 6, 5
        // over the oracle's 7.
        let all = random_nauc(&classes, &[4, 10], 40_000, 3).unwrap();
        let exact = 100.0 * (7.0 + 7.0 + 6.0 + 5.0) / (4.0 * 7.0);
        assert!((all[0].mean - exact).abs() < 0.3, "{all:?} vs {exact}");
        assert_eq!(all[1], all[0], "t beyond the collection is clamped");
    }

    #[test]
    fn the_unbalanced_variant_cuts_half_the_classes_to_one_item() {
        // 6 classes of 4 items each.
        let classes: Vec<usize> = (0..24).map(|i| i / 4).collect();
        let kept = unbalanced_subset(&classes, 11);
        let mut per_class = [0; 6];
        for &i in &kept {
            per_class[classes[i]] += 1;
        }
        let mut counts = per_class.to_vec();
        counts.sort_unstable();
        assert_eq!(counts, vec![1, 1, 1, 4, 4, 4]);
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(kept, unbalanced_subset(&classes, 11), "seeded");
        let other_seeds: Vec<Vec<usize>> = (0..8).map(|s| unbalanced_subset(&classes, s)).collect();
        assert!(other_seeds.iter().any(|k| *k != kept), "the seed matters");
    }

    #[test]
    fn class_codes_follow_first_appearance() {
        let (codes, c) = class_codes(&["b", "a", "b", "c"]);
        assert_eq!(codes, vec![0, 1, 0, 2]);
        assert_eq!(c, 3);
    }
}
