//! A deletion curve that removes the truly novel pixels first beats random order; the
//! in-painted novelty takes away the score it caused. On a toy network (4 x 4 average pooling
//! of the image: linear, so what the score depends on is known) and a model of plain images.

use demud::model::{SubspaceModel, Truncation};
use demud::scoring::{ScoreMethod, Scoring};
use demud::Conditioner;
use demud_datasets::images::Preprocess;
use demud_datasets::run::Replay;
use demud_encoders::{Encoder, Result as EncoderResult};
use demud_maps::faithfulness::{
    deletion_auc, deletion_curve, deletion_fractions, inpaint, order_by, random_order, rescore,
    Removal,
};
use demud_maps::Network;
use image::{Rgb, RgbImage};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

const SIDE: u32 = 32;

/// The image averaged over 8 x 8 blocks: 3 x 4 x 4 = 48 features.
struct BlockMeans;

impl Encoder for BlockMeans {
    fn name(&self) -> &str {
        "block-means"
    }
    fn layers(&self) -> Vec<String> {
        vec!["means".into()]
    }
    fn preprocess(&self) -> Preprocess {
        Preprocess::imagenet(SIDE)
    }
    fn forward_all(&self, input: &Tensor) -> EncoderResult<Vec<Tensor>> {
        Ok(vec![input
            .avg_pool2d([8, 8], [8, 8], [0, 0], false, true, None)
            .flatten(1, -1)])
    }
}

fn plain(rng: &mut ChaCha8Rng) -> RgbImage {
    let base: [u8; 3] = [rng.random_range(90..130), rng.random_range(140..170), 60];
    RgbImage::from_fn(SIDE, SIDE, |_, _| {
        Rgb(base.map(|c| c.saturating_add(rng.random_range(0..6))))
    })
}

#[test]
fn deleting_the_novel_pixels_first_beats_random_order() {
    let network = Network::new(Box::new(BlockMeans), "means", Preprocess::imagenet(SIDE)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let seen: Vec<RgbImage> = (0..30).map(|_| network.prepare(&plain(&mut rng))).collect();
    let features = network.features(&seen).unwrap();
    let model =
        SubspaceModel::from_items(features.view(), 3, Truncation::DropNullDirections).unwrap();
    let replay = Replay {
        conditioner: Conditioner::identity(48),
        scoring: Scoring::new(ScoreMethod::LowHigh),
        models: vec![Some(model)],
    };
    // A new image with a magenta 6 x 6 patch: the novelty, and its mask.
    let mut novel = seen[0].clone();
    let mut mask = Array2::from_elem((SIDE as usize, SIDE as usize), false);
    for y in 10..16 {
        for x in 17..23 {
            novel.put_pixel(x, y, Rgb([230, 0, 200]));
            mask[[y as usize, x as usize]] = true;
        }
    }
    let scores = rescore(&network, &replay, 1, &[novel.clone(), seen[0].clone()]).unwrap();
    assert!(
        scores[0] > 20.0 * scores[1],
        "the patch makes the image novel: {scores:?}"
    );
    // In-painted from its surroundings, the patch no longer counts.
    let filled = inpaint(&novel, mask.view());
    let without = rescore(&network, &replay, 1, &[filled]).unwrap()[0];
    assert!(without < 0.1 * scores[0], "{without} vs {}", scores[0]);

    let truth = mask.mapv(|m| if m { 1.0f32 } else { 0.0 });
    let fractions = deletion_fractions(10);
    let by_truth = deletion_curve(
        &network,
        &replay,
        1,
        &novel,
        &order_by(truth.view()),
        &fractions,
        Removal::InPaint,
    )
    .unwrap();
    let mut random = 0.0;
    for seed in 0..3 {
        let order = random_order((SIDE * SIDE) as usize, seed);
        random += deletion_auc(
            &deletion_curve(
                &network,
                &replay,
                1,
                &novel,
                &order,
                &fractions,
                Removal::InPaint,
            )
            .unwrap(),
        ) / 3.0;
    }
    let truth_auc = deletion_auc(&by_truth);
    assert!(
        truth_auc > random + 0.3,
        "the true novel pixels first: {truth_auc:.3}, random order: {random:.3}"
    );
    // The score falls as pixels go, never rises much above the start.
    assert!(by_truth.iter().all(|r| *r < 1.05));
    // Restoring the original pixels: the truth first takes the whole score away at 4% of the
    // pixels (the patch is 36 of 1024).
    let seen_image = seen[0].clone();
    let restored = deletion_curve(
        &network,
        &replay,
        1,
        &novel,
        &order_by(truth.view()),
        &[0.04, 0.5],
        Removal::Restore(&seen_image),
    )
    .unwrap();
    let floor = scores[1] / scores[0];
    assert!(
        restored.iter().all(|r| (r - floor).abs() < 1e-3),
        "{restored:?} vs {floor}"
    );
}
