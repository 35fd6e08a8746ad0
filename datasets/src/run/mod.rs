//! The run folder: every file a discovery run and the steps after it write, each with one
//! typed record, one writer and one reader.
//!
//! ```text
//! <run>/run.json            RunRecord: parameters (engine types), data shape, inputs
//! <run>/selections.csv      SelectionRow per selection, in order
//! <run>/top_features.csv    TopFeatureRow: per selection, the largest residuals
//! <run>/expected.npy        n_selected x d (f64): expected content x̂ of each selection
//! <run>/residual.npy        n_selected x d (f64): novel content e = x - x̂
//! <run>/conditioner.json    the fitted conditioning, when the run conditioned its features
//! <run>/ranked_expected.npy n_selected x d' (f64): x̂ in the space DEMUD ranked (conditioned)
//! <run>/ranked_residual.npy n_selected x d' (f64): e in that space (what the score is made of)
//! <run>/maps/               MapsFolder: maps.json, maps.csv, map-<kind>.npy, overlays
//! <run>/render/             RenderFolder: render.json, renders.csv, NNNN-<view>.png,
//!                           contact_sheet.png, decoded_{features,expected,novel}.npy,
//!                           localisation.csv / localisation.json once scored
//! ```
//!
//! Paths stored in a record are relative to the folder holding it, so a run folder can be
//! moved (with its inputs) or opened from any working directory. A run and a render folder are
//! each written whole ([`crate::atomic::commit_folder`]): the folder holds the previous complete
//! run or the new one, never a mix; a discovery streams its explanation arrays into the staging
//! folder as it makes its selections ([`RunWriter`], [`run_discovery_to`]). Readers check that
//! what they read belongs to the run (item count, ids, selection order) and name the file that
//! disagrees.

mod audit;
mod discover;
mod distributed;
mod localisation;
mod maps;
mod render;
mod replay;
mod review;
mod stream;

pub use audit::{
    audit_rows, write_audit, AuditFeatureRow, AuditNames, AuditNeighbourRow, AuditRecord, AuditRow,
};
pub use discover::{
    default_conditioning_of, read_model_state, read_saved_model, read_weights, run_discovery,
    run_discovery_into, run_discovery_to, write_model_state, write_saved_model, DiscoveryInputs,
    DiscoveryOutputs, DiscoverySettings, Finished, RankedFrom, SavedModel,
};
pub use distributed::{DistributedRun, KeptPick, KeptSelections};

pub use localisation::{
    read_localisation, write_localisation, LocalisationReport, LocalisationRow, MapKind,
    MapSummary, PlantedScore, RemovalKind, LOCALISATION_CSV, LOCALISATION_FORMAT,
    LOCALISATION_JSON, LOCALISATION_VERSION,
};
pub use maps::{
    colour_bar_file, map_array_file, map_image_file, overlay_file, write_maps, MapRow, MapScale,
    MapsFolder, MapsRecord, NewMaps, MAPS_DIR, MAPS_FILE, MAPS_FORMAT, MAPS_ROWS_FILE,
    MAPS_VERSION,
};
pub use render::{
    write_render, DecodedViews, DecoderSummary, NewRender, RenderFolder, RenderRecord, RenderRow,
    CONTACT_SHEET_FILE, DECODED_EXPECTED_FILE, DECODED_FEATURES_FILE, DECODED_NOVEL_FILE,
    RENDERS_FILE, RENDER_FILE, RENDER_FORMAT, RENDER_VERSION,
};
pub use replay::{replay, Replay};
pub use review::Review;
pub use stream::{ExplanationArrays, ExplanationRow, ExplanationSink, RunWriter};

use crate::atomic::{commit_folder, write_atomic};
use crate::error::{DataError, Result};
use crate::features::{content_hash, csv_error};
use demud::model::SvdMethod;
use demud::{Compatibility, MissingPolicy, ScoreMethod, ScorePath, SelectionRule, UpdateMethod};
use ndarray::{Array, Array2};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `format` of `run.json`.
pub const RUN_FORMAT: &str = "demud-run";
/// The `run.json` version this build writes and reads.
pub const RUN_VERSION: u32 = 1;
/// The run's record.
pub const RUN_FILE: &str = "run.json";
/// The selections, in order.
pub const SELECTIONS_FILE: &str = "selections.csv";
/// The largest residuals of each selection.
pub const TOP_FEATURES_FILE: &str = "top_features.csv";
/// Expected content x̂ of each selection.
pub const EXPECTED_FILE: &str = "expected.npy";
/// Novel content e of each selection.
pub const RESIDUAL_FILE: &str = "residual.npy";
/// The fitted conditioning of a conditioned run.
pub const CONDITIONER_FILE: &str = "conditioner.json";
/// The `format` of `conditioner.json`.
pub const CONDITIONER_FORMAT: &str = "demud-conditioner";
/// The `conditioner.json` version this build writes and reads.
pub const CONDITIONER_VERSION: u32 = 1;
/// Expected content in the conditioned space.
pub const RANKED_EXPECTED_FILE: &str = "ranked_expected.npy";
/// Novel content in the conditioned space.
pub const RANKED_RESIDUAL_FILE: &str = "ranked_residual.npy";
/// The default render folder inside a run.
pub const RENDER_DIR: &str = "render";

/// How the run's first model came about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Start {
    /// First selection: largest error under the top-k SVD of all items.
    Svd,
    /// First selection: farthest from the mean.
    Mean,
    /// First selection: a seeded random item.
    Random,
    /// First selection: this 0-based item.
    Index {
        /// The item.
        item: usize,
    },
    /// The model started from the SVD of prior items (never candidates).
    Prior {
        /// Their feature file, relative to the run folder.
        path: PathBuf,
    },
    /// The model continued a saved model state.
    Model {
        /// The state file, relative to the run folder.
        path: PathBuf,
    },
}

/// Which items a run's feature conditioning was fitted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FittedOn {
    /// The collection ranked.
    Collection,
    /// The prior items (the archive the collection is ranked against).
    Prior,
    /// It came with the saved model the run continued.
    Model,
}

/// The feature conditioning of a run: DEMUD ranked the conditioned features; the explanation
/// files hold x̂ and e mapped back to the original features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditioningRecord {
    /// The steps, in order (empty: none).
    pub steps: demud::Conditioning,
    /// What they were fitted on.
    pub fitted_on: FittedOn,
    /// Features of the conditioned space (fewer than the input's after whitening).
    pub dims: usize,
}

/// The precision the collection was stored and scanned in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Single (CNN features).
    F32,
    /// Double.
    F64,
    /// Half (`<f2`): a large collection stored at half the size.
    F16,
}

/// Whether `expected.npy` and `residual.npy` were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExplanationFiles {
    /// Both are in the run folder.
    Written,
    /// The run was made without them.
    Skipped,
}

/// Everything in `run.json`: the run's inputs, parameters (the engine's own types) and shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Always [`RUN_FORMAT`].
    pub format: String,
    /// [`RUN_VERSION`] when written by this build.
    pub version: u32,
    /// Version of the program that wrote it.
    pub tool_version: String,
    /// The feature file, relative to the run folder.
    pub features: PathBuf,
    /// The items file of `.npy` features, relative to the run folder.
    pub items: Option<PathBuf>,
    /// A labels file matched by id, relative to the run folder.
    pub labels: Option<PathBuf>,
    /// A per-feature weights file, relative to the run folder.
    pub weights: Option<PathBuf>,
    /// How the first model came about.
    pub start: Start,
    /// Items in the collection.
    pub n_items: usize,
    /// Features per item.
    pub n_features: usize,
    /// Storage precision.
    pub precision: Precision,
    /// Principal components.
    pub k: usize,
    /// Selections made.
    pub n_selected: usize,
    /// Model update.
    pub update: UpdateMethod,
    /// Which residuals count.
    pub score: ScoreMethod,
    /// Missing values.
    pub missing: MissingPolicy,
    /// Reference quirks or the clean algorithm.
    pub compat: Compatibility,
    /// Fast or exact score path.
    pub score_path: ScorePath,
    /// Exact refresh interval of the fast path.
    pub refresh_every: usize,
    /// Which item each selection took (absent in older runs: DEMUD's residual).
    #[serde(default)]
    pub selection: SelectionRule,
    /// The feature conditioning (absent in runs made before conditioning existed: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditioning: Option<ConditioningRecord>,
    /// Seed of the random init and of the randomized SVD.
    pub seed: u64,
    /// How the top-k SVD of the collection (`svd` init, `static`) or of the prior data set was
    /// computed (absent in runs made before the randomized SVD existed: exact).
    #[serde(default = "exact_svd")]
    pub svd: SvdMethod,
    /// Whether the explanation arrays were written.
    pub explanations: ExplanationFiles,
    /// A reviewer's feedback the run ranked with (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    /// How the features were made from images, when `extract` recorded it (the network,
    /// layer, weights and preprocessing the explanation maps must use again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction: Option<crate::extraction::ExtractionRecord>,
    /// Seconds the run took.
    pub seconds: f64,
    /// The content hash ([`crate::features::content_hash`]) of each file written with the
    /// record (`selections.csv`, the explanation arrays, `conditioner.json`), by name, set by
    /// [`write_run`]: a reader refuses a file that another run wrote or that was changed since
    /// (absent in runs made before the hashes were recorded: those files are checked by
    /// shape only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
}

/// The SVD of runs made before the randomized SVD existed.
fn exact_svd() -> SvdMethod {
    SvdMethod::Exact
}

/// One row of `selections.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectionRow {
    /// 1-based rank.
    pub rank: usize,
    /// 0-based row of the item in the feature file.
    pub index: usize,
    /// The item's id.
    pub id: String,
    /// Its label, empty when unknown.
    pub label: String,
    /// Reconstruction error under the model that selected it.
    #[serde(serialize_with = "shortest")]
    pub score: f64,
}

/// One row of `top_features.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopFeatureRow {
    /// Rank of the selection.
    pub rank: usize,
    /// Its row in the feature file.
    pub index: usize,
    /// Its id.
    pub id: String,
    /// The feature's name.
    pub feature: String,
    /// Residual e (signed).
    #[serde(serialize_with = "shortest")]
    pub residual: f64,
    /// Expected value x̂.
    #[serde(serialize_with = "shortest")]
    pub expected: f64,
    /// Actual value x.
    #[serde(serialize_with = "shortest")]
    pub value: f64,
}

/// Expected content x̂ and novel content e, one row per selection.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanations {
    /// `n_selected x d`.
    pub expected: Array2<f64>,
    /// `n_selected x d` (NaN where a feature was missing).
    pub residual: Array2<f64>,
}

/// A selection's explanation in the space DEMUD ranked: the conditioned features, where the
/// score is `|e|²` (or its weighted, one-sided variant). Explanation maps split the score there.
#[derive(Clone, Debug, PartialEq)]
pub struct RankedExplanations {
    /// The fitted conditioning that maps features into that space (the identity for a run
    /// that ranked its features as they were).
    pub conditioner: demud::Conditioner,
    /// `n_selected x d'`: x̂ there.
    pub expected: Array2<f64>,
    /// `n_selected x d'`: e there.
    pub residual: Array2<f64>,
}

#[derive(Serialize, Deserialize)]
struct ConditionerFile {
    format: String,
    version: u32,
    conditioner: demud::Conditioner,
}

/// A run to write: its record (paths as given on the command line, relative to the working
/// directory or absolute) and its results.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// The record; [`write_run`] rewrites its paths relative to the run folder.
    pub record: RunRecord,
    /// The selections in order.
    pub selections: Vec<SelectionRow>,
    /// The largest residuals per selection.
    pub top_features: Vec<TopFeatureRow>,
    /// The explanation arrays, unless the run skips them.
    pub explanations: Option<Explanations>,
    /// The explanations in the conditioned space, when the run conditioned its features and
    /// writes explanations.
    pub ranked: Option<RankedExplanations>,
}

/// The selections of a run that show a score of 0 ([`NewRun::zero_scores`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZeroScores {
    /// Items the model reconstructs exactly: copies of items it had seen, or combinations of
    /// them (their residual vanishes next to the item).
    pub copies: usize,
    /// Items the model does not reconstruct whose score, a squared distance, is below the
    /// smallest `f64` (data of magnitude 1e-160 and less): ranked at full precision, shown as 0.
    pub underflowed: usize,
}

impl NewRun {
    /// The selections scored 0, told apart by their residual in the space DEMUD ranked: a
    /// copy's vanishes next to the item (|e| <= 1e-9 |z|, largest entries), a tiny item's
    /// does not. Without explanations every 0 counts as a copy. The first pick of an index or
    /// random init, made before there is a model, is not counted.
    pub fn zero_scores(&self) -> ZeroScores {
        let residuals = self
            .ranked
            .as_ref()
            .map(|r| (&r.expected, &r.residual))
            .or(self
                .explanations
                .as_ref()
                .map(|e| (&e.expected, &e.residual)));
        let mut zeros = ZeroScores::default();
        for (r, s) in self.selections.iter().enumerate() {
            zeros.count(&self.record.start, s.rank, s.score, || {
                residuals.is_none_or(|(expected, residual)| {
                    residual_vanishes(expected.row(r), residual.row(r))
                })
            });
        }
        zeros
    }
}

impl ZeroScores {
    /// Counts a selection when it scored 0, as a copy when `copy()` says its residual vanishes.
    /// The first pick of an index or random init, made before there is a model, is not counted.
    pub(crate) fn count(
        &mut self,
        start: &Start,
        rank: usize,
        score: f64,
        copy: impl FnOnce() -> bool,
    ) {
        let unscored_first = matches!(start, Start::Index { .. } | Start::Random);
        if score != 0.0 || (unscored_first && rank == 1) {
            return;
        }
        match copy() {
            true => self.copies += 1,
            false => self.underflowed += 1,
        }
    }
}

/// Whether a residual vanishes next to its item z = x̂ + e (|e| <= 1e-9 |z|, largest entries,
/// missing values left out): the model reconstructs the item exactly.
pub(crate) fn residual_vanishes(
    expected: ndarray::ArrayView1<'_, f64>,
    residual: ndarray::ArrayView1<'_, f64>,
) -> bool {
    let largest = |values: &mut dyn Iterator<Item = f64>| {
        values
            .filter(|v| !v.is_nan())
            .fold(0f64, |m, v| m.max(v.abs()))
    };
    let z = &expected + &residual;
    largest(&mut residual.iter().copied()) <= 1e-9 * largest(&mut z.iter().copied())
}

/// `path` (relative to the working directory, or absolute) as seen from `folder`.
pub fn relative_to(path: &Path, folder: &Path) -> PathBuf {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    pathdiff::diff_paths(absolute(path), absolute(folder)).unwrap_or_else(|| absolute(path))
}

/// Writes a run folder whole (see the module documentation), its explanation arrays from
/// memory. [`RunWriter`] writes the same folder with the arrays streamed as the run makes them.
pub fn write_run(dir: &Path, run: &NewRun) -> Result<()> {
    if let Some(e) = &run.explanations {
        let shape = (run.selections.len(), run.record.n_features);
        if e.expected.dim() != shape || e.residual.dim() != shape {
            return Err(DataError::file(
                dir,
                format!(
                    "explanations of {:?} and {:?} for {shape:?} selections x features",
                    e.expected.dim(),
                    e.residual.dim()
                ),
            ));
        }
    }
    commit_folder(dir, |staging| {
        let mut written = Vec::new();
        if let Some(e) = &run.explanations {
            write_array(&staging.join(EXPECTED_FILE), &e.expected)?;
            write_array(&staging.join(RESIDUAL_FILE), &e.residual)?;
            written.extend([EXPECTED_FILE, RESIDUAL_FILE]);
            if let Some(r) = run.ranked.as_ref().filter(|r| !r.conditioner.is_identity()) {
                write_json(
                    &staging.join(CONDITIONER_FILE),
                    &ConditionerFile {
                        format: CONDITIONER_FORMAT.into(),
                        version: CONDITIONER_VERSION,
                        conditioner: r.conditioner.clone(),
                    },
                )?;
                write_array(&staging.join(RANKED_EXPECTED_FILE), &r.expected)?;
                write_array(&staging.join(RANKED_RESIDUAL_FILE), &r.residual)?;
                written.extend([CONDITIONER_FILE, RANKED_EXPECTED_FILE, RANKED_RESIDUAL_FILE]);
            }
        }
        write_records(staging, dir, run, run.explanations.is_some(), written)
    })
}

/// Writes the records of `run` into `staging` (the folder that becomes `dir`): the selections,
/// the top features and `run.json`, its paths relative to `dir` and the content hash of each
/// file in `written` (the explanation files already there) and of `selections.csv`.
fn write_records(
    staging: &Path,
    dir: &Path,
    run: &NewRun,
    explanations: bool,
    written: Vec<&str>,
) -> Result<()> {
    let mut record = run.record.clone();
    record.files.clear();
    let rel = |p: &Path| relative_to(p, dir);
    record.features = rel(&record.features);
    record.items = record.items.as_deref().map(rel);
    record.labels = record.labels.as_deref().map(rel);
    record.weights = record.weights.as_deref().map(rel);
    record.start = match record.start {
        Start::Prior { path } => Start::Prior { path: rel(&path) },
        Start::Model { path } => Start::Model { path: rel(&path) },
        other => other,
    };
    record.explanations = match explanations {
        true => ExplanationFiles::Written,
        false => ExplanationFiles::Skipped,
    };
    record.n_selected = run.selections.len();
    write_rows(&staging.join(SELECTIONS_FILE), &run.selections)?;
    write_rows(&staging.join(TOP_FEATURES_FILE), &run.top_features)?;
    record.files = std::iter::once(SELECTIONS_FILE)
        .chain(written)
        .map(|name| Ok((name.to_string(), content_hash(&staging.join(name))?)))
        .collect::<Result<_>>()?;
    write_json(&staging.join(RUN_FILE), &record)
}

/// A run folder as read back, its record and selections checked against each other.
#[derive(Clone, Debug)]
pub struct RunFolder {
    dir: PathBuf,
    record: RunRecord,
    selections: Vec<SelectionRow>,
}

impl RunFolder {
    /// Opens a run folder written by [`write_run`]: `run.json` (format and version checked)
    /// and `selections.csv` (as many rows as the record's selections, ranks 1, 2, ...,
    /// distinct rows of the collection).
    pub fn open(dir: &Path) -> Result<Self> {
        let record: RunRecord = read_json(&dir.join(RUN_FILE), RUN_FORMAT, RUN_VERSION)?;
        let path = dir.join(SELECTIONS_FILE);
        if !path.is_file() {
            return Err(DataError::file(
                &path,
                format!(
                    "missing: {} records a run whose selections are not there; run discover again",
                    dir.join(RUN_FILE).display()
                ),
            ));
        }
        check_written(dir, &record, SELECTIONS_FILE)?;
        let selections: Vec<SelectionRow> = read_rows(&path)?;
        if selections.len() != record.n_selected {
            return Err(DataError::file(
                &path,
                format!(
                    "{} selections, {} says {}: the files are from different runs",
                    selections.len(),
                    dir.join(RUN_FILE).display(),
                    record.n_selected
                ),
            ));
        }
        let mut seen = vec![false; record.n_items];
        for (i, s) in selections.iter().enumerate() {
            let line = i as u64 + 2;
            if s.rank != i + 1 {
                return Err(DataError::line(
                    &path,
                    line,
                    format!("rank {} where {} was expected", s.rank, i + 1),
                ));
            }
            if s.index >= record.n_items || std::mem::replace(&mut seen[s.index], true) {
                return Err(DataError::line(
                    &path,
                    line,
                    format!(
                        "item {} is not a new item of the run's {} items",
                        s.index, record.n_items
                    ),
                ));
            }
        }
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            record,
            selections,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The record of `run.json`.
    pub fn record(&self) -> &RunRecord {
        &self.record
    }
    /// The selections in order.
    pub fn selections(&self) -> &[SelectionRow] {
        &self.selections
    }
    /// A path stored in the record, as a path usable from the working directory.
    pub fn resolve(&self, stored: &Path) -> PathBuf {
        self.dir.join(stored)
    }
    /// The run's feature file.
    pub fn features_path(&self) -> PathBuf {
        self.resolve(&self.record.features)
    }
    /// The run's items file, when it named one.
    pub fn items_path(&self) -> Option<PathBuf> {
        self.record.items.as_deref().map(|p| self.resolve(p))
    }
    /// The run's labels file, when it named one.
    pub fn labels_path(&self) -> Option<PathBuf> {
        self.record.labels.as_deref().map(|p| self.resolve(p))
    }
    /// The ids of the run's collection in row order: the items file of `.npy` features
    /// (the one the run named, else the one beside them), or the features file's first
    /// column. Checked against the run: as many items, and each selection's id at its row.
    pub fn item_ids(&self) -> Result<Vec<String>> {
        let features = self.features_path();
        let is_npy = features
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        let (source, ids) = if is_npy {
            let items = self
                .items_path()
                .unwrap_or_else(|| crate::features::items_path(&features));
            let ids = crate::features::read_items(&items)?
                .into_iter()
                .map(|row| row.id)
                .collect::<Vec<_>>();
            (items, ids)
        } else {
            let table =
                crate::features::read_features(&features, crate::CsvLayout::default(), None)?;
            (features, table.ids)
        };
        let changed = |what: String| {
            DataError::file(
                &source,
                format!(
                    "{what}: the collection changed since the run in {}",
                    self.dir.display()
                ),
            )
        };
        if ids.len() != self.record.n_items {
            return Err(changed(format!(
                "{} items, the run had {}",
                ids.len(),
                self.record.n_items
            )));
        }
        if let Some(s) = self.selections.iter().find(|s| ids[s.index] != s.id) {
            return Err(changed(format!(
                "row {} is {:?}, the run's rank {} was {:?}",
                s.index + 1,
                ids[s.index],
                s.rank,
                s.id
            )));
        }
        Ok(ids)
    }

    /// The default maps folder, `<run>/maps`.
    pub fn maps_dir(&self) -> PathBuf {
        self.dir.join(MAPS_DIR)
    }
    /// The default render folder, `<run>/render`.
    pub fn render_dir(&self) -> PathBuf {
        self.dir.join(RENDER_DIR)
    }

    /// `expected.npy` and `residual.npy`, checked to have one row per selection and one
    /// column per feature of the run.
    pub fn explanations(&self) -> Result<Explanations> {
        if self.record.explanations == ExplanationFiles::Skipped {
            return Err(DataError::file(
                &self.dir,
                "this run was made without explanations (--no-explanations); run discover again without it",
            ));
        }
        let shape = (self.record.n_selected, self.record.n_features);
        let read = |name: &str, shape| self.read_explanation(name, shape);
        Ok(Explanations {
            expected: read(EXPECTED_FILE, shape)?,
            residual: read(RESIDUAL_FILE, shape)?,
        })
    }

    /// The explanations in the space DEMUD ranked (see [`RankedExplanations`]): for a run that
    /// ranked its features as they were, the explanation files with the identity; for a
    /// conditioned run, `conditioner.json` and the `ranked_*.npy` files.
    pub fn ranked_explanations(&self) -> Result<RankedExplanations> {
        if !self.is_conditioned() {
            let e = self.explanations()?;
            return Ok(RankedExplanations {
                conditioner: demud::Conditioner::identity(self.record.n_features),
                expected: e.expected,
                residual: e.residual,
            });
        }
        self.explanations()?;
        let conditioner = self.conditioner()?;
        let shape = (self.record.n_selected, conditioner.output_dim());
        Ok(RankedExplanations {
            expected: self.read_explanation(RANKED_EXPECTED_FILE, shape)?,
            residual: self.read_explanation(RANKED_RESIDUAL_FILE, shape)?,
            conditioner,
        })
    }

    /// Whether the run ranked conditioned features (a conditioning with at least one step).
    pub fn is_conditioned(&self) -> bool {
        self.record
            .conditioning
            .as_ref()
            .is_some_and(|c| !c.steps.is_none())
    }

    /// The run's scoring: its score method and, when it had them, its feature weights.
    pub fn scoring(&self) -> Result<demud::scoring::Scoring> {
        let scoring = demud::scoring::Scoring::new(self.record.score);
        Ok(match &self.record.weights {
            Some(w) => {
                scoring.with_weights(read_weights(&self.resolve(w), self.record.n_features)?)
            }
            None => scoring,
        })
    }

    /// The run's fitted conditioning: the identity for a run that ranked its features as they
    /// were, else `conditioner.json` (checked).
    pub fn conditioner(&self) -> Result<demud::Conditioner> {
        if !self.is_conditioned() {
            return Ok(demud::Conditioner::identity(self.record.n_features));
        }
        let path = self.dir.join(CONDITIONER_FILE);
        if !path.exists() {
            return Err(DataError::file(
                &self.dir,
                format!(
                    "this conditioned run has no {CONDITIONER_FILE} (it was made by an older version): run discover again"
                ),
            ));
        }
        check_written(&self.dir, &self.record, CONDITIONER_FILE)?;
        let file: ConditionerFile = read_json(&path, CONDITIONER_FORMAT, CONDITIONER_VERSION)?;
        let conditioner = file.conditioner;
        conditioner
            .validate()
            .map_err(|e| DataError::file(&path, e.to_string()))?;
        if conditioner.input_dim() != self.record.n_features {
            return Err(DataError::file(
                &path,
                format!(
                    "a conditioning of {} features for a run of {}: the files are from different runs",
                    conditioner.input_dim(),
                    self.record.n_features
                ),
            ));
        }
        Ok(conditioner)
    }

    fn read_explanation(&self, name: &str, shape: (usize, usize)) -> Result<Array2<f64>> {
        let path = self.dir.join(name);
        check_written(&self.dir, &self.record, name)?;
        let array: Array2<f64> = read_array(&path)?;
        if array.dim() != shape {
            return Err(DataError::file(
                &path,
                format!(
                    "{:?} values, the run has {} selections x {} features: the files are from different runs",
                    array.dim(),
                    shape.0,
                    shape.1
                ),
            ));
        }
        Ok(array)
    }
}

/// Checks that the run file `name` in `dir` is the one `record` was written with (its content
/// hash), when the record holds one.
fn check_written(dir: &Path, record: &RunRecord, name: &str) -> Result<()> {
    let Some(recorded) = record.files.get(name) else {
        return Ok(());
    };
    let path = dir.join(name);
    let actual = content_hash(&path)?;
    if actual != *recorded {
        return Err(DataError::file(
            &path,
            format!(
                "is not the file this run wrote ({} records {recorded}, the file has {actual}): the files are from different runs, or it was changed since; run discover again",
                dir.join(RUN_FILE).display()
            ),
        ));
    }
    Ok(())
}

/// Opens the folder `dir` when given, else `default` when it holds `marker` (a folder a
/// later step wrote into the run); `None` when neither.
fn open_or_default<T>(
    dir: Option<&Path>,
    default: PathBuf,
    marker: &str,
    open: impl Fn(&Path) -> Result<T>,
) -> Result<Option<T>> {
    match dir {
        Some(dir) => open(dir).map(Some),
        None => default
            .join(marker)
            .is_file()
            .then(|| open(&default))
            .transpose(),
    }
}

/// Writes a number as Rust's shortest round-trip text (`0`, `0.1`, `1e-7`), as the run files
/// always have: exact on reading back, and `0` rather than the CSV serialiser's `0.0`.
pub(crate) fn shortest<S: serde::Serializer>(
    value: &f64,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Writes rows as CSV with a header of the record's field names.
pub(crate) fn write_rows<R: Serialize>(path: &Path, rows: &[R]) -> Result<()> {
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        for row in rows {
            csv.serialize(row)?;
        }
        csv.flush()?;
        Ok(())
    })
}

/// Reads CSV rows by their header names; a row that does not parse is an error naming its line.
pub(crate) fn read_rows<R: DeserializeOwned>(path: &Path) -> Result<Vec<R>> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| csv_error(path, e))?;
    let mut rows = Vec::new();
    for row in reader.deserialize() {
        let row = row.map_err(|e| csv_error(path, e))?;
        rows.push(row);
    }
    Ok(rows)
}

/// Writes a record as pretty JSON.
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        writeln!(w)?;
        Ok(())
    })
}

#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

/// Reads a versioned JSON record, checking its format and version first.
pub(crate) fn read_json<R: DeserializeOwned>(path: &Path, format: &str, version: u32) -> Result<R> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let header: Header = serde_json::from_str(&text).map_err(|e| {
        DataError::parse(
            path,
            None,
            format!("not a {format} record (no format and version)"),
            e,
        )
    })?;
    if header.format != format || header.version != version {
        return Err(DataError::file(
            path,
            format!(
                "{} version {} is not {format} version {version}",
                header.format, header.version
            ),
        ));
    }
    serde_json::from_str(&text)
        .map_err(|e| DataError::parse(path, None, format!("not a {format} record"), e))
}

/// Writes an 8-bit image (RGB or grey) as PNG, atomically.
pub fn write_png<P>(path: &Path, image: &image::ImageBuffer<P, Vec<u8>>) -> Result<()>
where
    P: image::PixelWithColorType<Subpixel = u8>,
{
    use image::ImageEncoder;
    write_atomic(path, |w| {
        image::codecs::png::PngEncoder::new(w).write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            P::COLOR_TYPE,
        )?;
        Ok(())
    })
}

/// Reads the rows of a `selections.csv` (or any file with its columns first, by name).
pub fn read_selections(path: &Path) -> Result<Vec<SelectionRow>> {
    read_rows(path)
}

/// Writes an array as `.npy`.
pub(crate) fn write_array<A, S, D>(path: &Path, array: &ndarray::ArrayBase<S, D>) -> Result<()>
where
    A: ndarray_npy::WritableElement,
    S: ndarray::Data<Elem = A>,
    D: ndarray::Dimension,
{
    use ndarray_npy::WriteNpyExt;
    write_atomic(path, |w| Ok(array.write_npy(w)?))
}

/// Reads an f32 or f64 array of the run folder, its header checked first.
pub(crate) fn read_array<A, D>(path: &Path) -> Result<Array<A, D>>
where
    A: ndarray_npy::ReadableElement,
    D: ndarray::Dimension,
{
    use ndarray_npy::ReadNpyExt;
    // ndarray_npy allocates what the header claims before reading: check the claim against
    // the file first, so a damaged array is an error, not an aborted process.
    crate::features::NpyHeader::read(path)?;
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Array::<A, D>::read_npy(std::io::BufReader::new(file))
        .map_err(|e| DataError::parse(path, None, "not the expected array", e))
}

#[cfg(test)]
mod tests;
