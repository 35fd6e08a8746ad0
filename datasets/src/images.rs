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

use crate::error::{DataError, Result};
use crate::features::{read_items, ItemRow};
use image::{imageops::FilterType, GrayImage, ImageBuffer, Pixel, RgbImage};
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
    let read = std::fs::read_dir(dir).map_err(|source| DataError::Io {
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
            return Err(DataError::file(
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
        Self::from_rows(root, &rows[skip..], manifest)
    }

    /// Images listed as the MSL surface data set lists them (Lu et al. 2018): one
    /// `path label` line per image, separated by white space (its `train-set-v2.1.txt`,
    /// `val-set-v2.1.txt`, `test-set-v2.1.txt`), paths relative to `root` (its `images/`).
    /// Labels are class numbers; with `class_map` (its `class_map.csv`: `number,name` lines)
    /// they become the class names. Blank lines are skipped; anything else that is not two
    /// fields, a class number missing from the map, a missing file or a path listed twice is
    /// an error naming its line.
    pub fn from_list(root: &Path, list: &Path, class_map: Option<&Path>) -> Result<Self> {
        let names = class_map.map(read_class_map).transpose()?;
        let text = std::fs::read_to_string(list).map_err(|source| DataError::Io {
            path: list.to_path_buf(),
            source,
        })?;
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i as u64 + 1;
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [] => continue,
                [path, label] => {
                    let label = match &names {
                        Some(names) => names.get(*label).cloned().ok_or_else(|| {
                            DataError::line(
                                list,
                                line_no,
                                format!(
                                    "class {label:?} is not in the class map {}",
                                    class_map.expect("a map").display()
                                ),
                            )
                        })?,
                        None => label.to_string(),
                    };
                    rows.push(ItemRow {
                        line: line_no,
                        id: path.to_string(),
                        label: Some(label),
                    });
                }
                _ => {
                    return Err(DataError::line(
                        list,
                        line_no,
                        format!(
                            "{} fields; a list line is `path label` (a path with spaces cannot be listed)",
                            fields.len()
                        ),
                    ))
                }
            }
        }
        Self::from_rows(root, &rows, list)
    }

    /// The collection of listed rows (id = path relative to `root`), each checked: inside the
    /// folder, listed once, an existing file. `source` names the list in errors.
    fn from_rows(root: &Path, rows: &[ItemRow], source: &Path) -> Result<Self> {
        let mut items = Vec::with_capacity(rows.len());
        let mut seen = std::collections::HashMap::new();
        for row in rows {
            // Paths stay inside the image folder: relative, without `..`.
            let inside = Path::new(&row.id).components().all(|c| {
                matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            });
            if !inside {
                return Err(DataError::line(
                    source,
                    row.line,
                    format!(
                        "{:?} is not a path inside the image folder {} (absolute paths and .. are refused)",
                        row.id,
                        root.display()
                    ),
                ));
            }
            if let Some(first) = seen.insert(row.id.clone(), row.line) {
                return Err(DataError::line(
                    source,
                    row.line,
                    format!("{:?} is listed twice (first on line {first})", row.id),
                ));
            }
            if !root.join(&row.id).is_file() {
                return Err(DataError::line(
                    source,
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
            return Err(DataError::file(source, "the list names no images"));
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

    /// Decodes an item as RGB, transparent pixels on white ([`ImageCollection::load_over`]).
    pub fn load(&self, item: &ImageItem) -> Result<RgbImage> {
        self.load_over(item, Colour::WHITE)
    }

    /// Decodes an item as RGB within the default [`ImageLimits`]
    /// ([`ImageCollection::load_within`]).
    pub fn load_over(&self, item: &ImageItem, background: Colour) -> Result<RgbImage> {
        self.load_within(item, background, ImageLimits::default())
    }

    /// Decodes an item as RGB. Grey images are converted; images with transparency are
    /// composited onto `background` ([`Preprocess::background`]; white by default, as a page
    /// shows them). Dropping alpha would expose whatever colour the transparent pixels happen
    /// to store: emoji keep their edge colours there.
    ///
    /// Hostile or odd files are refused before they can exhaust memory: the size is read from
    /// the file's header first, and an image over `limits` (a side, the memory its decoding
    /// takes, or a long side more than `max_aspect` times the short one: resizing its short
    /// side to a model's input would make the long one enormous) is refused without decoding
    /// its pixels. Extraction skips such an image with a warning, as it skips any unreadable
    /// one.
    pub fn load_within(
        &self,
        item: &ImageItem,
        background: Colour,
        limits: ImageLimits,
    ) -> Result<RgbImage> {
        let path = self.path(item);
        let decode_error = |e| DataError::parse(&path, None, "cannot decode image", e);
        let open = || {
            image::io::Reader::open(&path)
                .and_then(|r| r.with_guessed_format())
                .map_err(|source| DataError::Io {
                    path: path.clone(),
                    source,
                })
        };
        let (w, h) = open()?.into_dimensions().map_err(decode_error)?;
        limits
            .check(w, h)
            .map_err(|message| DataError::file(&path, message))?;
        let mut reader = open()?;
        let mut decoding = image::io::Limits::default();
        decoding.max_image_width = Some(limits.max_side);
        decoding.max_image_height = Some(limits.max_side);
        decoding.max_alloc = Some(limits.max_bytes);
        reader.limits(decoding);
        let image = reader.decode().map_err(decode_error)?;
        if !image.color().has_alpha() {
            return Ok(image.to_rgb8());
        }
        let rgba = image.to_rgba8();
        Ok(RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            let [r, g, b, a] = rgba.get_pixel(x, y).0;
            let over = |c: u8, behind: u8| {
                let a = u32::from(a);
                ((u32::from(c) * a + u32::from(behind) * (255 - a) + 127) / 255) as u8
            };
            let [br, bg, bb] = background.0;
            image::Rgb([over(r, br), over(g, bg), over(b, bb)])
        }))
    }
}

/// How large an image may be decoded. The defaults fit a 24 GB machine decoding on a few
/// threads; raise them (`extract --max-image-side`, `--max-image-mb`) for collections of
/// larger frames, or lower them to bound the memory of many decoding threads.
///
/// ```
/// use demud_datasets::images::ImageLimits;
/// let limits = ImageLimits::default();
/// assert!(limits.check(4000, 3000).is_ok());
/// assert!(limits.check(300_000, 1).unwrap_err().contains("too elongated"));
/// assert!(limits.check(20_000, 20_000).unwrap_err().contains("16384 px a side"));
/// let small = ImageLimits { max_bytes: 100 << 20, ..limits };
/// assert!(small.check(8000, 6000).unwrap_err().contains("183.1 MiB to decode"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLimits {
    /// The largest width or height decoded (pixels).
    pub max_side: u32,
    /// The most memory one image's decoding may take (bytes).
    pub max_bytes: u64,
    /// The most elongated image accepted (long side / short side).
    pub max_aspect: u32,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl ImageLimits {
    /// [`MAX_IMAGE_SIDE`], [`MAX_IMAGE_ALLOC`] and [`MAX_ASPECT`].
    pub const DEFAULT: ImageLimits = ImageLimits {
        max_side: MAX_IMAGE_SIDE,
        max_bytes: MAX_IMAGE_ALLOC,
        max_aspect: MAX_ASPECT,
    };

    /// Why a `width x height` image is refused, if it is: checked from the header, before
    /// any pixel is decoded. The memory bound counts 4 bytes a pixel (RGBA, the widest
    /// 8-bit layout decoded); the decoder enforces its own exact count as well.
    pub fn check(&self, width: u32, height: u32) -> std::result::Result<(), String> {
        let (w, h) = (width.max(1), height.max(1));
        if u64::from(w.max(h)) > u64::from(self.max_aspect) * u64::from(w.min(h)) {
            return Err(format!(
                "a {width} x {height} image is too elongated (more than {}:1) to resize to a model's input",
                self.max_aspect
            ));
        }
        if w.max(h) > self.max_side {
            return Err(format!(
                "a {width} x {height} image exceeds the limit of {} px a side",
                self.max_side
            ));
        }
        let bytes = u64::from(w) * u64::from(h) * 4;
        if bytes > self.max_bytes {
            let mib = |b: u64| b as f64 / f64::from(1 << 20);
            return Err(format!(
                "a {width} x {height} image needs {:.1} MiB to decode, over the limit of {:.1} MiB",
                mib(bytes),
                mib(self.max_bytes)
            ));
        }
        Ok(())
    }
}

/// The default largest width or height decoded (pixels).
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// The default most memory one image's decoding may take (bytes).
pub const MAX_IMAGE_ALLOC: u64 = 1 << 30;
/// The default most elongated image accepted (long side / short side).
pub const MAX_ASPECT: u32 = 64;

/// A colour, written `#rrggbb`, `r,g,b` or a name (`white`, `black`, `grey`/`gray`: 128).
///
/// ```
/// use demud_datasets::images::Colour;
/// let c: Colour = "#ff8000".parse().unwrap();
/// assert_eq!(c, Colour([255, 128, 0]));
/// assert_eq!("255,128,0".parse::<Colour>().unwrap(), c);
/// assert_eq!(c.to_string(), "#ff8000");
/// assert!("orange-ish".parse::<Colour>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Colour(pub [u8; 3]);

impl Colour {
    /// White, behind transparent pixels as a page shows them.
    pub const WHITE: Colour = Colour([255, 255, 255]);
    /// Black, torchvision's padding.
    pub const BLACK: Colour = Colour([0, 0, 0]);
}

impl std::fmt::Display for Colour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

impl std::str::FromStr for Colour {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not a colour: give #rrggbb, r,g,b (0-255 each) or white, black, grey"
            )
        };
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "white" => return Ok(Colour::WHITE),
            "black" => return Ok(Colour::BLACK),
            "grey" | "gray" => return Ok(Colour([128; 3])),
            _ => {}
        }
        if let Some(hex) = t.strip_prefix('#') {
            if hex.len() != 6 || !hex.is_ascii() {
                return Err(bad());
            }
            let mut rgb = [0u8; 3];
            for (c, v) in rgb.iter_mut().enumerate() {
                *v = u8::from_str_radix(&hex[2 * c..2 * c + 2], 16).map_err(|_| bad())?;
            }
            return Ok(Colour(rgb));
        }
        let parts: Vec<&str> = t.split(',').map(str::trim).collect();
        if parts.len() != 3 {
            return Err(bad());
        }
        let mut rgb = [0u8; 3];
        for (v, part) in rgb.iter_mut().zip(parts) {
            *v = part.parse().map_err(|_| bad())?;
        }
        Ok(Colour(rgb))
    }
}

impl From<Colour> for String {
    fn from(c: Colour) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for Colour {
    type Error = String;
    fn try_from(text: String) -> std::result::Result<Self, String> {
        text.parse()
    }
}

/// How an image is brought to a network's square input (`--crop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "crop", rename_all = "kebab-case")]
pub enum Crop {
    /// torchvision's `Resize(resize)` then `CenterCrop(side)`: the shorter side to `resize`,
    /// the centre square kept (ImageNet's evaluation transform; `resize` 256 for 224 inputs
    /// cuts 1/16 off each edge).
    Center {
        /// The shorter side after resizing.
        resize: u32,
    },
    /// torchvision's `Resize((side, side))`: the whole image squeezed to the square, nothing
    /// cut, the aspect ratio not kept (`--crop none`; icons, tiles, scans and rover frames
    /// whose content fills the canvas).
    #[serde(rename = "none")]
    Stretch,
    /// Letterbox: torchvision's `transforms.v2.Resize(None, max_size=side)` (the longer side to `side`, the
    /// shorter to `int(side * short / long)`), then `Pad` to the square with `fill`, split as
    /// `CenterCrop` splits its padding (`(side - w) // 2` before, the rest after).
    Pad {
        /// The colour of the bands.
        fill: Colour,
    },
}

impl Crop {
    /// The mode's name on the command line: `center`, `none` or `pad`.
    pub fn name(&self) -> &'static str {
        match self {
            Crop::Center { .. } => "center",
            Crop::Stretch => "none",
            Crop::Pad { .. } => "pad",
        }
    }
}

/// A crop mode as `--crop` names it, before its sizes and colours are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CropMode {
    /// `center`: [`Crop::Center`].
    Center,
    /// `none`: [`Crop::Stretch`].
    None,
    /// `pad`: [`Crop::Pad`].
    Pad,
}

impl std::str::FromStr for CropMode {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim() {
            "center" | "centre" => Ok(CropMode::Center),
            "none" => Ok(CropMode::None),
            "pad" => Ok(CropMode::Pad),
            other => Err(format!(
                "{other:?} is not a crop mode: center (resize the shorter side, keep the centre), none (resize the whole image to the input), pad (letterbox)"
            )),
        }
    }
}

/// How a model sees an image: the colour behind transparent pixels, the resize and crop to its
/// square input, and the normalisation. Recorded with every extraction so that a later batch,
/// the explanation maps and the decoder see images the same way.
///
/// The geometry ([`Preprocess::geometry`]: the resized size and where the input window sits)
/// is torchvision's to the pixel, checked against torchvision 0.28 by
/// `tests/preprocess_torchvision.rs`:
///
/// - `Resize(resize)` sets the shorter side to `resize` and the longer one to
///   `int(resize * long / short)`: truncated, not rounded (a 300 x 199 image becomes
///   385 x 256, not 386 x 256). An image already at that size is not resampled.
/// - `CenterCrop(crop)` puts the window at `int(round((side - crop) / 2.0))` along each side:
///   Python rounds halves to even, so a margin of 35 gives 18 (17.5 up) while 33 gives 16
///   (16.5 down); flooring would be one pixel off whenever the margin is 3 mod 4.
/// - A resized side shorter than `crop` (only when `resize < crop`) is padded with zeros,
///   `(crop - side) / 2` (floored) before it and the rest after, as torchvision's
///   `center_crop` does: black in an image, "off" in a mask.
/// - [`Crop::Stretch`] and [`Crop::Pad`] are described there.
///
/// The pixel values are close to PIL's, not identical: the resize is `image`'s triangle
/// (bilinear) filter, which like PIL's bilinear widens with the scale when shrinking
/// (antialiasing), but computes in `f32` where PIL rounds each pass to 8 bits in fixed point.
/// On uniform noise and on a drawing with hard edges, shrunk and enlarged, no value was more
/// than one level from torchvision's (mean 0.2 levels at most).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Preprocess {
    /// The side of the square input.
    pub side: u32,
    /// How the image is brought to `side x side`.
    #[serde(flatten)]
    pub crop: Crop,
    /// The colour transparent pixels are shown on when decoding
    /// ([`ImageCollection::load_over`]).
    pub background: Colour,
    /// Per-channel mean (RGB) subtracted from values in [0, 1].
    pub mean: [f32; 3],
    /// Per-channel standard deviation the result is divided by.
    pub std: [f32; 3],
}

/// Where [`Preprocess`] takes its input window from an image of a given size: pixel `(x, y)`
/// of the `side x side` output is pixel `(x + offset.0, y + offset.1)` of the image resized
/// to `resized`, or padding where that falls outside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Width and height after resizing.
    pub resized: (u32, u32),
    /// Left and top of the window in the resized image; negative along a side shorter than
    /// the input (the padding before it).
    pub offset: (i64, i64),
}

impl Geometry {
    /// The pixel of the resized image that lands on output pixel `(x, y)`, if any (none in
    /// the padding).
    pub fn source(&self, x: u32, y: u32) -> Option<(u32, u32)> {
        let sx = i64::from(x) + self.offset.0;
        let sy = i64::from(y) + self.offset.1;
        let inside = |s: i64, side: u32| (0..i64::from(side)).contains(&s);
        (inside(sx, self.resized.0) && inside(sy, self.resized.1)).then_some((sx as u32, sy as u32))
    }
}

/// ImageNet channel means (RGB, values in [0, 1]).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// torchvision's `CenterCrop` offset along one side of `side` pixels, padding included:
/// `int(round((side - crop) / 2.0))` with Python's halves-to-even, or minus the padding
/// `(crop - side) // 2` placed before a side shorter than the crop.
fn centre_offset(side: u32, crop: u32) -> i64 {
    if side < crop {
        return -i64::from((crop - side) / 2);
    }
    let margin = side - crop;
    let half = margin / 2;
    // An odd margin is half way between `half` and `half + 1`: take the even one.
    i64::from(if margin % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    })
}

/// Python's `int(size * a / b)` for sizes: an exact product, a correctly rounded division,
/// truncation; f64 does the same (products below 2^53).
fn scaled_side(size: u32, a: u32, b: u32) -> u32 {
    (f64::from(size) * f64::from(a) / f64::from(b)) as u32
}

impl Preprocess {
    /// The usual ImageNet evaluation transform at input size `side`: shorter side to
    /// `round(side * 256 / 224)`, centre crop, ImageNet mean and std, transparent pixels on
    /// white.
    ///
    /// The 256/224 ratio (crop fraction 0.875) is torchvision's default (`resize_size=256`
    /// for 224 inputs); at 224 every rule gives 256, so EfficientNet-Lite0 and the other
    /// 224 models are unaffected by what follows. At other sizes conventions differ by one
    /// pixel where `side % 7` is 4, 5 or 6: torchvision's own Inception v3 preset rounds
    /// (299 -> 342), while timm (`math.floor(299 / 0.875)`) and the common
    /// `Resize(int(crop / 0.875))` floor (341). This rounds, as torchvision's presets do, and
    /// so keeps the sizes it has always produced (decoder targets included); set the resize
    /// with [`Preprocess::with_crop`] to follow another recipe.
    pub fn imagenet(side: u32) -> Self {
        Preprocess {
            side,
            crop: Crop::Center {
                resize: Self::imagenet_resize(side),
            },
            background: Colour::WHITE,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        }
    }

    /// `round(side * 8 / 7)`, the ImageNet resize for a `side` input (the remainder is never
    /// exactly half).
    pub fn imagenet_resize(side: u32) -> u32 {
        ((u64::from(side) * 8 + 3) / 7) as u32
    }

    /// The same with another crop mode.
    pub fn with_crop(self, crop: Crop) -> Self {
        Preprocess { crop, ..self }
    }

    /// Values in [0, 1], not normalised (pixel baselines and decoder targets).
    pub fn unnormalised(self) -> Self {
        Preprocess {
            mean: [0.0; 3],
            std: [1.0; 3],
            ..self
        }
    }

    /// The same window of the image at `scale` times the input side (finer pixels): sides
    /// and the centre crop's resize scaled.
    pub fn scaled(self, scale: u32) -> Self {
        let crop = match self.crop {
            Crop::Center { resize } => Crop::Center {
                resize: resize * scale,
            },
            other => other,
        };
        Preprocess {
            side: self.side * scale,
            crop,
            ..self
        }
    }

    /// The same view of the image at another input side (a render's or a map's grid): a
    /// centre crop's resize scaled in proportion and rounded, as [`Preprocess::imagenet`]
    /// rounds (`imagenet(224).at_side(64) == imagenet(64)`).
    pub fn at_side(self, side: u32) -> Self {
        let crop = match self.crop {
            Crop::Center { resize } => Crop::Center {
                resize: ((u64::from(resize) * u64::from(side) * 2 + u64::from(self.side))
                    / (2 * u64::from(self.side).max(1))) as u32,
            },
            other => other,
        };
        Preprocess { side, crop, ..self }
    }

    /// torchvision's geometry for a `width x height` image: the resized size
    /// (`_compute_resized_output_size`) and the window's offset (`center_crop`'s, which is
    /// also where [`Crop::Pad`] puts the image). Pure arithmetic, for anything that must follow
    /// images through [`Preprocess::apply`] without resampling them (pixel baselines, masks,
    /// boxes).
    ///
    /// ```
    /// use demud_datasets::images::{Crop, Colour, Geometry, Preprocess};
    /// let pre = Preprocess::imagenet(224);
    /// // 256 * 300 / 199 = 385.9 is truncated; the 161-pixel margin leaves 80.5: even 80.
    /// assert_eq!(pre.geometry(300, 199), Geometry { resized: (385, 256), offset: (80, 16) });
    /// // A 35-pixel margin: 17.5 rounds to 18.
    /// assert_eq!(pre.geometry(259, 256).offset, (18, 16));
    /// // Nothing cut: squeezed, or letterboxed (224 * 199 / 300 = 148.6 -> 148; 76 / 2 = 38).
    /// assert_eq!(pre.with_crop(Crop::Stretch).geometry(300, 199).resized, (224, 224));
    /// let pad = pre.with_crop(Crop::Pad { fill: Colour::BLACK }).geometry(300, 199);
    /// assert_eq!(pad, Geometry { resized: (224, 148), offset: (0, -38) });
    /// ```
    pub fn geometry(&self, width: u32, height: u32) -> Geometry {
        let (short, long) = (width.min(height), width.max(height));
        // An empty image has nothing to resize.
        let resized = if short == 0 {
            (0, 0)
        } else {
            match self.crop {
                Crop::Center { resize } => {
                    let new_long = scaled_side(resize, long, short);
                    if width <= height {
                        (resize, new_long)
                    } else {
                        (new_long, resize)
                    }
                }
                Crop::Stretch => (self.side, self.side),
                Crop::Pad { .. } => {
                    // `size=None, max_size=side`: the longer side (the height on a tie) to
                    // `side`, the shorter truncated.
                    let new_short = scaled_side(self.side, short, long);
                    if width < height {
                        (new_short, self.side)
                    } else {
                        (self.side, new_short)
                    }
                }
            }
        };
        Geometry {
            resized,
            offset: (
                centre_offset(resized.0, self.side),
                centre_offset(resized.1, self.side),
            ),
        }
    }

    /// The image resized and cropped or padded to `side x side` (before normalisation), with
    /// [`Preprocess::geometry`]. Padding is black in [`Crop::Center`] (torchvision's) and the
    /// fill colour in [`Crop::Pad`].
    pub fn apply(&self, image: &RgbImage) -> RgbImage {
        let fill = match self.crop {
            Crop::Pad { fill } => fill.0,
            _ => [0; 3],
        };
        self.fit(image, image::Rgb(fill))
    }

    /// A mask through the same geometry as its image, the padding "off" (zero).
    pub fn apply_mask(&self, mask: &GrayImage) -> GrayImage {
        self.fit(mask, image::Luma([0]))
    }

    fn fit<P>(&self, image: &ImageBuffer<P, Vec<u8>>, padding: P) -> ImageBuffer<P, Vec<u8>>
    where
        P: Pixel<Subpixel = u8> + 'static,
    {
        let (w, h) = image.dimensions();
        let geometry = self.geometry(w, h);
        let (nw, nh) = geometry.resized;
        let mut out = ImageBuffer::from_pixel(self.side, self.side, padding);
        if nw == 0 || nh == 0 {
            return out;
        }
        let resized;
        let source = if (nw, nh) == (w, h) {
            image // torchvision returns the image untouched; so does `resize`, at more cost
        } else {
            resized = image::imageops::resize(image, nw, nh, FilterType::Triangle);
            &resized
        };
        let (x, y) = geometry.offset;
        image::imageops::replace(&mut out, source, -x, -y);
        out
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

/// Reads a class map, `number,name` per line (the MSL data set's `class_map.csv`; a header
/// line whose first field is not a number is skipped), each number once.
fn read_class_map(path: &Path) -> Result<std::collections::HashMap<String, String>> {
    let rows = read_items(path)?;
    let mut names = std::collections::HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let number = row.id.trim();
        if i == 0 && number.parse::<u64>().is_err() {
            continue;
        }
        let name = row
            .label
            .clone()
            .ok_or_else(|| DataError::line(path, row.line, "a class map line is `number,name`"))?;
        if number.parse::<u64>().is_err() {
            return Err(DataError::line(
                path,
                row.line,
                format!("{number:?} is not a class number"),
            ));
        }
        if names.insert(number.to_string(), name).is_some() {
            return Err(DataError::line(
                path,
                row.line,
                format!("class {number} is named twice"),
            ));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_may_not_leave_the_image_folder_or_list_an_image_twice() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        std::fs::create_dir_all(images.join("sub")).unwrap();
        RgbImage::new(2, 2).save(images.join("sub/a.png")).unwrap();
        RgbImage::new(2, 2)
            .save(dir.path().join("outside.png"))
            .unwrap();
        let manifest = dir.path().join("manifest.csv");
        let outside = dir.path().join("outside.png");
        for (text, expected) in [
            ("path,label\n../outside.png,x\n".to_string(), "line 2"),
            (format!("path,label\n{},x\n", outside.display()), "absolute"),
            (
                "path,label\nsub/a.png,x\n./sub/a.png,y\nsub/a.png,z\n".to_string(),
                "line 4",
            ),
        ] {
            std::fs::write(&manifest, &text).unwrap();
            let err = ImageCollection::from_manifest(&images, &manifest)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        std::fs::write(&manifest, "path,label\nsub/a.png,x\n").unwrap();
        let collection = ImageCollection::from_manifest(&images, &manifest).unwrap();
        assert_eq!(collection.items.len(), 1);
    }

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
