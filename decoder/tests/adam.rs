//! The hand-written Adam against libtorch's own (`tch::nn::Adam`, i.e. `torch::optim::Adam`
//! with its defaults: β1 0.9, β2 0.999, ε 1e-8, no weight decay): the same parameters, the
//! same gradients, the same values after every step. Also: its saved state continues
//! exactly, and a state that lacks a moment is refused.

use demud_decoder::adam::Adam;
use std::collections::HashMap;
use tch::nn::{self, OptimizerConfig};
use tch::{Kind, Tensor};

const LEARNING_RATE: f64 = 0.05;

/// Three parameters of different shapes, values spread over [-1.5, 1.5].
fn initial() -> Vec<(String, Vec<i64>, Vec<f32>)> {
    [("a", vec![3, 4]), ("b", vec![5]), ("c", vec![2, 2, 2])]
        .into_iter()
        .enumerate()
        .map(|(k, (name, shape))| {
            let n: i64 = shape.iter().product();
            let values = (0..n)
                .map(|i| ((i * 7 + k as i64 * 3) % 11) as f32 / 11.0 * 3.0 - 1.5)
                .collect();
            (name.to_string(), shape, values)
        })
        .collect()
}

/// A fixed loss whose gradient differs in size from element to element (curvatures from 0.05
/// to 20, so Adam's per-element scaling matters) and has a quartic term (so gradients are
/// not linear in the parameters): Σ c_i (p_i − t_i)² + 0.1 p_i⁴.
fn loss(params: &[&Tensor]) -> Tensor {
    params
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let n = p.numel() as i64;
            let curvature = (Tensor::arange(n, (Kind::Float, p.device())) * 1.7 + k as f64)
                .remainder(8.0)
                .exp2()
                * 0.05;
            let target = (Tensor::arange(n, (Kind::Float, p.device())) * 0.37).sin();
            let flat = p.flatten(0, -1);
            let diff = &flat - &target;
            (curvature * &diff * &diff).sum(Kind::Float)
                + flat.pow_tensor_scalar(4).sum(Kind::Float) * 0.1
        })
        .fold(Tensor::from(0f32), |total, term| total + term)
}

fn max_gap(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn hand_written_adam_matches_libtorch_adam_step_by_step() {
    let init = initial();
    // libtorch's Adam on a var store.
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let reference: Vec<Tensor> = init
        .iter()
        .map(|(name, shape, values)| {
            vs.root()
                .var_copy(name, &Tensor::from_slice(values).view(shape.as_slice()))
        })
        .collect();
    let mut optimizer = nn::Adam::default().build(&vs, LEARNING_RATE).unwrap();
    // Ours on separate tensors with the same values.
    let mut params: Vec<(String, Tensor)> = init
        .iter()
        .map(|(name, shape, values)| {
            let p = Tensor::from_slice(values)
                .view(shape.as_slice())
                .set_requires_grad(true);
            (name.clone(), p)
        })
        .collect();
    let mut adam = Adam::new(LEARNING_RATE, &params);
    let start: Vec<Tensor> = reference.iter().map(Tensor::copy).collect();

    for step in 1..=12 {
        optimizer.zero_grad();
        loss(&reference.iter().collect::<Vec<_>>()).backward();
        optimizer.step();

        for (_, p) in &mut params {
            p.zero_grad();
        }
        loss(&params.iter().map(|(_, p)| p).collect::<Vec<_>>()).backward();
        adam.step(&mut params);
        assert_eq!(adam.steps(), step);

        for ((name, ours), theirs) in params.iter().zip(&reference) {
            let gap = max_gap(ours, theirs);
            assert!(
                gap < 1e-6,
                "step {step}, parameter {name}: ours and libtorch's differ by {gap}"
            );
        }
    }
    // The parameters did move, by much more than the tolerance: the comparison means something.
    for ((name, ours), before) in params.iter().zip(&start) {
        let moved = max_gap(ours, before);
        assert!(moved > 0.1, "parameter {name} moved only {moved}");
    }
}

#[test]
fn a_saved_state_continues_exactly_and_a_missing_moment_is_refused() {
    let init = initial();
    let fresh = || -> Vec<(String, Tensor)> {
        init.iter()
            .map(|(name, shape, values)| {
                let p = Tensor::from_slice(values)
                    .view(shape.as_slice())
                    .set_requires_grad(true);
                (name.clone(), p)
            })
            .collect()
    };
    let step = |adam: &mut Adam, params: &mut Vec<(String, Tensor)>| {
        for (_, p) in params.iter_mut() {
            p.zero_grad();
        }
        loss(&params.iter().map(|(_, p)| p).collect::<Vec<_>>()).backward();
        adam.step(params);
    };
    let mut straight = fresh();
    let mut adam = Adam::new(LEARNING_RATE, &straight);
    for _ in 0..4 {
        step(&mut adam, &mut straight);
    }
    // Save: copies of the parameters and of the moments, as a checkpoint holds them.
    let saved: HashMap<String, Tensor> = adam
        .state()
        .into_iter()
        .map(|(k, v)| (k, v.copy()))
        .collect();
    assert_eq!(saved.len(), 6, "m and v of three parameters");
    let mut resumed: Vec<(String, Tensor)> = straight
        .iter()
        .map(|(k, p)| (k.clone(), p.detach().copy().set_requires_grad(true)))
        .collect();
    let mut restored = Adam::from_state(LEARNING_RATE, &resumed, &saved, adam.steps()).unwrap();
    // And with zero moments from the same point, which must end elsewhere.
    let mut forgetful: Vec<(String, Tensor)> = resumed
        .iter()
        .map(|(k, p)| (k.clone(), p.detach().copy().set_requires_grad(true)))
        .collect();
    let mut zeroed = Adam::new(LEARNING_RATE, &forgetful);
    for _ in 0..4 {
        step(&mut adam, &mut straight);
        step(&mut restored, &mut resumed);
        step(&mut zeroed, &mut forgetful);
    }
    for (((name, a), (_, b)), (_, c)) in straight.iter().zip(&resumed).zip(&forgetful) {
        assert_eq!(max_gap(a, b), 0.0, "parameter {name}");
        assert!(
            max_gap(a, c) > 1e-3,
            "parameter {name}: moments made no difference"
        );
    }

    let mut partial = saved;
    partial.remove("v.b");
    let missing = Adam::from_state(LEARNING_RATE, &resumed, &partial, 4).unwrap_err();
    assert_eq!(
        (missing.key.as_str(), missing.shape.as_slice()),
        ("v.b", &[5i64][..])
    );
}
