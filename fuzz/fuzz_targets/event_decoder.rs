//! A run's event stream as a viewer reads it: lines of events (or the reason
//! a stream ended), rebuilt into a timeline and a review record.
#![no_main]

use guardrail_core::event::{Event, RunTimeline, StreamLine};
use guardrail_core::record::RunRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut events: Vec<Event> = Vec::new();
    for line in data.split(|byte| *byte == b'\n') {
        if let Ok(StreamLine::Event(event)) = serde_json::from_slice::<StreamLine>(line) {
            events.push(*event);
        }
    }
    let timeline = RunTimeline::from_events(&events);
    if let Some(last) = events.last() {
        let _ = timeline.at(last.at_ms);
    }
    let record = RunRecord::from_events(&events);
    let _ = record.timeline();
    let _ = record.to_token();
});
