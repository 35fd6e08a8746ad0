//! A run's explanations drawn: from a run folder and a decoder checkpoint to the contents of
//! a render folder (`demud_datasets::run::NewRender`), for `demud render` and the main job.

use crate::error::{DecoderError, Result};
use crate::network::UpConvDecoder;
use crate::render::{contact_sheet, decode_explanations, view_file, views, View};
use demud_datasets::extraction::describe_geometry;
use demud_datasets::images::{ImageCollection, ImageItem};
use demud_datasets::run::{
    overlay_file, DecodedViews, DecoderSummary, MapsFolder, NewRender, RenderRecord, RenderRow,
    RunFolder, RENDER_FORMAT, RENDER_VERSION,
};
use ndarray::s;
use std::path::Path;

/// What to draw.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions<'a> {
    /// Draw only the first this many selections (all when `None`).
    pub limit: Option<usize>,
    /// Side of the saved original images.
    pub original_size: u32,
    /// The run's explanation maps: the contact sheet gets a sixth column, each selection's
    /// overlay of the default map (blank for selections without one).
    pub maps: Option<&'a MapsFolder>,
}

/// Draws the first selections of `run` with the decoder checkpointed in `decoder_dir`: each
/// selection's image (from `images`, resized and cropped as the encoder saw it), dec(x),
/// dec(x̂), dec(e) and the difference heat map, and the contact sheet.
pub fn render_run(
    run: &RunFolder,
    decoder_dir: &Path,
    images: &Path,
    options: RenderOptions,
) -> Result<NewRender> {
    let explanations = run.explanations()?;
    let n = options
        .limit
        .unwrap_or(run.selections().len())
        .min(run.selections().len());
    let (decoder, checkpoint) = UpConvDecoder::load(decoder_dir)?;
    let decoded = decode_explanations(
        &decoder,
        explanations.expected.slice(s![..n, ..]),
        explanations.residual.slice(s![..n, ..]),
    )?;
    let collection = ImageCollection {
        root: images.to_path_buf(),
        items: Vec::new(),
    };
    // The originals as the features saw them: the decoder's record of its features' view,
    // which must be the run's.
    let arch = decoder.arch().clone();
    if let (Some(view), Some(made)) = (arch.view, run.record().extraction.as_ref()) {
        let run_view = made.preprocess;
        if view.crop != run_view.at_side(view.side).crop || view.background != run_view.background {
            return Err(DecoderError::View {
                reason: format!(
                    "the decoder was trained on images prepared with {} and --background {}, the run's features with {} and --background {}",
                    describe_geometry(&view),
                    view.background,
                    describe_geometry(&run_view),
                    run_view.background
                ),
            });
        }
    }
    let geometry = arch.view_at(options.original_size);
    let mut files_and_images = Vec::new();
    let mut sheet_rows = Vec::new();
    let mut rows = Vec::new();
    for (i, selection) in run.selections()[..n].iter().enumerate() {
        let image = collection.load_over(
            &ImageItem {
                id: selection.id.clone(),
                label: None,
            },
            geometry.background,
        )?;
        let drawn = views(&geometry.apply(&image), &decoded, i);
        let mut sheet_row = drawn.to_vec();
        if let Some(maps) = options.maps {
            let side = options.original_size;
            sheet_row.push(if i < maps.record().selections {
                let overlays = ImageCollection {
                    root: maps.dir().to_path_buf(),
                    items: Vec::new(),
                };
                overlays.load(&ImageItem {
                    id: overlay_file(selection.rank, maps.record().default_map),
                    label: None,
                })?
            } else {
                image::RgbImage::from_pixel(side, side, image::Rgb([255; 3]))
            });
        }
        let files = View::ALL.map(|view| view_file(selection.rank, view));
        files_and_images.extend(files.iter().cloned().zip(drawn.iter().cloned()));
        sheet_rows.push(sheet_row);
        let [original, features, expected, novel, difference] = files;
        rows.push(RenderRow {
            rank: selection.rank,
            index: selection.index,
            id: selection.id.clone(),
            label: selection.label.clone(),
            score: selection.score,
            original,
            features,
            expected,
            novel,
            difference,
        });
    }
    let arch = decoder.arch();
    let training = &checkpoint.training;
    Ok(NewRender {
        record: RenderRecord {
            format: RENDER_FORMAT.into(),
            version: RENDER_VERSION,
            run: run.dir().to_path_buf(),
            decoder: decoder_dir.to_path_buf(),
            images: images.to_path_buf(),
            selections: n,
            decoder_summary: DecoderSummary {
                image_size: arch.image_size,
                hidden: arch.hidden.clone(),
                pairs: training.items,
                epochs: training.epochs_done,
                final_loss: training.losses.last().copied(),
            },
        },
        rows,
        images: files_and_images,
        contact_sheet: contact_sheet(&sheet_rows, arch.image_size as u32),
        decoded: DecodedViews {
            features: decoded.features,
            expected: decoded.expected,
            novel: decoded.novel,
        },
    })
}
