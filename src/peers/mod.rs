//! The peers' ranking methods, which the benchmark compares with DEMUD on the same features.
//!
//! Every method orders the items of a collection (one per row) for review, most interesting
//! first, and returns `min(n_select, n)` [`Ranked`] items. Each is deterministic given its
//! seed; ties fall to the lower item index.
//!
//! | method | [`PeerMethod`] | idea |
//! | --- | --- | --- |
//! | [`rx`] | `rx` | Mahalanobis distance to the mean (Reed & Yu 1990) |
//! | [`iforest`] | `iforest` | isolation forest (Liu, Ting & Zhou 2008) |
//! | [`knn`] | `knn`, `lof` | distance to the k-th neighbour; local outlier factor (Breunig et al. 2000) |
//! | [`farthest`] | `farthest` | farthest-first traversal (k-center greedy) |
//! | [`typiclust`](mod@typiclust) | `typiclust` | most typical item of each k-means cluster (Hacohen et al. 2022) |
//! | [`probcover`](mod@probcover) | `probcover` | greedy max coverage of δ-balls (Yehuda et al. 2022) |
//!
//! The first four score every item once and rank by score; the last three are greedy
//! selections, in which an item's score is what it added when it was picked. [`kmeans`](mod@kmeans)
//! is the seeded k-means that TypiClust and ProbCover's δ search share.
//!
//! ```
//! use demud::peers::{rank, PeerMethod};
//! use ndarray::Array2;
//!
//! // 30 items on a small grid and one far away.
//! let mut data = Array2::<f64>::zeros((31, 2));
//! for i in 0..30 {
//!     data[(i, 0)] = (i % 6) as f64;
//!     data[(i, 1)] = (i / 6) as f64;
//! }
//! data[(30, 0)] = 40.0;
//! for name in ["rx", "iforest", "knn", "lof", "farthest"] {
//!     let method = PeerMethod::from_name(name).unwrap();
//!     let order = rank(&method, data.view(), 5, 7).unwrap();
//!     assert_eq!(order.len(), 5);
//!     assert_eq!(order[0].index, 30, "{name}");
//! }
//! ```

pub mod farthest;
pub mod iforest;
pub mod kmeans;
pub mod knn;
pub mod probcover;
pub mod rx;
pub mod typiclust;

pub(crate) mod distance;

pub use farthest::farthest_first;
pub use iforest::{iforest_scores, IForestParams};
pub use kmeans::{kmeans, KMeans, KMeansParams};
pub use knn::{knn_distance_scores, lof_scores, KnnParams};
pub use probcover::{choose_delta, probcover, Delta, DeltaChoice, DeltaSearch, ProbCoverParams};
pub use rx::{rx_scores, RxParams};
pub use typiclust::{typiclust, TypiClustParams};

use crate::error::{DemudError, Result};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// One item of a peer's ranking: its 0-based index in the collection and the method's score
/// for it (larger is more interesting for the scoring methods; for the greedy ones, what the
/// item added when picked).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// 0-based index of the item in the collection.
    pub index: usize,
    /// The method's score for it.
    pub score: f64,
}

/// A peer method with its parameters, for a benchmark to iterate over.
///
/// Parameters are checked against the collection when [`rank`] starts (as
/// [`DemudParams`](crate::DemudParams) are), with errors naming the parameter. With serde a
/// method reads and writes as `{"method": "<name>", <its parameters>}`.
///
/// ```
/// use demud::peers::{KnnParams, PeerMethod, TypiClustParams};
///
/// let mut methods = PeerMethod::all();
/// methods.push(PeerMethod::Lof(KnnParams::new(20)));
/// methods.push(PeerMethod::TypiClust(TypiClustParams::new().clusters(50)));
/// let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
/// assert_eq!(names[..3], ["rx", "iforest", "knn"]);
/// assert_eq!(names[7..], ["lof", "typiclust"]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum PeerMethod {
    /// Reed–Xiaoli: Mahalanobis distance to the collection mean.
    Rx(RxParams),
    /// Isolation forest.
    #[serde(rename = "iforest")]
    IsolationForest(IForestParams),
    /// Distance to the k-th nearest neighbour.
    #[serde(rename = "knn")]
    KnnDistance(KnnParams),
    /// Local outlier factor with MinPts = k.
    Lof(KnnParams),
    /// Farthest-first traversal (k-center greedy); no parameters.
    #[serde(rename = "farthest")]
    FarthestFirst,
    /// TypiClust's ranking variant.
    #[serde(rename = "typiclust")]
    TypiClust(TypiClustParams),
    /// ProbCover's greedy coverage.
    #[serde(rename = "probcover")]
    ProbCover(ProbCoverParams),
}

impl PeerMethod {
    /// The short stable names, in the order of [`PeerMethod::all`].
    pub const NAMES: [&'static str; 7] = [
        "rx",
        "iforest",
        "knn",
        "lof",
        "farthest",
        "typiclust",
        "probcover",
    ];

    /// The method's short stable name: "rx", "iforest", "knn", "lof", "farthest",
    /// "typiclust" or "probcover".
    pub fn name(&self) -> &'static str {
        match self {
            PeerMethod::Rx(_) => "rx",
            PeerMethod::IsolationForest(_) => "iforest",
            PeerMethod::KnnDistance(_) => "knn",
            PeerMethod::Lof(_) => "lof",
            PeerMethod::FarthestFirst => "farthest",
            PeerMethod::TypiClust(_) => "typiclust",
            PeerMethod::ProbCover(_) => "probcover",
        }
    }

    /// The method of that name with its default parameters.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "rx" => PeerMethod::Rx(RxParams::default()),
            "iforest" => PeerMethod::IsolationForest(IForestParams::default()),
            "knn" => PeerMethod::KnnDistance(KnnParams::default()),
            "lof" => PeerMethod::Lof(KnnParams::default()),
            "farthest" => PeerMethod::FarthestFirst,
            "typiclust" => PeerMethod::TypiClust(TypiClustParams::default()),
            "probcover" => PeerMethod::ProbCover(ProbCoverParams::default()),
            other => {
                return Err(DemudError::invalid(
                    "method",
                    format!(
                        "unknown peer method `{other}`; known: {}",
                        Self::NAMES.join(", ")
                    ),
                ))
            }
        })
    }

    /// Every method with its default parameters.
    pub fn all() -> Vec<Self> {
        Self::NAMES
            .iter()
            .map(|name| Self::from_name(name).expect("every listed name is known"))
            .collect()
    }

    /// Checks the parameters against a collection of `n` items (`n_select` selections).
    pub fn check(&self, n: usize, n_select: usize) -> Result<()> {
        match self {
            PeerMethod::Rx(p) => p.check(),
            PeerMethod::IsolationForest(p) => p.check(),
            PeerMethod::KnnDistance(p) | PeerMethod::Lof(p) => p.check(n),
            PeerMethod::FarthestFirst => Ok(()),
            PeerMethod::TypiClust(p) => p.check(n),
            PeerMethod::ProbCover(p) => p.check(n, n_select),
        }
    }
}

/// Ranks the items of `data` (one per row) by `method`, most interesting first, and returns
/// the first `min(n_select, n)`. `seed` drives the randomised methods (isolation forest,
/// the k-means of TypiClust and of ProbCover's δ search); the others ignore it. The default
/// numbers of TypiClust clusters and of ProbCover pseudo-classes follow `n_select`.
///
/// Refuses an empty collection, NaN or infinite values (naming the item and feature),
/// `n_select = 0` and parameters that do not fit the collection.
///
/// ```
/// use demud::peers::{rank, PeerMethod};
/// use ndarray::array;
///
/// let data = array![[0.0], [1.0], [2.0], [3.0], [10.0]];
/// let order = rank(&PeerMethod::FarthestFirst, data.view(), 3, 0).unwrap();
/// let picks: Vec<usize> = order.iter().map(|r| r.index).collect();
/// assert_eq!(picks, vec![4, 0, 3]);
/// ```
pub fn rank(
    method: &PeerMethod,
    data: ArrayView2<'_, f64>,
    n_select: usize,
    seed: u64,
) -> Result<Vec<Ranked>> {
    check_data(data)?;
    if n_select == 0 {
        return Err(DemudError::invalid(
            "n_select",
            "must select at least 1 item",
        ));
    }
    method.check(data.nrows(), n_select)?;
    match method {
        PeerMethod::Rx(p) => Ok(top_by_score(&rx_scores(data, p)?.to_vec(), n_select)),
        PeerMethod::IsolationForest(p) => Ok(top_by_score(
            &iforest_scores(data, p, seed)?.to_vec(),
            n_select,
        )),
        PeerMethod::KnnDistance(p) => Ok(top_by_score(
            &knn_distance_scores(data, p)?.to_vec(),
            n_select,
        )),
        PeerMethod::Lof(p) => Ok(top_by_score(&lof_scores(data, p)?.to_vec(), n_select)),
        PeerMethod::FarthestFirst => farthest_first(data, n_select),
        PeerMethod::TypiClust(p) => typiclust(data, p, n_select, seed),
        PeerMethod::ProbCover(p) => probcover(data, p, n_select, seed),
    }
}

/// Checks that the collection has items and features and only finite values.
pub(crate) fn check_data(data: ArrayView2<'_, f64>) -> Result<()> {
    let (n, d) = data.dim();
    if n == 0 || d == 0 {
        return Err(DemudError::Empty {
            what: "the collection",
            items: n,
            features: d,
        });
    }
    for ((item, feature), v) in data.indexed_iter() {
        if v.is_nan() {
            return Err(DemudError::invalid(
                "data",
                format!(
                    "item {item}, feature {feature} is missing (NaN): the peer methods need complete data; fill or drop missing values first"
                ),
            ));
        }
        if v.is_infinite() {
            return Err(DemudError::InfiniteValue { item, feature });
        }
    }
    Ok(())
}

/// The `min(n_select, n)` items with the largest scores, in decreasing score, ties by lower
/// index.
pub(crate) fn top_by_score(scores: &[f64], n_select: usize) -> Vec<Ranked> {
    let order = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let take = n_select.min(idx.len());
    if take == 0 {
        return Vec::new();
    }
    if take < idx.len() {
        idx.select_nth_unstable_by(take - 1, order);
        idx.truncate(take);
    }
    idx.sort_unstable_by(order);
    idx.into_iter()
        .map(|index| Ranked {
            index,
            score: scores[index],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn top_by_score_sorts_descending_with_ties_by_index() {
        let r = top_by_score(&[1.0, 3.0, 3.0, 0.5, 2.0], 4);
        let idx: Vec<usize> = r.iter().map(|r| r.index).collect();
        assert_eq!(idx, vec![1, 2, 4, 0]);
        assert_eq!(top_by_score(&[1.0, 2.0], 5).len(), 2);
    }

    #[test]
    fn bad_collections_are_refused_with_the_item_and_feature() {
        let m = PeerMethod::FarthestFirst;
        let empty = ndarray::Array2::<f64>::zeros((0, 3));
        assert!(matches!(
            rank(&m, empty.view(), 1, 0),
            Err(DemudError::Empty { items: 0, .. })
        ));
        let inf = array![[0.0, 1.0], [2.0, f64::INFINITY]];
        assert!(matches!(
            rank(&m, inf.view(), 1, 0),
            Err(DemudError::InfiniteValue {
                item: 1,
                feature: 1
            })
        ));
        let nan = array![[0.0, f64::NAN], [2.0, 1.0]];
        let msg = rank(&m, nan.view(), 1, 0).unwrap_err().to_string();
        assert!(msg.contains("item 0, feature 1"), "{msg}");
        let ok = array![[0.0], [1.0]];
        assert!(rank(&m, ok.view(), 0, 0).is_err());
        // k must be below n.
        let msg = rank(&PeerMethod::from_name("knn").unwrap(), ok.view(), 1, 0)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`k`"), "{msg}");
    }

    #[test]
    fn names_round_trip() {
        for m in PeerMethod::all() {
            assert_eq!(PeerMethod::from_name(m.name()).unwrap(), m);
        }
        assert!(PeerMethod::from_name("demud").is_err());
        // Serde: tagged by the short name, parameters beside it.
        let m = PeerMethod::Lof(KnnParams::new(7));
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"method":"lof","k":7}"#);
        for m in PeerMethod::all().into_iter().chain([m]) {
            let json = serde_json::to_string(&m).unwrap();
            assert!(
                json.starts_with(&format!(r#"{{"method":"{}""#, m.name())),
                "{json}"
            );
            assert_eq!(
                serde_json::from_str::<PeerMethod>(&json).unwrap(),
                m,
                "{json}"
            );
        }
    }

    #[test]
    fn any_memory_layout_gives_the_same_ranking() {
        let mut stored = ndarray::Array2::<f64>::zeros((3, 25));
        for i in 0..25 {
            stored[(0, i)] = ((i * 7) % 5) as f64;
            stored[(1, i)] = ((i * 3) % 11) as f64;
            stored[(2, i)] = (i % 4) as f64 * 2.5;
        }
        let items = stored.t(); // 25 items x 3 features, column-major
        let copy = items.as_standard_layout().into_owned();
        for m in PeerMethod::all() {
            assert_eq!(
                rank(&m, items, 10, 5).unwrap(),
                rank(&m, copy.view(), 10, 5).unwrap(),
                "{}",
                m.name()
            );
        }
    }

    #[test]
    fn every_method_returns_min_n_select_n_items_of_distinct_indices() {
        let mut data = ndarray::Array2::<f64>::zeros((40, 3));
        for i in 0..40 {
            data[(i, 0)] = ((i * 7) % 11) as f64;
            data[(i, 1)] = ((i * 5) % 13) as f64 * 0.5;
            data[(i, 2)] = (i / 10) as f64 * 4.0;
        }
        for m in PeerMethod::all() {
            for n_select in [1, 7, 40, 100] {
                let r = rank(&m, data.view(), n_select, 3).unwrap();
                assert_eq!(r.len(), n_select.min(40), "{}", m.name());
                let mut idx: Vec<usize> = r.iter().map(|r| r.index).collect();
                idx.sort_unstable();
                idx.dedup();
                assert_eq!(idx.len(), r.len(), "{} repeats an item", m.name());
                assert!(r.iter().all(|r| r.score.is_finite()), "{}", m.name());
                // Deterministic given the seed.
                assert_eq!(r, rank(&m, data.view(), n_select, 3).unwrap());
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

        /// Degenerate collections (copies, all-equal columns, zeros, tiny and huge scales)
        /// are ranked by every peer without panic: distinct items and finite scores, in any
        /// units.
        #[test]
        fn every_peer_ranks_degenerate_collections(
            n in 6usize..14,
            d in 1usize..4,
            values in proptest::collection::vec(proptest::sample::select(vec![0.0, 1.0, -2.0, 3.5]), 14 * 4),
            exponent in -400i32..400,
        ) {
            let data = ndarray::Array2::from_shape_fn((n, d), |(i, j)| values[i * 4 + j]);
            let factor = 2f64.powi(exponent);
            let scaled = data.mapv(|v| v * factor);
            let methods = PeerMethod::all()
                .into_iter()
                .map(|m| match m {
                    PeerMethod::KnnDistance(_) => PeerMethod::KnnDistance(KnnParams::new(3)),
                    PeerMethod::Lof(_) => PeerMethod::Lof(KnnParams::new(3)),
                    PeerMethod::TypiClust(_) => {
                        PeerMethod::TypiClust(TypiClustParams::new().clusters(3).neighbours(2))
                    }
                    other => other,
                });
            for m in methods {
                for input in [data.view(), scaled.view()] {
                    let r = rank(&m, input, 5, 1).unwrap();
                    proptest::prop_assert_eq!(r.len(), 5);
                    let mut idx: Vec<usize> = r.iter().map(|r| r.index).collect();
                    idx.sort_unstable();
                    idx.dedup();
                    proptest::prop_assert_eq!(idx.len(), 5, "{} repeats an item", m.name());
                    proptest::prop_assert!(
                        r.iter().all(|r| r.score.is_finite()),
                        "{}: {:?}",
                        m.name(),
                        r
                    );
                }
            }
        }
    }
}
