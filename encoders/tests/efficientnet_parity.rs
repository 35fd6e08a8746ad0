//! EfficientNet-Lite0 in tch against an independent implementation: PyPI's
//! efficientnet-lite-pytorch with the original weights file, run by the project venv's Python
//! on the same normalised inputs (`reference_efficientnet_lite0.py`). The logits must agree
//! within 1e-4 and give the same top-1 class. Inputs: generated images, plus the Mars sun
//! images of ../shared when present.

use demud_datasets::images::Preprocess;
use demud_encoders::efficientnet::EfficientNetLite0;
use demud_encoders::Encoder;
use ndarray::{Array2, Array4};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Seeded test images: gradients, rings, stripes, blocks and noise at several sizes.
fn generated_images() -> Vec<image::RgbImage> {
    let mut state = 12345u64;
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 56) as u8
    };
    let mut images = Vec::new();
    for (w, h, kind) in [
        (224, 224, 0),
        (300, 200, 1),
        (256, 256, 2),
        (180, 320, 3),
        (240, 240, 4),
    ] {
        images.push(image::RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            match kind {
                0 => image::Rgb([(255.0 * fx) as u8, (255.0 * fy) as u8, 128]),
                1 => {
                    let r = ((fx - 0.5).powi(2) + (fy - 0.5).powi(2)).sqrt();
                    let v = if (r * 20.0) as i32 % 2 == 0 { 230 } else { 20 };
                    image::Rgb([v, v / 2, 255 - v])
                }
                2 => image::Rgb([
                    if (x / 16) % 2 == 0 { 250 } else { 10 },
                    120,
                    if (y / 32) % 2 == 0 { 200 } else { 40 },
                ]),
                3 => image::Rgb([((x / 40 + y / 40) % 3 * 100) as u8, 60, 200]),
                _ => image::Rgb([noise(), noise(), noise()]),
            }
        }));
    }
    images
}

fn shared_mars_images() -> Vec<image::RgbImage> {
    let dir = workspace().join("../shared/data/mars-sun");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("../shared/data/mars-sun not found: parity on generated images only");
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
        .iter()
        .take(4)
        .map(|p| image::open(p).unwrap().to_rgb8())
        .collect()
}

fn input_batch(images: &[image::RgbImage], pre: &Preprocess) -> Array4<f32> {
    let side = pre.side as usize;
    let mut values = Vec::new();
    for image in images {
        values.extend(pre.normalise(&pre.apply(image)));
    }
    Array4::from_shape_vec((images.len(), 3, side, side), values).unwrap()
}

fn reference_logits(input: &Array4<f32>, dir: &Path) -> Array2<f32> {
    let input_path = dir.join("input.npy");
    let output_path = dir.join("logits.npy");
    input
        .write_npy(std::fs::File::create(&input_path).unwrap())
        .unwrap();
    let python = workspace().join(".venv/bin/python");
    let status = std::process::Command::new(&python)
        .arg(workspace().join("encoders/tests/reference_efficientnet_lite0.py"))
        .arg(&input_path)
        .arg(&output_path)
        .status()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", python.display()));
    assert!(status.success(), "the Python reference failed");
    Array2::<f32>::read_npy(std::fs::File::open(&output_path).unwrap()).unwrap()
}

#[test]
fn logits_match_the_independent_python_implementation() {
    let weights = workspace().join("models/efficientnet-lite0.safetensors");
    let model = EfficientNetLite0::load(&weights).expect("weights installed by scripts/setup");
    let mut images = generated_images();
    images.extend(shared_mars_images());
    let input = input_batch(&images, &model.preprocess());
    let tensor =
        tch::Tensor::from_slice(input.as_slice().unwrap()).view([images.len() as i64, 3, 224, 224]);
    let outputs =
        tch::no_grad(|| model.forward(&tensor, &["logits".to_string(), "pool".to_string()]))
            .unwrap();
    let ours = Vec::<f32>::try_from(outputs[0].flatten(0, -1)).unwrap();
    let ours = Array2::from_shape_vec((images.len(), 1000), ours).unwrap();
    assert_eq!(outputs[1].size(), [images.len() as i64, 1280]);

    let dir = tempfile::tempdir().unwrap();
    let theirs = reference_logits(&input, dir.path());
    let max_diff = (&ours - &theirs).iter().fold(0f32, |m, v| m.max(v.abs()));
    eprintln!(
        "max |logit difference| over {} images: {max_diff:e}",
        images.len()
    );
    assert!(max_diff <= 1e-4, "max abs logit difference {max_diff:e}");
    let argmax = |row: ndarray::ArrayView1<f32>| {
        row.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0
    };
    for (a, b) in ours.rows().into_iter().zip(theirs.rows()) {
        assert_eq!(argmax(a), argmax(b));
    }
}
