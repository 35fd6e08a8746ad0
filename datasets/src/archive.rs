//! The archive folder of a downlink loop: everything a team has seen, the DEMUD model of it,
//! and a log of the batches folded in. A new batch is ranked against the archive's model, and
//! once reviewed it is folded in, so the next batch is ranked against it too.
//!
//! ```text
//! <archive>/archive.json          ArchiveRecord: settings, extraction, folded batches, model
//! <archive>/model-NNNN.json       SavedModel of every folded item (the file archive.json names)
//! <archive>/batches/<name>.npy    a batch's features (f32 from images, f64 from a table),
//! <archive>/batches/<name>.items.csv             its ids (and labels),
//! <archive>/batches/<name>.extraction.json       how it was extracted, when from images
//! <archive>/runs/<name>/          the run that ranked it (the default place)
//! ```
//!
//! `archive.json` is the commit point: a batch file that it does not list is pending (ranked,
//! not folded), and a fold writes the new model under a new name before it replaces
//! `archive.json` atomically, so an interrupted fold leaves the archive as it was.
//!
//! The model of an archive is the model a discovery with every folded item as its prior data
//! set starts from ([`demud::fitted::model_of_items`]: the conditioning fitted on all of them,
//! then their top-k SVD), so ranking a batch against the archive makes exactly the selections
//! of `discover --prior <all folded items>`.

use crate::error::{DataError, Result};
use crate::extraction::{read_extraction_record, write_extraction_record, ExtractionRecord};
use crate::features::{content_hash, items_path, read_features, write_npy_features, CsvLayout};
use crate::features::{FeatureMatrix, FeatureTable, MappedView};
use crate::run::{read_saved_model, write_json, write_saved_model, SavedModel};
use demud::{Conditioning, DemudParams, MissingPolicy, UpdateMethod};
use ndarray::{concatenate, Array2, Axis};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` of `archive.json`.
pub const ARCHIVE_FORMAT: &str = "demud-archive";
/// The `archive.json` version this build writes and reads.
pub const ARCHIVE_VERSION: u32 = 1;
/// The archive's record.
pub const ARCHIVE_FILE: &str = "archive.json";
/// The folder of the batches' features.
pub const BATCHES_DIR: &str = "batches";
/// The default folder of the runs that ranked batches.
pub const RUNS_DIR: &str = "runs";

/// How an archive's model is built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchiveSettings {
    /// Principal components.
    pub k: usize,
    /// The update a ranking continues the model with (`brand` or `ross`).
    pub update: UpdateMethod,
    /// The feature conditioning, fitted on every folded item at each fold.
    pub conditioning: Conditioning,
}

/// One folded batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// Its name (the file stem in `batches/`).
    pub name: String,
    /// Items in it.
    pub items: usize,
    /// The [`content_hash`] of its features file: a batch with the same content is refused.
    pub hash: String,
    /// When it was folded, in seconds since the Unix epoch.
    pub folded_at: u64,
}

/// Everything in `archive.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchiveRecord {
    /// Always [`ARCHIVE_FORMAT`].
    pub format: String,
    /// [`ARCHIVE_VERSION`].
    pub version: u32,
    /// How the model is built.
    pub settings: ArchiveSettings,
    /// Features per item.
    pub n_features: usize,
    /// How the features were made from images (absent for feature tables): a batch must be
    /// extracted the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction: Option<ExtractionRecord>,
    /// The folded batches, in order.
    pub batches: Vec<BatchRecord>,
    /// The current model's file name in the archive folder.
    pub model: String,
}

impl ArchiveRecord {
    /// Items folded in.
    pub fn n_items(&self) -> usize {
        self.batches.iter().map(|b| b.items).sum()
    }
}

/// An open archive folder.
#[derive(Clone, Debug)]
pub struct Archive {
    dir: PathBuf,
    record: ArchiveRecord,
}

/// What a fold did.
#[derive(Clone, Debug, PartialEq)]
pub struct Folded {
    /// The batch.
    pub batch: BatchRecord,
    /// Items in the archive now.
    pub total: usize,
    /// Directions of the new model.
    pub rank: usize,
}

/// Refuses a batch name that is not a plain file stem.
fn check_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        Ok(())
    } else {
        Err(DataError::file(
            Path::new(name),
            "a batch name is 1 to 100 letters, digits, '.', '_' or '-', not starting with '.'",
        ))
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Archive {
    /// Creates an archive at `dir` (which must not exist, or be an empty folder) from a first
    /// batch of features (with its extraction record when it was made from images), folded in
    /// as `name`. The whole folder is written at once: a failure leaves no archive.
    pub fn create(
        dir: &Path,
        settings: ArchiveSettings,
        name: &str,
        first: &FeatureTable,
        extraction: Option<ExtractionRecord>,
    ) -> Result<Archive> {
        check_name(name)?;
        if dir.exists()
            && std::fs::read_dir(dir)
                .map_err(|e| DataError::write(dir, e))?
                .next()
                .is_some()
        {
            return Err(DataError::file(
                dir,
                "exists and is not empty: an archive is created in a new folder (use `archive fold` to add to an archive)",
            ));
        }
        if !matches!(settings.update, UpdateMethod::Brand | UpdateMethod::Ross) {
            return Err(DataError::file(
                dir,
                "an archive's model is continued by an incremental update: use brand or ross",
            ));
        }
        let record = ArchiveRecord {
            format: ARCHIVE_FORMAT.into(),
            version: ARCHIVE_VERSION,
            settings,
            n_features: first.matrix.dim().1,
            extraction: extraction.clone(),
            batches: Vec::new(),
            model: String::new(),
        };
        if dir.exists() {
            std::fs::remove_dir(dir).map_err(|e| DataError::write(dir, e))?;
        }
        crate::atomic::commit_folder(dir, |staging| -> Result<()> {
            let mut archive = Archive {
                dir: staging.to_path_buf(),
                record,
            };
            archive.stage(name, first, extraction)?;
            archive.fold(name)?;
            Ok(())
        })?;
        Archive::open(dir)
    }

    /// Opens the archive at `dir`, checking its record and that its files are there.
    pub fn open(dir: &Path) -> Result<Archive> {
        let path = dir.join(ARCHIVE_FILE);
        if !path.is_file() {
            return Err(DataError::file(
                dir,
                format!("not an archive folder: it has no {ARCHIVE_FILE} (create one with `demud archive init`)"),
            ));
        }
        let record: ArchiveRecord = crate::run::read_json(&path, ARCHIVE_FORMAT, ARCHIVE_VERSION)?;
        let archive = Archive {
            dir: dir.to_path_buf(),
            record,
        };
        for batch in &archive.record.batches {
            let file = archive.batch_features(&batch.name);
            if !file.is_file() {
                return Err(DataError::file(
                    &path,
                    format!(
                        "batch {:?} is listed but {} is missing",
                        batch.name,
                        file.display()
                    ),
                ));
            }
        }
        if !archive.model_path().is_file() {
            return Err(DataError::file(
                &path,
                format!("its model {} is missing", archive.model_path().display()),
            ));
        }
        Ok(archive)
    }

    /// The archive's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its record.
    pub fn record(&self) -> &ArchiveRecord {
        &self.record
    }

    /// The current model file (a [`SavedModel`], as `discover --model-in` reads it).
    pub fn model_path(&self) -> PathBuf {
        self.dir.join(&self.record.model)
    }

    /// The current model.
    pub fn model(&self) -> Result<SavedModel> {
        read_saved_model(&self.model_path())
    }

    /// The features file of batch `name` (folded or pending).
    pub fn batch_features(&self, name: &str) -> PathBuf {
        self.dir.join(BATCHES_DIR).join(format!("{name}.npy"))
    }

    /// The default run folder of batch `name`.
    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.dir.join(RUNS_DIR).join(name)
    }

    /// Refuses a name taken by a folded batch (before a batch is extracted for nothing).
    pub fn check_name_free(&self, name: &str) -> Result<()> {
        check_name(name)?;
        match self.folded(name) {
            Some(_) => Err(DataError::file(
                &self.batch_features(name),
                format!("a batch named {name:?} is already in the archive; give the new batch another name"),
            )),
            None => Ok(()),
        }
    }

    /// The folded batch called `name`, if any.
    pub fn folded(&self, name: &str) -> Option<&BatchRecord> {
        self.record.batches.iter().find(|b| b.name == name)
    }

    /// Checks that a batch can join the archive: the archive's feature count, the same
    /// extraction (network, layer, weights, preprocessing) when the archive has one, and a
    /// name not yet folded.
    fn check_batch(
        &self,
        name: &str,
        table: &FeatureTable,
        extraction: Option<&ExtractionRecord>,
        source: &Path,
    ) -> Result<()> {
        self.check_name_free(name)?;
        let d = table.matrix.dim().1;
        if d != self.record.n_features {
            return Err(DataError::file(
                source,
                format!(
                    "{d} features per item, the archive's items have {}: rank a batch made the way the archive's were",
                    self.record.n_features
                ),
            ));
        }
        match (&self.record.extraction, extraction) {
            (Some(ours), Some(theirs)) => {
                theirs.check_against(source, ours, &self.dir.join(ARCHIVE_FILE))?
            }
            (Some(ours), None) => {
                return Err(DataError::file(
                    source,
                    format!(
                        "the archive's features are {} extracted from images, and these have no extraction record: extract the batch with the archive (demud archive rank --images)",
                        ours.kind
                    ),
                ))
            }
            (None, Some(theirs)) => {
                return Err(DataError::file(
                    source,
                    format!(
                        "these are {} features extracted from images; the archive holds features from a table",
                        theirs.kind
                    ),
                ))
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// Writes a batch's features into `batches/` as `name` (pending until folded), after the
    /// checks of a batch; a pending batch of that name is replaced. Returns the features file.
    pub fn stage(
        &mut self,
        name: &str,
        table: &FeatureTable,
        extraction: Option<ExtractionRecord>,
    ) -> Result<PathBuf> {
        let file = self.batch_features(name);
        self.check_batch(name, table, extraction.as_ref(), &file)?;
        let labels = table.labels.as_deref();
        match &table.matrix {
            FeatureMatrix::F32(a) => write_npy_features(&file, &table.ids, labels, a)?,
            FeatureMatrix::F64(a) => write_npy_features(&file, &table.ids, labels, a)?,
            FeatureMatrix::Mapped(m) => match m.view() {
                MappedView::F32(a) => write_npy_features(&file, &table.ids, labels, &a.to_owned())?,
                MappedView::F16(a) => {
                    let halves = a.mapv(crate::parts::F16);
                    write_npy_features(&file, &table.ids, labels, &halves)?
                }
            },
        }
        // A batch the archive holds already would be ranked against itself: refused here,
        // before anyone reviews it, as its fold would be.
        let hash = content_hash(&file)?;
        if let Some(same) = self.record.batches.iter().find(|b| b.hash == hash) {
            let items = items_path(&file);
            let _ = std::fs::remove_file(&file);
            let _ = std::fs::remove_file(&items);
            return Err(DataError::file(
                &file,
                format!(
                    "these are the features of batch {:?}, folded already: the archive has seen this batch",
                    same.name
                ),
            ));
        }
        match extraction {
            Some(record) => write_extraction_record(&file, &record)?,
            None => {
                let stale = crate::extraction::extraction_path(&file);
                if stale.exists() {
                    std::fs::remove_file(&stale).map_err(|e| DataError::write(&stale, e))?;
                }
            }
        }
        Ok(file)
    }

    /// Removes the pending batch `name`'s files (a ranking that failed after its batch was
    /// staged leaves the archive as it was). A folded batch is never removed.
    pub fn unstage(&self, name: &str) -> Result<()> {
        self.check_name_free(name)?;
        let file = self.batch_features(name);
        for path in [
            crate::extraction::extraction_path(&file),
            items_path(&file),
            file.clone(),
        ] {
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| DataError::write(&path, e))?;
            }
        }
        Ok(())
    }

    /// Folds the pending batch `name` into the archive: the model is fitted again on every
    /// folded item and this batch's, written under a new name, and `archive.json` then
    /// replaced in one atomic rename. A batch already folded, or with the content of a folded
    /// batch, is refused; an interruption leaves the archive as it was.
    pub fn fold(&mut self, name: &str) -> Result<Folded> {
        check_name(name)?;
        let file = self.batch_features(name);
        if let Some(batch) = self.folded(name) {
            return Err(DataError::file(
                &file,
                format!(
                    "batch {name:?} was folded into the archive already ({} items); a batch is folded once",
                    batch.items
                ),
            ));
        }
        if !file.is_file() {
            return Err(DataError::file(
                &file,
                format!(
                    "no pending batch {name:?}: rank it first (demud archive rank --name {name})"
                ),
            ));
        }
        let hash = content_hash(&file)?;
        if let Some(same) = self.record.batches.iter().find(|b| b.hash == hash) {
            return Err(DataError::file(
                &file,
                format!(
                    "batch {name:?} has the same features as batch {:?}, folded already: the same batch would be counted twice",
                    same.name
                ),
            ));
        }
        let table = read_features(&file, CsvLayout::default(), None)?;
        self.check_batch(name, &table, read_extraction_record(&file)?.as_ref(), &file)?;
        // Folded batches first, in order, then this one: the rows a prior file of every
        // folded item would hold.
        let batch_rows = table.matrix.to_f64();
        let items: Array2<f64> = if self.record.batches.is_empty() {
            batch_rows
        } else {
            let earlier = self.folded_items()?.matrix.to_f64();
            concatenate(Axis(0), &[earlier.view(), batch_rows.view()]).map_err(|e| {
                DataError::file(&file, format!("the batches cannot be stacked: {e}"))
            })?
        };
        let settings = &self.record.settings;
        let params = DemudParams::new(settings.k).update(settings.update);
        let state = demud::fitted::model_of_items(
            items.view(),
            &params,
            &settings.conditioning,
            MissingPolicy::Error,
        )
        .map_err(|source| DataError::Engine {
            path: file.clone(),
            at: String::new(),
            source,
        })?;
        let rank = state.model.rank();
        let batch = BatchRecord {
            name: name.to_string(),
            items: table.ids.len(),
            hash,
            folded_at: now(),
        };
        let mut record = self.record.clone();
        record.batches.push(batch.clone());
        record.model = format!("model-{:04}.json", record.batches.len());
        write_saved_model(
            &self.dir.join(&record.model),
            &SavedModel {
                state,
                extraction: record.extraction.clone(),
            },
        )?;
        write_json(&self.dir.join(ARCHIVE_FILE), &record)?;
        let old = std::mem::replace(&mut self.record, record);
        if !old.model.is_empty() && old.model != self.record.model {
            // The previous model is no longer named by the record; a failure to delete it
            // leaves a stray file, never a wrong archive.
            let _ = std::fs::remove_file(self.dir.join(&old.model));
        }
        Ok(Folded {
            batch,
            total: self.record.n_items(),
            rank,
        })
    }

    /// Every folded item's features, stacked in fold order, as one table (ids as the batches
    /// gave them; labels when every batch has them).
    pub fn folded_items(&self) -> Result<FeatureTable> {
        let mut ids = Vec::new();
        let mut labels: Vec<String> = Vec::new();
        let mut all_labelled = true;
        let mut rows = Vec::new();
        for batch in &self.record.batches {
            let table = read_features(
                &self.batch_features(&batch.name),
                CsvLayout::default(),
                None,
            )?;
            ids.extend(table.ids.iter().cloned());
            match &table.labels {
                Some(l) => labels.extend(l.iter().cloned()),
                None => all_labelled = false,
            }
            rows.push(table.matrix.to_f64());
        }
        let views: Vec<_> = rows.iter().map(|a| a.view()).collect();
        let matrix = concatenate(Axis(0), &views).map_err(|e| {
            DataError::file(&self.dir, format!("the batches cannot be stacked: {e}"))
        })?;
        Ok(FeatureTable {
            feature_names: (0..matrix.ncols()).map(|j| format!("f{j}")).collect(),
            ids,
            labels: all_labelled.then_some(labels),
            matrix: FeatureMatrix::F64(matrix),
        })
    }

    /// The items file of batch `name`.
    pub fn batch_items(&self, name: &str) -> PathBuf {
        items_path(&self.batch_features(name))
    }
}
