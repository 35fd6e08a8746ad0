//! `Preprocess` against real torchvision: `fixtures/preprocess_golden.json` holds what
//! torchvision 0.28 made of gradient images on a PIL image, written once by
//! `fixtures/make_preprocess_golden.py`; nothing here needs Python. Each crop mode is
//! torchvision's own transforms:
//! - `center`: `Resize(resize)` then `CenterCrop(crop)`;
//! - `none` (stretch): `Resize((crop, crop))`;
//! - `pad` (letterbox): `v2.Resize(size=None, max_size=crop)` (the longer side to `crop`, the
//!   shorter `int(crop * short / long)`: truncated), then `Pad` with the fill colour, split as
//!   `CenterCrop(crop)` splits its padding (`(crop - w) // 2` before, the rest after).
//!
//! Each input is a triangle wave of x in red, of y in green and of x a quarter period later in
//! blue, about 32 output pixels a period (fewer in the tiny upscaled images), so a crop one
//! pixel off changes most values by 5 to 16 levels. Both bilinear filters reproduce such
//! piecewise-linear waves to within a level, so the geometry must match exactly, and the
//! output's middle row and column and its channel means within tolerances well under what one
//! pixel of shift costs: with the old arithmetic (rounded long side, floored offsets) the
//! worst case here is still off by 1.6 levels on average along a line. Padding must be the
//! fill exactly, and an image that is not resampled must come through exactly.
//!
//! The `center` cases (width x height, resize, crop):
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
//!
//! The `none` cases (width x height -> side): 300 x 199 -> 224 (both sides scaled, by
//! different factors); 7 x 5 -> 224 (upscaled 32 and 45 times); 224 x 224 -> 224 (not
//! resampled); 1000 x 700 -> 64 and 100 x 1000 -> 64 (antialiased shrinks, up to 15.6 times).
//!
//! The `pad` cases (width x height at side, fill):
//! - 300 x 199 at 224, black: 148.58 -> 148 (rounding would give 149), bands 38 and 38 above
//!   and below;
//! - 199 x 300 at 224, (12, 200, 77): the same turned, bands left and right in colour;
//! - 301 x 201 at 224, (12, 200, 77): 149.58 -> 149, an odd 75 px of padding: 37 above, 38
//!   below;
//! - 225 x 225 at 224, black: square, resized to the input, no padding at all;
//! - 100 x 1000 at 64, (12, 200, 77): a 6.4 -> 6 px wide strip, 29 px bands either side;
//! - 1000 x 999 at 224, black: near-square, 223.78 -> 223: no band above, one row below;
//! - 7 x 5 at 224, black: upscaled (exactly 160 high), bands 32 and 32.

use demud_datasets::images::{Colour, Crop, Geometry, Preprocess};
use image::{GrayImage, RgbImage};
use std::collections::BTreeMap;

/// Largest |ours - torchvision| allowed on the middle row and column, in levels (measured: 1).
const MAX_LEVELS: f64 = 2.0;
/// Largest mean |ours - torchvision| over the middle row or column (measured: 0.006; one
/// pixel off: 1.6 or more).
const MEAN_LEVELS: f64 = 0.25;
/// Largest difference of a channel mean over the whole output (measured: 0.006).
const CHANNEL_MEAN_LEVELS: f64 = 0.05;

/// The fixture as the generator writes it.
#[derive(serde::Deserialize)]
struct Fixture {
    versions: BTreeMap<String, String>,
    cases: Vec<Record>,
}

/// One case of the fixture.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    mode: String,
    width: u32,
    height: u32,
    crop: u32,
    /// `center` only.
    resize: Option<u32>,
    /// `pad` only.
    fill: Option<[u8; 3]>,
    period: (u32, u32),
    input_fnv1a: u32,
    resized: (u32, u32),
    offset: (i64, i64),
    mean: Vec<f64>,
    row: Vec<f64>,
    column: Vec<f64>,
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
    /// The colour of the padding in the image (black for `center`, none for `none`).
    padding: Option<Colour>,
    period: (u32, u32),
    input_fnv1a: u32,
    geometry: Geometry,
    mean: Vec<f64>,
    row: Vec<f64>,
    column: Vec<f64>,
}

fn golden() -> Vec<Case> {
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/preprocess_golden.json")).unwrap();
    assert!(
        fixture
            .versions
            .get("torchvision")
            .is_some_and(|v| v.starts_with("0.28")),
        "the fixture names its torchvision: {:?}",
        fixture.versions
    );
    fixture
        .cases
        .into_iter()
        .map(|c| {
            let (width, height, side) = (c.width, c.height, c.crop);
            let (crop, name, padding) = match (c.mode.as_str(), c.resize, c.fill) {
                ("center", Some(resize), None) => (
                    Crop::Center { resize },
                    format!("{width} x {height} at Resize({resize}), CenterCrop({side})"),
                    Some(Colour::BLACK),
                ),
                ("none", None, None) => (
                    Crop::Stretch,
                    format!("{width} x {height} at Resize(({side}, {side}))"),
                    None,
                ),
                ("pad", None, Some(fill)) => (
                    Crop::Pad { fill: Colour(fill) },
                    format!(
                        "{width} x {height} at v2.Resize(None, max_size={side}), \
                         Pad to {side} with {fill:?}"
                    ),
                    Some(Colour(fill)),
                ),
                (mode, resize, fill) => {
                    panic!("a {mode:?} case with resize {resize:?} and fill {fill:?}")
                }
            };
            Case {
                name,
                width,
                height,
                preprocess: Preprocess::imagenet(side).with_crop(crop).unnormalised(),
                padding,
                period: c.period,
                input_fnv1a: c.input_fnv1a,
                geometry: Geometry {
                    resized: c.resized,
                    offset: c.offset,
                },
                mean: c.mean,
                row: c.row,
                column: c.column,
            }
        })
        .collect()
}

fn mode(case: &Case) -> &'static str {
    case.preprocess.crop.name()
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

/// The output's middle row and column, RGB flattened, as the generator records them.
fn middle_lines(out: &RgbImage) -> (Vec<f64>, Vec<f64>) {
    let side = out.width();
    let mid = side / 2;
    let values = |pixels: Vec<&image::Rgb<u8>>| -> Vec<f64> {
        pixels
            .into_iter()
            .flat_map(|p| p.0.map(f64::from))
            .collect()
    };
    (
        values((0..side).map(|x| out.get_pixel(x, mid)).collect()),
        values((0..side).map(|y| out.get_pixel(mid, y)).collect()),
    )
}

#[test]
fn the_fixture_covers_what_it_claims() {
    let cases = golden();
    assert_eq!(cases.len(), 25);
    let of = |name: &str| -> Vec<&Case> { cases.iter().filter(|c| mode(c) == name).collect() };
    let (center, stretch, pad) = (of("center"), of("none"), of("pad"));
    assert_eq!((center.len(), stretch.len(), pad.len()), (13, 5, 7));

    let flooring_differs = center.iter().any(|c| {
        let (w, h) = c.geometry.resized;
        let crop = c.preprocess.side;
        [w, h].iter().any(|&s| s >= crop && (s - crop) % 4 == 3)
    });
    assert!(
        flooring_differs,
        "a margin where halves-to-even is not floor"
    );
    assert!(center
        .iter()
        .any(|c| c.geometry.offset.0 < 0 && c.geometry.offset.1 < 0));
    assert!(center
        .iter()
        .any(|c| c.geometry.offset.0 < 0 && c.geometry.offset.1 >= 0));
    assert!(center
        .iter()
        .any(|c| c.geometry.offset.0 >= 0 && c.geometry.offset.1 < 0));
    assert!(center
        .iter()
        .any(|c| c.width.max(c.height) < c.preprocess.side));

    // Stretch: enlarged, not resampled, shrunk ten times or more along both sides.
    for c in &stretch {
        let side = c.preprocess.side;
        assert_eq!(c.geometry.resized, (side, side), "{}", c.name);
        assert_eq!(c.geometry.offset, (0, 0), "{}", c.name);
    }
    assert!(stretch
        .iter()
        .any(|c| c.width.max(c.height) < c.preprocess.side));
    assert!(stretch
        .iter()
        .any(|c| (c.width, c.height) == c.geometry.resized));
    assert!(stretch
        .iter()
        .any(|c| c.width.min(c.height) >= 10 * c.preprocess.side));
    assert!(stretch.iter().any(|c| c.width != c.height
        && c.width.max(c.height) > c.preprocess.side
        && c.width.min(c.height) < c.preprocess.side));

    // Pad: the long side is the input's; bands both ways, odd and one pixel wide, none at all;
    // a short side where truncating is not rounding; colour bands either way.
    let bands = |c: &Case| {
        let side = c.preprocess.side;
        let (w, h) = c.geometry.resized;
        (side - w, side - h)
    };
    for c in &pad {
        let (w, h) = c.geometry.resized;
        assert_eq!(w.max(h), c.preprocess.side, "{}", c.name);
    }
    assert!(pad.iter().any(|c| bands(c).0 > 0 && bands(c).1 == 0));
    assert!(pad.iter().any(|c| bands(c).0 == 0 && bands(c).1 > 0));
    assert!(pad.iter().any(|c| bands(c) == (0, 0)));
    assert!(pad
        .iter()
        .any(|c| (bands(c).0 + bands(c).1) % 2 == 1 && bands(c).1 > 1));
    assert!(pad.iter().any(|c| bands(c) == (0, 1)));
    assert!(pad
        .iter()
        .any(|c| c.geometry.resized.0.min(c.geometry.resized.1) < 10));
    assert!(pad
        .iter()
        .any(|c| c.width.max(c.height) < c.preprocess.side));
    let truncated = pad.iter().any(|c| {
        let (short, long) = (c.width.min(c.height), c.width.max(c.height));
        let exact = f64::from(c.preprocess.side) * f64::from(short) / f64::from(long);
        exact.fract() >= 0.5
    });
    assert!(truncated, "a short side that rounding would make longer");
    let coloured: Vec<&Case> = pad
        .iter()
        .copied()
        .filter(|c| c.padding.is_some_and(|p| p != Colour::BLACK))
        .collect();
    assert!(coloured.iter().any(|c| bands(c).0 > 0));
    assert!(coloured.iter().any(|c| bands(c).1 > 0));
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
        let side = case.preprocess.side;
        assert_eq!(out.dimensions(), (side, side));
        let (row, column) = middle_lines(&out);
        let (row_max, row_mean) = differences(&row, &case.row);
        let (column_max, column_mean) = differences(&column, &case.column);
        let plane = f64::from(side * side);
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
fn images_already_at_the_resized_size_come_through_exactly() {
    let mut seen = 0;
    for case in golden() {
        if case.geometry.resized != (case.width, case.height) {
            continue;
        }
        seen += 1;
        let out = case
            .preprocess
            .apply(&make_image(case.width, case.height, case.period));
        let (row, column) = middle_lines(&out);
        assert_eq!(row, case.row, "{}: middle row", case.name);
        assert_eq!(column, case.column, "{}: middle column", case.name);
    }
    assert_eq!(seen, 2, "259 x 256 centre-cropped and 224 x 224 stretched");
}

#[test]
fn padding_is_the_fill_colour_here_and_in_torchvision() {
    for case in golden() {
        let out = case
            .preprocess
            .apply(&make_image(case.width, case.height, case.period));
        let side = case.preprocess.side;
        let mid = side / 2;
        let mut padded = 0;
        for (x, y, p) in out.enumerate_pixels() {
            if case.geometry.source(x, y).is_some() {
                continue;
            }
            padded += 1;
            let fill = case
                .padding
                .unwrap_or_else(|| panic!("{}: padding at ({x}, {y})", case.name));
            assert_eq!(p.0, fill.0, "{}: padding at ({x}, {y})", case.name);
            // The fixture's middle lines saw torchvision's padding there.
            let theirs = |line: &[f64], at: u32| -> [u8; 3] {
                let at = 3 * at as usize;
                [line[at] as u8, line[at + 1] as u8, line[at + 2] as u8]
            };
            if y == mid {
                assert_eq!(
                    theirs(&case.row, x),
                    fill.0,
                    "{}: torchvision's row",
                    case.name
                );
            }
            if x == mid {
                assert_eq!(
                    theirs(&case.column, y),
                    fill.0,
                    "{}: torchvision's column",
                    case.name
                );
            }
        }
        let (w, h) = case.geometry.resized;
        let inside = |side_len: u32, offset: i64| {
            let start = offset.max(0);
            let end = (offset + i64::from(side)).min(i64::from(side_len));
            (end - start).max(0) as u64
        };
        let expected = u64::from(side * side)
            - inside(w, case.geometry.offset.0) * inside(h, case.geometry.offset.1);
        assert_eq!(padded, expected, "{}: padded pixels", case.name);
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
        let mask = case.preprocess.apply_mask(&red);
        assert_eq!(mask.dimensions(), out.dimensions(), "{}", case.name);
        for (x, y, p) in mask.enumerate_pixels() {
            if case.geometry.source(x, y).is_none() {
                assert_eq!(p[0], 0, "{}: padding at ({x}, {y})", case.name);
            } else {
                assert_eq!(p[0], out.get_pixel(x, y)[0], "{} at ({x}, {y})", case.name);
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
