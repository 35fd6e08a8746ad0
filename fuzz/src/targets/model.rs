//! The saved-model reader: `read_saved_model` (JSON, then the engine's
//! `ModelState::checked`), and the engine's own reading of the same bytes.

use super::{Checks, Target};
use crate::mutate::{Mutator, MAX_INPUT, NUMBERS};
use demud::model::{RankZeroStyle, Truncation};
use demud::{Compatibility, Conditioning, DemudParams, ModelState, SubspaceModel, UpdateMethod};
use demud_datasets::run::{read_saved_model, write_model_state, write_saved_model};
use ndarray::{Array1, Array2};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::path::Path;

/// `read_saved_model` and `serde_json` + `ModelState::checked` on a model file.
pub struct ModelTarget;

/// Values put in place of a JSON node.
fn replacement(m: &mut Mutator, other: &Value) -> Value {
    match m.below(12) {
        0 => Value::Null,
        1 => Value::Bool(m.rng().random()),
        2 => Value::String(
            m.pick(&["demud-model", "", "brand", "lowhigh", "centre", "v"])
                .to_string(),
        ),
        3 => serde_json::json!([]),
        4 => serde_json::json!({}),
        5 => serde_json::json!(m.pick(&[0i64, -1, 1, 2, 3, 1000000, i64::MAX, i64::MIN])),
        6 => serde_json::json!(*m.pick(&[u64::MAX, 1 << 53, 1 << 32])),
        7 => serde_json::json!(*m.pick(&[1e308, -0.0, 5e-324, 0.5, -1e300, 1e-7])),
        8 => serde_json::json!([
            *m.pick(&[0u64, 1, 2, 1000000, u64::MAX]),
            *m.pick(&[0u64, 1, 3, 1000000])
        ]),
        9 => serde_json::json!({"v": 1, "dim": [m.below(4), m.below(4)], "data": [0.0, 1.0, 0.0]}),
        _ => other.clone(),
    }
}

/// The paths (keys and indices) of every node of `value`.
fn paths(value: &Value, at: &mut Vec<Vec<PathStep>>, here: &mut Vec<PathStep>) {
    at.push(here.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                here.push(PathStep::Key(key.clone()));
                paths(child, at, here);
                here.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(PathStep::Index(i));
                paths(child, at, here);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn node<'a>(value: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        PathStep::Key(k) => v.get_mut(k.as_str()),
        PathStep::Index(i) => v.get_mut(*i),
    })
}

impl Target for ModelTarget {
    fn name(&self) -> &'static str {
        "model"
    }

    fn file_name(&self) -> &'static str {
        "input.json"
    }

    fn prepare(&self, dir: &Path, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<u8>>, String> {
        let mut states = Vec::new();
        let conditionings = ["none", "centre", "centre+l2", "power+centre+l2", "whiten:2"];
        for (i, (m, d, k)) in [(4, 3, 2), (6, 2, 1), (3, 5, 4), (8, 4, 3), (5, 3, 5)]
            .into_iter()
            .enumerate()
        {
            let items = Array2::from_shape_fn((m, d), |_| rng.random_range(-10.0..10.0));
            // The model lives in the conditioned space, as a run builds it.
            let conditioner = conditionings[i]
                .parse::<Conditioning>()
                .map_err(|e| e.to_string())?
                .fit(items.view())
                .map_err(|e| e.to_string())?;
            let conditioned = conditioner
                .transform(items.view())
                .map_err(|e| e.to_string())?;
            let model =
                SubspaceModel::from_items(conditioned.view(), k, Truncation::DropNullDirections)
                    .map_err(|e| e.to_string())?;
            let update = [
                UpdateMethod::Brand,
                UpdateMethod::Ross,
                UpdateMethod::Static,
            ][i % 3];
            let params = DemudParams::new(k).update(update);
            states.push(ModelState::new(model, &params).with_conditioner(conditioner));
        }
        // The reference's rank-0 model (basis e_0, singular value 0), and a version 1 state.
        let reference = SubspaceModel::rank_zero(
            Array1::from(vec![1.0, -2.0, 0.5]).view(),
            RankZeroStyle::ReferenceFirstAxis,
        );
        states.push(ModelState::new(
            reference,
            &DemudParams::new(1).compat(Compatibility::Reference),
        ));
        let mut seeds = Vec::new();
        for (i, state) in states.into_iter().enumerate() {
            let path = dir.join(format!("seed-{i}.json"));
            write_model_state(&path, &state).map_err(|e| e.to_string())?;
            let back = read_saved_model(&path).map_err(|e| e.to_string())?;
            if back.state != state {
                return Err(format!("{}: did not read back as written", path.display()));
            }
            seeds.push(std::fs::read(&path).map_err(|e| e.to_string())?);
        }
        let mut old: Value = serde_json::from_slice(&seeds[1]).map_err(|e| e.to_string())?;
        old["version"] = 1.into();
        if let Some(map) = old.as_object_mut() {
            map.remove("conditioner");
        }
        seeds.push(serde_json::to_vec(&old).map_err(|e| e.to_string())?);
        Ok(seeds)
    }

    fn tokens(&self) -> &'static [&'static str] {
        &[
            "NaN",
            "Infinity",
            "-Infinity",
            "null",
            "true",
            "{}",
            "[]",
            "\"v\"",
            "\"dim\"",
            "\"data\"",
            "\"format\"",
            "\"version\"",
            "\"demud-model\"",
            "\"conditioner\"",
            "\"extraction\"",
            "1e999",
            "-1e999",
            "\"",
            ",",
            ":",
            "[[[[[[[[[[",
            "\\u0000",
        ]
    }

    /// Most byte-level changes only make the JSON unreadable; structural ones reach the
    /// model's checks.
    fn structural_share(&self) -> f64 {
        0.8
    }

    fn mutate(&self, m: &mut Mutator, input: &[u8]) -> Vec<u8> {
        let Ok(mut value) = serde_json::from_slice::<Value>(input) else {
            let mut out = input.to_vec();
            m.replace_number(&mut out);
            return out;
        };
        let mut all = Vec::new();
        paths(&value, &mut all, &mut Vec::new());
        let target = m.pick(&all).clone();
        let source = m.pick(&all).clone();
        let other = node(&mut value, &source).cloned().unwrap_or(Value::Null);
        match m.below(4) {
            0 => {
                // Remove the node from its parent.
                if let Some((last, parent)) = target.split_last() {
                    match (node(&mut value, parent), last) {
                        (Some(Value::Object(map)), PathStep::Key(k)) => {
                            map.remove(k);
                        }
                        (Some(Value::Array(items)), PathStep::Index(i)) if *i < items.len() => {
                            items.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            1 => {
                // Duplicate an array element or add a key.
                match node(&mut value, &target) {
                    Some(Value::Array(items)) => {
                        let item = items.first().cloned().unwrap_or(Value::Null);
                        items.push(item);
                    }
                    Some(Value::Object(map)) => {
                        let key = m
                            .pick(&["extra", "v", "dim", "data", "mean", "k"])
                            .to_string();
                        map.insert(key, other);
                    }
                    _ => {}
                }
            }
            _ => {
                let new = replacement(m, &other);
                if let Some(slot) = node(&mut value, &target) {
                    *slot = new;
                }
            }
        }
        let mut out = if m.rng().random_bool(0.5) {
            serde_json::to_vec(&value)
        } else {
            serde_json::to_vec_pretty(&value)
        }
        .unwrap_or_default();
        if m.rng().random_bool(0.2) {
            // Numbers JSON cannot hold (NaN, 1e999) and its integer limits, in the text.
            let number = *m.pick(NUMBERS);
            if let Some(at) = out.iter().position(|b| b.is_ascii_digit()) {
                out.splice(at..at + 1, number.bytes());
            }
        }
        out.truncate(MAX_INPUT);
        out
    }

    fn check(&self, input: &Path) -> Checks {
        let mut checks = Checks::default();
        if let Some(saved) = checks.read(read_saved_model(input), &[input]) {
            let model = &saved.state.model;
            let (d, r) = (model.dim(), model.rank());
            checks.require(d > 0, || "a model of no features".into());
            checks.require(r <= d, || format!("{r} directions for {d} features"));
            checks.require(
                model.basis().dim() == (d, r) && model.singular_values().len() == r,
                || "basis or singular values of the wrong shape".into(),
            );
            checks.require(model.count() > 0, || "a model of 0 items".into());
            checks.require(
                model
                    .mean()
                    .iter()
                    .chain(model.basis().iter())
                    .chain(model.singular_values().iter())
                    .all(|v| v.is_finite()),
                || "a model with NaN or infinite values".into(),
            );
            let gram = model.basis().t().dot(&model.basis());
            checks.require(
                gram.indexed_iter().all(|((i, j), g)| {
                    let g: f64 = *g;
                    (i == j && ((g - 1.0).abs() < 1e-6 || g.abs() < 1e-6))
                        || (i != j && g.abs() < 1e-6)
                }),
                || "a basis that is not orthonormal".into(),
            );
            if let Some(conditioner) = &saved.state.conditioner {
                checks.require(conditioner.output_dim() == d, || {
                    format!(
                        "a conditioner of {} features for {d}",
                        conditioner.output_dim()
                    )
                });
            }
            // An accepted model is usable, and writes and reads back as itself.
            let xhat = model.reconstruct(Array1::zeros(d).view());
            checks.require(xhat.len() == d, || {
                "a reconstruction of another width".into()
            });
            let again = input.with_file_name("rewritten.json");
            match write_saved_model(&again, &saved).and_then(|()| read_saved_model(&again)) {
                Ok(back) => checks.require(back == saved, || {
                    "an accepted model did not write and read back as itself".into()
                }),
                Err(e) => checks.require(false, || format!("an accepted model: {e}")),
            }
        }
        // The engine's reading of the same bytes: errors are its own, but no panic.
        if let Ok(bytes) = std::fs::read(input) {
            if let Ok(state) = serde_json::from_slice::<ModelState>(&bytes) {
                let _ = state.checked();
            }
        }
        checks
    }
}
