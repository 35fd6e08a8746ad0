//! The up-convolutional decoder: it learns to draw images from their feature vectors,
//! resumes exactly from a checkpoint, and refuses what it cannot use.

use demud_decoder::checkpoint::{read_record, ARCH_FILE, OPTIMIZER_FILE, WEIGHTS_FILE};
use demud_decoder::{DecoderArch, TrainParams, Trainer, UpConvDecoder};
use ndarray::{Array2, Array4};

/// A small decoder that trains in a second.
fn small_arch(input_dim: usize, image_size: usize) -> DecoderArch {
    DecoderArch {
        hidden: vec![64],
        start_channels: 32,
        min_channels: 8,
        ..DecoderArch::new(input_dim, image_size)
    }
}

/// 48 images of a bright square on black at one of 8 x-positions and 6 colours; the feature
/// vector says which position and which colour (one-hot), so the images are decodable.
fn squares(side: usize) -> (Array2<f32>, Array4<f32>) {
    let n = 48;
    let mut features = Array2::<f32>::zeros((n, 14));
    let mut images = Array4::<f32>::zeros((n, 3, side, side));
    for i in 0..n {
        let (position, colour) = (i % 8, i / 8);
        features[[i, position]] = 1.0;
        features[[i, 8 + colour]] = 1.0;
        let x0 = position * side / 8;
        let rgb = [colour % 2, (colour / 2) % 2, usize::from(colour >= 4)];
        for c in 0..3 {
            for y in side / 4..side * 3 / 4 {
                for x in x0..(x0 + side / 4).min(side) {
                    images[[i, c, y, x]] = 0.2 + 0.8 * rgb[c] as f32;
                }
            }
        }
    }
    (features, images)
}

fn train(trainer: &mut Trainer, epochs: usize, features: &Array2<f32>, images: &Array4<f32>) {
    for _ in 0..epochs {
        trainer
            .epoch(features.view(), images.view(), |_, _| {})
            .unwrap();
    }
}

#[test]
fn training_lowers_the_pixel_loss_and_decodes_to_the_image_size() {
    let (features, images) = squares(16);
    let params = TrainParams {
        batch_size: 8,
        learning_rate: 2e-3,
        ..TrainParams::default()
    };
    let mut trainer = Trainer::new(small_arch(14, 16), &params).unwrap();
    let mut steps = 0;
    let first = trainer
        .epoch(features.view(), images.view(), |_, loss| {
            assert!(loss.is_finite());
            steps += 1;
        })
        .unwrap();
    assert_eq!(steps, 6, "48 pairs in batches of 8");
    let mut last = first;
    for _ in 0..40 {
        last = trainer
            .epoch(features.view(), images.view(), |_, _| {})
            .unwrap();
    }
    assert!(
        last < first * 0.3,
        "loss went from {first} to {last}: the decoder did not learn"
    );
    assert_eq!(trainer.record().epochs_done, 41);
    assert_eq!(trainer.record().steps, 41 * 6);
    let decoded = trainer.decoder().decode(features.view(), 7).unwrap();
    assert_eq!(decoded.dim(), (48, 3, 16, 16));
    assert!(decoded.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // The drawing of item 0 is closer to its own image than to item 4's (square elsewhere).
    let error = |a: usize, b: usize| {
        (&decoded.slice(ndarray::s![a, .., .., ..]) - &images.slice(ndarray::s![b, .., .., ..]))
            .mapv(|v| v * v)
            .sum()
    };
    assert!(error(0, 0) < error(0, 4) * 0.5);
}

#[test]
fn resuming_from_a_checkpoint_continues_exactly() {
    let (features, images) = squares(16);
    let params = TrainParams {
        batch_size: 16,
        learning_rate: 1e-3,
        seed: 11,
        ..TrainParams::default()
    };
    let straight = {
        let mut trainer = Trainer::new(small_arch(14, 16), &params).unwrap();
        train(&mut trainer, 4, &features, &images);
        trainer
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let mut trainer = Trainer::new(small_arch(14, 16), &params).unwrap();
        train(&mut trainer, 2, &features, &images);
        trainer.save(dir.path()).unwrap();
    }
    assert!(dir.path().join(OPTIMIZER_FILE).is_file());
    let mut resumed = Trainer::resume(dir.path()).unwrap();
    assert_eq!(resumed.record().epochs_done, 2);
    train(&mut resumed, 2, &features, &images);
    assert_eq!(resumed.record().steps, straight.record().steps);
    for (a, b) in resumed
        .record()
        .losses
        .iter()
        .zip(&straight.record().losses)
    {
        assert!((a - b).abs() <= 1e-6 * b.abs(), "losses {a} vs {b}");
    }
    let a = resumed.decoder().decode(features.view(), 48).unwrap();
    let b = straight.decoder().decode(features.view(), 48).unwrap();
    let gap = (&a - &b).mapv(f32::abs).fold(0f32, |m, &v| m.max(v));
    assert!(gap < 1e-5, "resumed and straight decoders differ by {gap}");

    // A decoder loaded for rendering draws what the trainer's did.
    resumed.save(dir.path()).unwrap();
    let (loaded, record) = UpConvDecoder::load(dir.path()).unwrap();
    assert_eq!(record.training.epochs_done, 4);
    let reloaded = loaded.decode(features.view(), 5).unwrap();
    let gap = (&reloaded - &a).mapv(f32::abs).fold(0f32, |m, &v| m.max(v));
    assert!(gap < 1e-6, "loaded decoder differs by {gap}");
    // With Adam's moments zeroed (an untrained trainer's optimizer file) the same resume
    // ends elsewhere: the moments matter, so the comparison above can fail.
    let zeroed = tempfile::tempdir().unwrap();
    Trainer::new(small_arch(14, 16), &params)
        .unwrap()
        .save(zeroed.path())
        .unwrap();
    let forgetful = tempfile::tempdir().unwrap();
    let halfway = tempfile::tempdir().unwrap();
    {
        let mut trainer = Trainer::new(small_arch(14, 16), &params).unwrap();
        train(&mut trainer, 2, &features, &images);
        trainer.save(halfway.path()).unwrap();
    }
    for name in [WEIGHTS_FILE, ARCH_FILE] {
        std::fs::copy(halfway.path().join(name), forgetful.path().join(name)).unwrap();
    }
    std::fs::copy(
        zeroed.path().join(OPTIMIZER_FILE),
        forgetful.path().join(OPTIMIZER_FILE),
    )
    .unwrap();
    let mut restarted = Trainer::resume(forgetful.path()).unwrap();
    train(&mut restarted, 2, &features, &images);
    let c = restarted.decoder().decode(features.view(), 48).unwrap();
    assert!((&c - &b).mapv(f32::abs).fold(0f32, |m, &v| m.max(v)) > 1e-3);
}

#[test]
fn a_diverging_training_stops_with_its_reason_and_saves_nothing() {
    let (features, images) = squares(16);
    let params = TrainParams {
        learning_rate: 1e10,
        batch_size: 4,
        ..TrainParams::default()
    };
    let mut trainer = Trainer::new(small_arch(14, 16), &params).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let schedule = demud_decoder::fit::Schedule {
        epochs: 5,
        checkpoint_every: 1,
    };
    let err = demud_decoder::fit::train_with_checkpoints::<demud_decoder::DecoderError>(
        &mut trainer,
        features.view(),
        images.view(),
        dir.path(),
        schedule,
        |_| {},
        |_| Ok(()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("diverged") && err.contains("--lr"), "{err}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no checkpoint of NaN weights"
    );
}

#[test]
fn sizes_that_are_not_powers_of_two_are_reached() {
    let decoder = UpConvDecoder::new(small_arch(5, 20), 0).unwrap();
    assert_eq!(
        decoder.arch().stages(),
        3,
        "4 -> 8 -> 16 -> 32, resized to 20"
    );
    let out = decoder
        .decode(Array2::<f32>::ones((3, 5)).view(), 2)
        .unwrap();
    assert_eq!(out.dim(), (3, 3, 20, 20));
}

#[test]
fn bad_inputs_and_checkpoints_are_refused_with_their_reason() {
    let decoder = UpConvDecoder::new(small_arch(5, 16), 0).unwrap();
    let err = decoder
        .decode(Array2::<f32>::ones((2, 6)).view(), 2)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("reads 5 features, these vectors have 6"),
        "{err}"
    );

    let mut trainer = Trainer::new(small_arch(5, 16), &TrainParams::default()).unwrap();
    let err = trainer
        .epoch(
            Array2::<f32>::ones((4, 5)).view(),
            Array4::<f32>::zeros((3, 3, 16, 16)).view(),
            |_, _| {},
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("4 x 3 x 16 x 16 target images"),
        "{err}"
    );

    let err = UpConvDecoder::new(small_arch(5, 6), 0).unwrap_err();
    assert!(
        err.to_string().contains("at least twice start_side"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(ARCH_FILE), "{\"format\": \"other\"}").unwrap();
    let err = read_record(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("not a decoder checkpoint"),
        "{err}"
    );
    let err = UpConvDecoder::load(tempfile::tempdir().unwrap().path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot read the decoder checkpoint"),
        "{err}"
    );
}

#[test]
fn checkpoint_problems_name_the_file_and_keep_their_source() {
    use demud_decoder::checkpoint::{FORMAT, WEIGHTS_FILE};
    use demud_decoder::DecoderError;
    use std::error::Error;

    let params = TrainParams {
        batch_size: 16,
        ..TrainParams::default()
    };
    let trainer = Trainer::new(small_arch(5, 16), &params).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("decoder");
    trainer.save(&out).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [ARCH_FILE, WEIGHTS_FILE, OPTIMIZER_FILE],
        "the three files and no temporary"
    );

    // A checkpoint folder that is a file: the write error says which path and keeps its cause.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, "not a folder").unwrap();
    let err = trainer.save(&blocked).unwrap_err();
    assert!(matches!(err, DecoderError::Data(_)), "{err:?}");
    assert!(err.to_string().contains("blocked"), "{err}");
    assert!(err.source().is_some(), "{err:?}");

    // Another format, or a newer version.
    let record = std::fs::read_to_string(out.join(ARCH_FILE)).unwrap();
    let newer = record.replace("\"version\": 1", "\"version\": 99");
    assert_ne!(newer, record);
    std::fs::write(out.join(ARCH_FILE), &newer).unwrap();
    let err = read_record(&out).unwrap_err();
    assert!(
        matches!(&err, DecoderError::CheckpointFormat { version: 99, .. })
            && err.to_string().contains(FORMAT),
        "{err}"
    );
    std::fs::write(out.join(ARCH_FILE), &record).unwrap();

    // Invalid JSON keeps serde's error as its source.
    std::fs::write(dir.path().join(ARCH_FILE), "{").unwrap();
    let err = read_record(dir.path()).unwrap_err();
    assert!(matches!(err, DecoderError::Checkpoint { .. }), "{err:?}");
    assert!(err.source().is_some());

    // An optimizer file of another decoder.
    let other = tempfile::tempdir().unwrap();
    Trainer::new(small_arch(7, 16), &params)
        .unwrap()
        .save(other.path())
        .unwrap();
    std::fs::copy(other.path().join(OPTIMIZER_FILE), out.join(OPTIMIZER_FILE)).unwrap();
    let err = Trainer::resume(&out).unwrap_err();
    assert!(
        matches!(&err, DecoderError::OptimizerState { key, .. } if key == "m.fc0.weight"),
        "{err}"
    );
    assert!(err.to_string().contains(OPTIMIZER_FILE), "{err}");

    // Settings that cannot train.
    for (bad, reason) in [
        (
            TrainParams {
                batch_size: 0,
                ..TrainParams::default()
            },
            "batch size",
        ),
        (
            TrainParams {
                learning_rate: f64::NAN,
                ..TrainParams::default()
            },
            "learning rate",
        ),
    ] {
        let err = Trainer::new(small_arch(5, 16), &bad).unwrap_err();
        assert!(err.to_string().contains(reason), "{err}");
    }
    let err = Trainer::new(small_arch(5, 16), &params)
        .unwrap()
        .epoch(
            Array2::<f32>::zeros((0, 5)).view(),
            Array4::<f32>::zeros((0, 3, 16, 16)).view(),
            |_, _| {},
        )
        .unwrap_err();
    assert!(matches!(err, DecoderError::NoTrainingPairs), "{err}");
}
