//! Out-of-distribution measures and their combination (Hogeweg et al. 2024, "COOD"), with
//! DEMUD's reconstruction error as one more measure.
//!
//! A model of the in-distribution (ID) training set — its features, class labels and a linear
//! head — is fitted once ([`OodParams::fit`]); every query item (an ID test item or an
//! out-of-distribution one) then gets one value per [`Measure`] ([`OodModel::measures`]).
//! [`OodParams::evaluate`] shares the queries (seeded, stratified) between training COOD's
//! random forest ([`forest`]) and scoring every measure and the forest by AUROC, AUPR,
//! TPR@1%FPR and FPR@95%TPR ([`metrics`]): cross-fitted over 5 folds by default (every query
//! scored by a forest that did not see it), or a held-out share ([`ForestSplit`]).
//!
//! The measures, for a query feature vector f (d values), with the training items x_j, their
//! classes y_j, the head's probabilities p = softmax(W f + b) and the k nearest training items:
//!
//! - **kNN space**: f is centred on the training mean, projected on the top `knn_dims`
//!   principal directions of the training set and scaled to unit length; similarity is the
//!   inner product s (cosine), distance δ = 1 − s, and the neighbours are the k training
//!   items of largest s (exact, by matrix products, below 10^6 training items; from there on
//!   found by an HNSW graph and their s computed exactly: [`NeighbourSearch`]).
//! - `knn-1st`, `knn-kth`, `knn-avg`: δ to the nearest, to the k-th, and its mean over the k;
//!   `knn-among`: the mean δ over the k(k−1)/2 pairs of neighbours; `ldof`: knn-avg /
//!   knn-among (Zhang et al. 2009: a query far from neighbours that are close together).
//! - `pca-error`: ||r||² with r the part of f − μ outside the top `pca_components` principal
//!   directions of the training set; `pca-class-error`: the same under a PCA of the training
//!   items of the class the head predicts.
//! - `msp`: max_c p_c; `msp-t2`: max_c softmax((W f + b) / T)_c at the temperature T (2).
//! - `knn-vote-max`: max_c v_c, with v_c the fraction of the neighbours in class c;
//!   `mean-prob-max`: max_c (p_c + v_c) / 2; `neighbour-entropy`: H(v) = −Σ v_c ln v_c;
//!   `enwedi-1st`, `enwedi-avg`: knn-1st and knn-avg times (1 + H(v)).
//! - `taxon-distance`: the [`Taxonomy`] distance between the head's class argmax p and the
//!   neighbours' argmax v (ties: the lower class); only with a class hierarchy.
//! - `neighbour-true-prob`: the mean over the neighbours of the head's probability of their
//!   own class.
//! - `feature-entropy`: −Σ π_i ln π_i with π = |f| / Σ|f|; `feature-sum`: Σ f_i;
//!   `feature-norm`: ||f||.
//! - `demud`: DEMUD's reconstruction error (eq. 1) under a top-`demud_k` model of the
//!   conditioned training set ([`crate::fitted`]).
//!
//! Each measure has a direction ([`Measure::higher_is_ood`]); single-measure metrics score
//! `value` or `−value` accordingly, the forest reads the raw values.
//!
//! ```
//! use demud::ood::{head::LogisticParams, OodParams};
//! use ndarray::Array2;
//!
//! // Two ID classes on either side of the origin in 3 dimensions, and far queries.
//! let train = Array2::from_shape_fn((40, 3), |(i, j)| {
//!     let side = if i % 2 == 0 { 1.0 } else { -1.0 };
//!     side * (1.0 + j as f64) + ((i * 7 + j * 3) % 5) as f64 * 0.1
//! });
//! let labels: Vec<usize> = (0..40).map(|i| i % 2).collect();
//! let head = LogisticParams::default().fit(train.view(), &labels, 2).unwrap();
//! let params = OodParams::new().k(5).knn_dims(3).pca_components(1).demud_k(1);
//! let model = params.fit(train.view(), &labels, head, None).unwrap();
//! let table = model.measures(train.view()).unwrap();
//! assert_eq!(table.values.nrows(), 40);
//! assert!(table.skipped.iter().any(|(m, _)| m.name() == "taxon-distance"));
//! ```

pub mod forest;
pub mod geometry;
pub mod head;
mod knn;
pub mod labels;
pub mod metrics;
pub mod taxonomy;

pub use forest::{CoodForest, ForestParams};
pub use head::{LinearHead, LogisticParams};
pub use knn::{GraphBuild, GraphIndex, NeighbourIndex, NeighbourSearch, QueryNeighbours};
pub use metrics::{detection_metrics, roc_curve, Metrics, Roc};
pub use taxonomy::Taxonomy;

use crate::conditioning::Conditioning;
use crate::discovery::DemudParams;
use crate::error::{DemudError, Result};
use crate::fitted::{model_of_items, score_items};
use crate::scoring::{MissingPolicy, Scoring};
use crate::state::ModelState;
use head::{check_labels, softmax};
use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// One out-of-distribution measure (see the module documentation for its definition).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    /// Distance to the nearest training item.
    Knn1st,
    /// Distance to the k-th nearest.
    KnnKth,
    /// Mean distance to the k nearest.
    KnnAvg,
    /// Mean distance among the k nearest.
    KnnAmong,
    /// Local distance-based outlier factor: knn-avg / knn-among.
    Ldof,
    /// PCA reconstruction error under the training set's principal directions.
    PcaError,
    /// PCA reconstruction error under the predicted class's principal directions.
    PcaClassError,
    /// Maximum softmax probability of the head.
    Msp,
    /// Maximum softmax probability at the temperature.
    MspT2,
    /// The largest share of the neighbours in one class.
    KnnVoteMax,
    /// Maximum of the mean of the head's and the neighbours' class distributions.
    MeanProbMax,
    /// Taxon distance between the head's and the neighbours' predictions.
    TaxonDistance,
    /// Entropy of the neighbours' classes.
    NeighbourEntropy,
    /// knn-1st times (1 + neighbour entropy).
    EnWeDi1st,
    /// knn-avg times (1 + neighbour entropy).
    EnWeDiAvg,
    /// Entropy of the feature vector's absolute values, normalised to sum 1.
    FeatureEntropy,
    /// Sum of the features.
    FeatureSum,
    /// Euclidean norm of the features.
    FeatureNorm,
    /// Mean head probability of the neighbours' own classes.
    NeighbourTrueProb,
    /// DEMUD's reconstruction error under a model of the training set.
    Demud,
}

impl Measure {
    /// Every measure, in table order.
    pub const ALL: [Measure; 20] = [
        Measure::Knn1st,
        Measure::KnnKth,
        Measure::KnnAvg,
        Measure::KnnAmong,
        Measure::Ldof,
        Measure::PcaError,
        Measure::PcaClassError,
        Measure::Msp,
        Measure::MspT2,
        Measure::KnnVoteMax,
        Measure::MeanProbMax,
        Measure::TaxonDistance,
        Measure::NeighbourEntropy,
        Measure::EnWeDi1st,
        Measure::EnWeDiAvg,
        Measure::FeatureEntropy,
        Measure::FeatureSum,
        Measure::FeatureNorm,
        Measure::NeighbourTrueProb,
        Measure::Demud,
    ];

    /// The measure's name in tables and files.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Knn1st => "knn-1st",
            Measure::KnnKth => "knn-kth",
            Measure::KnnAvg => "knn-avg",
            Measure::KnnAmong => "knn-among",
            Measure::Ldof => "ldof",
            Measure::PcaError => "pca-error",
            Measure::PcaClassError => "pca-class-error",
            Measure::Msp => "msp",
            Measure::MspT2 => "msp-t2",
            Measure::KnnVoteMax => "knn-vote-max",
            Measure::MeanProbMax => "mean-prob-max",
            Measure::TaxonDistance => "taxon-distance",
            Measure::NeighbourEntropy => "neighbour-entropy",
            Measure::EnWeDi1st => "enwedi-1st",
            Measure::EnWeDiAvg => "enwedi-avg",
            Measure::FeatureEntropy => "feature-entropy",
            Measure::FeatureSum => "feature-sum",
            Measure::FeatureNorm => "feature-norm",
            Measure::NeighbourTrueProb => "neighbour-true-prob",
            Measure::Demud => "demud",
        }
    }

    /// Whether a larger value means "more likely out of distribution" (distances, errors,
    /// entropies); confidences (msp, votes, norms, sums) point the other way.
    pub fn higher_is_ood(self) -> bool {
        !matches!(
            self,
            Measure::Msp
                | Measure::MspT2
                | Measure::KnnVoteMax
                | Measure::MeanProbMax
                | Measure::FeatureSum
                | Measure::FeatureNorm
                | Measure::NeighbourTrueProb
        )
    }

    /// `value` turned into an OOD score (larger: more likely out of distribution).
    pub fn oriented(self, value: f64) -> f64 {
        if self.higher_is_ood() {
            value
        } else {
            -value
        }
    }
}

/// Parameters of the measures and of their evaluation (validated by [`OodParams::fit`] and
/// [`OodParams::evaluate`]).
#[derive(Clone, Debug, PartialEq)]
pub struct OodParams {
    k: usize,
    knn_dims: usize,
    pca_components: usize,
    temperature: f64,
    demud_k: usize,
    conditioning: Conditioning,
    forest: ForestParams,
    forest_split: ForestSplit,
    neighbour_search: NeighbourSearch,
    seed: u64,
}

/// How the queries are shared between training COOD's forest and scoring the measures and the
/// forest (each split is seeded and stratified by ID / OOD).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ForestSplit {
    /// A share of the queries (in (0, 1)) trains one forest; everything is scored on the rest.
    Holdout {
        /// The share that trains the forest.
        fraction: f64,
    },
    /// The queries fall into `folds` folds; each fold is scored by a forest trained on the
    /// others, so every query is scored out of fold: the forest learns from `(folds − 1) /
    /// folds` of the queries, and the measures and the forest are compared on all of them
    /// (at 1% FPR the threshold rests on twice the ID items of a half split).
    CrossFit {
        /// Number of folds (at least 2).
        folds: usize,
    },
}
impl Default for OodParams {
    fn default() -> Self {
        Self::new()
    }
}

impl OodParams {
    /// COOD's settings: k = 30 neighbours in 256 principal dimensions, temperature 2; PCA
    /// errors with 32 components; DEMUD with k = 20 under `power+centre+l2` (the emoji
    /// benchmark's best); the default forest cross-fitted over 5 folds of the queries; seed 0.
    pub fn new() -> Self {
        OodParams {
            k: 30,
            knn_dims: 256,
            pca_components: 32,
            temperature: 2.0,
            demud_k: 20,
            conditioning: Conditioning::recommended(),
            forest: ForestParams::default(),
            forest_split: ForestSplit::CrossFit { folds: 5 },
            neighbour_search: NeighbourSearch::default(),
            seed: 0,
        }
    }
    /// Number of neighbours (at least 2: `knn-among` needs a pair).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// Principal dimensions of the kNN space (capped at the training set's rank).
    pub fn knn_dims(mut self, dims: usize) -> Self {
        self.knn_dims = dims;
        self
    }
    /// Principal components of the PCA errors.
    pub fn pca_components(mut self, components: usize) -> Self {
        self.pca_components = components;
        self
    }
    /// The softmax temperature of `msp-t2`.
    pub fn temperature(mut self, t: f64) -> Self {
        self.temperature = t;
        self
    }
    /// Principal components of DEMUD's model.
    pub fn demud_k(mut self, k: usize) -> Self {
        self.demud_k = k;
        self
    }
    /// The conditioning of DEMUD's model.
    pub fn conditioning(mut self, conditioning: Conditioning) -> Self {
        self.conditioning = conditioning;
        self
    }
    /// The forest's parameters.
    pub fn forest(mut self, forest: ForestParams) -> Self {
        self.forest = forest;
        self
    }
    /// The share of the queries that trains the forest, in (0, 1) (a [`ForestSplit::Holdout`]).
    pub fn forest_fraction(mut self, fraction: f64) -> Self {
        self.forest_split = ForestSplit::Holdout { fraction };
        self
    }
    /// How the queries train and score the forest.
    pub fn forest_split(mut self, split: ForestSplit) -> Self {
        self.forest_split = split;
        self
    }
    /// How the neighbours in the kNN space are found: exact below 10^6 training items, an
    /// HNSW graph from there on, by default.
    pub fn neighbour_search(mut self, search: NeighbourSearch) -> Self {
        self.neighbour_search = search;
        self
    }
    /// The seed of the split.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// The forest's parameters.
    pub fn forest_params(&self) -> &ForestParams {
        &self.forest
    }

    fn check(&self, n: usize, d: usize, head: &LinearHead) -> Result<()> {
        if self.k < 2 {
            return Err(DemudError::invalid(
                "k",
                "must be at least 2 (knn-among needs a pair of neighbours)",
            ));
        }
        if self.k > n {
            return Err(DemudError::invalid(
                "k",
                format!(
                    "k = {} neighbours, but the training set has {n} items",
                    self.k
                ),
            ));
        }
        for (name, v) in [
            ("knn_dims", self.knn_dims),
            ("pca_components", self.pca_components),
            ("demud_k", self.demud_k),
        ] {
            if v == 0 {
                return Err(DemudError::invalid(name, "must be at least 1"));
            }
        }
        self.neighbour_search.check()?;
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(DemudError::invalid(
                "temperature",
                format!("must be positive, got {}", self.temperature),
            ));
        }
        if head.dim() != d {
            return Err(DemudError::DimensionMismatch {
                what: "the linear head",
                expected: d,
                found: head.dim(),
            });
        }
        Ok(())
    }

    /// Fits what the measures need on the ID training set: `train` (one item per row),
    /// `labels[i] < head.n_classes()` (every class present), the head, and the class
    /// hierarchy if there is one (without it `taxon-distance` is skipped).
    pub fn fit(
        &self,
        train: ArrayView2<f64>,
        labels: &[usize],
        head: LinearHead,
        taxonomy: Option<Taxonomy>,
    ) -> Result<OodModel> {
        let (n, d) = train.dim();
        if n == 0 || d == 0 {
            return Err(DemudError::Empty {
                what: "the training set",
                items: n,
                features: d,
            });
        }
        self.check(n, d, &head)?;
        let n_classes = head.n_classes();
        check_labels(labels, n, n_classes)?;
        if let Some(t) = &taxonomy {
            if t.n_classes() != n_classes {
                return Err(DemudError::DimensionMismatch {
                    what: "the class hierarchy",
                    expected: n_classes,
                    found: t.n_classes(),
                });
            }
        }
        let plain = |items: ArrayView2<f64>, k: usize| {
            model_of_items(
                items,
                &DemudParams::new(k),
                &Conditioning::none(),
                MissingPolicy::Error,
            )
        };
        // One SVD gives the kNN space and the global PCA error (its leading columns).
        let pca = plain(train, self.knn_dims.max(self.pca_components))?;
        let mean = pca.model.mean().to_owned();
        let basis = pca.model.basis().to_owned();
        let knn_dims = self.knn_dims.min(basis.ncols());
        let pca_components = self.pca_components.min(basis.ncols());
        let train_unit = unit_rows((&train - &mean).dot(&basis.slice(s![.., ..knn_dims])));
        // k <= n and the search were checked above.
        let train_index = self.neighbour_search.index(train_unit.view(), self.k)?;
        let class_models = (0..n_classes)
            .map(|c| {
                let rows: Vec<usize> = (0..n).filter(|&i| labels[i] == c).collect();
                plain(train.select(Axis(0), &rows).view(), self.pca_components)
            })
            .collect::<Result<Vec<_>>>()?;
        let p = softmax(head.logits(train).view(), 1.0);
        let train_true_prob = labels.iter().enumerate().map(|(i, &l)| p[(i, l)]).collect();
        let demud = model_of_items(
            train,
            &DemudParams::new(self.demud_k),
            &self.conditioning,
            MissingPolicy::Error,
        )?;
        Ok(OodModel {
            params: self.clone(),
            mean,
            basis,
            knn_dims,
            pca_components,
            train_unit,
            train_index,
            labels: labels.to_vec(),
            n_classes,
            class_models,
            head,
            train_true_prob,
            demud,
            taxonomy,
        })
    }
}

/// Each row scaled to unit length (a zero row stays zero).
fn unit_rows(mut x: Array2<f64>) -> Array2<f64> {
    for mut row in x.rows_mut() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row.mapv_inplace(|v| v / norm);
        }
    }
    x
}

/// Index of the largest value (ties: the lowest index).
fn argmax(values: impl IntoIterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.into_iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// `−Σ p ln p` with `0 ln 0 = 0`.
fn entropy(p: impl IntoIterator<Item = f64>) -> f64 {
    -p.into_iter()
        .filter(|&v| v > 0.0)
        .map(|v| v * v.ln())
        .sum::<f64>()
}

/// What the measures know of the ID training set.
pub struct OodModel {
    params: OodParams,
    mean: Array1<f64>,
    basis: Array2<f64>,
    knn_dims: usize,
    pca_components: usize,
    train_unit: Array2<f64>,
    /// What finds the neighbours among `train_unit`'s rows.
    train_index: NeighbourIndex,
    labels: Vec<usize>,
    n_classes: usize,
    class_models: Vec<ModelState>,
    head: LinearHead,
    train_true_prob: Array1<f64>,
    demud: ModelState,
    taxonomy: Option<Taxonomy>,
}

/// The measures of a set of queries.
#[derive(Clone, Debug)]
pub struct MeasureTable {
    /// The measures computed, one per column of `values`.
    pub measures: Vec<Measure>,
    /// `queries x measures`.
    pub values: Array2<f64>,
    /// The head's predicted class of each query.
    pub predicted: Vec<usize>,
    /// Measures not computed, with the reason.
    pub skipped: Vec<(Measure, String)>,
}

impl MeasureTable {
    /// The column of `measure`, if computed.
    pub fn column(&self, measure: Measure) -> Option<ndarray::ArrayView1<'_, f64>> {
        self.measures
            .iter()
            .position(|&m| m == measure)
            .map(|j| self.values.column(j))
    }

    /// The rows `rows` of this table (same measures).
    pub fn select(&self, rows: &[usize]) -> MeasureTable {
        MeasureTable {
            measures: self.measures.clone(),
            values: self.values.select(Axis(0), rows),
            predicted: rows.iter().map(|&i| self.predicted[i]).collect(),
            skipped: self.skipped.clone(),
        }
    }

    /// This table with `other`'s rows appended (same measures).
    pub fn concat(&self, other: &MeasureTable) -> Result<MeasureTable> {
        if self.measures != other.measures {
            return Err(DemudError::invalid(
                "measures",
                "tables with different measures cannot be joined",
            ));
        }
        let values = ndarray::concatenate(Axis(0), &[self.values.view(), other.values.view()])
            .expect("same width");
        let mut predicted = self.predicted.clone();
        predicted.extend(&other.predicted);
        Ok(MeasureTable {
            measures: self.measures.clone(),
            values,
            predicted,
            skipped: self.skipped.clone(),
        })
    }
}

impl OodModel {
    /// Number of classes of the head.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Every measure that applies, for every query (row of `queries`, the training set's
    /// features).
    pub fn measures(&self, queries: ArrayView2<f64>) -> Result<MeasureTable> {
        let (nq, d) = queries.dim();
        if d != self.mean.len() {
            return Err(DemudError::DimensionMismatch {
                what: "the queries",
                expected: self.mean.len(),
                found: d,
            });
        }
        if let Some(((i, j), v)) = queries.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(DemudError::invalid(
                "queries",
                format!("item {i}, feature {j} is {v}; measures need finite features"),
            ));
        }
        let k = self.params.k;
        let measures: Vec<Measure> = Measure::ALL
            .into_iter()
            .filter(|&m| m != Measure::TaxonDistance || self.taxonomy.is_some())
            .collect();
        let skipped = if self.taxonomy.is_some() {
            vec![]
        } else {
            vec![(
                Measure::TaxonDistance,
                "no class hierarchy was given".to_string(),
            )]
        };
        let col = |m: Measure| measures.iter().position(|&x| x == m).expect("listed");
        let mut values = Array2::<f64>::zeros((nq, measures.len()));

        // Head.
        let logits = self.head.logits(queries);
        let p = softmax(logits.view(), 1.0);
        let pt = softmax(logits.view(), self.params.temperature);
        let predicted: Vec<usize> = p
            .rows()
            .into_iter()
            .map(|r| argmax(r.iter().copied()))
            .collect();

        // PCA coordinates: the kNN space and the global reconstruction error.
        let centred = &queries - &self.mean;
        let coords = centred.dot(&self.basis);
        let query_unit = unit_rows(coords.slice(s![.., ..self.knn_dims]).to_owned());
        let nb = self
            .train_index
            .most_similar(query_unit.view(), self.train_unit.view(), k)?;

        for (q, &head_class) in predicted.iter().enumerate() {
            let mut row = values.row_mut(q);
            let f = queries.row(q);
            // kNN distances δ = 1 − s, nearest first.
            let delta: Vec<f64> = nb.sim.row(q).iter().map(|s| 1.0 - s).collect();
            let avg = delta.iter().sum::<f64>() / k as f64;
            let members = self
                .train_unit
                .select(Axis(0), nb.idx.row(q).as_slice().expect("row"));
            let gram = members.dot(&members.t());
            let mut among = 0.0;
            for a in 0..k {
                for b in a + 1..k {
                    among += 1.0 - gram[(a, b)];
                }
            }
            among /= (k * (k - 1) / 2) as f64;
            row[col(Measure::Knn1st)] = delta[0];
            row[col(Measure::KnnKth)] = delta[k - 1];
            row[col(Measure::KnnAvg)] = avg;
            row[col(Measure::KnnAmong)] = among;
            // Neighbours that coincide give among = 0: the ratio is then as large as a
            // finite number allows, ordered by the query's own distance.
            row[col(Measure::Ldof)] = avg / among.max(1e-12);

            // Class votes of the neighbours.
            let mut votes = vec![0.0; self.n_classes];
            let mut true_prob = 0.0;
            for &j in nb.idx.row(q) {
                votes[self.labels[j]] += 1.0 / k as f64;
                true_prob += self.train_true_prob[j] / k as f64;
            }
            let h = entropy(votes.iter().copied());
            row[col(Measure::KnnVoteMax)] = votes.iter().copied().fold(0.0, f64::max);
            row[col(Measure::NeighbourEntropy)] = h;
            row[col(Measure::EnWeDi1st)] = delta[0] * (1.0 + h);
            row[col(Measure::EnWeDiAvg)] = avg * (1.0 + h);
            row[col(Measure::NeighbourTrueProb)] = true_prob;
            row[col(Measure::Msp)] = p.row(q).fold(0.0, |m: f64, &v| m.max(v));
            row[col(Measure::MspT2)] = pt.row(q).fold(0.0, |m: f64, &v| m.max(v));
            row[col(Measure::MeanProbMax)] = p
                .row(q)
                .iter()
                .zip(&votes)
                .map(|(a, b)| (a + b) / 2.0)
                .fold(0.0, f64::max);
            if let Some(t) = &self.taxonomy {
                let knn_class = argmax(votes.iter().copied());
                row[col(Measure::TaxonDistance)] = t.distance(head_class, knn_class) as f64;
            }

            // ||r||² = ||f − μ||² − Σ_{i < m} c_i² for an orthonormal basis.
            let c = coords.row(q);
            let kept = c.slice(s![..self.pca_components]);
            let c_row = centred.row(q);
            row[col(Measure::PcaError)] = (c_row.dot(&c_row) - kept.dot(&kept)).max(0.0);

            let abs_sum: f64 = f.iter().map(|v| v.abs()).sum();
            row[col(Measure::FeatureEntropy)] = if abs_sum > 0.0 {
                entropy(f.iter().map(|v| v.abs() / abs_sum))
            } else {
                0.0
            };
            row[col(Measure::FeatureSum)] = f.sum();
            row[col(Measure::FeatureNorm)] = f.dot(&f).sqrt();
        }

        // The predicted class's PCA error, each class's queries scored together.
        for c in 0..self.n_classes {
            let rows: Vec<usize> = (0..nq).filter(|&q| predicted[q] == c).collect();
            if rows.is_empty() {
                continue;
            }
            let scores = score_items(
                &self.class_models[c],
                queries.select(Axis(0), &rows).view(),
                &Scoring::default(),
                MissingPolicy::Error,
            )?;
            for (&q, s) in rows.iter().zip(scores) {
                values[(q, col(Measure::PcaClassError))] = s;
            }
        }
        let demud = score_items(
            &self.demud,
            queries,
            &Scoring::default(),
            MissingPolicy::Error,
        )?;
        values.column_mut(col(Measure::Demud)).assign(&demud);
        Ok(MeasureTable {
            measures,
            values,
            predicted,
            skipped,
        })
    }
}

/// The three kinds of query of the COOD paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// An ID item the head classifies correctly.
    IdCorrect,
    /// An ID item the head gets wrong.
    IdIncorrect,
    /// An out-of-distribution item.
    Ood,
}

impl Category {
    /// The category's name in tables and files.
    pub fn name(self) -> &'static str {
        match self {
            Category::IdCorrect => "id-correct",
            Category::IdIncorrect => "id-incorrect",
            Category::Ood => "ood",
        }
    }
}

/// What is detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// OOD items among all ID items (the forest's own task).
    OodVsId,
    /// Items not to trust, OOD or ID-incorrect, among ID-correct ones.
    UntrustedVsCorrect,
}

impl Task {
    /// Both tasks.
    pub const ALL: [Task; 2] = [Task::OodVsId, Task::UntrustedVsCorrect];

    /// The task's name in tables and files.
    pub fn name(self) -> &'static str {
        match self {
            Task::OodVsId => "ood-vs-id",
            Task::UntrustedVsCorrect => "untrusted-vs-correct",
        }
    }

    /// Whether `category` is a positive of this task.
    pub fn positive(self, category: Category) -> bool {
        match self {
            Task::OodVsId => category == Category::Ood,
            Task::UntrustedVsCorrect => category != Category::IdCorrect,
        }
    }
}

/// One line of the results: a measure (or the forest, `measure = None`) on a task.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRow {
    /// The task.
    pub task: Task,
    /// The measure; `None` for the forest.
    pub measure: Option<Measure>,
    /// Its metrics on the evaluation half.
    pub metrics: Metrics,
    /// Its ROC curve on the evaluation half.
    pub roc: Roc,
}

impl ScoreRow {
    /// The row's name: the measure's, or `forest`.
    pub fn name(&self) -> &'static str {
        self.measure.map_or("forest", Measure::name)
    }
}

/// The evaluation of the measures and the forest.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Whether each query is scored: the held-out share of a [`ForestSplit::Holdout`] (the
    /// others trained the forest), every query under [`ForestSplit::CrossFit`].
    pub scored: Vec<bool>,
    /// The forest's vote fraction for every query: out of fold under cross-fitting; under a
    /// holdout, in-sample for the queries that trained it.
    pub forest_scores: Array1<f64>,
    /// Every measure and the forest on every task, measures in table order, forest last.
    pub rows: Vec<ScoreRow>,
}

impl Evaluation {
    /// The rows of a task.
    pub fn task(&self, task: Task) -> impl Iterator<Item = &ScoreRow> {
        self.rows.iter().filter(move |r| r.task == task)
    }

    /// The single measure with the highest TPR@1%FPR on `task` (ties: higher AUROC, then
    /// table order).
    pub fn best_single(&self, task: Task) -> Option<&ScoreRow> {
        self.task(task)
            .filter(|r| r.measure.is_some())
            .fold(None, |best: Option<&ScoreRow>, r| match best {
                Some(b)
                    if (b.metrics.tpr_at_fpr, b.metrics.auroc)
                        >= (r.metrics.tpr_at_fpr, r.metrics.auroc) =>
                {
                    Some(b)
                }
                _ => Some(r),
            })
    }

    /// The forest's row on `task`.
    pub fn forest(&self, task: Task) -> Option<&ScoreRow> {
        self.task(task).find(|r| r.measure.is_none())
    }
}

impl OodParams {
    /// Shares the queries of `table` between training the forest and scoring as
    /// [`ForestSplit`] says (seeded, stratified by ID / OOD), trains it, and scores every
    /// measure and the forest on the scored queries for each [`Task`].
    pub fn evaluate(&self, table: &MeasureTable, categories: &[Category]) -> Result<Evaluation> {
        let n = table.values.nrows();
        if categories.len() != n {
            return Err(DemudError::DimensionMismatch {
                what: "the categories",
                expected: n,
                found: categories.len(),
            });
        }
        // Each query's fold: under a holdout, fold 0 trains the forest and fold 1 is scored.
        let folds = match self.forest_split {
            ForestSplit::Holdout { fraction } if !(fraction > 0.0 && fraction < 1.0) => {
                return Err(DemudError::invalid(
                    "forest_fraction",
                    format!("must be in (0, 1), got {fraction}"),
                ));
            }
            ForestSplit::Holdout { .. } => 2,
            ForestSplit::CrossFit { folds } if folds < 2 => {
                return Err(DemudError::invalid(
                    "forest_folds",
                    format!("{folds} fold(s): cross-fitting needs at least 2"),
                ));
            }
            ForestSplit::CrossFit { folds } => folds,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        let mut fold = vec![0; n];
        for ood in [false, true] {
            let mut group: Vec<usize> = (0..n)
                .filter(|&i| (categories[i] == Category::Ood) == ood)
                .collect();
            let size = group.len();
            let kind = if ood {
                "out-of-distribution"
            } else {
                "in-distribution"
            };
            group.shuffle(&mut rng);
            match self.forest_split {
                ForestSplit::Holdout { fraction } => {
                    let take = (fraction * size as f64).round() as usize;
                    if take == 0 || take == size {
                        return Err(DemudError::invalid(
                            "forest_fraction",
                            format!(
                                "{take} of {size} {kind} items leaves none to {}",
                                if take == 0 {
                                    "train the forest"
                                } else {
                                    "evaluate"
                                }
                            ),
                        ));
                    }
                    for &i in &group[take..] {
                        fold[i] = 1;
                    }
                }
                ForestSplit::CrossFit { folds } => {
                    if size < folds {
                        return Err(DemudError::invalid(
                            "forest_folds",
                            format!(
                                "{folds} folds need at least {folds} {kind} items; there are {size}"
                            ),
                        ));
                    }
                    for (r, &i) in group.iter().enumerate() {
                        fold[i] = r % folds;
                    }
                }
            }
        }
        let is_ood: Vec<bool> = categories.iter().map(|&c| c == Category::Ood).collect();
        let mut forest_scores = Array1::<f64>::zeros(n);
        // The forests: one trained on fold 0 scoring everyone (holdout), or one per fold
        // trained on the others and scoring that fold (cross-fit).
        let scored_folds: Vec<usize> = match self.forest_split {
            ForestSplit::Holdout { .. } => vec![1],
            ForestSplit::CrossFit { .. } => (0..folds).collect(),
        };
        for &f in &scored_folds {
            let train: Vec<usize> = (0..n).filter(|&i| fold[i] != f).collect();
            let out: Vec<bool> = train.iter().map(|&i| is_ood[i]).collect();
            let forest = self
                .forest
                .fit(table.values.select(Axis(0), &train).view(), &out)?;
            let votes = forest.vote_fractions(table.values.view())?;
            match self.forest_split {
                // In-sample votes for the training items too (measures.csv lists them).
                ForestSplit::Holdout { .. } => forest_scores = votes,
                ForestSplit::CrossFit { .. } => {
                    for i in (0..n).filter(|&i| fold[i] == f) {
                        forest_scores[i] = votes[i];
                    }
                }
            }
        }
        let scored: Vec<bool> = (0..n).map(|i| scored_folds.contains(&fold[i])).collect();
        let held: Vec<usize> = (0..n).filter(|&i| scored[i]).collect();

        let mut rows = Vec::new();
        for task in Task::ALL {
            let positive: Vec<bool> = held.iter().map(|&i| task.positive(categories[i])).collect();
            let mut add = |measure: Option<Measure>, scores: Vec<f64>| -> Result<()> {
                let roc = roc_curve(&scores, &positive)?;
                rows.push(ScoreRow {
                    task,
                    measure,
                    metrics: roc.metrics(),
                    roc,
                });
                Ok(())
            };
            for (j, &m) in table.measures.iter().enumerate() {
                add(
                    Some(m),
                    held.iter()
                        .map(|&i| m.oriented(table.values[(i, j)]))
                        .collect(),
                )?;
            }
            add(None, held.iter().map(|&i| forest_scores[i]).collect())?;
        }
        Ok(Evaluation {
            scored,
            forest_scores,
            rows,
        })
    }
}

#[cfg(test)]
mod tests;
