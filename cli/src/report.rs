//! `demud report`: a self-contained HTML report of a discovery run.
//!
//! The folder it writes holds `index.html` and everything it shows (`images/`, the discovery
//! chart, the decoder's loss curve): no network, open it anywhere. It has the ranked
//! selections (image, expected and novel content, difference map, score, label, and whether
//! the selection found a new class), the discovery curve with the random baseline and the
//! oracle and the nAUC table when labels are known, the localisation scores when the render
//! folder has them, the decoder's training, and the run's parameters.

use crate::curve::{evaluate, plot_rows, RunLabels, TableRow};
use crate::render::{read_selections_file, view_files, SelectionRow};
use crate::train_decoder::default_items;
use anyhow::{Context, Result};
use clap::Args;
use demud_datasets::features::{match_labels, read_features, read_items};
use demud_datasets::CsvLayout;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Options of `demud report`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// The discovery run's folder.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// The render folder (default: <run>/render when it exists).
    #[arg(long, value_name = "DIR")]
    pub render: Option<PathBuf>,
    /// Labels of the whole collection, `id,label` (default: those of the run's features).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Output folder (default: <run>/report).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Title of the page.
    #[arg(long, default_value = "DEMUD discovery report")]
    pub title: String,
    /// Random orders averaged for the random baseline.
    #[arg(long, default_value_t = 1000)]
    pub random: usize,
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The labels of the whole collection: `--labels`, else those of the run's features file.
fn population(
    args: &ReportArgs,
    run: &serde_json::Value,
) -> Result<Option<(Vec<String>, Vec<String>)>> {
    let path_of = |key: &str| run.get(key).and_then(|v| v.as_str()).map(PathBuf::from);
    let Some(features) = path_of("features") else {
        return Ok(None);
    };
    let items = path_of("items").or_else(|| default_items(&features).filter(|p| p.is_file()));
    let table = read_features(&features, CsvLayout::default(), items.as_deref())
        .with_context(|| "reading the run's features for the collection's labels")?;
    let labels = match args.labels.clone().or_else(|| path_of("labels")) {
        Some(path) => Some(match_labels(&table.ids, &read_items(&path)?, &path)?),
        None => table.labels,
    };
    Ok(labels.map(|l| (table.ids, l)))
}

/// Copies a file into the report (atomically, as every output).
fn copy_into(from: &Path, to: &Path) -> Result<()> {
    let mut source =
        std::fs::File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    crate::output::write_atomic(to, |w| {
        std::io::copy(&mut source, w)?;
        Ok(())
    })
}

const STYLE: &str = "body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:26px}h2{font-size:20px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:middle}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
img.view{width:128px;height:128px;image-rendering:auto;display:block}
tr.new td.label{font-weight:bold;color:#1a5e1a}.note{color:#555;font-size:14px}";

/// `demud report`.
pub fn run(args: &ReportArgs) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| args.run.join("report"));
    let run_json_path = args.run.join("run.json");
    let run_json: serde_json::Value = std::fs::read_to_string(&run_json_path)
        .with_context(|| format!("cannot read {}", run_json_path.display()))
        .and_then(|t| {
            serde_json::from_str(&t)
                .with_context(|| format!("{}: not JSON", run_json_path.display()))
        })?;
    let render = args.render.clone().or_else(|| {
        let default = args.run.join("render");
        default.join("renders.csv").is_file().then_some(default)
    });
    let selections = match &render {
        Some(dir) => read_selections_file(&dir.join("renders.csv"))?,
        None => read_selections_file(&args.run.join("selections.csv"))?,
    };
    let population = population(args, &run_json)?;
    let label_of = |s: &SelectionRow| -> String {
        match &population {
            Some((ids, labels)) if s.index < ids.len() && ids[s.index] == s.id => {
                labels[s.index].clone()
            }
            _ => s.label.clone(),
        }
    };

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&args.title),
        escape(&args.title)
    );
    let field = |key: &str| {
        run_json
            .get(key)
            .map(|v| v.to_string().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let _ = writeln!(
        html,
        "<p>{} selections from {} items of {} features; k = {}, update {}, {}. Features: <code>{}</code>.</p>",
        selections.len(),
        field("n_items"),
        field("n_features"),
        field("k"),
        escape(&field("update")),
        // With a prior or a saved model the first selection is scored against that model.
        match (run_json.get("prior"), run_json.get("model_in")) {
            (Some(p), _) if !p.is_null() => format!(
                "starting from a model of the prior items in <code>{}</code>",
                escape(p.as_str().unwrap_or_default())
            ),
            (_, Some(m)) if !m.is_null() => format!(
                "continuing the saved model <code>{}</code>",
                escape(m.as_str().unwrap_or_default())
            ),
            _ => format!("init {}", escape(&field("init"))),
        },
        escape(&field("features"))
    );

    // Discovery curve and nAUC.
    if let Some((_, labels)) = &population {
        let run_labels: Vec<String> = selections.iter().map(&label_of).collect();
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
            labels,
            &at,
            args.random,
            0,
        )?;
        plot_rows(&out.join("discovery"), &rows, "Discovery curve")?;
        let classes: HashSet<&String> = labels.iter().collect();
        let _ = writeln!(
            html,
            "<h2>Discovery</h2><p>{} classes in the collection. nAUC<sub>t</sub>: area under the discovery curve up to t selections, over the oracle's (100 = a new class at every selection while any remain).</p><img id=\"discovery\" src=\"discovery.png\" alt=\"discovery curve\" width=\"900\" height=\"600\">",
            classes.len()
        );
        html += "<table id=\"nauc\"><tr><th>run</th>";
        for t in &at {
            let _ = write!(html, "<th>nAUC<sub>{t}</sub></th>");
        }
        html += "</tr>\n";
        for row in &rows {
            let _ = write!(html, "<tr><td>{}</td>", escape(&row.name));
            for v in &row.values {
                let _ = write!(
                    html,
                    "<td class=\"num\">{}</td>",
                    v.map_or("-".into(), |v| format!("{v:.2}"))
                );
            }
            html += "</tr>\n";
        }
        html += "</table>\n";
    }

    // Localisation.
    if let Some(dir) = &render {
        let path = dir.join("localisation.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let report: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", path.display()))?;
            let _ = writeln!(
                html,
                "<h2>Explanation localisation</h2><p>{} of {} planted novelties selected (ranks {}). Energy in mask: share of the map's mass inside the planted part; chance: the part's share of the image; pointing: share of maps whose maximum falls inside it.</p>",
                report["selected"], report["planted"], report["ranks"]
            );
            html += "<table id=\"localisation\"><tr><th>map</th><th>items</th><th>energy in mask</th><th>chance</th><th>pointing</th></tr>\n";
            for m in report["maps"].as_array().into_iter().flatten() {
                let name = match m["map"].as_str() {
                    Some("novel") => "novel content dec(e)",
                    _ => "difference |dec(x) − dec(x̂)|",
                };
                let num = |k: &str| m[k].as_f64().map_or("-".into(), |v| format!("{v:.3}"));
                let _ = writeln!(
                    html,
                    "<tr><td>{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    m["items"], num("energy_share"), num("mask_share"), num("pointing")
                );
            }
            html += "</table>\n";
        }
    }

    // Selections.
    let _ = writeln!(
        html,
        "<h2>Selections</h2><p class=\"note\">In the order DEMUD chose them. Decoded: the decoder's image of the item's own feature vector x (how well it can draw at all); expected: its image of the reconstruction x̂ from the model of what was seen before; novel: its image of the residual e = x − x̂; difference: where the decoder's images of x and x̂ differ (brighter = more). Bold labels are the first of their class.</p>"
    );
    html += "<table id=\"selections\"><tr><th>rank</th><th>image</th>";
    if render.is_some() {
        html += "<th>decoded dec(x)</th><th>expected dec(x̂)</th><th>novel dec(e)</th><th>difference</th>";
    }
    html += "<th>score</th><th>label</th><th>id</th></tr>\n";
    let mut seen = HashSet::new();
    for s in &selections {
        let label = label_of(s);
        let new = !label.is_empty() && seen.insert(label.clone());
        let _ = write!(
            html,
            "<tr class=\"selection{}\" data-rank=\"{}\"><td class=\"num\">{}</td>",
            if new { " new" } else { "" },
            s.rank,
            s.rank
        );
        if let Some(dir) = &render {
            for file in view_files(s.rank) {
                copy_into(&dir.join(&file), &out.join("images").join(&file))?;
                let _ = write!(
                    html,
                    "<td><img class=\"view\" src=\"images/{file}\" alt=\"{file}\"></td>"
                );
            }
        }
        let _ = writeln!(
            html,
            "<td class=\"num\">{:.4}</td><td class=\"label\">{}{}</td><td><code>{}</code></td></tr>",
            s.score,
            escape(&label),
            if new { " (new class)" } else { "" },
            escape(&s.id)
        );
    }
    html += "</table>\n";

    // Decoder.
    if let Some(dir) = &render {
        if let Ok(text) = std::fs::read_to_string(dir.join("render.json")) {
            let info: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let record = &info["decoder_record"];
            let _ = writeln!(
                html,
                "<h2>Decoder</h2><p>Up-convolutional decoder (Dosovitskiy &amp; Brox 2016, fully connected design), trained on this collection: {} px output, {} pairs, {} epochs, final pixel MSE {}.</p>",
                record["arch"]["image_size"],
                record["training"]["items"],
                record["training"]["epochs_done"],
                record["training"]["losses"].as_array().and_then(|l| l.last()).and_then(|v| v.as_f64()).map_or("-".into(), |v| format!("{v:.4}"))
            );
            if let Some(decoder) = info["decoder"].as_str() {
                let loss = Path::new(decoder).join("loss.png");
                if loss.is_file() {
                    copy_into(&loss, &out.join("loss.png"))?;
                    html += "<img id=\"loss\" src=\"loss.png\" alt=\"decoder training loss\" width=\"600\" height=\"400\">\n";
                }
            }
        }
    }

    // Parameters.
    html += "<h2>Run parameters</h2><table id=\"parameters\">";
    if let Some(map) = run_json.as_object() {
        for (k, v) in map {
            let _ = write!(
                html,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(k),
                escape(v.to_string().trim_matches('"'))
            );
        }
    }
    html += "</table>\n</body></html>\n";
    crate::output::write_atomic(&out.join("index.html"), |w| {
        Ok(std::io::Write::write_all(w, html.as_bytes())?)
    })?;
    println!("report: {}", out.join("index.html").display());
    Ok(())
}
