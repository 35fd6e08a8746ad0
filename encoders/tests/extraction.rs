//! The extraction loop with the user's preprocessing: several layers from one forward pass
//! equal the single-layer passes exactly, every crop mode and background reaches the network,
//! and the records say what was chosen.

use demud_datasets::images::{Colour, CropMode, ImageCollection, ImageItem, ImageLimits};
use demud_encoders::kinds::{ExtractorSpec, Model, Preprocessing};
use demud_encoders::{extract, ExtractOptions, OnUnreadable};

/// Stop at an unreadable image, decode on two threads.
const FAIL: ExtractOptions = ExtractOptions {
    on_unreadable: OnUnreadable::Fail,
    decode_workers: 2,
    image_limits: ImageLimits::DEFAULT,
};
use image::{Rgba, RgbaImage};
use ndarray::Array2;
use std::path::Path;

/// Images of several sizes and aspect ratios; the last two have transparent backgrounds.
fn collection(dir: &Path) -> ImageCollection {
    let mut items = Vec::new();
    for (i, (w, h)) in [(300, 199), (64, 64), (90, 150), (72, 72), (120, 80)]
        .into_iter()
        .enumerate()
    {
        let transparent = i >= 3;
        let image = RgbaImage::from_fn(w, h, |x, y| {
            let inside = (x as i64 - w as i64 / 2).pow(2) + (y as i64 - h as i64 / 2).pow(2)
                < (w.min(h) as i64 / 3).pow(2);
            if transparent && !inside {
                Rgba([0, 0, 0, 0])
            } else {
                Rgba([(x * 5 + i as u32 * 40) as u8, (y * 3) as u8, 200, 255])
            }
        });
        let id = format!("{i}.png");
        image.save(dir.join(&id)).unwrap();
        items.push(ImageItem { id, label: None });
    }
    ImageCollection {
        root: dir.to_path_buf(),
        items,
    }
}

fn features(spec: &ExtractorSpec, images: &ImageCollection) -> Vec<Array2<f32>> {
    let mut extractor = spec.build().unwrap();
    extract(extractor.as_mut(), images, FAIL, |_| {})
        .unwrap()
        .features
}

fn effnet(layers: &[&str], preprocessing: Preprocessing) -> ExtractorSpec {
    ExtractorSpec {
        layers: layers.iter().map(|l| l.to_string()).collect(),
        batch: 2,
        preprocessing,
        ..ExtractorSpec::new(Model::EfficientNetLite0)
    }
}

#[test]
fn several_layers_in_one_pass_equal_the_single_layer_passes_exactly() {
    tch::set_num_threads(2);
    let dir = tempfile::tempdir().unwrap();
    let images = collection(dir.path());
    let choice = Preprocessing {
        crop: Some(CropMode::Pad),
        ..Preprocessing::default()
    };
    let together = features(&effnet(&["logits", "block", "pool"], choice), &images);
    assert_eq!(together.len(), 3);
    for (layer, joint) in ["logits", "block", "pool"].iter().zip(&together) {
        let alone = features(&effnet(&[layer], choice), &images).remove(0);
        assert_eq!(joint.dim(), alone.dim(), "{layer}");
        assert!(
            joint == alone,
            "{layer}: one pass differs from its own pass"
        );
    }
    let mut twice = effnet(&["pool", "pool"], choice);
    twice.batch = 1;
    let err = twice.build().err().unwrap().to_string();
    assert!(err.contains("pool is asked for twice"), "{err}");
}

#[test]
fn each_crop_mode_and_background_reaches_the_network_and_is_recorded() {
    tch::set_num_threads(2);
    let dir = tempfile::tempdir().unwrap();
    let images = collection(dir.path());
    let with = |crop: Option<CropMode>, background: Option<Colour>| {
        let spec = effnet(
            &["pool"],
            Preprocessing {
                crop,
                background,
                ..Preprocessing::default()
            },
        );
        let mut extractor = spec.build().unwrap();
        let record = spec.records(extractor.as_ref()).unwrap().remove(0);
        let rows = extract(extractor.as_mut(), &images, FAIL, |_| {})
            .unwrap()
            .features
            .remove(0);
        (rows, record)
    };
    let (centre, centre_record) = with(None, None);
    assert_eq!(centre_record.kind, "efficientnet-lite0:pool");
    assert_eq!(
        serde_json::to_value(centre_record.preprocess).unwrap()["crop"],
        "center"
    );
    let (stretched, record) = with(Some(CropMode::None), None);
    assert_eq!(
        serde_json::to_value(record.preprocess).unwrap()["crop"],
        "none"
    );
    let (padded, _) = with(Some(CropMode::Pad), None);
    let (on_black, black_record) = with(None, Some(Colour::BLACK));
    assert_eq!(black_record.preprocess.background, Colour::BLACK);
    let differs = |a: &Array2<f32>, b: &Array2<f32>, i: usize| {
        a.row(i)
            .iter()
            .zip(b.row(i))
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
            > 1e-3
    };
    // The 300 x 199 image loses its sides to the centre crop and not otherwise.
    assert!(differs(&centre, &stretched, 0) && differs(&centre, &padded, 0));
    assert!(differs(&stretched, &padded, 0));
    // A square image is resized alike by `none` and `pad` (no bands), not by the crop.
    assert!(!differs(&stretched, &padded, 1));
    assert!(differs(&centre, &stretched, 1));
    // The background shows only behind transparent pixels.
    assert!(!differs(&centre, &on_black, 0));
    assert!(differs(&centre, &on_black, 3) && differs(&centre, &on_black, 4));
}

#[test]
fn decoding_on_worker_threads_changes_nothing_but_the_speed() {
    tch::set_num_threads(2);
    let dir = tempfile::tempdir().unwrap();
    let mut images = collection(dir.path());
    std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
    images.items.insert(
        2,
        ImageItem {
            id: "broken.png".into(),
            label: None,
        },
    );
    let spec = effnet(&["pool"], Preprocessing::default());
    let run = |on_unreadable, decode_workers| {
        let mut extractor = spec.build().unwrap();
        let options = ExtractOptions {
            on_unreadable,
            decode_workers,
            ..ExtractOptions::default()
        };
        let mut seen = Vec::new();
        extract(extractor.as_mut(), &images, options, |done| seen.push(done))
            .map(|result| (result, seen))
    };
    let (sequential, progress) = run(OnUnreadable::Skip, 0).unwrap();
    assert_eq!(progress, vec![2, 4, 6]);
    for workers in [1, 3] {
        let (parallel, progress) = run(OnUnreadable::Skip, workers).unwrap();
        assert_eq!(progress, vec![2, 4, 6], "{workers} workers");
        assert_eq!(parallel.kept, sequential.kept);
        assert_eq!(parallel.features, sequential.features, "{workers} workers");
        assert_eq!(parallel.skipped.len(), 1);
        assert_eq!(parallel.skipped[0].0.id, "broken.png");
        let err = run(OnUnreadable::Fail, workers).err().unwrap().to_string();
        assert!(err.contains("broken.png"), "{err}");
    }
    assert_eq!(sequential.kept.len(), 5);
}
