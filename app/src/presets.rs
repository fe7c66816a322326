//! Presets: the seed notebook's plans, and CodeDeploy's named configurations
//! mapped to SageMaker's shapes, with a note wherever the mapping is not exact.

use guardrail_core::assumptions::{green_traffic_bp, instances_for};
use guardrail_core::field::limits::{MAX_INSTANCES, TIMEOUT_MAX, TIMEOUT_MIN};
use guardrail_core::plan::{CapacitySizeType, Plan};
use guardrail_core::schedule::schedule;
use guardrail_core::{check, examples};

use crate::edit::{self, Mode};

/// One entry of the presets menu.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preset {
    pub id: &'static str,
    pub name: &'static str,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A whole example plan.
    Example(&'static str),
    /// CodeDeploy `…CanaryXPercentYMinutes`.
    Canary { percent: u32, minutes: u32 },
    /// CodeDeploy `…LinearXPercentEveryYMinute(s)`.
    Linear { percent: u32, minutes: u32 },
    /// CodeDeploy `…AllAtOnce`.
    AllAtOnce,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        id: "notebook-canary",
        name: "Seed notebook: canary",
        kind: Kind::Example(examples::NOTEBOOK_CANARY),
    },
    Preset {
        id: "notebook-linear",
        name: "Seed notebook: linear",
        kind: Kind::Example(examples::NOTEBOOK_LINEAR),
    },
    Preset {
        id: "example-all-at-once",
        name: "Example: all at once",
        kind: Kind::Example(examples::ALL_AT_ONCE),
    },
    Preset {
        id: "example-rolling",
        name: "Example: rolling",
        kind: Kind::Example(examples::ROLLING),
    },
    Preset {
        id: "Canary10Percent5Minutes",
        name: "Canary10Percent5Minutes",
        kind: Kind::Canary {
            percent: 10,
            minutes: 5,
        },
    },
    Preset {
        id: "Canary10Percent10Minutes",
        name: "Canary10Percent10Minutes",
        kind: Kind::Canary {
            percent: 10,
            minutes: 10,
        },
    },
    Preset {
        id: "Canary10Percent15Minutes",
        name: "Canary10Percent15Minutes",
        kind: Kind::Canary {
            percent: 10,
            minutes: 15,
        },
    },
    Preset {
        id: "Canary10Percent30Minutes",
        name: "Canary10Percent30Minutes",
        kind: Kind::Canary {
            percent: 10,
            minutes: 30,
        },
    },
    Preset {
        id: "Linear10PercentEvery1Minute",
        name: "Linear10PercentEvery1Minute",
        kind: Kind::Linear {
            percent: 10,
            minutes: 1,
        },
    },
    Preset {
        id: "Linear10PercentEvery2Minutes",
        name: "Linear10PercentEvery2Minutes",
        kind: Kind::Linear {
            percent: 10,
            minutes: 2,
        },
    },
    Preset {
        id: "Linear10PercentEvery3Minutes",
        name: "Linear10PercentEvery3Minutes",
        kind: Kind::Linear {
            percent: 10,
            minutes: 3,
        },
    },
    Preset {
        id: "Linear10PercentEvery10Minutes",
        name: "Linear10PercentEvery10Minutes",
        kind: Kind::Linear {
            percent: 10,
            minutes: 10,
        },
    },
    Preset {
        id: "AllAtOnce",
        name: "AllAtOnce",
        kind: Kind::AllAtOnce,
    },
];

/// The preset the plan is exactly what applying it gives, if any: what the
/// preset menu shows, so that after an edit it says "Apply a preset…" again
/// and choosing the same preset applies it again.
pub fn matching(plan: &Plan) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|preset| apply(preset, plan).0 == *plan)
        .map(|preset| preset.id)
}

pub fn find(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| preset.id == id)
}

/// An example preset's plan, parsed once per thread: the preset menu asks
/// which preset the plan is on every edit.
fn example(text: &'static str) -> Option<Plan> {
    thread_local! {
        static PARSED: std::cell::RefCell<Vec<(&'static str, Option<Plan>)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    PARSED.with(|parsed| {
        let mut parsed = parsed.borrow_mut();
        if let Some((_, plan)) = parsed.iter().find(|(known, _)| std::ptr::eq(*known, text)) {
            return plan.clone();
        }
        let plan = Plan::from_json(text).ok();
        parsed.push((text, plan.clone()));
        plan
    })
}

/// The plan after applying `preset` to `current`, and a note on how exact it is.
///
/// Example presets replace the whole plan. CodeDeploy presets change only the
/// traffic shifting; the endpoint, alarms and final bake stay. The timeout is
/// raised when the new schedule would not fit in it.
pub fn apply(preset: &Preset, current: &Plan) -> (Plan, Option<String>) {
    let mut plan = match preset.kind {
        Kind::Example(text) => match example(text) {
            Some(plan) => return (plan, None),
            None => current.clone(),
        },
        _ => current.clone(),
    };
    let fleet = plan
        .instance_count
        .filter(|count| *count >= 1)
        .unwrap_or(1)
        .min(i64::from(MAX_INSTANCES)) as u32;
    let mut notes = Vec::new();
    match preset.kind {
        Kind::Example(_) => {}
        Kind::AllAtOnce => edit::set_mode(&mut plan, Mode::AllAtOnce),
        Kind::Canary { percent, minutes } => {
            edit::set_mode(&mut plan, Mode::Canary);
            edit::set_size(
                &mut plan,
                Some(CapacitySizeType::CapacityPercent),
                Some(i64::from(percent)),
            );
            edit::set_wait(&mut plan, Some(i64::from(minutes) * 60));
            let canary = instances_for(CapacitySizeType::CapacityPercent, percent, fleet).instances;
            let share = f64::from(green_traffic_bp(canary, fleet)) / 100.0;
            if (share - f64::from(percent)).abs() >= 0.5 {
                notes.push(format!(
                    "CodeDeploy shifts {percent}% of traffic; SageMaker sizes a canary in instances. {percent}% of \
                     {fleet} instance(s) is {canary} canary instance(s), which get {share:.1}% of traffic beside \
                     {fleet} blue ones (guardrail's model)."
                ));
            }
            notes.push(
                "CodeDeploy moves the remaining traffic with no final bake; SageMaker bakes TerminationWaitInSeconds \
                 after it, which is kept as it was."
                    .into(),
            );
        }
        Kind::Linear { percent, minutes } => {
            edit::set_mode(&mut plan, Mode::Linear);
            edit::set_size(
                &mut plan,
                Some(CapacitySizeType::CapacityPercent),
                Some(i64::from(percent)),
            );
            edit::set_wait(&mut plan, Some(i64::from(minutes) * 60));
            let step = instances_for(CapacitySizeType::CapacityPercent, percent, fleet).instances;
            let steps = fleet.div_ceil(step);
            let code_deploy_steps = 100 / percent;
            if steps != code_deploy_steps {
                notes.push(format!(
                    "CodeDeploy moves {percent}% of traffic in each of {code_deploy_steps} steps; with {fleet} \
                     instance(s), each SageMaker step moves {step} instance(s) ({:.1}% of traffic), so there are \
                     {steps} step(s). It is exact with a multiple of {code_deploy_steps} instances.",
                    f64::from(step) * 100.0 / f64::from(fleet)
                ));
            }
        }
    }
    notes.extend(fit_timeout(&mut plan));
    let note = (!notes.is_empty()).then(|| format!("{}: {}", preset.name, notes.join(" ")));
    (plan, note)
}

/// Keeps the plan's timeout when its schedule fits in it; otherwise raises
/// it to the schedule's length, rounded up to ten minutes, and says so.
fn fit_timeout(plan: &mut Plan) -> Option<String> {
    let original = edit::timeout(plan);
    let fits = |plan: &Plan| {
        check(plan)
            .rollout
            .is_some_and(|rollout| !schedule(&rollout).times_out())
    };
    if original.is_some() && !fits(plan) {
        let mut probe = plan.clone();
        edit::set_timeout(&mut probe, None);
        if let Some(rollout) = check(&probe).rollout {
            let needed = schedule(&rollout).completes_at_seconds() + 1;
            let raised = i64::from(needed.div_ceil(600) * 600)
                .clamp(i64::from(TIMEOUT_MIN), i64::from(TIMEOUT_MAX));
            edit::set_timeout(plan, Some(raised));
            return Some(format!(
                "MaximumExecutionTimeoutInSeconds raised to {raised} s so that the {} s schedule fits.",
                needed - 1
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_menu_shows_the_preset_the_plan_is_and_nothing_after_an_edit() {
        let plan = guardrail_core::examples::notebook_canary();
        let shown = matching(&plan).expect("the seed notebook is a preset");
        let mut edited = plan.clone();
        edited.instance_count = Some(4);
        assert_eq!(matching(&edited), None, "an edit leaves the preset");
        // Applying it again (the menu now offers it) gives it back.
        let (again, _) = apply(find(shown).expect("preset"), &edited);
        assert_eq!(matching(&again), Some(shown));
        for preset in PRESETS {
            let (applied, _) = apply(preset, &plan);
            let now = matching(&applied).and_then(find).expect("a preset");
            assert_eq!(apply(now, &applied).0, applied, "{}", preset.id);
        }
    }

    #[test]
    fn every_preset_applies_to_the_notebook_plan_and_stays_valid() {
        let current = examples::notebook_canary();
        for preset in PRESETS {
            let (plan, _) = apply(preset, &current);
            let checked = check(&plan);
            assert!(
                checked.report.errors.is_empty(),
                "{}: {:?}",
                preset.id,
                checked.report.errors
            );
            let rollout = checked.rollout.expect("valid");
            assert!(!schedule(&rollout).times_out(), "{} times out", preset.id);
        }
    }

    #[test]
    fn a_codedeploy_canary_on_three_instances_says_it_is_not_exact() {
        let (plan, note) = apply(
            find("Canary10Percent5Minutes").expect("preset"),
            &examples::notebook_canary(),
        );
        assert_eq!(edit::mode(&plan), Mode::Canary);
        assert_eq!(edit::wait(&plan), Some(300));
        let note = note.expect("inexact mapping is explained");
        assert!(note.contains("25.0% of traffic"), "{note}");
        // Alarms and endpoint are kept.
        assert_eq!(plan.alarms, examples::notebook_canary().alarms);
    }

    #[test]
    fn a_codedeploy_canary_on_nine_instances_is_exact() {
        let mut current = examples::notebook_canary();
        current.instance_count = Some(9);
        let (_, note) = apply(find("Canary10Percent10Minutes").expect("preset"), &current);
        let note = note.unwrap_or_default();
        assert!(!note.contains("of traffic beside"), "{note}");
    }

    #[test]
    fn a_slow_linear_preset_raises_the_timeout_to_fit() {
        let mut current = examples::notebook_canary();
        current.instance_count = Some(10);
        let (plan, note) = apply(
            find("Linear10PercentEvery10Minutes").expect("preset"),
            &current,
        );
        let note = note.expect("note");
        assert!(note.contains("raised to"), "{note}");
        assert!(edit::timeout(&plan).expect("timeout") > 1_800);
    }
}
