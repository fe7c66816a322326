//! The plan designer: endpoint, traffic shifting, waits, the alarm editor
//! and the canary judge.

use guardrail_core::alarm::trim_float;
use guardrail_core::assumptions::{green_traffic_bp, instances_for};
use guardrail_core::field::limits::MAX_INSTANCES;
use guardrail_core::field::{Field, Policy, Size, SizePart};
use guardrail_core::plan::{CapacitySize, CapacitySizeType, Plan};
use leptos::prelude::*;

pub use crate::alarm_editor::{AlarmsSection, CompositeSection};
use crate::browser;
use crate::edit::{self, Mode};
use crate::fields::{Problems, SelectField, TextField, WholeField};
use crate::state::{use_planner, Notice};

// Fields read the plan through memos: a keystroke anywhere changes the plan,
// and a memo tells its field only when its own value changed.
fn text_signal(read: impl Fn(&Plan) -> String + Send + Sync + 'static) -> Signal<String> {
    let planner = use_planner();
    Memo::new(move |_| planner.plan.with(|plan| read(plan))).into()
}

fn whole_signal(
    read: impl Fn(&Plan) -> Option<i64> + Send + Sync + 'static,
) -> Signal<Option<i64>> {
    let planner = use_planner();
    Memo::new(move |_| planner.plan.with(|plan| read(plan))).into()
}

/// The path of a field, for a control that always edits that field.
fn fixed(field: Field) -> Signal<String> {
    Signal::stored(field.path())
}

#[component]
pub fn Designer() -> impl IntoView {
    view! {
        <section class="designer" aria-label="Plan designer">
            <MyPlans />
            <AllProblems />
            <EndpointSection />
            <ShiftingSection />
            <AlarmsSection />
            <CompositeSection />
            <crate::judge_editor::JudgeSectionEditor />
        </section>
    }
}

/// A change to the named plans, and what to say when it is done.
type LibraryChange = dyn FnOnce(&mut crate::library::Library) -> Result<String, String>;

/// Named plans kept in this browser: save the plan on screen under a name,
/// open one (an undoable change, as any other), rename, delete, or pin one
/// to Compare.
#[component]
fn MyPlans() -> impl IntoView {
    use crate::library::{Library, PLANS_KEY};
    let planner = use_planner();
    let library = RwSignal::new(browser::storage_get::<Library>(PLANS_KEY).unwrap_or_default());
    let name = RwSignal::new(String::new());
    let said = RwSignal::new(None::<(bool, String)>);
    let save = move |_| {
        let typed = name.get_untracked();
        let plan = planner.plan.get_untracked();
        change_library(
            library,
            said,
            Box::new(move |library| {
                library.save(&typed, &plan)?;
                Ok(format!("Saved as {}.", typed.trim()))
            }),
        );
    };
    view! {
        <details class="my-plans">
            <summary>{move || format!("My plans ({})", library.with(|library| library.plans.len()))}</summary>
            <div class="input-row">
                <label for="plan-name" class="visually-hidden">"Plan name"</label>
                <input id="plan-name" type="text" placeholder="Name this plan" autocomplete="off"
                    prop:value=move || name.get()
                    on:input=move |event| name.set(event_target_value(&event)) />
                <button type="button" id="save-plan" on:click=save>"Save"</button>
            </div>
            {move || said.get().map(|(ok, text)| view! {
                <p id="plans-status" class=if ok { "hint" } else { "notice error" } role="status">{text}</p>
            })}
            <ul id="my-plans">
                {move || library.get().plans.into_iter().enumerate().map(|(index, named)| view! {
                    <SavedPlan index named library name said />
                }).collect_view()}
            </ul>
        </details>
    }
}

/// Applies `apply` to the kept plans and keeps the result if it worked;
/// `said` gets what was done, or why not.
fn change_library(
    library: RwSignal<crate::library::Library>,
    said: RwSignal<Option<(bool, String)>>,
    apply: Box<LibraryChange>,
) {
    let mut next = library.get_untracked();
    let result = apply(&mut next);
    if result.is_ok() {
        browser::storage_set(crate::library::PLANS_KEY, &next);
        library.set(next);
    }
    said.set(Some(match result {
        Ok(text) => (true, text),
        Err(error) => (false, format!("Not done: {error}.")),
    }));
}

/// One kept plan, `index` of the list: open it, pin it to Compare, rename
/// it to the name typed above, or delete it.
#[component]
fn SavedPlan(
    index: usize,
    named: crate::library::Named,
    library: RwSignal<crate::library::Library>,
    name: RwSignal<String>,
    said: RwSignal<Option<(bool, String)>>,
) -> impl IntoView {
    let planner = use_planner();
    let plan_name = named.name.clone();
    let open = {
        let plan_name = plan_name.clone();
        move |_| {
            planner.replace_plan(named.plan.clone());
            name.set(plan_name.clone());
            said.set(Some((
                true,
                format!("Opened {plan_name}. Undo (Ctrl+Z) goes back."),
            )));
        }
    };
    let pin = {
        let plan_name = plan_name.clone();
        move |_| {
            let plan = library.with_untracked(|library| library.get(&plan_name).cloned());
            if let Some(plan) = plan {
                said.set(Some(planner.pin(plan_name.clone(), plan)));
            }
        }
    };
    let rename = {
        let plan_name = plan_name.clone();
        move |_| {
            let from = plan_name.clone();
            let to = name.get_untracked();
            change_library(
                library,
                said,
                Box::new(move |library| {
                    library.rename(&from, &to)?;
                    Ok(format!("Renamed {from} to {}.", to.trim()))
                }),
            );
        }
    };
    let delete = {
        let plan_name = plan_name.clone();
        move |_| {
            let gone = plan_name.clone();
            change_library(
                library,
                said,
                Box::new(move |library| {
                    library.delete(&gone);
                    Ok(format!("Deleted {gone}."))
                }),
            );
        }
    };
    view! {
        <li>
            <span class="plan-name">{plan_name.clone()}</span>
            <button type="button" id=format!("open-plan-{index}") on:click=open>"Open"</button>
            <button type="button" id=format!("pin-plan-{index}") on:click=pin>"Compare"</button>
            <button type="button" id=format!("rename-plan-{index}") title="Rename to the name typed above" on:click=rename>"Rename"</button>
            <button type="button" id=format!("delete-plan-{index}") class="danger" on:click=delete>"Delete"</button>
        </li>
    }
}

/// Every problem at once, each linking to its field: the check's, and what
/// the what-if found that the verdict rests on. What blocks the plan counts
/// as an error, so that a Blocked verdict always comes with one.
#[component]
fn AllProblems() -> impl IntoView {
    let planner = use_planner();
    let verdict = expect_context::<crate::state::CurrentVerdict>().0;
    let items = move || {
        let untaken = planner.untaken.get();
        let judgement = verdict.get();
        let found_blocks = judgement.verdict == guardrail_core::verdict::Verdict::Blocked;
        planner.checked.with(|checked| {
            let (blocking, warnings): (Vec<_>, Vec<_>) = checked
                .report
                .warnings
                .iter()
                .cloned()
                .partition(guardrail_core::verdict::blocks);
            judgement
                .found
                .iter()
                .cloned()
                .map(|problem| (problem, found_blocks))
                .chain(
                    untaken
                        .into_iter()
                        .chain(checked.report.errors.iter().cloned())
                        .chain(blocking)
                        .map(|problem| (problem, true)),
                )
                .chain(warnings.into_iter().map(|problem| (problem, false)))
                .collect::<Vec<_>>()
        })
    };
    view! {
        <details class="all-problems" open=true>
            <summary>
                {move || {
                    let items = items();
                    let errors = items.iter().filter(|(_, error)| *error).count();
                    format!("Problems: {errors} error(s), {} warning(s)", items.len() - errors)
                }}
            </summary>
            <ul id="all-problems">
                {move || {
                    items()
                        .into_iter()
                        .map(|(problem, error)| view! { <ProblemItem problem error /> })
                        .collect_view()
                }}
            </ul>
        </details>
    }
}

/// One problem: a link to its field, what is wrong, and the one-click fix
/// where the lint knows one.
#[component]
fn ProblemItem(problem: guardrail_core::problem::Problem, error: bool) -> impl IntoView {
    let planner = use_planner();
    let path = problem.path.clone();
    // A copy of the alarm on the new fleet, or the new fleet's 5XX rate by
    // metric math.
    let fix = (problem.code == "alarm_blind_in_phase")
        .then(|| edit::alarm_index(&problem.path))
        .flatten()
        .map(|index| view! { <NewFleetFixes index /> });
    // A percent that does not divide the fleet: the count that does.
    let resize = (problem.code == "percent_rounds")
        .then(|| planner.plan.with_untracked(edit::exact_instance_count))
        .flatten()
        .map(|count| view! { <ResizeFix count /> });
    view! {
        <li class=if error { "error" } else { "warning" } data-code=problem.code.clone()>
            <button type="button" class="link" on:click=move |_| browser::focus_path(&path)>
                {problem.path.clone()}
            </button>
            ": "
            {problem.message.clone()}
            {fix}
            {resize}
        </li>
    }
}

/// The fixes for alarm `index`, blind in a phase, each a button once the
/// what-if has proven it on seeded runs; the proof, or why it was refused.
#[component]
fn NewFleetFixes(index: usize) -> impl IntoView {
    let planner = use_planner();
    let analyses = crate::analysis::use_analyses();
    // Read in a closure: the what-if proves the fixes after the problem shows.
    move || {
        let proven: Vec<edit::NewFleetFix> = analyses.what_if.with(|what_if| match what_if {
            Some((_, Ok(what_if))) => what_if
                .fixes
                .iter()
                .filter(|fix| fix.index == index)
                .cloned()
                .collect(),
            _ => Vec::new(),
        });
        let proof_id = format!("fix-proof-{index}");
        let Some(copy) = proven.first().cloned() else {
            return view! { <span class="fix-proof" id=proof_id>"Checking a new-fleet alarm on seeded runs…"</span> }.into_any();
        };
        let said = copy.describe();
        if copy.refused.is_some() {
            return view! { <span class="fix-proof refused" id=proof_id>{said}</span> }.into_any();
        }
        let buttons = proven
            .into_iter()
            .map(|choice| {
                let (id, label) = if choice.rate {
                    (
                        format!("fix-new-fleet-rate-{index}"),
                        "Add a new-fleet error rate (metric math)",
                    )
                } else {
                    (format!("fix-new-fleet-{index}"), "Add a new-fleet alarm")
                };
                let apply = move |_| apply_fix(planner, &choice);
                view! { <button type="button" class="fix" id=id on:click=apply>{label}</button> }
            })
            .collect_view();
        view! {
            {buttons}
            <span class="fix-proof" id=proof_id>{said}</span>
        }
        .into_any()
    }
}

/// Sets InstanceCount to `count`, which every step's percent divides.
#[component]
fn ResizeFix(count: u32) -> impl IntoView {
    let planner = use_planner();
    let apply = move |_| {
        let mut plan = planner.plan.get_untracked();
        plan.instance_count = Some(i64::from(count));
        planner.replace_plan(plan);
        planner.notice.set(Some(Notice {
            error: false,
            text: format!("InstanceCount is now {count}: every step is the percent asked for. Undo (Ctrl+Z) takes it back."),
        }));
    };
    view! { <button type="button" class="fix" id="fix-instance-count" on:click=apply>{format!("Use {count} instances")}</button> }
}

/// Applies a proven one-click fix and says what it added, with its proof.
fn apply_fix(planner: crate::state::Planner, fix: &edit::NewFleetFix) {
    let fixed = planner
        .plan
        .with_untracked(|plan| edit::apply_new_fleet_fix(plan, fix));
    let Some((plan, added)) = fixed else { return };
    let name = plan.alarms[added].alarm_name.clone();
    let threshold = plan.alarms[added]
        .threshold
        .map(trim_float)
        .unwrap_or_default();
    let proof = fix
        .tuned
        .as_ref()
        .map(|tuned| {
            format!(
                " It caught the what-if's regression in {} and fired with green as healthy as blue in {}.",
                tuned.caught.describe(),
                tuned.false_alarms.describe()
            )
        })
        .unwrap_or_default();
    let what = if fix.rate {
        format!("the new fleet's 5XX rate by metric math, with threshold {threshold} %")
    } else {
        format!("on the new fleet alone, with threshold {threshold}")
    };
    planner.replace_plan(plan);
    planner.notice.set(Some(Notice {
        error: false,
        text: format!("Added {name}, {what}.{proof} Undo (Ctrl+Z) takes it back."),
    }));
}

#[component]
fn EndpointSection() -> impl IntoView {
    let planner = use_planner();
    let rename = move |field: Field| {
        Callback::new(move |value: String| {
            planner.edit(|plan| edit::rename_endpoint(plan, field, value))
        })
    };
    view! {
        <fieldset>
            <legend>"Endpoint"</legend>
            <div class="grid two">
                <TextField
                    id="endpoint-name"
                    label="Endpoint name"
                    path=fixed(Field::EndpointName)
                    value=text_signal(|plan| plan.endpoint_name.clone())
                    on_change=rename(Field::EndpointName)
                />
                <TextField
                    id="endpoint-config-name"
                    label="New endpoint config"
                    path=fixed(Field::EndpointConfigName)
                    value=text_signal(|plan| plan.endpoint_config_name.clone())
                    on_change=rename(Field::EndpointConfigName)
                />
                <TextField
                    id="variant-name"
                    label="Variant"
                    path=fixed(Field::VariantName)
                    value=text_signal(|plan| plan.variant_name.clone())
                    on_change=rename(Field::VariantName)
                />
                <TextField
                    id="instance-type"
                    label="Instance type"
                    path=fixed(Field::InstanceType)
                    value=text_signal(|plan| plan.instance_type.clone())
                    on_change=Callback::new(move |value: String| planner.edit(|plan| plan.instance_type = value))
                />
                <WholeField
                    id="instance-count"
                    label="Instance count"
                    path=fixed(Field::InstanceCount)
                    value=whole_signal(|plan| plan.instance_count)
                    on_change=Callback::new(move |value| planner.edit(|plan| plan.instance_count = value))
                />
            </div>
        </fieldset>
    }
}

/// The current mode's size field, if it has one.
fn size_of(plan: &Plan) -> Option<Size> {
    match edit::mode(plan) {
        Mode::Canary => Some(Size::Canary),
        Mode::Linear => Some(Size::LinearStep),
        Mode::Rolling => Some(Size::Batch),
        Mode::AllAtOnce => None,
    }
}

/// The path of a part of the current mode's size.
fn size_path(plan: &Plan, part: SizePart) -> String {
    size_of(plan)
        .map(|size| Field::Size(size, part).path())
        .unwrap_or_default()
}

fn policy_of(plan: &Plan) -> Policy {
    match edit::mode(plan) {
        Mode::Rolling => Policy::Rolling,
        _ => Policy::BlueGreen,
    }
}

/// "1 instance → 25 % of traffic beside 3 blue", for the size field.
fn size_effect(plan: &Plan) -> Option<String> {
    let size = edit::size(plan)?;
    let fleet = plan
        .instance_count
        .filter(|count| (1..=i64::from(MAX_INSTANCES)).contains(count))? as u32;
    let value = size
        .value
        .filter(|value| *value >= 1)
        .and_then(|value| u32::try_from(value).ok())?;
    let kind = size.kind?;
    let instances = instances_for(kind, value, fleet).instances;
    let share = |green: u32, blue: u32| f64::from(green_traffic_bp(green, blue)) / 100.0;
    Some(match edit::mode(plan) {
        Mode::Canary => format!(
            "{instances} canary instance(s) beside {fleet} blue: {:.2}% of traffic",
            share(instances, fleet)
        ),
        Mode::Linear => format!(
            "{instances} instance(s) per step: {} step(s) of {:.2}% of traffic",
            fleet.div_ceil(instances),
            f64::from(instances) * 100.0 / f64::from(fleet)
        ),
        Mode::Rolling => format!(
            "{instances} instance(s) per batch: {} batch(es); the first gets {:.2}% of traffic",
            fleet.div_ceil(instances),
            share(instances, fleet)
        ),
        Mode::AllAtOnce => return None,
    })
}

const SIZE_TYPES: [(&str, &str); 2] = [
    ("INSTANCE_COUNT", "instances (INSTANCE_COUNT)"),
    ("CAPACITY_PERCENT", "percent of fleet (CAPACITY_PERCENT)"),
];

fn size_type_from(text: &str) -> Option<CapacitySizeType> {
    match text {
        "INSTANCE_COUNT" => Some(CapacitySizeType::InstanceCount),
        "CAPACITY_PERCENT" => Some(CapacitySizeType::CapacityPercent),
        _ => None,
    }
}

#[component]
fn ShiftingSection() -> impl IntoView {
    let planner = use_planner();
    let mode = Memo::new(move |_| planner.plan.with(edit::mode));
    view! {
        <fieldset>
            <legend>"Traffic shifting"</legend>
            <ModeChoice mode />
            <Problems path=fixed(Field::TrafficRouting) id="routing-problems" />
            <Problems path=fixed(Field::DeploymentConfig) id="config-problems" />
            <Show when=move || mode.get() != Mode::AllAtOnce>
                <StepSize mode />
            </Show>
            <Timings mode />
            <Show when=move || mode.get() == Mode::Rolling>
                <RollbackBatch />
            </Show>
        </fieldset>
    }
}

/// The four modes as radio buttons; the config of each mode switched away
/// from is brought back on return.
#[component]
fn ModeChoice(mode: Memo<Mode>) -> impl IntoView {
    let planner = use_planner();
    let left = StoredValue::new(Vec::new());
    view! {
        <div class="modes" role="radiogroup" aria-label="Mode" data-path=Field::TrafficRouting.path()>
            {Mode::ALL
                .into_iter()
                .map(|choice| {
                    let id = format!("mode-{}", choice.id());
                    let label_for = id.clone();
                    view! {
                        <label for=label_for class="mode">
                            <input
                                type="radio"
                                name="mode"
                                id=id
                                value=choice.id()
                                prop:checked=move || mode.get() == choice
                                on:change=move |_| {
                                    left.update_value(|left| planner.edit(|plan| edit::switch_mode(plan, choice, left)))
                                }
                            />
                            {choice.label()}
                        </label>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// The canary, linear step or rolling batch size, in instances or percent,
/// and what it comes to.
#[component]
fn StepSize(mode: Memo<Mode>) -> impl IntoView {
    let planner = use_planner();
    let size = Memo::new(move |_| planner.plan.with(edit::size));
    let size_part = move |part: SizePart| -> Signal<String> {
        Memo::new(move |_| planner.plan.with(|plan| size_path(plan, part))).into()
    };
    let size_text = Memo::new(move |_| planner.plan.with(size_effect));
    let size_kind = Signal::derive(move || {
        size.get()
            .and_then(|size| size.kind)
            .map(|kind| kind.as_str().to_string())
            .unwrap_or_default()
    });
    let size_value = Signal::derive(move || size.get().and_then(|size| size.value));
    view! {
        <div class="grid two">
            <SelectField
                id="size-type"
                label=Signal::derive(move || match mode.get() {
                    Mode::Canary => "Canary size in",
                    Mode::Linear => "Step size in",
                    _ => "Batch size in",
                }.to_string())
                path=size_part(SizePart::Type)
                options=SIZE_TYPES.iter().map(|(value, label)| (value.to_string(), label.to_string())).collect()
                value=size_kind
                on_change=Callback::new(move |text: String| {
                    planner.edit(|plan| {
                        let value = edit::size(plan).and_then(|size| size.value);
                        edit::set_size(plan, size_type_from(&text), value)
                    })
                })
            />
            <WholeField
                id="size-value"
                label=Signal::derive(move || match mode.get() {
                    Mode::Canary => "Canary size",
                    Mode::Linear => "Linear step size",
                    _ => "Batch size",
                }.to_string())
                path=size_part(SizePart::Value)
                value=size_value
                on_change=Callback::new(move |value| {
                    planner.edit(|plan| {
                        let kind = edit::size(plan).and_then(|size| size.kind);
                        edit::set_size(plan, kind, value)
                    })
                })
            />
        </div>
        <p class="derived" id="size-effect">{move || size_text.get()}</p>
        <Problems path=size_part(SizePart::Whole) id="size-problems" />
    }
}

/// The waits, the final bake, the timeout, and guardrail's own provisioning
/// and termination times.
#[component]
fn Timings(mode: Memo<Mode>) -> impl IntoView {
    let planner = use_planner();
    let policy = Memo::new(move |_| planner.plan.with(policy_of));
    view! {
        <div class="grid two">
            <Show when=move || mode.get() != Mode::AllAtOnce>
                <WholeField
                    id="wait"
                    label="Wait between steps (WaitIntervalInSeconds)"
                    path=Signal::derive(move || Field::Wait(policy.get()).path())
                    value=whole_signal(edit::wait)
                    on_change=Callback::new(move |value| planner.edit(|plan| edit::set_wait(plan, value)))
                    seconds=true
                />
            </Show>
            <Show when=move || mode.get() != Mode::Rolling>
                <WholeField
                    id="termination-wait"
                    label="Final bake (TerminationWaitInSeconds)"
                    path=fixed(Field::TerminationWait)
                    value=whole_signal(edit::termination_wait)
                    on_change=Callback::new(move |value| planner.edit(|plan| edit::set_termination_wait(plan, value)))
                    seconds=true
                />
            </Show>
            <WholeField
                id="timeout"
                label="Timeout (MaximumExecutionTimeoutInSeconds)"
                path=Signal::derive(move || Field::Timeout(policy.get()).path())
                value=whole_signal(edit::timeout)
                on_change=Callback::new(move |value| planner.edit(|plan| edit::set_timeout(plan, value)))
                seconds=true
                hint="600 to 28800 s; empty means the maximum"
            />
            <WholeField
                id="provisioning"
                label="Provisioning time (guardrail)"
                path=fixed(Field::ProvisioningSeconds)
                value=whole_signal(|plan| plan.provisioning_seconds)
                on_change=Callback::new(move |value| planner.edit(|plan| plan.provisioning_seconds = value))
                seconds=true
                hint="Not a SageMaker field: how long launching green takes. Default 300 s"
            />
            <WholeField
                id="termination"
                label="Blue termination time (guardrail)"
                path=fixed(Field::TerminationSeconds)
                value=whole_signal(|plan| plan.termination_seconds)
                on_change=Callback::new(move |value| planner.edit(|plan| plan.termination_seconds = value))
                seconds=true
                hint="Default 60 s"
            />
        </div>
    }
}

/// Whether a rolling update rolls back in batches, and how big.
#[component]
fn RollbackBatch() -> impl IntoView {
    let planner = use_planner();
    let rollback_batch = Memo::new(move |_| planner.plan.with(edit::rollback_batch));
    view! {
        <div class="field checkbox">
            <label for="rollback-batched">
                <input
                    id="rollback-batched"
                    type="checkbox"
                    prop:checked=move || rollback_batch.get().is_some()
                    on:change=move |event| {
                        let on = event_target_checked(&event);
                        planner.edit(|plan| edit::set_rollback_batch(plan, on.then(|| CapacitySize::instances(1))))
                    }
                />
                "Roll back in batches (RollbackMaximumBatchSize); otherwise all at once"
            </label>
        </div>
        <Show when=move || rollback_batch.get().is_some()>
            <WholeField
                id="rollback-batch"
                label="Rollback batch, instances"
                path=fixed(Field::Size(Size::RollbackBatch, SizePart::Value))
                value=Signal::derive(move || rollback_batch.get().and_then(|size| size.value))
                on_change=Callback::new(move |value| {
                    planner.edit(|plan| {
                        let kind = edit::rollback_batch(plan).and_then(|size| size.kind);
                        edit::set_rollback_batch(plan, Some(CapacitySize { kind, value }))
                    })
                })
            />
        </Show>
    }
}
