//! The figures of `demud noise-check` and `demud labels` (PNG and SVG, as the other charts):
//! overlaid histograms of a score, a tree drawn on a 2-D layout of its nodes, and a
//! class's label frequencies coloured by confidence with a colour bar.

use crate::charts::{
    chart_error, legend_and_present, style, write_png_and_svg, LineKind, RUN_COLOURS,
};
use crate::error::{ReportError, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// One set of values of a histogram chart.
pub struct HistogramSeries<'a> {
    /// Legend text.
    pub name: &'a str,
    /// The values (those outside the chart's range are counted in its end bins).
    pub values: &'a [f64],
}

/// The share of `values` in each of `bins` equal bins over `range` (values outside go to the
/// end bins).
fn bin_shares(values: &[f64], range: (f64, f64), bins: usize) -> Vec<f64> {
    let mut counts = vec![0usize; bins];
    let width = (range.1 - range.0) / bins as f64;
    for &v in values {
        let b = ((v - range.0) / width).floor();
        counts[(b.max(0.0) as usize).min(bins - 1)] += 1;
    }
    let n = values.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

fn draw_histogram<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    range: (f64, f64),
    bins: usize,
    series: &[HistogramSeries],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(chart_error)?;
    let shares: Vec<Vec<f64>> = series
        .iter()
        .map(|s| bin_shares(s.values, range, bins))
        .collect();
    let top = shares
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(range.0..range.1, 0f64..top * 1.05)
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("share of the set's images")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(chart_error)?;
    let width = (range.1 - range.0) / bins as f64;
    for (i, (s, share)) in series.iter().zip(&shares).enumerate() {
        let colour = RUN_COLOURS[i % RUN_COLOURS.len()];
        // Translucent bars, so that overlapping sets stay visible.
        chart
            .draw_series(share.iter().enumerate().map(|(b, &v)| {
                let x0 = range.0 + b as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, v)], colour.mix(0.35).filled())
            }))
            .map_err(chart_error)?
            .label(s.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], colour.filled()));
    }
    legend_and_present(&mut chart, &area)
}

/// Overlaid histograms (shares of each set per bin, `bins` bins over `range`) as
/// `<stem>.png` and `<stem>.svg`, atomically.
pub fn histogram_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    range: (f64, f64),
    bins: usize,
    series: &[HistogramSeries],
) -> Result<(PathBuf, PathBuf)> {
    if series.is_empty() || bins == 0 || range.1 <= range.0 {
        return Err(ReportError::NothingToPlot {
            path: path.to_path_buf(),
        });
    }
    write_png_and_svg(
        path,
        |area| draw_histogram(area, title, x_desc, range, bins, series),
        |area| draw_histogram(area, title, x_desc, range, bins, series),
    )
}

/// A tree drawn on a layout of its nodes.
pub struct TreeFigure<'a> {
    /// Each node's position.
    pub points: &'a [(f64, f64)],
    /// Each node's label.
    pub labels: &'a [String],
    /// The tree's edges: two nodes and the weight printed at the edge's middle.
    pub edges: &'a [(usize, usize, f64)],
    /// Nodes drawn in red (the noise).
    pub highlighted: &'a [usize],
}

fn draw_tree<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    title: &str,
    tree: &TreeFigure,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(chart_error)?;
    let span = |f: fn(&(f64, f64)) -> f64| {
        let lo = tree.points.iter().map(f).fold(f64::INFINITY, f64::min);
        let hi = tree.points.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.12).max(1e-6);
        (lo - pad)..(hi + pad)
    };
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(span(|p| p.0), span(|p| p.1))
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("MDS axis 1")
        .y_desc("MDS axis 2")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(chart_error)?;
    for &(a, b, w) in tree.edges {
        let (pa, pb) = (tree.points[a], tree.points[b]);
        chart
            .draw_series(LineSeries::new([pa, pb], style(LineKind::Random)))
            .map_err(chart_error)?;
        let mid = ((pa.0 + pb.0) / 2.0, (pa.1 + pb.1) / 2.0);
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{w:.3}"),
                mid,
                ("sans-serif", 11)
                    .into_font()
                    .color(&RGBColor(110, 110, 110)),
            )))
            .map_err(chart_error)?;
    }
    for (i, (&p, label)) in tree.points.iter().zip(tree.labels).enumerate() {
        let colour = if tree.highlighted.contains(&i) {
            RGBColor(214, 39, 40)
        } else {
            RUN_COLOURS[0]
        };
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(p)
                    + Circle::new((0, 0), 5, colour.filled())
                    + Text::new(
                        label.clone(),
                        (7, -7),
                        ("sans-serif", 13).into_font().color(&colour),
                    ),
            ))
            .map_err(chart_error)?;
    }
    area.present().map_err(chart_error)?;
    Ok(())
}

/// A tree on a 2-D layout (edges grey with their weights, nodes labelled, highlighted ones
/// red) as `<stem>.png` and `<stem>.svg`, atomically.
pub fn tree_chart(path: &Path, title: &str, tree: &TreeFigure) -> Result<(PathBuf, PathBuf)> {
    if tree.points.is_empty() || tree.labels.len() != tree.points.len() {
        return Err(ReportError::NothingToPlot {
            path: path.to_path_buf(),
        });
    }
    write_png_and_svg(
        path,
        |area| draw_tree(area, title, tree),
        |area| draw_tree(area, title, tree),
    )
}

/// Viridis at `t` in [0, 1], linearly between 5 of its colours (dark blue to yellow).
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t.clamp(0.0, 1.0) * 4.0;
    let i = (x.floor() as usize).min(3);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// One class's top-1 labels: names, frequencies (shares of the class's images) and mean
/// confidences, most frequent first.
pub struct LabelFigure<'a> {
    /// The label names, one per row of the chart, top to bottom.
    pub labels: &'a [String],
    /// Each label's share of the class's images.
    pub frequency: &'a [f64],
    /// Each label's mean confidence, in [0, 1]: the point's colour.
    pub confidence: &'a [f64],
}

fn draw_labels<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    title: &str,
    figure: &LabelFigure,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(chart_error)?;
    let (main, bar) = area.split_horizontally(800);
    let n = figure.labels.len();
    let top = figure
        .frequency
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut chart = ChartBuilder::on(&main)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(230)
        .build_cartesian_2d(0f64..top * 1.08, -0.5f64..n as f64 - 0.5)
        .map_err(chart_error)?;
    // Row r (0 at the top) sits at y = n − 1 − r.
    let names = figure.labels.to_vec();
    chart
        .configure_mesh()
        .x_desc("share of the class's images with this top-1 label")
        .y_labels(n.max(1))
        .y_label_formatter(&move |y| {
            let r = (n as f64 - 1.0 - y).round();
            if (y - y.round()).abs() < 1e-6 && r >= 0.0 && (r as usize) < n {
                names[r as usize].clone()
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(chart_error)?;
    chart
        .draw_series(
            figure
                .frequency
                .iter()
                .zip(figure.confidence)
                .enumerate()
                .map(|(r, (&f, &c))| Circle::new((f, (n - 1 - r) as f64), 6, viridis(c).filled())),
        )
        .map_err(chart_error)?;
    // The colour bar: mean confidence 0..1.
    let mut scale = ChartBuilder::on(&bar)
        .margin_top(60)
        .margin_bottom(52)
        .margin_right(40)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(chart_error)?;
    scale
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc("mean confidence")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(chart_error)?;
    let steps = 50;
    scale
        .draw_series((0..steps).map(|i| {
            let y0 = i as f64 / steps as f64;
            Rectangle::new(
                [(0.0, y0), (1.0, y0 + 1.0 / steps as f64)],
                viridis(y0 + 0.5 / steps as f64).filled(),
            )
        }))
        .map_err(chart_error)?;
    area.present().map_err(chart_error)?;
    Ok(())
}

/// One class's label frequencies, points coloured by mean confidence with a colour bar, as
/// `<stem>.png` and `<stem>.svg`, atomically.
pub fn label_chart(path: &Path, title: &str, figure: &LabelFigure) -> Result<(PathBuf, PathBuf)> {
    if figure.labels.is_empty()
        || figure.frequency.len() != figure.labels.len()
        || figure.confidence.len() != figure.labels.len()
    {
        return Err(ReportError::NothingToPlot {
            path: path.to_path_buf(),
        });
    }
    write_png_and_svg(
        path,
        |area| draw_labels(area, title, figure),
        |area| draw_labels(area, title, figure),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_hold_shares_and_the_ends_take_what_is_outside() {
        let s = bin_shares(&[-1.0, 0.1, 0.5, 0.99, 1.0, 3.0], (0.0, 1.0), 2);
        assert_eq!(s, vec![2.0 / 6.0, 4.0 / 6.0]);
    }

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(2.0), viridis(1.0));
    }

    #[test]
    fn the_figures_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let (png, svg) = histogram_chart(
            &dir.path().join("h"),
            "t",
            "max softmax",
            (0.0, 1.0),
            10,
            &[HistogramSeries {
                name: "real",
                values: &[0.2, 0.9],
            }],
        )
        .unwrap();
        assert!(png.is_file() && svg.is_file());
        let labels = ["a".to_string(), "b".to_string(), "noise".to_string()];
        tree_chart(
            &dir.path().join("t"),
            "tree",
            &TreeFigure {
                points: &[(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)],
                labels: &labels,
                edges: &[(0, 1, 0.1), (0, 2, 0.2)],
                highlighted: &[2],
            },
        )
        .unwrap();
        let svg = std::fs::read_to_string(dir.path().join("t.svg")).unwrap();
        assert!(svg.contains("noise") && svg.contains("0.200"));
        label_chart(
            &dir.path().join("l"),
            "class",
            &LabelFigure {
                labels: &labels[..2],
                frequency: &[0.7, 0.3],
                confidence: &[0.9, 0.2],
            },
        )
        .unwrap();
        assert!(dir.path().join("l.png").is_file());
    }
}
