//! Undo and redo of the plan: every change (a field, an import, a preset, a
//! mode switch, an alarm added or removed) can be taken back and redone.
//!
//! Typing is one step per field, not per keystroke: a change to the same
//! fields as the change before, within [`BURST_MS`] of it, joins that step.
//! Anything else (another field, or a change that touches many fields, as an
//! import or a mode switch does) starts a step of its own.

use guardrail_core::Plan;
use serde_json::Value;

/// How close in time two changes to the same fields must be to be one step.
pub const BURST_MS: f64 = 1_000.0;

/// The most steps kept; the oldest go first.
pub const MOST_STEPS: usize = 200;

/// The most changed paths remembered per step (more means "many fields").
const MOST_PATHS: usize = 8;

/// The plans before and after the one on screen.
#[derive(Clone, Debug, Default)]
pub struct History {
    past: Vec<Plan>,
    future: Vec<Plan>,
    /// The fields the last change touched, and when it happened, while it
    /// may still be joined.
    burst: Option<(Vec<String>, f64)>,
}

impl History {
    /// Records that the plan went from `before` to `after` at `now_ms`.
    pub fn changed(&mut self, before: &Plan, after: &Plan, now_ms: f64) {
        let paths = changed_paths(before, after);
        if paths.is_empty() {
            return;
        }
        let joins = self.burst.as_ref().is_some_and(|(last, at)| {
            *last == paths && paths.len() < MOST_PATHS && now_ms - at < BURST_MS
        });
        if !joins {
            self.past.push(before.clone());
            if self.past.len() > MOST_STEPS {
                self.past.remove(0);
            }
        }
        self.burst = Some((paths, now_ms));
        self.future.clear();
    }

    /// The next change is a step of its own, whatever it touches: a preset,
    /// an import, a one-click fix.
    pub fn break_step(&mut self) {
        self.burst = None;
    }

    /// The plan before `current`, if there is one.
    pub fn undo(&mut self, current: &Plan) -> Option<Plan> {
        let plan = self.past.pop()?;
        self.future.push(current.clone());
        self.burst = None;
        Some(plan)
    }

    /// The plan `undo` last took back, if nothing changed since.
    pub fn redo(&mut self, current: &Plan) -> Option<Plan> {
        let plan = self.future.pop()?;
        self.past.push(current.clone());
        self.burst = None;
        Some(plan)
    }

    pub fn can_undo(&self) -> bool {
        !self.past.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.future.is_empty()
    }
}

/// The paths (`Alarms[0].Threshold`) where two plans differ, up to
/// [`MOST_PATHS`]; a list that grew or shrank is one path, the list's.
fn changed_paths(before: &Plan, after: &Plan) -> Vec<String> {
    if before == after {
        return Vec::new();
    }
    let (Ok(before), Ok(after)) = (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return vec![String::new()];
    };
    let mut paths = Vec::new();
    differences(&before, &after, String::new(), &mut paths);
    paths
}

fn differences(before: &Value, after: &Value, path: String, paths: &mut Vec<String>) {
    if paths.len() >= MOST_PATHS || before == after {
        return;
    }
    match (before, after) {
        (Value::Object(before), Value::Object(after)) => {
            let keys = before
                .keys()
                .chain(after.keys().filter(|key| !before.contains_key(*key)));
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                differences(
                    before.get(key).unwrap_or(&Value::Null),
                    after.get(key).unwrap_or(&Value::Null),
                    child,
                    paths,
                );
            }
        }
        (Value::Array(before), Value::Array(after)) if before.len() == after.len() => {
            for (index, (before, after)) in before.iter().zip(after).enumerate() {
                differences(before, after, format!("{path}[{index}]"), paths);
            }
        }
        _ => paths.push(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::examples;

    fn with_threshold(plan: &Plan, threshold: f64) -> Plan {
        let mut plan = plan.clone();
        plan.alarms[0].threshold = Some(threshold);
        plan
    }

    #[test]
    fn typing_in_one_field_is_one_step_and_another_field_another() {
        let start = examples::notebook_canary();
        let mut history = History::default();
        let mut now = start.clone();
        for (at, threshold) in [(0.0, 0.5), (200.0, 0.05), (400.0, 0.055)] {
            let next = with_threshold(&now, threshold);
            history.changed(&now, &next, at);
            now = next;
        }
        let mut renamed = now.clone();
        renamed.endpoint_name = "other".into();
        history.changed(&now, &renamed, 500.0);
        let back = history.undo(&renamed).expect("the rename");
        assert_eq!(back, now);
        let back = history.undo(&back).expect("the typing");
        assert_eq!(back, start);
        assert!(!history.can_undo());
        assert_eq!(history.redo(&back), Some(now.clone()));
        assert_eq!(history.redo(&now), Some(renamed));
        assert!(!history.can_redo());
    }

    #[test]
    fn a_pause_or_a_change_of_many_fields_starts_a_new_step() {
        let start = examples::notebook_canary();
        let mut history = History::default();
        let first = with_threshold(&start, 0.5);
        history.changed(&start, &first, 0.0);
        let later = with_threshold(&first, 0.6);
        history.changed(&first, &later, BURST_MS + 1.0);
        assert_eq!(history.undo(&later), Some(first.clone()));
        // A whole other plan (an import): a step of its own, even at once.
        let imported = Plan::from_json(examples::ROLLING).expect("plan");
        history.changed(&first, &imported, BURST_MS + 2.0);
        assert_eq!(history.undo(&imported), Some(first));
        // Nothing changed: nothing recorded.
        let mut quiet = History::default();
        quiet.changed(&start, &start.clone(), 0.0);
        assert!(!quiet.can_undo());
    }

    #[test]
    fn a_new_change_drops_what_could_be_redone_and_the_oldest_steps_go() {
        let start = examples::notebook_canary();
        let mut history = History::default();
        let one = with_threshold(&start, 1.5);
        history.changed(&start, &one, 0.0);
        let back = history.undo(&one).expect("one step");
        let other = with_threshold(&back, 2.5);
        history.changed(&back, &other, 10.0);
        assert!(!history.can_redo());
        let mut long = History::default();
        let mut plan = start.clone();
        for step in 0..(MOST_STEPS + 10) {
            let mut next = plan.clone();
            next.instance_count = Some(step as i64 + 2);
            long.changed(&plan, &next, step as f64 * (BURST_MS + 1.0));
            plan = next;
        }
        let mut steps = 0;
        while let Some(previous) = long.undo(&plan) {
            plan = previous;
            steps += 1;
        }
        assert_eq!(steps, MOST_STEPS);
    }

    #[test]
    fn removing_an_alarm_is_one_path_the_list() {
        let start = examples::notebook_canary();
        let mut fewer = start.clone();
        fewer.alarms.clear();
        assert_eq!(changed_paths(&start, &fewer), vec!["Alarms".to_string()]);
    }
}
