//! Share links: a plan with its scenario, and optionally a view, a run and a moment,
//! packed into a short, URL-safe, versioned token.
//!
//! Format 1: `1.` followed by unpadded base64url of
//! `[CRC-32 of the rest, big-endian][raw DEFLATE of the encoded state]`. The state
//! is the JSON of [`LinkState`], written in a compact binary form in which every
//! key and common value is replaced by its index in [`DICTIONARY`]. The notebook
//! canary with two alarms encodes to about 300 characters.
//!
//! The dictionary is part of format 1 and must never change: a new entry needs a
//! new format number, so that old links keep opening.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use thiserror::Error;

use crate::plan::Plan;

/// The format this build writes and reads.
pub const FORMAT: u32 = 1;
/// Decoded states above this size are refused (a deflate bomb guard).
const MAX_DECODED_BYTES: usize = 256 * 1024;

/// Everything a link restores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkState {
    pub plan: Plan,
    /// Which view to open, such as "plan", "whatif" or "run".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// A recorded run to open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// A moment on the timeline, in milliseconds from the start of the rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
    /// A link made for a review: the page it opens replays and explores, and
    /// never starts or stops a rollout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub review: bool,
}

impl LinkState {
    pub fn plan(plan: Plan) -> Self {
        Self {
            plan,
            view: None,
            run: None,
            at_ms: None,
            review: false,
        }
    }
}

/// Why a link could not be opened. Every variant says what to do.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LinkError {
    #[error("the link is empty")]
    Empty,
    #[error("not a guardrail link: the token must start with `{FORMAT}.`")]
    NotALink,
    #[error("this link was made by a newer guardrail (link format {found}); this version reads format {FORMAT}: upgrade guardrail to open it")]
    NewerVersion { found: u32 },
    #[error("the link is damaged ({0}); it may have been cut off or edited: copy it again")]
    Damaged(String),
    #[error("the link holds no valid plan: {0}")]
    NotAPlan(String),
    #[error("the link's token is not a run record ({0}): copy the review link again")]
    NotARecord(String),
}

/// Encodes a state as a token (no URL around it).
pub fn encode(state: &LinkState) -> String {
    encode_value(&serde_json::to_value(state).unwrap_or(Value::Null))
}

/// Encodes any JSON value as a format-1 token: a plan's state, or a run's
/// record ([`crate::record`]).
pub fn encode_value(value: &Value) -> String {
    let mut bytes = Vec::with_capacity(512);
    write_value(value, &mut bytes);
    let compressed = miniz_oxide::deflate::compress_to_vec(&bytes, 9);
    let mut framed = Vec::with_capacity(compressed.len() + 4);
    framed.extend_from_slice(&crc32fast::hash(&compressed).to_be_bytes());
    framed.extend_from_slice(&compressed);
    format!("{FORMAT}.{}", URL_SAFE_NO_PAD.encode(framed))
}

/// Decodes a token, or a whole URL that carries one after `#p=`, `?p=` or `&p=`.
pub fn decode(link: &str) -> Result<LinkState, LinkError> {
    let value = decode_value(extract_token(link.trim(), "p="), MAX_DECODED_BYTES)?;
    crate::json::from_json(&value.to_string()).map_err(|error| LinkError::NotAPlan(error.at_path()))
}

/// Decodes a format-1 token into its JSON value, refusing one whose decoded
/// form exceeds `limit` bytes.
pub fn decode_value(token: &str, limit: usize) -> Result<Value, LinkError> {
    if token.is_empty() {
        return Err(LinkError::Empty);
    }
    let Some((version, body)) = token.split_once('.') else {
        return Err(LinkError::NotALink);
    };
    let version: u32 = version.parse().map_err(|_| LinkError::NotALink)?;
    if version > FORMAT {
        return Err(LinkError::NewerVersion { found: version });
    }
    if version != FORMAT {
        return Err(LinkError::NotALink);
    }
    let framed = URL_SAFE_NO_PAD.decode(body).map_err(|error| {
        LinkError::Damaged(match error {
            base64::DecodeError::InvalidByte(offset, byte) => format!(
                "character {} of the link, {}, cannot be in one",
                offset + version.to_string().len() + 2,
                shown_byte(byte)
            ),
            base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidLastSymbol(..) => {
                "it ends in the middle".into()
            }
            base64::DecodeError::InvalidPadding => "it ends with padding a link never has".into(),
        })
    })?;
    if framed.len() < 5 {
        return Err(LinkError::Damaged("it is too short".into()));
    }
    let (checksum, compressed) = framed.split_at(4);
    let expected = u32::from_be_bytes([checksum[0], checksum[1], checksum[2], checksum[3]]);
    if crc32fast::hash(compressed) != expected {
        return Err(LinkError::Damaged(
            "its contents do not match its checksum".into(),
        ));
    }
    let bytes =
        miniz_oxide::inflate::decompress_to_vec_with_limit(compressed, limit).map_err(|error| {
            LinkError::Damaged(match error.status {
                miniz_oxide::inflate::TINFLStatus::HasMoreOutput => format!(
                    "it unpacks to more than {} KB, more than any plan or record",
                    limit / 1_000
                ),
                _ => "its contents cannot be unpacked".into(),
            })
        })?;
    let mut reader = Reader {
        bytes: &bytes,
        at: 0,
    };
    let value = reader.value(0)?;
    if reader.at != bytes.len() {
        return Err(LinkError::Damaged("its contents cannot be read".into()));
    }
    Ok(value)
}

/// A byte of a link for people: the character, or its code when it is not
/// printable.
fn shown_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("`{}`", byte as char)
    } else if byte == b' ' {
        "a space".into()
    } else {
        format!("byte {byte:#04x}")
    }
}

/// The token after `key` (such as `p=`) in a URL's fragment or query, or the
/// text itself when it is no URL.
pub fn extract_token<'a>(link: &'a str, key: &str) -> &'a str {
    for separator in ['#', '?', '&'] {
        let marker = format!("{separator}{key}");
        if let Some(index) = link.find(&marker) {
            let rest = &link[index + marker.len()..];
            return rest.split(['&', '#']).next().unwrap_or(rest);
        }
    }
    link.strip_prefix(key).unwrap_or(link)
}

/// Keys and values common in plans, indexed by position. Format 1: never edit.
pub const DICTIONARY: [&str; 113] = [
    "plan",
    "view",
    "run",
    "at_ms",
    "EndpointName",
    "EndpointConfigName",
    "VariantName",
    "InstanceCount",
    "InstanceType",
    "DeploymentConfig",
    "Alarms",
    "ProvisioningSeconds",
    "TerminationSeconds",
    "Scenario",
    "BlueGreenUpdatePolicy",
    "RollingUpdatePolicy",
    "AutoRollbackConfiguration",
    "TrafficRoutingConfiguration",
    "TerminationWaitInSeconds",
    "MaximumExecutionTimeoutInSeconds",
    "Type",
    "WaitIntervalInSeconds",
    "CanarySize",
    "LinearStepSize",
    "Value",
    "MaximumBatchSize",
    "RollbackMaximumBatchSize",
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Name",
    "Statistic",
    "ExtendedStatistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Unit",
    "RequestsPerSecond",
    "Seed",
    "Blue",
    "Green",
    "ErrorRate",
    "LatencyMs",
    "OnsetSeconds",
    "ALL_AT_ONCE",
    "CANARY",
    "LINEAR",
    "INSTANCE_COUNT",
    "CAPACITY_PERCENT",
    "AWS/SageMaker",
    "AllTraffic",
    "Invocations",
    "InvocationsPerInstance",
    "Invocation4XXErrors",
    "Invocation5XXErrors",
    "InvocationModelErrors",
    "ModelLatency",
    "OverheadLatency",
    "SampleCount",
    "Average",
    "Sum",
    "Minimum",
    "Maximum",
    "p50",
    "p90",
    "p95",
    "p99",
    "p99.9",
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "breaching",
    "notBreaching",
    "ignore",
    "missing",
    "evaluate",
    "ml.m5.xlarge",
    "ml.m5.large",
    "ml.m5.2xlarge",
    "ml.c5.xlarge",
    "ml.c5.large",
    "ml.g5.xlarge",
    "ml.g5.2xlarge",
    "ml.t2.medium",
    "whatif",
    "compare",
    "timeline",
    "detect",
    "TestAlarm-",
    "-5XXErrors",
    "-ModelLatency",
    "guardrail-demo",
    "baseline",
    "incompatible",
    "fixed",
    "Microseconds",
    "Count",
    "Percent",
    "Seconds",
    "None",
    "latency",
    "errors",
];

const TAG_NULL: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_UINT: u8 = 3;
const TAG_NEGINT: u8 = 4;
const TAG_FLOAT: u8 = 5;
const TAG_STRING: u8 = 6;
const TAG_ARRAY: u8 = 7;
const TAG_OBJECT: u8 = 8;
/// Tags from here on name a dictionary entry: `TAG_DICTIONARY + index`.
const TAG_DICTIONARY: u8 = 16;
const MAX_DEPTH: usize = 32;

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Number(number) => {
            if let Some(unsigned) = number.as_u64() {
                out.push(TAG_UINT);
                write_varint(unsigned, out);
            } else if let Some(signed) = number.as_i64() {
                out.push(TAG_NEGINT);
                write_varint((-1 - signed) as u64, out);
            } else {
                out.push(TAG_FLOAT);
                out.extend_from_slice(&number.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push(TAG_ARRAY);
            write_varint(items.len() as u64, out);
            for item in items {
                write_value(item, out);
            }
        }
        Value::Object(map) => {
            out.push(TAG_OBJECT);
            write_varint(map.len() as u64, out);
            for (key, item) in map {
                write_string(key, out);
                write_value(item, out);
            }
        }
    }
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    match DICTIONARY.iter().position(|entry| *entry == text) {
        Some(index) => out.push(TAG_DICTIONARY + index as u8),
        None => {
            out.push(TAG_STRING);
            write_varint(text.len() as u64, out);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// Past the checksum, damage is a link no guardrail wrote: what exactly
    /// is wrong inside says nothing to the person holding it.
    fn damaged(_what: &str) -> LinkError {
        LinkError::Damaged("its contents cannot be read".into())
    }

    fn byte(&mut self) -> Result<u8, LinkError> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| Self::damaged("ends early"))?;
        self.at += 1;
        Ok(byte)
    }

    fn varint(&mut self) -> Result<u64, LinkError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Self::damaged("number too long"))
    }

    fn length(&mut self) -> Result<usize, LinkError> {
        let length = self.varint()?;
        if length > (self.bytes.len() - self.at) as u64 {
            return Err(Self::damaged("length past the end"));
        }
        Ok(length as usize)
    }

    fn string(&mut self, tag: u8) -> Result<String, LinkError> {
        if tag >= TAG_DICTIONARY {
            return DICTIONARY
                .get(usize::from(tag - TAG_DICTIONARY))
                .map(|entry| entry.to_string())
                .ok_or_else(|| Self::damaged("unknown dictionary entry"));
        }
        if tag != TAG_STRING {
            return Err(Self::damaged("expected a string"));
        }
        let length = self.length()?;
        let slice = &self.bytes[self.at..self.at + length];
        self.at += length;
        String::from_utf8(slice.to_vec()).map_err(|_| Self::damaged("text is not UTF-8"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, LinkError> {
        if depth > MAX_DEPTH {
            return Err(Self::damaged("nested too deeply"));
        }
        let tag = self.byte()?;
        Ok(match tag {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_UINT => Value::Number(self.varint()?.into()),
            TAG_NEGINT => {
                let magnitude = self.varint()?;
                let signed = i64::try_from(magnitude)
                    .map(|magnitude| -1 - magnitude)
                    .map_err(|_| Self::damaged("number out of range"))?;
                Value::Number(signed.into())
            }
            TAG_FLOAT => {
                let end = self.at + 8;
                let raw = self
                    .bytes
                    .get(self.at..end)
                    .ok_or_else(|| Self::damaged("ends early"))?;
                self.at = end;
                let mut array = [0u8; 8];
                array.copy_from_slice(raw);
                let number = Number::from_f64(f64::from_le_bytes(array))
                    .ok_or_else(|| Self::damaged("not a finite number"))?;
                Value::Number(number)
            }
            TAG_ARRAY => {
                let count = self.length()?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            TAG_OBJECT => {
                let count = self.length()?;
                let mut map = Map::new();
                for _ in 0..count {
                    let key_tag = self.byte()?;
                    let key = self.string(key_tag)?;
                    map.insert(key, self.value(depth + 1)?);
                }
                Value::Object(map)
            }
            tag => Value::String(self.string(tag)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    fn canary_state() -> LinkState {
        LinkState::plan(examples::notebook_canary())
    }

    #[test]
    fn the_notebook_canary_is_short_and_round_trips() {
        let state = canary_state();
        let token = encode(&state);
        assert!(token.len() < 600, "{} characters: {token}", token.len());
        assert!(token
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')));
        assert_eq!(decode(&token), Ok(state));
    }

    #[test]
    fn a_url_with_a_run_and_a_moment_round_trips() {
        let mut state = canary_state();
        state.view = Some("run".into());
        state.run = Some("run-0042".into());
        state.at_ms = Some(361_000);
        let url = format!("http://127.0.0.1:3000/#p={}", encode(&state));
        assert_eq!(decode(&url), Ok(state));
    }

    #[test]
    fn broken_links_give_clear_errors() {
        let token = encode(&canary_state());
        assert_eq!(decode(""), Err(LinkError::Empty));
        assert_eq!(decode("hello"), Err(LinkError::NotALink));
        assert_eq!(
            decode(&format!("7.{}", &token[2..])),
            Err(LinkError::NewerVersion { found: 7 })
        );
        let truncated = &token[..token.len() - 10];
        assert!(matches!(decode(truncated), Err(LinkError::Damaged(_))));
        // Change one character in the middle.
        let mut tampered: Vec<u8> = token.clone().into_bytes();
        let middle = tampered.len() / 2;
        tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert!(matches!(decode(&tampered), Err(LinkError::Damaged(_))));
        assert!(matches!(decode("1.!!!"), Err(LinkError::Damaged(_))));
    }

    #[test]
    fn the_error_messages_say_what_to_do() {
        assert!(LinkError::NewerVersion { found: 2 }
            .to_string()
            .contains("upgrade guardrail"));
        assert!(LinkError::Damaged("checksum mismatch".into())
            .to_string()
            .contains("copy it again"));
    }
}
