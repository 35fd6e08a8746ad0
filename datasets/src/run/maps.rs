//! The maps folder of a run (`<run>/maps/`): where in each selection's image its novelty is,
//! one map per kind, drawn as overlays.
//!
//! ```text
//! maps.json             MapsRecord: network and layer, image side, grid, scale per kind
//! maps.csv              MapRow per selection and kind: sum, top-10% share, peak
//! map-<kind>.npy        n x side x side (f32): the maps at the image's resolution
//! NNNN-image.png        the image as the network saw it (resized and cropped)
//! NNNN-<kind>.png       the image with the map as a heat-map overlay
//! colourbar-<kind>.png  the colour scale of that kind (one scale per run)
//! ```

use super::{read_array, read_json, read_rows, relative_to, write_array, write_json, write_png};
use super::{write_rows, MapKind, RunFolder};
use crate::atomic::commit_folder;
use crate::error::{DataError, Result};
use image::RgbImage;
use ndarray::{Array3, Axis};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The default maps folder inside a run.
pub const MAPS_DIR: &str = "maps";
/// The folder's record.
pub const MAPS_FILE: &str = "maps.json";
/// One row per selection and map kind.
pub const MAPS_ROWS_FILE: &str = "maps.csv";
/// The `format` of `maps.json`.
pub const MAPS_FORMAT: &str = "demud-maps";
/// The `maps.json` version this build writes and reads.
pub const MAPS_VERSION: u32 = 1;

/// The array file of one map kind.
pub fn map_array_file(kind: MapKind) -> String {
    format!("map-{}.npy", kind.name())
}
/// The overlay of one selection and kind.
pub fn overlay_file(rank: usize, kind: MapKind) -> String {
    format!("{rank:04}-{}.png", kind.name())
}
/// The image of one selection as the network saw it.
pub fn map_image_file(rank: usize) -> String {
    format!("{rank:04}-image.png")
}
/// The colour bar of one kind.
pub fn colour_bar_file(kind: MapKind) -> String {
    format!("colourbar-{}.png", kind.name())
}

/// One kind of map in the folder and the value its colour map tops out at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapScale {
    /// The kind.
    pub map: MapKind,
    /// The value drawn in the colour map's last colour (the 99.5th percentile of the run's
    /// positive values): one scale per run, so overlays compare across selections.
    pub scale: f32,
}

/// Everything in `maps.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapsRecord {
    /// Always [`MAPS_FORMAT`].
    pub format: String,
    /// [`MAPS_VERSION`] when written by this build.
    pub version: u32,
    /// Version of the program that wrote it.
    pub tool_version: String,
    /// The run folder, relative to the maps folder.
    pub run: PathBuf,
    /// The image folder of the items, relative to the maps folder.
    pub images: PathBuf,
    /// The network (`efficientnet-lite0`, ...).
    pub network: String,
    /// Its layer the run ranked.
    pub layer: String,
    /// Side of the images and maps in pixels (the network's input).
    pub side: usize,
    /// The feature map's grid `[rows, columns]` when the layer is a sum over its positions
    /// (the novelty map is then exact); absent otherwise.
    pub grid: Option<[usize; 2]>,
    /// The kinds drawn, with their scales.
    pub maps: Vec<MapScale>,
    /// The kind the report shows first.
    pub default_map: MapKind,
    /// Selections mapped (the run's first ones).
    pub selections: usize,
    /// The fraction of pixels `top_share` is taken over.
    pub top_fraction: f64,
}

/// One row of `maps.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapRow {
    /// 1-based rank.
    pub rank: usize,
    /// Row of the item in the run's features.
    pub index: usize,
    /// Item id.
    pub id: String,
    /// The kind of map.
    pub map: MapKind,
    /// DEMUD's score of the selection.
    #[serde(serialize_with = "super::shortest")]
    pub score: f64,
    /// The map's sum (for the novelty map, the sum of its feature-map cells: the score, to
    /// rounding).
    #[serde(serialize_with = "super::shortest")]
    pub total: f64,
    /// For the novelty map, the share of its sum (the score) in its top `top_fraction` of
    /// pixels; for the others, the share of the map's positive mass there.
    #[serde(serialize_with = "super::shortest")]
    pub top_share: f64,
    /// Column of the map's maximum.
    pub peak_x: usize,
    /// Row of the map's maximum.
    pub peak_y: usize,
}

/// A maps folder to write.
#[derive(Clone, Debug)]
pub struct NewMaps {
    /// The record; [`write_maps`] rewrites its paths relative to the maps folder.
    pub record: MapsRecord,
    /// One row per selection and kind.
    pub rows: Vec<MapRow>,
    /// One `n x side x side` array per kind, in the record's order.
    pub arrays: Vec<Array3<f32>>,
    /// Every PNG, by file name.
    pub images: Vec<(String, RgbImage)>,
}

/// Writes a maps folder whole.
pub fn write_maps(dir: &Path, maps: &NewMaps) -> Result<()> {
    let mut record = maps.record.clone();
    record.run = relative_to(&record.run, dir);
    record.images = relative_to(&record.images, dir);
    if maps.arrays.len() != record.maps.len() {
        return Err(DataError::file(
            dir,
            format!(
                "{} map arrays for {} kinds",
                maps.arrays.len(),
                record.maps.len()
            ),
        ));
    }
    commit_folder(dir, |staging| {
        for (name, image) in &maps.images {
            write_png(&staging.join(name), image)?;
        }
        for (scale, array) in record.maps.iter().zip(&maps.arrays) {
            write_array(&staging.join(map_array_file(scale.map)), array)?;
        }
        write_rows(&staging.join(MAPS_ROWS_FILE), &maps.rows)?;
        write_json(&staging.join(MAPS_FILE), &record)
    })
}

/// A maps folder as read back, checked against its run.
#[derive(Clone, Debug)]
pub struct MapsFolder {
    dir: PathBuf,
    record: MapsRecord,
    rows: Vec<MapRow>,
}

impl MapsFolder {
    /// Opens a maps folder and checks that its rows are the first selections of `run`, one per
    /// kind, with the same ids.
    pub fn open(dir: &Path, run: &RunFolder) -> Result<Self> {
        let record: MapsRecord = read_json(&dir.join(MAPS_FILE), MAPS_FORMAT, MAPS_VERSION)?;
        let path = dir.join(MAPS_ROWS_FILE);
        let rows: Vec<MapRow> = read_rows(&path)?;
        let kinds = record.maps.len();
        if record.selections > run.selections().len() || rows.len() != record.selections * kinds {
            return Err(DataError::file(
                &path,
                format!(
                    "{} rows for {} selections x {kinds} kinds, and the run in {} has {} selections: the files are from different runs; make the maps again",
                    rows.len(),
                    record.selections,
                    run.dir().display(),
                    run.selections().len()
                ),
            ));
        }
        for (i, row) in rows.iter().enumerate() {
            let s = &run.selections()[i / kinds.max(1)];
            // The score too: a run made again with other settings may pick the same items.
            if (row.rank, row.index, &row.id) != (s.rank, s.index, &s.id)
                || row.score != s.score
                || row.map != record.maps[i % kinds].map
            {
                return Err(DataError::line(
                    &path,
                    i as u64 + 2,
                    format!(
                        "rank {} item {:?} scored {} ({}), but the run in {} has rank {} item {:?} scored {} and the record lists the maps {:?}: make the maps again",
                        row.rank,
                        row.id,
                        row.score,
                        row.map.name(),
                        run.dir().display(),
                        s.rank,
                        s.id,
                        s.score,
                        record.maps.iter().map(|m| m.map.name()).collect::<Vec<_>>()
                    ),
                ));
            }
        }
        Ok(MapsFolder {
            dir: dir.to_path_buf(),
            record,
            rows,
        })
    }

    /// The maps folder `dir` when given, else the run's own (`<run>/maps`) when it has been
    /// made; `None` when neither.
    pub fn open_or_default(dir: Option<&Path>, run: &RunFolder) -> Result<Option<Self>> {
        super::open_or_default(dir, run.maps_dir(), MAPS_FILE, |d| Self::open(d, run))
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The record of `maps.json`.
    pub fn record(&self) -> &MapsRecord {
        &self.record
    }
    /// One row per selection and kind, selection by selection.
    pub fn rows(&self) -> &[MapRow] {
        &self.rows
    }
    /// The kinds in the folder.
    pub fn kinds(&self) -> Vec<MapKind> {
        self.record.maps.iter().map(|m| m.map).collect()
    }
    /// The image folder of the items, as a path usable from the working directory.
    pub fn images_dir(&self) -> PathBuf {
        self.dir.join(&self.record.images)
    }

    /// The maps of one kind, `selections x side x side`, checked against the record.
    pub fn map(&self, kind: MapKind) -> Result<Array3<f32>> {
        if !self.kinds().contains(&kind) {
            return Err(DataError::file(
                &self.dir.join(MAPS_FILE),
                format!("no {} map in this folder", kind.name()),
            ));
        }
        let path = self.dir.join(map_array_file(kind));
        let array: Array3<f32> = read_array(&path)?;
        let side = self.record.side;
        if array.len_of(Axis(0)) != self.record.selections || array.shape()[1..] != [side, side] {
            return Err(DataError::file(
                &path,
                format!(
                    "shape {:?}, but {MAPS_FILE} lists {} selections at {side} px: make the maps again",
                    array.shape(),
                    self.record.selections
                ),
            ));
        }
        Ok(array)
    }
}
