//! The self-contained HTML report of a run: a folder with `index.html` and everything it shows
//! (no network). The page comes from one template (`templates/report.html`, minijinja, HTML
//! escaping on); each section's content is built by one small function here.
//!
//! With a maps folder (`demud maps`) the selections table gets a column of overlays, where in
//! each image the novelty is: the record's default map first, and a switch (a few lines of
//! inline JavaScript swapping the images' `src` from their `data-map-<kind>` attributes) for
//! the other kinds and the decoder's difference view. Without JavaScript the default map shows.

use crate::curves::{evaluate, plot_rows, RunLabels, TableRow};
use crate::error::{ReportError, Result};
use demud_datasets::atomic::{commit_folder, write_atomic};
use demud_datasets::features::{match_labels, read_features, read_items};
use demud_datasets::run::{
    colour_bar_file, overlay_file, LocalisationReport, MapKind, MapsFolder, RenderFolder,
    RunFolder, Start, MAPS_FILE,
};
use demud_datasets::{CsvLayout, DataError};
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
    /// The run's explanation maps (`demud maps`), when there are some: their overlays are
    /// shown in the selections table.
    pub maps: Option<&'a MapsFolder>,
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
    items: Vec<LocalisationItem>,
    caused_at_least: String,
    scored_ranks: String,
    maps: Vec<LocalisationMap>,
    /// Over every explained planted item, when that is more than the scored ones.
    maps_all: Option<Vec<LocalisationMap>>,
}

#[derive(Serialize)]
struct LocalisationItem {
    rank: usize,
    id: String,
    score: String,
    without_part: String,
    part_share: String,
    apart: bool,
}

#[derive(Serialize)]
struct LocalisationMap {
    title: &'static str,
    items: usize,
    energy_share: String,
    mask_share: String,
    pointing: String,
    within_cell: String,
    deletion: String,
    random: String,
}

fn localisation_maps(maps: &[demud_datasets::run::MapSummary]) -> Vec<LocalisationMap> {
    let auc = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    maps.iter()
        .map(|m| LocalisationMap {
            title: m.map.title(),
            items: m.items,
            energy_share: format!("{:.3}", m.energy_share),
            mask_share: format!("{:.3}", m.mask_share),
            pointing: format!("{:.3}", m.pointing),
            within_cell: format!("{:.3}", m.pointing_within_cell),
            deletion: auc(m.deletion_auc),
            random: auc(m.random_deletion_auc),
        })
        .collect()
}

fn localisation(report: &LocalisationReport) -> Localisation {
    let number = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    Localisation {
        selected: report.selected,
        planted: report.planted,
        ranks: format!("{:?}", report.ranks),
        items: report
            .items
            .iter()
            .map(|item| LocalisationItem {
                rank: item.rank,
                id: item.id.clone(),
                score: format!("{:.4}", item.score),
                without_part: number(item.without_part),
                part_share: item
                    .part_share
                    .map_or("-".into(), |s| format!("{:.0}%", 100.0 * s)),
                apart: item.part_share.is_some_and(|s| s < report.caused_at_least),
            })
            .collect(),
        caused_at_least: format!("{:.0}%", 100.0 * report.caused_at_least),
        scored_ranks: format!("{:?}", report.scored_ranks),
        maps: localisation_maps(&report.maps),
        maps_all: (report.scored_ranks.len() != report.ranks.len())
            .then(|| localisation_maps(&report.maps_all)),
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
    /// Its overlays, when it is among the mapped selections.
    map: Option<SelectionMap>,
}

/// The overlays of one selection: the default shown, every other reachable through the switch.
#[derive(Serialize)]
struct SelectionMap {
    /// The default map's overlay (in `images/`).
    file: String,
    /// Its top-share text.
    share: String,
    /// One per entry of the switch: its image and text for this selection.
    options: Vec<MapOption>,
}

/// One entry of the map switch for one selection.
#[derive(Serialize)]
struct MapOption {
    /// The switch's value (`novelty`, ..., or [`RENDER_DIFFERENCE`]).
    value: String,
    /// The image shown (in `images/`).
    file: String,
    /// The text under it.
    share: String,
}

/// The switch's value of the decoder's difference view (not a maps kind's name, so that it
/// never clashes with one).
const RENDER_DIFFERENCE: &str = "decoder-difference";

/// The ranked selections, with their view files and overlays (copied into `out/images`).
fn selections(
    out: &Path,
    run: &RunFolder,
    render: Option<&RenderFolder>,
    maps: Option<&MapsFolder>,
    labels: &[String],
) -> Result<Vec<SelectionView>> {
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for (i, s) in run.selections().iter().enumerate() {
        let label = labels[i].clone();
        let new_class = !label.is_empty() && seen.insert(label.clone());
        let mut views = Vec::new();
        let render_row = render.and_then(|r| Some((r, r.rows().get(i)?)));
        if let Some((render, row)) = render_row {
            for file in row.view_files() {
                copy_into(&render.dir().join(file), &out.join("images").join(file))?;
                views.push(file.to_string());
            }
        }
        let map = match maps {
            Some(maps) => selection_map(
                out,
                maps,
                i,
                render_row.map(|(_, row)| row.difference.as_str()),
            )?,
            None => None,
        };
        rows.push(SelectionView {
            rank: s.rank,
            views,
            score: format!("{:.4}", s.score),
            label,
            new_class,
            id: s.id.clone(),
            map,
        });
    }
    Ok(rows)
}

/// The overlays of the `i`-th selection (copied into `out/images`), `None` past the mapped
/// ones; `difference` is its decoder difference view, when rendered.
fn selection_map(
    out: &Path,
    maps: &MapsFolder,
    i: usize,
    difference: Option<&str>,
) -> Result<Option<SelectionMap>> {
    let record = maps.record();
    if i >= record.selections {
        return Ok(None);
    }
    let kinds = record.maps.len();
    let mut options = Vec::new();
    let mut shown = None;
    for row in &maps.rows()[i * kinds..(i + 1) * kinds] {
        let file = overlay_file(row.rank, row.map);
        copy_into(&maps.dir().join(&file), &out.join("images").join(&file))?;
        let share = top_share_text(record.top_fraction, row.top_share, row.map);
        if row.map == record.default_map {
            shown = Some((file.clone(), share.clone()));
        }
        options.push(MapOption {
            value: row.map.name().to_string(),
            file,
            share,
        });
    }
    if let Some(file) = difference {
        // Copied with the other views.
        options.push(MapOption {
            value: RENDER_DIFFERENCE.to_string(),
            file: file.to_string(),
            share: String::new(),
        });
    }
    // `maps_section` has checked that the default map is in the folder.
    Ok(shown.map(|(file, share)| SelectionMap {
        file,
        share,
        options,
    }))
}

/// "top 10%: 43% of the score" (the novelty map, which sums to the score), or "... of the
/// map" (the others: a share of their positive mass).
fn top_share_text(fraction: f64, share: f64, kind: MapKind) -> String {
    let of = if kind == MapKind::Novelty {
        "the score"
    } else {
        "the map"
    };
    format!(
        "top {}: {} of {of}",
        fraction_text(fraction),
        percent(share)
    )
}

/// The fraction of pixels a top share is over, as set (10%, 12.5%): not rounded to whole percent.
fn fraction_text(fraction: f64) -> String {
    format!("{}%", (fraction * 1e4).round() / 100.0)
}

/// A share as a percentage: whole percent, or one decimal under 10% where that matters.
fn percent(share: f64) -> String {
    let p = share * 100.0;
    if !p.is_finite() {
        "-".into()
    } else if (p - p.round()).abs() < 0.05 || p.abs() >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// A colour scale's top value, to three significant digits.
fn scale_text(value: f32) -> String {
    let v = f64::from(value);
    if v == 0.0 || (1e-3..1e4).contains(&v.abs()) {
        let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 5) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.2e}")
    }
}

#[derive(Serialize)]
struct Maps {
    network: String,
    layer: String,
    side: usize,
    grid: Option<[usize; 2]>,
    selections: usize,
    top_fraction: String,
    /// The switch's value shown first.
    default_map: String,
    kinds: Vec<MapKindView>,
    /// The switch: every kind, then the decoder's difference view when there is a render.
    switch: Vec<SwitchOption>,
}

#[derive(Serialize)]
struct MapKindView {
    title: &'static str,
    colour_bar: String,
    scale: String,
}

#[derive(Serialize)]
struct SwitchOption {
    value: String,
    title: &'static str,
}

/// The "Explanation maps" section (the colour bars copied into `out/images`), after checking
/// that the folder's maps are the network's, its default among them.
fn maps_section(out: &Path, maps: &MapsFolder, rendered: bool) -> Result<Maps> {
    let record = maps.record();
    let refuse = |message: String| {
        ReportError::Data(DataError::File {
            path: maps.dir().join(MAPS_FILE),
            message,
        })
    };
    if let Some(kind) = maps.kinds().into_iter().find(|k| k.from_decoder()) {
        // Their overlays would take the names of the render's views.
        return Err(refuse(format!(
            "lists the {} map, which the decoder draws (demud render), not demud maps: make the maps again",
            kind.name()
        )));
    }
    if !maps.kinds().contains(&record.default_map) {
        return Err(refuse(format!(
            "the default map {} is not among its maps: make the maps again",
            record.default_map.name()
        )));
    }
    let mut kinds = Vec::new();
    let mut switch = Vec::new();
    for scale in &record.maps {
        let file = colour_bar_file(scale.map);
        copy_into(&maps.dir().join(&file), &out.join("images").join(&file))?;
        kinds.push(MapKindView {
            title: scale.map.title(),
            colour_bar: file,
            scale: scale_text(scale.scale),
        });
        switch.push(SwitchOption {
            value: scale.map.name().to_string(),
            title: scale.map.title(),
        });
    }
    if rendered {
        switch.push(SwitchOption {
            value: RENDER_DIFFERENCE.to_string(),
            title: MapKind::Difference.title(),
        });
    }
    Ok(Maps {
        network: record.network.clone(),
        layer: record.layer.clone(),
        side: record.side,
        grid: record.grid,
        selections: record.selections,
        // The fraction as set (10%, 12.5%), not rounded.
        top_fraction: fraction_text(record.top_fraction),
        default_map: record.default_map.name().to_string(),
        kinds,
        switch,
    })
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
        let maps = input
            .maps
            .map(|m| maps_section(staging, m, input.render.is_some()))
            .transpose()?;
        let context = minijinja::context! {
            title => input.title,
            summary => summary(run),
            discovery => discovery,
            localisation => input.localisation.map(localisation),
            rendered => input.render.is_some(),
            selections => selections(staging, run, input.render, input.maps, &labels)?,
            maps => maps,
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
