//! Does an explanation point at what is new? Maps made from the decoder's renders, scored
//! against the ground-truth masks of planted novelties.
//!
//! Two maps per selection:
//!
//! - the **novel-content map** of the paper's render dec(e): each pixel's squared distance
//!   (over RGB) from the render's own mean colour. dec(e) is an image, not a heat map; where it
//!   departs from its overall colour is where it shows something;
//! - the **difference map** |dec(x) - dec(x̂)|²: what the decoder draws for the item but not for
//!   its expected content.
//!
//! Two scores per map and mask:
//!
//! - **energy share**: the map's mass inside the mask over its total mass. A map that knows
//!   nothing scores the mask's share of the image on average (reported beside it as chance);
//! - **pointing game**: is the map's maximum inside the mask.
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
use demud_datasets::images::Preprocess;
use demud_datasets::planted::{PlantedCollection, PLANTED_FILE};
use demud_datasets::run::{
    LocalisationReport, LocalisationRow, MapKind, MapSummary, RenderFolder, LOCALISATION_FORMAT,
    LOCALISATION_VERSION,
};
use demud_decoder::render::difference_map;
use image::GrayImage;
use ndarray::{Array2, ArrayView2, ArrayView3, Axis, Zip};
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

/// Means of one map's scores over several items (all zero for none).
pub fn summarise(map: MapKind, scores: &[Localisation]) -> MapSummary {
    let n = scores.len();
    let mean = |f: &dyn Fn(&Localisation) -> f64| {
        if n == 0 {
            0.0
        } else {
            scores.iter().map(f).sum::<f64>() / n as f64
        }
    };
    MapSummary {
        map,
        items: n,
        energy_share: mean(&|s| s.energy_share),
        mask_share: mean(&|s| s.mask_share),
        pointing: mean(&|s| f64::from(u8::from(s.hit))),
    }
}

/// A full-size mask brought to a render's grid: the same resize and centre crop as the image
/// (`geometry`), then set where at least half on.
pub fn mask_on_grid(mask: &GrayImage, geometry: &Preprocess) -> Array2<bool> {
    let grid = geometry.apply(mask);
    let (w, h) = grid.dimensions();
    Array2::from_shape_fn((h as usize, w as usize), |(y, x)| {
        grid.get_pixel(x as u32, y as u32)[0] >= 128
    })
}

/// Scores the planted selections of a render folder (those listed in the planted
/// collection's `planted.csv` in `planted`) against their masks, brought to the render's grid
/// through the images' own resize and crop: the novel-content map of dec(e) and the difference
/// map. Returns the rows of `localisation.csv` and the summary of `localisation.json`.
pub fn score_render(
    render: &RenderFolder,
    planted: &Path,
) -> Result<(Vec<LocalisationRow>, LocalisationReport)> {
    let decoded = render.decoded()?;
    let masks: HashMap<String, String> = PlantedCollection::read_planted(planted)?
        .into_iter()
        .map(|row| (row.id, row.mask))
        .collect();
    let side = decoded.features.shape()[2] as u32;
    let geometry = Preprocess::imagenet(side);
    let (mut novel_scores, mut difference_scores) = (Vec::new(), Vec::new());
    let mut rows = Vec::new();
    let mut ranks = Vec::new();
    for (i, selection) in render.rows().iter().enumerate() {
        let Some(mask_id) = masks.get(&selection.id) else {
            continue;
        };
        let mask_path = planted.join(mask_id);
        let mask = image::open(&mask_path)
            .map_err(|source| ReportError::Mask {
                planted: planted.join(PLANTED_FILE),
                mask: mask_path.clone(),
                source,
            })?
            .to_luma8();
        let grid = mask_on_grid(&mask, &geometry);
        let novel_map = contrast_map(decoded.novel.index_axis(Axis(0), i));
        let difference = difference_map(
            decoded.features.index_axis(Axis(0), i),
            decoded.expected.index_axis(Axis(0), i),
        );
        for (map, values, scores) in [
            (MapKind::Novel, novel_map, &mut novel_scores),
            (MapKind::Difference, difference, &mut difference_scores),
        ] {
            let score = localise(values.view(), grid.view());
            rows.push(LocalisationRow {
                rank: selection.rank,
                id: selection.id.clone(),
                map,
                energy_share: score.energy_share,
                mask_share: score.mask_share,
                hit: score.hit,
            });
            scores.push(score);
        }
        ranks.push(selection.rank);
    }
    let report = LocalisationReport {
        format: LOCALISATION_FORMAT.into(),
        version: LOCALISATION_VERSION,
        planted: masks.len(),
        selected: ranks.len(),
        ranks,
        maps: vec![
            summarise(MapKind::Novel, &novel_scores),
            summarise(MapKind::Difference, &difference_scores),
        ],
    };
    Ok((rows, report))
}

/// The summary as a text table.
pub fn format_localisation(report: &LocalisationReport) -> String {
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
        out += &format!(
            "{:<24} {:>6} {:>15.3} {:>8.3} {:>9.3}\n",
            m.map.title(),
            m.items,
            m.energy_share,
            m.mask_share,
            m.pointing
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
        let summary = summarise(
            MapKind::Novel,
            &[
                localise(map.view(), Array2::from_elem((6, 6), true).view()),
                Localisation {
                    energy_share: 0.0,
                    mask_share: 0.5,
                    hit: false,
                },
            ],
        );
        assert_eq!(summary.items, 2);
        assert!((summary.energy_share - 0.5).abs() < 1e-6);
        assert_eq!(summary.pointing, 0.5);
        assert_eq!(summary.mask_share, 0.75);
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
