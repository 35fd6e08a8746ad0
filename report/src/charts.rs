//! Discovery-curve charts (PNG and SVG) with plotters, several runs on one chart as in the
//! papers' figures, with the random baseline and the oracle.

use crate::error::{ReportError, Result};
use demud_datasets::atomic::write_atomic;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Fonts tried, in order, for the chart's text (Debian's fonts-dejavu-core first).
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

/// Registers a system font once (plotters' ab_glyph text needs one); `DEMUD_FONT` overrides.
fn ensure_font() -> Result<()> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let mut candidates: Vec<PathBuf> = std::env::var_os("DEMUD_FONT").map(PathBuf::from).into_iter().collect();
        candidates.extend(FONT_CANDIDATES.iter().map(PathBuf::from));
        let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
            "no font for chart text: install Debian's fonts-dejavu-core (the README's setup does) or set DEMUD_FONT to a .ttf file".to_string()
        })?;
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Registered fonts live for the whole process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a usable TrueType font", path.display()))
    })
    .clone()
    .map_err(|reason| ReportError::Font { reason })
}

/// One line of the chart.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// `C_i` for i = 1, 2, ...
    pub curve: &'a [f64],
    /// How it is drawn.
    pub style: LineKind,
}

/// Line styles: runs get palette colours, baselines grey and black.
#[derive(Clone, Copy)]
pub enum LineKind {
    /// The i-th run.
    Run(usize),
    /// The random baseline.
    Random,
    /// The oracle.
    Oracle,
}

/// Distinct, readable run colours ("tab10" without its grey, then darker tones).
pub(crate) const RUN_COLOURS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(0, 0, 128),
    RGBColor(128, 0, 0),
    RGBColor(0, 100, 0),
];

pub(crate) fn style(kind: LineKind) -> ShapeStyle {
    match kind {
        LineKind::Run(i) => RUN_COLOURS[i % RUN_COLOURS.len()].stroke_width(2),
        LineKind::Random => RGBColor(140, 140, 140).stroke_width(2),
        LineKind::Oracle => BLACK.stroke_width(1),
    }
}

/// What a line chart's axes show.
#[derive(Clone, Copy, Debug)]
pub struct Axes<'a> {
    /// Horizontal axis description.
    pub x: &'a str,
    /// Vertical axis description.
    pub y: &'a str,
    /// Decimals of the vertical axis labels.
    pub y_decimals: usize,
}

/// The axes of a discovery curve.
const DISCOVERY_AXES: Axes<'static> = Axes {
    x: "number of selections",
    y: "classes discovered",
    y_decimals: 0,
};

fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    title: &str,
    axes: Axes,
    series: &[Series],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(chart_error)?;
    let t = series
        .iter()
        .map(|s| s.curve.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let c = series
        .iter()
        .flat_map(|s| s.curve.iter().copied())
        .fold(0.0, f64::max);
    let c = if c > 0.0 { c } else { 1.0 };
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(1f64..t as f64, 0f64..c * 1.05)
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .x_desc(axes.x)
        .y_desc(axes.y)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.*}", axes.y_decimals))
        // Whole-number axes get one label per whole number when there are few of them.
        .y_labels(if axes.y_decimals == 0 {
            (c.ceil() as usize + 1).min(11)
        } else {
            10
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(chart_error)?;
    for s in series {
        let st = style(s.style);
        chart
            .draw_series(LineSeries::new(
                s.curve
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| ((i + 1) as f64, v)),
                st,
            ))
            .map_err(chart_error)?
            .label(s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], st));
    }
    legend_and_present(&mut chart, &area)
}

/// Draws a chart's legend (lower right, over a white box) and presents its drawing area.
pub(crate) fn legend_and_present<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    area: &DrawingArea<DB, Shift>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(chart_error)?;
    area.present().map_err(chart_error)?;
    Ok(())
}

/// Writes `<stem>.png` and `<stem>.svg` for `path` (whatever its extension), atomically.
/// Returns the two paths.
pub fn discovery_chart(path: &Path, title: &str, series: &[Series]) -> Result<(PathBuf, PathBuf)> {
    line_chart(path, title, DISCOVERY_AXES, series)
}

/// A line chart (curves over 1, 2, ...) as `<stem>.png` and `<stem>.svg`, atomically.
pub fn line_chart(
    path: &Path,
    title: &str,
    axes: Axes,
    series: &[Series],
) -> Result<(PathBuf, PathBuf)> {
    if series.is_empty() {
        return Err(ReportError::NothingToPlot {
            path: path.to_path_buf(),
        });
    }
    write_png_and_svg(
        path,
        |area| draw(area, title, axes, series),
        |area| draw(area, title, axes, series),
    )
}

fn image_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let buffer = image::RgbImage::from_raw(w, h, rgb.to_vec()).expect("a w x h RGB buffer");
    image::DynamicImage::ImageRgb8(buffer)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(chart_error)?;
    Ok(out)
}

/// plotters' and image's errors, kept as the source.
pub(crate) fn chart_error(e: impl std::error::Error + Send + Sync + 'static) -> ReportError {
    ReportError::Chart {
        source: Box::new(e),
    }
}

/// A training run's losses: `loss.csv` (`epoch,loss`) and the curve `loss.png` / `loss.svg`
/// in `dir`.
pub fn write_loss(dir: &Path, losses: &[f64]) -> Result<()> {
    write_atomic(&dir.join("loss.csv"), |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["epoch", "loss"])?;
        for (e, l) in losses.iter().enumerate() {
            csv.write_record([(e + 1).to_string(), l.to_string()])?;
        }
        csv.flush()?;
        Ok(())
    })?;
    line_chart(
        &dir.join("loss"),
        "Decoder training loss",
        Axes {
            x: "epoch",
            y: "pixel MSE",
            y_decimals: 3,
        },
        &[Series {
            name: "mean loss of the epoch",
            curve: losses,
            style: LineKind::Run(0),
        }],
    )?;
    Ok(())
}

/// One ROC curve: false-positive rates and true-positive rates, point by point.
pub struct RocSeries<'a> {
    /// Legend text.
    pub name: &'a str,
    /// False-positive rates (horizontal).
    pub fpr: &'a [f64],
    /// True-positive rates (vertical).
    pub tpr: &'a [f64],
}

fn draw_roc<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    title: &str,
    curves: &[RocSeries],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(chart_error)?;
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .x_desc("false-positive rate (in-distribution flagged)")
        .y_desc("true-positive rate (out-of-distribution found)")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(chart_error)?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            style(LineKind::Random),
        ))
        .map_err(chart_error)?
        .label("chance")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style(LineKind::Random)));
    for (i, c) in curves.iter().enumerate() {
        let st = style(LineKind::Run(i));
        chart
            .draw_series(LineSeries::new(
                c.fpr.iter().copied().zip(c.tpr.iter().copied()),
                st,
            ))
            .map_err(chart_error)?
            .label(c.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], st));
    }
    legend_and_present(&mut chart, &area)
}

/// ROC curves with the chance diagonal as `<stem>.png` and `<stem>.svg`, atomically.
pub fn roc_chart(path: &Path, title: &str, curves: &[RocSeries]) -> Result<(PathBuf, PathBuf)> {
    if curves.is_empty() {
        return Err(ReportError::NothingToPlot {
            path: path.to_path_buf(),
        });
    }
    write_png_and_svg(
        path,
        |area| draw_roc(area, title, curves),
        |area| draw_roc(area, title, curves),
    )
}

/// Draws a 900 x 600 chart twice, as `<stem>.png` and `<stem>.svg`, each written atomically
/// (the PNG is rendered in memory first, so no partial image is ever on disk). The drawing is
/// given once per backend: plotters' drawing functions are generic over it.
pub(crate) fn write_png_and_svg(
    path: &Path,
    bitmap: impl FnOnce(DrawingArea<BitMapBackend, Shift>) -> Result<()>,
    vector: impl FnOnce(DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<(PathBuf, PathBuf)> {
    ensure_font()?;
    let png = path.with_extension("png");
    let svg = path.with_extension("svg");
    let size = (900u32, 600u32);
    let mut pixels = vec![0u8; (size.0 * size.1 * 3) as usize];
    bitmap(BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area())?;
    let image = image_png(&pixels, size)?;
    write_atomic(&png, |w| Ok(w.write_all(&image)?))?;
    let mut text = String::new();
    vector(SVGBackend::with_string(&mut text, size).into_drawing_area())?;
    write_atomic(&svg, |w| Ok(w.write_all(text.as_bytes())?))?;
    Ok((png, svg))
}
