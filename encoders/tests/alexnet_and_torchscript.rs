//! AlexNet (torchvision layout, weights converted from a torch.save file by
//! scripts/convert_weights.py) and TorchScript modules against the same networks run by the
//! venv's PyTorch. torchvision's real AlexNet weights cannot be fetched here: the test makes a
//! seeded one in the same format.

use demud_encoders::alexnet::AlexNet;
use demud_encoders::torchscript::TorchScript;
use demud_encoders::Encoder;
use ndarray::{Array2, Array4};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python(args: &[&Path]) {
    let python = workspace().join(".venv/bin/python");
    let status = Command::new(&python)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", python.display()));
    assert!(status.success(), "{args:?} failed");
}

fn npy(path: &Path) -> Array2<f32> {
    Array2::<f32>::read_npy(std::fs::File::open(path).unwrap()).unwrap()
}

fn to_array(t: &tch::Tensor) -> Array2<f32> {
    let (n, d) = (t.size()[0] as usize, t.size()[1] as usize);
    Array2::from_shape_vec((n, d), Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()).unwrap()
}

fn assert_close(ours: &Array2<f32>, theirs: &Array2<f32>, what: &str) {
    assert_eq!(ours.dim(), theirs.dim(), "{what}");
    let scale = theirs.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let diff = (ours - theirs).iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        diff <= 1e-4 * scale,
        "{what}: max difference {diff:e} (scale {scale:e})"
    );
}

#[test]
fn alexnet_and_torchscript_match_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = Array4::<f32>::from_shape_fn((3, 3, 224, 224), |(n, c, y, x)| {
        ((n * 7 + c * 3 + y / 9 + x / 13) % 11) as f32 / 5.0 - 1.0
    });
    input
        .write_npy(std::fs::File::create(d.join("input.npy")).unwrap())
        .unwrap();
    python(&[&workspace().join("encoders/tests/make_test_models.py"), d]);
    let tensor = tch::Tensor::from_slice(input.as_slice().unwrap()).view([3, 3, 224, 224]);

    // A .pth is refused with the conversion command; the converted file loads.
    let err = AlexNet::load(&d.join("alexnet.pth"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("scripts/convert_weights.py"), "{err}");
    let converted = d.join("alexnet.safetensors");
    python(&[
        &workspace().join("scripts/convert_weights.py"),
        &d.join("alexnet.pth"),
        &converted,
    ]);
    let alexnet = AlexNet::load(&converted).unwrap();
    let layers: Vec<String> = ["pool5", "fc6", "fc7", "fc8"].map(String::from).to_vec();
    let outputs = tch::no_grad(|| alexnet.forward(&tensor, &layers)).unwrap();
    for (name, out) in layers.iter().zip(&outputs) {
        assert_close(
            &to_array(out),
            &npy(&d.join(format!("alexnet_{name}.npy"))),
            name,
        );
    }
    // pool5 and fc6 (linear in pool5) split over the 36 positions; fc7 follows a ReLU.
    for (layer, out) in layers.iter().zip(&outputs).take(2) {
        let parts = tch::no_grad(|| alexnet.layer_parts(&tensor, layer))
            .unwrap()
            .unwrap();
        assert_eq!(parts.grid, (6, 6));
        let sum = parts.values.sum_dim_intlist(1, false, tch::Kind::Float);
        assert_close(&to_array(&sum), &to_array(out), &format!("{layer} parts"));
    }
    assert!(alexnet.layer_parts(&tensor, "fc7").unwrap().is_none());
    // fc6 is taken before its ReLU: it has negative values.
    assert!(to_array(&outputs[1]).iter().any(|&v| v < 0.0));
    let err = alexnet
        .forward(&tensor, &["fc9".to_string()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("pool5, fc6, fc7, fc8"), "{err}");

    let script = TorchScript::load(&d.join("script.pt"), 224).unwrap();
    assert_eq!(script.layers(), vec!["0", "1"]);
    let outputs =
        tch::no_grad(|| script.forward(&tensor, &["1".to_string(), "0".to_string()])).unwrap();
    assert_close(
        &to_array(&outputs[0]),
        &npy(&d.join("script_1.npy")),
        "script output 1",
    );
    assert_close(
        &to_array(&outputs[1]),
        &npy(&d.join("script_0.npy")),
        "script output 0",
    );
}
