//! Metric math expressions and composite alarm rules, as a plan or an API
//! call carries them: parsed, resolved against three metrics and an
//! expression, checked, and evaluated over short series; and read as an
//! `AlarmRule`, judged over some alarms' states and printed back to the same
//! rule.
#![no_main]

use guardrail_core::alarm::AlarmState;
use guardrail_core::{composite, math};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = math::parse(text) {
        let e1 = math::parse("m1 * 2").ok();
        let lookup = |id: &str| match id {
            "m1" => Some(math::Definition::Metric(0)),
            "m2" => Some(math::Definition::Metric(1)),
            "m3" => Some(math::Definition::Metric(2)),
            "e1" => e1.as_ref().map(math::Definition::Expression),
            _ => None,
        };
        if let Ok(resolved) = math::resolve(&expr, &lookup, &mut Vec::new()) {
            let _ = math::kind(&resolved);
            let series = [
                vec![Some(1.0), None, Some(0.0), Some(-3.5), None],
                vec![Some(0.0), Some(2.0), None, Some(1e300), Some(f64::MIN_POSITIVE)],
                vec![None, None, None, None, None],
            ];
            let _ = math::evaluate(&resolved, 5, &|metric| series[metric % 3].clone());
        }
    }
    if let Ok(rule) = composite::parse(text) {
        let state_of = |name: &str| match name.len() % 4 {
            0 => Some(AlarmState::Alarm),
            1 => Some(AlarmState::Ok),
            2 => Some(AlarmState::InsufficientData),
            _ => None,
        };
        let _ = rule.state(&state_of);
        let _ = rule.reason(&state_of);
        // What parses prints back to the same rule (CloudWatch shows the
        // rule as sent; our sentences quote it as `text()` writes it).
        // (An alarm named like an alarm's ARN reads back as that ARN's
        // name, on CloudWatch too.)
        let printed = rule.text();
        let arn_like = rule
            .children()
            .iter()
            .any(|name| composite::name_of(name) != *name);
        if printed.chars().count() <= composite::RULE_MAX_CHARS && !arn_like {
            assert_eq!(composite::parse(&printed).as_ref(), Ok(&rule), "{printed}");
        }
    }
});
