//! Drawing DEMUD's explanations of a selection with a trained decoder (WHI 2018): five views
//! per selected item x, whose DEMUD explanation is its reconstruction x̂ (what the model
//! expected) and residual e = x − x̂ (what is new).
//!
//! | [`View`] | file | image |
//! |---|---|---|
//! | `Original` | `NNNN-original.png` | the image as the encoder saw it |
//! | `Features` | `NNNN-features.png` | dec(x): how well the decoder draws the item at all |
//! | `Expected` | `NNNN-expected.png` | dec(x̂): the paper's "expected content" |
//! | `Novel` | `NNNN-novel.png` | dec(e): the paper's "novel content" |
//! | `Difference` | `NNNN-difference.png` | \|dec(x) − dec(x̂)\|² as a [`heat_map`] |
//!
//! The computation only: reading the run and writing the files is the caller's.

use crate::error::{DecoderError, Result};
use crate::network::UpConvDecoder;
use image::{imageops, Rgb, RgbImage};
use ndarray::{Array2, Array4, ArrayView2, ArrayView3, Axis, Zip};

/// Rows the decoder draws at a time.
const DECODE_BATCH: usize = 32;

/// One of the five views of a selection, in the order files, sheets and tables show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    /// The image as the encoder saw it (resized and centre-cropped).
    Original,
    /// dec(x), the decoder's drawing of the item's features.
    Features,
    /// dec(x̂), the expected content.
    Expected,
    /// dec(e), the novel content.
    Novel,
    /// |dec(x) − dec(x̂)|² as a heat map.
    Difference,
}

impl View {
    /// All five, in order.
    pub const ALL: [View; 5] = [
        View::Original,
        View::Features,
        View::Expected,
        View::Novel,
        View::Difference,
    ];

    /// The view's name in file names and table headers.
    pub fn name(self) -> &'static str {
        match self {
            View::Original => "original",
            View::Features => "features",
            View::Expected => "expected",
            View::Novel => "novel",
            View::Difference => "difference",
        }
    }
}

/// The file name of a selection's view: `NNNN-<name>.png`, `NNNN` its 1-based rank.
pub fn view_file(rank: usize, view: View) -> String {
    format!("{rank:04}-{}.png", view.name())
}

/// The decoder's drawings of selections (each n x 3 x s x s, values in [0, 1]).
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// dec(x), x = x̂ + e.
    pub features: Array4<f32>,
    /// dec(x̂).
    pub expected: Array4<f32>,
    /// dec(e).
    pub novel: Array4<f32>,
}

impl Decoded {
    /// Number of selections drawn.
    pub fn len(&self) -> usize {
        self.features.shape()[0]
    }

    /// Whether no selection was drawn.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Draws the explanations of n selections: `expected` holds x̂ and `residual` e (n x d each,
/// as a discovery run saves them); decodes x = x̂ + e, x̂ and e. A NaN residual (a feature
/// the item did not observe) counts as no novel content: 0 in e, and x takes x̂ there.
pub fn decode_explanations(
    decoder: &UpConvDecoder,
    expected: ArrayView2<f64>,
    residual: ArrayView2<f64>,
) -> Result<Decoded> {
    if expected.dim() != residual.dim() {
        return Err(DecoderError::ExplanationShape {
            expected: expected.dim(),
            residual: residual.dim(),
        });
    }
    let residual = residual.mapv(|v| if v.is_nan() { 0.0 } else { v });
    let item = (&expected + &residual).mapv(|v| v as f32);
    let decode = |rows: Array2<f32>| decoder.decode(rows.view(), DECODE_BATCH);
    Ok(Decoded {
        features: decode(item)?,
        expected: decode(expected.mapv(|v| v as f32))?,
        novel: decode(residual.mapv(|v| v as f32))?,
    })
}

/// Squared RGB distance of two renders (3 x h x w), pixel by pixel.
pub fn difference_map(a: ArrayView3<f32>, b: ArrayView3<f32>) -> Array2<f32> {
    assert_eq!(a.shape(), b.shape(), "renders of different sizes");
    let mut map = Array2::<f32>::zeros((a.shape()[1], a.shape()[2]));
    for (ca, cb) in a.outer_iter().zip(b.outer_iter()) {
        Zip::from(&mut map)
            .and(&ca)
            .and(&cb)
            .for_each(|out, &x, &y| *out += (x - y) * (x - y));
    }
    map
}

/// A map scaled to its maximum, drawn black → red → yellow → white (an all-zero map is
/// black).
pub fn heat_map(map: ArrayView2<f32>) -> RgbImage {
    let max = map.iter().copied().fold(0f32, f32::max);
    let (h, w) = map.dim();
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let t = if max > 0.0 {
            map[[y as usize, x as usize]] / max
        } else {
            0.0
        };
        let channel = |offset: f32| ((3.0 * t - offset).clamp(0.0, 1.0) * 255.0).round() as u8;
        Rgb([channel(0.0), channel(1.0), channel(2.0)])
    })
}

/// An image (3 x h x w, values in [0, 1], clamped) as 8-bit RGB.
pub fn to_rgb_image(render: ArrayView3<f32>) -> RgbImage {
    let (h, w) = (render.shape()[1], render.shape()[2]);
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        Rgb(std::array::from_fn(|c| {
            (render[[c, y as usize, x as usize]].clamp(0.0, 1.0) * 255.0).round() as u8
        }))
    })
}

/// The five views of selection `i` of `decoded`, in [`View::ALL`] order; `original` is the
/// selection's image already resized and cropped as the encoder saw it.
pub fn views(original: &RgbImage, decoded: &Decoded, i: usize) -> [RgbImage; 5] {
    let features = decoded.features.index_axis(Axis(0), i);
    let expected = decoded.expected.index_axis(Axis(0), i);
    let novel = decoded.novel.index_axis(Axis(0), i);
    [
        original.clone(),
        to_rgb_image(features),
        to_rgb_image(expected),
        to_rgb_image(novel),
        heat_map(difference_map(features, expected).view()),
    ]
}

/// Pixels between tiles and around the sheet.
const GAP: u32 = 2;

/// One row per selection, its five views left to right, each resized to `tile` x `tile`, on
/// white with [`GAP`] px between tiles and around the edge.
pub fn contact_sheet<R: AsRef<[RgbImage]>>(rows: &[R], tile: u32) -> RgbImage {
    let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0) as u32;
    let mut sheet = RgbImage::from_pixel(
        columns * (tile + GAP) + GAP,
        rows.len() as u32 * (tile + GAP) + GAP,
        Rgb([255; 3]),
    );
    for (i, row) in rows.iter().enumerate() {
        for (column, view) in row.as_ref().iter().enumerate() {
            let tile_image = imageops::resize(view, tile, tile, imageops::FilterType::Triangle);
            imageops::replace(
                &mut sheet,
                &tile_image,
                i64::from(GAP + column as u32 * (tile + GAP)),
                i64::from(GAP + i as u32 * (tile + GAP)),
            );
        }
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::DecoderArch;
    use ndarray::{s, Array2, Array3};

    fn small_decoder(input_dim: usize, seed: u64) -> UpConvDecoder {
        let arch = DecoderArch {
            hidden: vec![32],
            start_channels: 16,
            min_channels: 8,
            ..DecoderArch::new(input_dim, 16)
        };
        UpConvDecoder::new(arch, seed).unwrap()
    }

    fn decode_one(decoder: &UpConvDecoder, row: &[f64]) -> RgbImage {
        let row = Array2::from_shape_vec((1, row.len()), row.iter().map(|&v| v as f32).collect())
            .unwrap();
        to_rgb_image(
            decoder
                .decode(row.view(), 1)
                .unwrap()
                .index_axis(Axis(0), 0),
        )
    }

    #[test]
    fn each_view_draws_its_own_vector() {
        let decoder = small_decoder(6, 3);
        // Two selections; x̂ and e point different ways, so their drawings differ.
        let expected = ndarray::arr2(&[
            [2.0, -1.0, 0.5, 3.0, 0.0, -2.0],
            [0.0, 1.0, -3.0, 0.0, 2.5, 1.0],
        ]);
        let residual = ndarray::arr2(&[
            [-3.0, 2.0, 0.0, -1.0, 4.0, 1.0],
            [3.0, 0.0, 2.0, -2.0, 0.0, -1.5],
        ]);
        let decoded = decode_explanations(&decoder, expected.view(), residual.view()).unwrap();
        assert_eq!(decoded.len(), 2);
        let original = RgbImage::from_pixel(20, 20, Rgb([10, 200, 30]));
        for i in 0..2 {
            let x: Vec<f64> = (&expected.row(i) + &residual.row(i)).to_vec();
            let dec_x = decode_one(&decoder, &x);
            let dec_expected = decode_one(&decoder, &expected.row(i).to_vec());
            let dec_novel = decode_one(&decoder, &residual.row(i).to_vec());
            // The test can tell the three apart.
            assert!(
                dec_expected != dec_novel,
                "selection {i}: pick other vectors"
            );
            assert!(dec_x != dec_expected, "selection {i}: pick other vectors");
            assert!(dec_x != dec_novel, "selection {i}: pick other vectors");

            let views = views(&original, &decoded, i);
            assert!(views[0] == original, "original view is the image given");
            assert!(views[1] == dec_x, "features view is dec(x̂ + e)");
            assert!(views[2] == dec_expected, "expected view is dec(x̂)");
            assert!(views[3] == dec_novel, "novel view is dec(e)");
            let a = decoded.features.slice(s![i, .., .., ..]);
            let b = decoded.expected.slice(s![i, .., .., ..]);
            let c = decoded.novel.slice(s![i, .., .., ..]);
            let difference = heat_map(difference_map(a, b).view());
            assert!(
                views[4] == difference,
                "difference view is |dec(x) − dec(x̂)|²"
            );
            assert!(difference != heat_map(difference_map(a, c).view()));
            assert!(difference != heat_map(difference_map(b, c).view()));
        }
        assert_eq!(
            View::ALL.map(View::name),
            ["original", "features", "expected", "novel", "difference"]
        );
        assert_eq!(view_file(7, View::Novel), "0007-novel.png");
    }

    #[test]
    fn an_unobserved_feature_has_no_novel_content() {
        let decoder = small_decoder(3, 5);
        let expected = ndarray::arr2(&[[1.0, -2.0, 0.5]]);
        let residual = ndarray::arr2(&[[f64::NAN, 1.5, -1.0]]);
        let decoded = decode_explanations(&decoder, expected.view(), residual.view()).unwrap();
        assert!(decoded.features.iter().all(|v| v.is_finite()));
        assert!(decoded.novel.iter().all(|v| v.is_finite()));
        let views = views(&RgbImage::new(4, 4), &decoded, 0);
        assert!(
            views[3] == decode_one(&decoder, &[0.0, 1.5, -1.0]),
            "novel: e, 0 where NaN"
        );
        assert!(
            views[1] == decode_one(&decoder, &[1.0, -0.5, -0.5]),
            "features: x̂ where e is NaN"
        );
        assert!(
            views[2] == decode_one(&decoder, &[1.0, -2.0, 0.5]),
            "expected: x̂"
        );

        let err = decode_explanations(&decoder, expected.view(), Array2::zeros((2, 3)).view())
            .unwrap_err();
        assert!(
            err.to_string().contains("(1, 3)") && err.to_string().contains("(2, 3)"),
            "{err}"
        );
    }

    #[test]
    fn the_difference_map_and_heat_map_point_at_the_changed_pixel() {
        let expected = Array3::<f32>::zeros((3, 8, 8));
        let mut item = expected.clone();
        item[[0, 2, 3]] = 1.0;
        item[[1, 5, 5]] = 0.5;
        let map = difference_map(item.view(), expected.view());
        assert_eq!(map[[2, 3]], 1.0);
        assert_eq!(map[[5, 5]], 0.25);
        assert_eq!(map.sum(), 1.25);
        let heat = heat_map(map.view());
        assert_eq!(
            heat.get_pixel(3, 2),
            &Rgb([255, 255, 255]),
            "maximum: white"
        );
        assert_eq!(heat.get_pixel(0, 0), &Rgb([0, 0, 0]), "zero: black");
        assert_eq!(
            heat.get_pixel(5, 5),
            &Rgb([191, 0, 0]),
            "a quarter: dark red"
        );
        assert!(
            heat_map(Array2::zeros((2, 2)).view()) == RgbImage::new(2, 2),
            "an all-zero map is black"
        );
    }

    #[test]
    fn the_contact_sheet_lays_views_out_in_rows() {
        let colours =
            |r: u8| View::ALL.map(|v| RgbImage::from_pixel(6, 6, Rgb([r, v as u8 * 40, 0])));
        let sheet = contact_sheet(&[colours(0), colours(100)], 4);
        assert_eq!(sheet.dimensions(), (5 * 6 + 2, 2 * 6 + 2));
        assert_eq!(sheet.get_pixel(0, 0), &Rgb([255; 3]), "white border");
        assert_eq!(sheet.get_pixel(6, 3), &Rgb([255; 3]), "white gap");
        for (row, r) in [(0u32, 0u8), (1, 100)] {
            for column in 0..5u32 {
                let (x, y) = (2 + column * 6 + 1, 2 + row * 6 + 1);
                assert_eq!(sheet.get_pixel(x, y), &Rgb([r, column as u8 * 40, 0]));
            }
        }
    }
}
