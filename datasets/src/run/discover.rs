//! A discovery run from files to a run folder's contents: load the features (and prior items
//! or a saved model), run the engine with progress, and build the records of [`NewRun`].
//! The command line's `discover`, `demo` and `pipeline` all run discoveries through here.

use super::review::Review;
use super::stream::{ExplanationArrays, ExplanationRow, ExplanationSink};
use super::{
    residual_vanishes, ConditioningRecord, ExplanationFiles, FittedOn, NewRun, Precision,
    RunRecord, SelectionRow, Start, TopFeatureRow, ZeroScores, RUN_FORMAT, RUN_VERSION,
};

use crate::error::{DataError, Result};
use crate::extraction::{read_extraction_record, ExtractionRecord};
use crate::features::{
    open_features, read_features, CsvLayout, FeatureMatrix, FeatureTable, MatrixVisitor,
};
use demud::{
    Compatibility, Conditioner, Conditioning, DemudError, DemudParams, Element, Init, ModelState,
    Selection, SubspaceModel,
};
use ndarray::{Array1, Array2, ArrayView2};
use std::path::{Path, PathBuf};

/// What a discovery reads, beside its parameters.
#[derive(Clone, Debug, Default)]
pub struct DiscoveryInputs {
    /// The collection's features (CSV or `.npy`).
    pub features: PathBuf,
    /// The items file of `.npy` features (default: the one beside them).
    pub items: Option<PathBuf>,
    /// Labels matched by id, overriding the features file's.
    pub labels: Option<PathBuf>,
    /// Per-feature weights, one per line.
    pub weights: Option<PathBuf>,
    /// Prior items (same features) to start the model from; never candidates.
    pub prior: Option<PathBuf>,
    /// A saved model state to continue from.
    pub model_in: Option<PathBuf>,
    /// How to read a CSV.
    pub layout: CsvLayout,
    /// A reviewer's feedback on the collection's items (seen, kept as interesting).
    pub review: Review,
}

/// How a discovery ranks, beside its inputs.
#[derive(Clone, Debug)]
pub struct DiscoverySettings {
    /// The engine's parameters (the init is replaced by the prior's or the saved model's when
    /// given).
    pub params: DemudParams,
    /// Principal components; `None` takes the saved model's.
    pub k: Option<usize>,
    /// The feature conditioning, fitted on the prior when given, else on the collection;
    /// `None` takes the saved model's, or [`Conditioning::recommended`] without one.
    pub conditioning: Option<Conditioning>,
}

/// What a discovery writes beside the selections.
#[derive(Clone, Copy, Debug)]
pub struct DiscoveryOutputs {
    /// Features listed per selection in `top_features.csv`.
    pub top_features: usize,
    /// Whether `expected.npy` / `residual.npy` are kept.
    pub explanations: ExplanationFiles,
}

/// A finished discovery: the run folder's contents and the final model.
#[derive(Debug)]
pub struct Finished {
    /// The records to write with [`super::write_run`].
    pub run: NewRun,
    /// The model after the last selection, with the run's options and the features'
    /// extraction (for `--model-out`).
    pub model: Option<SavedModel>,
    /// Whether the engine ranked the features in place or a conditioned copy of them.
    pub ranked_from: RankedFrom,
    /// The selections scored 0, told apart as [`NewRun::zero_scores`] does, from the
    /// explanations as they were made (so also when they were streamed to files).
    pub zero_scores: ZeroScores,
}

/// A saved model file: the engine's model state, and how the features it was built from were
/// extracted (when they came from images), so that a batch ranked against it later is checked
/// to be seen the same way. One JSON object: the state's fields and an `extraction` field.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedModel {
    /// The model and the options it was built under.
    #[serde(flatten)]
    pub state: ModelState,
    /// The extraction of the features it modelled (absent: unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction: Option<ExtractionRecord>,
}

/// Reads a saved model file (JSON written by [`write_saved_model`]), checked.
pub fn read_saved_model(path: &Path) -> Result<SavedModel> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let saved: SavedModel = serde_json::from_str(&text)
        .map_err(|e| DataError::parse(path, None, "not a demud model state", e))?;
    let state = saved.state.checked().map_err(|source| DataError::Engine {
        path: path.to_path_buf(),
        at: String::new(),
        source,
    })?;
    Ok(SavedModel { state, ..saved })
}

/// Reads the model state of a saved model file.
pub fn read_model_state(path: &Path) -> Result<ModelState> {
    Ok(read_saved_model(path)?.state)
}

/// Writes a saved model file as JSON, atomically.
pub fn write_saved_model(path: &Path, saved: &SavedModel) -> Result<()> {
    super::write_json(path, saved)
}

/// Writes a model state without an extraction record.
pub fn write_model_state(path: &Path, state: &ModelState) -> Result<()> {
    write_saved_model(
        path,
        &SavedModel {
            state: state.clone(),
            extraction: None,
        },
    )
}

/// Reads a weights file: one non-negative number per line (`#` comments and blank lines
/// skipped), one line per feature.
pub fn read_weights(path: &Path, d: usize) -> Result<Array1<f64>> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut weights = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w = line
            .parse::<f64>()
            .ok()
            .filter(|w| w.is_finite() && *w >= 0.0)
            .ok_or_else(|| {
                DataError::line(
                    path,
                    i as u64 + 1,
                    format!("{line:?} is not a non-negative number"),
                )
            })?;
        weights.push(w);
    }
    if weights.len() != d {
        return Err(DataError::file(
            path,
            format!("{} weights, the features have {d}", weights.len()),
        ));
    }
    Ok(Array1::from(weights))
}

/// Loads the inputs, conditions the features, runs DEMUD with the settings and builds the run
/// folder's records, with the explanations mapped back to the original features and kept in
/// memory ([`NewRun::explanations`], [`NewRun::ranked`]) for [`super::write_run`].
/// `progress(done, total)` is called after each selection.
pub fn run_discovery(
    inputs: &DiscoveryInputs,
    settings: DiscoverySettings,
    outputs: DiscoveryOutputs,
    progress: impl FnMut(usize, usize),
) -> Result<Finished> {
    let mut arrays = ExplanationArrays::default();
    let mut finished = run_discovery_into(inputs, settings, outputs, &mut arrays, progress)?;
    if let Some((explanations, ranked)) = arrays.into_arrays() {
        finished.run.explanations = Some(explanations);
        finished.run.ranked = Some(ranked);
    }
    Ok(finished)
}

/// [`run_discovery`] writing the run folder `dir` as it goes: the explanations stream into it
/// ([`super::RunWriter`]) and the folder is put in place once the run is complete (on error,
/// `dir` is as it was). The returned records hold no explanation arrays.
pub fn run_discovery_to(
    dir: &Path,
    inputs: &DiscoveryInputs,
    settings: DiscoverySettings,
    outputs: DiscoveryOutputs,
    progress: impl FnMut(usize, usize),
) -> Result<Finished> {
    let mut writer = super::RunWriter::begin(dir)?;
    let finished = run_discovery_into(inputs, settings, outputs, &mut writer, progress)?;
    writer.finish(&finished.run)?;
    Ok(finished)
}

/// [`run_discovery`] with each selection's explanation handed to `explanations` as it is made
/// (when the outputs keep them) and then dropped: the run holds the data, the records
/// (O(selections x top features)) and one selection's vectors at a time. With a
/// [`super::RunWriter`] the arrays stream into the run folder being written; the returned
/// records hold none (finish the writer with them).
pub fn run_discovery_into(
    inputs: &DiscoveryInputs,
    settings: DiscoverySettings,
    outputs: DiscoveryOutputs,
    explanations: &mut dyn ExplanationSink,
    mut progress: impl FnMut(usize, usize),
) -> Result<Finished> {
    let DiscoverySettings {
        params,
        k,
        conditioning,
    } = settings;
    let started = std::time::Instant::now();
    let mut table = open_features(&inputs.features, inputs.layout, inputs.items.as_deref())?;
    if let Some(labels) = &inputs.labels {
        table.attach_labels(labels)?;
    }
    let (n, d) = table.matrix.dim();
    // Features from images carry how they were made; a prior or a saved model made from
    // images seen another way (another crop, network, layer) would be compared meaninglessly.
    let extraction = read_extraction_record(&inputs.features)?;
    let saved = inputs
        .model_in
        .as_deref()
        .map(read_saved_model)
        .transpose()?;
    let mut extraction_of_model = None;
    let state = match saved {
        Some(saved) => {
            let path = inputs.model_in.as_deref().expect("a model file");
            if let (Some(ours), Some(theirs)) = (&extraction, &saved.extraction) {
                ours.check_against(&inputs.features, theirs, path)?;
            }
            extraction_of_model = saved.extraction;
            Some(saved.state)
        }
        None => None,
    };
    let k =
        match (k, &state) {
            (Some(k), _) => k,
            (None, Some(state)) => state.k,
            (None, None) => return Err(DataError::file(
                &inputs.features,
                "k (the number of principal components) is required unless a saved model gives it",
            )),
        };
    let mut params = params.with_k(k);
    // Conditioning steps need every value; the missing-value policies apply to raw features.
    let has_missing = table.matrix.has_missing();
    let refuse_missing = |steps: &Conditioning| {
        DataError::file(
            &inputs.features,
            format!(
                "the features have missing values and the conditioning {steps} needs every value: use --conditioning none with missing values"
            ),
        )
    };
    if let Some(steps) = conditioning
        .as_ref()
        .filter(|c| has_missing && !c.is_none())
    {
        return Err(refuse_missing(steps));
    }
    let mut fitted_on = FittedOn::Collection;
    let mut prior_names: Option<(PathBuf, FeatureTable)> = None;
    let mut conditioner = None;
    let start = match (&inputs.prior, state) {
        (Some(_), Some(_)) => {
            return Err(DataError::file(
                &inputs.features,
                "give either prior items or a saved model, not both",
            ))
        }
        (Some(prior), None) => {
            let prior_path = prior.clone();
            let mut prior_table = read_features(prior, inputs.layout, None)?;
            if let (Some(ours), Some(theirs)) = (&extraction, read_extraction_record(prior)?) {
                ours.check_against(&inputs.features, &theirs, prior)?;
            }
            if prior_table.matrix.dim().1 != d {
                return Err(DataError::file(
                    prior,
                    format!(
                        "the prior data has {} features, {} has {d}",
                        prior_table.matrix.dim().1,
                        inputs.features.display()
                    ),
                ));
            }
            let prior = prior_table.matrix.to_f64();
            let prior_has_missing = prior_table.matrix.has_missing();
            if let Some(steps) = conditioning
                .as_ref()
                .filter(|c| prior_has_missing && !c.is_none())
            {
                return Err(refuse_missing(steps));
            }
            let fitted = conditioning
                .clone()
                .unwrap_or_else(|| {
                    if prior_has_missing {
                        Conditioning::none()
                    } else {
                        default_conditioning(inputs, &params, &table, extraction.as_ref())
                    }
                })
                .fit(prior.view())
                .map_err(|e| engine_error(e, &prior_table, &prior_path))?;
            let prior = fitted
                .transform(prior.view())
                .map_err(|e| engine_error(e, &prior_table, &prior_path))?;
            // Its ids and feature names name an item of the prior the engine refuses.
            prior_table.matrix = FeatureMatrix::F64(Array2::zeros((0, 0)));
            prior_names = Some((prior_path.clone(), prior_table));
            fitted_on = FittedOn::Prior;
            conditioner = Some(fitted);
            params = params.init(Init::Prior(prior));
            Start::Prior { path: prior_path }
        }
        (None, Some(state)) => {
            let model_path = inputs.model_in.clone().expect("a model file");
            let saved = state
                .conditioner
                .unwrap_or_else(|| Conditioner::identity(state.model.dim()));
            if let Some(asked) = &conditioning {
                if *asked != saved.conditioning() {
                    return Err(DataError::file(
                        &model_path,
                        format!(
                            "the saved model ranks features conditioned by {}; a run continuing it cannot use {asked} (leave the conditioning out to use the model's)",
                            saved.conditioning()
                        ),
                    ));
                }
            }
            if !saved.is_identity() && saved.input_dim() != d {
                return Err(DataError::file(
                    &model_path,
                    format!(
                        "the saved model takes {} features, {} has {d}",
                        saved.input_dim(),
                        inputs.features.display()
                    ),
                ));
            }
            if has_missing && !saved.is_identity() {
                return Err(refuse_missing(&saved.conditioning()));
            }
            fitted_on = FittedOn::Model;
            conditioner = Some(saved);
            params = params.init(Init::Model(state.model));
            Start::Model {
                path: inputs.model_in.clone().expect("a model file"),
            }
        }
        (None, None) => match params.initial() {
            Init::Svd => Start::Svd,
            Init::Mean => Start::Mean,
            Init::Random => Start::Random,
            Init::Index(item) => Start::Index { item: *item },
            Init::Prior(_) | Init::Model(_) => unreachable!("set only from files here"),
        },
    };
    let conditioner = match conditioner {
        Some(c) => c,
        None => {
            let steps = conditioning.unwrap_or_else(|| {
                default_conditioning(inputs, &params, &table, extraction.as_ref())
            });
            if !steps.is_none() {
                // The fit works on an f64 copy of every value.
                let bytes = (n * d * 8) as u64;
                memory_for_copy(&steps, bytes, available_memory(), &inputs.features)?;
            }
            table
                .matrix
                .fit(&steps)
                .map_err(|e| engine_error(e, &table, &inputs.features))?
        }
    };
    if let Some(w) = &inputs.weights {
        let weights = read_weights(w, d)?;
        if conditioner
            .conditioning()
            .steps()
            .iter()
            .any(|step| matches!(step, demud::conditioning::Step::Whiten { .. }))
        {
            return Err(DataError::file(
                w,
                format!(
                    "per-feature weights apply to the features DEMUD ranks, and the conditioning {} turns {d} features into {}: give weights without whitening",
                    conditioner.conditioning(),
                    conditioner.output_dim()
                ),
            ));
        }
        params = params.weights(weights);
    }
    let params = inputs.review.apply(
        params,
        &table.ids,
        &conditioner,
        |i| table.matrix.row_f64(i),
        &inputs.features,
    )?;
    let ranked_from = RankedFrom::of(&table.matrix, &conditioner);
    if let RankedFrom::ConditionedCopy { bytes, .. } = ranked_from {
        memory_for_copy(
            &conditioner.conditioning(),
            bytes,
            available_memory(),
            &inputs.features,
        )?;
    }
    let mut made = Made {
        table: &table,
        conditioner: &conditioner,
        start: &start,
        explanations: (outputs.explanations == ExplanationFiles::Written).then_some(explanations),
        top_features: outputs.top_features,
        progress: &mut progress,
        total: 0,
        picks: Vec::new(),
        top: Vec::new(),
        zeros: ZeroScores::default(),
    };
    let model = table
        .matrix
        .visit(Engine {
            params: &params,
            conditioner: &conditioner,
            made: &mut made,
        })
        .map_err(|stopped| match stopped {
            Stopped::Data(e) => e,
            Stopped::Engine(e) => match (&e, &prior_names) {
                (DemudError::ValueTooLarge { what, .. }, Some((path, prior)))
                    if what.contains("prior") =>
                {
                    engine_error(e, prior, path)
                }
                _ => engine_error(e, &table, &inputs.features),
            },
        })?;
    let Made {
        picks, top, zeros, ..
    } = made;

    let record = RunRecord {
        format: RUN_FORMAT.into(),
        version: RUN_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        features: inputs.features.clone(),
        items: inputs.items.clone(),
        labels: inputs.labels.clone(),
        weights: inputs.weights.clone(),
        start,
        n_items: n,
        n_features: d,
        precision: match table.matrix.precision() {
            "f16" => Precision::F16,
            "f32" => Precision::F32,
            _ => Precision::F64,
        },
        k,
        n_selected: picks.len(),
        update: params.update_method(),
        score: params.scoring().method(),
        missing: params.missing_policy(),
        compat: params.compatibility(),
        score_path: params.score_path(),
        refresh_every: params.refresh_interval(),
        selection: params.selection_rule(),
        conditioning: Some(ConditioningRecord {
            steps: conditioner.conditioning(),
            fitted_on,
            dims: conditioner.output_dim(),
        }),
        seed: params.seed_value(),
        svd: params.svd_method(),
        explanations: outputs.explanations,
        review: (!inputs.review.is_empty()).then(|| inputs.review.clone()),
        extraction: extraction.clone(),
        seconds: started.elapsed().as_secs_f64(),
        files: Default::default(),
    };
    let model = model.map(|m| SavedModel {
        state: ModelState::new(m, &params).with_conditioner(conditioner),
        extraction: extraction.or(extraction_of_model),
    });
    Ok(Finished {
        run: records(record, &table, &picks, top),
        model,
        ranked_from,
        zero_scores: zeros,
    })
}

/// What the engine ranked: the features as they were loaded (a `.npy` of `f32` or `f16`
/// values is mapped, not copied), or a conditioned copy of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankedFrom {
    /// The mapped file itself: the collection is not in memory beyond the pages the operating
    /// system keeps of it.
    MappedFile,
    /// The features read into memory (a CSV, `f64` or big-endian `.npy`), without another copy.
    LoadedFeatures,
    /// A copy of the features transformed by the conditioning, in the features' precision
    /// (`f32` for `f16` features), of `bytes` bytes, made in memory beside the features.
    ConditionedCopy {
        /// The copy's size.
        bytes: u64,
        /// Whether the features themselves were mapped (the copy is then the run's one copy).
        of_mapped: bool,
    },
}

impl RankedFrom {
    fn of(matrix: &FeatureMatrix, conditioner: &Conditioner) -> Self {
        if conditioner.is_identity() {
            return if matrix.is_mapped() {
                RankedFrom::MappedFile
            } else {
                RankedFrom::LoadedFeatures
            };
        }
        let width = match matrix.precision() {
            "f64" => 8,
            _ => 4,
        };
        RankedFrom::ConditionedCopy {
            bytes: (matrix.dim().0 * conditioner.output_dim() * width) as u64,
            of_mapped: matrix.is_mapped(),
        }
    }
}

/// Refuses a conditioning whose copy of the collection (`bytes`: the fit's f64 copy, or the
/// conditioned copy the engine ranks) would not fit in the `available` memory, before it is
/// made: at 10^6 x 4,096 the fit alone would take 33 GB, and the operating system would kill
/// the run (or swap it to a crawl) rather than say why. Without conditioning a mapped `.npy`
/// is ranked where it is, so the error says how to get that.
fn memory_for_copy(
    steps: &Conditioning,
    bytes: u64,
    available: Option<u64>,
    features: &Path,
) -> Result<()> {
    match available {
        Some(available) if bytes > available => Err(DataError::file(
            features,
            format!(
                "the conditioning {steps} works on a copy of the features in memory ({:.1} GB), and {:.1} GB is available: use --conditioning none to rank the file as it is (a mapped .npy is not copied), or a machine with more memory",
                bytes as f64 / 1e9,
                available as f64 / 1e9
            ),
        )),
        _ => Ok(()),
    }
}

/// The memory the operating system says it can give without swapping (`MemAvailable` of
/// `/proc/meminfo`, Linux); `None` where that is not known.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    mem_available(&text)
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The engine run of [`run_discovery_into`], for features of any precision.
struct Engine<'a, 'm> {
    params: &'a DemudParams,
    conditioner: &'a Conditioner,
    made: &'a mut Made<'m>,
}

/// Why an engine run stopped before its last selection.
enum Stopped {
    /// The engine refused the data or failed.
    Engine(DemudError),
    /// An explanation could not be kept (a write failed).
    Data(DataError),
}

impl MatrixVisitor for Engine<'_, '_> {
    type Output = std::result::Result<Option<SubspaceModel>, Stopped>;
    fn visit<T: Element>(self, data: ArrayView2<'_, T>) -> Self::Output {
        // Without conditioning the engine ranks the features where they are (a mapped file is
        // never copied); a conditioning transforms them into a copy, in f32 for f16 features.
        if self.conditioner.is_identity() {
            return run_engine(self.params, data, self.made);
        }
        let conditioned = self
            .conditioner
            .transform_as::<T, T::Arithmetic>(data)
            .map_err(Stopped::Engine)?;
        run_engine(self.params, conditioned.view(), self.made)
    }
}

fn run_engine<T: Element>(
    params: &DemudParams,
    data: ArrayView2<T>,
    made: &mut Made<'_>,
) -> std::result::Result<Option<SubspaceModel>, Stopped> {
    let mut discovery = params.discover(data).map_err(Stopped::Engine)?;
    made.begin(discovery.len_total()).map_err(Stopped::Data)?;
    for selection in discovery.by_ref() {
        made.take(selection.map_err(Stopped::Engine)?)
            .map_err(Stopped::Data)?;
    }
    Ok(discovery.model())
}

/// A selection as the records keep it, its explanation vectors gone.
struct Pick {
    rank: usize,
    index: usize,
    score: f64,
}

/// What a discovery keeps of its selections as they are made: the picks, their top features
/// and zero-score kinds; each explanation goes to the sink and is dropped.
struct Made<'m> {
    table: &'m FeatureTable,
    conditioner: &'m Conditioner,
    start: &'m Start,
    explanations: Option<&'m mut dyn ExplanationSink>,
    top_features: usize,
    progress: &'m mut dyn FnMut(usize, usize),
    total: usize,
    picks: Vec<Pick>,
    top: Vec<TopFeatureRow>,
    zeros: ZeroScores,
}

impl Made<'_> {
    fn begin(&mut self, total: usize) -> Result<()> {
        self.total = total;
        self.picks.reserve(total);
        match self.explanations.as_mut() {
            Some(sink) => sink.begin(total, self.table.matrix.dim().1, self.conditioner),
            None => Ok(()),
        }
    }

    fn take(&mut self, s: Selection) -> Result<()> {
        // The explanation in the features the user gave: mapped back from the conditioned
        // space, so the explanation files and `top_features.csv` speak of those features.
        let in_features = (!self.conditioner.is_identity()).then(|| {
            let item = self.table.matrix.row_f64(s.index);
            self.conditioner
                .explain_in_input_space(item.view(), s.expected.view())
        });
        let (expected, residual) = match &in_features {
            Some((e, r)) => (e.view(), r.view()),
            None => (s.expected.view(), s.residual.view()),
        };
        let table = self.table;
        // The largest |residual| first; unobserved features (NaN) are not listed.
        let mut order: Vec<usize> = (0..residual.len())
            .filter(|&j| !residual[j].is_nan())
            .collect();
        order.sort_by(|&a, &b| residual[b].abs().total_cmp(&residual[a].abs()));
        for &j in order.iter().take(self.top_features) {
            self.top.push(TopFeatureRow {
                rank: s.rank,
                index: s.index,
                id: table.ids[s.index].clone(),
                feature: table.feature_names[j].clone(),
                residual: residual[j],
                expected: expected[j],
                value: expected[j] + residual[j],
            });
        }
        // Without explanations every 0 counts as a copy, as [`NewRun::zero_scores`] counts.
        let explained = self.explanations.is_some();
        self.zeros.count(self.start, s.rank, s.score, || {
            !explained || residual_vanishes(s.expected.view(), s.residual.view())
        });
        if let Some(sink) = self.explanations.as_mut() {
            sink.push(ExplanationRow {
                expected,
                residual,
                ranked_expected: s.expected.view(),
                ranked_residual: s.residual.view(),
            })?;
        }
        self.picks.push(Pick {
            rank: s.rank,
            index: s.index,
            score: s.score,
        });
        (self.progress)(self.picks.len(), self.total);
        Ok(())
    }
}

/// The conditioning a run gets when none is asked for: [`Conditioning::recommended`] for
/// image features (`.npy` files, as `extract` writes them), none for CSV tables (whose columns
/// have their own units), for data with missing values, and under the reference-compatibility
/// switch (the reference ranks raw features).
///
/// A bag of visual words (known from the features' extraction record) is left as it is: its
/// histograms are already normalised counts, and on the emoji benchmark the recommended
/// conditioning lost at t = 300 in three of four settings (by 23 points on the unbalanced
/// categories).
fn default_conditioning(
    inputs: &DiscoveryInputs,
    params: &DemudParams,
    table: &FeatureTable,
    extraction: Option<&ExtractionRecord>,
) -> Conditioning {
    default_conditioning_of(
        &inputs.features,
        params.compatibility(),
        table.matrix.has_missing(),
        extraction,
    )
}

/// The default conditioning of a features file (see [`run_discovery`]'s rule): the
/// recommended steps for `.npy` features of a network, none otherwise.
pub fn default_conditioning_of(
    features: &Path,
    compat: Compatibility,
    has_missing: bool,
    extraction: Option<&ExtractionRecord>,
) -> Conditioning {
    let is_npy = features
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let is_bag_of_words = extraction.is_some_and(|r| r.kind.starts_with("bow"));
    if is_npy && !is_bag_of_words && compat == Compatibility::Clean && !has_missing {
        Conditioning::recommended()
    } else {
        Conditioning::none()
    }
}

/// Names the item and feature of a data error by id and feature name.
fn engine_error(source: DemudError, table: &FeatureTable, path: &Path) -> DataError {
    let at = match &source {
        DemudError::MissingValue { item, feature }
        | DemudError::InfiniteValue { item, feature }
        | DemudError::ValueTooLarge { item, feature, .. }
            if *item < table.ids.len() && *feature < table.feature_names.len() =>
        {
            format!(
                "item {:?} (row {} of the data), feature {:?}: ",
                table.ids[*item],
                item + 1,
                table.feature_names[*feature]
            )
        }
        _ => String::new(),
    };
    DataError::Engine {
        path: path.to_path_buf(),
        at,
        source,
    }
}

/// The run folder's records of a finished discovery (its explanations kept elsewhere).
fn records(
    record: RunRecord,
    table: &FeatureTable,
    picks: &[Pick],
    top: Vec<TopFeatureRow>,
) -> NewRun {
    let label = |i: usize| {
        table
            .labels
            .as_ref()
            .map_or("", |l| l[i].as_str())
            .to_string()
    };
    let rows = picks
        .iter()
        .map(|s| SelectionRow {
            rank: s.rank,
            index: s.index,
            id: table.ids[s.index].clone(),
            label: label(s.index),
            score: s.score,
        })
        .collect();
    NewRun {
        record,
        selections: rows,
        top_features: top,
        explanations: None,
        ranked: None,
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    #[test]
    fn meminfo_is_read_in_bytes() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(mem_available(text), Some(20_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn a_copy_larger_than_the_memory_available_is_refused_by_name() {
        let steps = Conditioning::recommended();
        let path = Path::new("archive.npy");
        let err = memory_for_copy(&steps, 33_000_000_000, Some(20_000_000_000), path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("archive.npy"), "{err}");
        assert!(err.contains("33.0 GB") && err.contains("20.0 GB"), "{err}");
        assert!(err.contains("--conditioning none"), "{err}");
        assert!(memory_for_copy(&steps, 1_000, Some(20_000_000_000), path).is_ok());
        // Where the memory is not known, the run goes ahead.
        assert!(memory_for_copy(&steps, u64::MAX, None, path).is_ok());
    }
}
