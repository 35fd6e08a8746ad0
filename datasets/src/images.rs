//! Image collections: which images, with which labels, and how a model sees them.
//!
//! A collection is a folder in ImageFolder layout (one subfolder per class, images inside;
//! images directly in the folder are unlabelled) or any folder with a manifest CSV
//! (`path,label` per row, paths relative to the folder, optional header `path,label`).
//! JPEG and PNG, grey or colour, any size: every image is decoded to RGB.
//!
//! ```
//! use demud_datasets::images::{ImageCollection, Preprocess};
//! let dir = tempfile::tempdir().unwrap();
//! for (class, name) in [("cats", "a.png"), ("dogs", "b.png")] {
//!     std::fs::create_dir_all(dir.path().join(class)).unwrap();
//!     image::RgbImage::new(40, 30).save(dir.path().join(class).join(name)).unwrap();
//! }
//! let collection = ImageCollection::from_folder(dir.path()).unwrap();
//! assert_eq!(collection.items[1].id, "dogs/b.png");
//! assert_eq!(collection.items[1].label.as_deref(), Some("dogs"));
//! let image = collection.load(&collection.items[0]).unwrap();
//! let input = Preprocess::imagenet(224).apply(&image);
//! assert_eq!(input.dimensions(), (224, 224));
//! ```

use crate::error::{LoadError, Result};
use crate::features::read_items;
use image::{imageops::FilterType, ImageBuffer, Pixel, RgbImage};
use std::path::{Path, PathBuf};

/// File extensions read as images.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

/// One image of a collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageItem {
    /// Path relative to the collection's folder, with `/` separators: the item's id.
    pub id: String,
    /// Its class, when the layout or the manifest gives one.
    pub label: Option<String>,
}

/// A folder of images and the items in it, in a stable (sorted or manifest) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageCollection {
    /// The folder.
    pub root: PathBuf,
    /// The images.
    pub items: Vec<ImageItem>,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    Ok(entries)
}

impl ImageCollection {
    /// ImageFolder layout: images in class subfolders (label = subfolder name, searched one
    /// level deep) and unlabelled images directly in `root`.
    pub fn from_folder(root: &Path) -> Result<Self> {
        let mut items = Vec::new();
        for entry in sorted_entries(root)? {
            let name = entry
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if name.starts_with('.') {
                continue;
            }
            if entry.is_dir() {
                for file in sorted_entries(&entry)? {
                    if file.is_file() && is_image(&file) {
                        let file_name = file.file_name().unwrap_or_default().to_string_lossy();
                        items.push(ImageItem {
                            id: format!("{name}/{file_name}"),
                            label: Some(name.clone()),
                        });
                    }
                }
            } else if is_image(&entry) {
                items.push(ImageItem {
                    id: name,
                    label: None,
                });
            }
        }
        if items.is_empty() {
            return Err(LoadError::file(
                root,
                "no JPEG or PNG images in this folder or its subfolders",
            ));
        }
        Ok(ImageCollection {
            root: root.to_path_buf(),
            items,
        })
    }

    /// Images listed by a manifest CSV (`path[,label]`), paths relative to `root`. A listed
    /// file that does not exist is an error naming its line.
    pub fn from_manifest(root: &Path, manifest: &Path) -> Result<Self> {
        let rows = read_items(manifest)?;
        let skip = usize::from(
            rows.first()
                .is_some_and(|r| r.id.eq_ignore_ascii_case("path")),
        );
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows[skip..] {
            if !root.join(&row.id).is_file() {
                return Err(LoadError::line(
                    manifest,
                    row.line,
                    format!("{} does not exist", root.join(&row.id).display()),
                ));
            }
            items.push(ImageItem {
                id: row.id.clone(),
                label: row.label.clone(),
            });
        }
        if items.is_empty() {
            return Err(LoadError::file(manifest, "the manifest lists no images"));
        }
        Ok(ImageCollection {
            root: root.to_path_buf(),
            items,
        })
    }

    /// The file of an item.
    pub fn path(&self, item: &ImageItem) -> PathBuf {
        self.root.join(&item.id)
    }

    /// Decodes an item as RGB. Grey images are converted; images with transparency are
    /// composited onto white, as a page shows them (dropping alpha would expose whatever
    /// colour the transparent pixels happen to store: emoji keep their edge colours there).
    pub fn load(&self, item: &ImageItem) -> Result<RgbImage> {
        let path = self.path(item);
        let image = image::open(&path)
            .map_err(|e| LoadError::file(&path, format!("cannot decode image: {e}")))?;
        if !image.color().has_alpha() {
            return Ok(image.to_rgb8());
        }
        let rgba = image.to_rgba8();
        Ok(RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            let [r, g, b, a] = rgba.get_pixel(x, y).0;
            let over_white = |c: u8| {
                let a = u32::from(a);
                ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8
            };
            image::Rgb([over_white(r), over_white(g), over_white(b)])
        }))
    }
}

/// Resize, centre-crop and normalisation a model expects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preprocess {
    /// The shorter side is resized to this many pixels (aspect ratio kept)...
    pub resize: u32,
    /// ...then the centre `crop x crop` square is taken.
    pub crop: u32,
    /// Per-channel mean (RGB) subtracted from values in [0, 1].
    pub mean: [f32; 3],
    /// Per-channel standard deviation the result is divided by.
    pub std: [f32; 3],
}

/// ImageNet channel means (RGB, values in [0, 1]).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Preprocess {
    /// torchvision's evaluation transform: resize to `crop * 256 / 224`, centre crop, ImageNet
    /// mean and std.
    pub fn imagenet(crop: u32) -> Self {
        Preprocess {
            resize: (crop as f32 * 256.0 / 224.0).round() as u32,
            crop,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        }
    }

    /// Resized and cropped image (before normalisation). Works on any 8-bit image, so masks
    /// go through exactly the geometry their images do.
    pub fn apply<P>(&self, image: &ImageBuffer<P, Vec<u8>>) -> ImageBuffer<P, Vec<u8>>
    where
        P: Pixel<Subpixel = u8> + 'static,
    {
        let (w, h) = image.dimensions();
        let scale = self.resize as f64 / w.min(h) as f64;
        let (nw, nh) = (
            ((w as f64 * scale).round() as u32).max(self.crop),
            ((h as f64 * scale).round() as u32).max(self.crop),
        );
        let resized = image::imageops::resize(image, nw, nh, FilterType::Triangle);
        let (x, y) = ((nw - self.crop) / 2, (nh - self.crop) / 2);
        image::imageops::crop_imm(&resized, x, y, self.crop, self.crop).to_image()
    }

    /// Channel-first normalised values (3 x crop x crop) of an already cropped image.
    pub fn normalise(&self, cropped: &RgbImage) -> Vec<f32> {
        let (w, h) = cropped.dimensions();
        let plane = (w * h) as usize;
        let mut out = vec![0f32; 3 * plane];
        for (i, pixel) in cropped.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = (pixel[c] as f32 / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparent_pixels_are_shown_on_white_not_by_their_stored_colour() {
        let dir = tempfile::tempdir().unwrap();
        let mut rgba = image::RgbaImage::new(3, 1);
        rgba.put_pixel(0, 0, image::Rgba([255, 0, 0, 0])); // invisible red
        rgba.put_pixel(1, 0, image::Rgba([0, 0, 255, 255])); // opaque blue
        rgba.put_pixel(2, 0, image::Rgba([0, 0, 0, 128])); // half-transparent black
        rgba.save(dir.path().join("a.png")).unwrap();
        let collection = ImageCollection::from_folder(dir.path()).unwrap();
        let rgb = collection.load(&collection.items[0]).unwrap();
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [0, 0, 255]);
        assert_eq!(rgb.get_pixel(2, 0).0, [127, 127, 127]);
    }
}
