//! CloudWatch's query-protocol request bodies (form-encoded), and the XML
//! answer written from what they decoded to.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((operation, document)) = guardrail_wire::from_query(data) {
        let _ = guardrail_wire::to_query_xml(&operation, &document, "fuzz");
    }
});
