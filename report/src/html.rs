//! The self-contained HTML report of a run: a folder with `index.html` and everything it shows
//! (no network). The page comes from one template (`templates/report.html`, minijinja, HTML
//! escaping on); each section's content is built by one small function here.

use crate::curves::{evaluate, plot_rows, RunLabels, TableRow};
use crate::error::{ReportError, Result};
use demud_datasets::atomic::{commit_folder, write_atomic};
use demud_datasets::features::{match_labels, read_features, read_items};
use demud_datasets::run::{LocalisationReport, RenderFolder, RunFolder, Start};
use demud_datasets::CsvLayout;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const TEMPLATE: &str = include_str!("../templates/report.html");

/// What a report shows.
pub struct ReportInput<'a> {
    /// The page's title.
    pub title: &'a str,
    /// The run.
    pub run: &'a RunFolder,
    /// Its render, when there is one.
    pub render: Option<&'a RenderFolder>,
    /// The render's localisation scores, when there are some.
    pub localisation: Option<&'a LocalisationReport>,
    /// The labels of the whole collection, in the run's item order, when known.
    pub labels: Option<&'a [String]>,
    /// Random orders averaged for the random baseline.
    pub random_orders: usize,
}

/// The labels of the run's whole collection: from `labels` (an `id,label` file matched by
/// id), else from the run's labels file, else those of its feature file; `None` when the
/// collection is unlabelled.
pub fn collection_labels(run: &RunFolder, labels: Option<&Path>) -> Result<Option<Vec<String>>> {
    let items = run.items_path();
    let features = run.features_path();
    let table = read_features(&features, CsvLayout::default(), items.as_deref())?;
    // The file must still be the one the run ranked: same item count, same ids at the
    // selected rows.
    let changed = table.ids.len() != run.record().n_items
        || run
            .selections()
            .iter()
            .any(|s| table.ids.get(s.index) != Some(&s.id));
    if changed {
        return Err(ReportError::FeaturesChanged { path: features });
    }
    let labels_file = labels.map(Path::to_path_buf).or_else(|| run.labels_path());
    Ok(match labels_file {
        Some(path) => Some(match_labels(&table.ids, &read_items(&path)?, &path)?),
        None => table.labels,
    })
}

#[derive(Serialize)]
struct Summary {
    selections: usize,
    n_items: usize,
    n_features: usize,
    k: usize,
    update: String,
    start: String,
    conditioning: String,
    features: String,
}

fn summary(run: &RunFolder) -> Summary {
    let r = run.record();
    // With a prior or a saved model the first selection is scored against that model.
    let start = match &r.start {
        Start::Prior { path } => format!(
            "starting from a model of the prior items in {}",
            path.display()
        ),
        Start::Model { path } => format!("continuing the saved model {}", path.display()),
        Start::Index { item } => format!("init item {item}"),
        other => format!("init {}", json_word(other)),
    };
    Summary {
        selections: run.selections().len(),
        n_items: r.n_items,
        n_features: r.n_features,
        k: r.k,
        update: json_word(&r.update),
        start,
        conditioning: match &r.conditioning {
            Some(c) if !c.steps.is_none() => format!(
                "features conditioned by {} (fitted on the {}, {} dimensions)",
                c.steps,
                json_word(&c.fitted_on),
                c.dims
            ),
            _ => "raw features".into(),
        },
        features: r.features.display().to_string(),
    }
}

/// A serialisable value as the word run.json uses for it.
fn json_word(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(map)) => map
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string(),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

#[derive(Serialize)]
struct Discovery {
    classes: usize,
    at: Vec<usize>,
    rows: Vec<DiscoveryRow>,
}

#[derive(Serialize)]
struct DiscoveryRow {
    name: String,
    values: Vec<String>,
}

/// The discovery curve (written as `discovery.png`/`.svg` in `out`) and the nAUC table.
fn discovery(
    out: &Path,
    run_labels: Vec<String>,
    population: &[String],
    orders: usize,
) -> Result<Discovery> {
    let n = run_labels.len();
    let mut at: Vec<usize> = [10, 50, 300, n]
        .into_iter()
        .filter(|&t| t <= n && t > 0)
        .collect();
    at.dedup();
    let rows: Vec<TableRow> = evaluate(
        &[RunLabels {
            name: "DEMUD".into(),
            labels: run_labels,
        }],
        population,
        &at,
        orders,
        0,
    )?;
    plot_rows(&out.join("discovery"), &rows, "Discovery curve")?;
    let classes = population.iter().collect::<HashSet<_>>().len();
    Ok(Discovery {
        classes,
        at,
        rows: rows
            .into_iter()
            .map(|row| DiscoveryRow {
                name: row.name,
                values: row
                    .values
                    .iter()
                    .map(|v| v.map_or("-".into(), |v| format!("{v:.2}")))
                    .collect(),
            })
            .collect(),
    })
}

#[derive(Serialize)]
struct Localisation {
    selected: usize,
    planted: usize,
    ranks: String,
    maps: Vec<LocalisationMap>,
}

#[derive(Serialize)]
struct LocalisationMap {
    title: &'static str,
    items: usize,
    energy_share: String,
    mask_share: String,
    pointing: String,
}

fn localisation(report: &LocalisationReport) -> Localisation {
    Localisation {
        selected: report.selected,
        planted: report.planted,
        ranks: format!("{:?}", report.ranks),
        maps: report
            .maps
            .iter()
            .map(|m| LocalisationMap {
                title: m.map.title(),
                items: m.items,
                energy_share: format!("{:.3}", m.energy_share),
                mask_share: format!("{:.3}", m.mask_share),
                pointing: format!("{:.3}", m.pointing),
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct SelectionView {
    rank: usize,
    views: Vec<String>,
    score: String,
    label: String,
    new_class: bool,
    id: String,
}

/// The ranked selections, with their view files (copied into `out/images`).
fn selections(
    out: &Path,
    run: &RunFolder,
    render: Option<&RenderFolder>,
    labels: &[String],
) -> Result<Vec<SelectionView>> {
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for (i, s) in run.selections().iter().enumerate() {
        let label = labels[i].clone();
        let new_class = !label.is_empty() && seen.insert(label.clone());
        let mut views = Vec::new();
        if let Some(row) = render.and_then(|r| r.rows().get(i)) {
            for file in row.view_files() {
                copy_into(
                    &render.expect("a render").dir().join(file),
                    &out.join("images").join(file),
                )?;
                views.push(file.to_string());
            }
        }
        rows.push(SelectionView {
            rank: s.rank,
            views,
            score: format!("{:.4}", s.score),
            label,
            new_class,
            id: s.id.clone(),
        });
    }
    Ok(rows)
}

#[derive(Serialize)]
struct Decoder {
    image_size: usize,
    pairs: usize,
    epochs: usize,
    final_loss: String,
    loss_chart: bool,
}

/// The decoder's training (its loss chart copied as `out/loss.png` when it exists).
fn decoder(out: &Path, render: &RenderFolder) -> Result<Decoder> {
    let d = &render.record().decoder_summary;
    let loss = render.decoder_dir().join("loss.png");
    let loss_chart = loss.is_file();
    if loss_chart {
        copy_into(&loss, &out.join("loss.png"))?;
    }
    Ok(Decoder {
        image_size: d.image_size,
        pairs: d.pairs,
        epochs: d.epochs,
        final_loss: d.final_loss.map_or("-".into(), |v| format!("{v:.4}")),
        loss_chart,
    })
}

/// Every field of run.json, as name and text.
fn parameters(run: &RunFolder) -> Vec<(String, String)> {
    let value = serde_json::to_value(run.record()).unwrap_or_default();
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// Copies a file into the report (atomically, as every output).
fn copy_into(from: &Path, to: &Path) -> Result<()> {
    let mut source = std::fs::File::open(from).map_err(|source| demud_datasets::DataError::Io {
        path: from.to_path_buf(),
        source,
    })?;
    Ok(write_atomic(to, |w| {
        std::io::copy(&mut source, w)?;
        Ok(())
    })?)
}

/// Writes the report folder `out` whole; returns the path of its `index.html`.
pub fn write_report(out: &Path, input: &ReportInput) -> Result<PathBuf> {
    let run = input.run;
    // A selection's label: the collection's when known, else the one the run recorded.
    let labels: Vec<String> = run
        .selections()
        .iter()
        .map(|s| match input.labels {
            Some(all) => all[s.index].clone(),
            None => s.label.clone(),
        })
        .collect();
    commit_folder(out, |staging| -> Result<()> {
        let discovery = match input.labels {
            Some(population) => Some(discovery(
                staging,
                labels.clone(),
                population,
                input.random_orders,
            )?),
            None => None,
        };
        let decoder = input.render.map(|r| decoder(staging, r)).transpose()?;
        let context = minijinja::context! {
            title => input.title,
            summary => summary(run),
            discovery => discovery,
            localisation => input.localisation.map(localisation),
            rendered => input.render.is_some(),
            selections => selections(staging, run, input.render, &labels)?,
            decoder => decoder,
            parameters => parameters(run),
        };
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_template("report.html", TEMPLATE)?;
        let html = env.get_template("report.html")?.render(context)?;
        write_atomic(&staging.join("index.html"), |w| {
            Ok(w.write_all(html.as_bytes())?)
        })?;
        Ok(())
    })?;
    Ok(out.join("index.html"))
}
