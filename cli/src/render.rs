//! `demud render`: draw every selection of a discovery run with a trained decoder.
//!
//! Per selection (`NNNN` its rank): `NNNN-original.png` (the image, cropped as the encoder saw
//! it), `NNNN-features.png` (dec(x)), `NNNN-expected.png` (dec(x̂), the paper's "expected
//! content"), `NNNN-novel.png` (dec(e), the paper's "novel content") and
//! `NNNN-difference.png` (|dec(x) - dec(x̂)| as a heat map, scaled to its maximum). Also
//! `contact_sheet.png` (one row per selection, the five views left to right), `renders.csv`
//! and the decoded images as arrays (`decoded_{features,expected,novel}.npy`, n x 3 x s x s)
//! for `localise`, and `render.json` (the run, the decoder and its training record).

use crate::output::{write_csv, write_json, write_npy, write_png};
use anyhow::{bail, Context, Result};
use clap::Args;
use demud_datasets::images::{ImageCollection, ImageItem, Preprocess};
use demud_datasets::localisation::difference_map;
use demud_neural::upconv::{to_rgb_image, UpConvDecoder};
use image::{imageops, Rgb, RgbImage};
use ndarray::{Array, Array2, Array4, ArrayView2, Axis};
use ndarray_npy::ReadNpyExt;
use std::path::{Path, PathBuf};

/// Options of `demud render`.
#[derive(Args, Debug, Clone)]
pub struct RenderArgs {
    /// The discovery run's folder (selections.csv, expected.npy, residual.npy).
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// The decoder checkpoint folder (from `train-decoder`).
    #[arg(long, value_name = "DIR")]
    pub decoder: PathBuf,
    /// The image folder the run's item ids are paths in.
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// Output folder (default: <run>/render).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Render only the first N selections.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Side of the saved original images.
    #[arg(long, default_value_t = 128)]
    pub original_size: u32,
    /// Threads libtorch may use (default: its own choice, the number of cores).
    #[arg(long)]
    pub threads: Option<i32>,
}

/// One selection as `selections.csv` lists it.
#[derive(Clone, Debug)]
pub struct SelectionRow {
    /// 1-based rank.
    pub rank: usize,
    /// Row of the item in the features.
    pub index: usize,
    /// Item id.
    pub id: String,
    /// Label, empty when unknown.
    pub label: String,
    /// DEMUD score.
    pub score: f64,
}

/// Reads a `selections.csv` (or a `renders.csv`, which starts with the same columns).
pub fn read_selections_file(path: &Path) -> Result<Vec<SelectionRow>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {}", path.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or_default();
        let bad = |what: &str| format!("{}, line {line}: bad {what}", path.display());
        rows.push(SelectionRow {
            rank: field(0).parse().with_context(|| bad("rank"))?,
            index: field(1).parse().with_context(|| bad("index"))?,
            id: field(2).to_string(),
            label: field(3).to_string(),
            score: field(4).parse().with_context(|| bad("score"))?,
        });
    }
    Ok(rows)
}

/// Reads an `.npy` array of any element type and number of axes; `hint` says where such a
/// file comes from.
pub fn read_array<A, D>(path: &Path, hint: &str) -> Result<Array<A, D>>
where
    A: ndarray_npy::ReadableElement,
    D: ndarray::Dimension,
{
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open {} ({hint})", path.display()))?;
    Array::<A, D>::read_npy(file).with_context(|| format!("reading {}", path.display()))
}

/// The file names of selection `rank`'s five views.
pub fn view_files(rank: usize) -> [String; 5] {
    ["original", "features", "expected", "novel", "difference"]
        .map(|view| format!("{rank:04}-{view}.png"))
}

/// A map scaled to its maximum, drawn black → red → yellow → white.
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

/// `demud render`.
pub fn run(args: &RenderArgs) -> Result<()> {
    if let Some(t) = args.threads {
        tch::set_num_threads(t);
    }
    let out = args.out.clone().unwrap_or_else(|| args.run.join("render"));
    let mut selections = read_selections_file(&args.run.join("selections.csv"))?;
    let hint = "written by `discover` without --no-explanations";
    let expected: Array2<f64> = read_array(&args.run.join("expected.npy"), hint)?;
    let residual: Array2<f64> = read_array(&args.run.join("residual.npy"), hint)?;
    if expected.nrows() != selections.len() || residual.dim() != expected.dim() {
        bail!(
            "{}: selections.csv has {} rows, expected.npy {:?}, residual.npy {:?}",
            args.run.display(),
            selections.len(),
            expected.dim(),
            residual.dim()
        );
    }
    let n = args.limit.unwrap_or(selections.len()).min(selections.len());
    selections.truncate(n);
    let (decoder, record) = UpConvDecoder::load(&args.decoder)?;
    let arch = decoder.arch().clone();
    // Unobserved features have a NaN residual: their novel content is taken as none.
    let residual = residual
        .slice(ndarray::s![..n, ..])
        .mapv(|v| if v.is_nan() { 0.0 } else { v });
    let expected = expected.slice(ndarray::s![..n, ..]).to_owned();
    let item = (&expected + &residual).mapv(|v| v as f32);
    let decode = |m: Array2<f32>| decoder.decode(m.view(), 32);
    let decoded_features = decode(item)?;
    let decoded_expected = decode(expected.mapv(|v| v as f32))?;
    let decoded_novel = decode(residual.mapv(|v| v as f32))?;

    let collection = ImageCollection {
        root: args.images.clone(),
        items: Vec::new(),
    };
    let geometry = Preprocess::imagenet(args.original_size);
    let s = arch.image_size as u32;
    let gap = 2;
    let mut sheet = RgbImage::from_pixel(
        5 * (s + gap) + gap,
        n as u32 * (s + gap) + gap,
        Rgb([255; 3]),
    );
    let mut rows = vec![[
        "rank",
        "index",
        "id",
        "label",
        "score",
        "original",
        "features",
        "expected",
        "novel",
        "difference",
    ]
    .map(String::from)
    .to_vec()];
    for (i, selection) in selections.iter().enumerate() {
        let image = collection
            .load(&ImageItem {
                id: selection.id.clone(),
                label: None,
            })
            .with_context(|| format!("selection {} ({})", selection.rank, selection.id))?;
        let views = [
            geometry.apply(&image),
            to_rgb_image(decoded_features.index_axis(Axis(0), i)),
            to_rgb_image(decoded_expected.index_axis(Axis(0), i)),
            to_rgb_image(decoded_novel.index_axis(Axis(0), i)),
            heat_map(
                difference_map(
                    decoded_features.index_axis(Axis(0), i),
                    decoded_expected.index_axis(Axis(0), i),
                )
                .view(),
            ),
        ];
        let files = view_files(selection.rank);
        for (column, (view, file)) in views.iter().zip(&files).enumerate() {
            write_png(&out.join(file), view)?;
            let tile = imageops::resize(view, s, s, imageops::FilterType::Triangle);
            imageops::replace(
                &mut sheet,
                &tile,
                i64::from(gap + column as u32 * (s + gap)),
                i64::from(gap + i as u32 * (s + gap)),
            );
        }
        rows.push(
            [
                selection.rank.to_string(),
                selection.index.to_string(),
                selection.id.clone(),
                selection.label.clone(),
                selection.score.to_string(),
            ]
            .into_iter()
            .chain(files)
            .collect(),
        );
    }
    write_png(&out.join("contact_sheet.png"), &sheet)?;
    write_csv(&out.join("renders.csv"), rows)?;
    let save = |name: &str, a: &Array4<f32>| write_npy(&out.join(name), a);
    save("decoded_features.npy", &decoded_features)?;
    save("decoded_expected.npy", &decoded_expected)?;
    save("decoded_novel.npy", &decoded_novel)?;
    write_json(
        &out.join("render.json"),
        &serde_json::json!({
            "run": args.run,
            "decoder": args.decoder,
            "images": args.images,
            "selections": n,
            "decoder_record": record,
        }),
    )?;
    eprintln!(
        "rendered {n} selections at {s} px -> {} (contact_sheet.png, renders.csv)",
        out.display()
    );
    Ok(())
}
