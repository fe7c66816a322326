//! CloudWatch's Smithy RPC v2 CBOR request bodies (aws-sdk-cloudwatch). What
//! decodes re-encodes, and that encoding decodes and re-encodes to itself
//! (the first decoding may keep an integer timestamp that guardrail writes
//! as a float, as Smithy does).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = guardrail_wire::from_cbor(data) {
        let written = guardrail_wire::to_cbor(&document);
        let again = guardrail_wire::from_cbor(&written).expect("CBOR guardrail wrote decodes");
        assert_eq!(guardrail_wire::to_cbor(&again), written, "CBOR round-trips");
    }
});
