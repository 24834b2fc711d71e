//! Charts of a plan, as SVG and PNG (plotters): the timeline (bytes moved over time, per batch
//! and in all) and the what-if curves (duration against egress IPs, one curve per bandwidth).
//!
//! The PNG needs glyphs to draw text; a machine without fonts (a fresh Debian) has none, so the
//! DejaVu Sans font is compiled in (`assets/fonts`, Bitstream Vera licence) and registered with
//! plotters once. The format follows the file's extension: `.svg` or `.png`.

use super::schedule::{Plan, WhatIf};
use super::units::{format_bandwidth, format_bytes};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

/// The font every chart uses, compiled in so no system font is needed.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// Chart size in pixels.
const SIZE: (u32, u32) = (1000, 600);

/// A chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot draw the chart: {message}", path.display())]
pub struct ChartError {
    /// The file being written.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

type DrawResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Writes the timeline chart of `plan` to `path` (`.svg` or `.png`).
pub fn timeline_chart(plan: &Plan, path: &Path) -> Result<(), ChartError> {
    render(
        path,
        |root| draw_timeline(root, plan),
        |root| draw_timeline(root, plan),
    )
}

/// Writes the what-if chart of `grid` to `path` (`.svg` or `.png`); a `window` is drawn as a
/// horizontal line.
pub fn what_if_chart(
    grid: &WhatIf,
    window: Option<Duration>,
    path: &Path,
) -> Result<(), ChartError> {
    render(
        path,
        |root| draw_what_if(root, grid, window),
        |root| draw_what_if(root, grid, window),
    )
}

/// Picks the backend from the extension and turns plotters' errors into [`ChartError`].
fn render(
    path: &Path,
    svg: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
    png: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> DrawResult,
) -> Result<(), ChartError> {
    static REGISTER: Once = Once::new();
    let fail = |message: String| ChartError {
        path: path.to_path_buf(),
        message,
    };
    REGISTER.call_once(|| {
        // The font is ours and known good (unit-tested); failing here would only lose text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let outcome = match extension.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(path, SIZE).into_drawing_area();
            svg(&root).and_then(|()| root.present().map_err(Into::into))
        }
        Some("png") => {
            let root = BitMapBackend::new(path, SIZE).into_drawing_area();
            png(&root).and_then(|()| root.present().map_err(Into::into))
        }
        _ => return Err(fail("the file name must end in .svg or .png".into())),
    };
    outcome.map_err(|e| fail(e.to_string()))
}

/// A time axis unit that keeps the numbers readable: minutes, hours or days.
fn time_unit(longest_s: f64) -> (f64, &'static str) {
    if longest_s < 2.0 * 3600.0 {
        (60.0, "minutes")
    } else if longest_s < 4.0 * 86_400.0 {
        (3600.0, "hours")
    } else {
        (86_400.0, "days")
    }
}

fn draw_timeline<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, plan: &Plan) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let total_s = plan.total.as_secs_f64().max(1.0);
    let (unit_s, unit) = time_unit(total_s);
    let gb = |bytes: f64| bytes / 1e9;
    let top = gb(plan.bytes as f64).max(1e-6) * 1.05;
    let caption = format!(
        "{} mailboxes, {} over {} with {} egress IP(s)",
        plan.mailboxes,
        format_bytes(plan.bytes as f64),
        format_bandwidth(plan.link.bandwidth_bits_per_s),
        plan.link.egress_ips
    );
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(0f64..total_s / unit_s * 1.02, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc(format!("time since start ({unit})"))
        .y_desc("GB moved (cumulative)")
        .label_style(("sans-serif", 14))
        .draw()?;
    // The total first, so the batches (batch 1 starts on it) are drawn over it.
    let total = plan.timeline.iter().map(|p| (p.at_s / unit_s, gb(p.bytes)));
    chart
        .draw_series(LineSeries::new(total, BLACK.stroke_width(3)))?
        .label("all batches")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(3)));
    for (i, batch) in plan.batches.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        let points = batch
            .progress
            .iter()
            .map(|p| (p.at_s / unit_s, gb(p.bytes)));
        let series = chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
        if i < 6 {
            series
                .label(format!("batch {}", batch.number))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn draw_what_if<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    grid: &WhatIf,
    window: Option<Duration>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let longest = grid
        .totals_s
        .iter()
        .flatten()
        .copied()
        .chain(window.map(|w| w.as_secs_f64()))
        .fold(1.0, f64::max);
    let (unit_s, unit) = time_unit(longest);
    let max_ips = grid.ips.iter().copied().max().unwrap_or(1).max(2);
    let mut chart = ChartBuilder::on(root)
        .caption(
            "What if: migration time by egress IPs and bandwidth",
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(1u32..max_ips, 0f64..longest / unit_s * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("egress IPs")
        .y_desc(format!("total duration ({unit})"))
        .label_style(("sans-serif", 14))
        .draw()?;
    for (j, &bandwidth) in grid.bandwidths_bits_per_s.iter().enumerate() {
        let colour = Palette99::pick(j).to_rgba();
        let points: Vec<(u32, f64)> = grid
            .ips
            .iter()
            .zip(&grid.totals_s)
            .map(|(&ips, row)| (ips, row[j] / unit_s))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(format_bandwidth(bandwidth))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    }
    if let Some(window) = window {
        let level = window.as_secs_f64() / unit_s;
        chart
            .draw_series(DashedLineSeries::new(
                [(1, level), (max_ips, level)],
                10,
                6,
                BLACK.stroke_width(2),
            ))?
            .label("window")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::inventory::{Inventory, MailboxSize};
    use crate::planner::model::VelocityModel;
    use crate::planner::schedule::{plan, what_if, Budget, Link};

    #[test]
    fn writes_svg_and_png_without_system_fonts() {
        let model = VelocityModel::builtin();
        let profile = model.profile("dovecot").unwrap();
        let inventory = Inventory {
            mailboxes: (0..400)
                .map(|i| MailboxSize {
                    source_identity: format!("u{i}"),
                    messages: 5_000,
                    bytes: 400_000_000 + i * 1_000_000,
                })
                .collect(),
        };
        let link = Link {
            bandwidth_bits_per_s: 200e6,
            rtt: Duration::from_millis(40),
            egress_ips: 2,
        };
        let budget = Budget::default();
        let planned = plan(&inventory, &link, &budget, &model, &profile, None);
        let grid = what_if(
            &inventory,
            &link,
            &budget,
            &model,
            &profile,
            &[1, 2, 4],
            &[100e6, 200e6],
        );
        let dir = tempfile::tempdir().unwrap();
        for name in ["timeline.svg", "timeline.png"] {
            let path = dir.path().join(name);
            timeline_chart(&planned, &path).unwrap();
            assert!(std::fs::metadata(&path).unwrap().len() > 1000);
        }
        for name in ["what-if.svg", "what-if.png"] {
            let path = dir.path().join(name);
            what_if_chart(&grid, Some(Duration::from_secs(3600)), &path).unwrap();
        }
        let png = std::fs::read(dir.path().join("timeline.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let svg = std::fs::read_to_string(dir.path().join("what-if.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("egress IPs"));
        let err = timeline_chart(&planned, &dir.path().join("chart.gif")).unwrap_err();
        assert!(err.to_string().contains("chart.gif"), "{err}");
    }

    #[test]
    fn the_compiled_in_font_is_valid() {
        assert!(plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    }
}
