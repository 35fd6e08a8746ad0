//! Seeded image collections with planted novelties and their ground-truth masks: the test bed
//! for measuring whether an explanation points at what is actually new.
//!
//! Two recipes:
//!
//! - [`FlowerRecipe`]: a Figure-1-like set of yellow objects (flowers, discs, stars) on grass
//!   and sky backgrounds, where a few flowers carry a novel part: a dark centre. The mask is
//!   that centre; the planted items have their own label, so discovery curves show when DEMUD
//!   finds them.
//! - [`PatchRecipe`]: real images with a foreign patch (a saturated chequerboard) pasted at a
//!   random place in a few of them. The mask is the patch; labels are kept.
//!
//! Novel parts are placed inside the centre crop that ImageNet-style preprocessing keeps
//! ([`CENTRAL_SHARE`] of the shorter side), so no encoder or decoder crops them away.
//!
//! ```
//! use demud_datasets::planted::FlowerRecipe;
//! let recipe = FlowerRecipe { class_sizes: vec![6, 4], planted: 2, ..FlowerRecipe::default() };
//! let collection = recipe.generate();
//! assert_eq!(collection.items.len(), 12);
//! let planted: Vec<_> = collection.items.iter().filter(|i| i.mask.is_some()).collect();
//! assert_eq!(planted.len(), 2);
//! // The mask marks the dark centre: the image is dark wherever the mask is set.
//! let item = planted[0];
//! let (mask, image) = (item.mask.as_ref().unwrap(), &item.image);
//! let inside = mask.enumerate_pixels().filter(|(_, _, m)| m[0] > 0).count();
//! let dark = mask.enumerate_pixels()
//!     .filter(|(x, y, m)| m[0] > 0 && image.get_pixel(*x, *y).0.iter().all(|&c| c < 110))
//!     .count();
//! assert!(inside > 20 && dark == inside);
//! assert_eq!(recipe.generate(), collection); // seeded
//! ```

use crate::atomic::commit_folder;
use crate::error::{DataError, Result};
use crate::run::{read_rows, write_png, write_rows};
use image::{GrayImage, Luma, Rgb, RgbImage};
use imageproc::drawing::{draw_filled_circle_mut, draw_polygon_mut};
use imageproc::point::Point;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Share of the shorter side kept by the 224-of-256 centre crop of ImageNet preprocessing;
/// novel parts are planted inside it.
pub const CENTRAL_SHARE: f64 = 224.0 / 256.0;

/// The mean centre colour of a common flower (each is jittered around it).
const NORMAL_CENTRE: [u8; 3] = [235, 160, 30];

/// Mask value of a novel pixel (others are 0).
pub const MASK_ON: u8 = 255;

/// One image of a planted collection.
#[derive(Clone, Debug, PartialEq)]
pub struct PlantedItem {
    /// Relative path the image is written to (and its id), e.g. `images/flower-0003.png`.
    pub id: String,
    /// Its class.
    pub label: String,
    /// The image.
    pub image: RgbImage,
    /// For planted items: [`MASK_ON`] where the novel part is, 0 elsewhere (image size).
    pub mask: Option<GrayImage>,
    /// For planted items: the image as it was before the novel part was planted (what
    /// re-scoring "without the novelty" uses).
    pub original: Option<RgbImage>,
}

/// A generated collection; the items are in a seeded random order.
#[derive(Clone, Debug, PartialEq)]
pub struct PlantedCollection {
    /// The images.
    pub items: Vec<PlantedItem>,
}

/// The manifest of a planted collection folder (`path,label`, for `extract --manifest`).
pub const MANIFEST_FILE: &str = "manifest.csv";
/// The planted items of a collection folder and their masks (`id,mask`).
pub const PLANTED_FILE: &str = "planted.csv";

/// One row of [`PLANTED_FILE`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantedRow {
    /// The image's id (its path in the folder).
    pub id: String,
    /// Its mask's path in the folder.
    pub mask: String,
    /// The image before the novelty was planted, its path in the folder (absent in folders
    /// written before originals were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

/// One row of [`MANIFEST_FILE`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ManifestRow<'a> {
    path: &'a str,
    label: &'a str,
}

impl PlantedCollection {
    /// Writes the collection folder whole: `images/`, `masks/`, [`MANIFEST_FILE`] and
    /// [`PLANTED_FILE`].
    pub fn write(&self, out: &Path) -> Result<()> {
        commit_folder(out, |staging| {
            let mut manifest = Vec::with_capacity(self.items.len());
            let mut planted = Vec::new();
            for item in &self.items {
                write_png(&staging.join(&item.id), &item.image)?;
                manifest.push(ManifestRow {
                    path: &item.id,
                    label: &item.label,
                });
                if let (Some(mask), Some(mask_id)) = (&item.mask, PlantedCollection::mask_id(item))
                {
                    write_png(&staging.join(&mask_id), mask)?;
                    let original = match &item.original {
                        Some(image) => {
                            let id = PlantedCollection::original_id(item);
                            write_png(&staging.join(&id), image)?;
                            Some(id)
                        }
                        None => None,
                    };
                    planted.push(PlantedRow {
                        id: item.id.clone(),
                        mask: mask_id,
                        original,
                    });
                }
            }
            write_rows(&staging.join(MANIFEST_FILE), &manifest)?;
            write_rows(&staging.join(PLANTED_FILE), &planted)
        })
    }

    /// The planted items of a collection folder, each with its mask's path.
    pub fn read_planted(dir: &Path) -> Result<Vec<PlantedRow>> {
        read_rows(&dir.join(PLANTED_FILE))
    }

    /// The planted items of a collection folder, checked against the collection a run ranked
    /// (`ids`, the run's items): every planted id must be one of its items, listed once, so
    /// that the count of planted items is the count of novelties the run could find. An id
    /// that is not an item is an error naming it and its line.
    pub fn read_planted_of(dir: &Path, ids: &[String]) -> Result<Vec<PlantedRow>> {
        let path = dir.join(PLANTED_FILE);
        let rows = Self::read_planted(dir)?;
        let items: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut seen = std::collections::HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            let line = i as u64 + 2;
            if !items.contains(row.id.as_str()) {
                return Err(DataError::line(
                    &path,
                    line,
                    format!(
                        "planted item {:?} is not an item of the run's collection ({} items): this planted collection is not the one the run ranked, or the id is misspelt",
                        row.id,
                        ids.len()
                    ),
                ));
            }
            if let Some(first) = seen.insert(row.id.as_str(), line) {
                return Err(DataError::line(
                    &path,
                    line,
                    format!(
                        "planted item {:?} is listed twice (first on line {first})",
                        row.id
                    ),
                ));
            }
        }
        Ok(rows)
    }

    /// The mask of a planted item (in the collection folder `dir`), checked to have the size
    /// of its image (`image`, the file the run's item was made from): a mask of another size
    /// would be stretched over the image and score the wrong pixels, so it is an error naming
    /// both files and sizes.
    pub fn read_mask(dir: &Path, row: &PlantedRow, image: &Path) -> Result<GrayImage> {
        let path = dir.join(&row.mask);
        let mask = image::open(&path)
            .map_err(|e| DataError::parse(&path, None, format!("the mask of {:?}", row.id), e))?
            .to_luma8();
        let (w, h) = image::image_dimensions(image)
            .map_err(|e| DataError::parse(image, None, format!("the image of {:?}", row.id), e))?;
        if mask.dimensions() != (w, h) {
            return Err(DataError::file(
                &path,
                format!(
                    "a mask of {} x {} px for {:?}, whose image {} is {w} x {h} px: a mask must have its image's size",
                    mask.width(),
                    mask.height(),
                    row.id,
                    image.display()
                ),
            ));
        }
        Ok(mask)
    }

    /// The original's relative path for a planted item: its id with `images/` replaced by
    /// `originals/` (or `originals/` put in front).
    pub fn original_id(item: &PlantedItem) -> String {
        let rest = item.id.strip_prefix("images/").unwrap_or(&item.id);
        format!("originals/{rest}")
    }

    /// The mask's relative path for a planted item: its id with `images/` replaced by
    /// `masks/` (or `masks/` put in front).
    pub fn mask_id(item: &PlantedItem) -> Option<String> {
        item.mask.as_ref().map(|_| {
            let rest = item.id.strip_prefix("images/").unwrap_or(&item.id);
            format!("masks/{rest}")
        })
    }
}

/// The Figure-1-like collection: common yellow objects and a few flowers with a dark centre.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowerRecipe {
    /// Seed of every random draw.
    pub seed: u64,
    /// Image side in pixels.
    pub size: u32,
    /// Items of the common classes, in the order of [`FlowerRecipe::CLASSES`] (yellow flowers,
    /// yellow discs, yellow stars); fewer sizes use fewer classes.
    pub class_sizes: Vec<usize>,
    /// Flowers with a dark centre (label [`FlowerRecipe::PLANTED_LABEL`]).
    pub planted: usize,
}

impl Default for FlowerRecipe {
    /// 450 common items (200 flowers, 150 discs, 100 stars) and 6 planted ones at 128 px.
    fn default() -> Self {
        FlowerRecipe {
            seed: 2018,
            size: 128,
            class_sizes: vec![200, 150, 100],
            planted: 6,
        }
    }
}

/// A colour with each channel moved by up to `spread` (seeded).
fn jitter(rng: &mut ChaCha8Rng, colour: [u8; 3], spread: i32) -> Rgb<u8> {
    Rgb(colour.map(|c| (c as i32 + rng.random_range(-spread..=spread)).clamp(0, 255) as u8))
}

/// A background: a vertical gradient between two jittered colours (grass or sky), with noise.
fn background(rng: &mut ChaCha8Rng, size: u32) -> RgbImage {
    let (top, bottom) = if rng.random_bool(0.5) {
        ([120, 170, 225], [185, 215, 240]) // sky
    } else {
        ([60, 120, 50], [110, 160, 70]) // grass
    };
    let (top, bottom) = (jitter(rng, top, 20), jitter(rng, bottom, 20));
    let mut image = RgbImage::new(size, size);
    for y in 0..size {
        let t = y as f32 / (size - 1).max(1) as f32;
        for x in 0..size {
            let noise: f32 = rng.random_range(-8.0..8.0);
            let pixel = Rgb(std::array::from_fn(|c| {
                (top[c] as f32 * (1.0 - t) + bottom[c] as f32 * t + noise).clamp(0.0, 255.0) as u8
            }));
            image.put_pixel(x, y, pixel);
        }
    }
    image
}

/// A point inside the central crop, at least `margin` pixels from its edges.
fn central_point(rng: &mut ChaCha8Rng, size: u32, margin: f64) -> (f64, f64) {
    let half = size as f64 * CENTRAL_SHARE / 2.0 - margin;
    let centre = size as f64 / 2.0;
    let half = half.max(0.0);
    (
        centre + rng.random_range(-half..=half),
        centre + rng.random_range(-half..=half),
    )
}

impl FlowerRecipe {
    /// Labels of the common classes.
    pub const CLASSES: [&'static str; 3] = ["yellow-flower", "yellow-disc", "yellow-star"];
    /// Label of the planted items.
    pub const PLANTED_LABEL: &'static str = "dark-centre-flower";

    /// The collection (seeded: the same recipe gives the same images).
    pub fn generate(&self) -> PlantedCollection {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut kinds: Vec<(usize, bool)> = Vec::new();
        for (class, &count) in self
            .class_sizes
            .iter()
            .enumerate()
            .take(Self::CLASSES.len())
        {
            kinds.extend(std::iter::repeat_n((class, false), count));
        }
        kinds.extend(std::iter::repeat_n((0, true), self.planted));
        kinds.shuffle(&mut rng);
        let mut counters = [0usize; 4];
        let items = kinds
            .into_iter()
            .map(|(class, planted)| {
                let label = if planted {
                    Self::PLANTED_LABEL
                } else {
                    Self::CLASSES[class]
                };
                let slot = if planted { 3 } else { class };
                counters[slot] += 1;
                let id = format!("images/{label}-{:04}.png", counters[slot]);
                let (image, planted_part) = self.draw(&mut rng, class, planted);
                let (mask, original) = match planted_part {
                    Some((mask, original)) => (Some(mask), Some(original)),
                    None => (None, None),
                };
                PlantedItem {
                    id,
                    label: label.to_string(),
                    image,
                    mask,
                    original,
                }
            })
            .collect();
        PlantedCollection { items }
    }

    /// One image of `class`; a planted flower also returns the mask of its dark centre and
    /// the same flower with a common centre.
    fn draw(
        &self,
        rng: &mut ChaCha8Rng,
        class: usize,
        planted: bool,
    ) -> (RgbImage, Option<(GrayImage, RgbImage)>) {
        let size = self.size;
        let mut image = background(rng, size);
        let s = size as f64;
        let radius = s * rng.random_range(0.20..0.27);
        let (cx, cy) = central_point(rng, size, radius * 0.5);
        let yellow = jitter(rng, [240, 205, 40], 15);
        let centre = (cx.round() as i32, cy.round() as i32);
        match class {
            0 => {
                // Petals: circles on a ring around the centre, then the centre disc.
                let petals = rng.random_range(7..=11);
                let phase = rng.random_range(0.0..std::f64::consts::TAU);
                let petal_radius = (radius * 0.42).round() as i32;
                for p in 0..petals {
                    let angle = phase + std::f64::consts::TAU * p as f64 / petals as f64;
                    let at = (
                        (cx + 0.6 * radius * angle.cos()).round() as i32,
                        (cy + 0.6 * radius * angle.sin()).round() as i32,
                    );
                    draw_filled_circle_mut(&mut image, at, petal_radius, yellow);
                }
                let centre_radius = (radius * 0.36).round() as i32;
                let colour = if planted {
                    jitter(rng, [70, 40, 20], 12)
                } else {
                    jitter(rng, NORMAL_CENTRE, 12)
                };
                if planted {
                    // The same flower with a common centre (the mean colour, no random draw:
                    // the collection's seeded sequence stays as it was) is the original.
                    let mut original = image.clone();
                    draw_filled_circle_mut(
                        &mut original,
                        centre,
                        centre_radius,
                        Rgb(NORMAL_CENTRE),
                    );
                    draw_filled_circle_mut(&mut image, centre, centre_radius, colour);
                    let mut mask = GrayImage::new(size, size);
                    draw_filled_circle_mut(&mut mask, centre, centre_radius, Luma([MASK_ON]));
                    return (image, Some((mask, original)));
                }
                draw_filled_circle_mut(&mut image, centre, centre_radius, colour);
            }
            1 => draw_filled_circle_mut(&mut image, centre, radius.round() as i32, yellow),
            _ => {
                let points = rng.random_range(5..=6);
                let phase = rng.random_range(0.0..std::f64::consts::TAU);
                let star: Vec<Point<i32>> = (0..2 * points)
                    .map(|i| {
                        let r = if i % 2 == 0 {
                            radius * 1.1
                        } else {
                            radius * 0.5
                        };
                        let angle = phase + std::f64::consts::PI * i as f64 / points as f64;
                        Point::new(
                            (cx + r * angle.cos()).round() as i32,
                            (cy + r * angle.sin()).round() as i32,
                        )
                    })
                    .collect();
                draw_polygon_mut(&mut image, &star, yellow);
            }
        }
        (image, None)
    }
}

/// Pastes a foreign patch into a few images of a real collection.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchRecipe {
    /// Seed of the choice of images and of the patch positions.
    pub seed: u64,
    /// How many images get a patch.
    pub planted: usize,
    /// Patch side as a share of the image's shorter side.
    pub patch_share: f64,
    /// Squares per side of the chequerboard.
    pub squares: u32,
}

impl Default for PatchRecipe {
    /// 8 images get a 4 x 4 magenta and green chequerboard, a quarter of the shorter side wide.
    fn default() -> Self {
        PatchRecipe {
            seed: 2018,
            planted: 8,
            patch_share: 0.25,
            squares: 4,
        }
    }
}

impl PatchRecipe {
    /// The patch's two colours (saturated magenta and green: rare in photographs and emoji).
    pub const COLOURS: [[u8; 3]; 2] = [[230, 0, 200], [0, 210, 60]];

    /// Adds patches (and masks) to `planted` of `items` chosen at random; the others are left
    /// as they are. Returns the indices of the planted items, sorted.
    pub fn apply(&self, items: &mut [PlantedItem]) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut chosen: Vec<usize> = (0..items.len()).collect();
        chosen.shuffle(&mut rng);
        chosen.truncate(self.planted.min(items.len()));
        chosen.sort_unstable();
        for &i in &chosen {
            let item = &mut items[i];
            item.original = Some(item.image.clone());
            let (w, h) = item.image.dimensions();
            let short = w.min(h);
            let side = ((short as f64 * self.patch_share).round() as u32).clamp(1, short);
            // Inside the central crop of the shorter side, centred on the longer one.
            let kept = (short as f64 * CENTRAL_SHARE).floor() as u32;
            let span = kept.saturating_sub(side);
            let x0 = (w - kept.min(w)) / 2 + rng.random_range(0..=span);
            let y0 = (h - kept.min(h)) / 2 + rng.random_range(0..=span);
            let square = (side / self.squares.max(1)).max(1);
            let mut mask = GrayImage::new(w, h);
            for y in y0..(y0 + side).min(h) {
                for x in x0..(x0 + side).min(w) {
                    let parity = (((x - x0) / square + (y - y0) / square) % 2) as usize;
                    item.image.put_pixel(x, y, Rgb(Self::COLOURS[parity]));
                    mask.put_pixel(x, y, Luma([MASK_ON]));
                }
            }
            item.mask = Some(mask);
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(n: usize, w: u32, h: u32) -> Vec<PlantedItem> {
        (0..n)
            .map(|i| PlantedItem {
                id: format!("images/{i}.png"),
                label: "plain".into(),
                image: RgbImage::from_pixel(w, h, Rgb([128, 128, 128])),
                mask: None,
                original: None,
            })
            .collect()
    }

    /// Pixels where an item's image and its original differ all lie inside its mask, and some
    /// do.
    fn differs_only_inside_its_mask(item: &PlantedItem) {
        let (mask, original) = (item.mask.as_ref().unwrap(), item.original.as_ref().unwrap());
        let mut changed = 0;
        for (x, y, p) in item.image.enumerate_pixels() {
            if p != original.get_pixel(x, y) {
                assert_eq!(mask.get_pixel(x, y)[0], MASK_ON, "{} at {x}, {y}", item.id);
                changed += 1;
            }
        }
        assert!(changed > 0, "{}", item.id);
    }

    #[test]
    fn planted_items_keep_their_original_which_differs_only_in_the_mask() {
        let collection = FlowerRecipe {
            class_sizes: vec![4, 2, 2],
            planted: 3,
            ..FlowerRecipe::default()
        }
        .generate();
        let planted: Vec<_> = collection
            .items
            .iter()
            .filter(|i| i.mask.is_some())
            .collect();
        assert_eq!(planted.len(), 3);
        planted.iter().for_each(|i| differs_only_inside_its_mask(i));
        assert!(collection
            .items
            .iter()
            .all(|i| i.mask.is_some() == i.original.is_some()));
        let mut items = plain(6, 64, 48);
        for i in PatchRecipe::default().apply(&mut items) {
            differs_only_inside_its_mask(&items[i]);
        }
        // Written beside the masks, listed in planted.csv.
        let dir = tempfile::tempdir().unwrap();
        collection.write(&dir.path().join("c")).unwrap();
        let rows = PlantedCollection::read_planted(&dir.path().join("c")).unwrap();
        assert_eq!(rows.len(), 3);
        for row in rows {
            let original = row.original.unwrap();
            assert!(original.starts_with("originals/"));
            assert!(dir.path().join("c").join(original).is_file());
        }
    }

    #[test]
    fn planted_ids_outside_the_collection_and_masks_of_another_size_are_refused() {
        let collection = FlowerRecipe {
            class_sizes: vec![3, 2, 2],
            planted: 2,
            size: 32,
            ..FlowerRecipe::default()
        }
        .generate();
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("c");
        collection.write(&dir).unwrap();
        let ids: Vec<String> = collection.items.iter().map(|i| i.id.clone()).collect();
        let rows = PlantedCollection::read_planted_of(&dir, &ids).unwrap();
        assert_eq!(rows.len(), 2);
        let image = dir.join(&rows[0].id);
        assert_eq!(
            PlantedCollection::read_mask(&dir, &rows[0], &image)
                .unwrap()
                .dimensions(),
            (32, 32)
        );
        // A collection without the first planted item.
        let fewer: Vec<String> = ids.iter().filter(|i| **i != rows[0].id).cloned().collect();
        let err = PlantedCollection::read_planted_of(&dir, &fewer)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("planted.csv, line 2")
                && err.contains(&format!("{:?} is not an item", rows[0].id)),
            "{err}"
        );
        // A mask of 10 x 300 px for a 32 x 32 image.
        GrayImage::new(10, 300)
            .save(dir.join(&rows[0].mask))
            .unwrap();
        let err = PlantedCollection::read_mask(&dir, &rows[0], &image)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&rows[0].mask)
                && err.contains("a mask of 10 x 300 px")
                && err.contains("is 32 x 32 px"),
            "{err}"
        );
    }

    #[test]
    fn patches_sit_inside_the_central_crop_and_match_their_masks() {
        let mut items = plain(20, 200, 120);
        let recipe = PatchRecipe {
            planted: 5,
            ..PatchRecipe::default()
        };
        let chosen = recipe.apply(&mut items);
        assert_eq!(chosen.len(), 5);
        for (i, item) in items.iter().enumerate() {
            let Some(mask) = &item.mask else {
                assert!(!chosen.contains(&i));
                assert!(item.image.pixels().all(|p| p.0 == [128, 128, 128]));
                continue;
            };
            let side = (120.0 * 0.25f64).round() as u32;
            let on: Vec<(u32, u32)> = mask
                .enumerate_pixels()
                .filter(|(_, _, m)| m[0] == MASK_ON)
                .map(|(x, y, _)| (x, y))
                .collect();
            assert_eq!(on.len() as u32, side * side);
            // Central crop: 105 px of the shorter side, centred on both axes.
            let kept = (120.0 * CENTRAL_SHARE).floor() as u32;
            let (x_min, y_min) = ((200 - kept) / 2, (120 - kept) / 2);
            assert!(on
                .iter()
                .all(|&(x, y)| x >= x_min && x < x_min + kept && y >= y_min && y < y_min + kept));
            for (x, y, pixel) in item.image.enumerate_pixels() {
                let planted = mask.get_pixel(x, y)[0] == MASK_ON;
                assert_eq!(
                    planted,
                    PatchRecipe::COLOURS.contains(&pixel.0),
                    "({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn flower_classes_have_their_sizes_and_only_planted_items_have_masks() {
        let recipe = FlowerRecipe {
            class_sizes: vec![5, 4, 3],
            planted: 2,
            size: 64,
            ..FlowerRecipe::default()
        };
        let collection = recipe.generate();
        let count = |label: &str| collection.items.iter().filter(|i| i.label == label).count();
        assert_eq!(count("yellow-flower"), 5);
        assert_eq!(count("yellow-disc"), 4);
        assert_eq!(count("yellow-star"), 3);
        assert_eq!(count(FlowerRecipe::PLANTED_LABEL), 2);
        for item in &collection.items {
            assert_eq!(
                item.mask.is_some(),
                item.label == FlowerRecipe::PLANTED_LABEL
            );
            assert_eq!(item.image.dimensions(), (64, 64));
        }
        let ids: std::collections::HashSet<_> = collection.items.iter().map(|i| &i.id).collect();
        assert_eq!(ids.len(), collection.items.len(), "ids are unique");
        let other = FlowerRecipe {
            seed: 7,
            ..recipe.clone()
        };
        assert_ne!(other.generate(), collection);
    }
}
