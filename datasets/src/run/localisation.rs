//! Localisation results in a render folder: `localisation.csv` (one row per planted item and
//! map) and `localisation.json` (the summary per map).

use super::{read_json, read_rows, write_json, write_rows, RenderFolder};
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
pub const LOCALISATION_VERSION: u32 = 1;

/// A kind of explanation map: where in an image a selection's novelty is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapKind {
    /// The exact split of the score over the layer's feature-map positions (the contributions
    /// of `demud::attribution`), upsampled to the image: sums to the score.
    Novelty,
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
    pub const ALL: [MapKind; 5] = [
        MapKind::Novelty,
        MapKind::GradientInput,
        MapKind::Gradient,
        MapKind::Novel,
        MapKind::Difference,
    ];

    /// How the report and the table name it.
    pub fn title(self) -> &'static str {
        match self {
            MapKind::Novelty => "novelty map (exact split)",
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
}

/// The means of one map over the planted selections.
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
    /// Of them, rendered selections.
    pub selected: usize,
    /// Their ranks.
    pub ranks: Vec<usize>,
    /// One summary per map.
    pub maps: Vec<MapSummary>,
}

/// Writes the rows, then the summary (each atomically) into a render folder.
pub fn write_localisation(
    render_dir: &Path,
    rows: &[LocalisationRow],
    report: &LocalisationReport,
) -> Result<()> {
    write_rows(&render_dir.join(LOCALISATION_CSV), rows)?;
    write_json(&render_dir.join(LOCALISATION_JSON), report)
}

/// The render folder's localisation summary, if it has been scored; its ranks are checked
/// against the render's rows.
pub fn read_localisation(render: &RenderFolder) -> Result<Option<LocalisationReport>> {
    let path = render.dir().join(LOCALISATION_JSON);
    if !path.is_file() {
        return Ok(None);
    }
    let report: LocalisationReport = read_json(&path, LOCALISATION_FORMAT, LOCALISATION_VERSION)?;
    if let Some(rank) = report
        .ranks
        .iter()
        .find(|&&r| !render.rows().iter().any(|row| row.rank == r))
    {
        return Err(DataError::file(
            &path,
            format!(
                "rank {rank} is not among the rendered selections of {}: localise again",
                render.dir().display()
            ),
        ));
    }
    let rows: Vec<LocalisationRow> = read_rows(&render.dir().join(LOCALISATION_CSV))?;
    if rows.len() != report.selected * report.maps.len() {
        return Err(DataError::file(
            &render.dir().join(LOCALISATION_CSV),
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
