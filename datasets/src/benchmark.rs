//! The benchmark folder: one typed record per finished cell of a discovery benchmark (the
//! papers' Table 1: label sets x variants x feature kinds x methods), so that a benchmark can
//! be stopped and resumed without recomputing a finished cell, and tables are built from the
//! records alone.
//!
//! ```text
//! <out>/cells/<labels>/<variant>/<features>/<method>.json   CellRecord
//! <out>/features/<kind>.npy (+ .items.csv)                    features extracted by the benchmark
//! ```
//!
//! A cell is identified by its [`CellKey`]; its record also holds the fingerprint of the
//! features and labels it was computed from, and a record whose fingerprint or key differs
//! from the cell asked for is recomputed, never reused.

use crate::error::{DataError, Result};
use crate::features::{FeatureMatrix, MatrixVisitor};
use demud::evaluation::{class_codes, discovery_curve, nauc, unbalanced_subset};
use demud::peers::{self, PeerMethod};
use demud::{Conditioning, DemudParams, Element, SelectionRule, UpdateMethod};
use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` of a cell record.
pub const CELL_FORMAT: &str = "demud-benchmark-cell";
/// The version this build writes and reads.
pub const CELL_VERSION: u32 = 1;

/// Which items of the collection a cell ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Variant {
    /// Every item.
    Full,
    /// Half of the classes (seeded) cut to one item each
    /// ([`demud::evaluation::unbalanced_subset`]).
    Unbalanced {
        /// The seed of the cut.
        seed: u64,
    },
}

impl Variant {
    /// `full` or `unbalanced`.
    pub fn name(&self) -> &'static str {
        match self {
            Variant::Full => "full",
            Variant::Unbalanced { .. } => "unbalanced",
        }
    }

    /// The kept item indices (ascending) for items of these class codes.
    pub fn items(&self, classes: &[usize]) -> Vec<usize> {
        match self {
            Variant::Full => (0..classes.len()).collect(),
            Variant::Unbalanced { seed } => unbalanced_subset(classes, *seed),
        }
    }
}

/// A ranking method of the benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Method {
    /// DEMUD (`brand`, `svd` init) with k principal components.
    Demud {
        /// Principal components.
        k: usize,
    },
    /// DEMUD with [`SelectionRule::Isolated`]: after `warmup` picks, every other pick is the
    /// most isolated remaining item.
    #[serde(rename = "demud-isolated")]
    DemudIsolated {
        /// Principal components.
        k: usize,
        /// Picks by DEMUD alone first.
        warmup: usize,
        /// The neighbour whose distance measures isolation.
        neighbours: usize,
    },
    /// The papers' SVD baseline: one top-k SVD of the collection, items ranked once.
    Static {
        /// Principal components.
        k: usize,
    },
    /// A peer method ([`demud::peers`]).
    Peer {
        /// The method and its parameters.
        peer: PeerMethod,
    },
}

impl Method {
    /// A short name for tables and file names: `demud-k50`, `static-k50`, `rx`, ...
    pub fn name(&self) -> String {
        match self {
            Method::Demud { k } => format!("demud-k{k}"),
            Method::DemudIsolated {
                k,
                warmup,
                neighbours,
            } => format!("demud-isolated-k{k}-w{warmup}-n{neighbours}"),
            Method::Static { k } => format!("static-k{k}"),
            Method::Peer { peer } => peer.name().to_string(),
        }
    }

    /// The method by its short name (`demud`, `demud-isolated` (warm-up 50, 5th neighbour),
    /// `static`, or a peer's), with `k` components for the SVD methods.
    pub fn from_name(name: &str, k: usize) -> std::result::Result<Self, String> {
        match name {
            "demud" => Ok(Method::Demud { k }),
            "demud-isolated" => Ok(Method::DemudIsolated {
                k,
                warmup: 50,
                neighbours: 5,
            }),
            "static" => Ok(Method::Static { k }),
            other => PeerMethod::from_name(other)
                .map(|peer| Method::Peer { peer })
                .map_err(|_| {
                    format!(
                        "unknown method {other:?}: the methods are demud, demud-isolated, static, {}",
                        PeerMethod::NAMES.join(", ")
                    )
                }),
        }
    }
}

/// What a cell computes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellKey {
    /// The name of the label set.
    pub labels: String,
    /// Which items.
    pub variant: Variant,
    /// The name of the feature kind.
    pub features: String,
    /// How the features are conditioned (fitted on the cell's items) before ranking.
    pub conditioning: Conditioning,
    /// The ranking method.
    pub method: Method,
    /// Selections made.
    pub n_select: usize,
    /// Seed of the seeded methods.
    pub seed: u64,
}

impl CellKey {
    /// `<labels>/<variant>/<features>/<method>[-<conditioning>].json`, with characters outside
    /// `[A-Za-z0-9._-]` replaced by `_`.
    pub fn relative_path(&self) -> PathBuf {
        let method = if self.conditioning.is_none() {
            self.method.name()
        } else {
            format!("{}-{}", self.method.name(), self.conditioning)
        };
        [
            self.labels.as_str(),
            self.variant.name(),
            self.features.as_str(),
            &format!("{method}.json"),
        ]
        .iter()
        .map(|part| sanitise(part))
        .collect()
    }
}

fn sanitise(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// nAUC and classes found at one t.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtT {
    /// Selections.
    pub t: usize,
    /// nAUC_t (percent).
    pub nauc: f64,
    /// Classes found in the first t selections.
    pub found: usize,
}

/// A finished cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// Always [`CELL_FORMAT`].
    pub format: String,
    /// [`CELL_VERSION`].
    pub version: u32,
    /// What was computed.
    pub key: CellKey,
    /// The identity of the features and labels it was computed from ([`Inputs::fingerprint`]).
    pub inputs: String,
    /// Items ranked (the variant's).
    pub n_items: usize,
    /// Classes among them.
    pub n_classes: usize,
    /// The picks' ids, in order.
    pub picks: Vec<String>,
    /// nAUC and classes found at each t asked for (t clamped to the picks made).
    pub at: Vec<AtT>,
    /// Seconds the ranking took (conditioning included).
    pub seconds: f64,
}

impl CellRecord {
    /// The discovery curve of the picks under `label_of` (id -> label).
    pub fn curve<'a>(&self, label_of: impl Fn(&str) -> &'a str) -> Vec<f64> {
        discovery_curve(self.picks.iter().map(|id| label_of(id)))
    }
}

/// The features and labels a benchmark ranks.
pub struct Inputs<'a> {
    /// Item ids, one per row.
    pub ids: &'a [String],
    /// Labels, one per row.
    pub labels: &'a [String],
    /// The features.
    pub matrix: &'a FeatureMatrix,
    /// The identity of features and labels (for example a features fingerprint and a labels
    /// file hash), stored in every record and compared when resuming.
    pub fingerprint: String,
}

impl Inputs<'_> {
    /// The identity stored in cell records.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// The record of `key` under `dir` when it exists and was computed from the same inputs;
/// `None` when the cell must be (re)computed. A record that cannot be read is an error naming
/// it (delete it to recompute).
pub fn finished_cell(dir: &Path, key: &CellKey, inputs: &Inputs) -> Result<Option<CellRecord>> {
    let path = dir.join(key.relative_path());
    if !path.exists() {
        return Ok(None);
    }
    let record: CellRecord = crate::run::read_json(&path, CELL_FORMAT, CELL_VERSION)?;
    Ok((record.key == *key && record.inputs == inputs.fingerprint).then_some(record))
}

/// Writes a cell record under `dir`, atomically.
pub fn write_cell(dir: &Path, record: &CellRecord) -> Result<PathBuf> {
    let path = dir.join(record.key.relative_path());
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| DataError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    crate::run::write_json(&path, record)?;
    Ok(path)
}

/// Computes a cell: the variant's items, conditioned (fitted on those items), ranked by the
/// method, scored against the labels at each t of `at`.
pub fn compute_cell(key: &CellKey, inputs: &Inputs, at: &[usize]) -> Result<CellRecord> {
    let started = std::time::Instant::now();
    let (codes, _) = class_codes(inputs.labels);
    let items = key.variant.items(&codes);
    struct Rank<'a> {
        key: &'a CellKey,
        items: &'a [usize],
    }
    impl MatrixVisitor for Rank<'_> {
        type Output = demud::Result<Vec<usize>>;
        fn visit<T: Element>(self, data: ArrayView2<'_, T>) -> Self::Output {
            rank(self.key, data, self.items)
        }
    }
    let order = inputs
        .matrix
        .visit(Rank { key, items: &items })
        .map_err(|source| DataError::Engine {
            path: key.relative_path(),
            at: String::new(),
            source,
        })?;
    let seconds = started.elapsed().as_secs_f64();
    let labels: Vec<&str> = items.iter().map(|&i| inputs.labels[i].as_str()).collect();
    let n_classes = class_codes(&labels).1;
    let picked: Vec<&str> = order.iter().map(|&j| labels[j]).collect();
    let curve = discovery_curve(picked.iter());
    let at = scores_at(&curve, n_classes, at).map_err(|source| DataError::Engine {
        path: key.relative_path(),
        at: String::new(),
        source,
    })?;
    Ok(CellRecord {
        format: CELL_FORMAT.into(),
        version: CELL_VERSION,
        key: key.clone(),
        inputs: inputs.fingerprint.clone(),
        n_items: items.len(),
        n_classes,
        picks: order
            .iter()
            .map(|&j| inputs.ids[items[j]].clone())
            .collect(),
        at,
        seconds,
    })
}

/// nAUC and classes found of a discovery curve at each t of `at`, t clamped to the curve's
/// length (a cell of fewer items than t). Tables compute them from a record's picks, so a
/// record serves any list of t up to its number of picks.
pub fn scores_at(curve: &[f64], n_classes: usize, at: &[usize]) -> demud::Result<Vec<AtT>> {
    at.iter()
        .map(|&t| {
            let t = t.min(curve.len());
            Ok(AtT {
                t,
                nauc: nauc(curve, n_classes, t)?,
                found: curve[t.max(1) - 1] as usize,
            })
        })
        .collect()
}

/// Keeps `[A-Za-z0-9._-]` of a name and writes `_` for anything else, for file names.
pub fn file_name_part(part: &str) -> String {
    sanitise(part)
}

/// The order (positions within `items`) in which the method picks the items.
fn rank<T: Element>(
    key: &CellKey,
    data: ArrayView2<T>,
    items: &[usize],
) -> demud::Result<Vec<usize>> {
    let subset = data.select(Axis(0), items);
    let conditioned = key
        .conditioning
        .fit(subset.view())?
        .transform(subset.view())?;
    let n = key.n_select.min(items.len());
    Ok(match &key.method {
        Method::Demud { .. } | Method::DemudIsolated { .. } | Method::Static { .. } => {
            let (k, update, rule) = match key.method {
                Method::Demud { k } => (k, UpdateMethod::Brand, SelectionRule::Residual),
                Method::DemudIsolated {
                    k,
                    warmup,
                    neighbours,
                } => (
                    k,
                    UpdateMethod::Brand,
                    SelectionRule::Isolated { warmup, neighbours },
                ),
                Method::Static { k } => (k, UpdateMethod::Static, SelectionRule::Residual),
                Method::Peer { .. } => unreachable!("peers are ranked below"),
            };
            // At most half the conditioned features (whitening may have kept few).
            DemudParams::new(k.min((conditioned.ncols() / 2).max(1)))
                .update(update)
                .selection(rule)
                .n_select(n)
                .seed(key.seed)
                .discover(conditioned.view())?
                .map(|s| s.map(|s| s.index))
                .collect::<demud::Result<Vec<_>>>()?
        }
        Method::Peer { peer } => {
            let data = conditioned.mapv(|v| v.to_f64());
            peers::rank(peer, data.view(), n, key.seed)?
                .into_iter()
                .map(|r| r.index)
                .collect()
        }
    })
}
