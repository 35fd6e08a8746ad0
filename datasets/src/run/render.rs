//! The render folder: each selection drawn by the decoder (`render.json`, `renders.csv`, the
//! views as PNG, a contact sheet, and the decoded images as arrays for `localise`).

use super::{
    read_array, read_json, read_rows, relative_to, write_array, write_json, write_png, write_rows,
};
use super::{RunFolder, SelectionRow};
use crate::atomic::commit_folder;
use crate::error::{DataError, Result};
use image::RgbImage;
use ndarray::{Array4, Axis};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` of `render.json`.
pub const RENDER_FORMAT: &str = "demud-render";
/// The `render.json` version this build writes and reads.
pub const RENDER_VERSION: u32 = 1;
/// The render's record.
pub const RENDER_FILE: &str = "render.json";
/// One row per rendered selection.
pub const RENDERS_FILE: &str = "renders.csv";
/// All views of all selections on one image.
pub const CONTACT_SHEET_FILE: &str = "contact_sheet.png";
/// dec(x) of each selection, `n x 3 x s x s`.
pub const DECODED_FEATURES_FILE: &str = "decoded_features.npy";
/// dec(x̂) of each selection.
pub const DECODED_EXPECTED_FILE: &str = "decoded_expected.npy";
/// dec(e) of each selection.
pub const DECODED_NOVEL_FILE: &str = "decoded_novel.npy";

/// What the report needs to know of the decoder that drew a render.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecoderSummary {
    /// Side of the decoded images in pixels.
    pub image_size: usize,
    /// Widths of its hidden fully connected layers.
    pub hidden: Vec<usize>,
    /// (image, feature vector) pairs it was trained on.
    pub pairs: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Mean pixel MSE of the last epoch.
    pub final_loss: Option<f64>,
}

/// Everything in `render.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderRecord {
    /// Always [`RENDER_FORMAT`].
    pub format: String,
    /// [`RENDER_VERSION`] when written by this build.
    pub version: u32,
    /// The run folder, relative to the render folder.
    pub run: PathBuf,
    /// The decoder's checkpoint folder, relative to the render folder.
    pub decoder: PathBuf,
    /// The image folder of the items, relative to the render folder.
    pub images: PathBuf,
    /// Selections rendered (the run's first ones).
    pub selections: usize,
    /// The decoder.
    pub decoder_summary: DecoderSummary,
}

/// One row of `renders.csv`: the selection, then its five view files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderRow {
    /// 1-based rank.
    pub rank: usize,
    /// Row of the item in the run's features.
    pub index: usize,
    /// Item id.
    pub id: String,
    /// Label, empty when unknown.
    pub label: String,
    /// DEMUD score.
    #[serde(serialize_with = "super::shortest")]
    pub score: f64,
    /// The image as the encoder saw it.
    pub original: String,
    /// dec(x).
    pub features: String,
    /// dec(x̂), expected content.
    pub expected: String,
    /// dec(e), novel content.
    pub novel: String,
    /// |dec(x) − dec(x̂)| as a heat map.
    pub difference: String,
}

impl RenderRow {
    /// The five view files, in the order original, features, expected, novel, difference.
    pub fn view_files(&self) -> [&str; 5] {
        [
            &self.original,
            &self.features,
            &self.expected,
            &self.novel,
            &self.difference,
        ]
    }

    /// Whether the row draws selection `s`: its rank, item and score (a run made again with
    /// other settings that picks the same items scores them otherwise).
    fn is_of(&self, s: &SelectionRow) -> bool {
        self.rank == s.rank && self.index == s.index && self.id == s.id && self.score == s.score
    }
}

/// The decoded images of every rendered selection (values in [0, 1]).
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedViews {
    /// dec(x), `n x 3 x s x s`.
    pub features: Array4<f32>,
    /// dec(x̂).
    pub expected: Array4<f32>,
    /// dec(e).
    pub novel: Array4<f32>,
}

/// A render to write.
#[derive(Clone, Debug)]
pub struct NewRender {
    /// The record; [`write_render`] rewrites its paths relative to the render folder.
    pub record: RenderRecord,
    /// One row per selection.
    pub rows: Vec<RenderRow>,
    /// Every PNG of the rows, by file name.
    pub images: Vec<(String, RgbImage)>,
    /// All views on one sheet.
    pub contact_sheet: RgbImage,
    /// The decoded images.
    pub decoded: DecodedViews,
}

/// Writes a render folder whole.
pub fn write_render(dir: &Path, render: &NewRender) -> Result<()> {
    let mut record = render.record.clone();
    record.run = relative_to(&record.run, dir);
    record.decoder = relative_to(&record.decoder, dir);
    record.images = relative_to(&record.images, dir);
    record.selections = render.rows.len();
    commit_folder(dir, |staging| {
        for (name, image) in &render.images {
            write_png(&staging.join(name), image)?;
        }
        write_png(&staging.join(CONTACT_SHEET_FILE), &render.contact_sheet)?;
        write_array(
            &staging.join(DECODED_FEATURES_FILE),
            &render.decoded.features,
        )?;
        write_array(
            &staging.join(DECODED_EXPECTED_FILE),
            &render.decoded.expected,
        )?;
        write_array(&staging.join(DECODED_NOVEL_FILE), &render.decoded.novel)?;
        write_rows(&staging.join(RENDERS_FILE), &render.rows)?;
        write_json(&staging.join(RENDER_FILE), &record)
    })
}

/// A render folder as read back, checked against its run.
#[derive(Clone, Debug)]
pub struct RenderFolder {
    dir: PathBuf,
    record: RenderRecord,
    rows: Vec<RenderRow>,
}

impl RenderFolder {
    /// The record of a render folder's `render.json` alone (to find its run).
    pub fn record_of(dir: &Path) -> Result<RenderRecord> {
        read_json(&dir.join(RENDER_FILE), RENDER_FORMAT, RENDER_VERSION)
    }

    /// The run a render folder was drawn from, opened.
    pub fn open_with_run(dir: &Path) -> Result<(RunFolder, RenderFolder)> {
        let record = Self::record_of(dir)?;
        let run = RunFolder::open(&dir.join(&record.run))?;
        let render = RenderFolder::open(dir, &run)?;
        Ok((run, render))
    }

    /// Opens a render folder and checks that its rows are the first selections of `run`, in
    /// the same order, with the same ids.
    pub fn open(dir: &Path, run: &RunFolder) -> Result<Self> {
        let record: RenderRecord =
            read_json(&dir.join(RENDER_FILE), RENDER_FORMAT, RENDER_VERSION)?;
        let path = dir.join(RENDERS_FILE);
        let rows: Vec<RenderRow> = read_rows(&path)?;
        if rows.len() != record.selections || rows.len() > run.selections().len() {
            return Err(DataError::file(
                &path,
                format!(
                    "{} rows; render.json says {} and the run in {} has {} selections: the files are from different runs",
                    rows.len(),
                    record.selections,
                    run.dir().display(),
                    run.selections().len()
                ),
            ));
        }
        for (i, (row, selection)) in rows.iter().zip(run.selections()).enumerate() {
            if !row.is_of(selection) {
                return Err(DataError::line(
                    &path,
                    i as u64 + 2,
                    format!(
                        "rank {} item {} ({:?}) scored {}, but selection {} of the run in {} is item {} ({:?}) scored {}: this render belongs to another run; render again",
                        row.rank,
                        row.index,
                        row.id,
                        row.score,
                        selection.rank,
                        run.dir().display(),
                        selection.index,
                        selection.id,
                        selection.score
                    ),
                ));
            }
        }
        Ok(RenderFolder {
            dir: dir.to_path_buf(),
            record,
            rows,
        })
    }

    /// The render folder `dir` when given, else the run's own (`<run>/render`) when it has
    /// been made; `None` when neither.
    pub fn open_or_default(dir: Option<&Path>, run: &RunFolder) -> Result<Option<Self>> {
        super::open_or_default(dir, run.render_dir(), RENDERS_FILE, |d| Self::open(d, run))
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The record of `render.json`.
    pub fn record(&self) -> &RenderRecord {
        &self.record
    }
    /// One row per rendered selection.
    pub fn rows(&self) -> &[RenderRow] {
        &self.rows
    }
    /// The decoder's checkpoint folder, as a path usable from the working directory.
    pub fn decoder_dir(&self) -> PathBuf {
        self.dir.join(&self.record.decoder)
    }

    /// The decoded images, checked to hold one image per row, all of one size.
    pub fn decoded(&self) -> Result<DecodedViews> {
        let read = |name: &str| -> Result<Array4<f32>> {
            let path = self.dir.join(name);
            let array: Array4<f32> = read_array(&path)?;
            let s = self.record.decoder_summary.image_size;
            if array.len_of(Axis(0)) != self.rows.len() || array.shape()[1..] != [3, s, s] {
                return Err(DataError::file(
                    &path,
                    format!(
                        "shape {:?}, but {} lists {} selections drawn at {s} px: the files are from different renders",
                        array.shape(),
                        RENDERS_FILE,
                        self.rows.len()
                    ),
                ));
            }
            Ok(array)
        };
        Ok(DecodedViews {
            features: read(DECODED_FEATURES_FILE)?,
            expected: read(DECODED_EXPECTED_FILE)?,
            novel: read(DECODED_NOVEL_FILE)?,
        })
    }
}
