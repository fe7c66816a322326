//! Share links: a plan link (`p=`) and a run record (`r=`) from any text.
//! A link that opens must encode back to one that opens to the same state.
#![no_main]

use guardrail_core::{link, record::RunRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(state) = link::decode(text) {
        let again = link::decode(&link::encode(&state)).expect("a link guardrail made opens");
        assert_eq!(again, state, "a link round-trips");
    }
    if let Ok(record) = RunRecord::from_token(text) {
        let _ = record.timeline();
        if let Ok(token) = record.to_token() {
            RunRecord::from_token(&token).expect("a token guardrail made opens");
        }
    }
});
