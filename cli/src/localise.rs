//! `demud localise`: do the rendered explanations point at the planted novelties?
//!
//! For every rendered selection that is a planted item (listed in the collection's
//! `planted.csv`), scores two maps against its mask, brought to the render's grid through the
//! same resize and centre crop as the image: the novel-content map of dec(e) and the
//! difference map |dec(x) - dec(x̂)|² (see `demud_datasets::localisation`). Writes
//! `localisation.csv` (one row per item and map) and `localisation.json` (the means) in the
//! render folder, and prints the table.

use crate::output::{write_csv, write_json};
use crate::render::{read_array, read_selections_file};
use anyhow::{bail, Context, Result};
use clap::Args;
use demud_datasets::features::read_items;
use demud_datasets::images::Preprocess;
use demud_datasets::localisation::{
    contrast_map, difference_map, localise, mask_on_grid, summarise, Localisation,
    LocalisationSummary,
};
use ndarray::{Array4, Axis};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Options of `demud localise`.
#[derive(Args, Debug, Clone)]
pub struct LocaliseArgs {
    /// The render folder (from `render`).
    #[arg(long, value_name = "DIR")]
    pub render: PathBuf,
    /// The planted collection's folder (from `plant`: planted.csv and masks/).
    #[arg(long, value_name = "DIR")]
    pub planted: PathBuf,
}

/// The means of one map over the planted selections.
#[derive(Serialize, Debug, Clone)]
pub struct MapSummary {
    /// `novel` (dec(e)) or `difference` (|dec(x) - dec(x̂)|).
    pub map: &'static str,
    /// Planted selections scored.
    pub items: usize,
    /// Mean share of the map's energy inside the mask.
    pub energy_share: f64,
    /// Mean share of the image the mask covers (the energy share of an uninformed map).
    pub mask_share: f64,
    /// Share of items whose map maximum is inside the mask.
    pub pointing: f64,
}

/// Everything in `localisation.json`.
#[derive(Serialize, Debug, Clone)]
pub struct LocalisationReport {
    /// Planted items in the collection.
    pub planted: usize,
    /// Of them, rendered selections.
    pub selected: usize,
    /// Their ranks.
    pub ranks: Vec<usize>,
    /// One summary per map.
    pub maps: Vec<MapSummary>,
}

fn map_summary(map: &'static str, s: LocalisationSummary) -> MapSummary {
    MapSummary {
        map,
        items: s.items,
        energy_share: s.energy_share,
        mask_share: s.mask_share,
        pointing: s.pointing,
    }
}

fn read_decoded(path: &Path) -> Result<Array4<f32>> {
    read_array(path, "written by `render`")
}

/// Scores the render folder's planted selections; writes and returns the report.
pub fn compute(render: &Path, planted: &Path) -> Result<LocalisationReport> {
    let selections = read_selections_file(&render.join("renders.csv"))?;
    let features = read_decoded(&render.join("decoded_features.npy"))?;
    let expected = read_decoded(&render.join("decoded_expected.npy"))?;
    let novel = read_decoded(&render.join("decoded_novel.npy"))?;
    if features.len_of(Axis(0)) != selections.len() {
        bail!(
            "{}: renders.csv lists {} selections, decoded_features.npy has {}",
            render.display(),
            selections.len(),
            features.len_of(Axis(0))
        );
    }
    let planted_csv = planted.join("planted.csv");
    let masks: HashMap<String, String> = read_items(&planted_csv)?
        .into_iter()
        .filter(|row| !row.id.eq_ignore_ascii_case("id"))
        .map(|row| (row.id, row.label.unwrap_or_default()))
        .collect();
    let side = features.shape()[2] as u32;
    let geometry = Preprocess::imagenet(side);
    let (mut novel_scores, mut difference_scores): (Vec<Localisation>, Vec<Localisation>) =
        (Vec::new(), Vec::new());
    let mut rows = vec![["rank", "id", "map", "energy_share", "mask_share", "hit"]
        .map(String::from)
        .to_vec()];
    let mut ranks = Vec::new();
    for (i, selection) in selections.iter().enumerate() {
        let Some(mask_id) = masks.get(&selection.id) else {
            continue;
        };
        let mask_path = planted.join(mask_id);
        let mask = image::open(&mask_path)
            .with_context(|| {
                format!(
                    "{}: cannot read mask {}",
                    planted_csv.display(),
                    mask_path.display()
                )
            })?
            .to_luma8();
        let grid = mask_on_grid(&mask, &geometry);
        let novel_map = contrast_map(novel.index_axis(Axis(0), i));
        let difference = difference_map(
            features.index_axis(Axis(0), i),
            expected.index_axis(Axis(0), i),
        );
        for (name, map, scores) in [
            ("novel", novel_map, &mut novel_scores),
            ("difference", difference, &mut difference_scores),
        ] {
            let score = localise(map.view(), grid.view());
            rows.push(vec![
                selection.rank.to_string(),
                selection.id.clone(),
                name.to_string(),
                score.energy_share.to_string(),
                score.mask_share.to_string(),
                score.hit.to_string(),
            ]);
            scores.push(score);
        }
        ranks.push(selection.rank);
    }
    let report = LocalisationReport {
        planted: masks.len(),
        selected: ranks.len(),
        ranks,
        maps: vec![
            map_summary("novel", summarise(&novel_scores)),
            map_summary("difference", summarise(&difference_scores)),
        ],
    };
    write_csv(&render.join("localisation.csv"), rows)?;
    write_json(&render.join("localisation.json"), &report)?;
    Ok(report)
}

/// The report as a text table.
pub fn format_report(report: &LocalisationReport) -> String {
    let mut out = format!(
        "{} of {} planted items selected (ranks {:?})\n{:<24} {:>6} {:>15} {:>8} {:>9}\n",
        report.selected,
        report.planted,
        report.ranks,
        "map",
        "items",
        "energy in mask",
        "chance",
        "pointing"
    );
    for m in &report.maps {
        let name = match m.map {
            "novel" => "novel content dec(e)",
            _ => "difference |dec(x)-dec(x^)|",
        };
        out += &format!(
            "{name:<24} {:>6} {:>15.3} {:>8.3} {:>9.3}\n",
            m.items, m.energy_share, m.mask_share, m.pointing
        );
    }
    out
}

/// `demud localise`.
pub fn run(args: &LocaliseArgs) -> Result<()> {
    let report = compute(&args.render, &args.planted)?;
    print!("{}", format_report(&report));
    if report.selected == 0 {
        eprintln!("note: no planted item is among the rendered selections");
    }
    Ok(())
}
