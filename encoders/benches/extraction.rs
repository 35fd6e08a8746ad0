//! Images per second of EfficientNet-Lite0 extraction: this crate (tch) against the same
//! model run by Python PyTorch in the project venv, on the same images, in the same run.
//!
//! `cargo bench -p demud-encoders --bench extraction` (after scripts/setup). Images: the Mars sun
//! images of ../shared when present (repeated to 64), generated 256 x 256 images otherwise.
//! Columns: the full pipeline (decode, resize, crop, normalise, forward), the forward pass
//! alone, Python's forward pass alone on the identical preprocessed tensors, and the ratios.

use demud_datasets::images::{ImageCollection, ImageItem, Preprocess};
use demud_encoders::efficientnet::EfficientNetLite0;
use demud_encoders::{extract, Encoder, LayerExtractor, OnUnreadable};
use ndarray::Array4;
use ndarray_npy::WriteNpyExt;
use std::path::PathBuf;
use std::time::Instant;

const IMAGES: usize = 64;
const BATCH: usize = 32;
const REPEATS: usize = 3;
const THREADS: i32 = 2;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn collection(dir: &std::path::Path) -> (ImageCollection, &'static str) {
    let mars = workspace().join("../shared/data/mars-sun");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&mars)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    sources.sort();
    let what = if sources.is_empty() {
        "generated 256 x 256 PNGs"
    } else {
        "Mars sun JPEGs (../shared)"
    };
    let mut items = Vec::new();
    for i in 0..IMAGES {
        let name = format!("{i:03}.png");
        let image = match sources.get(i % sources.len().max(1)) {
            Some(path) => image::open(path).unwrap().to_rgb8(),
            None => image::RgbImage::from_fn(256, 256, |x, y| {
                image::Rgb([(x ^ y) as u8, (x * 3) as u8, (y * 5 + i as u32) as u8])
            }),
        };
        image.save(dir.join(&name)).unwrap();
        items.push(ImageItem {
            id: name,
            label: None,
        });
    }
    (
        ImageCollection {
            root: dir.to_path_buf(),
            items,
        },
        what,
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches` builds it; only `cargo bench` measures.
    }
    tch::set_num_threads(THREADS);
    let model = EfficientNetLite0::load(&workspace().join("models/efficientnet-lite0.safetensors"))
        .expect("weights: run scripts/setup");
    let dir = tempfile::tempdir().unwrap();
    let (collection, what) = collection(dir.path());
    let layers = ["pool".to_string()];

    let best = |f: &mut dyn FnMut()| {
        (0..REPEATS)
            .map(|_| {
                let t = Instant::now();
                f();
                IMAGES as f64 / t.elapsed().as_secs_f64()
            })
            .fold(0.0, f64::max)
    };
    let weights = workspace().join("models/efficientnet-lite0.safetensors");
    let mut extractor = LayerExtractor::new(
        Box::new(EfficientNetLite0::load(&weights).unwrap()),
        "pool",
        BATCH,
    )
    .unwrap();
    let full = best(&mut || {
        extract(&mut extractor, &collection, OnUnreadable::Fail, |_| {}).unwrap();
    });

    let pre: Preprocess = model.preprocess();
    let mut values = Vec::new();
    for item in &collection.items {
        values.extend(pre.normalise(&pre.apply(&collection.load(item).unwrap())));
    }
    let input = Array4::from_shape_vec((IMAGES, 3, 224, 224), values).unwrap();
    let tensor =
        tch::Tensor::from_slice(input.as_slice().unwrap()).view([IMAGES as i64, 3, 224, 224]);
    tch::no_grad(|| {
        model
            .forward(&tensor.narrow(0, 0, BATCH as i64), &layers)
            .unwrap()
    });
    let forward = best(&mut || {
        tch::no_grad(|| {
            for start in (0..IMAGES).step_by(BATCH) {
                model
                    .forward(&tensor.narrow(0, start as i64, BATCH as i64), &layers)
                    .unwrap();
            }
        })
    });

    let input_path = dir.path().join("input.npy");
    input
        .write_npy(std::fs::File::create(&input_path).unwrap())
        .unwrap();
    let out = std::process::Command::new(workspace().join(".venv/bin/python"))
        .arg(workspace().join("encoders/benches/extraction_pytorch.py"))
        .arg(&input_path)
        .args([BATCH.to_string(), REPEATS.to_string(), THREADS.to_string()])
        .output()
        .expect("the venv's python (scripts/setup)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();

    println!("EfficientNet-Lite0 extraction, {IMAGES} {what}, batch {BATCH}, {THREADS} threads (images/s, best of {REPEATS})");
    println!(
        "{:>16} {:>14} {:>15} {:>15} {:>14}",
        "rust pipeline", "rust forward", "python forward", "forward ratio", "pipeline ratio"
    );
    println!(
        "{full:>16.1} {forward:>14.1} {python:>15.1} {:>15.2} {:>14.2}",
        forward / python,
        full / python
    );
}
