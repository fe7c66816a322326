//! Composite alarms: the `AlarmRule` of `PutCompositeAlarm`, parsed, checked
//! and evaluated over the states of the alarms it names.
//!
//! The grammar is AWS's: `ALARM(name)`, `OK(name)` and
//! `INSUFFICIENT_DATA(name)` are true when the named alarm is in that state;
//! `TRUE` and `FALSE`; `AND`, `OR`, `NOT` and parentheses. A name may be
//! quoted (`ALARM("5xx rate")`) or bare (`ALARM(errors-5xx)`), and may be an
//! alarm's ARN. A composite alarm is in ALARM when its rule is true and OK
//! otherwise; INSUFFICIENT_DATA only from its creation to its first
//! evaluation, which is at once (AWS's `PutCompositeAlarm` reference).
//! `NOT` binds tighter than `AND`, and `AND` tighter than `OR`
//! (`crate::assumptions`, `composite_alarms`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::alarm::AlarmState;

/// `AlarmRule`: at most 10 240 characters (CloudWatch).
pub const RULE_MAX_CHARS: usize = 10_240;
/// At most 100 alarms in one rule, and 500 elements (CloudWatch).
pub const MAX_CHILDREN: usize = 100;
pub const MAX_ELEMENTS: usize = 500;

/// A parsed `AlarmRule`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    Constant(bool),
    /// True when the named alarm is in the state.
    State(AlarmState, String),
    Not(Box<Rule>),
    And(Box<Rule>, Box<Rule>),
    Or(Box<Rule>, Box<Rule>),
}

/// Why a rule is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// Character position (from 0) where the rule stops making sense.
    pub position: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AlarmRule is invalid at character {}: {}",
            self.position + 1,
            self.message
        )
    }
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
    elements: usize,
    depth: usize,
}

/// The deepest nesting a rule may have (CloudWatch's 500 elements bound it
/// anyway; this keeps the parser's recursion small).
const MAX_DEPTH: usize = 100;

impl Reader<'_> {
    fn error(&self, message: impl Into<String>) -> RuleError {
        RuleError {
            position: self.text[..self.at].chars().count(),
            message: message.into(),
        }
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.text[self.at..].chars().next() {
            if !c.is_whitespace() {
                break;
            }
            self.at += c.len_utf8();
        }
    }

    /// The next word (letters and underscores), upper-cased, without taking it.
    fn peek_word(&self) -> Option<String> {
        let rest = &self.text[self.at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphabetic() || c == '_'))
            .unwrap_or(rest.len());
        (end > 0).then(|| rest[..end].to_ascii_uppercase())
    }

    fn take_word(&mut self, word: &str) -> bool {
        self.skip_space();
        if self.peek_word().as_deref() == Some(word) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn count(&mut self) -> Result<(), RuleError> {
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(self.error(format!("it has more than {MAX_ELEMENTS} elements")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Rule, RuleError> {
        let mut left = self.and()?;
        while self.take_word("OR") {
            let right = self.and()?;
            left = Rule::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Rule, RuleError> {
        let mut left = self.not()?;
        while self.take_word("AND") {
            let right = self.not()?;
            left = Rule::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Rule, RuleError> {
        if self.take_word("NOT") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.error("it is nested too deeply"));
            }
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Rule::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Rule, RuleError> {
        self.skip_space();
        if self.text[self.at..].starts_with('(') {
            self.at += 1;
            self.count()?;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.error("it is nested too deeply"));
            }
            let inner = self.or()?;
            self.depth -= 1;
            self.skip_space();
            if !self.text[self.at..].starts_with(')') {
                return Err(self.error("expected `)`"));
            }
            self.at += 1;
            return Ok(inner);
        }
        let Some(word) = self.peek_word() else {
            return Err(if self.at >= self.text.len() {
                self.error("the rule ends too soon")
            } else {
                self.error(
                    "expected ALARM(…), OK(…), INSUFFICIENT_DATA(…), TRUE, FALSE, NOT or `(`",
                )
            });
        };
        let state = match word.as_str() {
            "TRUE" | "FALSE" => {
                self.at += word.len();
                self.count()?;
                return Ok(Rule::Constant(word == "TRUE"));
            }
            "ALARM" => AlarmState::Alarm,
            "OK" => AlarmState::Ok,
            "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
            _ => return Err(self.error(format!("`{word}` is not a function of an alarm rule"))),
        };
        self.at += word.len();
        self.skip_space();
        if !self.text[self.at..].starts_with('(') {
            return Err(self.error(format!("expected `(` after {word}")));
        }
        self.at += 1;
        self.count()?;
        let name = self.alarm_name()?;
        Ok(Rule::State(state, name))
    }

    /// A quoted or bare alarm name or ARN, and the closing parenthesis.
    fn alarm_name(&mut self) -> Result<String, RuleError> {
        self.skip_space();
        let rest = &self.text[self.at..];
        let (raw, used) = if let Some(quoted) = rest.strip_prefix('"') {
            let Some(end) = quoted.find('"') else {
                return Err(self.error("a quoted alarm name has no closing `\"`"));
            };
            let after = &quoted[end + 1..];
            let close = after
                .find(|c: char| !c.is_whitespace())
                .filter(|at| after[*at..].starts_with(')'))
                .ok_or_else(|| self.error("expected `)` after the alarm name"))?;
            (&quoted[..end], 1 + end + 1 + close + 1)
        } else {
            let Some(end) = rest.find(')') else {
                return Err(self.error("expected `)` after the alarm name"));
            };
            // A name with a `"` could not be written back in quotes, nor be
            // told from a quoted name that lost its closing quote.
            if let Some(quote) = rest[..end].find('"') {
                self.at += quote;
                return Err(self.error("an alarm name without quotes cannot contain `\"`"));
            }
            (rest[..end].trim(), end + 1)
        };
        let name = name_of(raw);
        if name.is_empty() {
            return Err(self.error("an alarm name is empty"));
        }
        self.at += used;
        Ok(name.to_string())
    }
}

/// The alarm name in `text`: the name itself, or the last part of an alarm ARN
/// (`arn:aws:cloudwatch:us-east-1:123456789012:alarm:errors` → `errors`).
/// Only a whole CloudWatch alarm ARN is read as one (`arn:PARTITION:cloudwatch:
/// REGION:ACCOUNT:alarm:NAME`, the name itself free to hold colons); any other
/// text is a name.
pub fn name_of(text: &str) -> &str {
    let mut parts = text.splitn(7, ':');
    let mut part = || parts.next();
    match [part(), part(), part(), part(), part(), part(), part()] {
        [Some("arn"), Some(_), Some("cloudwatch"), Some(_), Some(_), Some("alarm"), Some(name)]
            if !name.is_empty() =>
        {
            name
        }
        _ => text,
    }
}

/// Parses an `AlarmRule`, within CloudWatch's limits.
pub fn parse(text: &str) -> Result<Rule, RuleError> {
    let length = text.chars().count();
    if length == 0 || length > RULE_MAX_CHARS {
        return Err(RuleError {
            position: 0,
            message: format!("it is {length} characters long; allowed 1 to {RULE_MAX_CHARS}"),
        });
    }
    let mut reader = Reader {
        text,
        at: 0,
        elements: 0,
        depth: 0,
    };
    let rule = reader.or()?;
    reader.skip_space();
    if reader.at < text.len() {
        return Err(reader.error("unexpected text after the rule"));
    }
    let children = rule.children();
    if children.len() > MAX_CHILDREN {
        return Err(RuleError {
            position: 0,
            message: format!("it names {} alarms; at most {MAX_CHILDREN}", children.len()),
        });
    }
    Ok(rule)
}

impl Rule {
    /// The alarms the rule names, each once, in order of appearance.
    pub fn children(&self) -> Vec<&str> {
        let mut names = Vec::new();
        self.collect(&mut names);
        names
    }

    fn collect<'a>(&'a self, names: &mut Vec<&'a str>) {
        match self {
            Rule::Constant(_) => {}
            Rule::State(_, name) => {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
            Rule::Not(inner) => inner.collect(names),
            Rule::And(left, right) | Rule::Or(left, right) => {
                left.collect(names);
                right.collect(names);
            }
        }
    }

    /// Whether the rule holds, given each named alarm's state. An alarm
    /// `state_of` does not know is in no state: every function of it is false.
    pub fn holds(&self, state_of: &impl Fn(&str) -> Option<AlarmState>) -> bool {
        match self {
            Rule::Constant(value) => *value,
            Rule::State(state, name) => state_of(name) == Some(*state),
            Rule::Not(inner) => !inner.holds(state_of),
            Rule::And(left, right) => left.holds(state_of) && right.holds(state_of),
            Rule::Or(left, right) => left.holds(state_of) || right.holds(state_of),
        }
    }

    /// The composite alarm's state under the rule.
    pub fn state(&self, state_of: &impl Fn(&str) -> Option<AlarmState>) -> AlarmState {
        if self.holds(state_of) {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        }
    }

    /// Whether the rule is only `ALARM(…)` joined by `OR`: then listing its
    /// alarms one by one for rollback does exactly what it does.
    pub fn is_any_in_alarm(&self) -> bool {
        match self {
            Rule::State(AlarmState::Alarm, _) => true,
            Rule::Or(left, right) => left.is_any_in_alarm() && right.is_any_in_alarm(),
            _ => false,
        }
    }

    /// The rule written back, for sentences, with only the parentheses it
    /// needs: it parses back to the same rule, never nested deeper than the
    /// text it was read from.
    pub fn text(&self) -> String {
        match self {
            Rule::Constant(true) => "TRUE".into(),
            Rule::Constant(false) => "FALSE".into(),
            Rule::State(state, name) => format!("{}(\"{name}\")", state.as_str()),
            Rule::Not(inner) => format!("NOT {}", inner.grouped(Rule::binds_tighter_than_and)),
            // AND and OR read from the left: a chain's left side needs no
            // parentheses, its right side does.
            Rule::And(left, right) => format!(
                "{} AND {}",
                left.grouped(|rule| !matches!(rule, Rule::Or(..))),
                right.grouped(Rule::binds_tighter_than_and)
            ),
            Rule::Or(left, right) => format!(
                "{} OR {}",
                left.text(),
                right.grouped(|rule| !matches!(rule, Rule::Or(..)))
            ),
        }
    }

    fn binds_tighter_than_and(&self) -> bool {
        !matches!(self, Rule::And(..) | Rule::Or(..))
    }

    /// The text, in parentheses unless `bare` says it may go without.
    fn grouped(&self, bare: impl Fn(&Rule) -> bool) -> String {
        if bare(self) {
            self.text()
        } else {
            format!("({})", self.text())
        }
    }

    /// Why the rule holds or not, naming each alarm's state: for a composite
    /// alarm's StateReason.
    pub fn reason(&self, state_of: &impl Fn(&str) -> Option<AlarmState>) -> String {
        let states: Vec<String> = self
            .children()
            .into_iter()
            .map(|name| {
                format!(
                    "{name} is {}",
                    state_of(name).map_or("unknown", AlarmState::as_str)
                )
            })
            .collect();
        let verdict = if self.holds(state_of) {
            "the rule is true"
        } else {
            "the rule is false"
        };
        if states.is_empty() {
            format!("{verdict}: {}", self.text())
        } else {
            format!("{verdict}: {} ({})", self.text(), states.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(name: &str) -> Option<AlarmState> {
        match name {
            "a" | "cpu high" => Some(AlarmState::Alarm),
            "b" => Some(AlarmState::Ok),
            "c" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }

    fn check(text: &str, expected: bool) {
        let rule = parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        assert_eq!(rule.holds(&states), expected, "{text}");
    }

    #[test]
    fn rules_evaluate_as_aws_documents() {
        check("ALARM(a)", true);
        check("ALARM(b)", false);
        check("OK(b) AND ALARM(a)", true);
        check("ALARM(a) AND NOT ALARM(b)", true);
        check("(ALARM(b) OR ALARM(a)) AND OK(b)", true);
        check("INSUFFICIENT_DATA(c)", true);
        check("ALARM(\"cpu high\")", true);
        check("ALARM( \"cpu high\" )", true);
        check(
            "ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:a)",
            true,
        );
        // Found by fuzz/regressions/alarm_expressions: only a whole alarm
        // ARN names an alarm by its last part; this is a name with colons.
        assert_eq!(name_of("arn:a-1:alarm:x"), "arn:a-1:alarm:x");
        assert_eq!(name_of("arn:aws:cloudwatch:r:1:alarm:a:b"), "a:b");
        assert_eq!(
            name_of("arn:aws:sns:r:1:alarm:a"),
            "arn:aws:sns:r:1:alarm:a"
        );
        check("TRUE", true);
        check("false", false);
        check("ALARM(nope)", false);
        // NOT before AND before OR.
        check("NOT ALARM(a) OR ALARM(a)", true);
        check("ALARM(b) AND ALARM(a) OR ALARM(a)", true);
        check("ALARM(a) OR ALARM(a) AND ALARM(b)", true);
        check("NOT (ALARM(a) OR ALARM(b))", false);
    }

    #[test]
    fn a_rule_prints_back_to_itself() {
        for text in [
            "ALARM(a) AND (OK(b) OR NOT INSUFFICIENT_DATA(\" c d \"))",
            "NOT NOT (TRUE OR ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:a))",
            "ALARM(a(b) OR OK(\"x)\")",
            "(ALARM(a) OR ALARM(b)) AND NOT (OK(c) AND OK(d)) OR ALARM(e) AND (OK(f) OR TRUE)",
            "ALARM(a) AND (ALARM(b) AND ALARM(c)) OR (ALARM(d) OR ALARM(e))",
        ] {
            let rule = parse(text).expect(text);
            assert_eq!(parse(&rule.text()), Ok(rule), "{text}");
        }
    }

    #[test]
    fn a_long_chain_prints_without_nesting() {
        // Found by fuzz/regressions/alarm_expressions: 100 ORs read from the
        // left were written back in 100 nested parentheses, too deep to read.
        let text = vec!["ALARM(a)"; 150].join(" OR ");
        let rule = parse(&text).expect("a flat chain");
        assert_eq!(rule.text(), vec!["ALARM(\"a\")"; 150].join(" OR "));
        assert_eq!(
            parse("(ALARM(a) AND OK(b)) OR NOT (ALARM(c) OR ALARM(d))")
                .expect("parses")
                .text(),
            "ALARM(\"a\") AND OK(\"b\") OR NOT (ALARM(\"c\") OR ALARM(\"d\"))"
        );
    }

    #[test]
    fn a_composite_is_in_alarm_when_its_rule_holds() {
        let rule = parse("ALARM(a) AND OK(b)").expect("parses");
        assert_eq!(rule.state(&states), AlarmState::Alarm);
        assert_eq!(rule.children(), ["a", "b"]);
        assert!(rule.reason(&states).contains("a is ALARM, b is OK"));
        assert!(!rule.is_any_in_alarm());
        assert!(parse("ALARM(a) OR ALARM(\"b\")")
            .expect("parses")
            .is_any_in_alarm());
    }

    #[test]
    fn bad_rules_say_where() {
        for (text, position) in [
            ("ALARM(a) AND", 12),
            ("ALARM a", 6),
            ("MAYBE(a)", 0),
            ("ALARM(a) ALARM(b)", 9),
            ("(ALARM(a)", 9),
            ("ALARM(\"a)", 6),
            ("ALARM()", 6),
            // Found by fuzz/regressions/alarm_expressions: a bare name with a
            // quote, which `text()` could not write back.
            ("ALARM(x\"a\") OR OK(b)", 7),
        ] {
            let error = parse(text).expect_err(text);
            assert_eq!(error.position, position, "{text}: {error}");
        }
        assert!(parse("").is_err());
        let long = "TRUE OR ".repeat(600) + "TRUE";
        assert!(parse(&long)
            .expect_err("too many elements")
            .message
            .contains("500"));
        let deep = format!("{}TRUE{}", "(".repeat(150), ")".repeat(150));
        assert!(parse(&deep).is_err());
    }
}
