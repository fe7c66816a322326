//! The alarm editor, for the plan of the nearest [`crate::state::Editing`]:
//! each alarm's name and rollback listing, what it watches (one SageMaker
//! metric, the team's own metric, or metric math over several), when it
//! fires and how it counts; and the plan's composite alarms.

use guardrail_core::alarm::{Metric, NAMESPACE};
use guardrail_core::field::limits::{MAX_ALARMS, MAX_COMPOSITE_ALARMS};
use guardrail_core::field::{AlarmField, CompositeField, Field, QueryField};
use guardrail_core::plan::{
    ComparisonOperator, CompositeAlarm, Dimension, MetricAlarm, MetricDataQuery, Statistic,
    TreatMissingData,
};
use leptos::prelude::*;

use crate::alarm_kinds;
use crate::browser;
use crate::edit;
use crate::fields::{DecimalField, Problems, SelectField, TextField, WholeField};
use crate::state::use_editing;

/// The path of a field, for a control that always edits that field.
fn fixed(field: Field) -> Signal<String> {
    Signal::stored(field.path())
}

fn metric_options() -> Vec<(String, String)> {
    Metric::ALL
        .into_iter()
        .map(|metric| {
            (
                metric.as_str().to_string(),
                format!("{} ({})", metric.as_str(), metric.unit()),
            )
        })
        .collect()
}

fn statistic_options(current: &str) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = Statistic::ALL
        .into_iter()
        .map(|statistic| {
            (
                statistic.as_str().to_string(),
                statistic.as_str().to_string(),
            )
        })
        .chain(
            ["p50", "p90", "p95", "p99", "p99.9"]
                .into_iter()
                .map(|p| (p.to_string(), format!("{p} (percentile)"))),
        )
        .collect();
    if !current.is_empty() && !options.iter().any(|(value, _)| value == current) {
        options.push((current.to_string(), current.to_string()));
    }
    options
}

const COMPARISONS: [(&str, &str); 4] = [
    ("GreaterThanOrEqualToThreshold", ">= threshold"),
    ("GreaterThanThreshold", "> threshold"),
    ("LessThanThreshold", "< threshold"),
    ("LessThanOrEqualToThreshold", "<= threshold"),
];

const MISSING: [(&str, &str); 4] = [
    ("missing", "missing (default): not considered"),
    ("notBreaching", "notBreaching: counts as good"),
    ("breaching", "breaching: counts as bad"),
    ("ignore", "ignore: keep the current state"),
];

/// An edit that adds an alarm, and its index.
type AddAlarm = fn(&mut guardrail_core::Plan) -> Option<usize>;

/// The ways to add an alarm: (button id, label, the edit).
const ADD_ALARMS: [(&str, &str, AddAlarm); 3] = [
    ("add-alarm", "Add alarm", edit::add_alarm),
    (
        "add-rate-alarm",
        "Add error rate (metric math)",
        alarm_kinds::add_rate_alarm,
    ),
    (
        "add-team-alarm",
        "Add alarm on a team metric",
        alarm_kinds::add_team_alarm,
    ),
];

/// The alarm editor, for the plan of the nearest [`Editing`].
#[component]
pub fn AlarmsSection() -> impl IntoView {
    let editing = use_editing();
    let count = Memo::new(move |_| editing.plan.with(|plan| plan.alarms.len()));
    let removed = RwSignal::new(None::<String>);
    view! {
        <fieldset class="alarms">
            <legend>{move || format!("Alarms ({} of {MAX_ALARMS})", count.get())}</legend>
            <Problems path=fixed(Field::AutoRollback) id=editing.id("rollback-problems") />
            <Problems path=fixed(Field::RollbackAlarms) id=editing.id("rollback-list-problems") />
            // Where focus goes when an alarm is removed: the next card takes
            // the removed one's place, and with focus left on its Remove
            // button a second Enter would remove that alarm too.
            <p class="hint" id=editing.id("alarms-status") tabindex="-1" role="status">
                {move || removed.get().map(|name| {
                    // Only the planner's own plan has an undo.
                    let undo = if editing.prefix.is_empty() { " Undo (Ctrl+Z) brings it back." } else { "" };
                    format!("Removed alarm {name}.{undo}")
                })}
            </p>
            {move || (0..count.get()).map(|index| view! { <AlarmCard index=index removed=removed /> }).collect_view()}
            {ADD_ALARMS
                .into_iter()
                .map(|(id, label, add)| view! {
                    <button
                        type="button"
                        id=editing.id(id)
                        disabled=move || { count.get() >= MAX_ALARMS }
                        on:click=move |_| editing.edit(|plan| {
                            let _ = add(plan);
                        })
                    >
                        {label}
                    </button>
                })
                .collect_view()}
        </fieldset>
    }
}

/// Reads one alarm of the plan, or the default when it is gone.
fn alarm_signal<T: Default + Clone + PartialEq + Send + Sync + 'static>(
    index: usize,
    read: impl Fn(&MetricAlarm) -> T + Send + Sync + 'static,
) -> Signal<T> {
    let editing = use_editing();
    Memo::new(move |_| {
        editing
            .plan
            .with(|plan| plan.alarms.get(index).map(&read).unwrap_or_default())
    })
    .into()
}

/// Applies a change to one alarm of the plan.
fn alarm_edit<T: 'static>(
    index: usize,
    change: impl Fn(&mut MetricAlarm, T) + Send + Sync + 'static,
) -> Callback<T> {
    let editing = use_editing();
    Callback::new(move |value: T| {
        editing.edit(|plan| {
            if let Some(alarm) = plan.alarms.get_mut(index) {
                change(alarm, value)
            }
        })
    })
}

fn alarm_path(index: usize, field: AlarmField) -> Signal<String> {
    fixed(Field::Alarm(index, field))
}

fn alarm_id(index: usize, field: &str) -> String {
    use_editing().id(&format!("alarm-{index}-{field}"))
}

/// One alarm: its name, whether it rolls back, what it watches and when it fires.
#[component]
fn AlarmCard(index: usize, removed: RwSignal<Option<String>>) -> impl IntoView {
    let editing = use_editing();
    let name = Memo::new(move |_| {
        editing
            .plan
            .with(|plan| plan.alarms.get(index).map(|alarm| alarm.alarm_name.clone()))
            .unwrap_or_default()
    });
    let kind = Memo::new(move |_| {
        editing.plan.with(|plan| {
            plan.alarms
                .get(index)
                .map(kind_of)
                .unwrap_or(Kind::SageMaker)
        })
    });
    view! {
        <article class="alarm-card" aria-label=move || format!("Alarm {}", name.get())>
            <div class="alarm-head">
                <TextField
                    id=alarm_id(index, "name")
                    label="Alarm name"
                    path=alarm_path(index, AlarmField::AlarmName)
                    value=alarm_signal(index, |alarm| alarm.alarm_name.clone())
                    on_change=Callback::new(move |value: String| editing.edit(|plan| edit::rename_alarm(plan, index, value)))
                />
                <button
                    type="button"
                    class="remove"
                    aria-label=move || format!("Remove alarm {}", name.get())
                    on:click=move |_| {
                        let gone = name.get_untracked();
                        editing.edit(|plan| edit::remove_alarm(plan, index));
                        removed.set(Some(gone));
                        browser::focus_id(&editing.id("alarms-status"));
                    }
                >
                    "Remove"
                </button>
            </div>
            {editing.rollback_choice.then(|| view! { <RollbackChoice index name /> })}
            {move || match kind.get() {
                Kind::SageMaker => view! {
                    <div class="grid three">
                        <AlarmCondition index=index />
                        <AlarmWindow index=index />
                        <AlarmScope index=index />
                    </div>
                }.into_any(),
                Kind::Team => view! {
                    <div class="grid three">
                        <TeamMetricFields index=index />
                        <AlarmComparison index=index />
                        <AlarmWindow index=index />
                    </div>
                }.into_any(),
                Kind::Math => view! {
                    <div class="grid three">
                        <AlarmComparison index=index />
                        <AlarmWindow index=index math=true />
                    </div>
                    <AlarmQueries index=index />
                }.into_any(),
            }}
        </article>
    }
}

/// Whether alarm `index` (named `name`) is listed for rollback.
#[component]
fn RollbackChoice(index: usize, name: Memo<String>) -> impl IntoView {
    let editing = use_editing();
    let rollback = Memo::new(move |_| {
        editing
            .plan
            .with(|plan| edit::is_rollback_alarm(plan, &name.get()))
    });
    view! {
        <div class="field checkbox">
            <label for=alarm_id(index, "rollback")>
                <input
                    id=alarm_id(index, "rollback")
                    type="checkbox"
                    prop:checked=move || rollback.get()
                    on:change=move |event| {
                        let on = event_target_checked(&event);
                        editing.edit(|plan| edit::set_rollback_alarm(plan, &name.get_untracked(), on))
                    }
                />
                "Roll back when it fires (listed in AutoRollbackConfiguration)"
            </label>
        </div>
    }
}

/// What an alarm compares: metric, statistic, comparison and threshold.
#[component]
fn AlarmCondition(index: usize) -> impl IntoView {
    view! {
        <SelectField
            id=alarm_id(index, "metric")
            label="Metric"
            path=alarm_path(index, AlarmField::MetricName)
            options=metric_options()
            value=alarm_signal(index, |alarm| alarm.metric_name.clone())
            on_change=alarm_edit(index, |alarm, value: String| alarm.metric_name = value)
        />
        <StatisticField index=index />
        <TextField
            id=alarm_id(index, "namespace")
            label="Namespace"
            path=alarm_path(index, AlarmField::Namespace)
            value=alarm_signal(index, |alarm| alarm.namespace.clone())
            on_change=alarm_edit(index, |alarm, value: String| alarm.namespace = value)
            hint="AWS/SageMaker, or your team's own (then any metric name)"
        />
        <AlarmComparison index=index />
    }
}

/// A single-metric alarm's statistic: a basic one or a percentile.
#[component]
fn StatisticField(index: usize) -> impl IntoView {
    let editing = use_editing();
    let statistic_now = editing.plan.with_untracked(|plan| {
        plan.alarms
            .get(index)
            .map(edit::statistic_label)
            .unwrap_or_default()
    });
    view! {
        <SelectField
            id=alarm_id(index, "statistic")
            label="Statistic"
            path=alarm_path(index, AlarmField::Statistic)
            options=statistic_options(&statistic_now)
            value=alarm_signal(index, edit::statistic_label)
            on_change=alarm_edit(index, |alarm, value: String| edit::set_statistic(alarm, &value))
        />
    }
}

/// When an alarm fires: the comparison and the threshold.
#[component]
fn AlarmComparison(index: usize) -> impl IntoView {
    let threshold_label = alarm_signal(index, |alarm| {
        if alarm.is_math() {
            "Threshold (the expression's value)".to_string()
        } else {
            edit::threshold_label(alarm)
        }
    });
    view! {
        <SelectField
            id=alarm_id(index, "comparison")
            label="Fires when"
            path=alarm_path(index, AlarmField::ComparisonOperator)
            options=COMPARISONS.iter().map(|(value, label)| (value.to_string(), label.to_string())).collect()
            value=alarm_signal(index, |alarm| {
                alarm
                    .comparison_operator
                    .map(|operator| operator.as_str().to_string())
                    .unwrap_or_default()
            })
            on_change=alarm_edit(index, |alarm, value: String| {
                alarm.comparison_operator = ComparisonOperator::THRESHOLD
                    .into_iter()
                    .find(|operator| operator.as_str() == value)
            })
        />
        <DecimalField
            id=alarm_id(index, "threshold")
            label=threshold_label
            path=alarm_path(index, AlarmField::Threshold)
            value=alarm_signal(index, |alarm| alarm.threshold)
            on_change=alarm_edit(index, |alarm, value| alarm.threshold = value)
        />
    }
}

/// When an alarm counts: period, N, M and missing data. A math alarm's
/// period is its metrics' one period, which the field sets on all of them.
#[component]
fn AlarmWindow(index: usize, #[prop(optional)] math: bool) -> impl IntoView {
    let editing = use_editing();
    let period_path = Memo::new(move |_| {
        let first = editing.plan.with(|plan| {
            plan.alarms
                .get(index)
                .and_then(|alarm| alarm.metrics.as_ref())
                .and_then(|queries| queries.iter().position(|query| query.metric_stat.is_some()))
        });
        match (math, first) {
            (true, Some(query)) => Field::AlarmQuery(index, query, QueryField::StatPeriod).path(),
            _ => Field::Alarm(index, AlarmField::Period).path(),
        }
    });
    view! {
        <WholeField
            id=alarm_id(index, "period")
            label=if math { "Period (every metric)" } else { "Period" }
            path=period_path
            value=alarm_signal(index, move |alarm| if math { alarm_kinds::math_period(alarm) } else { alarm.period })
            on_change=alarm_edit(index, move |alarm, value| if math { alarm_kinds::set_math_period(alarm, value) } else { alarm.period = value })
            seconds=true
            hint="10, 20, 30 (high resolution) or a multiple of 60 s"
        />
        <WholeField
            id=alarm_id(index, "evaluation-periods")
            label="Evaluation periods (N)"
            path=alarm_path(index, AlarmField::EvaluationPeriods)
            value=alarm_signal(index, |alarm| alarm.evaluation_periods)
            on_change=alarm_edit(index, |alarm, value| alarm.evaluation_periods = value)
        />
        <WholeField
            id=alarm_id(index, "datapoints")
            label="Datapoints to alarm (M)"
            path=alarm_path(index, AlarmField::DatapointsToAlarm)
            value=alarm_signal(index, |alarm| alarm.datapoints_to_alarm)
            on_change=alarm_edit(index, |alarm, value| alarm.datapoints_to_alarm = value)
            hint="Empty: same as N"
        />
        <SelectField
            id=alarm_id(index, "missing")
            label="Missing data"
            path=alarm_path(index, AlarmField::TreatMissingData)
            options=MISSING.iter().map(|(value, label)| (value.to_string(), label.to_string())).collect()
            value=alarm_signal(index, |alarm| {
                alarm
                    .treat_missing_data
                    .unwrap_or(TreatMissingData::Missing)
                    .as_str()
                    .to_string()
            })
            on_change=alarm_edit(index, |alarm, value: String| {
                alarm.treat_missing_data = TreatMissingData::ALL
                    .into_iter()
                    .find(|treat| treat.as_str() == value)
            })
        />
    }
}

/// Which fleets an alarm watches: its dimensions.
#[component]
fn AlarmScope(index: usize) -> impl IntoView {
    let editing = use_editing();
    let new_fleet = Memo::new(move |_| {
        editing
            .plan
            .with(|plan| plan.alarms.get(index).is_some_and(edit::is_new_fleet_only))
    });
    view! {
        <div class="field" data-path=Field::Alarm(index, AlarmField::Dimensions).path()>
            <label for=alarm_id(index, "scope")>"Watches"</label>
            <select
                id=alarm_id(index, "scope")
                on:change=move |event| {
                    let new_fleet = event_target_value(&event) == "new-fleet";
                    editing.edit(|plan| {
                        let snapshot = plan.clone();
                        if let Some(alarm) = plan.alarms.get_mut(index) {
                            edit::set_scope(&snapshot, alarm, new_fleet)
                        }
                    })
                }
            >
                <option value="endpoint" selected=move || !new_fleet.get()>"Whole endpoint (EndpointName + VariantName)"</option>
                <option value="new-fleet" selected=move || new_fleet.get()>"New fleet only (+ EndpointConfigName)"</option>
            </select>
            <Problems path=alarm_path(index, AlarmField::Dimensions) id=alarm_id(index, "scope-problems") />
        </div>
    }
}

/// What an alarm card edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// One of SageMaker's endpoint metrics.
    SageMaker,
    /// One metric the team publishes (a namespace outside AWS/SageMaker).
    Team,
    /// Metric math over several metrics.
    Math,
}

fn kind_of(alarm: &MetricAlarm) -> Kind {
    if alarm.is_math() {
        Kind::Math
    } else if alarm.namespace == NAMESPACE || alarm.namespace.is_empty() {
        Kind::SageMaker
    } else {
        Kind::Team
    }
}

/// Dimensions as one line of `Name=Value` pairs, taken when the field is left
/// (typing `Name=` mid-way is not a plan yet).
#[component]
pub(crate) fn DimensionsField(
    #[prop(into)] id: String,
    #[prop(into)] path: Signal<String>,
    #[prop(into)] value: Signal<Vec<Dimension>>,
    on_change: Callback<Vec<Dimension>>,
) -> impl IntoView {
    let problems_id = format!("{id}-problems");
    view! {
        <div class="field" data-path=move || path.get()>
            <label for=id.clone()>"Dimensions"</label>
            <input
                id=id.clone()
                type="text"
                autocomplete="off"
                spellcheck="false"
                prop:value=move || alarm_kinds::dimensions_text(&value.get())
                aria-describedby=problems_id.clone()
                on:change=move |event| on_change.run(alarm_kinds::parse_dimensions(&event_target_value(&event)))
            />
            <p class="hint">"Name=Value, Name=Value: CloudWatch matches them exactly"</p>
            <Problems path=path id=problems_id />
        </div>
    }
}

/// An alarm on one metric the team publishes: its namespace, name,
/// dimensions and statistic.
#[component]
fn TeamMetricFields(index: usize) -> impl IntoView {
    view! {
        <TextField
            id=alarm_id(index, "namespace")
            label="Namespace"
            path=alarm_path(index, AlarmField::Namespace)
            value=alarm_signal(index, |alarm| alarm.namespace.clone())
            on_change=alarm_edit(index, |alarm, value: String| alarm.namespace = value)
            hint="The team's own; AWS/SageMaker for SageMaker's metrics"
        />
        <TextField
            id=alarm_id(index, "metric-name")
            label="Metric name"
            path=alarm_path(index, AlarmField::MetricName)
            value=alarm_signal(index, |alarm| alarm.metric_name.clone())
            on_change=alarm_edit(index, |alarm, value: String| alarm.metric_name = value)
        />
        <DimensionsField
            id=alarm_id(index, "dimensions")
            path=alarm_path(index, AlarmField::Dimensions)
            value=alarm_signal(index, |alarm| alarm.dimensions.clone())
            on_change=alarm_edit(index, |alarm, value: Vec<Dimension>| alarm.dimensions = value)
        />
        <StatisticField index=index />
    }
}

/// Reads query `query` of alarm `index`.
fn query_signal<T: Default + Clone + PartialEq + Send + Sync + 'static>(
    index: usize,
    query: usize,
    read: impl Fn(&MetricDataQuery) -> T + Send + Sync + 'static,
) -> Signal<T> {
    alarm_signal(index, move |alarm| {
        alarm
            .metrics
            .as_ref()
            .and_then(|queries| queries.get(query))
            .map(&read)
            .unwrap_or_default()
    })
}

/// Applies a change to query `query` of alarm `index`.
fn query_edit<T: 'static>(
    index: usize,
    query: usize,
    change: impl Fn(&mut MetricDataQuery, T) + Send + Sync + 'static,
) -> Callback<T> {
    alarm_edit(index, move |alarm, value| {
        if let Some(found) = alarm
            .metrics
            .as_mut()
            .and_then(|queries| queries.get_mut(query))
        {
            change(found, value)
        }
    })
}

fn query_path(index: usize, query: usize, part: QueryField) -> Signal<String> {
    fixed(Field::AlarmQuery(index, query, part))
}

/// A math alarm's metrics and expressions, one row each, and the supported
/// functions.
#[component]
fn AlarmQueries(index: usize) -> impl IntoView {
    let editing = use_editing();
    let count = Memo::new(move |_| {
        editing.plan.with(|plan| {
            plan.alarms
                .get(index)
                .and_then(|alarm| alarm.metrics.as_ref().map(Vec::len))
                .unwrap_or(0)
        })
    });
    let add = move |expression: bool| {
        move |_| {
            editing.edit(|plan| {
                let snapshot = plan.clone();
                if let Some(alarm) = plan.alarms.get_mut(index) {
                    alarm_kinds::add_query(&snapshot, alarm, expression);
                }
            })
        }
    };
    view! {
        <fieldset class="queries" id=alarm_id(index, "queries")>
            <legend>"Metrics and expressions (metric math)"</legend>
            <Problems path=alarm_path(index, AlarmField::Metrics) id=alarm_id(index, "metrics-problems") />
            {move || (0..count.get()).map(|query| view! { <QueryRow index=index query=query /> }).collect_view()}
            <button type="button" id=alarm_id(index, "add-metric") on:click=add(false)>"Add metric"</button>
            <button type="button" id=alarm_id(index, "add-expression") on:click=add(true)>"Add expression"</button>
            <p class="hint">{format!("Expressions name metrics by Id. guardrail evaluates {}; other CloudWatch functions are refused by name.", guardrail_core::math::SUPPORTED)}</p>
        </fieldset>
    }
}

/// One query of a math alarm: a metric or an expression, whether the alarm
/// watches it, and its label.
#[component]
fn QueryRow(index: usize, query: usize) -> impl IntoView {
    let editing = use_editing();
    let expression = query_signal(index, query, |found| found.expression.is_some());
    let id = move |part: &str| alarm_id(index, &format!("query-{query}-{part}"));
    view! {
        <div class="query grid three" data-path=Field::AlarmQuery(index, query, QueryField::Whole).path()>
            <TextField
                id=id("id")
                label="Id"
                path=query_path(index, query, QueryField::Id)
                value=query_signal(index, query, |found| found.id.clone())
                on_change=query_edit(index, query, |found, value: String| found.id = value)
            />
            {move || if expression.get() {
                view! {
                    <TextField
                        id=id("expression")
                        label="Expression"
                        path=query_path(index, query, QueryField::Expression)
                        value=query_signal(index, query, |found| found.expression.clone().unwrap_or_default())
                        on_change=query_edit(index, query, |found, value: String| found.expression = Some(value))
                        hint="For example 100 * FILL(errors, 0) / requests"
                    />
                }.into_any()
            } else {
                view! { <QueryMetric index query /> }.into_any()
            }}
            <TextField
                id=id("label")
                label="Label"
                path=query_path(index, query, QueryField::Label)
                value=query_signal(index, query, |found| found.label.clone().unwrap_or_default())
                on_change=query_edit(index, query, |found, value: String| found.label = (!value.is_empty()).then_some(value))
            />
            <div class="field checkbox">
                <label for=id("returns")>
                    <input
                        id=id("returns")
                        type="radio"
                        name=alarm_id(index, "returns")
                        prop:checked=query_signal(index, query, MetricDataQuery::returns_data)
                        on:change=move |_| editing.edit(|plan| {
                            if let Some(alarm) = plan.alarms.get_mut(index) {
                                alarm_kinds::set_returned(alarm, query)
                            }
                        })
                    />
                    "The alarm watches this one (ReturnData)"
                </label>
            </div>
            <button
                type="button"
                class="remove"
                id=id("remove")
                on:click=move |_| editing.edit(|plan| {
                    if let Some(alarm) = plan.alarms.get_mut(index) {
                        alarm_kinds::remove_query(alarm, query)
                    }
                })
            >
                "Remove"
            </button>
            <Problems path=query_path(index, query, QueryField::Whole) id=id("problems") />
        </div>
    }
}

/// Query `query` of alarm `index` as a metric: namespace, name, dimensions
/// and statistic.
#[component]
fn QueryMetric(index: usize, query: usize) -> impl IntoView {
    let editing = use_editing();
    let id = move |part: &str| alarm_id(index, &format!("query-{query}-{part}"));
    let stat_now = editing.plan.with_untracked(|plan| {
        plan.alarms
            .get(index)
            .and_then(|alarm| alarm.metrics.as_ref()?.get(query)?.metric_stat.as_ref())
            .map(|stat| stat.stat.clone())
            .unwrap_or_default()
    });
    view! {
        <TextField
            id=id("namespace")
            label="Namespace"
            path=query_path(index, query, QueryField::Namespace)
            value=query_signal(index, query, |found| found.metric_stat.as_ref().map(|stat| stat.metric.namespace.clone()).unwrap_or_default())
            on_change=query_edit(index, query, |found, value: String| if let Some(stat) = found.metric_stat.as_mut() { stat.metric.namespace = value })
        />
        <TextField
            id=id("metric-name")
            label="Metric name"
            path=query_path(index, query, QueryField::MetricName)
            value=query_signal(index, query, |found| found.metric_stat.as_ref().map(|stat| stat.metric.metric_name.clone()).unwrap_or_default())
            on_change=query_edit(index, query, |found, value: String| if let Some(stat) = found.metric_stat.as_mut() { stat.metric.metric_name = value })
        />
        <DimensionsField
            id=id("dimensions")
            path=query_path(index, query, QueryField::Dimensions)
            value=query_signal(index, query, |found| found.metric_stat.as_ref().map(|stat| stat.metric.dimensions.clone()).unwrap_or_default())
            on_change=query_edit(index, query, |found, value: Vec<Dimension>| if let Some(stat) = found.metric_stat.as_mut() { stat.metric.dimensions = value })
        />
        <SelectField
            id=id("stat")
            label="Statistic"
            path=query_path(index, query, QueryField::Stat)
            options=statistic_options(&stat_now)
            value=query_signal(index, query, |found| found.metric_stat.as_ref().map(|stat| stat.stat.clone()).unwrap_or_default())
            on_change=query_edit(index, query, |found, value: String| if let Some(stat) = found.metric_stat.as_mut() { stat.stat = value })
        />
    }
}

/// The plan's composite alarms: each pages, or feeds a dashboard, when its
/// rule over other alarms holds. guardrail assumes SageMaker rolls back on
/// metric alarms only (the assumption `composite_rollback`), which it says.
#[component]
pub fn CompositeSection() -> impl IntoView {
    let editing = use_editing();
    let count = Memo::new(move |_| editing.plan.with(|plan| plan.composite_alarms.len()));
    view! {
        <fieldset class="composites">
            <legend>{move || format!("Composite alarms ({} of {MAX_COMPOSITE_ALARMS})", count.get())}</legend>
            <p class="hint" id="composite-assumption">
                "A composite alarm is in ALARM while its rule (ALARM(name), OK(name), INSUFFICIENT_DATA(name), AND, OR, NOT, TRUE, FALSE) holds. "
                "AWS does not say whether SageMaker rolls back on one; guardrail assumes not (SageMaker reads alarms with DescribeAlarms, which returns only metric alarms unless asked), "
                "so list the metric alarms its rule names for rollback: for ALARM(a) OR ALARM(b) that is the same rollback."
            </p>
            <Problems path=fixed(Field::CompositeAlarms) id="composites-problems" />
            {move || (0..count.get()).map(|index| view! { <CompositeCard index=index /> }).collect_view()}
            <button
                type="button"
                id="add-composite"
                disabled=move || { count.get() >= MAX_COMPOSITE_ALARMS }
                on:click=move |_| editing.edit(|plan| {
                    let _ = alarm_kinds::add_composite(plan);
                })
            >
                "Add composite alarm"
            </button>
        </fieldset>
    }
}

/// Reads composite alarm `index`.
fn composite_signal(
    index: usize,
    read: impl Fn(&CompositeAlarm) -> String + Send + Sync + 'static,
) -> Signal<String> {
    let editing = use_editing();
    Memo::new(move |_| {
        editing.plan.with(|plan| {
            plan.composite_alarms
                .get(index)
                .map(&read)
                .unwrap_or_default()
        })
    })
    .into()
}

fn composite_edit(
    index: usize,
    change: impl Fn(&mut CompositeAlarm, String) + Send + Sync + 'static,
) -> Callback<String> {
    let editing = use_editing();
    Callback::new(move |value: String| {
        editing.edit(|plan| {
            if let Some(alarm) = plan.composite_alarms.get_mut(index) {
                change(alarm, value)
            }
        })
    })
}

#[component]
fn CompositeCard(index: usize) -> impl IntoView {
    let editing = use_editing();
    let path = move |part| fixed(Field::Composite(index, part));
    view! {
        <article class="alarm-card composite">
            <div class="alarm-head">
                <TextField
                    id=format!("composite-{index}-name")
                    label="Composite alarm name"
                    path=path(CompositeField::AlarmName)
                    value=composite_signal(index, |alarm| alarm.alarm_name.clone())
                    on_change=composite_edit(index, |alarm, value| alarm.alarm_name = value)
                />
                <button
                    type="button"
                    class="remove"
                    id=format!("composite-{index}-remove")
                    on:click=move |_| editing.edit(|plan| {
                        if index < plan.composite_alarms.len() {
                            plan.composite_alarms.remove(index);
                        }
                    })
                >
                    "Remove"
                </button>
            </div>
            <TextField
                id=format!("composite-{index}-rule")
                label="Rule (AlarmRule)"
                path=path(CompositeField::AlarmRule)
                value=composite_signal(index, |alarm| alarm.alarm_rule.clone())
                on_change=composite_edit(index, |alarm, value| alarm.alarm_rule = value)
                hint="For example ALARM(\"errors-5xx\") OR ALARM(\"latency\")"
            />
            <TextField
                id=format!("composite-{index}-description")
                label="Description"
                path=path(CompositeField::AlarmDescription)
                value=composite_signal(index, |alarm| alarm.alarm_description.clone().unwrap_or_default())
                on_change=composite_edit(index, |alarm, value| alarm.alarm_description = (!value.is_empty()).then_some(value))
            />
        </article>
    }
}
