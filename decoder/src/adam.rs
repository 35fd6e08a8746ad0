//! Adam (Kingma & Ba 2015), written out so that its state can be saved and restored.
//!
//! tch 0.26's `tch::nn::Optimizer` (libtorch's `torch::optim::Adam` behind a C handle)
//! exposes no state: its moments cannot be read out or put back, so a checkpoint could hold
//! the weights but not the optimizer, and a resumed training would restart Adam from zero
//! moments. With the moments in the checkpoint, stopping after epoch m and resuming gives the
//! same weights as training straight through. The update is libtorch's Adam with its
//! defaults (β1 = 0.9, β2 = 0.999, ε = 1e-8, no weight decay, no AMSGrad); `tests/adam.rs`
//! checks it step by step against `tch::nn::Adam`.
//!
//! Per parameter p with gradient g, at step t (1 for the first step):
//! m ← β1 m + (1 − β1) g, v ← β2 v + (1 − β2) g²,
//! p ← p − lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε).

use std::collections::HashMap;
use tch::Tensor;

/// Decay of the first moment (the mean of the gradients).
pub const BETA1: f64 = 0.9;
/// Decay of the second moment (the mean of the squared gradients).
pub const BETA2: f64 = 0.999;
/// Added to the root of the second moment, against division by zero.
pub const EPSILON: f64 = 1e-8;

/// Adam's state for a fixed list of named parameters: both moments of each, and the steps
/// taken.
#[derive(Debug)]
pub struct Adam {
    learning_rate: f64,
    /// Parameter names, in the order `step` expects the parameters.
    names: Vec<String>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    steps: u64,
}

/// A moment the saved state lacks, or has in another shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingMoment {
    /// Its name in the state (`m.NAME` or `v.NAME`).
    pub key: String,
    /// The shape of its parameter.
    pub shape: Vec<i64>,
}

impl Adam {
    /// A fresh optimizer for `params` (name, tensor): zero moments, no steps taken.
    pub fn new(learning_rate: f64, params: &[(String, Tensor)]) -> Self {
        let zeros = || params.iter().map(|(_, p)| p.zeros_like()).collect();
        Adam {
            learning_rate,
            names: params.iter().map(|(name, _)| name.clone()).collect(),
            first: zeros(),
            second: zeros(),
            steps: 0,
        }
    }

    /// An optimizer for `params` that continues from a saved state (as [`Adam::state`] gives
    /// it) after `steps` steps.
    pub fn from_state(
        learning_rate: f64,
        params: &[(String, Tensor)],
        state: &HashMap<String, Tensor>,
        steps: u64,
    ) -> Result<Self, MissingMoment> {
        let moment = |prefix: &str| -> Result<Vec<Tensor>, MissingMoment> {
            params
                .iter()
                .map(|(name, p)| {
                    let key = format!("{prefix}.{name}");
                    match state.get(&key) {
                        Some(t) if t.size() == p.size() => Ok(t.shallow_clone()),
                        _ => Err(MissingMoment {
                            key,
                            shape: p.size(),
                        }),
                    }
                })
                .collect()
        };
        Ok(Adam {
            learning_rate,
            names: params.iter().map(|(name, _)| name.clone()).collect(),
            first: moment("m")?,
            second: moment("v")?,
            steps,
        })
    }

    /// The moments by name, `m.NAME` (first) and `v.NAME` (second), for saving.
    pub fn state(&self) -> Vec<(String, &Tensor)> {
        self.names
            .iter()
            .zip(&self.first)
            .map(|(name, m)| (format!("m.{name}"), m))
            .chain(
                self.names
                    .iter()
                    .zip(&self.second)
                    .map(|(name, v)| (format!("v.{name}"), v)),
            )
            .collect()
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The step size.
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    /// One update of `params` (the list given to [`Adam::new`], in its order) from their
    /// gradients; parameters without a gradient are left alone.
    pub fn step(&mut self, params: &mut [(String, Tensor)]) {
        assert!(
            params.len() == self.names.len()
                && params.iter().zip(&self.names).all(|((a, _), b)| a == b),
            "Adam::step needs the parameters it was made for, in the same order"
        );
        self.steps += 1;
        let t = i32::try_from(self.steps).unwrap_or(i32::MAX);
        let (correct1, correct2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        let lr = self.learning_rate;
        tch::no_grad(|| {
            for (((_, p), m), v) in params.iter_mut().zip(&mut self.first).zip(&mut self.second) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                m.copy_(&(&*m * BETA1 + &g * (1.0 - BETA1)));
                v.copy_(&(&*v * BETA2 + (&g * &g) * (1.0 - BETA2)));
                let step = (&*m / correct1) / ((&*v / correct2).sqrt() + EPSILON) * lr;
                let _ = p.g_sub_(&step);
            }
        });
    }
}
