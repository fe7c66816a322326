//! Charts drawn with plotters into SVG strings, from core results only, so that
//! they are computed in Wasm in the browser and testable natively.

use guardrail_core::schedule::Schedule;
use plotters::prelude::*;

/// Width and height of the traffic chart in pixels.
pub const TRAFFIC_SIZE: (u32, u32) = (720, 260);

/// Green's traffic share over time for a schedule, as an SVG document.
pub fn traffic_chart(schedule: &Schedule) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, TRAFFIC_SIZE).into_drawing_area();
        let _ = draw_traffic(&root, schedule);
    }
    svg
}

fn draw_traffic<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    schedule: &Schedule,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let end = f64::from(schedule.total_seconds.max(1));
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..end, 0f64..100f64)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("green traffic %")
        .draw()?;
    let mut points = Vec::new();
    for step in &schedule.steps {
        points.push((f64::from(step.start_seconds), step.green_traffic_percent()));
        points.push((f64::from(step.end_seconds), step.green_traffic_percent()));
    }
    chart.draw_series(LineSeries::new(points, GREEN.stroke_width(2)))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::{examples, schedule::schedule, validate::check};

    #[test]
    fn the_traffic_chart_is_an_svg_with_a_line() {
        let rollout = check(&examples::notebook_canary()).rollout.expect("valid");
        let svg = traffic_chart(&schedule(&rollout));
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<polyline"), "{svg}");
    }
}
