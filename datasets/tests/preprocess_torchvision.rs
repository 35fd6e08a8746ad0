//! `Preprocess` against real torchvision: `fixtures/preprocess_golden.json` holds what
//! torchvision 0.28 (`Resize(resize)` then `CenterCrop(crop)` on a PIL image) made of
//! gradient images, written once by `fixtures/make_preprocess_golden.py`; nothing here needs
//! Python.
//!
//! Each input is a triangle wave of x in red, of y in green and of x a quarter period later in
//! blue, about 32 output pixels a period (fewer in the tiny upscaled images), so a crop one
//! pixel off changes most values by 5 to 16 levels. Both bilinear filters reproduce such
//! piecewise-linear waves to within a level, so the geometry must match exactly, and the
//! crop's middle row and column and its channel means within tolerances well under what one
//! pixel of shift costs: with the old arithmetic (rounded long side, floored offsets) the
//! worst case here is still off by 1.6 levels on average along a line.
//!
//! The cases (width x height, resize, crop):
//! - 7 x 5 and 8 x 5 at 256/224: far smaller than the crop; 8 x 5 truncates (409.6 -> 409)
//!   and its 185-px margin rounds 92.5 to even 92;
//! - 300 x 199 and 223 x 500 at 256/224: the long side truncates (385.9 -> 385,
//!   573.99 -> 573) where rounding would move the crop by a pixel;
//! - 255 x 257, 225 x 225 and 100 x 1000 at 256/224: near-square, square and tall;
//! - 259 x 256 at 256/224: not resampled at all; the 35-px margin rounds 17.5 up to 18;
//! - 300 x 199 at 71/64: shrinking, and the short side's 7-px margin rounds 3.5 up to 4;
//! - 1000 x 700 at 73/64 (`Preprocess::imagenet(64)`): shrinking ten times (antialiasing);
//! - 300 x 199 at 61/64, 100 x 1000 at 20/64, 225 x 225 at 51/64: resized smaller than the
//!   crop along one side, the other, both: zero padding, odd amounts included.

use demud_datasets::images::{Geometry, Preprocess};
use image::{GrayImage, RgbImage};
use std::collections::BTreeMap;

/// Largest |ours - torchvision| allowed on the middle row and column, in levels (measured: 1).
const MAX_LEVELS: f64 = 2.0;
/// Largest mean |ours - torchvision| over the middle row or column (measured: 0.006; one
/// pixel off: 1.6 or more).
const MEAN_LEVELS: f64 = 0.25;
/// Largest difference of a channel mean over the whole crop (measured: 0.006).
const CHANNEL_MEAN_LEVELS: f64 = 0.05;

/// Just enough JSON for the fixture: objects, arrays, numbers, strings without escapes.
#[derive(Debug)]
enum Json {
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn parse(text: &str) -> Json {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = parser.value();
        parser.space();
        assert_eq!(parser.at, text.len(), "trailing text in the fixture");
        value
    }
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(map) => map.get(key).unwrap_or_else(|| panic!("no {key:?}")),
            other => panic!("{other:?} is not an object"),
        }
    }
    fn num(&self) -> f64 {
        match self {
            Json::Num(v) => *v,
            other => panic!("{other:?} is not a number"),
        }
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            other => panic!("{other:?} is not an array"),
        }
    }
    fn nums(&self) -> Vec<f64> {
        self.arr().iter().map(Json::num).collect()
    }
    fn int(&self) -> i64 {
        let v = self.num();
        assert_eq!(v.fract(), 0.0, "{v} is not an integer");
        v as i64
    }
    fn pair(&self) -> (i64, i64) {
        let v = self.arr();
        assert_eq!(v.len(), 2);
        (v[0].int(), v[1].int())
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }
    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        let hit = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(hit);
        hit
    }
    fn expect(&mut self, byte: u8) {
        assert!(self.eat(byte), "expected {:?} at {}", byte as char, self.at);
    }
    fn string(&mut self) -> String {
        self.expect(b'"');
        let start = self.at;
        while self.bytes[self.at] != b'"' {
            assert_ne!(self.bytes[self.at], b'\\', "escapes are not supported");
            self.at += 1;
        }
        self.at += 1;
        String::from_utf8(self.bytes[start..self.at - 1].to_vec()).unwrap()
    }
    fn value(&mut self) -> Json {
        self.space();
        match self.bytes[self.at] {
            b'{' => {
                self.at += 1;
                let mut map = BTreeMap::new();
                if !self.eat(b'}') {
                    loop {
                        self.space();
                        let key = self.string();
                        self.expect(b':');
                        map.insert(key, self.value());
                        if !self.eat(b',') {
                            break;
                        }
                    }
                    self.expect(b'}');
                }
                Json::Obj(map)
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value());
                        if !self.eat(b',') {
                            break;
                        }
                    }
                    self.expect(b']');
                }
                Json::Arr(items)
            }
            b'"' => Json::Str(self.string()),
            _ => {
                let start = self.at;
                while self.at < self.bytes.len()
                    && matches!(
                        self.bytes[self.at],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap();
                Json::Num(
                    text.parse()
                        .unwrap_or_else(|_| panic!("bad number {text:?}")),
                )
            }
        }
    }
}

/// The generator's `triangle`: 0 at multiples of `period`, 255 half way, integers only.
fn triangle(t: u32, period: u32) -> u8 {
    let f = t % period;
    let v = if 2 * f <= period {
        510 * f / period
    } else {
        510 * (period - f) / period
    };
    v as u8
}

fn make_image(width: u32, height: u32, (px, py): (u32, u32)) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([triangle(x, px), triangle(y, py), triangle(x + px / 4, px)])
    })
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

struct Case {
    name: String,
    width: u32,
    height: u32,
    preprocess: Preprocess,
    period: (u32, u32),
    input_fnv1a: u32,
    geometry: Geometry,
    mean: Vec<f64>,
    row: Vec<f64>,
    column: Vec<f64>,
}

fn golden() -> Vec<Case> {
    let text = include_str!("fixtures/preprocess_golden.json");
    let json = Json::parse(text);
    if let Json::Obj(versions) = json.get("versions") {
        assert!(
            matches!(versions.get("torchvision"), Some(Json::Str(v)) if !v.is_empty()),
            "the fixture names its torchvision"
        );
    }
    json.get("cases")
        .arr()
        .iter()
        .map(|c| {
            let (width, height) = (c.get("width").int() as u32, c.get("height").int() as u32);
            let (resize, crop) = (c.get("resize").int() as u32, c.get("crop").int() as u32);
            let (px, py) = c.get("period").pair();
            let (rw, rh) = c.get("resized").pair();
            Case {
                name: format!("{width} x {height} at Resize({resize}), CenterCrop({crop})"),
                width,
                height,
                preprocess: Preprocess {
                    resize,
                    crop,
                    mean: [0.0; 3],
                    std: [1.0; 3],
                },
                period: (px as u32, py as u32),
                input_fnv1a: c.get("input_fnv1a").int() as u32,
                geometry: Geometry {
                    resized: (rw as u32, rh as u32),
                    offset: c.get("offset").pair(),
                },
                mean: c.get("mean").nums(),
                row: c.get("row").nums(),
                column: c.get("column").nums(),
            }
        })
        .collect()
}

/// (max, mean) |a - b|.
fn differences(ours: &[f64], theirs: &[f64]) -> (f64, f64) {
    assert_eq!(ours.len(), theirs.len());
    let diffs: Vec<f64> = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let max = diffs.iter().cloned().fold(0.0, f64::max);
    (max, diffs.iter().sum::<f64>() / diffs.len() as f64)
}

#[test]
fn the_fixture_covers_what_it_claims() {
    let cases = golden();
    assert_eq!(cases.len(), 13);
    let flooring_differs = cases.iter().any(|c| {
        let (w, h) = c.geometry.resized;
        let crop = c.preprocess.crop;
        [w, h].iter().any(|&s| s >= crop && (s - crop) % 4 == 3)
    });
    assert!(
        flooring_differs,
        "a margin where halves-to-even is not floor"
    );
    assert!(cases
        .iter()
        .any(|c| c.geometry.offset.0 < 0 && c.geometry.offset.1 < 0));
    assert!(cases
        .iter()
        .any(|c| c.geometry.offset.0 < 0 && c.geometry.offset.1 >= 0));
    assert!(cases
        .iter()
        .any(|c| c.geometry.offset.0 >= 0 && c.geometry.offset.1 < 0));
    assert!(cases
        .iter()
        .any(|c| c.width.max(c.height) < c.preprocess.crop));
}

#[test]
fn geometry_is_torchvisions() {
    for case in golden() {
        assert_eq!(
            case.preprocess.geometry(case.width, case.height),
            case.geometry,
            "{}",
            case.name
        );
    }
}

#[test]
fn pixels_match_torchvision_within_resampling_differences() {
    for case in golden() {
        let image = make_image(case.width, case.height, case.period);
        assert_eq!(
            fnv1a(image.as_raw()),
            case.input_fnv1a,
            "{}: not the generator's image",
            case.name
        );
        let out = case.preprocess.apply(&image);
        let crop = case.preprocess.crop;
        assert_eq!(out.dimensions(), (crop, crop));
        let mid = crop / 2;
        let values = |pixels: Vec<&image::Rgb<u8>>| -> Vec<f64> {
            pixels
                .into_iter()
                .flat_map(|p| p.0.map(f64::from))
                .collect()
        };
        let row = values((0..crop).map(|x| out.get_pixel(x, mid)).collect());
        let column = values((0..crop).map(|y| out.get_pixel(mid, y)).collect());
        let (row_max, row_mean) = differences(&row, &case.row);
        let (column_max, column_mean) = differences(&column, &case.column);
        let plane = f64::from(crop * crop);
        let means: Vec<f64> = (0..3)
            .map(|c| out.pixels().map(|p| f64::from(p[c])).sum::<f64>() / plane)
            .collect();
        let (channel_max, _) = differences(&means, &case.mean);
        eprintln!(
            "{}: row max {row_max} mean {row_mean:.3}, column max {column_max} mean \
             {column_mean:.3}, channel means {channel_max:.3}",
            case.name
        );
        assert!(
            row_max <= MAX_LEVELS && row_mean <= MEAN_LEVELS,
            "{}: middle row differs by up to {row_max} (mean {row_mean:.3})",
            case.name
        );
        assert!(
            column_max <= MAX_LEVELS && column_mean <= MEAN_LEVELS,
            "{}: middle column differs by up to {column_max} (mean {column_mean:.3})",
            case.name
        );
        assert!(
            channel_max <= CHANNEL_MEAN_LEVELS,
            "{}: channel means {means:?}, torchvision's {:?}",
            case.name,
            case.mean
        );
    }
}

#[test]
fn masks_take_the_same_crop_as_their_images() {
    for case in golden() {
        let image = make_image(case.width, case.height, case.period);
        let red = GrayImage::from_fn(case.width, case.height, |x, y| {
            image::Luma([image.get_pixel(x, y)[0]])
        });
        let out = case.preprocess.apply(&image);
        let mask = case.preprocess.apply(&red);
        for (x, y, p) in mask.enumerate_pixels() {
            assert_eq!(p[0], out.get_pixel(x, y)[0], "{} at ({x}, {y})", case.name);
            if case.geometry.source(x, y).is_none() {
                assert_eq!(p[0], 0, "{}: padding at ({x}, {y})", case.name);
            }
        }
    }
}

#[test]
fn empty_images_crop_to_zeros() {
    let pre = Preprocess::imagenet(32);
    assert_eq!(pre.geometry(0, 10).resized, (0, 0));
    let out = pre.apply(&RgbImage::new(0, 10));
    assert_eq!(out.dimensions(), (32, 32));
    assert!(out.as_raw().iter().all(|&v| v == 0));
}
