//! Does an explanation point at what is new, and is what it points at why the item was
//! selected? Every map of a run's planted selections, scored against the ground-truth masks:
//!
//! - the network's maps (`demud maps`): the **novelty map** (the score split exactly over the
//!   feature map), **gradient x input** and **|gradient|**;
//! - the decoder's (`demud render`): the **novel-content map** of dec(e), each pixel's squared
//!   distance (over RGB) from the render's own mean colour, and the **difference map**
//!   |dec(x) - dec(x̂)|².
//!
//! Scores per map and mask:
//!
//! - **energy share**: the map's mass inside the mask over its total mass. A map that knows
//!   nothing scores the mask's share of the image on average (reported beside it as chance);
//! - **pointing game**: is the map's maximum inside the mask; and **within one cell**: within
//!   one feature-map cell of it (a 7 x 7 map cannot do better than its cells);
//! - **deletion AUC** (with the network): the mean drop of the score as the map's top pixels
//!   are blurred away, p = 1..50%, against random pixel orders.
//!
//! Before any of that, each planted item is re-scored with its planted part in-painted: the
//! **part's share** of the score. An item whose part causes less than half its score is listed
//! apart and not averaged: a map that ignores a part the selection does not depend on is right.
//!
//! ```
//! use demud_report::localisation::localise;
//! use ndarray::Array2;
//! // A difference map with one changed pixel, inside the mask.
//! let mut map = Array2::<f32>::zeros((8, 8));
//! map[[2, 3]] = 1.0;
//! let mut mask = Array2::from_elem((8, 8), false);
//! mask[[2, 3]] = true;
//! let score = localise(map.view(), mask.view());
//! assert_eq!((score.energy_share, score.hit, score.mask_share), (1.0, true, 1.0 / 64.0));
//! ```

use crate::error::{ReportError, Result};
use demud_datasets::images::{ImageCollection, ImageItem, Preprocess};
use demud_datasets::planted::{PlantedCollection, PlantedRow};
use demud_datasets::run::{
    replay, LocalisationReport, LocalisationRow, MapKind, MapSummary, MapsFolder, PlantedScore,
    RemovalKind, RenderFolder, RunFolder, LOCALISATION_FORMAT, LOCALISATION_VERSION,
};
use demud_decoder::render::difference_map;
use demud_maps::faithfulness::{
    deletion_auc, deletion_curve, inpaint, order_by, random_order, rescore, Removal,
};
use demud_maps::Network;
use image::GrayImage;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, Zip};
use std::collections::HashMap;
use std::path::Path;

/// How well one map points at one mask.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Localisation {
    /// Share of the map's mass inside the mask (0 for an all-zero map).
    pub energy_share: f64,
    /// Share of the image the mask covers: the energy share of a uniform map.
    pub mask_share: f64,
    /// Whether the map's maximum is inside the mask (the first maximum in row order).
    pub hit: bool,
}

/// Squared distance of each pixel of a render (3 x h x w) from the render's mean colour.
pub fn contrast_map(render: ArrayView3<f32>) -> Array2<f32> {
    let mean = render
        .mean_axis(Axis(2))
        .and_then(|m| m.mean_axis(Axis(1)))
        .expect("a render has pixels");
    let mut map = Array2::<f32>::zeros((render.shape()[1], render.shape()[2]));
    for (channel, &m) in render.outer_iter().zip(&mean) {
        Zip::from(&mut map)
            .and(&channel)
            .for_each(|out, &v| *out += (v - m) * (v - m));
    }
    map
}

/// Scores a non-negative map against a mask of the same shape.
pub fn localise(map: ArrayView2<f32>, mask: ArrayView2<bool>) -> Localisation {
    assert_eq!(map.shape(), mask.shape(), "map and mask of different sizes");
    let (mut inside, mut total) = (0f64, 0f64);
    let mut best = (f32::NEG_INFINITY, false);
    Zip::from(&map).and(&mask).for_each(|&v, &m| {
        let v = v.max(0.0);
        total += v as f64;
        if m {
            inside += v as f64;
        }
        if v > best.0 {
            best = (v, m);
        }
    });
    let covered = mask.iter().filter(|&&m| m).count();
    Localisation {
        energy_share: if total > 0.0 { inside / total } else { 0.0 },
        mask_share: covered as f64 / mask.len().max(1) as f64,
        hit: total > 0.0 && best.1,
    }
}

/// A full-size mask brought to a render's grid: the same resize and centre crop as the image
/// (`geometry`), then set where at least half on.
pub fn mask_on_grid(mask: &GrayImage, geometry: &Preprocess) -> Array2<bool> {
    let grid = geometry.apply_mask(mask);
    let (w, h) = grid.dimensions();
    Array2::from_shape_fn((h as usize, w as usize), |(y, x)| {
        grid.get_pixel(x as u32, y as u32)[0] >= 128
    })
}

/// Whether the map's maximum lies within `cell` pixels (in both directions) of a mask pixel:
/// pointing that forgives a map whose resolution is one feature-map cell.
pub fn hit_within(map: ArrayView2<f32>, mask: ArrayView2<bool>, cell: usize) -> bool {
    let (mut best, mut at) = (f32::NEG_INFINITY, None);
    for ((y, x), &v) in map.indexed_iter() {
        if v > best {
            (best, at) = (v, Some((y, x)));
        }
    }
    let Some((py, px)) = at.filter(|_| best > 0.0) else {
        return false;
    };
    mask.indexed_iter()
        .any(|((y, x), &m)| m && y.abs_diff(py) <= cell && x.abs_diff(px) <= cell)
}

/// A map resized to `side x side` by nearest neighbour (a decoder's map brought to the
/// network's input for its deletion order).
fn nearest(map: ArrayView2<f32>, side: usize) -> Array2<f32> {
    let (h, w) = map.dim();
    Array2::from_shape_fn((side, side), |(y, x)| map[[y * h / side, x * w / side]])
}

/// How the localisation re-scores images (the planted part's share of the score, deletion
/// curves): with the network that made the run's features, on the run replayed.
pub struct Rescoring<'a> {
    /// The network.
    pub network: &'a Network,
    /// Deletion curves' points (fractions of the pixels); empty: no deletion curves.
    pub fractions: Vec<f64>,
    /// Random pixel orders averaged for the random baseline.
    pub random_orders: usize,
    /// Their seed.
    pub seed: u64,
}

/// What [`localise_run`] scores.
pub struct LocaliseInputs<'a> {
    /// The run.
    pub run: &'a RunFolder,
    /// The planted collection's folder (`planted.csv`, masks; its images are the run's).
    pub planted: &'a Path,
    /// The run's maps folder, when made.
    pub maps: Option<&'a MapsFolder>,
    /// The run's render, when made.
    pub render: Option<&'a RenderFolder>,
    /// Re-scoring, when the network is at hand.
    pub rescoring: Option<Rescoring<'a>>,
}

/// A planted selection items are scored on only when its planted part causes at least this
/// share of its score.
pub const CAUSED_AT_LEAST: f64 = 0.5;

/// Grid of a network's feature map when the maps folder does not say (EfficientNet-Lite0 at
/// 224 px): the cell size of the within-one-cell pointing.
const DEFAULT_GRID: usize = 7;

/// Scores every map of the run's explained planted selections against their masks: energy in
/// mask, pointing, pointing within one feature-map cell, and with re-scoring, the planted
/// part's share of the score and the deletion AUC of each map against random orders. Returns
/// the rows of `localisation.csv` and the summary of `localisation.json`.
pub fn localise_run(inputs: &LocaliseInputs) -> Result<(Vec<LocalisationRow>, LocalisationReport)> {
    // Planted ids are checked against the run's collection: an id that is not an item would
    // be counted as a novelty the run could not find.
    let planted_rows: HashMap<String, PlantedRow> =
        PlantedCollection::read_planted_of(inputs.planted, &inputs.run.item_ids()?)?
            .into_iter()
            .map(|row| (row.id.clone(), row))
            .collect();
    // How the network saw the images (the run's extraction record; ImageNet's centre crop
    // for features from elsewhere): masks go through the same geometry as their images.
    let view = inputs
        .run
        .record()
        .extraction
        .as_ref()
        .map_or(Preprocess::imagenet(224), |r| r.preprocess);
    let mapped = inputs.maps.map_or(0, |m| m.record().selections);
    let rendered = inputs.render.map_or(0, |r| r.rows().len());
    let explained = mapped.max(rendered);
    let selections = &inputs.run.selections()[..explained];
    let planted: Vec<usize> = (0..explained)
        .filter(|&i| planted_rows.contains_key(&selections[i].id))
        .collect();
    // Every map kind, with its maps (selection x side x side) and its side.
    let mut kinds: Vec<(MapKind, Array3<f32>)> = Vec::new();
    if let Some(maps) = inputs.maps {
        for kind in maps.kinds() {
            kinds.push((kind, maps.map(kind)?));
        }
    }
    if let Some(render) = inputs.render {
        let decoded = render.decoded()?;
        let n = decoded.features.shape()[0];
        let side = decoded.features.shape()[2];
        let mut novel = Array3::<f32>::zeros((n, side, side));
        let mut difference = Array3::<f32>::zeros((n, side, side));
        for i in 0..n {
            novel
                .index_axis_mut(Axis(0), i)
                .assign(&contrast_map(decoded.novel.index_axis(Axis(0), i)));
            difference
                .index_axis_mut(Axis(0), i)
                .assign(&difference_map(
                    decoded.features.index_axis(Axis(0), i),
                    decoded.expected.index_axis(Axis(0), i),
                ));
        }
        kinds.push((MapKind::Novel, novel));
        kinds.push((MapKind::Difference, difference));
    }
    let grid = inputs
        .maps
        .and_then(|m| m.record().grid)
        .map_or(DEFAULT_GRID, |g| g[0]);
    let replayed = match (&inputs.rescoring, planted.last()) {
        (Some(_), Some(&last)) => Some(replay(inputs.run, last + 1)?),
        _ => None,
    };
    let images = ImageCollection {
        root: inputs
            .maps
            .map(|m| m.images_dir())
            .or_else(|| inputs.render.map(|r| r.dir().join(&r.record().images)))
            .unwrap_or_else(|| inputs.planted.to_path_buf()),
        items: Vec::new(),
    };
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for &i in &planted {
        let selection = &selections[i];
        let row = &planted_rows[&selection.id];
        // The mask has its image's size (checked): it goes through the image's own geometry.
        let mask =
            PlantedCollection::read_mask(inputs.planted, row, &images.root.join(&selection.id))?;
        // Re-scoring: the image as the network sees it, with and without the planted part.
        let mut score = PlantedScore {
            rank: selection.rank,
            id: selection.id.clone(),
            score: selection.score,
            rescored: None,
            without_part: None,
            part_share: None,
            removal: None,
        };
        let mut deletion_base = None;
        if let (Some(rescoring), Some(replayed)) = (&inputs.rescoring, &replayed) {
            let network = rescoring.network;
            let image = network
                .load(
                    &images,
                    &ImageItem {
                        id: selection.id.clone(),
                        label: None,
                    },
                )
                .map_err(maps_error)?;
            let prepared = network.prepare(&image);
            let side = network.side();
            // Without the part: the image before it was planted when the collection kept it,
            // else the part in-painted from its surroundings.
            let original = row
                .original
                .as_ref()
                .map(|original| {
                    let planted_folder = ImageCollection {
                        root: inputs.planted.to_path_buf(),
                        items: Vec::new(),
                    };
                    network
                        .load(
                            &planted_folder,
                            &ImageItem {
                                id: original.clone(),
                                label: None,
                            },
                        )
                        .map(|image| network.prepare(&image))
                })
                .transpose()
                .map_err(maps_error)?;
            let without = match &original {
                Some(original) => original.clone(),
                None => {
                    let mask_here = mask_on_grid(&mask, &network.preprocess().at_side(side as u32));
                    inpaint(&prepared, mask_here.view())
                }
            };
            score.removal = Some(match original {
                Some(_) => RemovalKind::Original,
                None => RemovalKind::InPaint,
            });
            let scores = rescore(
                network,
                replayed,
                selection.rank,
                &[prepared.clone(), without],
            )
            .map_err(maps_error)?;
            score.rescored = Some(scores[0]);
            score.without_part = Some(scores[1]);
            score.part_share = Some(if scores[0] > 0.0 {
                1.0 - scores[1] / scores[0]
            } else {
                0.0
            });
            if !rescoring.fractions.is_empty() {
                let mut random = 0.0;
                for o in 0..rescoring.random_orders.max(1) {
                    let order = random_order(side * side, rescoring.seed.wrapping_add(o as u64));
                    let curve = deletion_curve(
                        network,
                        replayed,
                        selection.rank,
                        &prepared,
                        &order,
                        &rescoring.fractions,
                        removal(&original),
                    )
                    .map_err(maps_error)?;
                    random += deletion_auc(&curve);
                }
                deletion_base = Some((
                    prepared,
                    original,
                    random / rescoring.random_orders.max(1) as f64,
                ));
            }
        }
        for (kind, maps) in &kinds {
            if i >= maps.shape()[0] {
                continue;
            }
            let map = maps.index_axis(Axis(0), i);
            let side = map.shape()[0];
            let grid_mask = mask_on_grid(&mask, &view.at_side(side as u32));
            let score_here = localise(map, grid_mask.view());
            let (deletion, random) = match (&deletion_base, &inputs.rescoring, &replayed) {
                (Some((prepared, original, random)), Some(rescoring), Some(replayed)) => {
                    let network_side = rescoring.network.side();
                    let full = nearest(map, network_side);
                    let curve = deletion_curve(
                        rescoring.network,
                        replayed,
                        selection.rank,
                        prepared,
                        &order_by(full.view()),
                        &rescoring.fractions,
                        removal(original),
                    )
                    .map_err(maps_error)?;
                    (Some(deletion_auc(&curve)), Some(*random))
                }
                _ => (None, None),
            };
            rows.push(LocalisationRow {
                rank: selection.rank,
                id: selection.id.clone(),
                map: *kind,
                energy_share: score_here.energy_share,
                mask_share: score_here.mask_share,
                hit: score_here.hit,
                hit_within_cell: hit_within(map, grid_mask.view(), side.div_ceil(grid)),
                deletion_auc: deletion,
                random_deletion_auc: random,
            });
        }
        items.push(score);
    }
    let scored_ranks: Vec<usize> = items
        .iter()
        .filter(|item| item.part_share.is_none_or(|s| s >= CAUSED_AT_LEAST))
        .map(|item| item.rank)
        .collect();
    let all_ranks: Vec<usize> = items.iter().map(|item| item.rank).collect();
    let summaries = |ranks: &[usize]| -> Vec<MapSummary> {
        kinds
            .iter()
            .map(|(kind, _)| {
                let of_kind: Vec<&LocalisationRow> =
                    rows.iter().filter(|r| r.map == *kind).collect();
                summarise(*kind, &of_kind, ranks)
            })
            .collect()
    };
    let maps = summaries(&scored_ranks);
    let maps_all = summaries(&all_ranks);
    let report = LocalisationReport {
        format: LOCALISATION_FORMAT.into(),
        version: LOCALISATION_VERSION,
        planted: planted_rows.len(),
        selected: items.len(),
        ranks: items.iter().map(|item| item.rank).collect(),
        items,
        caused_at_least: CAUSED_AT_LEAST,
        scored_ranks,
        maps,
        maps_all,
    };
    Ok((rows, report))
}

/// Restore the original's pixels when the planted collection kept it, else in-paint.
fn removal(original: &Option<image::RgbImage>) -> Removal<'_> {
    match original {
        Some(image) => Removal::Restore(image),
        None => Removal::InPaint,
    }
}

fn maps_error(e: demud_maps::MapsError) -> ReportError {
    ReportError::Maps(Box::new(e))
}

/// Means of one map's rows: localisation over the items whose rank is in `scored`, deletion
/// over all.
pub fn summarise(map: MapKind, rows: &[&LocalisationRow], scored: &[usize]) -> MapSummary {
    let scored_rows: Vec<&&LocalisationRow> =
        rows.iter().filter(|r| scored.contains(&r.rank)).collect();
    let mean = |values: Vec<f64>| {
        if values.is_empty() {
            0.0
        } else {
            values.iter().sum::<f64>() / values.len() as f64
        }
    };
    let optional = |values: Vec<Option<f64>>| {
        let known: Vec<f64> = values.into_iter().flatten().collect();
        (!known.is_empty()).then(|| mean(known))
    };
    let share = |f: &dyn Fn(&LocalisationRow) -> bool| {
        mean(
            scored_rows
                .iter()
                .map(|r| f64::from(u8::from(f(r))))
                .collect(),
        )
    };
    MapSummary {
        map,
        items: scored_rows.len(),
        energy_share: mean(scored_rows.iter().map(|r| r.energy_share).collect()),
        mask_share: mean(scored_rows.iter().map(|r| r.mask_share).collect()),
        pointing: share(&|r| r.hit),
        pointing_within_cell: share(&|r| r.hit_within_cell),
        deletion_auc: optional(rows.iter().map(|r| r.deletion_auc).collect()),
        random_deletion_auc: optional(rows.iter().map(|r| r.random_deletion_auc).collect()),
    }
}

/// The summary as text: the planted parts' share of each score, then one line per map.
pub fn format_localisation(report: &LocalisationReport) -> String {
    let mut out = format!(
        "{} of {} planted items explained (ranks {:?})\n",
        report.selected, report.planted, report.ranks
    );
    if report.items.iter().any(|i| i.part_share.is_some()) {
        out += &format!(
            "{:>5} {:<40} {:>10} {:>10} {:>13} {:>11}\n",
            "rank", "id", "score", "rescored", "without part", "part share"
        );
        for item in &report.items {
            let number = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
            let apart = if item.part_share.is_some_and(|s| s < report.caused_at_least) {
                "  (reported apart: the part causes less than half the score)"
            } else {
                ""
            };
            out += &format!(
                "{:>5} {:<40} {:>10.4} {:>10} {:>13} {:>11}{apart}\n",
                item.rank,
                item.id,
                item.score,
                number(item.rescored),
                number(item.without_part),
                item.part_share
                    .map_or("-".into(), |s| format!("{:.0}%", 100.0 * s)),
            );
        }
    }
    let table = |title: String, maps: &[MapSummary]| {
        let mut out = format!(
            "{title}\n{:<30} {:>5} {:>9} {:>7} {:>9} {:>12} {:>9} {:>9}\n",
            "map", "items", "energy", "chance", "pointing", "within cell", "deletion", "random"
        );
        for m in maps {
            let auc = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
            out += &format!(
                "{:<30} {:>5} {:>9.3} {:>7.3} {:>9.3} {:>12.3} {:>9} {:>9}\n",
                m.map.title(),
                m.items,
                m.energy_share,
                m.mask_share,
                m.pointing,
                m.pointing_within_cell,
                auc(m.deletion_auc),
                auc(m.random_deletion_auc)
            );
        }
        out
    };
    out += &table(
        format!(
            "items whose part causes at least {:.0}% of the score (ranks {:?}):",
            100.0 * report.caused_at_least,
            report.scored_ranks
        ),
        &report.maps,
    );
    if report.scored_ranks.len() != report.ranks.len() {
        out += &table(
            format!("every explained planted item (ranks {:?}):", report.ranks),
            &report.maps_all,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn a_map_spread_evenly_scores_the_mask_share_and_misses_nothing_it_cannot_see() {
        let map = Array2::<f32>::ones((10, 10));
        let mut mask = Array2::from_elem((10, 10), false);
        mask.slice_mut(ndarray::s![0..5, 0..2]).fill(true);
        let score = localise(map.view(), mask.view());
        assert!((score.energy_share - 0.1).abs() < 1e-12);
        assert_eq!(score.mask_share, 0.1);
        assert!(score.hit, "first maximum (0, 0) is inside");
        let zero = Array2::<f32>::zeros((10, 10));
        let score = localise(zero.view(), mask.view());
        assert_eq!((score.energy_share, score.hit), (0.0, false));
    }

    #[test]
    fn contrast_map_lights_up_what_differs_from_the_render_colour() {
        let mut render = Array3::<f32>::from_elem((3, 6, 6), 0.5);
        render[[1, 4, 1]] = 1.0;
        let map = contrast_map(render.view());
        let max = map.iter().cloned().fold(f32::MIN, f32::max);
        assert_eq!(map[[4, 1]], max);
        assert!(map[[0, 0]] < max / 100.0);
        let row = |rank: usize, score: Localisation| LocalisationRow {
            rank,
            id: format!("item{rank}"),
            map: MapKind::Novel,
            energy_share: score.energy_share,
            mask_share: score.mask_share,
            hit: score.hit,
            hit_within_cell: true,
            deletion_auc: Some(rank as f64 / 10.0),
            random_deletion_auc: None,
        };
        let rows = [
            row(
                1,
                localise(map.view(), Array2::from_elem((6, 6), true).view()),
            ),
            row(
                2,
                Localisation {
                    energy_share: 0.0,
                    mask_share: 0.5,
                    hit: false,
                },
            ),
            row(
                3,
                Localisation {
                    energy_share: 0.9,
                    mask_share: 0.1,
                    hit: true,
                },
            ),
        ];
        // Rank 3 is not scored (its part does not cause its score); deletion counts all.
        let summary = summarise(MapKind::Novel, &rows.iter().collect::<Vec<_>>(), &[1, 2]);
        assert_eq!(summary.items, 2);
        assert!((summary.energy_share - 0.5).abs() < 1e-6);
        assert_eq!(summary.pointing, 0.5);
        assert_eq!(summary.pointing_within_cell, 1.0);
        assert_eq!(summary.mask_share, 0.75);
        assert!((summary.deletion_auc.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(summary.random_deletion_auc, None);
    }

    #[test]
    fn pointing_within_one_cell_forgives_a_cell() {
        let mut map = Array2::<f32>::zeros((20, 20));
        map[[10, 10]] = 1.0;
        let mut mask = Array2::from_elem((20, 20), false);
        mask[[10, 14]] = true;
        assert!(!localise(map.view(), mask.view()).hit);
        assert!(hit_within(map.view(), mask.view(), 4));
        assert!(!hit_within(map.view(), mask.view(), 3));
        assert!(!hit_within(Array2::zeros((20, 20)).view(), mask.view(), 20));
    }

    #[test]
    fn masks_follow_the_image_geometry() {
        // A 128 x 96 mask with its left quarter on; the 64 px ImageNet crop keeps the middle.
        let mut mask = GrayImage::new(128, 96);
        for y in 0..96 {
            for x in 0..32 {
                mask.put_pixel(x, y, image::Luma([255]));
            }
        }
        let grid = mask_on_grid(&mask, &Preprocess::imagenet(64));
        assert_eq!(grid.dim(), (64, 64));
        // Resized to 73 px high (97 wide), the crop starts 16 px in; the on part ends at 24.
        let on_columns: Vec<usize> = (0..64).filter(|&x| grid[[30, x]]).collect();
        assert_eq!(on_columns, (0..8).collect::<Vec<_>>());
    }
}
