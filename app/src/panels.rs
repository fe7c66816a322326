//! The right-hand views: preview, what-if, comparison, export and import.

use guardrail_core::alarm::trim_float;
use guardrail_core::assumptions::ASSUMPTIONS;
use guardrail_core::explain::mmss;
use guardrail_core::export::{export, Format};
use guardrail_core::field::{Field, Fleet, ScenarioField};
use guardrail_core::plan::Scenario;
use guardrail_core::schedule::{schedule, Schedule};
use guardrail_core::simulate::{Detection, Spread};
use guardrail_core::tune::Share;
use guardrail_core::verdict::Judgement;
use guardrail_core::{check, Plan};
use leptos::prelude::*;

use crate::analysis::{use_analyses, Shown, WhatIf, COMPARE_RUNS, CURVE_RUNS};
use crate::browser;
use crate::charts::{
    compare_chart, describe_schedule, detection_curve_chart, traffic_chart, COMPARE_COLOURS,
};
use crate::edit::{self, Imported};
use crate::fields::DecimalField;
use crate::presets::{self, PRESETS};
use crate::state::{use_planner, Notice, MOST_PINNED};

fn seconds_text(seconds: u32) -> String {
    format!("{} ({seconds} s)", mmss(u64::from(seconds)))
}

/// The User Timing mark set when the plan's traffic chart is first drawn.
pub const FIRST_CHART_MARK: &str = "guardrail:first-chart";

#[component]
pub fn PreviewPanel() -> impl IntoView {
    let planner = use_planner();
    // The last plan that had a schedule: an error in one field keeps it on
    // screen, dimmed, with the error beside it, rather than hiding it all.
    let shown = Memo::new(
        move |previous: Option<&Option<(Schedule, String, String)>>| {
            planner.schedule.with(|schedule| match schedule {
                Some(schedule) => Some((
                    schedule.clone(),
                    traffic_chart(schedule, None, planner.chart_width.get()),
                    describe_schedule(schedule),
                )),
                None => previous.cloned().flatten(),
            })
        },
    );
    let broken = Memo::new(move |_| planner.schedule.with(Option::is_none));
    // When the page's first chart is on screen: the time to first chart
    // that the browser benchmark reads (BENCHMARKS.md).
    Effect::new(move |marked: Option<bool>| {
        let drawn = marked.unwrap_or(false) || shown.with(Option::is_some);
        if drawn && marked != Some(true) {
            crate::browser::mark(FIRST_CHART_MARK);
        }
        drawn
    });
    let first_error = move || {
        planner.checked.with(|checked| {
            let errors = &checked.report.errors;
            errors.first().map(|first| match errors.len() {
                1 => format!("The plan has an error, so it has no schedule: {first}."),
                count => format!(
                    "The plan has {count} errors, so it has no schedule. The first: {first}."
                ),
            })
        })
    };
    view! {
        <div class="panel" role="tabpanel" id="panel-plan" aria-labelledby="tab-plan">
            <Show when=move || broken.get()>
                <p class="notice error" id="preview-error" role="alert">
                    {first_error}
                    {move || shown.with(Option::is_some).then_some(" Below: the last plan that had one, dimmed.")}
                </p>
            </Show>
            {move || match shown.get() {
                Some((schedule, svg, description)) => view! {
                    <div class:stale=move || broken.get() aria-hidden=move || broken.get().to_string()>
                        <Summary schedule=schedule.clone() />
                        <div id="traffic-chart" class="chart" role="img" aria-label=description inner_html=svg></div>
                        <StepsTable schedule=schedule />
                    </div>
                }
                .into_any(),
                None => view! {
                    <p class="empty" id="chart-unavailable">
                        "The plan has errors, so it has no schedule yet. Fix the problems listed on the left."
                    </p>
                }
                .into_any(),
            }}
            <Assumptions />
        </div>
    }
}

#[component]
fn Summary(schedule: Schedule) -> impl IntoView {
    let watched = match schedule.monitoring {
        Some((start, end)) => format!("{} to {}", mmss(u64::from(start)), mmss(u64::from(end))),
        None => "never (no bake with green traffic)".into(),
    };
    view! {
        <dl class="summary">
            <div>
                <dt>"Total duration"</dt>
                <dd id="total-duration">{mmss(u64::from(schedule.total_seconds))}</dd>
                <dd class="small">{format!("{} s", schedule.total_seconds)}</dd>
            </div>
            <div>
                <dt>"Completes (blue terminating)"</dt>
                <dd>{mmss(u64::from(schedule.completes_at_seconds()))}</dd>
            </div>
            <div>
                <dt>"Timeout"</dt>
                <dd class=if schedule.times_out() { "bad" } else { "" }>
                    {seconds_text(schedule.timeout_seconds)}
                </dd>
            </div>
            <div>
                <dt>"Alarms can roll back"</dt>
                <dd id="watched">{watched}</dd>
            </div>
        </dl>
    }
}

#[component]
fn StepsTable(schedule: Schedule) -> impl IntoView {
    view! {
        <table class="steps" id="steps">
            <caption>"Phases, in order"</caption>
            <thead>
                <tr>
                    <th scope="col">"Phase"</th>
                    <th scope="col">"Start"</th>
                    <th scope="col">"End"</th>
                    <th scope="col">"Length"</th>
                    <th scope="col">"Green"</th>
                    <th scope="col">"Blue"</th>
                    <th scope="col">"Green traffic"</th>
                </tr>
            </thead>
            <tbody>
                {schedule
                    .steps
                    .iter()
                    .map(|step| {
                        view! {
                            <tr>
                                <th scope="row">{step.phase.label()}</th>
                                <td>{mmss(u64::from(step.start_seconds))}</td>
                                <td>{mmss(u64::from(step.end_seconds))}</td>
                                <td>{format!("{} s", step.duration_seconds())}</td>
                                <td>{step.green_instances}</td>
                                <td>{step.blue_instances}</td>
                                <td>{format!("{}%", trim_float(step.green_traffic_percent()))}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Assumptions() -> impl IntoView {
    let weights = ASSUMPTIONS
        .iter()
        .find(|assumption| assumption.id == "traffic_weights")
        .map(|assumption| assumption.text)
        .unwrap_or_default();
    view! {
        <section class="assumptions" aria-labelledby="assumptions-title">
            <h2 id="assumptions-title">"How guardrail models what AWS does not document"</h2>
            <p id="weights-model"><strong>"Traffic weights: "</strong>{weights}</p>
            <details>
                <summary>"Every assumption"</summary>
                <dl>
                    {ASSUMPTIONS
                        .iter()
                        .map(|assumption| view! { <dt>{assumption.title}</dt><dd>{assumption.text}</dd> })
                        .collect_view()}
                </dl>
            </details>
        </section>
    }
}

#[component]
pub fn WhatIfPanel() -> impl IntoView {
    let planner = use_planner();
    let scenario = Memo::new(move |_| planner.plan.with(Plan::scenario_or_default));
    // The run, the detection and the curve come from a worker: ask again
    // whenever the plan changes, and show what comes back for the plan on
    // screen (an earlier plan's run stays, dimmed, until then).
    let analyses = use_analyses();
    // Each drawn once: the run's view changes only when a new run arrives,
    // and "stale" (dimmed while the edited plan's run is under way) apart.
    let valid = Memo::new(move |_| planner.checked.with(|checked| checked.rollout.is_some()));
    let what_if = Memo::new(move |_| {
        analyses.what_if.with(|what_if| match what_if {
            Some((_, Ok(what_if))) => Some(what_if.clone()),
            _ => None,
        })
    });
    let stage = Memo::new(move |_| {
        if !valid.get() {
            return Stage::Invalid;
        }
        analyses.what_if.with(|what_if| match what_if {
            None => Stage::Simulating,
            Some((_, Err(error))) => Stage::Failed(error.clone()),
            Some((_, Ok(_))) => Stage::Shown,
        })
    });
    let stale = Memo::new(move |_| {
        analyses
            .what_if
            .with(|what_if| what_if.as_ref().map(|(generation, _)| *generation))
            != Some(analyses.generation.get())
    });
    view! {
        <div class="panel" role="tabpanel" id="panel-whatif" aria-labelledby="tab-whatif">
            <ScenarioFields scenario />
            <crate::team_metrics::TeamMetricsSection />
            <div class:stale=move || stale.get() aria-busy=move || stale.get().to_string()>
            {move || match stage.get() {
                Stage::Invalid => view! { <p class="empty">"The plan has errors, so it cannot be simulated yet."</p> }.into_any(),
                Stage::Simulating => view! { <p class="hint">"Simulating…"</p> }.into_any(),
                Stage::Failed(error) => view! { <p class="notice error" id="whatif-error">{format!("No simulation: {error}.")}</p> }.into_any(),
                Stage::Shown => view! { <WhatIfResult what_if=what_if /> }.into_any(),
            }}
            </div>
            <DetectionView error_rate=Signal::derive(move || scenario.get().green.error_rate) />
        </div>
    }
}

/// The scenario's fields: the traffic, each fleet's error rate and latency,
/// when green regresses, and the detection the plan must reach.
#[component]
fn ScenarioFields(scenario: Memo<Scenario>) -> impl IntoView {
    let planner = use_planner();
    let edit_scenario = move |change: fn(&mut Scenario, Option<f64>)| {
        Callback::new(move |value: Option<f64>| {
            planner.edit(|plan| {
                let mut scenario = plan.scenario_or_default();
                change(&mut scenario, value);
                plan.scenario = Some(scenario);
            })
        })
    };
    let read = move |get: fn(&Scenario) -> f64| Signal::derive(move || Some(get(&scenario.get())));
    let scenario_field = |field: ScenarioField| Signal::stored(Field::Scenario(field).path());
    view! {
        <fieldset class="scenario">
            <legend>"Scenario: a regression on the new fleet"</legend>
            <div class="grid four">
                <DecimalField id="rps" label="Requests per second" path=scenario_field(ScenarioField::RequestsPerSecond)
                    value=read(|s| s.requests_per_second)
                    on_change=edit_scenario(|s, v| s.requests_per_second = v.unwrap_or(0.0)) />
                <DecimalField id="seed" label="Seed" path=scenario_field(ScenarioField::Seed)
                    value=read(|s| s.seed as f64)
                    on_change=edit_scenario(|s, v| s.seed = v.unwrap_or(0.0).max(0.0) as u64) />
                <DecimalField id="blue-error-rate" label="Blue error rate (0 to 1)" path=scenario_field(ScenarioField::ErrorRate(Fleet::Blue))
                    value=read(|s| s.blue.error_rate)
                    on_change=edit_scenario(|s, v| s.blue.error_rate = v.unwrap_or(0.0)) />
                <DecimalField id="blue-latency" label="Blue latency, ms" path=scenario_field(ScenarioField::LatencyMs(Fleet::Blue))
                    value=read(|s| s.blue.latency_ms)
                    on_change=edit_scenario(|s, v| s.blue.latency_ms = v.unwrap_or(0.0)) />
                <DecimalField id="green-error-rate" label="Green error rate (0 to 1)" path=scenario_field(ScenarioField::ErrorRate(Fleet::Green))
                    value=read(|s| s.green.error_rate)
                    on_change=edit_scenario(|s, v| s.green.error_rate = v.unwrap_or(0.0)) />
                <DecimalField id="green-latency" label="Green latency, ms" path=scenario_field(ScenarioField::LatencyMs(Fleet::Green))
                    value=read(|s| s.green.latency_ms)
                    on_change=edit_scenario(|s, v| s.green.latency_ms = v.unwrap_or(0.0)) />
                <DecimalField id="onset" label="Regression starts at, s" path=scenario_field(ScenarioField::OnsetSeconds)
                    value=read(|s| s.green.onset_seconds)
                    on_change=edit_scenario(|s, v| s.green.onset_seconds = v.unwrap_or(0.0)) />
                <DecimalField id="required-detection" label="Required detection (0 to 1)" path=scenario_field(ScenarioField::RequiredDetection)
                    value=read(Scenario::required_detection)
                    hint="How often the alarms must catch this regression for the plan to count as guarded (the verdict at the top)."
                    on_change=edit_scenario(|s, v| s.required_detection = v) />
            </div>
        </fieldset>
    }
}

/// What the what-if's part of the view shows.
#[derive(Clone, Debug, PartialEq)]
enum Stage {
    Invalid,
    Simulating,
    Failed(String),
    Shown,
}

/// The what-if's one seeded run. Built once and then updated in place: each
/// result changes only the text and charts that differ from the last one, so
/// the browser rebuilds, styles and lays out only those (a 2-hour plan's
/// eleven charts were all rebuilt on every result, 20 to 50 ms of the
/// browser's time per keystroke).
#[component]
fn WhatIfResult(what_if: Memo<Option<WhatIf>>) -> impl IntoView {
    let read = move |get: fn(&WhatIf) -> String| {
        Memo::new(move |_| what_if.with(|what_if| what_if.as_ref().map(get).unwrap_or_default()))
    };
    let outcome = Memo::new(move |_| {
        what_if.with(|what_if| match what_if {
            Some(what_if) if what_if.succeeded => "outcome succeeded",
            Some(what_if) if what_if.evidence.shipped_failures.is_some() => "outcome shipped",
            _ => "outcome rolled-back",
        })
    });
    let headline = read(|what_if| what_if.headline.clone());
    let to_green = read(|what_if| what_if.requests_to_green.to_string());
    let failed = read(|what_if| what_if.failed_from_green.to_string());
    let time_to_rollback = read(|what_if| what_if.time_to_rollback.clone());
    let seed = read(|what_if| what_if.seed.to_string());
    let overlay = read(|what_if| what_if.overlay.clone());
    let sentences = Memo::new(move |_| {
        what_if.with(|what_if| {
            what_if
                .as_ref()
                .map(|what_if| what_if.sentences.clone())
                .unwrap_or_default()
        })
    });
    let alarm_count = Memo::new(move |_| {
        what_if.with(|what_if| what_if.as_ref().map_or(0, |what_if| what_if.alarms.len()))
    });
    view! {
        <section class="result" aria-live="polite">
            <p class=outcome id="whatif-outcome"><strong>{headline}</strong></p>
            <dl class="summary">
                <div><dt>"Requests to green"</dt><dd id="requests-to-green">{to_green}</dd></div>
                <div><dt>"Failed because of green"</dt><dd id="failed-from-green">{failed}</dd></div>
                <div><dt>"Time to rollback"</dt><dd>{time_to_rollback}</dd></div>
                <div><dt>"Seed"</dt><dd>{seed}</dd></div>
            </dl>
            <ul class="explanation" id="explanation">
                {move || sentences.get().into_iter().map(|sentence| view! { <li>{sentence}</li> }).collect_view()}
            </ul>
            <div id="whatif-chart" class="chart" role="img" aria-label="Planned and simulated green traffic, with the rollback" inner_html=overlay></div>
            <h3>"Alarms: datapoints against thresholds, and state (green OK, red ALARM, grey insufficient data)"</h3>
            <For each=move || 0..alarm_count.get() key=|index| *index let:index>
                <AlarmTrace what_if=what_if index=index />
            </For>
        </section>
    }
}

/// One alarm of [`WhatIfResult`], updated in place.
#[component]
fn AlarmTrace(what_if: Memo<Option<WhatIf>>, index: usize) -> impl IntoView {
    let read = move |get: fn(&crate::analysis::AlarmTraceView) -> String| {
        Memo::new(move |_| {
            what_if.with(|what_if| {
                what_if
                    .as_ref()
                    .and_then(|what_if| what_if.alarms.get(index))
                    .map(get)
                    .unwrap_or_default()
            })
        })
    };
    let name = read(|alarm| alarm.name.clone());
    let watches = read(|alarm| format!(" ({}): fires on {}", alarm.scope, alarm.condition));
    let fired = read(|alarm| {
        alarm
            .fired_at
            .as_ref()
            .map(|at| format!(" ALARM at {at}"))
            .unwrap_or_default()
    });
    let label = read(|alarm| alarm.label.clone());
    let svg = read(|alarm| alarm.svg.clone());
    view! {
        <figure class="alarm-trace">
            <figcaption>
                <strong>{name}</strong>
                {watches}
                <Show when=move || fired.with(|fired| !fired.is_empty())>
                    <span class="fired">{fired}</span>
                </Show>
            </figcaption>
            <div class="chart small" role="img" aria-label=label inner_html=svg></div>
        </figure>
    }
}

/// The detection analysis and curve, as the worker reports them: progress
/// while it runs (with the last result dimmed), then the result for the plan
/// on screen. `data-generation` names that plan's edit, `data-cancelled` counts
/// analyses dropped because the plan changed under them.
#[component]
fn DetectionView(error_rate: Signal<f64>) -> impl IntoView {
    let analyses = use_analyses();
    let planner = use_planner();
    let state = move || match analyses.shown.get() {
        Shown::Nothing => "none",
        Shown::Running { .. } => "running",
        Shown::Done(_) => "done",
    };
    // The result is drawn once per result: while the next one is under way it
    // stays, dimmed, rather than being drawn again on every keystroke.
    let last = Memo::new(move |_| analyses.shown.with(Shown::last));
    let progress = Memo::new(move |_| match analyses.shown.get() {
        Shown::Running { progress, .. } => Some(progress),
        _ => None,
    });
    view! {
        <section class="detection" id="detection" aria-labelledby="detection-title"
            data-state=state
            data-generation=move || analyses.generation.get().to_string()
            data-cancelled=move || analyses.cancelled.get().to_string()
            data-worker=move || analyses.in_worker.get().to_string()
            aria-busy=move || (state() == "running").to_string()>
            <h3 id="detection-title">"How likely are the guardrails to catch it?"</h3>
            {move || progress.get().map(|progress| view! {
                <p class="hint" id="analysis-progress-text">
                    <progress id="analysis-progress" max=progress.total.max(1).to_string() value=progress.done.to_string()></progress>
                    {format!(" Analysing the edited plan: {} of {} seeded runs…", progress.done, progress.total)}
                </p>
            })}
            <Show when=move || state() == "none">
                <p class="empty">"The plan has errors, so it cannot be analysed yet."</p>
            </Show>
            <div class:stale=move || progress.with(Option::is_some)
                aria-hidden=move || progress.with(Option::is_some).to_string()>
                {move || last.get().map(|found| found_view(found, error_rate.get_untracked(), planner.chart_width.get()))}
            </div>
        </section>
    }
}

/// One analysis's result.
fn found_view(found: crate::analysis::Found, error_rate: f64, width: u32) -> AnyView {
    let guardrail_core::simulate::Analysed {
        detection,
        each,
        curve,
        a_a,
    } = match found {
        Ok(found) => found,
        Err(error) => {
            return view! { <p class="notice error" id="detection-error">{format!("No detection analysis: {error}.")}</p> }
                .into_any();
        }
    };
    let svg = detection_curve_chart(&curve, error_rate, width);
    let spread = |spread: Option<Spread>, unit: &str| {
        spread
            .map(|spread| {
                format!(
                    "median {}{unit}, p95 {}{unit}",
                    trim_float(spread.median),
                    trim_float(spread.p95)
                )
            })
            .unwrap_or_else(|| "none".into())
    };
    view! {
        <p id="detection-probability">
            {format!(
                "Over {} seeded runs, an alarm rolled back {:.1}% of them{}.",
                detection.runs,
                detection.probability * 100.0,
                if detection.timed_out > 0 { format!(" ({} more timed out)", detection.timed_out) } else { String::new() }
            )}
        </p>
        <dl class="summary">
            <div><dt>"Time to rollback"</dt><dd>{spread(detection.time_to_rollback_seconds, " s")}</dd></div>
            <div><dt>"Failed green requests per run"</dt><dd>{spread(detection.bad_requests, "")}</dd></div>
        </dl>
        {judge_table(&detection, &each, a_a.as_ref())}
        <div class="chart" id="detection-curve" role="img"
             aria-label=format!("Detection probability against green error rate, {CURVE_RUNS} runs per point")
             inner_html=svg></div>
        <p class="hint">{format!("Each point: {CURVE_RUNS} seeded runs with green's error rate set to that value; the grey line marks the scenario's rate.")}</p>
    }
    .into_any()
}

/// With a canary judge: the judge beside the rollback alarms (together, and
/// each alone) on the same seeds, and the judge and the alarms together on
/// the same seeds as A/A runs (green exactly as blue), where every failure is
/// a false alarm. Shares come with their count and a 95 % interval.
fn judge_table(
    detection: &Detection,
    each: &[guardrail_core::simulate::AlarmDetection],
    a_a: Option<&Detection>,
) -> Option<AnyView> {
    let judge = detection.judge.as_ref()?;
    let median = |spread: Option<Spread>| {
        spread.map_or_else(
            || "none".to_string(),
            |spread| mmss(spread.median.max(0.0) as u64),
        )
    };
    let share = |hits: u32| Share::of(hits, detection.runs).describe();
    let false_alarms = |hits: Option<u32>| {
        a_a.zip(hits).map_or_else(
            || "…".to_string(),
            |(twin, hits)| Share::of(hits, twin.runs).describe(),
        )
    };
    let judge_false = a_a
        .and_then(|twin| twin.judge.as_ref())
        .map(|judge| judge.detected);
    Some(view! {
        <table class="steps" id="judge-detection">
            <caption>"The canary judge beside the alarms, on the same seeded runs"</caption>
            <thead><tr>
                <th scope="col">"Guardrail"</th>
                <th scope="col">"Caught the regression"</th>
                <th scope="col">"Of them, in the first bake"</th>
                <th scope="col">"Median time to detect"</th>
                <th scope="col">"False alarms on A/A runs"</th>
            </tr></thead>
            <tbody>
                <tr id="judge-detection-alarms">
                    <th scope="row">"The rollback alarms"</th>
                    <td class="wraps">{share(detection.detected)}</td>
                    <td>{detection.detected_early}</td>
                    <td>{median(detection.time_to_rollback_seconds)}</td>
                    <td class="wraps">{false_alarms(a_a.map(|twin| twin.detected))}</td>
                </tr>
                {each.iter().enumerate().map(|(index, alone)| view! {
                    <tr id=format!("judge-detection-alone-{index}") class="alone">
                        <th scope="row">{format!("{} alone", alone.alarm)}</th>
                        <td class="wraps">{share(alone.detection.detected)}</td>
                        <td>{alone.detection.detected_early}</td>
                        <td>{median(alone.detection.time_to_rollback_seconds)}</td>
                        <td>"–"</td>
                    </tr>
                }).collect_view()}
                <tr id="judge-detection-judge">
                    <th scope="row">"The canary judge"</th>
                    <td class="wraps">{share(judge.detected)}</td>
                    <td>{judge.detected_early}</td>
                    <td>{median(judge.time_to_detect_seconds)}</td>
                    <td class="wraps">{false_alarms(judge_false)}</td>
                </tr>
            </tbody>
        </table>
        <p class="hint">
            "The judge fails green when its score falls under the pass score; it rolls back only through an alarm on its CanaryScore metric. "
            "Each alarm alone: the same seeds with only that alarm listed for rollback (an alarm on the judge's score keeps the judge; the others run without it). "
            "A/A runs: the same seeds with green exactly as blue, so every failure is a false alarm; the judge looks after every period and holds its false-alarm rate at or under 1 − its confidence however many it looks."
        </p>
    }
    .into_any())
}

/// A row of Compare: the mode, the schedule, the verdict and the detection
/// (runs rolled back by an alarm, of runs). The verdict and the detection are
/// `None` while the worker computes them.
type CompareRow = (edit::Mode, Schedule, Option<Judgement>, Option<(u32, u32)>);

/// A pinned plan's row: its check and schedule here (cheap), its verdict
/// and detection from `compared` (200 seeded runs, in the worker).
fn pinned_row(plan: &Plan, compared: Option<&crate::analysis::Compared>) -> Option<CompareRow> {
    let checked = check(plan);
    let rollout = checked.rollout.clone()?;
    let judgement = compared.map(|compared| {
        guardrail_core::verdict::judge(
            &checked,
            &[],
            compared.evidence.as_ref(),
            plan.scenario_or_default().required_detection(),
        )
    });
    Some((
        edit::mode(plan),
        schedule(&rollout),
        judgement,
        compared.and_then(|compared| compared.detection),
    ))
}

#[component]
pub fn ComparePanel() -> impl IntoView {
    let planner = use_planner();
    let analyses = use_analyses();
    let verdict = expect_context::<crate::state::CurrentVerdict>().0;
    let said = RwSignal::new(None::<(bool, String)>);
    // The pinned plans as the worker is asked for them.
    let pinned_json = Memo::new(move |_| {
        planner.pinned.with(|pinned| {
            pinned
                .iter()
                .map(|(name, plan)| (name.clone(), plan.clone(), plan.to_json_pretty()))
                .collect::<Vec<_>>()
        })
    });
    Effect::new(move || {
        let plans: Vec<String> =
            pinned_json.with(|pinned| pinned.iter().map(|(_, _, json)| json.clone()).collect());
        analyses.compare(&plans);
    });
    let pinned_rows = Memo::new(move |_| {
        pinned_json.with(|pinned| {
            analyses.compared.with(|compared| {
                pinned
                    .iter()
                    .filter_map(|(name, plan, json)| {
                        pinned_row(plan, compared.get(json)).map(|row| (name.clone(), row))
                    })
                    .collect::<Vec<_>>()
            })
        })
    });
    let current_row = Memo::new(move |_| {
        let detection = analyses.shown.with(|shown| match shown {
            Shown::Done(Ok(found)) => Some((found.detection.detected, found.detection.runs)),
            _ => None,
        });
        planner.schedule.get().map(|schedule| {
            (
                planner.plan.with(edit::mode),
                schedule,
                Some(verdict.get()),
                detection,
            )
        })
    });
    view! {
        <div class="panel" role="tabpanel" id="panel-compare" aria-labelledby="tab-compare">
            <p class="hint">{format!("Compare the current plan with up to {MOST_PINNED} others on one timeline. Pinned plans stay until you remove them, across visits.")}</p>
            <CompareActions said />
            {move || said.get().map(|(ok, text)| view! {
                <p id="compare-status" class=if ok { "hint" } else { "notice error" } role="status">{text}</p>
            })}
            {move || {
                let mut rows: Vec<(String, bool, CompareRow)> = current_row.get().map(|row| ("Current plan".to_string(), false, row)).into_iter().collect();
                rows.extend(pinned_rows.get().into_iter().map(|(name, row)| (name, true, row)));
                let chart = compare_chart(&rows.iter().map(|(name, _, (_, schedule, _, _))| (name.clone(), schedule.clone())).collect::<Vec<_>>(), planner.chart_width.get());
                view! {
                    <div id="compare-chart" class="chart" role="img" aria-label="Green traffic of the compared plans" inner_html=chart></div>
                    <table class="steps" id="compare-table">
                        <thead><tr>
                            <th scope="col">"Plan"</th><th scope="col">"Verdict"</th><th scope="col">"Mode"</th><th scope="col">"Total"</th>
                            <th scope="col">"Caught"</th><th scope="col">"Green has all traffic at"</th><th scope="col">"Alarms watched"</th><th scope="col"><span class="visually-hidden">"Remove"</span></th>
                        </tr></thead>
                        <tbody>
                            {rows.into_iter().enumerate().map(|(index, (name, removable, row))| view! {
                                <ComparedPlan index name removable row />
                            }).collect_view()}
                        </tbody>
                    </table>
                }
            }}
        </div>
    }
}

/// Pin the current plan, add a preset, or remove every pinned plan; `said`
/// gets what pinning did.
#[component]
fn CompareActions(said: RwSignal<Option<(bool, String)>>) -> impl IntoView {
    let planner = use_planner();
    view! {
        <div class="actions">
            <button type="button" id="pin-current" on:click=move |_| {
                let plan = planner.plan.get_untracked();
                let count = planner.pinned.with_untracked(Vec::len) + 1;
                let name = format!("{} {count} (pinned)", edit::mode(&plan).label());
                said.set(Some(planner.pin(name, plan)));
            }>"Pin the current plan"</button>
            <label for="compare-preset">"Add a preset"</label>
            <select id="compare-preset" on:change=move |event| {
                if let Some(preset) = presets::find(&event_target_value(&event)) {
                    let (plan, _) = planner.plan.with_untracked(|current| presets::apply(preset, current));
                    said.set(Some(planner.pin(preset.name.to_string(), plan)));
                }
            }>
                <option value="" selected=true>"Choose…"</option>
                {PRESETS.iter().map(|preset| view! { <option value=preset.id>{preset.name}</option> }).collect_view()}
            </select>
            <button type="button" id="unpin-all" on:click=move |_| planner.pinned.set(Vec::new())>"Remove all"</button>
        </div>
    }
}

/// One plan's two rows in Compare's table: its figures (with a button to
/// remove it if it is pinned), then its verdict's reason, the table's width.
#[component]
fn ComparedPlan(index: usize, name: String, removable: bool, row: CompareRow) -> impl IntoView {
    let planner = use_planner();
    let (mode, schedule, judgement, detection) = row;
    let colour = COMPARE_COLOURS[index % COMPARE_COLOURS.len()];
    let all_traffic = schedule
        .steps
        .iter()
        .find(|step| step.green_traffic_bp == 10_000)
        .map(|step| mmss(u64::from(step.start_seconds)))
        .unwrap_or_default();
    let watched = schedule
        .monitoring
        .map(|(start, end)| format!("{} to {}", mmss(u64::from(start)), mmss(u64::from(end))))
        .unwrap_or_else(|| "never".into());
    // A share of seeded runs: with its count and a 95 % interval.
    let caught = detection
        .map(|(hits, runs)| Share::of(hits, runs).describe())
        .unwrap_or_else(|| "…".into());
    let remove = {
        let name = name.clone();
        move |_| {
            planner
                .pinned
                .update(|pinned| pinned.retain(|(pinned, _)| *pinned != name))
        }
    };
    let (label, why) = match &judgement {
        Some(judgement) => (
            judgement.verdict.label(),
            format!("{}: {}", judgement.verdict.label(), judgement.why),
        ),
        None => ("…", format!("{COMPARE_RUNS} seeded runs under way…")),
    };
    view! {
        <tr class="plan-row">
            <th scope="row"><span class="swatch" style=format!("background: rgb({}, {}, {})", colour.0, colour.1, colour.2)></span>{name.clone()}</th>
            <td class=format!("verdict-cell {}", label.to_lowercase())>{label}</td>
            <td>{mode.label()}</td>
            <td>{mmss(u64::from(schedule.total_seconds))}</td>
            <td class="wraps">{caught}</td>
            <td>{all_traffic}</td>
            <td>{watched}</td>
            <td>{removable.then(|| view! {
                <button type="button" class="remove" id=format!("unpin-{index}") aria-label=format!("Remove {name} from Compare") on:click=remove>"Remove"</button>
            })}</td>
        </tr>
        <tr class="why-row">
            <td colspan="8" class=format!("why {}", label.to_lowercase())>{why}</td>
        </tr>
    }
}

/// The export formats offered, with the plan itself first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExportChoice {
    Plan,
    Aws(Format),
}

impl ExportChoice {
    fn all() -> Vec<ExportChoice> {
        std::iter::once(ExportChoice::Plan)
            .chain(Format::ALL.into_iter().map(ExportChoice::Aws))
            .collect()
    }

    fn id(self) -> &'static str {
        match self {
            ExportChoice::Plan => "plan",
            ExportChoice::Aws(format) => format.name(),
        }
    }

    fn title(self) -> &'static str {
        match self {
            ExportChoice::Plan => "Plan JSON",
            ExportChoice::Aws(format) => format.title(),
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            ExportChoice::Plan => "guardrail-plan.json",
            ExportChoice::Aws(format) => format.file_name(),
        }
    }

    fn render(self, plan: &Plan) -> String {
        match self {
            ExportChoice::Plan => format!("{}\n", plan.to_json_pretty()),
            ExportChoice::Aws(format) => export(plan, format),
        }
    }
}

#[component]
pub fn ExportPanel() -> impl IntoView {
    let planner = use_planner();
    let choice = RwSignal::new(ExportChoice::Plan);
    let text = Memo::new(move |_| planner.plan.with(|plan| choice.get().render(plan)));
    let copied = RwSignal::new(false);
    let refused = Memo::new(move |_| {
        planner
            .untaken
            .with(|untaken| untaken.first().map(ToString::to_string))
    });
    view! {
        <div class="panel" role="tabpanel" id="panel-export" aria-labelledby="tab-export">
            <div class="tabs secondary" role="tablist" aria-label="Export format">
                {ExportChoice::all().into_iter().map(|format| view! {
                    <button type="button" role="tab" id=format!("export-{}", format.id())
                        aria-selected=move || (choice.get() == format).to_string()
                        class:active=move || choice.get() == format
                        on:click=move |_| { choice.set(format); copied.set(false); }>
                        {format.title()}
                    </button>
                }).collect_view()}
            </div>
            <ExportNotices refused />
            <div class="actions">
                <button type="button" id="export-copy" disabled=move || refused.with(Option::is_some)
                    on:click=move |_| copied.set(browser::copy(&text.get_untracked()))>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
                <button type="button" id="export-download" disabled=move || refused.with(Option::is_some)
                    on:click=move |_| browser::download(choice.get_untracked().file_name(), &text.get_untracked())>
                    {move || format!("Download {}", choice.get().file_name())}
                </button>
            </div>
            <pre id="export-text" class="code" tabindex="0">{move || if refused.with(Option::is_some) { String::new() } else { text.get() }}</pre>
            <ImportSection />
        </div>
    }
}

/// What stands between the plan and its export: errors, a verdict short of
/// Guarded, or a field holding text the plan cannot take (`refused`).
#[component]
fn ExportNotices(refused: Memo<Option<String>>) -> impl IntoView {
    let planner = use_planner();
    let verdict = expect_context::<crate::state::CurrentVerdict>().0;
    view! {
        {move || (!planner.checked.with(|checked| checked.report.is_valid())).then(|| view! {
            <p class="notice error">"The plan has errors: fix them before you use this export."</p>
        })}
        // What the verdict says, where the plan leaves the planner.
        {move || {
            let judgement = verdict.get();
            let valid = planner.checked.with(|checked| checked.report.is_valid());
            (valid && judgement.verdict != guardrail_core::verdict::Verdict::Guarded).then(|| view! {
                <p class="notice warning" id="export-verdict">
                    {format!("This plan is {}: {}", judgement.verdict.label(), judgement.why)}
                </p>
            })
        }}
        // A field holding text the plan cannot take: the plan still has the
        // field's last value, so an export would silently differ from the
        // form. Refused until the field is fixed.
        {move || refused.get().map(|why| view! {
            <p class="notice error" id="export-refused">{format!("Not exported: {why}.")}</p>
        })}
    }
}

/// Paste a plan, a DeploymentConfig or a share link, and import it.
#[component]
fn ImportSection() -> impl IntoView {
    let planner = use_planner();
    let import_text = RwSignal::new(String::new());
    let import_result = RwSignal::new(None::<(bool, String)>);
    let do_import = move |_| {
        let pasted = import_text.get_untracked();
        import_result.set(Some(import_pasted(planner, &pasted)));
    };
    view! {
        <section class="import" aria-labelledby="import-title">
            <h2 id="import-title">"Import"</h2>
            <label for="import-text">"Paste a plan JSON, a DeploymentConfig (as update-endpoint takes it) or a share link"</label>
            <textarea id="import-text" rows="8" spellcheck="false"
                prop:value=move || import_text.get()
                on:input=move |event| import_text.set(event_target_value(&event))></textarea>
            <div class="actions">
                <button type="button" id="import-button" on:click=do_import>"Import"</button>
            </div>
            {move || import_result.get().map(|(ok, message)| view! {
                <p id="import-result" class=if ok { "ok" } else { "error" } role="status">{message}</p>
            })}
        </section>
    }
}

/// Imports `pasted` into the planner: whether it did, and what it did.
fn import_pasted(planner: crate::state::Planner, pasted: &str) -> (bool, String) {
    let result = planner
        .plan
        .with_untracked(|current| edit::import(current, pasted));
    let found = match result {
        Ok(found) => found,
        Err(error) => return (false, error),
    };
    let (plan, what) = match found.imported {
        Imported::Plan(plan) => (*plan, "Imported the plan.".to_string()),
        Imported::DeploymentConfig(plan) => (
            *plan,
            "Imported the DeploymentConfig into the current plan.".to_string(),
        ),
        Imported::Link(state) => (state.plan, "Opened the plan in the link.".to_string()),
        Imported::Merged { plan, changed } => (
            *plan,
            if changed.is_empty() {
                "The pasted fields are what the plan already has: nothing changed.".to_string()
            } else {
                format!(
                    "Merged {} into the current plan; everything else is as it was.",
                    changed.join(", ")
                )
            },
        ),
    };
    planner.replace_plan(plan);
    planner.notice.set(None::<Notice>);
    let mut said = what;
    if !found.dropped.is_empty() {
        said.push_str(&format!(
            " It left out {} field(s) a plan does not have: {}.",
            found.dropped.len(),
            found.dropped.join(", ")
        ));
    }
    (true, said)
}
