//! Localisation results in a run folder: `localisation.csv` (one row per planted selection
//! and map) and `localisation.json` (the planted parts' share of each score, and the summary
//! per map).

use super::{read_json, read_rows, write_json, write_rows, RunFolder};
use crate::error::{DataError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Per item and map.
pub const LOCALISATION_CSV: &str = "localisation.csv";
/// The summary.
pub const LOCALISATION_JSON: &str = "localisation.json";
/// The `format` of `localisation.json`.
pub const LOCALISATION_FORMAT: &str = "demud-localisation";
/// The `localisation.json` version this build writes and reads.
pub const LOCALISATION_VERSION: u32 = 2;

/// A kind of explanation map: where in an image a selection's novelty is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapKind {
    /// The exact split of the score over the layer's feature-map positions (the contributions
    /// of `demud::attribution`), upsampled to the image: sums to the score.
    Novelty,
    /// The same split for the image at twice the network's input side (a 14 x 14 map for
    /// EfficientNet at 224 px), with the run's x̂ and e: finer, and approximate (it sums to the
    /// larger image's score under the model, not the run's).
    NoveltyFine,
    /// Gradient x input of the score with respect to the pixels (summed over colour).
    GradientInput,
    /// The gradient's magnitude per pixel (summed over colour).
    Gradient,
    /// The novel-content map of the decoder's dec(e).
    Novel,
    /// The decoder's difference map |dec(x) − dec(x̂)|².
    Difference,
}

impl MapKind {
    /// Every kind, in the order tables list them.
    pub const ALL: [MapKind; 6] = [
        MapKind::Novelty,
        MapKind::NoveltyFine,
        MapKind::GradientInput,
        MapKind::Gradient,
        MapKind::Novel,
        MapKind::Difference,
    ];

    /// How the report and the table name it.
    pub fn title(self) -> &'static str {
        match self {
            MapKind::Novelty => "novelty map (exact split)",
            MapKind::NoveltyFine => "novelty map at 2x (finer)",
            MapKind::GradientInput => "gradient x input",
            MapKind::Gradient => "|gradient|",
            MapKind::Novel => "novel content dec(e)",
            MapKind::Difference => "difference |dec(x)-dec(x^)|",
        }
    }

    /// Its name in files and options (`novelty`, `gradient-input`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MapKind::Novelty => "novelty",
            MapKind::NoveltyFine => "novelty-fine",
            MapKind::GradientInput => "gradient-input",
            MapKind::Gradient => "gradient",
            MapKind::Novel => "novel",
            MapKind::Difference => "difference",
        }
    }

    /// Whether the decoder draws it (the others come from the network that made the features).
    pub fn from_decoder(self) -> bool {
        matches!(self, MapKind::Novel | MapKind::Difference)
    }
}

impl std::str::FromStr for MapKind {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        MapKind::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| {
                format!(
                    "unknown map {text:?}: the maps are {}",
                    MapKind::ALL.map(MapKind::name).join(", ")
                )
            })
    }
}

/// One row of `localisation.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalisationRow {
    /// Rank of the selection.
    pub rank: usize,
    /// Its id.
    pub id: String,
    /// The map scored.
    pub map: MapKind,
    /// Share of the map's energy inside the mask.
    #[serde(serialize_with = "super::shortest")]
    pub energy_share: f64,
    /// Share of the image the mask covers.
    #[serde(serialize_with = "super::shortest")]
    pub mask_share: f64,
    /// Whether the map's maximum is inside the mask.
    pub hit: bool,
    /// Whether the map's maximum is within one feature-map cell of the mask.
    pub hit_within_cell: bool,
    /// The mean drop of the score as the map's top pixels are deleted (empty when not
    /// measured).
    pub deletion_auc: Option<f64>,
    /// The same for pixels in a random order.
    pub random_deletion_auc: Option<f64>,
}

/// A planted selection's score with and without its planted part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlantedScore {
    /// Rank of the selection.
    pub rank: usize,
    /// Its id.
    pub id: String,
    /// Its score as the run recorded it.
    pub score: f64,
    /// Its score re-made from the image (should equal `score` to rounding).
    pub rescored: Option<f64>,
    /// Its score with the planted part in-painted from its surroundings.
    pub without_part: Option<f64>,
    /// `1 - without_part / rescored`: the share of the score the planted part causes.
    pub part_share: Option<f64>,
    /// How the part was removed, for its score without it and for the deletion curves.
    #[serde(default)]
    pub removal: Option<RemovalKind>,
}

/// How a planted part is removed when its image is re-scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemovalKind {
    /// The image before the part was planted (its pixels put back).
    Original,
    /// The part in-painted from its surroundings (the collection kept no original).
    InPaint,
}

/// The means of one map over the planted selections the planted part explains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapSummary {
    /// The map.
    pub map: MapKind,
    /// Planted selections scored.
    pub items: usize,
    /// Mean share of the map's energy inside the mask.
    pub energy_share: f64,
    /// Mean share of the image the mask covers (what an uninformed map scores).
    pub mask_share: f64,
    /// Share of items whose map maximum is inside the mask.
    pub pointing: f64,
    /// Share of items whose map maximum is within one feature-map cell of the mask.
    pub pointing_within_cell: f64,
    /// Mean deletion AUC over the selections (all of them, not only the planted ones), when
    /// measured.
    pub deletion_auc: Option<f64>,
    /// Mean deletion AUC of random pixel orders on the same selections.
    pub random_deletion_auc: Option<f64>,
}

/// Everything in `localisation.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalisationReport {
    /// Always [`LOCALISATION_FORMAT`].
    pub format: String,
    /// [`LOCALISATION_VERSION`] when written by this build.
    pub version: u32,
    /// Planted items in the collection.
    pub planted: usize,
    /// Of them, explained selections.
    pub selected: usize,
    /// Their ranks.
    pub ranks: Vec<usize>,
    /// Their scores with and without the planted part.
    pub items: Vec<PlantedScore>,
    /// The share of the score a planted part must cause for its item to be scored in `maps`
    /// (items below it are listed in `items` only: a map that ignores a part the selection
    /// does not depend on is right to).
    pub caused_at_least: f64,
    /// Ranks of the items `maps` averages over.
    pub scored_ranks: Vec<usize>,
    /// One summary per map, over the items of `scored_ranks`.
    pub maps: Vec<MapSummary>,
    /// One summary per map, over every explained planted item.
    pub maps_all: Vec<MapSummary>,
}

/// Writes the rows, then the summary (each atomically) into a run folder.
pub fn write_localisation(
    run_dir: &Path,
    rows: &[LocalisationRow],
    report: &LocalisationReport,
) -> Result<()> {
    write_rows(&run_dir.join(LOCALISATION_CSV), rows)?;
    write_json(&run_dir.join(LOCALISATION_JSON), report)
}

/// The run's localisation summary, if it has been scored; its ranks are checked against the
/// run's selections.
pub fn read_localisation(run: &RunFolder) -> Result<Option<LocalisationReport>> {
    let path = run.dir().join(LOCALISATION_JSON);
    if !path.is_file() {
        return Ok(None);
    }
    let report: LocalisationReport = read_json(&path, LOCALISATION_FORMAT, LOCALISATION_VERSION)?;
    if let Some(item) = report.items.iter().find(|item| {
        run.selections()
            .get(item.rank.wrapping_sub(1))
            .is_none_or(|s| s.id != item.id)
    }) {
        return Err(DataError::file(
            &path,
            format!(
                "rank {} ({:?}) is not a selection of the run in {}: localise again",
                item.rank,
                item.id,
                run.dir().display()
            ),
        ));
    }
    let rows: Vec<LocalisationRow> = read_rows(&run.dir().join(LOCALISATION_CSV))?;
    if rows.len() != report.selected * report.maps.len() {
        return Err(DataError::file(
            &run.dir().join(LOCALISATION_CSV),
            format!(
                "{} rows, {} says {} items x {} maps: localise again",
                rows.len(),
                LOCALISATION_JSON,
                report.selected,
                report.maps.len()
            ),
        ));
    }
    Ok(Some(report))
}
