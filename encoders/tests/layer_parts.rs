//! Layers as sums over the positions of a feature map (what the exact explanation maps split a
//! score over), and the pixel gradient the gradient maps are made of.

use demud_encoders::efficientnet::EfficientNetLite0;
use demud_encoders::{input_gradient, Encoder, LayerParts, Result};
use std::path::PathBuf;
use tch::{Kind, Tensor};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The largest difference between two tensors, relative to the larger's scale.
fn relative_difference(a: &Tensor, b: &Tensor) -> f64 {
    let scale = b.abs().max().double_value(&[]).max(1e-12);
    (a - b).abs().max().double_value(&[]) / scale
}

#[test]
fn every_efficientnet_layer_is_the_sum_of_its_positions_parts() {
    let weights = workspace().join("models/efficientnet-lite0.safetensors");
    let model = EfficientNetLite0::load(&weights).expect("weights installed by scripts/setup");
    let input = Tensor::randn([2, 3, 224, 224], (Kind::Float, tch::Device::Cpu));
    let layers = model.layers();
    let outputs = tch::no_grad(|| model.forward(&input, &layers)).unwrap();
    for (layer, out) in layers.iter().zip(&outputs) {
        let parts = tch::no_grad(|| model.layer_parts(&input, layer))
            .unwrap()
            .expect("every EfficientNet layer is a sum of parts");
        assert_eq!(parts.grid, (7, 7), "{layer}");
        assert_eq!(parts.values.size()[..2], [2, 49], "{layer}");
        let sum = parts.values.sum_dim_intlist(1, false, Kind::Float);
        let diff = relative_difference(&sum, out);
        assert!(diff < 1e-5, "{layer}: parts sum off by {diff:e}");
    }
    assert!(model.layer_parts(&input, "fc9").is_err());
}

/// `y = W x` on the flattened image: the gradient of `<y, g>` is `W^T g`.
struct Linear {
    weight: Tensor,
}

impl Encoder for Linear {
    fn name(&self) -> &str {
        "linear"
    }
    fn layers(&self) -> Vec<String> {
        vec!["out".into()]
    }
    fn forward_all(&self, input: &Tensor) -> Result<Vec<Tensor>> {
        Ok(vec![input.flatten(1, -1).matmul(&self.weight.tr())])
    }
}

#[test]
fn the_pixel_gradient_of_a_linear_model_is_its_analytic_gradient() {
    tch::manual_seed(3);
    let model = Linear {
        weight: Tensor::randn([5, 3 * 4 * 4], (Kind::Float, tch::Device::Cpu)),
    };
    let input = Tensor::randn([2, 3, 4, 4], (Kind::Float, tch::Device::Cpu));
    let direction = Tensor::randn([2, 5], (Kind::Float, tch::Device::Cpu));
    let gradient = input_gradient(&model, &input, "out", &direction).unwrap();
    let analytic = direction.matmul(&model.weight).view([2, 3, 4, 4]);
    assert!(relative_difference(&gradient, &analytic) < 1e-6);
    let wrong = Tensor::zeros([2, 4], (Kind::Float, tch::Device::Cpu));
    let err = input_gradient(&model, &input, "out", &wrong)
        .unwrap_err()
        .to_string();
    assert!(err.contains("shape"), "{err}");
}

#[test]
fn parts_of_an_average_a_flattening_and_a_linear_map_sum_to_them() {
    let map = Tensor::randn([2, 3, 2, 3], (Kind::Float, tch::Device::Cpu));
    let average = LayerParts::of_average(&map);
    assert_eq!(average.grid, (2, 3));
    let mean = map.mean_dim(Some([2i64, 3].as_slice()), false, Kind::Float);
    assert!(
        relative_difference(
            &average.values.sum_dim_intlist(1, false, Kind::Float),
            &mean
        ) < 1e-6
    );
    let flat = LayerParts::of_flattening(&map);
    assert_eq!(flat.values.size(), [2, 6, 18]);
    assert!(
        relative_difference(
            &flat.values.sum_dim_intlist(1, false, Kind::Float),
            &map.flatten(1, -1)
        ) < 1e-6
    );
    // Position (0, 1) of channel 2 sits in slot 2*6 + 1 of the flat vector, in part 1 only.
    let value = map.double_value(&[0, 2, 0, 1]);
    assert_eq!(flat.values.double_value(&[0, 1, 13]), value);
    assert_eq!(flat.values.double_value(&[0, 0, 13]), 0.0);
    let weight = Tensor::randn([4, 18], (Kind::Float, tch::Device::Cpu));
    let bias = Tensor::randn([4], (Kind::Float, tch::Device::Cpu));
    let linear = flat.through_linear(&weight, Some(&bias));
    let direct = map.flatten(1, -1).matmul(&weight.tr()) + &bias;
    assert!(
        relative_difference(
            &linear.values.sum_dim_intlist(1, false, Kind::Float),
            &direct
        ) < 1e-5
    );
}
