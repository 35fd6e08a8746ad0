//! AlexNet in torchvision's layout, so that torchvision's ImageNet weights
//! (`alexnet-owt-7be5be79.pth`, converted once to safetensors with
//! `.venv/bin/python scripts/convert_weights.py alexnet-owt-7be5be79.pth models/alexnet.safetensors`)
//! load as they are.
//!
//! Layers: `pool5` (the last max-pool, 256 x 6 x 6 flattened), `fc6` and `fc7` taken before
//! their ReLU (as the WHI 2018 paper did with its modified CaffeNet), and `fc8` (the logits).

use crate::error::Result;
use crate::extract::{select_layers, Encoder, LayerParts};
use crate::weights::load_weights;
use std::path::Path;
use tch::nn::{self, Module};
use tch::{Device, Tensor};

/// The layers, in forward order.
pub const LAYERS: [&str; 4] = ["pool5", "fc6", "fc7", "fc8"];

/// AlexNet with its weights.
#[derive(Debug)]
pub struct AlexNet {
    _vs: nn::VarStore,
    convs: Vec<nn::Conv2D>,
    fc6: nn::Linear,
    fc7: nn::Linear,
    fc8: nn::Linear,
}

impl AlexNet {
    /// Builds the network and loads `weights` (safetensors with torchvision's names).
    pub fn load(weights: &Path) -> Result<Self> {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let p = vs.root() / "features";
        let conv = |i: usize, cin, cout, k, stride, padding| {
            nn::conv2d(
                &p / i,
                cin,
                cout,
                k,
                nn::ConvConfig {
                    stride,
                    padding,
                    ..Default::default()
                },
            )
        };
        let convs = vec![
            conv(0, 3, 64, 11, 4, 2),
            conv(3, 64, 192, 5, 1, 2),
            conv(6, 192, 384, 3, 1, 1),
            conv(8, 384, 256, 3, 1, 1),
            conv(10, 256, 256, 3, 1, 1),
        ];
        let c = vs.root() / "classifier";
        let fc6 = nn::linear(&c / 1, 256 * 6 * 6, 4096, Default::default());
        let fc7 = nn::linear(&c / 4, 4096, 4096, Default::default());
        let fc8 = nn::linear(&c / 6, 4096, 1000, Default::default());
        load_weights(&mut vs, weights)?;
        vs.freeze();
        Ok(AlexNet {
            _vs: vs,
            convs,
            fc6,
            fc7,
            fc8,
        })
    }
}

impl Encoder for AlexNet {
    fn name(&self) -> &str {
        "alexnet"
    }
    fn layers(&self) -> Vec<String> {
        LAYERS.iter().map(|s| s.to_string()).collect()
    }
    fn forward_all(&self, input: &Tensor) -> Result<Vec<Tensor>> {
        let pool5 = self.pool5_map(input).flatten(1, -1);
        // Dropout is the identity at inference; fc6 and fc7 are kept before their ReLU.
        let fc6 = self.fc6.forward(&pool5);
        let fc7 = self.fc7.forward(&fc6.relu());
        let fc8 = self.fc8.forward(&fc7.relu());
        Ok(vec![pool5, fc6, fc7, fc8])
    }

    /// `pool5` (a flattened 6 x 6 map) and `fc6` (taken before its ReLU: linear in `pool5`)
    /// are sums over the 36 positions; `fc7` and `fc8` come after a ReLU of the whole vector.
    fn layer_parts(&self, input: &Tensor, layer: &str) -> Result<Option<LayerParts>> {
        select_layers(self, &[layer.to_string()])?;
        let parts = || LayerParts::of_flattening(&self.pool5_map(input));
        Ok(match layer {
            "pool5" => Some(parts()),
            "fc6" => Some(parts().through_linear(&self.fc6.ws, self.fc6.bs.as_ref())),
            _ => None,
        })
    }
}

impl AlexNet {
    /// The last max-pool's map, 256 x 6 x 6.
    fn pool5_map(&self, input: &Tensor) -> Tensor {
        let pool = |x: Tensor| x.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false);
        let mut x = pool(self.convs[0].forward(input).relu());
        x = pool(self.convs[1].forward(&x).relu());
        x = self.convs[2].forward(&x).relu();
        x = self.convs[3].forward(&x).relu();
        x = pool(self.convs[4].forward(&x).relu());
        x.adaptive_avg_pool2d([6, 6])
    }
}
