//! Charts drawn with plotters into SVG strings, from core results only, so that
//! they are computed in Wasm in the browser and testable natively.

use guardrail_core::alarm::AlarmState;
use guardrail_core::event::RunTimeline;
use guardrail_core::explain::mmss;
use guardrail_core::schedule::{Phase, Schedule, Step};
use guardrail_core::simulate::{CurvePoint, Simulation};
use guardrail_core::timeline::{share_steps, step_line, TrafficChange};
use plotters::chart::DualCoordChartContext;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width and height of the main charts in pixels, at their widest: the
/// width is the page's to choose ([`width_for`]), the height is fixed.
pub const SIZE: (u32, u32) = (760, 300);

/// The narrowest a chart is drawn.
pub const NARROWEST: u32 = 320;

/// The width to draw charts at in a window `viewport` pixels wide: the
/// panel's width, in steps of 20 px, from [`NARROWEST`] to [`SIZE`]. A chart
/// drawn at 760 px and shrunk to a phone's width had text too small to read.
pub fn width_for(viewport: f64) -> u32 {
    let room = ((viewport - 72.0) / 20.0).floor() * 20.0;
    if room.is_finite() {
        (room.max(0.0) as u32).clamp(NARROWEST, SIZE.0)
    } else {
        SIZE.0
    }
}

/// Time labels along the bottom: fewer on a narrow chart, so they never meet.
fn time_labels(root: &DrawingArea<SVGBackend, Shift>) -> usize {
    (root.dim_in_pixel().0 / 95).clamp(4, 8) as usize
}
const FONT: &str = "sans-serif";

const GREEN_LINE: RGBColor = RGBColor(5, 150, 105);
const BLUE_LINE: RGBColor = RGBColor(37, 99, 235);
const ROLLBACK: RGBColor = RGBColor(220, 38, 38);
const GREY: RGBColor = RGBColor(107, 114, 128);
/// The canary judge's score.
const JUDGE: RGBColor = RGBColor(31, 41, 55);
/// The retrospective judge's would-be rollback.
const WOULD_BE: RGBColor = RGBColor(147, 51, 234);
/// Colours of the compared plans, in order.
pub const COMPARE_COLOURS: [RGBColor; 3] = [
    RGBColor(5, 150, 105),
    RGBColor(124, 58, 237),
    RGBColor(217, 119, 6),
];

/// The band colour of a phase.
fn phase_colour(phase: Phase) -> RGBColor {
    match phase {
        Phase::Provisioning { .. } => RGBColor(229, 231, 235),
        Phase::CanaryBake => RGBColor(254, 243, 199),
        Phase::LinearStepBake { .. } | Phase::RollingBatchBake { .. } => RGBColor(219, 234, 254),
        Phase::FinalBake => RGBColor(209, 250, 229),
        Phase::TerminatingBlue => RGBColor(254, 226, 226),
    }
}

/// A short label that fits a band.
fn phase_short(phase: Phase) -> String {
    match phase {
        Phase::Provisioning { .. } => "provision".into(),
        Phase::CanaryBake => "canary bake".into(),
        Phase::LinearStepBake { step, .. } => format!("step {step}"),
        Phase::RollingBatchBake { batch, .. } => format!("batch {batch}"),
        Phase::FinalBake => "final bake".into(),
        Phase::TerminatingBlue => "end blue".into(),
    }
}

fn svg(size: (u32, u32), draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>)) -> String {
    svg_with(size, |root| {
        draw(root);
        String::new()
    })
}

/// [`svg`], with markup that `draw` returns drawn last, on top (see [`dots`]).
fn svg_with(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> String,
) -> String {
    let mut out = String::new();
    let on_top = {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        let _ = root.fill(&WHITE);
        let on_top = draw(&root);
        let _ = root.present();
        on_top
    };
    if let Some(end) = out.rfind("</svg>") {
        out.insert_str(end, &on_top);
    }
    // plotters writes the viewBox that lets the chart scale with its
    // container; keep the chart's top-left corner in place as it does.
    out.replacen("<svg ", "<svg preserveAspectRatio=\"xMinYMin meet\" ", 1)
}

/// Round dots of `colour` at `points` (backend pixels) as one `<path>`: a
/// zero-length segment with a round cap is a dot. plotters writes a
/// `<circle>` per point, and on a 2-hour plan's ten alarm charts those
/// thousand-odd elements were most of what the browser had to build, style
/// and lay out for each what-if result.
fn dots(points: impl IntoIterator<Item = (i32, i32)>, colour: RGBColor, diameter: u32) -> String {
    use std::fmt::Write;
    let mut path = String::new();
    for (x, y) in points {
        let _ = write!(path, "M{x} {y}h0");
    }
    if path.is_empty() {
        return path;
    }
    let RGBColor(red, green, blue) = colour;
    format!(
        "<path d=\"{path}\" fill=\"none\" stroke=\"#{red:02X}{green:02X}{blue:02X}\" \
         stroke-width=\"{diameter}\" stroke-linecap=\"round\"/>"
    )
}

fn time_label(seconds: &f64) -> String {
    mmss(seconds.max(0.0) as u64)
}

/// A value of each schedule step as a step line, in (seconds, value) points.
fn schedule_line(schedule: &Schedule, value: impl Fn(&Step) -> f64) -> Vec<(f64, f64)> {
    step_line(
        schedule
            .steps
            .iter()
            .map(|step| (u64::from(step.start_seconds) * 1_000, value(step))),
        u64::from(schedule.total_seconds) * 1_000,
    )
}

fn share_points(schedule: &Schedule) -> Vec<(f64, f64)> {
    schedule_line(schedule, Step::green_traffic_percent)
}

/// Green's traffic share and both fleets' active instances over time, with phase
/// bands and step end times. With a simulation, overlays what happened: the
/// simulated share and the rollback.
pub fn traffic_chart(schedule: &Schedule, simulation: Option<&Simulation>, width: u32) -> String {
    svg((width, chart_height(width)), |root| {
        let _ = draw_traffic(root, schedule, simulation);
    })
}

type Coord = Cartesian2d<RangedCoordf64, RangedCoordf64>;
/// The traffic chart: green's share on the left axis, instances on the right.
type TrafficChart<'a, 'b> = DualCoordChartContext<'a, SVGBackend<'b>, Coord, Coord>;
type Drawn = Result<(), Box<dyn std::error::Error>>;

fn draw_traffic(
    root: &DrawingArea<SVGBackend, Shift>,
    schedule: &Schedule,
    simulation: Option<&Simulation>,
) -> Drawn {
    // A rollback that brings blue back in batches can end after the plan would have.
    let end = f64::from(schedule.total_seconds.max(1))
        .max(simulation.map_or(0.0, |simulation| simulation.end_ms as f64 / 1_000.0));
    let (plot, below) = split_for_legend(root);
    let mut chart = traffic_axes(&plot, schedule, end)?;
    draw_phase_bands(&mut chart, schedule, end)?;
    let mut legend = draw_planned(&mut chart, schedule, simulation.is_some())?;
    if let Some(simulation) = simulation {
        legend.extend(draw_simulated(&mut chart, simulation)?);
    }
    match below {
        Some(below) => draw_legend(&below, &legend, true),
        None => draw_legend(chart.plotting_area(), &legend, true),
    }
}

/// Both axes and the mesh: 0-100 % on the left, 0 to the fleet on the right.
fn traffic_axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    schedule: &Schedule,
    end: f64,
) -> Result<TrafficChart<'a, 'b>, Box<dyn std::error::Error>> {
    let fleet = schedule
        .steps
        .iter()
        .map(|step| step.green_instances.max(step.blue_instances))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .margin_top(24)
        .x_label_area_size(30)
        .y_label_area_size(44)
        .right_y_label_area_size(36)
        .build_cartesian_2d(0f64..end, 0f64..100f64)?
        .set_secondary_coord(0f64..end, 0f64..f64::from(fleet) * 1.05);
    chart
        .configure_mesh()
        .disable_x_mesh()
        // Lines at the labels only, as in every chart here: plotters draws
        // each light line as an element, nine per label.
        .max_light_lines(0)
        .x_labels(time_labels(root))
        .x_label_formatter(&time_label)
        .y_desc("green traffic %")
        .y_label_formatter(&|value| format!("{value:.0}"))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 12))
        .draw()?;
    chart
        .configure_secondary_axes()
        // Inward ticks: plotters measures outward right-hand labels, and in
        // Wasm that means the page's layout (see `draw_legend`).
        .set_all_tick_mark_size(-4)
        .y_desc("instances")
        .y_labels(fleet.min(10) as usize + 1)
        .y_label_formatter(&|value| format!("{value:.0}"))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 12))
        .draw()?;
    Ok(chart)
}

/// Phase bands labelled at the top, and each step's end time.
fn draw_phase_bands(chart: &mut TrafficChart, schedule: &Schedule, end: f64) -> Drawn {
    chart.draw_series(schedule.steps.iter().map(|step| {
        Rectangle::new(
            [
                (f64::from(step.start_seconds), 0.0),
                (f64::from(step.end_seconds), 100.0),
            ],
            phase_colour(step.phase).mix(0.8).filled(),
        )
    }))?;
    let pixel_width = f64::from(chart.plotting_area().dim_in_pixel().0) / end;
    let label_style = TextStyle::from((FONT, 11).into_font())
        .color(&GREY)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    for step in &schedule.steps {
        let width = f64::from(step.duration_seconds()) * pixel_width;
        if width > 44.0 {
            let middle = (f64::from(step.start_seconds) + f64::from(step.end_seconds)) / 2.0;
            chart.draw_series(std::iter::once(Text::new(
                phase_short(step.phase),
                (middle, 99.0),
                label_style.clone(),
            )))?;
        }
    }
    let tick_style = TextStyle::from((FONT, 10).into_font())
        .color(&GREY)
        .pos(Pos::new(HPos::Center, VPos::Top));
    let ends: Vec<f64> = schedule
        .steps
        .iter()
        .map(|step| f64::from(step.end_seconds))
        .collect();
    let pixels: Vec<f64> = ends.iter().map(|end| end * pixel_width).collect();
    for (end, shown) in ends.iter().zip(spaced(&pixels, END_LABEL_GAP_PX)) {
        if shown {
            chart.draw_series(std::iter::once(Text::new(
                mmss(*end as u64),
                (*end, 88.0),
                tick_style.clone(),
            )))?;
        }
    }
    Ok(())
}

/// The least distance between two step-end labels, in pixels: "38:00" at
/// 10 px is about 28 px wide.
const END_LABEL_GAP_PX: f64 = 34.0;

/// Which of the labels at `positions` (pixels, ascending) to draw so that
/// none is closer than `gap` to the next drawn: the last always (the end of
/// the schedule), then each earlier one far enough from the one after it.
fn spaced(positions: &[f64], gap: f64) -> Vec<bool> {
    let mut shown = vec![false; positions.len()];
    let mut next_drawn: Option<f64> = None;
    for (index, position) in positions.iter().enumerate().rev() {
        if next_drawn.is_none_or(|next| next - position >= gap) {
            shown[index] = true;
            next_drawn = Some(*position);
        }
    }
    shown
}

/// Below this width the legend goes under the plot, not over it.
const NARROW_PX: u32 = 520;
/// The room under the plot a legend of up to six entries takes.
const LEGEND_BELOW_PX: u32 = 104;

/// The height of a chart `width` wide: taller when narrow, with its legend
/// below.
fn chart_height(width: u32) -> u32 {
    if width < NARROW_PX {
        SIZE.1 + LEGEND_BELOW_PX
    } else {
        SIZE.1
    }
}

/// The plot's area and, when narrow, the area below it for the legend.
fn split_for_legend<'b>(
    root: &DrawingArea<SVGBackend<'b>, Shift>,
) -> (
    DrawingArea<SVGBackend<'b>, Shift>,
    Option<DrawingArea<SVGBackend<'b>, Shift>>,
) {
    let (width, height) = root.dim_in_pixel();
    if width < NARROW_PX && height > LEGEND_BELOW_PX {
        let (plot, below) = root.split_vertically(height - LEGEND_BELOW_PX);
        (plot, Some(below))
    } else {
        (root.clone(), None)
    }
}

/// Both fleets' instances and green's planned share.
fn draw_planned(
    chart: &mut TrafficChart,
    schedule: &Schedule,
    with_simulation: bool,
) -> Result<Legend, Box<dyn std::error::Error>> {
    let mut legend = Legend::new();
    for (line, colour, label) in [
        (
            schedule_line(schedule, |step| f64::from(step.blue_instances)),
            BLUE_LINE.to_rgba(),
            "blue instances",
        ),
        (
            schedule_line(schedule, |step| f64::from(step.green_instances)),
            GREEN_LINE.mix(0.6),
            "green instances",
        ),
    ] {
        chart.draw_secondary_series(LineSeries::new(line, colour.stroke_width(2)))?;
        legend.push((label.to_string(), Swatch::Line(colour, 2)));
    }
    let planned_label = if with_simulation {
        "planned green traffic"
    } else {
        "green traffic %"
    };
    chart.draw_series(LineSeries::new(
        share_points(schedule),
        GREEN_LINE.stroke_width(if with_simulation { 1 } else { 3 }),
    ))?;
    legend.push((
        planned_label.to_string(),
        Swatch::Line(GREEN_LINE.to_rgba(), 3),
    ));
    Ok(legend)
}

/// Green's share as it really went (simulated or recorded): a thick black step line.
fn draw_actual_share(
    chart: &mut ChartContext<SVGBackend, Coord>,
    traffic: &[TrafficChange],
    end_ms: u64,
    label: &str,
) -> Result<(String, Swatch), Box<dyn std::error::Error>> {
    chart.draw_series(LineSeries::new(
        share_steps(traffic, end_ms),
        BLACK.stroke_width(3),
    ))?;
    Ok((label.to_string(), Swatch::Line(BLACK.to_rgba(), 3)))
}

/// What the simulation did: green's share and the rollback.
fn draw_simulated(
    chart: &mut TrafficChart,
    simulation: &Simulation,
) -> Result<Legend, Box<dyn std::error::Error>> {
    let mut legend = vec![draw_actual_share(
        chart,
        &simulation.traffic,
        simulation.end_ms,
        "simulated green traffic",
    )?];
    if let Some(at) = simulation.rollback_at_seconds() {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(at, 0.0), (at, 100.0)],
            ROLLBACK.stroke_width(2),
        )))?;
        legend.push((
            format!("rollback at {}", mmss(at as u64)),
            Swatch::Tick(ROLLBACK.to_rgba()),
        ));
    }
    Ok(legend)
}

/// A 0–105 % chart over `end` seconds with m:ss labels and its mesh drawn.
fn percent_over_time<'a, 'b: 'a>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    end: f64,
    margin_top: u32,
    y_desc: &str,
) -> Result<
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    Box<dyn std::error::Error>,
> {
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .margin_top(margin_top)
        .x_label_area_size(30)
        .y_label_area_size(44)
        .build_cartesian_2d(0f64..end, 0f64..105f64)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(0)
        .x_labels(time_labels(root))
        .x_label_formatter(&time_label)
        .y_desc(y_desc)
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 12))
        .draw()?;
    Ok(chart)
}

/// How a legend entry shows its series.
#[derive(Clone, Copy)]
enum Swatch {
    Line(RGBAColor, u32),
    /// A vertical mark (the rollback).
    Tick(RGBAColor),
    Dot(RGBAColor),
}

type Legend = Vec<(String, Swatch)>;

/// The legend, drawn by hand in a box at a corner of the plotting area.
///
/// plotters' own legend measures its labels, and in Wasm it measures text by
/// adding it to the page and reading its layout: a forced reflow per label on
/// the main thread, and a panic in a worker, which has no page. Labels here
/// are placed by a width estimate instead (about 0.6 em a character), as
/// plotters does natively.
fn draw_legend<CT: CoordTranslate>(
    area: &DrawingArea<SVGBackend, CT>,
    entries: &[(String, Swatch)],
    upper_left: bool,
) -> Drawn {
    if entries.is_empty() {
        return Ok(());
    }
    let area = area.strip_coord_spec();
    let (width, height) = area.dim_in_pixel();
    let widest = entries
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0) as i32;
    let box_width = 38 + widest * 62 / 10;
    let box_height = 8 + 16 * entries.len() as i32;
    let (left, top) = if upper_left {
        (8, 8)
    } else {
        (width as i32 - box_width - 8, height as i32 - box_height - 8)
    };
    area.draw(&Rectangle::new(
        [(left, top), (left + box_width, top + box_height)],
        WHITE.mix(0.85).filled(),
    ))?;
    area.draw(&Rectangle::new(
        [(left, top), (left + box_width, top + box_height)],
        GREY.mix(0.4),
    ))?;
    let style = TextStyle::from((FONT, 11).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (index, (label, swatch)) in entries.iter().enumerate() {
        let (x, y) = (left + 8, top + 12 + 16 * index as i32);
        match *swatch {
            Swatch::Line(colour, width) => area.draw(&PathElement::new(
                vec![(x, y), (x + 16, y)],
                colour.stroke_width(width),
            ))?,
            Swatch::Tick(colour) => area.draw(&PathElement::new(
                vec![(x + 8, y - 6), (x + 8, y + 6)],
                colour.stroke_width(2),
            ))?,
            Swatch::Dot(colour) => area.draw(&Circle::new((x + 8, y), 3, colour.filled()))?,
        }
        area.draw(&Text::new(label.clone(), (x + 22, y), style.clone()))?;
    }
    Ok(())
}

/// A plain-words description of a schedule, for screen readers and the page.
pub fn describe_schedule(schedule: &Schedule) -> String {
    let parts: Vec<String> = schedule
        .steps
        .iter()
        .map(|step| {
            format!(
                "{} until {}: green {}%",
                step.phase.label(),
                mmss(u64::from(step.end_seconds)),
                guardrail_core::alarm::trim_float(step.green_traffic_percent())
            )
        })
        .collect();
    format!(
        "Traffic over {}: {}.",
        mmss(u64::from(schedule.total_seconds)),
        parts.join("; ")
    )
}

/// One alarm's datapoints against its threshold, and its state over time.
pub fn alarm_chart(simulation: &Simulation, index: usize, width: u32) -> String {
    let Some(trace) = simulation.alarms.get(index) else {
        return String::new();
    };
    svg_with((width, 150), |root| {
        draw_alarm(root, simulation, trace).unwrap_or_default()
    })
}

fn draw_alarm(
    root: &DrawingArea<SVGBackend, Shift>,
    simulation: &Simulation,
    trace: &guardrail_core::simulate::AlarmTrace,
) -> Result<String, Box<dyn std::error::Error>> {
    let end = (simulation.end_ms as f64 / 1_000.0).max(1.0);
    let start = trace
        .datapoints
        .first()
        .map(|(start, _)| *start as f64)
        .unwrap_or(0.0)
        .min(0.0);
    let period = f64::from(trace.period_seconds);
    let values: Vec<(f64, f64)> = trace
        .datapoints
        .iter()
        .filter_map(|(start, value)| value.map(|value| (*start as f64 + period, value)))
        .collect();
    let highest = values
        .iter()
        .map(|(_, value)| *value)
        .fold(trace.threshold, f64::max);
    let top = if highest > 0.0 { highest * 1.15 } else { 1.0 };
    let (upper, strip) = root.split_vertically(122);
    let mut chart = ChartBuilder::on(&upper)
        .margin(6)
        // A right margin, not a right label area: plotters would label it,
        // measuring each label (see `draw_legend`).
        .margin_right(42)
        .x_label_area_size(0)
        .y_label_area_size(60)
        .build_cartesian_2d(start..end, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_labels(4)
        // Lines at the labels only: the light lines between them were half
        // of each small chart's elements (see `traffic_axes`).
        .max_light_lines(0)
        .label_style((FONT, 11))
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(start, trace.threshold), (end, trace.threshold)],
        ROLLBACK.mix(0.7).stroke_width(1),
    )))?;
    chart.draw_series(LineSeries::new(values.clone(), GREY.stroke_width(1)))?;
    let (breaching, within): (Vec<_>, Vec<_>) = values
        .iter()
        .partition(|(_, value)| trace.comparison.breaches(*value, trace.threshold));
    let points = |values: Vec<&(f64, f64)>| {
        values
            .into_iter()
            .map(|point| chart.backend_coord(point))
            .collect::<Vec<_>>()
    };
    let on_top = dots(points(within), GREEN_LINE, 6) + &dots(points(breaching), ROLLBACK, 6);
    chart.draw_series(std::iter::once(Text::new(
        format!(
            "threshold {}",
            guardrail_core::alarm::trim_float(trace.threshold)
        ),
        (start, trace.threshold),
        TextStyle::from((FONT, 10).into_font())
            .color(&ROLLBACK)
            .pos(Pos::new(HPos::Left, VPos::Bottom)),
    )))?;

    draw_alarm_states(&strip, trace, (start, end))?;
    Ok(on_top)
}

/// The alarm's state strip over `(start, end)` seconds: OK green, ALARM
/// red, INSUFFICIENT_DATA grey.
fn draw_alarm_states(
    strip: &DrawingArea<SVGBackend, Shift>,
    trace: &guardrail_core::simulate::AlarmTrace,
    (start, end): (f64, f64),
) -> Result<(), Box<dyn std::error::Error>> {
    let mut strip_chart = ChartBuilder::on(strip)
        .margin_left(6)
        .margin_right(42)
        .y_label_area_size(60)
        .build_cartesian_2d(start..end, 0f64..1f64)?;
    let mut state = AlarmState::InsufficientData;
    let mut from = start;
    let mut segments = Vec::new();
    for transition in &trace.transitions {
        let at = transition.at_ms as f64 / 1_000.0;
        segments.push((from, at, state));
        state = transition.to;
        from = at;
    }
    segments.push((from, end, state));
    strip_chart.draw_series(segments.into_iter().map(|(from, to, state)| {
        let colour = match state {
            AlarmState::Ok => GREEN_LINE.mix(0.5),
            AlarmState::Alarm => ROLLBACK.mix(0.8),
            AlarmState::InsufficientData => GREY.mix(0.3),
        };
        Rectangle::new([(from, 0.0), (to, 1.0)], colour.filled())
    }))?;
    Ok(())
}

/// Detection probability against green's error rate, on a log axis.
pub fn detection_curve_chart(curve: &[CurvePoint], current_error_rate: f64, width: u32) -> String {
    svg((width, 240), |root| {
        let _ = draw_curve(root, curve, current_error_rate);
    })
}

fn draw_curve(
    root: &DrawingArea<SVGBackend, Shift>,
    curve: &[CurvePoint],
    current_error_rate: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let low = curve.first().map(|point| point.error_rate).unwrap_or(0.001);
    let high = curve.last().map(|point| point.error_rate).unwrap_or(1.0);
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(44)
        .build_cartesian_2d((low..high).log_scale(), 0f64..100f64)?;
    chart
        .configure_mesh()
        .x_desc("green error rate")
        .y_desc("rolled back %")
        .x_label_formatter(&|rate| {
            let percent = rate * 100.0;
            if percent < 1.0 {
                format!("{percent:.1}%")
            } else {
                format!("{percent:.0}%")
            }
        })
        .label_style((FONT, 11))
        .axis_desc_style((FONT, 12))
        .draw()?;
    let points: Vec<(f64, f64)> = curve
        .iter()
        .map(|point| (point.error_rate, point.probability * 100.0))
        .collect();
    chart.draw_series(LineSeries::new(points.clone(), GREEN_LINE.stroke_width(2)))?;
    chart.draw_series(
        points
            .iter()
            .map(|point| Circle::new(*point, 3, GREEN_LINE.filled())),
    )?;
    if current_error_rate >= low && current_error_rate <= high {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(current_error_rate, 0.0), (current_error_rate, 100.0)],
            GREY.stroke_width(1),
        )))?;
    }
    Ok(())
}

/// Two or three plans' green traffic on one chart.
pub fn compare_chart(plans: &[(String, Schedule)], width: u32) -> String {
    svg((width, SIZE.1), |root| {
        let _ = draw_compare(root, plans);
    })
}

fn draw_compare(
    root: &DrawingArea<SVGBackend, Shift>,
    plans: &[(String, Schedule)],
) -> Result<(), Box<dyn std::error::Error>> {
    let end = plans
        .iter()
        .map(|(_, schedule)| schedule.total_seconds)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut chart = percent_over_time(root, f64::from(end), 10, "green traffic %")?;
    let mut legend = Legend::new();
    for (index, (name, schedule)) in plans.iter().enumerate() {
        let colour = COMPARE_COLOURS[index % COMPARE_COLOURS.len()];
        chart.draw_series(LineSeries::new(
            share_points(schedule),
            colour.stroke_width(3),
        ))?;
        legend.push((
            format!("{name} ({})", mmss(u64::from(schedule.total_seconds))),
            Swatch::Line(colour.to_rgba(), 3),
        ));
    }
    draw_legend(chart.plotting_area(), &legend, false)
}

/// What the plan and its what-if expected of a run, moved onto the run's
/// clock. The two clocks differ by provisioning: the plan assumes
/// `ProvisioningSeconds` (default 300 s) before green's first traffic, while
/// the local engine takes as long as its instances take to start (seconds).
/// So the plan and the prediction are aligned at green's first traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    /// The planned green share, (seconds on the run's clock, percent).
    pub planned: Vec<(f64, f64)>,
    /// The what-if's green share, the same way.
    pub predicted: Vec<(f64, f64)>,
    /// The what-if's rollback, on the plan's clock and on the run's.
    pub predicted_rollback_ms: Option<(u64, u64)>,
    /// Green's first traffic on the plan's clock and on the run's.
    pub plan_first_ms: u64,
    pub run_first_ms: u64,
}

/// What the plan and its what-if expect, on the plan's clock: computed once
/// per plan, then moved onto each version of a run's timeline
/// ([`Planned::on`]), which grows with every event of a live run.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    planned: Vec<(f64, f64)>,
    predicted: Vec<(f64, f64)>,
    rollback_ms: Option<u64>,
    first_ms: u64,
}

/// When green first got traffic.
fn first_traffic_ms(traffic: &[TrafficChange]) -> Option<u64> {
    traffic
        .iter()
        .find(|change| change.green_traffic_bp > 0)
        .map(|change| change.at_ms)
}

impl Planned {
    /// `None` for a plan with errors, or one whose green never gets traffic.
    pub fn of(plan: &guardrail_core::Plan) -> Option<Self> {
        let rollout = guardrail_core::check(plan).rollout?;
        let schedule = guardrail_core::schedule::schedule(&rollout);
        let simulation =
            guardrail_core::simulate::simulate(&rollout, &plan.scenario_or_default()).ok()?;
        Some(Self {
            planned: share_points(&schedule),
            predicted: share_steps(&simulation.traffic, simulation.end_ms),
            rollback_ms: match simulation.outcome {
                guardrail_core::controller::Outcome::RolledBack { decided_at_ms, .. } => {
                    Some(decided_at_ms)
                }
                _ => None,
            },
            first_ms: first_traffic_ms(&simulation.traffic)?,
        })
    }

    /// The same on `timeline`'s clock; `None` before green's first traffic
    /// in the run.
    pub fn on(&self, timeline: &RunTimeline) -> Option<Expected> {
        let run_first_ms = first_traffic_ms(&timeline.traffic)?;
        let by = (self.first_ms as f64 - run_first_ms as f64) / 1_000.0;
        let shift = |points: &[(f64, f64)]| -> Vec<(f64, f64)> {
            points
                .iter()
                .map(|(at, value)| (at - by, *value))
                .filter(|(at, _)| *at >= 0.0)
                .collect()
        };
        Some(Expected {
            planned: shift(&self.planned),
            predicted: shift(&self.predicted),
            predicted_rollback_ms: self
                .rollback_ms
                .map(|at| (at, (at + run_first_ms).saturating_sub(self.first_ms))),
            plan_first_ms: self.first_ms,
            run_first_ms,
        })
    }
}

/// A recorded run: phases, green's actual share, each fleet's error rate per
/// metric period, alarm transitions, the rollback, and a cursor.
/// The run chart; `would_be` marks where other alarms would have rolled the
/// run back (the retrospective judge), with the alarm's name.
pub fn run_chart(
    timeline: &RunTimeline,
    cursor_ms: Option<u64>,
    would_be: Option<(u64, &str)>,
    expected: Option<&Expected>,
    other: Option<(&RunTimeline, &str)>,
    width: u32,
) -> String {
    svg((width, chart_height(width)), |root| {
        let (plot, below) = split_for_legend(root);
        let _ = draw_run(
            &plot,
            below.as_ref(),
            timeline,
            cursor_ms,
            would_be,
            expected,
            other,
        );
    })
}

/// The size of [`timeline_image`]: the run chart with a title above and the
/// phases below.
pub const IMAGE_SIZE: (u32, u32) = (760, 380);

/// A run's timeline as an image for a code review: `title` above the run
/// chart, and every phase with its times below (the chart labels only the
/// phases wide enough to hold one).
pub fn timeline_image(timeline: &RunTimeline, title: &str) -> String {
    svg(IMAGE_SIZE, |root| {
        let (top, rest) = root.split_vertically(30);
        let (chart, bottom) = rest.split_vertically(SIZE.1);
        let _ = top.draw(&Text::new(
            title.to_string(),
            (8, 8),
            TextStyle::from((FONT, 14).into_font()).color(&BLACK),
        ));
        let _ = draw_run(&chart, None, timeline, None, None, None, None);
        let style = TextStyle::from((FONT, 11).into_font()).color(&GREY);
        for (line, text) in phase_lines(timeline, 110).iter().enumerate() {
            let _ = bottom.draw(&Text::new(
                text.clone(),
                (8, 6 + 15 * line as i32),
                style.clone(),
            ));
        }
    })
}

/// "provisioning 3 green 0:00–0:16 · canary bake 0:16–5:16 · …", wrapped at
/// `width` characters.
fn phase_lines(timeline: &RunTimeline, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for span in &timeline.phases {
        let part = format!(
            "{} {}–{}",
            span.phase.label(),
            mmss(span.start_ms / 1_000),
            mmss(span.end_ms / 1_000)
        );
        match lines.last_mut() {
            Some(current) if current.chars().count() + part.chars().count() + 3 <= width => {
                current.push_str(" · ");
                current.push_str(&part);
            }
            _ => lines.push(part),
        }
    }
    lines
}

#[allow(clippy::too_many_arguments)]
fn draw_run(
    root: &DrawingArea<SVGBackend, Shift>,
    below: Option<&DrawingArea<SVGBackend, Shift>>,
    timeline: &RunTimeline,
    cursor_ms: Option<u64>,
    would_be: Option<(u64, &str)>,
    expected: Option<&Expected>,
    other: Option<(&RunTimeline, &str)>,
) -> Drawn {
    let end = seconds(
        timeline
            .end_ms
            .max(other.map_or(0, |(other, _)| other.end_ms)),
    )
    .max(f64::from(timeline.planned_total_seconds.min(60)))
    .max(1.0);
    let mut chart = percent_over_time(root, end, 24, "% of traffic / % failed")?;
    let pixel_width = f64::from(root.dim_in_pixel().0.saturating_sub(70)) / end;
    draw_run_phases(&mut chart, timeline, pixel_width)?;
    let mut legend = Vec::new();
    if let Some(expected) = expected {
        draw_expected(&mut chart, expected, &mut legend)?;
    }
    if let Some((other, id)) = other {
        draw_other_run(&mut chart, other, id, &mut legend)?;
    }
    legend.insert(
        0,
        draw_actual_share(
            &mut chart,
            &timeline.traffic,
            timeline.end_ms,
            "green traffic %",
        )?,
    );
    draw_error_dots(&mut chart, timeline, &mut legend)?;
    draw_judge_score(&mut chart, timeline, &mut legend)?;
    draw_run_marks(&mut chart, timeline, would_be, cursor_ms, &mut legend)?;
    match below {
        Some(below) => draw_legend(below, &legend, true),
        None => draw_legend(chart.plotting_area(), &legend, true),
    }
}

/// Plan milliseconds as the charts' seconds.
fn seconds(ms: u64) -> f64 {
    ms as f64 / 1_000.0
}

/// A vertical line across the chart at `at` seconds.
fn upright(at: f64, style: ShapeStyle) -> PathElement<(f64, f64)> {
    PathElement::new(vec![(at, 0.0), (at, 100.0)], style)
}

/// The run's phases as bands, each named above the chart where it is wide
/// enough (`pixel_width` pixels a second).
fn draw_run_phases(
    chart: &mut ChartContext<SVGBackend, Coord>,
    timeline: &RunTimeline,
    pixel_width: f64,
) -> Drawn {
    chart.draw_series(timeline.phases.iter().map(|span| {
        Rectangle::new(
            [(seconds(span.start_ms), 0.0), (seconds(span.end_ms), 100.0)],
            phase_colour(span.phase).mix(0.8).filled(),
        )
    }))?;
    let label_style = TextStyle::from((FONT, 11).into_font())
        .color(&GREY)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    for span in &timeline.phases {
        let (start, stop) = (seconds(span.start_ms), seconds(span.end_ms));
        if (stop - start) * pixel_width > 44.0 {
            chart.draw_series(std::iter::once(Text::new(
                phase_short(span.phase),
                ((start + stop) / 2.0, 104.0),
                label_style.clone(),
            )))?;
        }
    }
    Ok(())
}

/// The plan and its what-if, aligned at green's first traffic.
fn draw_expected(
    chart: &mut ChartContext<SVGBackend, Coord>,
    expected: &Expected,
    legend: &mut Legend,
) -> Drawn {
    chart.draw_series(LineSeries::new(
        expected.planned.clone(),
        GREEN_LINE.stroke_width(1),
    ))?;
    legend.push((
        "planned (aligned)".to_string(),
        Swatch::Line(GREEN_LINE.to_rgba(), 1),
    ));
    chart.draw_series(LineSeries::new(
        expected.predicted.clone(),
        WOULD_BE.mix(0.8).stroke_width(2),
    ))?;
    legend.push((
        "what-if (aligned)".to_string(),
        Swatch::Line(WOULD_BE.mix(0.8), 2),
    ));
    Ok(())
}

/// Another recorded run, from its own update request: its green share and
/// its rollback.
fn draw_other_run(
    chart: &mut ChartContext<SVGBackend, Coord>,
    other: &RunTimeline,
    id: &str,
    legend: &mut Legend,
) -> Drawn {
    let colour = COMPARE_COLOURS[2];
    chart.draw_series(LineSeries::new(
        share_steps(&other.traffic, other.end_ms),
        colour.stroke_width(2),
    ))?;
    if let Some(at) = other.rollback_at_ms {
        chart.draw_series(std::iter::once(upright(
            seconds(at),
            colour.stroke_width(1),
        )))?;
    }
    legend.push((format!("run {id}"), Swatch::Line(colour.to_rgba(), 2)));
    Ok(())
}

/// Each fleet's 5xx share per metric period, as dots.
fn draw_error_dots(
    chart: &mut ChartContext<SVGBackend, Coord>,
    timeline: &RunTimeline,
    legend: &mut Legend,
) -> Drawn {
    let error_points = |green: bool| -> Vec<(f64, f64)> {
        timeline
            .periods
            .iter()
            .filter_map(|period| {
                let fleet = if green { &period.green } else { &period.blue };
                (fleet.invocations > 0).then(|| {
                    (
                        (seconds(period.start_ms) + seconds(period.end_ms)) / 2.0,
                        fleet.invocation_5xx_errors as f64 * 100.0 / fleet.invocations as f64,
                    )
                })
            })
            .collect()
    };
    for (green, colour, label) in [
        (true, ROLLBACK, "green 5xx %"),
        (false, BLUE_LINE, "blue 5xx %"),
    ] {
        chart.draw_series(
            error_points(green)
                .into_iter()
                .map(move |point| Circle::new(point, 3, colour.filled())),
        )?;
        legend.push((label.to_string(), Swatch::Dot(colour.to_rgba())));
    }
    Ok(())
}

/// The canary judge's score, on the same 0–100 scale, with its pass score
/// over the looks and where it first failed green.
fn draw_judge_score(
    chart: &mut ChartContext<SVGBackend, Coord>,
    timeline: &RunTimeline,
    legend: &mut Legend,
) -> Drawn {
    let scores: Vec<(f64, f64)> = timeline
        .judge_scores
        .iter()
        .filter_map(|(at, score)| score.map(|score| (seconds(*at), score)))
        .collect();
    let (Some(first), Some(last), Some(judgement)) =
        (scores.first(), scores.last(), timeline.judgement.as_ref())
    else {
        return Ok(());
    };
    let pass = judgement.pass_score;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(first.0, pass), (last.0, pass)],
        JUDGE.mix(0.5).stroke_width(1),
    )))?;
    chart.draw_series(LineSeries::new(scores.clone(), JUDGE.stroke_width(2)))?;
    legend.push(("judge score".to_string(), Swatch::Line(JUDGE.to_rgba(), 2)));
    if let Some((at, _)) = scores.iter().find(|(_, score)| *score < pass) {
        chart.draw_series(std::iter::once(Text::new(
            format!(
                "judge fails green (< {}) ",
                guardrail_core::alarm::trim_float(pass)
            ),
            (*at, 80.0),
            TextStyle::from((FONT, 10).into_font())
                .color(&JUDGE)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        )))?;
    }
    Ok(())
}

/// What happened at a moment: alarms that fired, the rollback, a rollback
/// the re-judged alarms would have made, and the cursor.
fn draw_run_marks(
    chart: &mut ChartContext<SVGBackend, Coord>,
    timeline: &RunTimeline,
    would_be: Option<(u64, &str)>,
    cursor_ms: Option<u64>,
    legend: &mut Legend,
) -> Drawn {
    for change in &timeline.alarm_changes {
        if change.to == AlarmState::Alarm {
            chart.draw_series(std::iter::once(Text::new(
                format!("ALARM {}", change.alarm),
                (seconds(change.at_ms), 92.0),
                TextStyle::from((FONT, 10).into_font())
                    .color(&ROLLBACK)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            )))?;
        }
    }
    if let Some(at) = timeline.rollback_at_ms {
        chart.draw_series(std::iter::once(upright(
            seconds(at),
            ROLLBACK.stroke_width(2),
        )))?;
    }
    if let Some((at, alarm)) = would_be {
        chart.draw_series(std::iter::once(upright(
            seconds(at),
            WOULD_BE.stroke_width(2),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!(" would roll back: {alarm}"),
            (seconds(at), 62.0),
            TextStyle::from((FONT, 10).into_font())
                .color(&WOULD_BE)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        )))?;
        legend.push((
            "re-judged rollback".to_string(),
            Swatch::Tick(WOULD_BE.to_rgba()),
        ));
    }
    if let Some(cursor) = cursor_ms {
        chart.draw_series(std::iter::once(upright(
            seconds(cursor),
            GREY.stroke_width(2),
        )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::simulate::{detection_curve, simulate};
    use guardrail_core::{check, examples, schedule::schedule};

    fn canary() -> (guardrail_core::Plan, guardrail_core::Rollout) {
        let plan = examples::notebook_canary();
        let rollout = check(&plan).rollout.expect("valid");
        (plan, rollout)
    }

    #[test]
    fn the_traffic_chart_has_bands_lines_and_step_times() {
        let (_, rollout) = canary();
        let svg = traffic_chart(&schedule(&rollout), None, SIZE.0);
        assert!(svg.starts_with("<svg"), "{svg}");
        let header = svg.split('>').next().unwrap_or_default();
        assert_eq!(header.matches("viewBox=").count(), 1, "{header}");
        assert!(svg.contains("<polyline"), "{svg}");
        for label in [
            "canary bake",
            "final bake",
            "5:00",
            "10:00",
            "12:00",
            "13:00",
        ] {
            assert!(svg.contains(label), "missing {label}");
        }
    }

    #[test]
    fn the_what_if_overlay_marks_the_rollback() {
        let (plan, rollout) = canary();
        let simulation = simulate(&rollout, &plan.scenario_or_default()).expect("simulates");
        let svg = traffic_chart(&schedule(&rollout), Some(&simulation), SIZE.0);
        assert!(svg.contains("rollback at 11:00"), "{svg}");
        let alarm = alarm_chart(&simulation, 0, SIZE.0);
        assert!(alarm.contains("threshold 1"), "{alarm}");
    }

    #[test]
    fn the_alarm_chart_draws_a_dot_per_datapoint_red_where_it_breaches() {
        let (plan, rollout) = canary();
        let simulation = simulate(&rollout, &plan.scenario_or_default()).expect("simulates");
        let trace = &simulation.alarms[0];
        let values: Vec<f64> = trace
            .datapoints
            .iter()
            .filter_map(|(_, value)| *value)
            .collect();
        let breaching = values
            .iter()
            .filter(|value| trace.comparison.breaches(**value, trace.threshold))
            .count();
        assert!(breaching > 0 && breaching < values.len(), "{values:?}");
        let svg = alarm_chart(&simulation, 0, SIZE.0);
        let dots_of = |colour: &str| {
            svg.split("<path ")
                .skip(1)
                .find(|path| path.contains(&format!("stroke=\"{colour}\"")))
                .map_or(0, |path| path.matches("h0").count())
        };
        assert_eq!(dots_of("#DC2626"), breaching, "{svg}");
        assert_eq!(dots_of("#059669"), values.len() - breaching, "{svg}");
        assert!(!svg.contains("<circle"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    }

    #[test]
    fn charts_are_drawn_for_the_window_and_a_narrow_one_keeps_its_labels_apart() {
        assert_eq!(width_for(1_920.0), SIZE.0);
        assert_eq!(width_for(390.0), 320);
        assert_eq!(width_for(600.0), 520);
        assert_eq!(width_for(100.0), NARROWEST);
        assert_eq!(width_for(f64::INFINITY), SIZE.0);
        assert_eq!(width_for(f64::NAN), SIZE.0);
        let (_, rollout) = canary();
        let narrow = traffic_chart(&schedule(&rollout), None, 320);
        // Narrow: taller, with the legend under the plot.
        assert!(narrow.contains("viewBox=\"0 0 320 404\""), "{narrow}");
        assert!(narrow.contains("5:00"), "{narrow}");
    }

    #[test]
    fn the_plan_and_its_what_if_are_moved_onto_the_runs_clock() {
        use guardrail_core::fleets::Fleets;
        let (plan, _) = canary();
        // The local engine: green got traffic 4 s after the update request.
        let timeline = RunTimeline {
            traffic: vec![
                TrafficChange {
                    at_ms: 0,
                    serving: Fleets::new(0, 3),
                    green_traffic_bp: 0,
                },
                TrafficChange {
                    at_ms: 4_000,
                    serving: Fleets::new(1, 3),
                    green_traffic_bp: 2_500,
                },
            ],
            end_ms: 400_000,
            ..Default::default()
        };
        let planned = Planned::of(&plan).expect("a plan with traffic");
        let expected = planned.on(&timeline).expect("aligned");
        // The plan provisions for 5:00; the run for 0:04.
        assert_eq!(
            (expected.plan_first_ms, expected.run_first_ms),
            (300_000, 4_000)
        );
        let first_green = expected
            .planned
            .iter()
            .find(|(_, share)| *share > 0.0)
            .expect("a share");
        assert!((first_green.0 - 4.0).abs() < 1e-9, "{first_green:?}");
        // The what-if's rollback at 11:00 on the plan's clock is 6:04 on the run's.
        assert_eq!(expected.predicted_rollback_ms, Some((660_000, 364_000)));
        let drawn = run_chart(&timeline, None, None, Some(&expected), None, SIZE.0);
        assert!(drawn.contains("what-if (aligned)") && drawn.contains("planned (aligned)"));
        // Before green's first traffic there is nothing to align at.
        let waiting = RunTimeline {
            traffic: timeline.traffic[..1].to_vec(),
            ..timeline
        };
        assert_eq!(planned.on(&waiting), None);
    }

    #[test]
    fn the_run_chart_and_the_review_image_draw_the_judges_score() {
        use guardrail_core::judge::{Judge, JudgeSpec};
        let judgement = Judge::new(&JudgeSpec::default_judge()).judgement();
        let timeline = RunTimeline {
            end_ms: 400_000,
            judge_scores: vec![
                (300_000, None),
                (310_000, Some(100.0)),
                (320_000, Some(40.0)),
                (330_000, Some(40.0)),
            ],
            judgement: Some(judgement),
            ..Default::default()
        };
        let image = timeline_image(&timeline, "run-1");
        assert!(image.contains("judge score"), "{image}");
        // SVG text escapes `<`.
        assert!(image.contains("judge fails green (&lt; 75)"), "{image}");
        // Never failed: no mark, but the score is drawn.
        let passing = RunTimeline {
            judge_scores: vec![(310_000, Some(100.0))],
            ..timeline.clone()
        };
        let drawn = run_chart(&passing, None, None, None, None, SIZE.0);
        assert!(
            drawn.contains("judge score") && !drawn.contains("judge fails"),
            "{drawn}"
        );
        // No judge: nothing of it.
        let unjudged = RunTimeline {
            judge_scores: Vec::new(),
            judgement: None,
            ..timeline
        };
        assert!(!run_chart(&unjudged, None, None, None, None, SIZE.0).contains("judge"));
    }

    #[test]
    fn the_detection_curve_and_comparison_draw() {
        let (plan, rollout) = canary();
        let curve = detection_curve(&rollout, &plan.scenario_or_default(), &[0.01, 0.1, 1.0], 10)
            .expect("curve");
        assert!(detection_curve_chart(&curve, 1.0, SIZE.0).contains("<polyline"));
        let compared = compare_chart(&[("canary".into(), schedule(&rollout))], SIZE.0);
        assert!(compared.contains("canary (13:00)"), "{compared}");
    }

    #[test]
    fn the_schedule_is_described_in_words() {
        let (_, rollout) = canary();
        let text = describe_schedule(&schedule(&rollout));
        assert!(
            text.starts_with("Traffic over 13:00: provisioning 3 green until 5:00: green 0%"),
            "{text}"
        );
    }

    #[test]
    fn step_end_labels_never_crowd_and_the_end_is_always_labelled() {
        // 37:00 and 38:00 on a 38-minute axis 900 px wide are 24 px apart.
        let per_second = 900.0 / 2_280.0;
        let ends = [300.0, 600.0, 2_220.0, 2_280.0].map(|end: f64| end * per_second);
        assert_eq!(spaced(&ends, END_LABEL_GAP_PX), [true, true, false, true]);
        assert_eq!(spaced(&[], 34.0), Vec::<bool>::new());
        assert_eq!(spaced(&[10.0, 50.0, 90.0], 34.0), [true, true, true]);
    }

    #[test]
    fn a_narrow_chart_puts_its_legend_below_the_plot() {
        let plan = guardrail_core::examples::notebook_canary();
        let rollout = guardrail_core::check(&plan).rollout.expect("valid");
        let schedule = guardrail_core::schedule::schedule(&rollout);
        let narrow = traffic_chart(&schedule, None, 390);
        assert!(
            narrow.contains(&format!("height=\"{}\"", SIZE.1 + LEGEND_BELOW_PX)),
            "{}",
            &narrow[..200]
        );
        let wide = traffic_chart(&schedule, None, 900);
        assert!(
            wide.contains(&format!("height=\"{}\"", SIZE.1)),
            "{}",
            &wide[..200]
        );
    }
}
