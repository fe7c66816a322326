//! The what-if's models of the metrics the team publishes
//! (`Scenario.TeamMetrics`): what each counts, its level and noise, and where
//! the regression moves it on green. An alarm on a team metric sees what its
//! model says; one without a model sees no data.

use guardrail_core::field::limits::MAX_TEAM_METRICS;
use guardrail_core::field::{Field, TeamMetricField};
use guardrail_core::plan::{Dimension, TeamMetric, TeamMetricKind};
use leptos::prelude::*;

use crate::alarm_editor::DimensionsField;
use crate::alarm_kinds;
use crate::fields::{DecimalField, Problems, SelectField, TextField, WholeField};
use crate::state::use_planner;

fn model_signal<T: Default + Clone + PartialEq + Send + Sync + 'static>(
    index: usize,
    read: impl Fn(&TeamMetric) -> T + Send + Sync + 'static,
) -> Signal<T> {
    let planner = use_planner();
    Memo::new(move |_| {
        planner.plan.with(|plan| {
            alarm_kinds::team_metrics(plan)
                .get(index)
                .map(&read)
                .unwrap_or_default()
        })
    })
    .into()
}

fn model_edit<T: 'static>(
    index: usize,
    change: impl Fn(&mut TeamMetric, T) + Send + Sync + 'static,
) -> Callback<T> {
    let planner = use_planner();
    Callback::new(move |value: T| {
        planner
            .edit(|plan| alarm_kinds::edit_team_metric(plan, index, |model| change(model, value)))
    })
}

fn path(index: usize, part: TeamMetricField) -> Signal<String> {
    Signal::stored(Field::TeamMetric(index, part).path())
}

/// The scenario's team metrics, one card each.
#[component]
pub fn TeamMetricsSection() -> impl IntoView {
    let planner = use_planner();
    let count = Memo::new(move |_| {
        planner
            .plan
            .with(|plan| alarm_kinds::team_metrics(plan).len())
    });
    view! {
        <fieldset class="team-metrics">
            <legend>{move || format!("Metrics the team publishes ({} of {MAX_TEAM_METRICS})", count.get())}</legend>
            <p class="hint">
                "Nothing publishes these but the team (PutMetricData). The what-if assumes what each says: a Level metric publishes one value every PublishSeconds around its level, "
                "moving towards its level under the regression in proportion to green's share of traffic; Requests, Errors and Latency are the client's own count of every invocation, endpoint-wide."
            </p>
            <Problems path=Signal::stored(Field::Scenario(guardrail_core::field::ScenarioField::TeamMetrics).path()) id="team-metrics-problems" />
            {move || (0..count.get()).map(|index| view! { <TeamMetricCard index=index /> }).collect_view()}
            <button
                type="button"
                id="add-team-metric"
                disabled=move || { count.get() >= MAX_TEAM_METRICS }
                on:click=move |_| planner.edit(|plan| {
                    let _ = alarm_kinds::add_team_metric(plan);
                })
            >
                "Add a team metric"
            </button>
        </fieldset>
    }
}

#[component]
fn TeamMetricCard(index: usize) -> impl IntoView {
    let planner = use_planner();
    let id = move |part: &str| format!("team-metric-{index}-{part}");
    let kinds: Vec<(String, String)> = TeamMetricKind::ALL
        .into_iter()
        .map(|kind| {
            let label = match kind {
                TeamMetricKind::Level => "Level: a business metric (conversion, score)",
                TeamMetricKind::Requests => "Requests: the client counts every invocation",
                TeamMetricKind::Errors => "Errors: 1 per failed invocation, else 0",
                TeamMetricKind::Latency => "Latency: each invocation's, in ms",
            };
            (kind.as_str().to_string(), label.to_string())
        })
        .collect();
    let resolutions = vec![
        (
            "60".to_string(),
            "Standard (one datapoint a minute)".to_string(),
        ),
        (
            "1".to_string(),
            "High resolution (StorageResolution 1)".to_string(),
        ),
    ];
    view! {
        <article class="alarm-card team-metric" data-path=Field::TeamMetric(index, TeamMetricField::Whole).path()>
            <div class="grid four">
                <TextField id=id("namespace") label="Namespace" path=path(index, TeamMetricField::Namespace)
                    value=model_signal(index, |model| model.namespace.clone())
                    on_change=model_edit(index, |model, value: String| model.namespace = value) />
                <TextField id=id("name") label="Metric name" path=path(index, TeamMetricField::MetricName)
                    value=model_signal(index, |model| model.metric_name.clone())
                    on_change=model_edit(index, |model, value: String| model.metric_name = value) />
                <DimensionsField id=id("dimensions") path=path(index, TeamMetricField::Dimensions)
                    value=model_signal(index, |model| model.dimensions.clone())
                    on_change=model_edit(index, |model, value: Vec<Dimension>| model.dimensions = value) />
                <SelectField id=id("kind") label="What it counts" path=path(index, TeamMetricField::Kind) options=kinds
                    value=model_signal(index, |model| model.kind.as_str().to_string())
                    on_change=model_edit(index, |model, value: String| {
                        if let Some(kind) = TeamMetricKind::ALL.into_iter().find(|kind| kind.as_str() == value) {
                            model.kind = kind;
                        }
                    }) />
                <DecimalField id=id("level") label="Level (blue, healthy)" path=path(index, TeamMetricField::Level)
                    value=model_signal(index, |model| model.level)
                    on_change=model_edit(index, |model, value| model.level = value) />
                <DecimalField id=id("noise") label="Noise (standard deviation)" path=path(index, TeamMetricField::Noise)
                    value=model_signal(index, |model| model.noise)
                    on_change=model_edit(index, |model, value| model.noise = value) />
                <DecimalField id=id("green-level") label="Level under the regression (green)" path=path(index, TeamMetricField::GreenLevel)
                    value=model_signal(index, |model| model.green_level)
                    on_change=model_edit(index, |model, value| model.green_level = value) />
                <WholeField id=id("publish") label="Published every" path=path(index, TeamMetricField::PublishSeconds)
                    value=model_signal(index, |model| model.publish_seconds)
                    on_change=model_edit(index, |model, value| model.publish_seconds = value)
                    seconds=true />
                <SelectField id=id("resolution") label="Storage resolution" path=path(index, TeamMetricField::StorageResolution) options=resolutions
                    value=model_signal(index, |model| model.storage_resolution.unwrap_or(60).to_string())
                    on_change=model_edit(index, |model, value: String| model.storage_resolution = (value == "1").then_some(1)) />
            </div>
            <button type="button" class="remove" id=id("remove")
                on:click=move |_| planner.edit(|plan| {
                    if let Some(scenario) = plan.scenario.as_mut() {
                        if index < scenario.team_metrics.len() {
                            scenario.team_metrics.remove(index);
                        }
                    }
                })
            >
                "Remove"
            </button>
        </article>
    }
}
