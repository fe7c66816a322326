//! A recorded run as Markdown for a code review: the plan in one line, the
//! outcome, the duration, each alarm and whether and when it fired, the blast
//! radius, and where to see more. The planner's "Copy review summary" and
//! `guardrail summary` both write it here, so they agree.

use crate::alarm::{trim_float, AlarmState};
use crate::event::RunTimeline;
use crate::plan::{CompositeAlarm, MetricAlarm, Plan};
use crate::schedule::{schedule, Phase};
use crate::units::mmss;

/// Where a reader of the summary can see more.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SummaryLinks {
    /// The review link (self-contained when the run fits).
    pub link: Option<String>,
    /// The timeline image (`…/timeline.svg`).
    pub image: Option<String>,
    /// How to print the whole record, such as `guardrail events RUN --json`.
    pub events_command: Option<String>,
}

/// Requests served by the new fleet, and how many of them failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlastRadius {
    pub green_requests: u64,
    /// 4xx and 5xx answers from green.
    pub green_failed: u64,
    pub all_requests: u64,
    pub all_failed: u64,
}

/// Sums the run's recorded metric periods.
pub fn blast_radius(timeline: &RunTimeline) -> BlastRadius {
    let mut radius = BlastRadius::default();
    for period in &timeline.periods {
        let green = &period.green;
        let blue = &period.blue;
        let failed = |fleet: &crate::event::FleetMetrics| {
            fleet
                .invocation_4xx_errors
                .saturating_add(fleet.invocation_5xx_errors)
        };
        radius.green_requests = radius.green_requests.saturating_add(green.invocations);
        radius.green_failed = radius.green_failed.saturating_add(failed(green));
        radius.all_requests = radius
            .all_requests
            .saturating_add(green.invocations.saturating_add(blue.invocations));
        radius.all_failed = radius
            .all_failed
            .saturating_add(failed(green).saturating_add(failed(blue)));
    }
    radius
}

/// The plan in one line: "canary on 3 × ml.m5.xlarge: canary bake 25% for
/// 5:00, final bake 100% for 2:00; 2 rollback alarms; timeout 1:00:00".
pub fn plan_line(plan: &Plan) -> String {
    let checked = crate::check(plan);
    let instances = plan
        .instance_count
        .map(|count| format!("{count} × {}", plan.instance_type))
        .unwrap_or_else(|| plan.instance_type.clone());
    let Some(rollout) = checked.rollout else {
        return format!(
            "{} to {} on {instances} (the plan does not validate: {} error(s))",
            plan.endpoint_name,
            plan.endpoint_config_name,
            checked.report.errors.len()
        );
    };
    let planned = schedule(&rollout);
    let bakes: Vec<String> = planned
        .steps
        .iter()
        .filter(|step| {
            !matches!(
                step.phase,
                Phase::Provisioning { .. } | Phase::TerminatingBlue
            )
        })
        .map(|step| {
            format!(
                "{} {}% for {}",
                step.phase.label(),
                trim_float(step.green_traffic_percent()),
                mmss(u64::from(step.duration_seconds()))
            )
        })
        .collect();
    let alarms = plan.rollback_alarm_names().len();
    format!(
        "{} on {instances}: {}; {alarms} rollback alarm(s); timeout {}",
        rollout.strategy().label(),
        if bakes.is_empty() {
            "no bakes".to_string()
        } else {
            bakes.join(", ")
        },
        mmss(u64::from(planned.timeout_seconds))
    )
}

/// The run in a short line, for an image's title: "guardrail-demo: baseline
/// → incompatible: rolled back during the final bake".
pub fn headline(timeline: &RunTimeline) -> String {
    use crate::event::RunOutcome;
    let status = match &timeline.outcome {
        None => "running".to_string(),
        Some(RunOutcome::RolledBack { phase, .. }) => {
            format!("rolled back during the {}", phase.label())
        }
        Some(outcome) => outcome.status().replace('_', " "),
    };
    format!(
        "{}: {} → {}: {status}",
        timeline.endpoint, timeline.from_config, timeline.to_config
    )
}

/// The Markdown summary of the run `run_id` of `plan`, as `timeline` shows it.
pub fn summary_markdown(
    plan: &Plan,
    run_id: &str,
    timeline: &RunTimeline,
    links: &SummaryLinks,
) -> String {
    let status = match &timeline.outcome {
        Some(outcome) => outcome.status().replace('_', " "),
        None => "still running".to_string(),
    };
    let mut out = format!(
        "### guardrail: {} `{}` → `{}`: **{status}**\n\n",
        escape(&timeline.endpoint),
        escape(&timeline.from_config),
        escape(&timeline.to_config)
    );
    out.push_str(&facts(plan, run_id, timeline));
    out.push_str(&alarm_table(plan, timeline));
    if let Some(judgement) = &timeline.judgement {
        out.push_str(&judge_section(judgement, &timeline.judge_scores));
    }
    out.push_str(&footer(links));
    out
}

/// The run's facts, a bullet each: plan, run, outcome, duration, blast
/// radius, and what was not seen as it happened.
fn facts(plan: &Plan, run_id: &str, timeline: &RunTimeline) -> String {
    let mut out = String::new();
    out.push_str(&format!("- **Plan**: {}\n", escape(&plan_line(plan))));
    out.push_str(&format!(
        "- **Run**: `{}` on {}{}\n",
        escape(run_id),
        if timeline.backend == "sagemaker" {
            "Amazon SageMaker"
        } else {
            "the local engine"
        },
        if timeline.backend == "sagemaker" {
            String::new()
        } else {
            format!(" at {}×", trim_float(timeline.time_scale))
        }
    ));
    out.push_str(&format!(
        "- **Outcome**: {}\n",
        escape(
            &timeline
                .outcome
                .as_ref()
                .map(|outcome| outcome.describe())
                .unwrap_or_else(|| "not known yet: the run had not ended".into())
        )
    ));
    out.push_str(&format!(
        "- **Duration**: {} (planned {})\n",
        mmss(timeline.end_ms / 1_000),
        mmss(u64::from(timeline.planned_total_seconds))
    ));
    let radius = blast_radius(timeline);
    out.push_str(&format!(
        "- **Blast radius**: {} request(s) served by green, {} failed{}; {} request(s) in all, {} failed\n",
        radius.green_requests,
        radius.green_failed,
        percent(radius.green_failed, radius.green_requests),
        radius.all_requests,
        radius.all_failed
    ));
    if !timeline.gaps.is_empty() {
        let gaps: Vec<String> = timeline
            .gaps
            .iter()
            .map(|(from, to)| format!("{}–{}", mmss(from / 1_000), mmss(to / 1_000)))
            .collect();
        out.push_str(&format!(
            "- **Not seen as it happened**: {} (read afterwards from SageMaker and CloudWatch)\n",
            gaps.join(", ")
        ));
    }
    out
}

/// Each alarm of the plan, its condition and when it fired; composites last.
fn alarm_table(plan: &Plan, timeline: &RunTimeline) -> String {
    let mut out = "\n| Alarm | Condition | Fired |\n|---|---|---|\n".to_string();
    for alarm in &plan.alarms {
        out.push_str(&alarm_row(alarm, timeline));
    }
    for composite in &plan.composite_alarms {
        out.push_str(&format!(
            "| `{}` | composite, not a rollback alarm: {} | {} |\n",
            escape(&composite.alarm_name),
            escape(&composite.alarm_rule),
            composite_fired(composite, plan, timeline)
        ));
    }
    out
}

fn alarm_row(alarm: &MetricAlarm, timeline: &RunTimeline) -> String {
    let fired: Vec<String> = timeline
        .alarm_changes
        .iter()
        .filter(|change| change.alarm == alarm.alarm_name && change.to == AlarmState::Alarm)
        .map(|change| mmss(change.at_ms / 1_000))
        .collect();
    let condition = crate::check_alarm(alarm)
        .map(|rule| {
            format!(
                "{}, {} s, {} of {}",
                condition_of(alarm, &rule),
                rule.period_seconds,
                rule.datapoints_to_alarm,
                rule.evaluation_periods
            )
        })
        .unwrap_or_else(|_| "(not a valid alarm)".into());
    format!(
        "| `{}` | {} | {} |\n",
        escape(&alarm.alarm_name),
        escape(&condition),
        if fired.is_empty() {
            "no".to_string()
        } else {
            format!("**ALARM** at {}", fired.join(", "))
        }
    )
}

/// The links to the replay, the events and the image.
fn footer(links: &SummaryLinks) -> String {
    let mut out = String::new();
    let mut more = Vec::new();
    if let Some(link) = &links.link {
        more.push(format!("[Replay the timeline]({link})"));
    }
    if let Some(command) = &links.events_command {
        more.push(format!("every event: `{command}`"));
    }
    if !more.is_empty() {
        out.push_str(&format!("\n{}\n", more.join(" · ")));
    }
    if let Some(image) = &links.image {
        out.push_str(&format!("\n![The run's timeline]({image})\n"));
    }
    out
}

/// The canary judge's verdict and its last look, metric by metric.
fn judge_section(judgement: &crate::judge::Judgement, scores: &[(u64, Option<f64>)]) -> String {
    use crate::judge::Class;
    let failed_at = scores
        .iter()
        .find(|(_, score)| score.is_some_and(|score| score < judgement.pass_score))
        .map(|(at, _)| *at);
    let lowest = scores
        .iter()
        .filter_map(|(_, score)| *score)
        .fold(None, |low: Option<f64>, score| {
            Some(low.map_or(score, |low| low.min(score)))
        });
    let verdict = match (failed_at, lowest) {
        (Some(at), Some(lowest)) => format!(
            "**failed green at {}** (lowest score {}, under {})",
            mmss(at / 1_000),
            trim_float(libm::round(lowest)),
            trim_float(judgement.pass_score)
        ),
        (None, Some(lowest)) => format!(
            "passed green at every look (lowest score {})",
            trim_float(libm::round(lowest))
        ),
        _ => "never scored green (too few requests while both fleets served)".to_string(),
    };
    let mut out = format!(
        "\n**Canary judge**: {verdict}; {} look(s), the last below.\n\n| Judged metric | Class | Green | Blue | Effect (confidence sequence) | Always-valid p |\n|---|---|---|---|---|---|\n",
        scores.len()
    );
    for metric in &judgement.metrics {
        let shown = metric.evidence_text();
        let class = match metric.class {
            Class::High | Class::Low => format!("**{}**", metric.class.name()),
            other => other.name().to_string(),
        };
        out.push_str(&format!(
            "| {}{} | {class} | {} | {} | {} | {} |\n",
            metric.signal.name(),
            if metric.critical { " (critical)" } else { "" },
            shown.green,
            shown.blue,
            shown.effect,
            shown.p_value
        ));
    }
    out
}

/// An alarm's condition for the table: a math alarm's label with its
/// expression (`5XX rate (%) = 100 * errors / requests >= 5`).
fn condition_of(alarm: &MetricAlarm, rule: &crate::alarm::AlarmRule) -> String {
    let expression = alarm
        .metrics
        .iter()
        .flatten()
        .find(|query| query.returns_data())
        .and_then(|query| query.expression.clone());
    match expression {
        Some(expression) if expression != rule.subject() => format!(
            "{} = {expression} {} {}",
            rule.subject(),
            rule.comparison.symbol(),
            trim_float(rule.threshold)
        ),
        _ => rule.condition(),
    }
}

/// When a composite alarm would have entered ALARM, from the recorded
/// changes of the alarms its rule names; "not recorded" when the run did
/// not watch them all (only rollback alarms are recorded).
fn composite_fired(composite: &CompositeAlarm, plan: &Plan, timeline: &RunTimeline) -> String {
    let Ok(rule) = crate::check_composite(composite) else {
        return "(not a valid rule)".into();
    };
    let watched = plan.rollback_alarm_names();
    if rule.children().iter().any(|child| !watched.contains(child)) {
        return "not recorded: the run watched only its rollback alarms".into();
    }
    let mut states: Vec<(String, AlarmState)> = rule
        .children()
        .into_iter()
        .map(|child| (child.to_string(), AlarmState::InsufficientData))
        .collect();
    let holds = |states: &[(String, AlarmState)]| {
        rule.holds(&|name: &str| {
            states
                .iter()
                .find(|(child, _)| child == name)
                .map(|(_, state)| *state)
        })
    };
    let mut fired = Vec::new();
    let mut before = holds(&states);
    for change in &timeline.alarm_changes {
        if let Some((_, state)) = states.iter_mut().find(|(child, _)| *child == change.alarm) {
            *state = change.to;
        }
        let now = holds(&states);
        if now && !before {
            fired.push(mmss(change.at_ms / 1_000));
        }
        before = now;
    }
    if fired.is_empty() {
        "no".into()
    } else {
        format!("**ALARM** at {}", fired.join(", "))
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        String::new()
    } else {
        format!(
            " ({}%)",
            trim_float((part as f64 * 1_000.0 / whole as f64).round() / 10.0)
        )
    }
}

/// Text safe inside a Markdown table cell and line: pipes and line breaks
/// would end the cell, backticks the code span.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('`', "'")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::AlarmState;
    use crate::event::{FleetMetrics, MetricPeriod, RunOutcome};
    use crate::timeline::AlarmTransition;

    fn rolled_back() -> RunTimeline {
        RunTimeline {
            endpoint: "guardrail-demo".into(),
            from_config: "baseline".into(),
            to_config: "incompatible".into(),
            time_scale: 600.0,
            planned_total_seconds: 780,
            backend: "local".into(),
            periods: vec![MetricPeriod {
                start_ms: 0,
                end_ms: 60_000,
                blue: FleetMetrics {
                    invocations: 300,
                    invocation_4xx_errors: 1,
                    ..FleetMetrics::default()
                },
                green: FleetMetrics {
                    invocations: 100,
                    invocation_5xx_errors: 100,
                    ..FleetMetrics::default()
                },
            }],
            alarm_changes: vec![AlarmTransition {
                at_ms: 420_000,
                alarm: "TestAlarm-5XXErrors-guardrail-demo".into(),
                from: AlarmState::Ok,
                to: AlarmState::Alarm,
                reason: "Threshold crossed".into(),
            }],
            outcome: Some(RunOutcome::Failed {
                reason: "stand-in | with a pipe".into(),
            }),
            end_ms: 421_000,
            ..RunTimeline::default()
        }
    }

    #[test]
    fn the_summary_gives_the_canary_judges_verdict_and_evidence() {
        use crate::judge::{Judge, JudgeSpec};
        let mut judge = Judge::new(&JudgeSpec::default_judge());
        let mut random = crate::random::Random::new(3);
        let mut scores = Vec::new();
        for period in 1..=12 {
            let mut green = crate::event::FleetTick::default();
            let mut blue = crate::event::FleetTick::default();
            for _ in 0..20 {
                green.record(200, 6_000.0 * libm::exp(0.5 * random.normal()), 1_000.0, 1);
                blue.record(200, 2_000.0 * libm::exp(0.5 * random.normal()), 1_000.0, 1);
                blue.record(200, 2_000.0 * libm::exp(0.5 * random.normal()), 1_000.0, 2);
            }
            judge.observe(&green, &blue);
            scores.push((300_000 + period * 10_000, judge.score()));
        }
        let timeline = RunTimeline {
            judge_scores: scores,
            judgement: Some(judge.judgement()),
            ..rolled_back()
        };
        let plan = crate::examples::notebook_canary();
        let text = summary_markdown(&plan, "run-1", &timeline, &SummaryLinks::default());
        assert!(
            text.contains("**Canary judge**: **failed green at 5:"),
            "{text}"
        );
        assert!(text.contains("under 75); 12 look(s)"), "{text}");
        let latency = text
            .lines()
            .find(|line| line.starts_with("| ModelLatency |"))
            .expect("a latency row");
        assert!(latency.contains("| **High** |"), "{latency}");
        assert!(latency.contains("< 0.0001"), "{latency}");
        assert!(
            text.contains("| Invocation5XXErrors (critical) | Pass | 0 % | 0 % | – |"),
            "{text}"
        );
    }

    #[test]
    fn the_summary_says_what_happened_alarm_by_alarm() {
        let plan = crate::examples::notebook_canary();
        let text = summary_markdown(
            &plan,
            "run-1",
            &rolled_back(),
            &SummaryLinks {
                link: Some("http://h/#p=1.x&r=1.y".into()),
                image: Some("http://h/runs/run-1/timeline.svg".into()),
                events_command: Some("guardrail events run-1 --json".into()),
            },
        );
        assert!(
            text.starts_with(
                "### guardrail: guardrail-demo `baseline` → `incompatible`: **failed**"
            ),
            "{text}"
        );
        assert!(text.contains("- **Plan**: canary on 3 × ml.m5.xlarge: canary bake 25% for 5:00, final bake 100% for 2:00; 2 rollback alarm(s); timeout"), "{text}");
        assert!(
            text.contains("- **Duration**: 7:01 (planned 13:00)"),
            "{text}"
        );
        assert!(
            text.contains("100 request(s) served by green, 100 failed (100%); 400 request(s) in all, 101 failed"),
            "{text}"
        );
        assert!(
            text.contains("| `TestAlarm-5XXErrors-guardrail-demo` | Average of Invocation5XXErrors >= 1, 60 s, 1 of 1 | **ALARM** at 7:00 |"),
            "{text}"
        );
        assert!(
            text.contains("| `TestAlarm-ModelLatency-guardrail-demo` |"),
            "{text}"
        );
        assert!(text.contains("| no |"), "{text}");
        // A pipe in a reason cannot break the Markdown.
        assert!(text.contains("stand-in \\| with a pipe"), "{text}");
        // A math alarm says its expression; a composite alarm whether its
        // rule held over the recorded changes of the alarms it names.
        let mut team = crate::Plan::from_json(crate::examples::TEAM_GUARDRAILS).expect("example");
        team.composite_alarms[0].alarm_rule =
            "ALARM(\"TestAlarm-5XXErrors-guardrail-demo\") OR ALARM(\"ErrorRate-NewFleet-guardrail-demo\")".into();
        let team_text = summary_markdown(&team, "run-1", &rolled_back(), &SummaryLinks::default());
        assert!(
            team_text.contains("| `ErrorRate-NewFleet-guardrail-demo` | 5XX rate on the new fleet (%) = 100 * errors / requests >= 5, 60 s, 1 of 1 | no |"),
            "{team_text}"
        );
        assert!(
            team_text.contains("| `Page-OnCall-guardrail-demo` | composite, not a rollback alarm: ALARM(\"TestAlarm-5XXErrors-guardrail-demo\") OR ALARM(\"ErrorRate-NewFleet-guardrail-demo\") | **ALARM** at 7:00 |"),
            "{team_text}"
        );
        assert!(text.contains("[Replay the timeline](http://h/#p=1.x&r=1.y)"));
        assert!(text.contains("![The run's timeline](http://h/runs/run-1/timeline.svg)"));
        assert!(text.contains("`guardrail events run-1 --json`"));
    }

    #[test]
    fn a_run_without_periods_or_an_end_still_summarises() {
        let timeline = RunTimeline::default();
        let text = summary_markdown(
            &crate::examples::notebook_canary(),
            "run-2",
            &timeline,
            &SummaryLinks::default(),
        );
        assert!(text.contains("**still running**"), "{text}");
        assert!(
            text.contains("0 request(s) served by green, 0 failed;"),
            "{text}"
        );
    }
}
