//! CloudWatch's (and SageMaker's) JSON request bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = guardrail_wire::from_json(data) {
        let _ = guardrail_wire::to_cbor(&document);
    }
});
