//! The encodings CloudWatch's clients speak, to and from one neutral document,
//! `serde_json::Value`:
//! - JSON (awsJson1_0, boto3 and the AWS CLI; SageMaker's awsJson1_1 too):
//!   timestamps are epoch seconds;
//! - Smithy RPC v2 CBOR (`aws-sdk-cloudwatch` 1.100 and later): timestamps are
//!   tag 1 over seconds, doubles are CBOR floats and integers CBOR integers;
//! - the query protocol (older SDKs): a form-encoded request and an XML answer,
//!   with ISO 8601 timestamps and lists of `member` elements.
//!
//! The document keeps what the encodings need: serde_json's numbers remember
//! whether they are integers or floats, and a timestamp is a number under one
//! of the members CloudWatch types as a timestamp ([`is_timestamp`]).

use std::collections::BTreeMap;
use std::io::Cursor;

use ciborium::value::Value as Cbor;
use serde_json::{Map, Number, Value};

/// The members of CloudWatch's shapes that hold timestamps (or lists of them).
const TIMESTAMPS: [&str; 9] = [
    "StartTime",
    "EndTime",
    "StartDate",
    "EndDate",
    "Timestamp",
    "Timestamps",
    "AlarmConfigurationUpdatedTimestamp",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
];

/// Integer members a query request sends as text.
const INTEGERS: [&str; 9] = [
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "MaxRecords",
    "MaxDatapoints",
    "EvaluationInterval",
    "StorageResolution",
    "ActionsSuppressorWaitPeriod",
    "ActionsSuppressorExtensionPeriod",
];

/// Double members a query request sends as text (`Values` and `Counts` are
/// lists of them; a `StatisticValues` set holds the four statistics).
const DOUBLES: [&str; 7] = [
    "Threshold",
    "Values",
    "Counts",
    "SampleCount",
    "Sum",
    "Minimum",
    "Maximum",
];

/// Boolean members a query request sends as text.
const BOOLEANS: [&str; 3] = ["ActionsEnabled", "ReturnData", "RecentlyActive"];

pub fn is_timestamp(member: &str) -> bool {
    TIMESTAMPS.contains(&member)
}

/// A timestamp in a document: epoch seconds, from API milliseconds.
pub fn epoch_seconds(ms: u64) -> Value {
    Value::from(ms as f64 / 1_000.0)
}

/// API milliseconds from a document's epoch seconds (0 for nonsense).
pub fn epoch_millis(seconds: f64) -> u64 {
    if seconds.is_finite() {
        (seconds.max(0.0) * 1_000.0).min(u64::MAX as f64 / 2.0) as u64
    } else {
        0
    }
}

/// The deepest nesting a request may have.
const MAX_DEPTH: usize = 32;

/// Decodes a JSON body; an empty body is an empty structure.
pub fn from_json(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|error| format!("the body is not JSON: {error}"))?;
    if !value.is_object() {
        return Err("the body must be a JSON object".into());
    }
    Ok(value)
}

/// Decodes a Smithy RPC v2 CBOR body: exactly one map, and nothing after it.
pub fn from_cbor(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut reader = Cursor::new(body);
    let value: Cbor = ciborium::de::from_reader(&mut reader)
        .map_err(|error| format!("the body is not CBOR: {error}"))?;
    if reader.position() != body.len() as u64 {
        return Err("the body has bytes after its CBOR map".into());
    }
    if !value.is_map() {
        return Err("the body must be a CBOR map".into());
    }
    cbor_to_json(value, 0)
}

fn cbor_to_json(value: Cbor, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("the body nests deeper than {MAX_DEPTH} levels"));
    }
    Ok(match value {
        Cbor::Null => Value::Null,
        Cbor::Bool(flag) => Value::Bool(flag),
        Cbor::Integer(integer) => {
            let wide = i128::from(integer);
            if let Ok(small) = i64::try_from(wide) {
                Value::from(small)
            } else if let Ok(large) = u64::try_from(wide) {
                Value::from(large)
            } else {
                return Err("an integer is out of range".into());
            }
        }
        Cbor::Float(float) => Number::from_f64(float)
            .map(Value::Number)
            .ok_or("a number is not finite")?,
        Cbor::Text(text) => Value::String(text),
        Cbor::Bytes(_) => return Err("CloudWatch takes no byte strings".into()),
        Cbor::Tag(1, inner) => match *inner {
            Cbor::Integer(integer) => {
                let seconds = i64::try_from(i128::from(integer))
                    .map_err(|_| "a timestamp is out of range")?;
                Value::from(seconds)
            }
            Cbor::Float(seconds) => Number::from_f64(seconds)
                .map(Value::Number)
                .ok_or("a timestamp is not finite")?,
            _ => return Err("tag 1 (a timestamp) must hold a number".into()),
        },
        Cbor::Tag(tag, _) => return Err(format!("CBOR tag {tag} is not used by CloudWatch")),
        Cbor::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| cbor_to_json(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Cbor::Map(entries) => {
            let mut map = Map::new();
            for (key, item) in entries {
                let Cbor::Text(key) = key else {
                    return Err("map keys must be text".into());
                };
                // Null is an absent member.
                if !item.is_null() {
                    map.insert(key, cbor_to_json(item, depth + 1)?);
                }
            }
            Value::Object(map)
        }
        _ => return Err("an unsupported CBOR item".into()),
    })
}

/// Encodes a document as Smithy RPC v2 CBOR.
pub fn to_cbor(value: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = ciborium::ser::into_writer(&json_to_cbor(value, false), &mut bytes);
    bytes
}

fn json_to_cbor(value: &Value, timestamp: bool) -> Cbor {
    match value {
        Value::Null => Cbor::Null,
        Value::Bool(flag) => Cbor::Bool(*flag),
        Value::Number(number) if timestamp => Cbor::Tag(
            1,
            Box::new(Cbor::Float(number.as_f64().unwrap_or_default())),
        ),
        Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(integer), _) if !number.is_f64() => Cbor::Integer(integer.into()),
            (_, Some(integer)) if !number.is_f64() => Cbor::Integer(integer.into()),
            _ => Cbor::Float(number.as_f64().unwrap_or_default()),
        },
        Value::String(text) => Cbor::Text(text.clone()),
        Value::Array(items) => Cbor::Array(
            items
                .iter()
                .map(|item| json_to_cbor(item, timestamp))
                .collect(),
        ),
        Value::Object(map) => Cbor::Map(
            map.iter()
                .map(|(key, item)| {
                    (
                        Cbor::Text(key.clone()),
                        json_to_cbor(item, is_timestamp(key)),
                    )
                })
                .collect(),
        ),
    }
}

/// A node of a query request, before it is typed.
#[derive(Debug, Default)]
struct Node {
    text: Option<String>,
    children: BTreeMap<String, Node>,
}

/// The most fields a query request may have.
const MAX_QUERY_FIELDS: usize = 2_000;

/// Decodes a query-protocol form: `Action`, `Version` and the members, where
/// `Name.member.N.Field` is the field of item N of list `Name`.
pub fn from_query(body: &[u8]) -> Result<(String, Value), String> {
    let mut root = Node::default();
    let mut action = None;
    for (count, (key, value)) in form_urlencoded::parse(body).enumerate() {
        if count >= MAX_QUERY_FIELDS {
            return Err(format!(
                "the request has more than {MAX_QUERY_FIELDS} fields"
            ));
        }
        match key.as_ref() {
            "Action" => action = Some(value.into_owned()),
            "Version" => {}
            _ => {
                let mut node = &mut root;
                for (depth, part) in key.split('.').enumerate() {
                    if depth > MAX_DEPTH {
                        return Err(format!("{key} nests deeper than {MAX_DEPTH} levels"));
                    }
                    node = node.children.entry(part.to_string()).or_default();
                }
                node.text = Some(value.into_owned());
            }
        }
    }
    let action = action.ok_or("the request has no Action")?;
    Ok((action, typed(None, root)?))
}

/// Types a query node by what its member holds.
fn typed(member: Option<&str>, node: Node) -> Result<Value, String> {
    if node.children.len() == 1 && node.children.contains_key("member") {
        let list = node.children.into_values().next().unwrap_or_default();
        let mut items: Vec<(u32, Node)> = Vec::new();
        for (index, item) in list.children {
            let index: u32 = index
                .parse()
                .map_err(|_| format!("member index {index} is not a number"))?;
            items.push((index, item));
        }
        items.sort_by_key(|(index, _)| *index);
        return items
            .into_iter()
            .map(|(_, item)| typed(member, item))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if !node.children.is_empty() {
        // A `MetricDatum`'s `Value` is a number; a `Dimension`'s is text.
        let datum = node.children.contains_key("MetricName");
        let mut map = Map::new();
        for (key, child) in node.children {
            let value = if datum && key == "Value" {
                typed(Some("Threshold"), child)
                    .map_err(|error| error.replacen("Threshold", "Value", 1))?
            } else {
                typed(Some(&key), child)?
            };
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    let text = node.text.unwrap_or_default();
    let Some(member) = member else {
        return Ok(Value::String(text));
    };
    let invalid = |kind: &str| format!("{member}: `{text}` is not {kind}");
    Ok(if INTEGERS.contains(&member) {
        Value::from(text.parse::<i64>().map_err(|_| invalid("an integer"))?)
    } else if DOUBLES.contains(&member) {
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| invalid("a number"))?
    } else if BOOLEANS.contains(&member) {
        Value::Bool(text.parse::<bool>().map_err(|_| invalid("true or false"))?)
    } else if is_timestamp(member) {
        let time = humantime::parse_rfc3339_weak(&text)
            .or_else(|_| humantime::parse_rfc3339(&text))
            .map_err(|_| invalid("an ISO 8601 time"))?;
        let seconds = time
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| invalid("a time after 1970"))?
            .as_secs_f64();
        Number::from_f64(seconds)
            .map(Value::Number)
            .ok_or_else(|| invalid("a time"))?
    } else {
        Value::String(text)
    })
}

/// The query protocol's namespace for CloudWatch.
pub const QUERY_NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/// The XML answer of a query-protocol call.
pub fn to_query_xml(operation: &str, output: &Value, request_id: &str) -> String {
    let mut xml = format!("<{operation}Response xmlns=\"{QUERY_NAMESPACE}\">");
    if output.as_object().is_some_and(|map| !map.is_empty()) {
        xml.push_str(&format!("<{operation}Result>"));
        write_xml_members(&mut xml, output, false);
        xml.push_str(&format!("</{operation}Result>"));
    }
    xml.push_str(&format!(
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{operation}Response>",
        escape(request_id)
    ));
    xml
}

/// The XML error of a query-protocol call.
pub fn query_error_xml(code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{QUERY_NAMESPACE}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        escape(code),
        escape(message),
        escape(request_id)
    )
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// Writes the members of a structure, or the items of a list as `member`s.
fn write_xml_members(xml: &mut String, value: &Value, timestamp: bool) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                xml.push_str(&format!("<{key}>"));
                write_xml_members(xml, item, is_timestamp(key));
                xml.push_str(&format!("</{key}>"));
            }
        }
        Value::Array(items) => {
            for item in items {
                xml.push_str("<member>");
                write_xml_members(xml, item, timestamp);
                xml.push_str("</member>");
            }
        }
        Value::Number(number) if timestamp => {
            let millis = epoch_millis(number.as_f64().unwrap_or_default());
            xml.push_str(&iso8601(millis));
        }
        Value::Number(number) => xml.push_str(&number.to_string()),
        Value::Bool(flag) => xml.push_str(if *flag { "true" } else { "false" }),
        Value::String(text) => xml.push_str(&escape(text)),
        Value::Null => {}
    }
}

/// ISO 8601 in UTC with milliseconds, as CloudWatch writes them in JSON text.
pub fn iso8601(epoch_ms: u64) -> String {
    humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(epoch_ms),
    )
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cbor_keeps_integers_floats_and_timestamps_apart() {
        let document = json!({
            "Period": 60,
            "Threshold": 1.0,
            "StateUpdatedTimestamp": 1700000300.25,
            "Timestamps": [1700000280, 1700000220.0],
            "Name": "a5xx",
        });
        let bytes = to_cbor(&document);
        let decoded: Cbor = ciborium::de::from_reader(bytes.as_slice()).expect("cbor");
        let entry = |name: &str| {
            decoded
                .as_map()
                .and_then(|map| {
                    map.iter()
                        .find(|(key, _)| key.as_text() == Some(name))
                        .map(|(_, value)| value.clone())
                })
                .expect(name)
        };
        assert_eq!(entry("Period"), Cbor::Integer(60.into()));
        assert_eq!(entry("Threshold"), Cbor::Float(1.0));
        assert_eq!(
            entry("StateUpdatedTimestamp"),
            Cbor::Tag(1, Box::new(Cbor::Float(1700000300.25)))
        );
        let Cbor::Array(times) = entry("Timestamps") else {
            panic!("a list")
        };
        assert!(times.iter().all(|time| matches!(time, Cbor::Tag(1, _))));
        // And back: a timestamp is its seconds.
        let back = from_cbor(&bytes).expect("decodes");
        assert_eq!(back["StateUpdatedTimestamp"], json!(1700000300.25));
        assert_eq!(back["Period"], json!(60));
    }

    #[test]
    fn bad_cbor_is_refused_with_a_reason() {
        assert!(from_cbor(&[0xa1, 0x61]).is_err(), "truncated");
        assert!(from_cbor(&[0xa0, 0x00])
            .expect_err("trailing")
            .contains("after"));
        assert!(from_cbor(&[0x01]).expect_err("not a map").contains("map"));
        assert_eq!(from_cbor(&[]).expect("empty"), json!({}));
    }

    #[test]
    fn query_forms_become_typed_documents() {
        let form = b"Action=PutMetricAlarm&Version=2010-08-01&AlarmName=a&Period=60&Threshold=1\
            &ActionsEnabled=false&Dimensions.member.2.Name=VariantName&Dimensions.member.2.Value=AllTraffic\
            &Dimensions.member.1.Name=EndpointName&Dimensions.member.1.Value=ep\
            &StartTime=2023-11-14T22%3A13%3A20Z";
        let (action, input) = from_query(form).expect("parses");
        assert_eq!(action, "PutMetricAlarm");
        assert_eq!(input["Period"], json!(60));
        assert_eq!(input["Threshold"], json!(1.0));
        assert_eq!(input["ActionsEnabled"], json!(false));
        assert_eq!(input["Dimensions"][0]["Value"], json!("ep"));
        assert_eq!(input["Dimensions"][1]["Name"], json!("VariantName"));
        assert_eq!(input["StartTime"], json!(1700000000.0));
        assert!(from_query(b"Action=X&Period=soon")
            .expect_err("not a number")
            .contains("Period"));
        // PutMetricData: a datum's Value is a number, its dimensions' are text.
        let form = b"Action=PutMetricData&Namespace=Shop&MetricData.member.1.MetricName=Sales\
            &MetricData.member.1.Value=2.5&MetricData.member.1.Dimensions.member.1.Name=Site\
            &MetricData.member.1.Dimensions.member.1.Value=42&MetricData.member.1.StorageResolution=1\
            &MetricData.member.2.MetricName=Sales&MetricData.member.2.Values.member.1=1\
            &MetricData.member.2.Counts.member.1=3&MetricData.member.3.MetricName=Sales\
            &MetricData.member.3.StatisticValues.SampleCount=2&MetricData.member.3.StatisticValues.Sum=4\
            &MetricData.member.3.StatisticValues.Minimum=1&MetricData.member.3.StatisticValues.Maximum=3";
        let (_, input) = from_query(form).expect("parses");
        let data = &input["MetricData"];
        assert_eq!(data[0]["Value"], json!(2.5));
        assert_eq!(data[0]["Dimensions"][0]["Value"], json!("42"));
        assert_eq!(data[0]["StorageResolution"], json!(1));
        assert_eq!(
            (data[1]["Values"][0].clone(), data[1]["Counts"][0].clone()),
            (json!(1.0), json!(3.0))
        );
        assert_eq!(data[2]["StatisticValues"]["Sum"], json!(4.0));
        assert!(from_query(
            b"Action=PutMetricData&MetricData.member.1.MetricName=a&MetricData.member.1.Value=x"
        )
        .expect_err("not a number")
        .contains("Value"));
    }

    #[test]
    fn query_answers_are_xml_with_members_and_iso_times() {
        let xml = to_query_xml(
            "DescribeAlarms",
            &json!({"MetricAlarms": [{"AlarmName": "a<b", "StateUpdatedTimestamp": 1700000000.5}]}),
            "id-1",
        );
        assert_eq!(
            xml,
            "<DescribeAlarmsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
             <DescribeAlarmsResult><MetricAlarms><member><AlarmName>a&lt;b</AlarmName>\
             <StateUpdatedTimestamp>2023-11-14T22:13:20.500Z</StateUpdatedTimestamp></member>\
             </MetricAlarms></DescribeAlarmsResult><ResponseMetadata><RequestId>id-1</RequestId>\
             </ResponseMetadata></DescribeAlarmsResponse>"
        );
    }

    /// Found by fuzzing (`fuzz/regressions/cloudwatch_cbor/`): an integer
    /// under tag 1 decodes to an integer timestamp, which is written back as
    /// a float; from then on the encoding is stable.
    #[test]
    fn an_integer_timestamp_is_written_back_as_a_float_and_then_stays_one() {
        let body =
            include_bytes!("../../../fuzz/regressions/cloudwatch_cbor/integer-timestamps.cbor");
        let document = from_cbor(body).expect("decodes");
        assert_eq!(document["StartDate"], json!(1_700_000_000));
        let written = to_cbor(&document);
        let again = from_cbor(&written).expect("decodes");
        assert_eq!(again["StartDate"].as_f64(), Some(1_700_000_000.0));
        assert_eq!(to_cbor(&again), written);
    }
}
