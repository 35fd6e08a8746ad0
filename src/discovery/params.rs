//! Validated parameters of a discovery run.

use crate::error::{DemudError, Result};
use crate::model::{SubspaceModel, SvdMethod};
use crate::scoring::{Interest, MissingPolicy, ScoreMethod, Scoring};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// How the model is updated after each selection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateMethod {
    /// Brand (2002) incremental SVD (reference `increm-brand`), with the fast score update.
    #[default]
    Brand,
    /// Top-k SVD of all selected items, recomputed each time (reference `full`).
    Full,
    /// Ross et al. (2008) incremental SVD with mean tracking, implemented correctly.
    Ross,
    /// One SVD of the whole collection; items ranked once by score (the papers' "SVD" baseline).
    Static,
}

/// How the first selection is made (reference `--init-item`), or which model to start from.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// That item (0-based) is the first selection, with score 0.
    Index(usize),
    /// The item with the largest score under the top-k SVD of the whole collection.
    Svd,
    /// The item farthest from the collection mean.
    Mean,
    /// A random item drawn with the run's seed.
    Random,
    /// Start from the SVD of these prior items (one per row); they are never candidates.
    Prior(Array2<f64>),
    /// Start from a saved model (a previous run's state).
    Model(SubspaceModel),
}

/// Which remaining item each selection takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "lowercase")]
pub enum SelectionRule {
    /// DEMUD: always the item the model explains worst.
    #[default]
    Residual,
    /// DEMUD for the first `warmup` selections, then every other selection takes the
    /// remaining item farthest from its `neighbours`-th nearest neighbour in the whole
    /// collection (the most isolated), and the rest DEMUD's pick. Every pick still enters the
    /// model and is explained by it. Isolated items are what a rare class of one or two items
    /// looks like, which DEMUD's residual (relative to the items already picked) does not seek:
    /// on the emoji benchmark this finds more classes when half of them are single items, at a
    /// cost of a few points when classes are large. Needs the exact neighbour distances of all
    /// items once: O(n^2 d) before the first selection.
    Isolated {
        /// Selections made by DEMUD alone first.
        warmup: usize,
        /// The neighbour whose distance measures isolation.
        neighbours: usize,
    },
}

/// Reproduce the reference implementation's quirks, or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compatibility {
    /// The clean algorithm: rank-0 model without basis, null directions dropped.
    #[default]
    Clean,
    /// wkiri/DEMUD's behaviour: rank-0 model stored as `e_0` with singular value 0, and `full`
    /// keeping `min(k, m)` directions. Makes `brand` runs identical item for item.
    Reference,
}

/// How scores are kept up to date between selections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScorePath {
    /// The fast update (one pass over the data plus O(n k^2) per selection) whenever it
    /// applies (`brand`/`ross`, `lowhigh`, no weights, no missing values), exact otherwise.
    #[default]
    Auto,
    /// Re-project every remaining item each selection (O(n d k)), as the reference does.
    Exact,
}

/// Parameters of a DEMUD run. Build with [`DemudParams::new`] and the setters; they are
/// checked against the collection when the run starts.
#[derive(Clone, Debug, PartialEq)]
pub struct DemudParams {
    pub(crate) k: usize,
    pub(crate) n_select: Option<usize>,
    pub(crate) init: Init,
    pub(crate) update: UpdateMethod,
    pub(crate) scoring: Scoring,
    pub(crate) missing: MissingPolicy,
    pub(crate) compat: Compatibility,
    pub(crate) path: ScorePath,
    pub(crate) refresh_every: usize,
    pub(crate) seed: u64,
    pub(crate) svd: SvdMethod,
    pub(crate) rule: SelectionRule,
    pub(crate) seen: Vec<usize>,
    pub(crate) withheld: Vec<usize>,
}

impl DemudParams {
    /// Default parameters with `k` principal components: `svd` init, `brand` update, `lowhigh`
    /// scores, missing values refused, clean model, fast path refreshed every 256 selections.
    pub fn new(k: usize) -> Self {
        DemudParams {
            k,
            n_select: None,
            init: Init::Svd,
            update: UpdateMethod::Brand,
            scoring: Scoring::default(),
            missing: MissingPolicy::Error,
            compat: Compatibility::Clean,
            path: ScorePath::Auto,
            refresh_every: 256,
            seed: 0,
            svd: SvdMethod::Auto,
            rule: SelectionRule::Residual,
            seen: Vec::new(),
            withheld: Vec::new(),
        }
    }
    /// Number of selections to make (default: every item).
    pub fn n_select(mut self, n: usize) -> Self {
        self.n_select = Some(n);
        self
    }
    /// First selection or starting model.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
    /// Model update method.
    pub fn update(mut self, update: UpdateMethod) -> Self {
        self.update = update;
        self
    }
    /// Score method.
    pub fn score(mut self, method: ScoreMethod) -> Self {
        self.scoring = Scoring {
            method,
            ..self.scoring
        };
        self
    }
    /// Per-feature weights (non-negative, one per feature).
    pub fn weights(mut self, weights: Array1<f64>) -> Self {
        self.scoring = self.scoring.with_weights(weights);
        self
    }
    /// Scores the candidates by a class of interest's novel directions ([`Interest`]): their
    /// look-alikes ranked up or down. Needs the plain `lowhigh` score without weights.
    pub fn interest(mut self, interest: Interest) -> Self {
        self.scoring = self.scoring.with_interest(interest);
        self
    }
    /// Items (0-based) a reviewer has already seen and found uninteresting: added to the
    /// starting model in this order, as if DEMUD had selected them, and never candidates.
    /// Needs a starting model (a prior data set or a saved model) and an incremental update
    /// (`brand` or `ross`).
    pub fn seen(mut self, items: Vec<usize>) -> Self {
        self.seen = items;
        self
    }
    /// Items (0-based) that are never candidates and do not enter the model (for example the
    /// items kept as a class of interest).
    pub fn withheld(mut self, items: Vec<usize>) -> Self {
        self.withheld = items;
        self
    }
    /// Missing-value policy.
    pub fn missing(mut self, policy: MissingPolicy) -> Self {
        self.missing = policy;
        self
    }
    /// Reference compatibility switch.
    pub fn compat(mut self, compat: Compatibility) -> Self {
        self.compat = compat;
        self
    }
    /// Fast or exact score maintenance.
    pub fn path(mut self, path: ScorePath) -> Self {
        self.path = path;
        self
    }
    /// Recompute the fast path's per-item state exactly every this many selections
    /// (0: never), bounding rounding drift.
    pub fn refresh_every(mut self, selections: usize) -> Self {
        self.refresh_every = selections;
        self
    }
    /// Which remaining item each selection takes (default: DEMUD's residual).
    pub fn selection(mut self, rule: SelectionRule) -> Self {
        self.rule = rule;
        self
    }
    /// Seed of the `random` initialisation and of the randomized SVD.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// How the top-k SVD of the whole collection (the `svd` init, `static`) and of a prior
    /// data set is computed (default: [`SvdMethod::Auto`], randomized for large collections).
    pub fn svd(mut self, method: SvdMethod) -> Self {
        self.svd = method;
        self
    }

    /// Number of principal components.
    pub fn k(&self) -> usize {
        self.k
    }
    /// The update method.
    pub fn update_method(&self) -> UpdateMethod {
        self.update
    }
    /// The scoring.
    pub fn scoring(&self) -> &Scoring {
        &self.scoring
    }
    /// The compatibility switch.
    pub fn compatibility(&self) -> Compatibility {
        self.compat
    }
    /// The same parameters with `k` principal components.
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// The first selection or starting model.
    pub fn initial(&self) -> &Init {
        &self.init
    }
    /// The missing-value policy.
    pub fn missing_policy(&self) -> MissingPolicy {
        self.missing
    }
    /// The score path.
    pub fn score_path(&self) -> ScorePath {
        self.path
    }
    /// The fast path's exact refresh interval.
    pub fn refresh_interval(&self) -> usize {
        self.refresh_every
    }
    /// The seed of the random init and of the randomized SVD.
    pub fn seed_value(&self) -> u64 {
        self.seed
    }
    /// How the SVD of a whole collection is computed.
    pub fn svd_method(&self) -> SvdMethod {
        self.svd
    }
    /// The selection rule.
    pub fn selection_rule(&self) -> SelectionRule {
        self.rule
    }

    /// Checks the parameters against a collection of `n` items with `d` features.
    pub(crate) fn check(&self, n: usize, d: usize) -> Result<()> {
        if n == 0 || d == 0 {
            return Err(DemudError::Empty {
                what: "the collection",
                items: n,
                features: d,
            });
        }
        if self.k == 0 {
            return Err(DemudError::invalid("k", "must be at least 1"));
        }
        if self.k > d {
            return Err(DemudError::invalid(
                "k",
                format!("k = {} exceeds the number of features d = {d}: the model cannot have more than d directions", self.k),
            ));
        }
        if self.n_select == Some(0) {
            return Err(DemudError::invalid("n", "must select at least 1 item"));
        }
        if let Some(w) = self.scoring.weights() {
            if w.len() != d {
                return Err(DemudError::DimensionMismatch {
                    what: "the feature weights",
                    expected: d,
                    found: w.len(),
                });
            }
            if let Some((j, v)) = w
                .iter()
                .enumerate()
                .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
            {
                return Err(DemudError::invalid(
                    "weights",
                    format!("weight of feature {j} is {v}; weights must be finite and >= 0"),
                ));
            }
        }
        self.check_review(n, d)?;
        match &self.init {
            Init::Index(i) if *i >= n => {
                return Err(DemudError::invalid(
                    "init",
                    format!(
                        "item index {i} is out of range: the collection has {n} items (0-based)"
                    ),
                ))
            }
            Init::Prior(prior) => {
                if prior.nrows() == 0 {
                    return Err(DemudError::Empty {
                        what: "the prior data set",
                        items: 0,
                        features: prior.ncols(),
                    });
                }
                if prior.ncols() != d {
                    return Err(DemudError::DimensionMismatch {
                        what: "the prior data set",
                        expected: d,
                        found: prior.ncols(),
                    });
                }
                if let Some(((i, j), _)) = prior.indexed_iter().find(|(_, v)| !v.is_finite()) {
                    return Err(DemudError::invalid(
                        "prior",
                        format!("prior item {i}, feature {j} is not a finite number"),
                    ));
                }
            }
            Init::Model(model) => {
                if model.dim() != d {
                    return Err(DemudError::DimensionMismatch {
                        what: "the model",
                        expected: d,
                        found: model.dim(),
                    });
                }
                model.validate()?;
                if self.update == UpdateMethod::Full {
                    return Err(DemudError::invalid(
                        "update",
                        "`full` recomputes the SVD of every modelled item, which a saved model does not hold: continue a saved model with `brand` or `ross`, or give the items as a prior data set",
                    ));
                }
            }
            _ => {}
        }
        if let SelectionRule::Isolated { neighbours, .. } = self.rule {
            if self.update == UpdateMethod::Static {
                return Err(DemudError::invalid(
                    "selection",
                    "`static` ranks every item once by one model: the isolated-item rule needs DEMUD's updates",
                ));
            }
            if neighbours == 0 || neighbours >= n {
                return Err(DemudError::invalid(
                    "selection",
                    format!("isolation is measured by the distance to the k-th nearest neighbour, 1 <= k < n; k = {neighbours} with n = {n} items"),
                ));
            }
        }
        if self.update == UpdateMethod::Static
            && matches!(self.init, Init::Index(_) | Init::Mean | Init::Random)
        {
            return Err(DemudError::invalid(
                "init",
                "`static` ranks every item by one SVD model: use the `svd` init, a prior data set or a saved model",
            ));
        }
        Ok(())
    }
}

impl DemudParams {
    /// Checks the reviewer's feedback: seen and withheld items in range and listed once, a
    /// model to add seen items to, a candidate left, and a class of interest that fits.
    fn check_review(&self, n: usize, d: usize) -> Result<()> {
        let mut listed = vec![false; n];
        for (what, items) in [("seen", &self.seen), ("withheld", &self.withheld)] {
            for &i in items {
                if i >= n {
                    return Err(DemudError::invalid(
                        what,
                        format!("item index {i} is out of range: the collection has {n} items (0-based)"),
                    ));
                }
                if std::mem::replace(&mut listed[i], true) {
                    return Err(DemudError::invalid(
                        what,
                        format!("item {i} is listed twice among the seen and withheld items"),
                    ));
                }
            }
        }
        if !self.seen.is_empty() {
            if !matches!(self.init, Init::Prior(_) | Init::Model(_)) {
                return Err(DemudError::invalid(
                    "seen",
                    "seen items are added to the model a run starts from: give a prior data set or a saved model",
                ));
            }
            if !matches!(self.update, UpdateMethod::Brand | UpdateMethod::Ross) {
                return Err(DemudError::invalid(
                    "seen",
                    "seen items are added to the model by an incremental update: use `brand` or `ross`",
                ));
            }
        }
        if listed.iter().all(|&l| l) {
            return Err(DemudError::invalid(
                "seen",
                format!("all {n} items are seen or withheld: nothing is left to rank"),
            ));
        }
        if let Some(interest) = self.scoring.interest() {
            if self.scoring.method() != ScoreMethod::LowHigh || self.scoring.weights().is_some() {
                return Err(DemudError::invalid(
                    "interest",
                    "a class of interest splits the plain score: use `lowhigh` without weights",
                ));
            }
            if interest.basis().nrows() != d {
                return Err(DemudError::DimensionMismatch {
                    what: "the class of interest",
                    expected: d,
                    found: interest.basis().nrows(),
                });
            }
        }
        Ok(())
    }
}
