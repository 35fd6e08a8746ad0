//! The maps of a run's selections: for each, the image as the network saw it and one map per
//! kind at its resolution (see [`MapKind`]).

use crate::error::{MapsError, Result};
use crate::network::{relative_difference, Network, Parts};
use crate::overlay::{colour_bar, overlay};
use demud::attribution::{contributions, feature_gradient};
use demud::scoring::Scoring;
use demud::Conditioner;
use demud_datasets::features::{read_features, CsvLayout};
use demud_datasets::images::{ImageCollection, ImageItem};
use demud_datasets::parts::PartsFile;
use demud_datasets::run::{
    colour_bar_file, map_image_file, overlay_file, MapKind, MapRow, MapScale, MapsRecord, NewMaps,
    RunFolder, MAPS_FORMAT, MAPS_VERSION,
};
use image::RgbImage;
use ndarray::{Array2, Array3, ArrayView1, ArrayView2, Axis};
use std::path::Path;

/// What to map.
#[derive(Clone, Debug, PartialEq)]
pub struct MapSettings {
    /// Map only the first selections (default: all).
    pub limit: Option<usize>,
    /// The kinds, in order; the first is the report's default. Empty: every kind the layer
    /// allows (the novelty map when the layer is a sum over a feature map, then the two
    /// gradient maps).
    pub kinds: Vec<MapKind>,
    /// The share of pixels [`top_share`] is taken over.
    pub top_fraction: f64,
}

impl Default for MapSettings {
    fn default() -> Self {
        MapSettings {
            limit: None,
            kinds: Vec::new(),
            top_fraction: 0.1,
        }
    }
}

/// A selection's explanation in the space DEMUD ranked it in.
#[derive(Clone, Copy, Debug)]
pub struct Explained<'a> {
    /// The run's conditioning.
    pub conditioner: &'a Conditioner,
    /// The run's scoring.
    pub scoring: &'a Scoring,
    /// x̂ in the conditioned space.
    pub expected: ArrayView1<'a, f64>,
    /// e in the conditioned space.
    pub residual: ArrayView1<'a, f64>,
}

/// One selection's maps.
#[derive(Clone, Debug)]
pub struct SelectionMaps {
    /// The image as the network saw it.
    pub prepared: RgbImage,
    /// The layer's value for it (to check against the run's features).
    pub features: ndarray::Array1<f64>,
    /// One `side x side` map per kind asked for.
    pub maps: Vec<Array2<f32>>,
    /// The novelty map's cells (the exact split of the score), when asked for.
    pub cells: Option<Array2<f64>>,
    /// The feature map's grid, when the layer is a sum over it.
    pub grid: Option<(usize, usize)>,
}

/// A cell map drawn at `side x side` pixels: bilinear interpolation between cell centres
/// (edges clamped, as CAM-style maps are drawn), in value per pixel (each cell's value over its
/// `side^2 / (h w)` pixels), so that the peak sits at the centre of the strongest cell and the
/// image map sums to about the cells' sum (exactly, away from the edges).
pub fn upsample(cells: ArrayView2<f64>, side: usize) -> Array2<f32> {
    let (h, w) = cells.dim();
    let per_pixel = (h * w) as f64 / (side * side) as f64;
    let coordinate = |p: usize, n: usize| {
        let c = ((p as f64 + 0.5) * n as f64 / side as f64 - 0.5).clamp(0.0, (n - 1) as f64);
        let low = c.floor() as usize;
        (low, (low + 1).min(n - 1), c - low as f64)
    };
    Array2::from_shape_fn((side, side), |(y, x)| {
        let (y0, y1, wy) = coordinate(y, h);
        let (x0, x1, wx) = coordinate(x, w);
        let top = cells[[y0, x0]] * (1.0 - wx) + cells[[y0, x1]] * wx;
        let bottom = cells[[y1, x0]] * (1.0 - wx) + cells[[y1, x1]] * wx;
        ((top * (1.0 - wy) + bottom * wy) * per_pixel) as f32
    })
}

/// The share of `total` in a map's `fraction` highest pixels (NaN when `total` is not
/// positive). For the novelty map `total` is the score (the share of the score there); for
/// the others, the map's positive mass.
pub fn top_share(map: ArrayView2<f32>, fraction: f64, total: f64) -> f64 {
    if total <= 0.0 {
        return f64::NAN;
    }
    let mut values: Vec<f64> = map.iter().map(|&v| f64::from(v)).collect();
    values.sort_by(|a, b| b.total_cmp(a));
    let count = ((fraction * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[..count].iter().sum::<f64>() / total
}

/// The map's positive mass.
pub fn positive_mass(map: ArrayView2<f32>) -> f64 {
    map.iter().map(|&v| f64::from(v.max(0.0))).sum()
}

/// Share of a run's positive map values drawn below the top of the colour map: the scale is
/// this quantile, so that a few extreme pixels (gradients are spiky) do not leave every other
/// pixel dark.
const SCALE_QUANTILE: f64 = 0.995;

/// The value the colour map tops out at for a run's maps of one kind: the
/// [`SCALE_QUANTILE`] of their positive values (0 when none is positive).
pub fn colour_scale(values: impl Iterator<Item = f32>) -> f32 {
    let mut positive: Vec<f32> = values.filter(|v| *v > 0.0).collect();
    if positive.is_empty() {
        return 0.0;
    }
    positive.sort_by(f32::total_cmp);
    let at = ((positive.len() - 1) as f64 * SCALE_QUANTILE).round() as usize;
    positive[at]
}

/// The map's maximum, `(x, y)` (the first in row order).
pub fn peak(map: ArrayView2<f32>) -> (usize, usize) {
    let mut best = (f32::NEG_INFINITY, (0, 0));
    for ((y, x), &v) in map.indexed_iter() {
        if v > best.0 {
            best = (v, (x, y));
        }
    }
    best.1
}

/// How much larger the image is for the finer novelty map.
pub const FINE_SCALE: u32 = 2;

/// The kinds a layer allows, in the default order.
pub fn available_kinds(has_parts: bool, has_finer_parts: bool) -> Vec<MapKind> {
    let mut kinds = Vec::new();
    if has_parts {
        kinds.push(MapKind::Novelty);
    }
    if has_parts && has_finer_parts {
        kinds.push(MapKind::NoveltyFine);
    }
    kinds.extend([MapKind::GradientInput, MapKind::Gradient]);
    kinds
}

/// Features made again from an image may differ from the run's by rounding (batching); more
/// than this (relative to the largest value) means another network, layer or image.
const FEATURE_TOLERANCE: f64 = 1e-3;

/// The maps of one image (any size: it is resized and cropped as the network sees it).
/// `stored`, the item's features as the run ranked them, is checked against the network's
/// before any map is made: maps of other features would explain nothing. `saved`, the item's
/// parts as extraction saved them, replaces the network's forward pass for the novelty map
/// (they are checked against `stored` the same way; the image is then only drawn on).
pub fn maps_of(
    network: &Network,
    image: &RgbImage,
    stored: ArrayView1<f64>,
    explained: Explained,
    kinds: &[MapKind],
    saved: Option<Parts>,
) -> Result<SelectionMaps> {
    let prepared = network.prepare(image);
    let side = network.side();
    let parts = match saved {
        Some(parts) => Some(parts),
        None => network.parts(&prepared)?,
    };
    let features = match &parts {
        Some((p, _)) => p.sum_axis(Axis(0)),
        None => network
            .features(std::slice::from_ref(&prepared))?
            .row(0)
            .to_owned(),
    };
    let differs = if features.len() == stored.len() {
        let diff = relative_difference(stored, features.view());
        (diff > FEATURE_TOLERANCE).then(|| format!("differ by {:.1}% of their scale", diff * 100.0))
    } else {
        Some(format!(
            "have {} values where the run's have {}",
            features.len(),
            stored.len()
        ))
    };
    if let Some(how) = differs {
        return Err(MapsError::Mismatch(format!(
            "layer {} of {} gives features that {how}: map with the network, layer and images that made the run's features",
            network.layer(),
            network.name()
        )));
    }
    let engine = |context: &str| {
        let context = context.to_string();
        move |source| MapsError::Engine { context, source }
    };
    // The score split over a feature map's cells.
    let split = |parts: &Array2<f64>, (h, w): (usize, usize)| -> Result<Array2<f64>> {
        let c = contributions(
            explained.conditioner,
            explained.scoring,
            parts.view(),
            explained.expected,
            explained.residual,
        )
        .map_err(engine("splitting the score over the feature map"))?;
        Ok(c.into_shape_with_order((h, w)).expect("one value per cell"))
    };
    let mut gradient_maps = None;
    let mut maps = Vec::new();
    let mut novelty_cells = None;
    for &kind in kinds {
        maps.push(match kind {
            MapKind::Novelty => {
                let Some((p, (h, w))) = &parts else {
                    return Err(MapsError::Setting {
                        name: "maps",
                        reason: format!(
                            "layer {} of {} is not a sum over a feature map's positions, so it has no exact novelty map: ask for gradient-input or gradient",
                            network.layer(),
                            network.name()
                        ),
                    });
                };
                let cells = split(p, (*h, *w))?;
                let map = upsample(cells.view(), side);
                novelty_cells = Some(cells);
                map
            }
            MapKind::NoveltyFine => {
                let larger = network.prepare_scaled(image, FINE_SCALE);
                let fine = match (&parts, network.parts(&larger)) {
                    (Some((_, grid)), Ok(Some((p, fine_grid)))) if fine_grid.0 > grid.0 => {
                        Some((p, fine_grid))
                    }
                    _ => None,
                };
                let Some((p, (h, w))) = fine else {
                    return Err(MapsError::Setting {
                        name: "maps",
                        reason: format!(
                            "layer {} of {} has no finer feature map at {} px: ask for novelty",
                            network.layer(),
                            network.name(),
                            side * FINE_SCALE as usize
                        ),
                    });
                };
                upsample(split(&p, (h, w))?.view(), side)
            }
            MapKind::GradientInput | MapKind::Gradient => {
                if gradient_maps.is_none() {
                    let direction = feature_gradient(
                        explained.conditioner,
                        explained.scoring,
                        features.view(),
                        explained.residual,
                    )
                    .map_err(engine("the score's gradient"))?;
                    let (gradient, input) = network.pixel_gradient(&prepared, direction.view())?;
                    let times_input = (&gradient * &input).sum_axis(Axis(0));
                    let magnitude = gradient.mapv(f32::abs).sum_axis(Axis(0));
                    gradient_maps = Some((times_input, magnitude));
                }
                let (times_input, magnitude) = gradient_maps.as_ref().expect("just made");
                if kind == MapKind::GradientInput {
                    times_input.clone()
                } else {
                    magnitude.clone()
                }
            }
            MapKind::Novel | MapKind::Difference => {
                return Err(MapsError::Setting {
                    name: "maps",
                    reason: format!(
                        "the {} map is drawn by the decoder (demud render), not from the network",
                        kind.name()
                    ),
                })
            }
        });
    }
    Ok(SelectionMaps {
        prepared,
        features,
        maps,
        cells: novelty_cells,
        grid: parts.map(|(_, grid)| grid),
    })
}

/// Maps the run's selections: the images come from `images` (the ids are paths in it), the
/// network must be the one that made the run's features (checked item by item).
pub fn map_run(
    run: &RunFolder,
    images: &Path,
    network: &Network,
    settings: &MapSettings,
) -> Result<NewMaps> {
    if !(settings.top_fraction > 0.0 && settings.top_fraction <= 1.0) {
        return Err(MapsError::Setting {
            name: "top fraction",
            reason: format!("{} is not in (0, 1]", settings.top_fraction),
        });
    }
    // The run says how its features were made; a network seeing images another way would
    // explain features the run never ranked.
    if let (Some(made), Some(ours)) = (run.record().extraction.as_ref(), network.record()) {
        ours.check_same_view(made, "the network given", "the run's features")
            .map_err(|why| {
                MapsError::Mismatch(format!(
                    "the network given is not the one that made the run's features: {why}"
                ))
            })?;
    }
    let ranked = run.ranked_explanations()?;
    let scoring = run.scoring()?;
    let table = read_features(
        &run.features_path(),
        CsvLayout::default(),
        run.items_path().as_deref(),
    )?;
    let n = settings
        .limit
        .unwrap_or(usize::MAX)
        .min(run.selections().len());
    let collection = ImageCollection {
        root: images.to_path_buf(),
        items: Vec::new(),
    };
    let probe_parts = n > 0;
    let mut kinds = settings.kinds.clone();
    // Parts saved at extraction make the novelty map without a forward pass; other maps need
    // the network on the image anyway, and it checks the images too.
    let saved = match run
        .record()
        .extraction
        .as_ref()
        .and_then(|r| r.parts.as_ref())
    {
        Some(record) if kinds == [MapKind::Novelty] => {
            let path = run.features_path().with_file_name(&record.file);
            let file = PartsFile::open(&path)?;
            if file.dim().0 != table.matrix.dim().0 || file.dim().1 != record.grid.0 * record.grid.1
            {
                return Err(MapsError::Mismatch(format!(
                    "{}: {:?} parts where the run has {} items on a {} x {} grid",
                    path.display(),
                    file.dim(),
                    table.matrix.dim().0,
                    record.grid.0,
                    record.grid.1
                )));
            }
            Some((file, record.grid))
        }
        _ => None,
    };
    let mut per_selection = Vec::with_capacity(n);
    for (i, selection) in run.selections()[..n].iter().enumerate() {
        let image = network.load(
            &collection,
            &ImageItem {
                id: selection.id.clone(),
                label: None,
            },
        )?;
        if kinds.is_empty() && probe_parts {
            let grid = network
                .parts(&network.prepare(&image))?
                .map(|(_, grid)| grid);
            // A finer map where the network takes a larger image and its grid grows with it.
            let finer = network
                .parts(&network.prepare_scaled(&image, FINE_SCALE))
                .ok()
                .flatten()
                .map(|(_, fine)| fine);
            let has_finer = matches!((grid, finer), (Some(g), Some(f)) if f.0 > g.0);
            kinds = available_kinds(grid.is_some(), has_finer);
        }
        let explained = Explained {
            conditioner: &ranked.conditioner,
            scoring: &scoring,
            expected: ranked.expected.row(i),
            residual: ranked.residual.row(i),
        };
        let stored = table.matrix.row_f64(selection.index);
        let parts = match &saved {
            Some((file, grid)) => Some((file.item(selection.index)?, *grid)),
            None => None,
        };
        let maps = maps_of(network, &image, stored.view(), explained, &kinds, parts).map_err(
            |e| match e {
                MapsError::Mismatch(why) => MapsError::Mismatch(format!(
                    "{} (item {:?} of {}): {why}",
                    images.join(&selection.id).display(),
                    selection.id,
                    run.features_path().display()
                )),
                other => other,
            },
        )?;
        per_selection.push(maps);
    }
    let side = network.side();
    let scales: Vec<f32> = (0..kinds.len())
        .map(|k| colour_scale(per_selection.iter().flat_map(|s| s.maps[k].iter().copied())))
        .collect();
    let mut rows = Vec::new();
    let mut pictures = Vec::new();
    let mut arrays: Vec<Array3<f32>> = kinds
        .iter()
        .map(|_| Array3::zeros((per_selection.len(), side, side)))
        .collect();
    for (i, (selection, maps)) in run.selections().iter().zip(&per_selection).enumerate() {
        pictures.push((map_image_file(selection.rank), maps.prepared.clone()));
        for (k, (&kind, map)) in kinds.iter().zip(&maps.maps).enumerate() {
            arrays[k].index_axis_mut(Axis(0), i).assign(map);
            let (peak_x, peak_y) = peak(map.view());
            rows.push(MapRow {
                rank: selection.rank,
                index: selection.index,
                id: selection.id.clone(),
                map: kind,
                score: selection.score,
                total: match (&maps.cells, kind) {
                    (Some(cells), MapKind::Novelty) => cells.sum(),
                    _ => map.iter().map(|&v| f64::from(v)).sum(),
                },
                top_share: top_share(
                    map.view(),
                    settings.top_fraction,
                    if kind == MapKind::Novelty {
                        map.iter().map(|&v| f64::from(v)).sum()
                    } else {
                        positive_mass(map.view())
                    },
                ),
                peak_x,
                peak_y,
            });
            pictures.push((
                overlay_file(selection.rank, kind),
                overlay(&maps.prepared, map.view(), scales[k]),
            ));
        }
    }
    for &kind in &kinds {
        pictures.push((colour_bar_file(kind), colour_bar(256, 12)));
    }
    let record = MapsRecord {
        format: MAPS_FORMAT.into(),
        version: MAPS_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        run: run.dir().to_path_buf(),
        images: images.to_path_buf(),
        network: network.name().to_string(),
        layer: network.layer().to_string(),
        side,
        grid: per_selection
            .first()
            .and_then(|s| s.grid)
            .map(|(h, w)| [h, w]),
        maps: kinds
            .iter()
            .zip(&scales)
            .map(|(&map, &scale)| MapScale { map, scale })
            .collect(),
        default_map: kinds.first().copied().unwrap_or(MapKind::GradientInput),
        selections: per_selection.len(),
        top_fraction: settings.top_fraction,
    };
    Ok(NewMaps {
        record,
        rows,
        arrays,
        images: pictures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_puts_each_cell_at_its_centre_and_keeps_the_sum() {
        let mut cells = Array2::<f64>::zeros((7, 7));
        cells[[1, 5]] = 49.0;
        let map = upsample(cells.view(), 224);
        assert_eq!(map.dim(), (224, 224));
        // Cell (1, 5) covers rows 32..64 and columns 160..192: its centre holds the peak.
        let (x, y) = peak(map.view());
        assert!(
            (175..=176).contains(&x) && (47..=48).contains(&y),
            "{x}, {y}"
        );
        let sum: f64 = map.iter().map(|&v| f64::from(v)).sum();
        assert!((sum - 49.0).abs() < 1e-3, "{sum}");
        // A constant stays constant, per pixel.
        let flat = upsample(Array2::from_elem((2, 2), 4.0).view(), 4);
        assert!(flat.iter().all(|&v| (v - 1.0).abs() < 1e-6));
    }

    #[test]
    fn top_share_and_peak() {
        let mut map = Array2::<f32>::from_elem((10, 10), 1.0);
        map[[3, 7]] = 11.0;
        // Top 10%: the peak and 9 ones, of a total of 110.
        let total = positive_mass(map.view());
        assert_eq!(total, 110.0);
        assert!((top_share(map.view(), 0.1, total) - 20.0 / 110.0).abs() < 1e-12);
        assert_eq!(peak(map.view()), (7, 3));
        assert!(top_share(map.view(), 0.5, 0.0).is_nan());
        // The colour scale ignores the top half-percent of positive values.
        let values = (1..=1000).map(|v| v as f32).chain([-5.0, 1e9]);
        assert_eq!(colour_scale(values), 996.0);
        assert_eq!(colour_scale([-1.0f32, 0.0].into_iter()), 0.0);
    }
}
