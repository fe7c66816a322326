//! The canary judge's looks in the run view: the look at the moment on show,
//! each metric's class and evidence, and the retrospective judge's verdict
//! with an edited judge.

use guardrail_core::event::{Event, EventKind};
use guardrail_core::explain::mmss;
use guardrail_core::judge::{Class, Judgement, Look};
use leptos::prelude::*;

/// The judge's last look at or before `until_ms` in a run's events, and how
/// many looks came before it.
pub fn look_at(events: &[Event], until_ms: u64) -> Option<(u64, usize, Judgement)> {
    events
        .iter()
        .filter(|event| event.at_ms <= until_ms)
        .filter_map(|event| match &event.kind {
            EventKind::CanaryJudged { judgement } => Some((event.at_ms, judgement)),
            _ => None,
        })
        .enumerate()
        .last()
        .map(|(index, (at, judgement))| (at, index + 1, (**judgement).clone()))
}

/// What a series of looks came to: the first failure and the lowest score.
pub fn verdict_of(looks: &[Look]) -> String {
    let failed = looks.iter().find(|look| {
        look.judgement
            .score
            .is_some_and(|score| score < look.judgement.pass_score)
    });
    let lowest = looks
        .iter()
        .filter_map(|look| look.judgement.score)
        .fold(None, |low: Option<f64>, score| {
            Some(low.map_or(score, |low| low.min(score)))
        });
    match (failed, lowest) {
        _ if looks.is_empty() => {
            "The judge never looked: the fleets never served side by side for a whole period."
                .to_string()
        }
        (Some(look), Some(lowest)) => format!(
            "The judge fails green at {} ({} look(s) in all; lowest score {}).",
            mmss(look.at_ms / 1_000),
            looks.len(),
            lowest.round()
        ),
        (None, Some(lowest)) => format!(
            "The judge passes green at every one of its {} look(s) (lowest score {}).",
            looks.len(),
            lowest.round()
        ),
        (_, None) => format!(
            "The judge never scored green in its {} look(s): too few requests on each side for every metric's minimum sample.",
            looks.len()
        ),
    }
}

/// One look, metric by metric: class, green and blue, the effect with its
/// confidence sequence, samples, and the always-valid p-value.
pub fn judgement_table(judgement: &Judgement, id: String) -> impl IntoView {
    let rows = judgement
        .metrics
        .iter()
        .map(|metric| {
            let shown = metric.evidence_text();
            let bad = matches!(metric.class, Class::High | Class::Low);
            view! {
                <tr>
                    <th scope="row">{metric.signal.name()}{metric.critical.then_some(" (critical)")}</th>
                    <td class=if bad { "bad" } else { "" }>{metric.class.name()}</td>
                    <td>{shown.green}</td>
                    <td>{shown.blue}</td>
                    <td class="wraps">{shown.effect}</td>
                    <td>{format!("{} / {}", metric.evidence.green_samples, metric.evidence.blue_samples)}</td>
                    <td>{shown.p_value}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="steps" id=id>
            <thead><tr>
                <th scope="col">"Judged metric"</th><th scope="col">"Class"</th>
                <th scope="col">"Green"</th><th scope="col">"Blue"</th>
                <th scope="col">"Effect (confidence sequence)"</th>
                <th scope="col">"Samples (green / blue)"</th>
                <th scope="col">"Always-valid p"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// The run's own judge at the moment on show.
#[component]
pub fn JudgeAtMoment(events: RwSignal<Vec<Event>>, seen_until: Memo<u64>) -> impl IntoView {
    let judged = Memo::new(move |_| {
        events.with(|events| {
            events
                .iter()
                .any(|event| matches!(event.kind, EventKind::CanaryJudged { .. }))
        })
    });
    let look = Memo::new(move |_| events.with(|events| look_at(events, seen_until.get())));
    move || {
        judged.get().then(|| {
            view! {
                <section class="judge-look" id="run-judge" aria-labelledby="run-judge-title">
                    <h3 id="run-judge-title">"The canary judge"</h3>
                    {move || match look.get() {
                        None => view! {
                            <p class="hint" id="run-judge-score">"No look yet at this moment: the judge looks after each of its periods in which both fleets served."</p>
                        }.into_any(),
                        Some((at, count, judgement)) => view! {
                            <p id="run-judge-score" class=if judgement.score.is_some_and(|score| score < judgement.pass_score) { "bad" } else { "" }>
                                {format!("Look {count}, at {}: {}.", mmss(at / 1_000), judgement.describe())}
                            </p>
                            {judgement_table(&judgement, "run-judge-metrics".into())}
                        }.into_any(),
                    }}
                </section>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::event::FleetTick;
    use guardrail_core::judge::{Judge, JudgeSpec};

    fn looks(green_errors: u64) -> Vec<Look> {
        let mut judge = Judge::new(&JudgeSpec::default_judge());
        (1..=30)
            .map(|period| {
                let green = FleetTick {
                    invocations: 100,
                    errors_5xx: green_errors,
                    ..FleetTick::default()
                };
                let blue = FleetTick {
                    invocations: 300,
                    ..FleetTick::default()
                };
                judge.observe(&green, &blue);
                Look {
                    at_ms: period * 10_000,
                    judgement: judge.judgement(),
                }
            })
            .collect()
    }

    #[test]
    fn the_looks_come_to_a_verdict_in_words() {
        let failing = verdict_of(&looks(20));
        assert!(
            failing.starts_with("The judge fails green at 0:"),
            "{failing}"
        );
        let passing = verdict_of(&looks(0));
        assert!(
            passing.starts_with("The judge passes green at every one of its 30 look(s)"),
            "{passing}"
        );
        assert!(verdict_of(&[]).starts_with("The judge never looked"));
        // The last look by a moment, counted.
        let events: Vec<Event> = looks(0)
            .into_iter()
            .enumerate()
            .map(|(index, look)| Event {
                run_id: "run-1".into(),
                seq: index as u64 + 1,
                at_ms: look.at_ms,
                wall_ms: 0,
                kind: EventKind::CanaryJudged {
                    judgement: Box::new(look.judgement),
                },
            })
            .collect();
        let (at, count, _) = look_at(&events, 35_999).expect("a look");
        assert_eq!((at, count), (30_000, 3));
        assert_eq!(look_at(&events, 9_999), None);
    }
}
