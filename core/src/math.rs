//! CloudWatch metric math, the part that rollback alarms use: parsing an
//! `Expression`, checking it, and evaluating it over the datapoints of an
//! alarm's evaluation range.
//!
//! What is supported is what error-rate and latency-ratio alarms are written
//! with: numbers, the ids of other queries, `+ - * / ^`, unary minus,
//! comparisons (`== != < <= > >=`), `AND`/`&&` and `OR`/`||`, arrays
//! (`[m1, m2]`), and the functions `ABS`, `AVG`, `FILL`, `IF`, `MAX`, `MIN`
//! and `SUM`. Every other CloudWatch function is refused by name, and a name
//! CloudWatch does not know is refused as CloudWatch refuses it.
//!
//! The rules follow AWS's "Metric math syntax and functions" page:
//! - arithmetic between two series treats a value missing in one of them as 0,
//!   at the timestamps where either has one (`[1,-,3,-] + [2,2,-,-]` is
//!   `[3,2,3,-]`);
//! - a division by zero drops the datapoint (`[4,2] / [2,0]` is `[2,-]`), and
//!   so does a value that is not a finite number (`(-1)^0.5`);
//! - a comparison or logical operator gives 1 or 0 per timestamp, and treats a
//!   value missing in only one series as 0;
//! - `IF(c, a, b)` follows the page's tables, including "true and `a` missing
//!   gives 0" and "false with no `b` drops the point";
//! - `MIN`, `MAX`, `SUM` and `AVG` of one series are scalars over the whole
//!   range; of an array they are a series, point by point.
//!
//! Where AWS is silent (edges of `FILL(…, LINEAR)`, `MIN` of an array with a
//! missing value), `crate::assumptions` (`metric_math`) decides.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A CloudWatch function that guardrail does not evaluate.
pub const UNSUPPORTED_FUNCTIONS: [&str; 30] = [
    "ANOMALY_DETECTION_BAND",
    "CEIL",
    "CONCAT",
    "DATAPOINT_COUNT",
    "DATE",
    "DAY",
    "DIFF",
    "DIFF_TIME",
    "EPOCH",
    "FIRST",
    "FLOOR",
    "HOUR",
    "INSIGHT_RULE_METRIC",
    "LAMBDA",
    "LAST",
    "LOG",
    "LOG10",
    "METRICS",
    "METRIC_COUNT",
    "MINUTE",
    "MONTH",
    "PERIOD",
    "RATE",
    "REMOVE_EMPTY",
    "RUNNING_SUM",
    "SEARCH",
    "SERVICE_QUOTA",
    "SLICE",
    "SORT",
    "STDDEV",
];

/// The functions guardrail evaluates, for messages.
pub const SUPPORTED: &str =
    "arithmetic (+ - * / ^), comparisons (== != < <= > >=), AND/&&, OR/||, \
                             ABS, AVG, FILL, IF, MAX, MIN and SUM";

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Add,
    Subtract,
    Multiply,
    Divide,
    Power,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Subtract => "-",
            Self::Multiply => "*",
            Self::Divide => "/",
            Self::Power => "^",
            Self::Equal => "==",
            Self::NotEqual => "!=",
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Greater => ">",
            Self::GreaterOrEqual => ">=",
            Self::And => "AND",
            Self::Or => "OR",
        }
    }

    fn is_arithmetic(self) -> bool {
        matches!(
            self,
            Self::Add | Self::Subtract | Self::Multiply | Self::Divide | Self::Power
        )
    }

    /// Applies the operator to two values; `None` drops the datapoint.
    fn apply(self, a: f64, b: f64) -> Option<f64> {
        let flag = |truth: bool| Some(if truth { 1.0 } else { 0.0 });
        let value = match self {
            Self::Add => a + b,
            Self::Subtract => a - b,
            Self::Multiply => a * b,
            Self::Divide => {
                if b == 0.0 {
                    return None;
                }
                a / b
            }
            Self::Power => libm::pow(a, b),
            Self::Equal => return flag(a == b),
            Self::NotEqual => return flag(a != b),
            Self::Less => return flag(a < b),
            Self::LessOrEqual => return flag(a <= b),
            Self::Greater => return flag(a > b),
            Self::GreaterOrEqual => return flag(a >= b),
            Self::And => return flag(a != 0.0 && b != 0.0),
            Self::Or => return flag(a != 0.0 || b != 0.0),
        };
        value.is_finite().then_some(value)
    }
}

/// A function guardrail evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Function {
    Abs,
    Avg,
    Fill,
    If,
    Max,
    Min,
    Sum,
}

impl Function {
    fn from_name(name: &str) -> Option<Function> {
        Some(match name {
            "ABS" => Self::Abs,
            "AVG" => Self::Avg,
            "FILL" => Self::Fill,
            "IF" => Self::If,
            "MAX" => Self::Max,
            "MIN" => Self::Min,
            "SUM" => Self::Sum,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Abs => "ABS",
            Self::Avg => "AVG",
            Self::Fill => "FILL",
            Self::If => "IF",
            Self::Max => "MAX",
            Self::Min => "MIN",
            Self::Sum => "SUM",
        }
    }
}

/// How `FILL` fills a gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Filler {
    Repeat,
    Linear,
}

/// A parsed expression. `Id` names another query until [`resolve`] replaces
/// it with the index of the metric it stands for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    Number(f64),
    Id(String),
    /// A metric query (`MetricStat`), by its index among the alarm's metrics.
    Metric(usize),
    Negate(Box<Expr>),
    Binary(Op, Box<Expr>, Box<Expr>),
    Call(Function, Vec<Expr>),
    Array(Vec<Expr>),
    Fill(Filler),
}

/// What an expression gives: a number, a time series, or an array of series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Series,
    Array,
}

impl Kind {
    fn words(self) -> &'static str {
        match self {
            Self::Scalar => "a single number",
            Self::Series => "a time series",
            Self::Array => "an array of time series",
        }
    }
}

/// Why an expression is refused. `Display` is the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MathError {
    /// The text cannot be read (CloudWatch: a syntax error).
    Syntax { position: usize, message: String },
    /// A function CloudWatch does not have.
    UnknownFunction(String),
    /// A CloudWatch function guardrail does not evaluate.
    Unsupported(String),
    /// An id that names no query of the alarm.
    UnknownId(String),
    /// Expressions that refer to each other in a circle.
    Cycle(String),
    /// Wrong arguments or kinds.
    Invalid(String),
}

impl fmt::Display for MathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { position, message } => {
                write!(f, "syntax error at character {}: {message}", position + 1)
            }
            Self::UnknownFunction(name) => write!(f, "Unrecognized function {name}"),
            Self::Unsupported(name) => write!(
                f,
                "{name} is a CloudWatch function that guardrail does not evaluate; it evaluates {SUPPORTED}"
            ),
            Self::UnknownId(id) => write!(
                f,
                "`{id}` is not the Id of a metric or expression of this alarm"
            ),
            Self::Cycle(id) => write!(f, "`{id}` refers to itself through other expressions"),
            Self::Invalid(message) => f.write_str(message),
        }
    }
}

/// The most nested parentheses, brackets and calls an expression may hold:
/// parsing is recursive, and CloudWatch's 2048 characters could otherwise
/// nest deep enough to matter.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Text,
    Op(Op),
    Not,
    Minus,
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Comma,
}

// Long: one scan of the expression, an arm per kind of token.
fn tokens(text: &str) -> Result<Vec<(usize, Token)>, MathError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    let syntax = |position: usize, message: &str| MathError::Syntax {
        position,
        message: message.to_string(),
    };
    while at < bytes.len() {
        let start = at;
        let byte = bytes[at];
        let next = bytes.get(at + 1).copied();
        let token = match byte {
            b' ' | b'\t' | b'\n' | b'\r' => {
                at += 1;
                continue;
            }
            b'0'..=b'9' | b'.' => {
                while at < bytes.len() && (bytes[at].is_ascii_digit() || bytes[at] == b'.') {
                    at += 1;
                }
                if at < bytes.len() && (bytes[at] == b'e' || bytes[at] == b'E') {
                    let mut end = at + 1;
                    if end < bytes.len() && (bytes[end] == b'+' || bytes[end] == b'-') {
                        end += 1;
                    }
                    if end < bytes.len() && bytes[end].is_ascii_digit() {
                        at = end;
                        while at < bytes.len() && bytes[at].is_ascii_digit() {
                            at += 1;
                        }
                    }
                }
                let number: f64 = text[start..at].parse().map_err(|_| {
                    syntax(start, &format!("`{}` is not a number", &text[start..at]))
                })?;
                out.push((start, Token::Number(number)));
                continue;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                    at += 1;
                }
                out.push((start, Token::Name(text[start..at].to_string())));
                continue;
            }
            b'"' | b'\'' => {
                // A string (METRICS("errors"), SEARCH('…')): only the functions
                // guardrail refuses take one. Skip it, quotes included.
                at = text[at + 1..]
                    .find(byte as char)
                    .map_or(bytes.len(), |end| at + 1 + end + 1);
                out.push((start, Token::Text));
                continue;
            }
            _ if text[at..].starts_with(['\u{201C}', '\u{2018}']) => {
                // The same in typographic quotes (“…”, ‘…’), as pasted from
                // documents. Found by fuzz/regressions/alarm_expressions: a
                // byte search stopped inside another character.
                let close = if text[at..].starts_with('\u{201C}') {
                    '\u{201D}'
                } else {
                    '\u{2019}'
                };
                let open = '\u{201C}'.len_utf8();
                at = text[at + open..]
                    .find(close)
                    .map_or(bytes.len(), |end| at + open + end + close.len_utf8());
                out.push((start, Token::Text));
                continue;
            }
            b'+' => Token::Op(Op::Add),
            b'-' => Token::Minus,
            b'*' => Token::Op(Op::Multiply),
            b'/' => Token::Op(Op::Divide),
            b'^' => Token::Op(Op::Power),
            b'(' => Token::Open,
            b')' => Token::Close,
            b'[' => Token::OpenBracket,
            b']' => Token::CloseBracket,
            b',' => Token::Comma,
            b'=' if next == Some(b'=') => {
                at += 1;
                Token::Op(Op::Equal)
            }
            b'!' if next == Some(b'=') => {
                at += 1;
                Token::Op(Op::NotEqual)
            }
            b'!' => Token::Not,
            b'<' if next == Some(b'=') => {
                at += 1;
                Token::Op(Op::LessOrEqual)
            }
            b'<' => Token::Op(Op::Less),
            b'>' if next == Some(b'=') => {
                at += 1;
                Token::Op(Op::GreaterOrEqual)
            }
            b'>' => Token::Op(Op::Greater),
            b'&' if next == Some(b'&') => {
                at += 1;
                Token::Op(Op::And)
            }
            b'|' if next == Some(b'|') => {
                at += 1;
                Token::Op(Op::Or)
            }
            _ => {
                let shown: String = text[start..].chars().take(1).collect();
                return Err(syntax(start, &format!("unexpected `{shown}`")));
            }
        };
        at += 1;
        out.push((start, token));
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, token)| token)
    }

    fn position(&self) -> usize {
        self.tokens
            .get(self.at)
            .map(|(position, _)| *position)
            .unwrap_or(self.end)
    }

    fn error(&self, message: &str) -> MathError {
        MathError::Syntax {
            position: self.position(),
            message: message.to_string(),
        }
    }

    fn next_op(&self) -> Option<Op> {
        match self.peek()? {
            Token::Op(op) => Some(*op),
            Token::Minus => Some(Op::Subtract),
            Token::Name(name) if name == "AND" => Some(Op::And),
            Token::Name(name) if name == "OR" => Some(Op::Or),
            _ => None,
        }
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), MathError> {
        if self.peek() == Some(&token) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}")))
        }
    }

    fn deeper(&mut self) -> Result<(), MathError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("nested more than {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    /// Binary operators by precedence, loosest first.
    fn binary(&mut self, level: usize) -> Result<Expr, MathError> {
        const LEVELS: [&[Op]; 5] = [
            &[Op::Or],
            &[Op::And],
            &[
                Op::Equal,
                Op::NotEqual,
                Op::Less,
                Op::LessOrEqual,
                Op::Greater,
                Op::GreaterOrEqual,
            ],
            &[Op::Add, Op::Subtract],
            &[Op::Multiply, Op::Divide],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.next_op().filter(|op| LEVELS[level].contains(op)) {
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, MathError> {
        match self.peek() {
            Some(Token::Minus) => {
                self.at += 1;
                self.deeper()?;
                let operand = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Negate(Box::new(operand)))
            }
            Some(Token::Not) => Err(MathError::Unsupported("NOT (!)".into())),
            Some(Token::Name(name)) if name == "NOT" => {
                Err(MathError::Unsupported("NOT (!)".into()))
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<Expr, MathError> {
        let base = self.primary()?;
        if self.peek() == Some(&Token::Op(Op::Power)) {
            self.at += 1;
            self.deeper()?;
            // Right-associative, and binds tighter than a unary minus on its left.
            let exponent = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Binary(Op::Power, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr, MathError> {
        let Some((_, token)) = self.tokens.get(self.at).cloned() else {
            return Err(self.error("the expression ends too soon"));
        };
        self.at += 1;
        match token {
            Token::Number(value) => Ok(Expr::Number(value)),
            Token::Open => {
                self.deeper()?;
                let inner = self.binary(0)?;
                self.expect(Token::Close, "`)`")?;
                self.depth -= 1;
                Ok(inner)
            }
            Token::OpenBracket => {
                self.deeper()?;
                let items = self.list(Token::CloseBracket, "`]`")?;
                self.depth -= 1;
                Ok(Expr::Array(items))
            }
            Token::Name(name) => self.name(name),
            Token::Text => Err(MathError::Unsupported("a quoted string".into())),
            _ => {
                self.at -= 1;
                Err(self.error("expected a number, an Id, a function or `(`"))
            }
        }
    }

    fn name(&mut self, name: String) -> Result<Expr, MathError> {
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            if UNSUPPORTED_FUNCTIONS.contains(&name.as_str()) {
                return Err(MathError::Unsupported(name));
            }
            let Some(function) = Function::from_name(&name) else {
                return Err(MathError::UnknownFunction(name));
            };
            self.deeper()?;
            let arguments = self.list(Token::Close, "`)`")?;
            self.depth -= 1;
            return Ok(Expr::Call(function, arguments));
        }
        match name.as_str() {
            "REPEAT" => return Ok(Expr::Fill(Filler::Repeat)),
            "LINEAR" => return Ok(Expr::Fill(Filler::Linear)),
            _ => {}
        }
        if UNSUPPORTED_FUNCTIONS.contains(&name.as_str()) {
            return Err(MathError::Unsupported(name));
        }
        if name.as_bytes().first().is_some_and(u8::is_ascii_lowercase) {
            Ok(Expr::Id(name))
        } else if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            Err(MathError::UnknownFunction(name))
        } else {
            Err(MathError::UnknownId(name))
        }
    }

    /// Comma-separated expressions up to `close`.
    fn list(&mut self, close: Token, what: &str) -> Result<Vec<Expr>, MathError> {
        let mut items = Vec::new();
        if self.peek() == Some(&close) {
            self.at += 1;
            return Ok(items);
        }
        loop {
            items.push(self.binary(0)?);
            match self.peek() {
                Some(Token::Comma) => self.at += 1,
                Some(token) if *token == close => {
                    self.at += 1;
                    return Ok(items);
                }
                _ => return Err(self.error(&format!("expected `,` or {what}"))),
            }
        }
    }
}

/// Parses an expression's text.
pub fn parse(text: &str) -> Result<Expr, MathError> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
        end: text.len(),
        depth: 0,
    };
    if parser.tokens.is_empty() {
        return Err(parser.error("the expression is empty"));
    }
    let expr = parser.binary(0)?;
    if parser.at < parser.tokens.len() {
        return Err(parser.error("unexpected text after the expression"));
    }
    Ok(expr)
}

/// One query of an alarm's `Metrics`, as [`resolve`] needs it.
pub enum Definition<'a> {
    /// A `MetricStat`: the index of the metric among the alarm's metrics.
    Metric(usize),
    /// An `Expression`, parsed.
    Expression(&'a Expr),
}

/// Replaces every id in `expr` with what it stands for: a metric's index, or
/// the other expression itself. Refuses unknown ids and circles.
pub fn resolve<'a>(
    expr: &Expr,
    lookup: &impl Fn(&str) -> Option<Definition<'a>>,
    visiting: &mut Vec<String>,
) -> Result<Expr, MathError> {
    Ok(match expr {
        Expr::Id(id) => match lookup(id) {
            None => return Err(MathError::UnknownId(id.clone())),
            Some(Definition::Metric(index)) => Expr::Metric(index),
            Some(Definition::Expression(inner)) => {
                if visiting.iter().any(|seen| seen == id) || visiting.len() > MAX_DEPTH {
                    return Err(MathError::Cycle(id.clone()));
                }
                visiting.push(id.clone());
                let resolved = resolve(inner, lookup, visiting)?;
                visiting.pop();
                resolved
            }
        },
        Expr::Number(_) | Expr::Metric(_) | Expr::Fill(_) => expr.clone(),
        Expr::Negate(inner) => Expr::Negate(Box::new(resolve(inner, lookup, visiting)?)),
        Expr::Binary(op, left, right) => Expr::Binary(
            *op,
            Box::new(resolve(left, lookup, visiting)?),
            Box::new(resolve(right, lookup, visiting)?),
        ),
        Expr::Call(function, arguments) => Expr::Call(
            *function,
            arguments
                .iter()
                .map(|argument| resolve(argument, lookup, visiting))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Array(items) => Expr::Array(
            items
                .iter()
                .map(|item| resolve(item, lookup, visiting))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// The kind of a resolved expression, checking every function's arguments.
pub fn kind(expr: &Expr) -> Result<Kind, MathError> {
    let invalid = |message: String| Err(MathError::Invalid(message));
    match expr {
        Expr::Number(_) => Ok(Kind::Scalar),
        Expr::Metric(_) => Ok(Kind::Series),
        Expr::Id(id) => Err(MathError::UnknownId(id.clone())),
        Expr::Fill(_) => invalid("REPEAT and LINEAR can only be FILL's second argument".into()),
        Expr::Negate(inner) => kind(inner),
        Expr::Binary(op, left, right) => {
            let (left, right) = (kind(left)?, kind(right)?);
            match (left, right) {
                (Kind::Scalar, Kind::Scalar) => Ok(Kind::Scalar),
                (Kind::Array, _) | (_, Kind::Array) if op.is_arithmetic() => {
                    if left == Kind::Array && right == Kind::Array {
                        invalid(format!(
                            "`{}` between two arrays of time series is not supported",
                            op.symbol()
                        ))
                    } else {
                        Ok(Kind::Array)
                    }
                }
                (Kind::Array, _) | (_, Kind::Array) => invalid(format!(
                    "`{}` takes two time series or numbers, not an array",
                    op.symbol()
                )),
                _ => Ok(Kind::Series),
            }
        }
        Expr::Array(items) => {
            if items.is_empty() {
                return invalid("an array holds at least one time series".into());
            }
            for item in items {
                if kind(item)? != Kind::Series {
                    return invalid("an array holds time series only".into());
                }
            }
            Ok(Kind::Array)
        }
        Expr::Call(function, arguments) => call_kind(*function, arguments),
    }
}

fn call_kind(function: Function, arguments: &[Expr]) -> Result<Kind, MathError> {
    let name = function.name();
    let count = |allowed: &[usize]| -> Result<(), MathError> {
        if allowed.contains(&arguments.len()) {
            Ok(())
        } else {
            Err(MathError::Invalid(format!(
                "{name} takes {} argument(s), not {}",
                allowed
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" or "),
                arguments.len()
            )))
        }
    };
    match function {
        Function::Abs => {
            count(&[1])?;
            match kind(&arguments[0])? {
                Kind::Scalar => Err(MathError::Invalid(
                    "ABS takes a time series or an array of them".into(),
                )),
                other => Ok(other),
            }
        }
        Function::Avg | Function::Max | Function::Min | Function::Sum => {
            count(&[1])?;
            match kind(&arguments[0])? {
                Kind::Series => Ok(Kind::Scalar),
                Kind::Array => Ok(Kind::Series),
                Kind::Scalar => Err(MathError::Invalid(format!(
                    "{name} takes a time series or an array of them, not a number"
                ))),
            }
        }
        Function::Fill => {
            count(&[2])?;
            let series = kind(&arguments[0])?;
            if series == Kind::Scalar {
                return Err(MathError::Invalid(
                    "FILL's first argument is a time series".into(),
                ));
            }
            match &arguments[1] {
                Expr::Fill(_) => {}
                other => {
                    if kind(other)? == Kind::Array {
                        return Err(MathError::Invalid(
                            "FILL's second argument is a number, a time series, REPEAT or LINEAR"
                                .into(),
                        ));
                    }
                }
            }
            Ok(series)
        }
        Function::If => {
            count(&[2, 3])?;
            for argument in arguments {
                if kind(argument)? == Kind::Array {
                    return Err(MathError::Invalid(
                        "IF takes time series and numbers, not arrays".into(),
                    ));
                }
            }
            if arguments
                .iter()
                .all(|argument| kind(argument).ok() == Some(Kind::Scalar))
            {
                return Err(MathError::Invalid(
                    "IF needs a time series among its arguments".into(),
                ));
            }
            Ok(Kind::Series)
        }
    }
}

/// Checks that a resolved expression can be an alarm's value: one time series.
pub fn check_returns_series(expr: &Expr) -> Result<(), MathError> {
    match kind(expr)? {
        Kind::Series => Ok(()),
        other => Err(MathError::Invalid(format!(
            "an alarm's expression must return a single time series; this one returns {}",
            other.words()
        ))),
    }
}

/// The indices of the metrics an expression reads.
pub fn metrics_read(expr: &Expr, into: &mut Vec<usize>) {
    match expr {
        Expr::Metric(index) => {
            if !into.contains(index) {
                into.push(*index);
            }
        }
        Expr::Negate(inner) => metrics_read(inner, into),
        Expr::Binary(_, left, right) => {
            metrics_read(left, into);
            metrics_read(right, into);
        }
        Expr::Call(_, items) | Expr::Array(items) => {
            for item in items {
                metrics_read(item, into);
            }
        }
        Expr::Number(_) | Expr::Id(_) | Expr::Fill(_) => {}
    }
}

/// A time series over the evaluation range: one slot per period, oldest first.
pub type Series = Vec<Option<f64>>;

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Scalar(Option<f64>),
    Series(Series),
    Array(Vec<Series>),
}

/// Evaluates a resolved expression over series of `len` periods; `metric(i)`
/// is metric `i`'s series. A checked expression (see [`kind`]) always gives a
/// series; anything else gives a series with no datapoints.
pub fn evaluate(expr: &Expr, len: usize, metric: &impl Fn(usize) -> Series) -> Series {
    match value(expr, len, metric) {
        Value::Series(series) => series,
        Value::Scalar(_) | Value::Array(_) => vec![None; len],
    }
}

fn value(expr: &Expr, len: usize, metric: &impl Fn(usize) -> Series) -> Value {
    match expr {
        Expr::Number(number) => Value::Scalar(Some(*number)),
        Expr::Metric(index) => {
            let mut series = metric(*index);
            series.resize(len, None);
            Value::Series(series)
        }
        Expr::Id(_) | Expr::Fill(_) => Value::Scalar(None),
        Expr::Negate(inner) => map(value(inner, len, metric), |x| Some(-x)),
        Expr::Binary(op, left, right) => binary(
            *op,
            value(left, len, metric),
            value(right, len, metric),
            len,
        ),
        Expr::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| match value(item, len, metric) {
                    Value::Series(series) => series,
                    _ => vec![None; len],
                })
                .collect(),
        ),
        Expr::Call(function, arguments) => call(*function, arguments, len, metric),
    }
}

fn map(value: Value, f: impl Fn(f64) -> Option<f64>) -> Value {
    let series =
        |series: Series| -> Series { series.into_iter().map(|point| point.and_then(&f)).collect() };
    match value {
        Value::Scalar(scalar) => Value::Scalar(scalar.and_then(&f)),
        Value::Series(points) => Value::Series(series(points)),
        Value::Array(all) => Value::Array(all.into_iter().map(series).collect()),
    }
}

/// Two series point by point. Where only one has a value, the other counts as
/// 0; where neither has, there is no point.
fn pointwise(op: Op, a: &[Option<f64>], b: &[Option<f64>]) -> Series {
    a.iter()
        .zip(b)
        .map(|(x, y)| match (x, y) {
            (None, None) => None,
            (x, y) => op.apply(x.unwrap_or(0.0), y.unwrap_or(0.0)),
        })
        .collect()
}

fn with_scalar(op: Op, series: &[Option<f64>], scalar: Option<f64>, series_left: bool) -> Series {
    series
        .iter()
        .map(|point| {
            let (x, y) = ((*point)?, scalar?);
            if series_left {
                op.apply(x, y)
            } else {
                op.apply(y, x)
            }
        })
        .collect()
}

fn binary(op: Op, left: Value, right: Value, len: usize) -> Value {
    match (left, right) {
        (Value::Scalar(a), Value::Scalar(b)) => {
            Value::Scalar(a.zip(b).and_then(|(a, b)| op.apply(a, b)))
        }
        (Value::Series(a), Value::Series(b)) => Value::Series(pointwise(op, &a, &b)),
        (Value::Series(a), Value::Scalar(b)) => Value::Series(with_scalar(op, &a, b, true)),
        (Value::Scalar(a), Value::Series(b)) => Value::Series(with_scalar(op, &b, a, false)),
        (Value::Array(all), other) => Value::Array(
            all.into_iter()
                .map(
                    |series| match binary(op, Value::Series(series), other.clone(), len) {
                        Value::Series(result) => result,
                        _ => vec![None; len],
                    },
                )
                .collect(),
        ),
        (other, Value::Array(all)) => Value::Array(
            all.into_iter()
                .map(
                    |series| match binary(op, other.clone(), Value::Series(series), len) {
                        Value::Series(result) => result,
                        _ => vec![None; len],
                    },
                )
                .collect(),
        ),
    }
}

fn call(
    function: Function,
    arguments: &[Expr],
    len: usize,
    metric: &impl Fn(usize) -> Series,
) -> Value {
    let argument = |index: usize| {
        arguments
            .get(index)
            .map(|expr| value(expr, len, metric))
            .unwrap_or(Value::Scalar(None))
    };
    match function {
        Function::Abs => map(argument(0), |x| Some(x.abs())),
        Function::Avg | Function::Max | Function::Min | Function::Sum => {
            aggregate(function, argument(0), len)
        }
        Function::Fill => {
            let filler = arguments.get(1);
            let fill = |series: Series| -> Series {
                match filler {
                    Some(Expr::Fill(Filler::Repeat)) => repeat(series),
                    Some(Expr::Fill(Filler::Linear)) => linear(series),
                    Some(other) => match value(other, len, metric) {
                        Value::Scalar(Some(with)) => series
                            .into_iter()
                            .map(|point| point.or(Some(with)))
                            .collect(),
                        Value::Series(with) => series
                            .into_iter()
                            .zip(with)
                            .map(|(point, with)| point.or(with))
                            .collect(),
                        _ => series,
                    },
                    None => series,
                }
            };
            match argument(0) {
                Value::Series(series) => Value::Series(fill(series)),
                Value::Array(all) => Value::Array(all.into_iter().map(fill).collect()),
                scalar => scalar,
            }
        }
        Function::If => {
            let condition = argument(0);
            let then = argument(1);
            let otherwise = (arguments.len() > 2).then(|| argument(2));
            if_(condition, then, otherwise, len)
        }
    }
}

/// `MIN`, `MAX`, `SUM` or `AVG`: of one series, a number over the range; of an
/// array, a series point by point. `SUM` and `AVG` of an array count a missing
/// value as 0 (AWS says so for `AVG`); `MIN` and `MAX` take the values there.
fn aggregate(function: Function, input: Value, len: usize) -> Value {
    let over = |values: &mut dyn Iterator<Item = f64>, count: usize| -> Option<f64> {
        let values: Vec<f64> = values.collect();
        if values.is_empty() {
            return None;
        }
        Some(match function {
            Function::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Function::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Function::Sum => values.iter().sum(),
            _ => values.iter().sum::<f64>() / count.max(1) as f64,
        })
    };
    match input {
        Value::Series(series) => {
            let present = series.iter().flatten().count();
            Value::Scalar(over(&mut series.iter().flatten().copied(), present))
        }
        Value::Array(all) => Value::Series(
            (0..len)
                .map(|slot| {
                    let at: Vec<Option<f64>> = all
                        .iter()
                        .map(|series| series.get(slot).copied().flatten())
                        .collect();
                    if at.iter().all(Option::is_none) {
                        return None;
                    }
                    match function {
                        Function::Sum | Function::Avg => {
                            over(&mut at.iter().map(|x| x.unwrap_or(0.0)), at.len())
                        }
                        _ => over(&mut at.iter().flatten().copied(), at.len()),
                    }
                })
                .collect(),
        ),
        Value::Scalar(scalar) => Value::Scalar(scalar),
    }
}

/// `FILL(…, REPEAT)`: each gap takes the last value before it; a gap at the
/// start of the range, with no value before it, stays.
fn repeat(series: Series) -> Series {
    let mut last = None;
    series
        .into_iter()
        .map(|point| {
            if point.is_some() {
                last = point;
            }
            point.or(last)
        })
        .collect()
}

/// `FILL(…, LINEAR)`: a gap between two values is filled on the straight line
/// between them; a gap at either end of the range stays.
fn linear(series: Series) -> Series {
    let mut out = series.clone();
    let mut previous: Option<(usize, f64)> = None;
    for (index, point) in series.iter().enumerate() {
        let Some(value) = point else { continue };
        if let Some((from, start)) = previous {
            let steps = (index - from) as f64;
            for (gap, slot) in out.iter_mut().enumerate().take(index).skip(from + 1) {
                let fraction = (gap - from) as f64 / steps;
                *slot = Some(start + (value - start) * fraction);
            }
        }
        previous = Some((index, *value));
    }
    out
}

/// `IF(condition, then, otherwise)`, by AWS's tables.
fn if_(condition: Value, then: Value, otherwise: Option<Value>, len: usize) -> Value {
    let at = |value: &Value, slot: usize| -> (bool, Option<f64>) {
        match value {
            Value::Scalar(scalar) => (false, *scalar),
            Value::Series(series) => (true, series.get(slot).copied().flatten()),
            Value::Array(_) => (true, None),
        }
    };
    match condition {
        Value::Scalar(truth) => {
            let truth = truth.is_some_and(|x| x != 0.0);
            let chosen = if truth { Some(then) } else { otherwise };
            match chosen {
                Some(Value::Series(series)) => Value::Series(series),
                Some(Value::Scalar(scalar)) => Value::Series(vec![scalar; len]),
                _ => Value::Series(vec![None; len]),
            }
        }
        Value::Series(condition) => Value::Series(
            condition
                .iter()
                .enumerate()
                .map(|(slot, truth)| {
                    let truth = (*truth)?;
                    if truth != 0.0 {
                        match at(&then, slot) {
                            // True and the series has no value there: 0.
                            (true, value) => Some(value.unwrap_or(0.0)),
                            (false, scalar) => scalar,
                        }
                    } else {
                        otherwise
                            .as_ref()
                            .and_then(|otherwise| at(otherwise, slot).1)
                    }
                })
                .collect(),
        ),
        Value::Array(_) => Value::Series(vec![None; len]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(text: &str) -> Series {
        text.split_whitespace()
            .map(|token| match token {
                "-" => None,
                number => Some(number.parse().expect("number")),
            })
            .collect()
    }

    /// Evaluates `text` with `m1`, `m2` and `m3` bound to the given series.
    fn check(text: &str, metrics: [&str; 3], expected: &str) {
        let parsed = parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        let lookup = |id: &str| -> Option<Definition<'_>> {
            match id {
                "m1" => Some(Definition::Metric(0)),
                "m2" => Some(Definition::Metric(1)),
                "m3" => Some(Definition::Metric(2)),
                _ => None,
            }
        };
        let resolved = resolve(&parsed, &lookup, &mut Vec::new()).expect("resolves");
        check_returns_series(&resolved).unwrap_or_else(|error| panic!("{text}: {error}"));
        let inputs: Vec<Series> = metrics.iter().map(|text| series(text)).collect();
        let len = inputs[0].len();
        let got = evaluate(&resolved, len, &|index| inputs[index].clone());
        assert_eq!(got, series(expected), "{text}");
    }

    #[test]
    fn arithmetic_treats_a_missing_value_as_zero_and_drops_divisions_by_zero() {
        check("m1 + m2", ["1 - 3 -", "2 2 - -", "0 0 0 0"], "3 2 3 -");
        check("m1 / m2", ["4 2 1 -", "2 0 - -", "0 0 0 0"], "2 - - -");
        check(
            "100 * m1 / m2",
            ["1 0 5 -", "50 10 - 4", "0 0 0 0"],
            "2 0 - 0",
        );
        check("-m1 ^ 2", ["3 -", "0 0", "0 0"], "-9 -");
        check("(m1 - 1) ^ 0.5", ["0 5", "0 0", "0 0"], "- 2");
    }

    #[test]
    fn comparisons_and_logic_follow_aws_examples() {
        // AWS's table: metric1 [30, 20, 0, 0], metric2 [20, -, 20, -].
        let metrics = ["30 20 0 0", "20 - 20 -", "0 0 0 0"];
        check("(m1 < m2)", metrics, "0 0 1 0");
        check("(m1 >= 30)", metrics, "1 0 0 0");
        check("(m1 > 15 AND m2 > 15)", metrics, "1 0 0 0");
        check("m1 > 15 && m2 > 15", metrics, "1 0 0 0");
        check("m1 > 25 OR m2 > 15", metrics, "1 0 1 0");
        check("m1 == 0 || m1 != 0", metrics, "1 1 1 1");
    }

    #[test]
    fn if_follows_aws_tables() {
        // IF(metric1, metric2, metric3) and the scalar forms, from AWS's page.
        let metrics = ["1 1 0 0 -", "30 - 0 0 30", "0 0 20 - 20"];
        check("IF(m1, m2, m3)", metrics, "30 0 20 - -");
        check("IF(m1, 5, m3)", metrics, "5 5 20 - -");
        check("IF(m1, m2, 5)", metrics, "30 0 5 5 -");
        check("IF(m1, m2)", metrics, "30 0 - - -");
        check("IF(m2 > 10, 1, 0)", metrics, "1 - 0 0 1");
        check("IF(1, m2)", metrics, "30 - 0 0 30");
        check("IF(0, m2)", metrics, "- - - - -");
    }

    #[test]
    fn fill_and_aggregates() {
        let metrics = ["- 1 - - 4 -", "1 1 1 1 1 1", "2 - 2 - 2 -"];
        check("FILL(m1, 0)", metrics, "0 1 0 0 4 0");
        check("FILL(m1, REPEAT)", metrics, "- 1 1 1 4 4");
        check("FILL(m1, LINEAR)", metrics, "- 1 2 3 4 -");
        check("FILL(m1, m3)", metrics, "2 1 2 - 4 -");
        // Of one series a number over the range, of an array a series.
        check("m2 * MAX(m1)", metrics, "4 4 4 4 4 4");
        check("m1 - MIN(m1)", metrics, "- 0 - - 3 -");
        check("m2 * AVG(m1)", metrics, "2.5 2.5 2.5 2.5 2.5 2.5");
        check("m2 * SUM(m3)", metrics, "6 6 6 6 6 6");
        check("SUM([m1, m3])", metrics, "2 1 2 - 6 -");
        check("AVG([m1, m3])", metrics, "1 0.5 1 - 3 -");
        check("MAX([m1, m3])", metrics, "2 1 2 - 4 -");
        check("MIN([m1, m3])", metrics, "2 1 2 - 2 -");
        check("ABS(m1 - 3)", metrics, "- 2 - - 1 -");
        check("SUM([m1, m3] * 2)", metrics, "4 2 4 - 12 -");
    }

    #[test]
    fn unsupported_and_unknown_functions_are_refused_by_name() {
        for (text, expected) in [
            ("RATE(m1)", MathError::Unsupported("RATE".into())),
            ("SUM(METRICS())", MathError::Unsupported("METRICS".into())),
            ("FOO(m1)", MathError::UnknownFunction("FOO".into())),
            ("avg(m1)", MathError::UnknownFunction("avg".into())),
            ("NOT m1", MathError::Unsupported("NOT (!)".into())),
            ("m1 + Errors", MathError::UnknownId("Errors".into())),
            // Strings, in any quotes, are skipped whole.
            (
                "SUM(METRICS(\"a)\"))",
                MathError::Unsupported("METRICS".into()),
            ),
            (
                "SUM(METRICS(\u{201C}a)\u{201D}))",
                MathError::Unsupported("METRICS".into()),
            ),
            (
                "SEARCH(\u{2018}{AWS/SageMaker} x\u{2019}, 'Sum', 60)",
                MathError::Unsupported("SEARCH".into()),
            ),
        ] {
            assert_eq!(parse(text), Err(expected), "{text}");
        }
        // Found by fuzz/regressions/alarm_expressions: a character that shares
        // a byte with a closing quote is refused, not cut in two.
        for text in [
            "FARRQT\u{2764}",
            "m1 + \u{2764}",
            "METRICS(\u{201C}\u{2764}",
            "\u{2019}",
        ] {
            let error = parse(text).expect_err(text);
            assert!(!error.to_string().is_empty());
        }
        assert_eq!(
            MathError::Unsupported("RATE".into()).to_string(),
            format!("RATE is a CloudWatch function that guardrail does not evaluate; it evaluates {SUPPORTED}")
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        for (text, position) in [
            ("m1 +", 4),
            ("(m1", 3),
            ("m1 m2", 3),
            ("m1 $ 2", 3),
            ("", 0),
        ] {
            match parse(text) {
                Err(MathError::Syntax { position: at, .. }) => {
                    assert_eq!(at, position, "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let deep = format!("{}m1{}", "(".repeat(100), ")".repeat(100));
        assert!(matches!(parse(&deep), Err(MathError::Syntax { .. })));
    }

    #[test]
    fn kinds_are_checked() {
        let resolved = |text: &str| {
            let lookup = |id: &str| match id {
                "m1" => Some(Definition::Metric(0)),
                _ => None,
            };
            resolve(&parse(text).expect("parses"), &lookup, &mut Vec::new())
        };
        for text in [
            "AVG(m1)",
            "[m1, m1]",
            "5",
            "ABS(3)",
            "FILL(m1)",
            "IF(1, 2, 3)",
        ] {
            let result = resolved(text).and_then(|expr| check_returns_series(&expr));
            assert!(result.is_err(), "{text} accepted");
        }
        assert!(matches!(resolved("e9 + 1"), Err(MathError::UnknownId(_))));
    }

    #[test]
    fn expressions_refer_to_expressions_and_circles_are_refused() {
        let e1 = parse("m1 * 2").expect("parses");
        let e2 = parse("e1 + e3").expect("parses");
        let e3 = parse("e2").expect("parses");
        let lookup = |id: &str| match id {
            "m1" => Some(Definition::Metric(0)),
            "e1" => Some(Definition::Expression(&e1)),
            "e2" => Some(Definition::Expression(&e2)),
            "e3" => Some(Definition::Expression(&e3)),
            _ => None,
        };
        let top = parse("e1 + 1").expect("parses");
        let resolved = resolve(&top, &lookup, &mut Vec::new()).expect("resolves");
        assert_eq!(
            evaluate(&resolved, 2, &|_| vec![Some(1.0), None]),
            vec![Some(3.0), None]
        );
        assert!(matches!(
            resolve(&e2, &lookup, &mut vec!["e2".to_string()]),
            Err(MathError::Cycle(_))
        ));
    }
}
