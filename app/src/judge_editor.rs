//! The canary judge's editor (the plan's `Judge` section): one click for the
//! default judge and the alarm that acts on it, then each judged metric's
//! direction, allowed effect, minimum sample, weight and critical flag, and
//! the judge's confidence, scores and period. It edits whichever plan the
//! nearest [`Editing`] names: the designer's, or the replay's retrospective
//! copy.

use guardrail_core::field::limits::MAX_JUDGED_METRICS;
use guardrail_core::field::{Field, JudgeField, JudgedMetricField};
use guardrail_core::judge::{Direction, Signal as Judged};
use guardrail_core::plan::{JudgeSection, JudgedMetric};
use leptos::prelude::*;

use crate::fields::{DecimalField, Problems, SelectField, WholeField};
use crate::state::{use_editing, Editing};

fn judge_signal<T: Default + Clone + PartialEq + Send + Sync + 'static>(
    editing: Editing,
    read: impl Fn(&JudgeSection) -> T + Send + Sync + 'static,
) -> Signal<T> {
    Memo::new(move |_| {
        editing
            .plan
            .with(|plan| plan.judge.as_ref().map(&read).unwrap_or_default())
    })
    .into()
}

fn judge_edit<T: 'static>(
    editing: Editing,
    change: impl Fn(&mut JudgeSection, T) + Send + Sync + 'static,
) -> Callback<T> {
    Callback::new(move |value: T| {
        editing.edit(|plan| {
            if let Some(judge) = plan.judge.as_mut() {
                change(judge, value)
            }
        })
    })
}

fn metric_signal<T: Default + Clone + PartialEq + Send + Sync + 'static>(
    editing: Editing,
    index: usize,
    read: impl Fn(&JudgedMetric) -> T + Send + Sync + 'static,
) -> Signal<T> {
    judge_signal(editing, move |judge| {
        judge.metrics.get(index).map(&read).unwrap_or_default()
    })
}

fn metric_edit<T: 'static>(
    editing: Editing,
    index: usize,
    change: impl Fn(&mut JudgedMetric, T) + Send + Sync + 'static,
) -> Callback<T> {
    judge_edit(editing, move |judge, value| {
        if let Some(metric) = judge.metrics.get_mut(index) {
            change(metric, value)
        }
    })
}

fn path(field: Field) -> Signal<String> {
    Signal::stored(field.path())
}

/// The plan's canary judge.
#[component]
pub fn JudgeSectionEditor() -> impl IntoView {
    let editing = use_editing();
    let id = move |part: &str| editing.id(&format!("judge-{part}"));
    let on = Memo::new(move |_| editing.plan.with(|plan| plan.judge.is_some()));
    let count = judge_signal(editing, |judge| judge.metrics.len());
    let said = RwSignal::new(None::<String>);
    view! {
        <fieldset class="judge" id=id("section")>
            <legend>"Canary judge"</legend>
            <p class="hint">
                "While both fleets serve, the judge compares green with blue on the same traffic: error rates by their counts, latency by the ranks of every request. "
                "It looks after every period and is safe to: its false-alarm rate stays under 1 − its confidence however many periods it looks at. "
                "It publishes its score (0–100) as Guardrail/CanaryJudge CanaryScore; an ordinary rollback alarm on that score is what rolls back."
            </p>
            <Problems path=path(Field::Judge(JudgeField::Whole)) id=id("problems") />
            {move || said.get().map(|text| view! { <p class="hint" id=id("status") role="status">{text}</p> })}
            <Show
                when=move || on.get()
                fallback=move || view! {
                    <button type="button" id=id("on") on:click=move |_| {
                        let mut text = String::new();
                        editing.edit(|plan| text = crate::edit::turn_on_judge(plan));
                        said.set(Some(text));
                    }>"Turn on the default judge"</button>
                    <p class="hint">"The default judge: 5XX rate (critical) and model-error rate must not rise, latency may grow by 10 %, each judged from 50 requests a fleet, at 99 % confidence, every 10 s; score 75 passes. The click also adds the CanaryScore rollback alarm."</p>
                }
            >
                <div class="grid three">
                    <DecimalField id=id("confidence") label="Confidence (%)" path=path(Field::Judge(JudgeField::ConfidencePercent))
                        value=judge_signal(editing, |judge| judge.confidence_percent)
                        on_change=judge_edit(editing, |judge, value| judge.confidence_percent = value)
                        hint="99 allows 1 % false alarms, over the whole update" />
                    <DecimalField id=id("pass") label="Pass score" path=path(Field::Judge(JudgeField::PassScore))
                        value=judge_signal(editing, |judge| judge.pass_score)
                        on_change=judge_edit(editing, |judge, value| judge.pass_score = value) />
                    <DecimalField id=id("marginal") label="Marginal score" path=path(Field::Judge(JudgeField::MarginalScore))
                        value=judge_signal(editing, |judge| judge.marginal_score)
                        on_change=judge_edit(editing, |judge, value| judge.marginal_score = value) />
                    <WholeField id=id("period") label="Looks every" path=path(Field::Judge(JudgeField::PeriodSeconds))
                        value=judge_signal(editing, |judge| judge.period_seconds)
                        on_change=judge_edit(editing, |judge, value| judge.period_seconds = value)
                        seconds=true />
                </div>
                <Problems path=path(Field::Judge(JudgeField::Metrics)) id=id("metrics-problems") />
                {move || (0..count.get()).map(|index| view! { <JudgedMetricCard index=index /> }).collect_view()}
                <div class="actions">
                    <button type="button" id=id("add-metric")
                        disabled=move || { count.get() >= MAX_JUDGED_METRICS }
                        on:click=move |_| editing.edit(|plan| {
                            let _ = crate::edit::add_judged_metric(plan);
                        })>
                        {format!("Judge another metric (up to {MAX_JUDGED_METRICS})")}
                    </button>
                    <button type="button" id=id("off") on:click=move |_| {
                        editing.edit(|plan| plan.judge = None);
                        said.set(Some("The judge is off. An alarm on CanaryScore now sees no data (its TreatMissingData decides).".into()));
                    }>"Turn the judge off"</button>
                </div>
                <p class="hint" id=id("missing-data")>
                    "TreatMissingData of the CanaryScore alarm: the judge publishes nothing until both fleets have served its minimum samples, nor if it stops. "
                    <strong>"notBreaching"</strong>" is the safe choice: no score means no rollback by the judge, and the other alarms still act. "
                    <strong>"breaching"</strong>" rolls back every update at the start of its bake, before the first score. "
                    "missing and ignore leave the alarm as it was, so an update whose judge stopped goes on unjudged, as with notBreaching."
                </p>
            </Show>
        </fieldset>
    }
}

#[component]
fn JudgedMetricCard(index: usize) -> impl IntoView {
    let editing = use_editing();
    let id = move |part: &str| editing.id(&format!("judged-{index}-{part}"));
    let at = move |part: JudgedMetricField| path(Field::JudgedMetric(index, part));
    let metrics: Vec<(String, String)> = Judged::ALL
        .into_iter()
        .map(|signal| {
            let label = match signal {
                Judged::Invocation5XXErrors => "5XX rate (Invocation5XXErrors / Invocations)",
                Judged::Invocation4XXErrors => "4XX rate (Invocation4XXErrors / Invocations)",
                Judged::InvocationModelErrors => {
                    "Model-error rate (InvocationModelErrors / Invocations)"
                }
                Judged::ModelLatency => "ModelLatency (every request's)",
            };
            (signal.name().to_string(), label.to_string())
        })
        .collect();
    let directions: Vec<(String, String)> = Direction::ALL
        .into_iter()
        .map(|direction| {
            let label = match direction {
                Direction::Increase => "An increase is bad",
                Direction::Decrease => "A decrease is bad",
                Direction::Either => "Either change is bad",
            };
            (direction.name().to_string(), label.to_string())
        })
        .collect();
    let critical = metric_signal(editing, index, |metric| metric.critical.unwrap_or(false));
    view! {
        <article class="alarm-card judged-metric" data-path=Field::JudgedMetric(index, JudgedMetricField::Whole).path()>
            <div class="grid three">
                <SelectField id=id("metric") label="Metric" path=at(JudgedMetricField::MetricName) options=metrics
                    value=metric_signal(editing, index, |metric| metric.metric_name.clone())
                    on_change=metric_edit(editing, index, |metric, value: String| metric.metric_name = value) />
                <SelectField id=id("direction") label="Direction" path=at(JudgedMetricField::Direction) options=directions
                    value=metric_signal(editing, index, |metric| metric.direction.clone().unwrap_or_else(|| "Increase".into()))
                    on_change=metric_edit(editing, index, |metric, value: String| metric.direction = Some(value)) />
                <DecimalField id=id("effect") label="Allowed effect (%)" path=at(JudgedMetricField::AllowedEffectPercent)
                    value=metric_signal(editing, index, |metric| metric.allowed_effect_percent)
                    on_change=metric_edit(editing, index, |metric, value| metric.allowed_effect_percent = value)
                    hint="How much worse green may be before it counts" />
                <WholeField id=id("minimum") label="Minimum samples a fleet" path=at(JudgedMetricField::MinimumSamples)
                    value=metric_signal(editing, index, |metric| metric.minimum_samples)
                    on_change=metric_edit(editing, index, |metric, value| metric.minimum_samples = value) />
                <DecimalField id=id("weight") label="Weight in the score" path=at(JudgedMetricField::Weight)
                    value=metric_signal(editing, index, |metric| metric.weight)
                    on_change=metric_edit(editing, index, |metric, value| metric.weight = value) />
            </div>
            <div class="field checkbox">
                <label for=id("critical")>
                    <input id=id("critical") type="checkbox"
                        prop:checked=move || critical.get()
                        on:change=move |event| {
                            let on = event_target_checked(&event);
                            editing.edit(|plan| {
                                if let Some(metric) = plan.judge.as_mut().and_then(|judge| judge.metrics.get_mut(index)) {
                                    metric.critical = Some(on);
                                }
                            })
                        } />
                    "Critical: failing this metric fails green, whatever the score"
                </label>
            </div>
            <Problems path=at(JudgedMetricField::Critical) id=id("critical-problems") />
            <button type="button" class="remove" id=id("remove")
                on:click=move |_| editing.edit(|plan| {
                    if let Some(judge) = plan.judge.as_mut() {
                        if index < judge.metrics.len() {
                            judge.metrics.remove(index);
                        }
                    }
                })>
                "Remove"
            </button>
        </article>
    }
}
