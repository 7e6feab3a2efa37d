//! Training curves as PNG, like the book's matplotlib figures: training values as blue dots
//! (`"bo"`), validation values as a blue line (`"b"`), titled "Training and validation loss"
//! and "Training and validation accuracy", with a legend.
//!
//! Drawing uses plotters' bitmap backend with the DejaVu Sans font embedded in the binary (no
//! system fonts or libraries); the PNG is encoded with `image` and written atomically.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::atomic::write_atomic;

/// Plot width in pixels (matplotlib's default figure is 640×480).
pub const PLOT_WIDTH: u32 = 640;
/// Plot height in pixels.
pub const PLOT_HEIGHT: u32 = 480;

/// Errors while drawing or writing a plot.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Drawing failed.
    #[error("drawing {path}: {message}")]
    Draw {
        /// The plot being drawn.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The two series have different lengths or are empty.
    #[error("plot {path}: {message}")]
    BadData {
        /// The plot.
        path: PathBuf,
        /// What is wrong with the data.
        message: String,
    },
    /// Encoding or writing the PNG failed.
    #[error("writing {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Registers the embedded font under plotters' `sans-serif` family, once per process.
fn register_font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the embedded DejaVu Sans font did not load".to_string())
    })
    .clone()
}

/// Draws `training` (dots) and `validation` (line) per epoch into an RGB buffer of
/// [`PLOT_WIDTH`]×[`PLOT_HEIGHT`].
pub fn render_curves(
    title: &str,
    metric: &str,
    training: &[f32],
    validation: &[f32],
) -> Result<Vec<u8>, String> {
    register_font()?;
    let (w, h) = (PLOT_WIDTH, PLOT_HEIGHT);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = training.len().max(validation.len());
        let finite = training
            .iter()
            .chain(validation)
            .copied()
            .filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.05).max(1e-3);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5f32..n as f32 + 0.5, (lo - pad)..(hi + pad))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(n.clamp(2, 12))
            .x_label_formatter(&|x| format!("{}", x.round() as i64))
            .x_desc("Epochs")
            .y_desc(metric)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
        let pts = |v: &[f32]| -> Vec<(f32, f32)> {
            v.iter()
                .enumerate()
                .filter(|(_, y)| y.is_finite())
                .map(|(i, &y)| (i as f32 + 1.0, y))
                .collect()
        };
        chart
            .draw_series(
                pts(training)
                    .into_iter()
                    .map(|p| Circle::new(p, 4, BLUE.filled())),
            )
            .map_err(|e| e.to_string())?
            .label(format!("Training {metric}"))
            .legend(|(x, y)| Circle::new((x + 10, y), 4, BLUE.filled()));
        chart
            .draw_series(LineSeries::new(pts(validation), BLUE.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(format!("Validation {metric}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .position(legend_corner(training, validation, lo - pad, hi + pad))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(buf)
}

/// The corner (of the four) whose quarter of the plot holds the fewest points, like
/// matplotlib's `loc="best"`.
fn legend_corner(training: &[f32], validation: &[f32], lo: f32, hi: f32) -> SeriesLabelPosition {
    let n = training.len().max(validation.len()).max(1) as f32;
    let mut counts = [0usize; 4]; // upper right, lower right, upper left, lower left
    for series in [training, validation] {
        for (i, &v) in series.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            let right = (i as f32 + 1.0) / n > 0.5;
            let upper = (v - lo) / (hi - lo).max(1e-9) > 0.5;
            let k = match (upper, right) {
                (true, true) => 0,
                (false, true) => 1,
                (true, false) => 2,
                (false, false) => 3,
            };
            counts[k] += 1;
        }
    }
    match (0..4).min_by_key(|&k| counts[k]).unwrap_or(0) {
        0 => SeriesLabelPosition::UpperRight,
        1 => SeriesLabelPosition::LowerRight,
        2 => SeriesLabelPosition::UpperLeft,
        _ => SeriesLabelPosition::LowerLeft,
    }
}

/// Encodes an RGB8 buffer as PNG and writes it atomically.
pub fn write_png_rgb(path: &Path, rgb: &[u8], width: u32, height: u32) -> Result<(), PlotError> {
    use image::ImageEncoder;
    let werr = |message: String| PlotError::Write {
        path: path.to_path_buf(),
        message,
    };
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| werr(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| werr(e.to_string()))?;
    }
    write_atomic(path, &png).map_err(|e| werr(e.to_string()))
}

/// Writes one "Training and validation `metric`" figure to `path` (PNG).
pub fn plot_curves(
    path: &Path,
    metric: &str,
    training: &[f32],
    validation: &[f32],
) -> Result<(), PlotError> {
    if training.is_empty() && validation.is_empty() {
        return Err(PlotError::BadData {
            path: path.to_path_buf(),
            message: "no values".into(),
        });
    }
    let title = format!("Training and validation {metric}");
    let rgb =
        render_curves(&title, metric, training, validation).map_err(|message| PlotError::Draw {
            path: path.to_path_buf(),
            message,
        })?;
    write_png_rgb(path, &rgb, PLOT_WIDTH, PLOT_HEIGHT)
}
