//! The run view: start the plan on the local engine, follow a run live, and
//! replay any recorded run on a timeline that the share link points into.

use guardrail_core::alarm::trim_float;
use guardrail_core::event::{Event, RunSummary, RunTimeline, StreamLine};
use guardrail_core::explain::mmss;
use guardrail_core::Plan;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::alarm_editor::AlarmsSection;
use crate::api::{
    abort_rollout, list_backends, list_runs, run_events, run_plan, run_target, start_rollout,
    BackendInfo, ServiceError, Target,
};
use crate::browser;
use crate::charts::{run_chart, Expected, Planned};
use crate::lazy::lazily;
use crate::state::{use_planner, Editing, Notice, Planner};
use guardrail_core::record::{review_link, ReviewLink};
use guardrail_core::retro::{has_samples, rejudge, Retro, RetroError};
use guardrail_core::review::{summary_markdown, SummaryLinks};

/// The local engine's demo endpoint, which the seed notebook updates.
const DEMO_ENDPOINT: &str = "guardrail-demo";

/// Time scales offered: plan seconds per real second.
const SCALES: [(f64, &str); 5] = [
    (1.0, "1× (real time)"),
    (10.0, "10×"),
    (60.0, "60× (a 300 s bake takes 5 s)"),
    (120.0, "120×"),
    (600.0, "600×"),
];

/// The message of a failed server function.
fn message(error: ServiceError) -> String {
    error.message
}

/// Streams a run's events into `events` until the run ends or another run is
/// chosen (`generation` moves on). If the stream ends without the run's
/// outcome, `ended` says why.
async fn follow(
    run_id: String,
    events: RwSignal<Vec<Event>>,
    ended: RwSignal<Option<String>>,
    generation: StoredValue<u64>,
    mine: u64,
) {
    use futures::StreamExt;
    let stream = match run_events(run_id).await {
        Ok(stream) => stream,
        Err(error) => {
            ended.set(Some(message(error)));
            return;
        }
    };
    let mut stream = stream.into_inner();
    let mut pending = String::new();
    // A streamed response may end with an error rather than cleanly; either way
    // the run's events so far are all here, so the end is the end.
    while let Some(Ok(chunk)) = stream.next().await {
        if generation.get_value() != mine {
            return;
        }
        pending.push_str(&chunk);
        while let Some(end) = pending.find('\n') {
            match guardrail_core::json::from_json::<StreamLine>(&pending[..end]) {
                Ok(StreamLine::Event(event)) => events.update(|events| events.push(*event)),
                Ok(StreamLine::Ended { stream_ended }) => ended.set(Some(stream_ended)),
                Err(_) => {}
            }
            pending.drain(..=end);
        }
    }
}

#[component]
pub fn RunPanel() -> impl IntoView {
    if use_planner().review {
        view! { <ReviewRunPanel /> }.into_any()
    } else {
        view! { <WorkingRunPanel /> }.into_any()
    }
}

/// A review page's run view: the run the link carries (or names), replayed.
/// Nothing here starts or stops a rollout: those controls are not built.
#[component]
fn ReviewRunPanel() -> impl IntoView {
    let planner = use_planner();
    let events = RwSignal::new(Vec::<Event>::new());
    let ended = RwSignal::new(None::<String>);
    let carried = planner
        .record
        .with_value(|record| record.as_ref().map(|(_, record)| record.to_events()));
    match carried {
        Some(list) => events.set(list),
        None => {
            if let Some(run_id) = planner.run.get_untracked() {
                let generation = StoredValue::new(0_u64);
                spawn_local(follow(run_id, events, ended, generation, 0));
            }
        }
    }
    let timeline = Memo::new(move |_| events.with(|events| RunTimeline::from_events(events)));
    view! {
        <div class="run-panel" role="tabpanel" id="panel-run" aria-labelledby="tab-run">
            {move || match planner.run.get() {
                Some(run_id) => lazily(run_view(run_id, timeline, events, ended, false, None), LOADING_RUN).into_any(),
                None => view! { <p class="hint" id="review-no-run">"This review link names no run: the plan and its what-ifs are in the other views."</p> }.into_any(),
            }}
        </div>
    }
}

/// Whether the server asked for the access token (it is reachable off
/// loopback): the run view then offers a field for it.
#[derive(Clone, Copy)]
struct NeedsToken(RwSignal<bool>);

/// Notes that the server wants the access token, if that is why `error` is.
fn note_token(needs: Option<NeedsToken>, error: &ServiceError) {
    if let Some(NeedsToken(flag)) = needs {
        if error.kind == crate::api::ErrorKind::Unauthorized {
            flag.set(true);
        }
    }
}

/// The access token field, for a server reachable off loopback. The token is
/// kept for this tab only (session storage) and sent only with the calls
/// that start or stop a rollout.
#[component]
fn AccessToken() -> impl IntoView {
    let text = RwSignal::new(String::new());
    let saved = RwSignal::new(false);
    let save = move |_| {
        let token = text.get_untracked().trim().to_string();
        if !token.is_empty() {
            crate::browser::session_set(crate::api::TOKEN_KEY, &token);
            text.set(String::new());
            saved.set(true);
        }
    };
    view! {
        <div class="access-token" id="access-token-row">
            <p class="hint">
                "Starting or stopping a rollout here needs this guardrail's access token: the one it was started with ("
                <code>"--token"</code> "), or the one " <code>"guardrail serve"</code> " printed when it started off loopback. "
                "It is kept for this tab only and sent only to this server."
            </p>
            <div class="actions">
                <label for="access-token">"Access token"</label>
                <input id="access-token" type="password" autocomplete="off" spellcheck="false"
                    prop:value=move || text.get()
                    on:input=move |event| { text.set(event_target_value(&event)); saved.set(false); } />
                <button type="button" id="use-token" on:click=save>"Use for this tab"</button>
            </div>
            <Show when=move || saved.get()>
                <p class="hint" id="token-saved" role="status">"Saved for this tab: start again."</p>
            </Show>
        </div>
    }
}

/// What the run panel's parts share: the server's backends and runs, the
/// choices made for the next run, and what came of the last start.
#[derive(Clone, Copy)]
struct RunPanelState {
    scale: RwSignal<f64>,
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    needs_token: RwSignal<bool>,
    runs: RwSignal<Vec<RunSummary>>,
    backends: RwSignal<Vec<BackendInfo>>,
    backend: RwSignal<String>,
    target: RwSignal<Option<Result<Target, String>>>,
    /// SageMaker: put the plan's alarms with PutMetricAlarm before the update.
    create_alarms: RwSignal<bool>,
    /// No guardrail server: said once, and what needs one is disabled.
    no_server: RwSignal<bool>,
    /// The config the demo endpoint serves now: it changes with every run
    /// that succeeds.
    demo_config: RwSignal<Option<String>>,
    /// Another run to compare the one on show with.
    other_id: RwSignal<Option<String>>,
}

impl RunPanelState {
    fn new() -> RunPanelState {
        RunPanelState {
            scale: RwSignal::new(60.0),
            busy: RwSignal::new(false),
            error: RwSignal::new(None),
            needs_token: RwSignal::new(false),
            runs: RwSignal::new(Vec::new()),
            backends: RwSignal::new(Vec::new()),
            backend: RwSignal::new("local".to_string()),
            target: RwSignal::new(None),
            create_alarms: RwSignal::new(false),
            no_server: RwSignal::new(false),
            demo_config: RwSignal::new(None),
            other_id: RwSignal::new(None),
        }
    }

    /// Whether `failure` says there is no server (and notes it).
    fn unreachable(self, failure: &ServiceError) -> bool {
        let gone = failure.kind == crate::api::ErrorKind::Unreachable;
        if gone {
            self.no_server.set(true);
        }
        gone
    }

    /// Reads the recorded runs and the demo endpoint's config again.
    fn refresh(self, planner: Planner) {
        spawn_local(async move {
            match list_runs().await {
                Ok(list) => self.runs.set(list),
                Err(failure) if self.unreachable(&failure) => return,
                Err(failure) => self.error.set(Some(message(failure))),
            }
            let mut demo = planner.plan.get_untracked();
            demo.endpoint_name = DEMO_ENDPOINT.into();
            if let Ok(target) = run_target(demo.to_json_pretty(), "local".into(), None).await {
                self.demo_config
                    .set((!target.current_config.is_empty()).then_some(target.current_config));
            }
        })
    }

    /// Asks, whenever the backend or the plan's endpoint, config or variant
    /// changes (not on every keystroke), what a run would update.
    fn follow_target(self, planner: Planner) {
        let RunPanelState {
            backend,
            create_alarms,
            target,
            ..
        } = self;
        let aim = Memo::new(move |_| {
            planner.plan.with(|plan| {
                (
                    plan.endpoint_name.clone(),
                    plan.endpoint_config_name.clone(),
                    plan.variant_name.clone(),
                )
            })
        });
        let target_generation = StoredValue::new(0_u64);
        Effect::new(move |_| {
            let _ = aim.get();
            let chosen = backend.get();
            let put = create_alarms.get();
            let mine = target_generation.get_value() + 1;
            target_generation.set_value(mine);
            target.set(None);
            let plan_json = planner.plan.with_untracked(Plan::to_json_pretty);
            spawn_local(async move {
                let answer = match run_target(plan_json, chosen, Some(put)).await {
                    Ok(found) => Ok(found),
                    Err(failure) if self.unreachable(&failure) => return,
                    Err(failure) => Err(message(failure)),
                };
                if target_generation.get_value() == mine {
                    target.set(Some(answer));
                }
            });
        });
    }

    /// The run another run is compared with, followed as the one on show is.
    fn other_run(self) -> Memo<Option<(String, RunTimeline)>> {
        let other_id = self.other_id;
        let other_events = RwSignal::new(Vec::<Event>::new());
        let other_ended = RwSignal::new(None::<String>);
        let other_generation = StoredValue::new(0_u64);
        Effect::new(move |_| {
            let Some(run_id) = other_id.get() else {
                other_events.set(Vec::new());
                return;
            };
            let mine = other_generation.get_value() + 1;
            other_generation.set_value(mine);
            other_events.set(Vec::new());
            spawn_local(follow(
                run_id,
                other_events,
                other_ended,
                other_generation,
                mine,
            ));
        });
        Memo::new(move |_| {
            let id = other_id.get()?;
            other_events
                .with(|events| (!events.is_empty()).then(|| (id, RunTimeline::from_events(events))))
        })
    }
}

#[component]
fn WorkingRunPanel() -> impl IntoView {
    let planner = use_planner();
    let state = RunPanelState::new();
    provide_context(NeedsToken(state.needs_token));
    let events = RwSignal::new(Vec::<Event>::new());
    let ended = RwSignal::new(None::<String>);
    let generation = StoredValue::new(0_u64);
    let other = state.other_run();
    spawn_local(async move {
        match list_backends().await {
            Ok(list) => {
                state.no_server.set(false);
                state.backends.set(list);
            }
            Err(failure) => {
                state.unreachable(&failure);
            }
        }
    });
    state.follow_target(planner);
    state.refresh(planner);
    // Follow the chosen run.
    Effect::new(move |_| {
        let Some(run_id) = planner.run.get() else {
            return;
        };
        let mine = generation.get_value() + 1;
        generation.set_value(mine);
        events.set(Vec::new());
        ended.set(None);
        spawn_local(async move {
            follow(run_id, events, ended, generation, mine).await;
            // What was said about starting (an update already under way) is
            // stale once the run on show has ended.
            if generation.get_value() == mine {
                state.error.set(None);
            }
            state.refresh(planner);
        });
    });
    let timeline = Memo::new(move |_| events.with(|events| RunTimeline::from_events(events)));
    view! {
        <div class="panel" role="tabpanel" id="panel-run" aria-labelledby="tab-run">
            <StartRun state=state />
            {move || planner.run.get().map(|run_id| lazily(run_view(run_id, timeline, events, ended, true, Some(other)), LOADING_RUN))}
            <RecordedRuns state=state />
        </div>
    }
}

/// Where the next run goes (backend, time scale, alarms put first) and the
/// button that starts it.
#[component]
fn StartRun(state: RunPanelState) -> impl IntoView {
    let planner = use_planner();
    let RunPanelState {
        scale,
        busy,
        error,
        needs_token,
        backends,
        backend,
        target,
        create_alarms,
        no_server,
        demo_config,
        ..
    } = state;
    let start = move |_| {
        busy.set(true);
        error.set(None);
        let plan_json = planner.plan.with_untracked(Plan::to_json_pretty);
        let time_scale = scale.get_untracked();
        let chosen = backend.get_untracked();
        let put = create_alarms.get_untracked();
        spawn_local(async move {
            match start_rollout(plan_json, time_scale, Some(chosen), Some(put)).await {
                Ok(run_id) => {
                    planner.at_ms.set(None);
                    planner.run.set(Some(run_id));
                    state.refresh(planner);
                }
                Err(failure) if state.unreachable(&failure) => {}
                Err(failure) => {
                    note_token(Some(NeedsToken(needs_token)), &failure);
                    error.set(Some(message(failure)));
                }
            }
            busy.set(false);
        });
    };

    view! {
        <section class="start-run" aria-labelledby="start-title">
            <h2 id="start-title">"Run this plan"</h2>
            <Show when=move || no_server.get()>
                <p class="notice error" id="no-server" role="alert">{crate::api::NO_SERVER}</p>
            </Show>
            <p class="hint">
                "Real model servers on this machine, a weighted router, live alarms. The demo endpoint "
                <code>{DEMO_ENDPOINT}</code> " serves " <code id="demo-config">{move || demo_config.get().unwrap_or_else(|| "baseline".into())}</code> "; update it to "
                <code>"incompatible"</code> " (fails every call), " <code>"fixed"</code> " or " <code>"baseline"</code> ". Updates made through "
                "guardrail's SageMaker API (boto3, the AWS CLI or an AWS SDK with " <code>"AWS_ENDPOINT_URL"</code>
                " set to this address) are recorded runs too, listed below."
            </p>
            <BackendChoice backends backend />
            <RunTarget target=target no_server=no_server />
            <Show when=move || backend.get() == "sagemaker">
                <CreateAlarms create_alarms />
            </Show>
            <div class="actions">
                <Show when=move || backend.get() == "local">
                    <TimeScaleChoice scale />
                </Show>
                <button type="button" id="start-run" disabled=move || busy.get() || no_server.get() on:click=start>
                    {move || match (busy.get(), backend.get().as_str()) {
                        (true, _) => "Starting…",
                        (false, "sagemaker") => "Start on SageMaker",
                        (false, _) => "Start rollout",
                    }}
                </button>
            </div>
            {move || error.get().map(|text| view! { <p class="notice error" id="run-error" role="alert">{text}</p> })}
            <Show when=move || needs_token.get()>
                <AccessToken />
            </Show>
        </section>
    }
}

/// Where a run goes: the backends the server offers (the local engine
/// when it says none).
#[component]
fn BackendChoice(backends: RwSignal<Vec<BackendInfo>>, backend: RwSignal<String>) -> impl IntoView {
    view! {
        <div class="actions">
            <label for="backend">"Backend"</label>
            <select id="backend" on:change=move |event| backend.set(event_target_value(&event))>
                {move || {
                    let list = backends.get();
                    let list = if list.is_empty() {
                        vec![BackendInfo { name: "local".into(), label: "Local engine (this machine)".into() }]
                    } else {
                        list
                    };
                    list.into_iter().map(|info| {
                        let name = info.name.clone();
                        view! { <option value=info.name.clone() selected=move || backend.get() == name>{info.label}</option> }
                    }).collect_view()
                }}
            </select>
        </div>
    }
}

/// On SageMaker: whether the plan's alarms are put in CloudWatch first.
#[component]
fn CreateAlarms(create_alarms: RwSignal<bool>) -> impl IntoView {
    view! {
        <div class="field checkbox">
            <label for="create-alarms">
                <input type="checkbox" id="create-alarms" prop:checked=move || create_alarms.get()
                    on:change=move |event| create_alarms.set(event_target_checked(&event)) />
                "Put the plan's alarms in CloudWatch first (PutMetricAlarm creates them, or replaces those of the same name)"
            </label>
        </div>
    }
}

/// On the local engine: how fast plan time runs.
#[component]
fn TimeScaleChoice(scale: RwSignal<f64>) -> impl IntoView {
    view! {
        <label for="time-scale">"Time scale"</label>
        <select id="time-scale" on:change=move |event| {
            if let Ok(value) = event_target_value(&event).parse::<f64>() {
                scale.set(value);
            }
        }>
            {SCALES.iter().map(|(value, label)| view! {
                <option value=value.to_string() selected=move || scale.get() == *value>{*label}</option>
            }).collect_view()}
        </select>
    }
}

/// What a run of the plan would update, as the server found it: account,
/// region, endpoint and its status, and what stands in the way.
#[component]
fn RunTarget(
    target: RwSignal<Option<Result<Target, String>>>,
    no_server: RwSignal<bool>,
) -> impl IntoView {
    view! {
    <div class="target" id="run-target" role="status">
        {move || match target.get() {
            None if no_server.get() => ().into_any(),
            None => view! { <p class="hint">"Checking what this run would update…"</p> }.into_any(),
            Some(Err(text)) => view! { <p class="notice error">{text}</p> }.into_any(),
            Some(Ok(found)) => view! {
                <dl class="summary">
                    <div><dt>"Account"</dt><dd id="target-account">{found.account.clone()}</dd></div>
                    <div><dt>"Region"</dt><dd id="target-region">{found.region.clone()}</dd></div>
                    <div><dt>"Endpoint"</dt><dd id="target-endpoint">{found.endpoint.clone()}</dd></div>
                    <div><dt>"Status"</dt><dd>{if found.status.is_empty() { "unknown".to_string() } else { format!("{} on {}", found.status, found.current_config) }}</dd></div>
                    <div><dt>"Requests go to"</dt><dd>{found.api.clone()}</dd></div>
                </dl>
                {(!found.problems.is_empty()).then(|| view! {
                    <ul class="problems" id="target-problems">
                        {found.problems.iter().map(|problem| view! { <li class="bad">{problem.clone()}</li> }).collect_view()}
                    </ul>
                })}
                {(found.backend == "sagemaker").then(|| view! {
                    <p class="hint">"SageMaker runs the update in its own time; guardrail watches it and records what happened. Stopping stops watching only: SageMaker carries on. Credentials stay on the server."</p>
                })}
            }.into_any(),
        }}
    </div>
    }
}

/// The runs the server recorded: open one, or compare it with the one open.
#[component]
fn RecordedRuns(state: RunPanelState) -> impl IntoView {
    let planner = use_planner();
    let RunPanelState { runs, other_id, .. } = state;
    view! {
        <section class="runs" aria-labelledby="runs-title">
            <h2 id="runs-title">"Recorded runs"</h2>
            <div class="actions"><button type="button" on:click=move |_| state.refresh(planner)>"Refresh"</button></div>
            <table class="steps" id="runs">
                <thead><tr>
                    <th scope="col">"Run"</th><th scope="col">"Update"</th><th scope="col">"Status"</th>
                    <th scope="col">"Outcome"</th><th scope="col">"Events"</th><th scope="col"></th>
                </tr></thead>
                <tbody>
                    {move || runs.get().into_iter().map(|run| {
                        let id = run.id.clone();
                        view! {
                            <tr class:selected=move || planner.run.get().as_deref() == Some(id.as_str())>
                                <td><code>{run.id.clone()}</code></td>
                                <td>{format!("{}: {} → {}", run.endpoint, run.from_config, run.to_config)}</td>
                                <td>{run.status.clone()}</td>
                                <td>{run.outcome.clone().unwrap_or_default()}</td>
                                <td>{run.events}</td>
                                <td>
                                    <button type="button" on:click={
                                        let id = run.id.clone();
                                        move |_| { planner.at_ms.set(None); planner.run.set(Some(id.clone())); }
                                    }>"Open"</button>
                                    {
                                        let id = run.id.clone();
                                        let shown = id.clone();
                                        let compared = id.clone();
                                        move || (planner.run.get().is_some_and(|open| open != shown)).then(|| {
                                            let id = id.clone();
                                            let compared = compared.clone();
                                            view! {
                                                <button type="button" class="compare-run" id=format!("compare-run-{id}")
                                                    aria-pressed=move || (other_id.get().as_deref() == Some(compared.as_str())).to_string()
                                                    on:click=move |_| other_id.set(Some(id.clone()))>"Compare"</button>
                                            }
                                        })
                                    }
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// The run's own plan: carried by the link on a review page, else as the
/// server recorded it.
async fn plan_of(planner: Planner, run_id: &str) -> Result<Plan, String> {
    if planner.review && planner.record.with_value(Option::is_some) {
        return Ok(planner.plan.get_untracked());
    }
    let text = run_plan(run_id.to_string()).await.map_err(message)?;
    Plan::from_json(&text).map_err(|error| error.to_string())
}

/// The run's own plan (read once, when the run view opened) and its review
/// link at the moment on show.
async fn review_of(
    planner: Planner,
    run_id: &str,
    events: RwSignal<Vec<Event>>,
    own_plan: StoredValue<Option<Result<Plan, String>>>,
) -> Result<(Plan, ReviewLink), String> {
    let plan = match own_plan.get_value() {
        Some(Ok(plan)) => plan,
        _ => plan_of(planner, run_id).await?,
    };
    let link = events.with_untracked(|events| {
        review_link(
            &browser::page_url(),
            &plan,
            events,
            planner.at_ms.get_untracked(),
        )
    });
    Ok((plan, link))
}

/// What a run's view shows while it is fetched.
const LOADING_RUN: &str = "Loading the run view…";

/// [`RunView`], fetched the first time a run is shown (`crate::lazy`).
#[lazy]
fn run_view(
    run_id: String,
    timeline: Memo<RunTimeline>,
    events: RwSignal<Vec<Event>>,
    ended: RwSignal<Option<String>>,
    controls: bool,
    other: Option<Memo<Option<(String, RunTimeline)>>>,
) -> AnyView {
    match other {
        Some(other) => view! { <RunView run_id timeline events ended controls other /> }.into_any(),
        None => view! { <RunView run_id timeline events ended controls /> }.into_any(),
    }
}

#[component]
fn RunView(
    run_id: String,
    timeline: Memo<RunTimeline>,
    events: RwSignal<Vec<Event>>,
    ended: RwSignal<Option<String>>,
    /// Whether the run can be stopped from here (never on a review page).
    controls: bool,
    /// Another recorded run to draw beside this one, with its id.
    #[prop(optional)]
    other: Option<Memo<Option<(String, RunTimeline)>>>,
) -> impl IntoView {
    let planner = use_planner();
    // The run's own plan, read once: the review link and summary carry it,
    // and the retrospective judge starts from its alarms.
    let own_plan = StoredValue::new(None::<Result<Plan, String>>);
    let running = Signal::derive(move || {
        timeline.with(|t| t.outcome.is_none() && !t.endpoint.is_empty())
            && ended.with(Option::is_none)
    });
    let cursor = Memo::new(move |_| {
        planner
            .at_ms
            .get()
            .unwrap_or_else(|| timeline.with(|t| t.end_ms))
    });
    // The moment on show is a whole second, as the log lists events: what
    // the log puts at 5:00 (5:00.000 to 5:00.999) has happened at 5:00.
    let seen_until = Memo::new(move |_| cursor.get() / 1_000 * 1_000 + 999);
    let snapshot = Memo::new(move |_| timeline.with(|t| t.at(seen_until.get())));
    // The retrospective judge: a copy of the run's plan whose alarms the
    // reviewer edits, re-judged against the record once the run has ended.
    let judged = RwSignal::new(planner.plan.get_untracked());
    let loaded = RwSignal::new(false);
    load_own_plan(run_id.clone(), own_plan, judged, loaded);
    let retro = Memo::new(move |_| {
        if !loaded.get()
            || running.get()
            || !own_plan.with_value(|plan| matches!(plan, Some(Ok(_))))
        {
            return None;
        }
        events.with(|events| {
            if !has_samples(events) {
                return Some(Err(RetroError::NoSamples));
            }
            Some(judged.with(|plan| rejudge(events, plan, &plan.alarms)))
        })
    });
    let expected = expected_of(own_plan, loaded, timeline);
    let (review_id, retro_id) = (run_id.clone(), run_id.clone());
    view! {
        <section class="run-view" aria-labelledby="run-title">
            <RunHeader run_id=run_id.clone() timeline=timeline ended=ended />
            <RunControls run_id=run_id.clone() timeline=timeline running=running controls=controls />
            <RunChart timeline=timeline retro=retro expected=expected other=other />
            <RunScrubber run_id=run_id.clone() timeline=timeline cursor=cursor snapshot=snapshot />
            <Show when=move || !running.get()>
                <ReviewShare run_id=review_id.clone() events=events own_plan=own_plan />
            </Show>
            <MomentSummary snapshot=snapshot />
            <crate::judge_view::JudgeAtMoment events=events seen_until=seen_until />
            <Show when=move || !running.get()>
                <RetroJudge run_id=retro_id.clone() timeline=timeline judged=judged own_plan=own_plan loaded=loaded retro=retro events=events />
            </Show>
            <RunLog events=events seen_until=seen_until />
        </section>
    }
}

/// Reads run `run_id`'s own plan into `own_plan`, and into `judged` for the
/// retrospective judge to start from; `loaded` once read.
fn load_own_plan(
    run_id: String,
    own_plan: StoredValue<Option<Result<Plan, String>>>,
    judged: RwSignal<Plan>,
    loaded: RwSignal<bool>,
) {
    let planner = use_planner();
    spawn_local(async move {
        let plan = plan_of(planner, &run_id).await;
        if let Ok(plan) = &plan {
            judged.set(plan.clone());
        }
        own_plan.set_value(Some(plan));
        loaded.set(true);
    });
}

/// The run's own plan and its what-if, on the run's clock (aligned at
/// green's first traffic: see `charts::Expected`).
fn expected_of(
    own_plan: StoredValue<Option<Result<Plan, String>>>,
    loaded: RwSignal<bool>,
    timeline: Memo<RunTimeline>,
) -> Memo<Option<Expected>> {
    let planned = Memo::new(move |_| {
        if !loaded.get() {
            return None;
        }
        own_plan.with_value(|plan| match plan {
            Some(Ok(plan)) => Planned::of(plan),
            _ => None,
        })
    });
    Memo::new(move |_| {
        planned.with(|planned| {
            planned
                .as_ref()
                .and_then(|planned| timeline.with(|timeline| planned.on(timeline)))
        })
    })
}

/// The run's title and what it is doing: running, or its outcome; the
/// stretches guardrail did not see, and a record that ended early.
#[component]
fn RunHeader(
    run_id: String,
    timeline: Memo<RunTimeline>,
    ended: RwSignal<Option<String>>,
) -> impl IntoView {
    view! {
        <h2 id="run-title">"Run " <code>{run_id.clone()}</code></h2>
        <p id="run-status" class=move || timeline.with(|t| match &t.outcome {
            None => "outcome",
            Some(outcome) if outcome.status() == "succeeded" => "outcome succeeded",
            Some(_) => "outcome rolled-back",
        })>
            {move || timeline.with(|t| match &t.outcome {
                None if t.endpoint.is_empty() => "Loading…".to_string(),
                None if t.backend == "sagemaker" => format!("Running on SageMaker: {} from {} to {} …", t.endpoint, t.from_config, t.to_config),
                None => format!("Running: {} from {} to {} at {}× …", t.endpoint, t.from_config, t.to_config, trim_float(t.time_scale)),
                Some(outcome) => format!("{} → {}: {}", t.from_config, t.to_config, outcome.describe()),
            })}
        </p>
        {move || timeline.with(|t| (!t.gaps.is_empty()).then(|| {
            let gaps: Vec<String> = t.gaps.iter().map(|(from, to)| format!("{}–{}", mmss(from / 1_000), mmss(to / 1_000))).collect();
            view! { <p class="notice" id="run-gaps">{format!("Not seen as it happened (guardrail was restarted): {}. What changed then was read afterwards from SageMaker and CloudWatch.", gaps.join(", "))}</p> }
        }))}
        {move || ended.get().map(|reason| view! { <p class="notice error" id="run-ended" role="alert">{format!("The run's record ended without its outcome: {reason}")}</p> })}
    }
}

/// Abort (or, on SageMaker, stop watching) while the run runs, and what
/// came of asking.
#[component]
fn RunControls(
    run_id: String,
    timeline: Memo<RunTimeline>,
    running: Signal<bool>,
    /// Whether the run can be stopped from here (never on a review page).
    controls: bool,
) -> impl IntoView {
    let needs_token = use_context::<NeedsToken>();
    let abort_note = RwSignal::new(None::<(bool, String)>);
    let abort = {
        let run_id = run_id.clone();
        move |_| {
            let run_id = run_id.clone();
            abort_note.set(Some((false, "Aborting…".into())));
            spawn_local(async move {
                let sagemaker = timeline.with_untracked(|t| t.backend == "sagemaker");
                let note = match abort_rollout(run_id, "the planner".into()).await {
                    Ok(()) if sagemaker => (
                        false,
                        "Stopped watching. SageMaker carries on with the update: see DescribeEndpoint.".to_string(),
                    ),
                    Ok(()) => (
                        false,
                        "Abort requested: the rollout is rolling back to blue.".to_string(),
                    ),
                    Err(error) => {
                        note_token(needs_token, &error);
                        (true, message(error))
                    }
                };
                abort_note.set(Some(note));
            });
        }
    };
    let running = move || running.get();
    view! {
        <Show when=move || controls && running()>
            <div class="actions">
                <button type="button" id="abort-run" class="danger" on:click=abort.clone()>
                    {move || if timeline.with(|t| t.backend == "sagemaker") { "Stop watching (SageMaker carries on)" } else { "Abort: roll back to blue" }}
                </button>
            </div>
        </Show>
        // Said about the run while it runs: its outcome says the rest.
        {move || running().then(|| abort_note.get()).flatten().map(|(error, text)| view! { <p class=if error { "notice error" } else { "notice" } id="abort-note" role="status">{text}</p> })}
    }
}

/// The run's chart (traffic, errors, alarms, the judge's score, the
/// rollback), with the plan and its what-if aligned to it, and another run
/// beside it when one is compared.
#[component]
fn RunChart(
    timeline: Memo<RunTimeline>,
    retro: Memo<Option<Result<Retro, RetroError>>>,
    expected: Memo<Option<Expected>>,
    other: Option<Memo<Option<(String, RunTimeline)>>>,
) -> impl IntoView {
    let planner = use_planner();
    let chart = Memo::new(move |_| {
        retro.with(|retro| {
            let would_be = match retro {
                Some(Ok(found)) => found.rollback_at_ms.zip(found.rollback_alarm.as_deref()),
                _ => None,
            };
            let other = other.and_then(|other| other.get());
            expected.with(|expected| {
                timeline.with(|timeline| {
                    run_chart(
                        timeline,
                        planner.at_ms.get(),
                        would_be,
                        expected.as_ref(),
                        other.as_ref().map(|(id, other)| (other, id.as_str())),
                        planner.chart_width.get(),
                    )
                })
            })
        })
    });
    let clocks = move || {
        expected.get().map(|expected| {
            let text = timeline.with(|timeline| clocks_text(&expected, timeline));
            view! { <p class="hint" id="run-clocks">{text}</p> }
        })
    };
    view! {
        <div id="run-chart" class="chart" role="img" aria-label="The run's traffic, errors, alarms and rollback over time, with the plan and its what-if aligned" inner_html=move || chart.get()></div>
        {clocks}
        {move || other.and_then(|other| other.get()).map(|(id, other)| {
            let this = timeline.get();
            let said = |timeline: &RunTimeline| {
                let outcome = timeline.outcome.as_ref().map(|outcome| outcome.describe()).unwrap_or_else(|| "still running".into());
                let rollback = timeline.rollback_at_ms.map(|at| format!(", rollback at {}", mmss(at / 1_000))).unwrap_or_default();
                format!("{} → {}: {outcome}{rollback}, {} long", timeline.from_config, timeline.to_config, mmss(timeline.end_ms / 1_000))
            };
            view! {
                <p class="hint" id="run-compare">
                    {format!("Compared with run {id}, drawn in orange from its own update request. This run: {}. Run {id}: {}.", said(&this), said(&other))}
                </p>
            }
        })}
    }
}

/// How the plan's clock and the run's line up, and when each rolled back.
fn clocks_text(expected: &Expected, timeline: &RunTimeline) -> String {
    let run_first = mmss(expected.run_first_ms / 1_000);
    let plan_first = mmss(expected.plan_first_ms / 1_000);
    let mut text = format!(
        "The plan and its what-if are drawn aligned at green's first traffic: {run_first} after the update request in this run, {plan_first} in the plan, which assumes provisioning takes ProvisioningSeconds. {}",
        if expected.plan_first_ms > expected.run_first_ms {
            format!(
                "So the plan's clock reads {} more than the run's.{}",
                mmss((expected.plan_first_ms - expected.run_first_ms) / 1_000),
                if timeline.backend == "local" {
                    " On the local engine, provisioning takes as long as the model servers take to start."
                } else {
                    ""
                }
            )
        } else {
            format!(
                "So the plan's clock reads {} less than the run's.",
                mmss((expected.run_first_ms - expected.plan_first_ms) / 1_000)
            )
        }
    );
    let actual = timeline.rollback_at_ms;
    match (expected.predicted_rollback_ms, actual) {
        (Some((plan_at, run_at)), Some(actual)) => text.push_str(&format!(
            " The what-if rolled back at {} on the plan's clock, {} on the run's; the run rolled back at {}.",
            mmss(plan_at / 1_000), mmss(run_at / 1_000), mmss(actual / 1_000)
        )),
        (Some((plan_at, run_at)), None) => text.push_str(&format!(
            " The what-if rolled back at {} on the plan's clock, {} on the run's; the run did not roll back.",
            mmss(plan_at / 1_000), mmss(run_at / 1_000)
        )),
        (None, Some(actual)) => text.push_str(&format!(
            " The what-if did not roll back; the run rolled back at {}.",
            mmss(actual / 1_000)
        )),
        (None, None) => {}
    }
    text
}

/// The moment on show: a slider over the run, phase by phase with the
/// keyboard, back to the end, and the run's plan opened in the designer.
#[component]
fn RunScrubber(
    run_id: String,
    timeline: Memo<RunTimeline>,
    cursor: Memo<u64>,
    snapshot: Memo<guardrail_core::event::RunSnapshot>,
) -> impl IntoView {
    let planner = use_planner();
    let moment_text = move || {
        let phase = snapshot.with(|snapshot| {
            snapshot
                .phase
                .map(|phase| phase.label())
                .unwrap_or_else(|| "starting".into())
        });
        format!("{}, {phase}", mmss(cursor.get() / 1_000))
    };
    // Shift+arrows, Page Up and Page Down move phase by phase.
    let phase_keys = move |event: leptos::ev::KeyboardEvent| {
        let forward = match event.key().as_str() {
            "ArrowRight" | "ArrowUp" if event.shift_key() => true,
            "ArrowLeft" | "ArrowDown" if event.shift_key() => false,
            "PageUp" => true,
            "PageDown" => false,
            _ => return,
        };
        event.prevent_default();
        let now = cursor.get_untracked();
        let target = timeline.with_untracked(|t| next_phase_start(t, now, forward));
        planner.at_ms.set(Some(target));
    };
    let open_plan = {
        let run_id = run_id.clone();
        move |_| open_run_plan(planner, run_id.clone())
    };
    view! {
        <div class="scrubber">
            <label for="run-cursor">{move || format!("Moment: {}", moment_text())}</label>
            <input id="run-cursor" type="range" min="0" step="1000"
                aria-valuetext=moment_text
                aria-keyshortcuts="Shift+ArrowRight Shift+ArrowLeft PageUp PageDown"
                title="Arrows: a second; Shift+arrows or Page Up/Down: a phase"
                on:keydown=phase_keys
                max=move || timeline.with(|t| t.end_ms).to_string()
                // Set again when the run grows, or the browser clamps it to the old max.
                prop:value=move || {
                    let _ = timeline.with(|t| t.end_ms);
                    cursor.get().to_string()
                }
                on:input=move |event| {
                    if let Ok(value) = event_target_value(&event).parse::<u64>() {
                        planner.at_ms.set(Some(value));
                    }
                } />
            <button type="button" on:click=move |_| planner.at_ms.set(None)>"End"</button>
            <button type="button" on:click=open_plan>"Open this run's plan"</button>
        </div>
    }
}

/// The start of the phase after (or before) `now`: the run's end, or its
/// start, if there is none.
fn next_phase_start(timeline: &RunTimeline, now: u64, forward: bool) -> u64 {
    let starts = timeline.phases.iter().map(|span| span.start_ms);
    if forward {
        starts
            .filter(|start| *start > now)
            .min()
            .unwrap_or(timeline.end_ms)
    } else {
        starts.filter(|start| *start < now).max().unwrap_or(0)
    }
}

/// Opens run `run_id`'s own plan in the designer.
fn open_run_plan(planner: crate::state::Planner, run_id: String) {
    spawn_local(async move {
        if let Ok(text) = run_plan(run_id.clone()).await {
            if let Ok(plan) = Plan::from_json(&text) {
                planner.replace_plan(plan);
                planner.notice.set(Some(Notice {
                    error: false,
                    text: format!("Opened the plan of run {run_id} in the designer."),
                }));
            }
        }
    });
}

/// The review link and the review summary, copied for a pull request.
#[component]
fn ReviewShare(
    run_id: String,
    events: RwSignal<Vec<Event>>,
    own_plan: StoredValue<Option<Result<Plan, String>>>,
) -> impl IntoView {
    let planner = use_planner();
    // What was last copied for a review: the link or the summary, and a note.
    let review = RwSignal::new(None::<(String, String)>);
    let make_review = {
        let run_id = run_id.clone();
        move |summary: bool| {
            let run_id = run_id.clone();
            spawn_local(async move {
                let copied = match review_of(planner, &run_id, events, own_plan).await {
                    Ok((plan, link)) if summary => {
                        let image = match link.url.split_once("&r=") {
                            Some((_, token)) if link.self_contained => {
                                format!("{}timeline.svg?r={token}", browser::page_url())
                            }
                            _ => format!("{}runs/{run_id}/timeline.svg", browser::page_url()),
                        };
                        let text = events.with_untracked(|events| {
                            summary_markdown(
                                &plan,
                                &run_id,
                                &RunTimeline::from_events(events),
                                &SummaryLinks {
                                    link: Some(link.url.clone()),
                                    image: Some(image),
                                    events_command: Some(format!(
                                        "guardrail events {run_id} --json"
                                    )),
                                },
                            )
                        });
                        browser::copy(&text);
                        (
                            text,
                            "Copied the review summary (Markdown): paste it into the pull request."
                                .to_string(),
                        )
                    }
                    Ok((_, link)) => {
                        browser::copy(&link.url);
                        let note = match &link.note {
                            None => format!("Copied. It carries the run ({} characters) and opens read-only in any copy of the planner, without this server.", link.url.len()),
                            Some(note) => format!("Copied. {note}"),
                        };
                        (link.url, note)
                    }
                    Err(error) => (
                        String::new(),
                        format!("Nothing copied: the run's plan could not be read ({error})."),
                    ),
                };
                review.set(Some(copied));
            });
        }
    };
    view! {
            <div class="share review">
        <button type="button" id="copy-review-link" on:click={
            let make_review = make_review.clone();
            move |_| make_review(false)
        }>"Copy review link"</button>
        <button type="button" id="copy-review-summary" on:click={
            let make_review = make_review.clone();
            move |_| make_review(true)
        }>"Copy review summary"</button>
        {move || review.get().map(|(text, note)| view! {
            <textarea id="review-text" readonly=true rows="3" prop:value=text></textarea>
            <p class="hint" id="review-note">{note}</p>
        })}
    </div>
    }
}

/// The phase, green's traffic and each alarm's state at the moment on show.
#[component]
fn MomentSummary(snapshot: Memo<guardrail_core::event::RunSnapshot>) -> impl IntoView {
    view! {
        <dl class="summary" id="run-snapshot">
            {move || {
                let snapshot = snapshot.get();
                view! {
                    <div><dt>"Phase"</dt><dd>{snapshot.phase.map(|phase| phase.label()).unwrap_or_else(|| "starting".into())}</dd></div>
                    <div><dt>"Green traffic"</dt><dd>{format!("{}%", trim_float(f64::from(snapshot.green_traffic_bp) / 100.0))}</dd></div>
                    {snapshot.alarms.into_iter().map(|(alarm, state)| view! {
                        <div><dt>{alarm}</dt><dd class=if state.as_str() == "ALARM" { "bad" } else { "" }>{state.as_str()}</dd></div>
                    }).collect_view()}
                }
            }}
        </dl>
    }
}

/// The run's events, those after the moment on show greyed; each moves the
/// moment to it.
#[component]
fn RunLog(events: RwSignal<Vec<Event>>, seen_until: Memo<u64>) -> impl IntoView {
    let planner = use_planner();
    view! {
        <ol class="events" id="run-events">
            {move || {
                let now = seen_until.get();
                events.get().into_iter().filter(|event| !matches!(event.kind, guardrail_core::event::EventKind::MetricPeriod { .. })).map(|event| {
                    let at = event.at_ms;
                    view! {
                        <li class:later={ at > now }>
                            <button type="button" class="link" on:click=move |_| planner.at_ms.set(Some(at))>{mmss(at / 1_000)}</button>
                            " "
                            {event.summary()}
                        </li>
                    }
                }).collect_view()
            }}
        </ol>
    }
}

/// Why a run cannot be re-judged, in the reviewer's terms.
fn no_samples_reason(planner: Planner, timeline: &RunTimeline, run_id: &str) -> String {
    if planner.record.with_value(Option::is_some) {
        format!(
            "This link carries the run's events but not its per-period samples, which would make it too long to share. Open the run on the server that recorded it to re-judge it here, or run `guardrail retro {run_id} --alarms FILE` there."
        )
    } else if timeline.backend == "sagemaker" {
        "A SageMaker run's metrics come from CloudWatch's GetMetricData as one statistic per period, not the samples a re-judgement needs: runs on the local engine can be re-judged.".to_string()
    } else {
        "This run was recorded without per-period samples (by a version of guardrail that kept none), so it cannot be re-judged.".to_string()
    }
}

/// "4:00", or "never".
fn moment(at_ms: Option<u64>) -> String {
    at_ms.map_or_else(|| "never".to_string(), |at| mmss(at / 1_000))
}

/// The retrospective judge: the run's alarms, to edit, and what they would
/// have done to the recorded run, beside what it did.
#[component]
fn RetroJudge(
    run_id: String,
    timeline: Memo<RunTimeline>,
    judged: RwSignal<Plan>,
    own_plan: StoredValue<Option<Result<Plan, String>>>,
    loaded: RwSignal<bool>,
    retro: Memo<Option<Result<Retro, RetroError>>>,
    events: RwSignal<Vec<Event>>,
) -> impl IntoView {
    let planner = use_planner();
    let checked = Memo::new(move |_| judged.with(guardrail_core::check));
    provide_context(Editing {
        plan: judged,
        checked,
        prefix: "retro-",
        rollback_choice: false,
        untaken: RwSignal::new(Vec::new()),
    });
    let judge_retro = judge_retro_of(loaded, judged, checked, events);
    // A memo, so that the editor below is built once, not again (losing the
    // reviewer's focus) on every re-judgement.
    let samples =
        Memo::new(move |_| !retro.with(|retro| matches!(retro, Some(Err(RetroError::NoSamples)))));
    view! {
        <section class="retro" id="retro" aria-labelledby="retro-title">
            <h3 id="retro-title">"Would other alarms have caught it?"</h3>
            {move || match (loaded.get(), own_plan.get_value()) {
                (false, _) | (true, None) => view! { <p class="hint">"Reading the run's plan…"</p> }.into_any(),
                (true, Some(Err(error))) => view! { <p class="notice error" id="retro-error">{format!("The run's plan could not be read, so its alarms cannot be re-judged: {error}")}</p> }.into_any(),
                (true, Some(Ok(_))) if !samples.get() => view! {
                    <p class="notice" id="retro-no-samples">{timeline.with(|timeline| no_samples_reason(planner, timeline, &run_id))}</p>
                    // The judge is re-run on a SageMaker run's statistics, as
                    // its watcher ran it.
                    {timeline.with(|timeline| timeline.backend == "sagemaker").then(|| view! {
                        <p class="hint">"The canary judge, though, compares CloudWatch's statistics as the watcher did: edit and re-run it below."</p>
                        <crate::judge_editor::JudgeSectionEditor />
                        <RetroJudgeResult judge_retro=judge_retro />
                    })}
                }.into_any(),
                (true, Some(Ok(_))) => view! {
                    <p class="hint">
                        "Edit the alarms below: each is judged as a rollback alarm against this run's recorded samples, with the alarm monitor the run itself used, so with the run's own alarms it finds what the run found. "
                        "Every statistic can be re-judged (SampleCount, Sum, Average, Minimum, Maximum and percentiles); a period must be a whole number of the record's ticks. "
                        "What happened after the run's own rollback is not in the record."
                    </p>
                    <RetroSources judged own_plan />
                    <RetroResult retro=retro />
                    <AlarmsSection />
                    <crate::judge_editor::JudgeSectionEditor />
                    <RetroJudgeResult judge_retro=judge_retro />
                    <p class="hint">"Alarms on CanaryScore above are judged on the scores the run published, not on this judge's."</p>
                }.into_any(),
            }}
        </section>
    }
}

/// The copy's canary judge, re-run on the record (the view exists once the
/// run has ended): `None` while the copy has no judge.
fn judge_retro_of(
    loaded: RwSignal<bool>,
    judged: RwSignal<Plan>,
    checked: Memo<guardrail_core::Checked>,
    events: RwSignal<Vec<Event>>,
) -> Memo<Option<Result<Vec<guardrail_core::judge::Look>, String>>> {
    Memo::new(move |_| {
        if !loaded.get() || judged.with(|plan| plan.judge.is_none()) {
            return None;
        }
        let spec = checked.with(|checked| {
            checked
                .rollout
                .as_ref()
                .and_then(|rollout| rollout.judge().cloned())
        });
        Some(match spec {
            None => {
                Err("the plan has errors (see above), so the judge cannot be re-run".to_string())
            }
            Some(spec) => events.with(|events| {
                guardrail_core::retro::judge_record(events, &spec)
                    .map_err(|error| error.to_string())
            }),
        })
    })
}

/// Where the copy's alarms start again: the run's own, or the designer's
/// (with its judge).
#[component]
fn RetroSources(
    judged: RwSignal<Plan>,
    own_plan: StoredValue<Option<Result<Plan, String>>>,
) -> impl IntoView {
    let planner = use_planner();
    let reset = move |_| {
        if let Some(Ok(plan)) = own_plan.get_value() {
            judged.set(plan);
        }
    };
    let from_designer = move |_| {
        let (alarms, judge) = planner
            .plan
            .with_untracked(|plan| (plan.alarms.clone(), plan.judge.clone()));
        judged.update(|plan| {
            plan.alarms = alarms;
            plan.judge = judge;
        });
    };
    view! {
        <div class="actions">
            <button type="button" id="retro-reset" on:click=reset>"The run's own alarms"</button>
            <button type="button" id="retro-designer" on:click=from_designer>"The designer's alarms and judge"</button>
        </div>
    }
}

/// The retrospective copy's canary judge re-run on the record: its verdict
/// and its last look. An alarm on its score is not re-judged with it: the
/// alarms see the scores the run published.
#[component]
fn RetroJudgeResult(
    judge_retro: Memo<Option<Result<Vec<guardrail_core::judge::Look>, String>>>,
) -> impl IntoView {
    move || {
        judge_retro.with(|found| match found {
            None => view! { <p class="hint" id="retro-judge-verdict">"No judge to re-run: turn one on above to see what it would have said of this run."</p> }.into_any(),
            Some(Err(error)) => view! { <p class="notice error" id="retro-judge-verdict" role="status">{format!("The judge cannot re-judge this run: {error}.")}</p> }.into_any(),
            Some(Ok(looks)) => view! {
                <p id="retro-judge-verdict" role="status">{crate::judge_view::verdict_of(looks)}</p>
                {looks.last().map(|look| view! {
                    <p class="hint">{format!("Its last look, at {}:", mmss(look.at_ms / 1_000))}</p>
                    {crate::judge_view::judgement_table(&look.judgement, "retro-judge-metrics".into())}
                })}
            }.into_any(),
        })
    }
}

/// The re-judgement: the verdict, each alarm beside the run's own, and what
/// an earlier rollback would have spared.
#[component]
fn RetroResult(retro: Memo<Option<Result<Retro, RetroError>>>) -> impl IntoView {
    move || {
        retro.with(|retro| match retro {
            None => view! { <p class="hint">"Re-judging…"</p> }.into_any(),
            Some(Err(error)) => view! {
                <p class="notice error" id="retro-verdict" role="status">{error.to_string()}</p>
            }.into_any(),
            Some(Ok(found)) => {
                let earlier = match (found.rollback_at_ms, found.recorded_rollback_at_ms) {
                    (Some(at), Some(recorded)) => at < recorded,
                    (Some(_), None) => true,
                    _ => false,
                };
                view! {
                    <p id="retro-verdict" role="status" class=if earlier { "outcome succeeded" } else { "outcome" }>{found.verdict.clone()}</p>
                    <table class="steps" id="retro-alarms">
                        <thead><tr>
                            <th scope="col">"Alarm"</th><th scope="col">"Condition"</th>
                            <th scope="col">"Would first fire"</th><th scope="col">"The run's own fired"</th>
                        </tr></thead>
                        <tbody>
                            {found.alarms.iter().map(|alarm| view! {
                                <tr>
                                    <td><code>{alarm.name.clone()}</code></td>
                                    <td>{alarm.condition.clone()}</td>
                                    <td class=if alarm.first_alarm_ms.is_some() { "bad" } else { "" }>{moment(alarm.first_alarm_ms)}</td>
                                    <td>{moment(alarm.recorded_alarm_ms)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    {found.rollback_at_ms.map(|_| view! {
                        <p class="hint" id="retro-spared">{format!(
                            "Rolling back then would have spared {} failed request(s) of {} that green served before the run's own {}.",
                            found.spared_failures,
                            found.spared_requests,
                            if found.recorded_rollback_at_ms.is_some() { "rollback" } else { "end" }
                        )}</p>
                    })}
                }.into_any()
            }
        })
    }
}
