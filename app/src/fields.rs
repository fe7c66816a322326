//! Labelled inputs that show the core's problems at their own field.
//!
//! Numbers are typed as text so that anything can be typed: text that is not a
//! number gets its message here and leaves the plan unchanged; a number that is
//! out of range goes into the plan and the core's message shows at the field.
//! Each field carries `data-path` with the plan path it edits.

use guardrail_core::explain::mmss;
use guardrail_core::problem::Problem;
use guardrail_core::Checked;
use leptos::prelude::*;

use crate::state::{use_editing, Editing};

/// Parses a whole number; empty means "not set".
pub fn parse_whole(text: &str) -> Result<Option<i64>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    trimmed
        .parse::<i64>()
        .map(Some)
        .map_err(|_| format!("`{trimmed}` is not a whole number"))
}

/// Parses a decimal number; empty means "not set".
pub fn parse_decimal(text: &str) -> Result<Option<f64>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    match trimmed.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        _ => Err(format!("`{trimmed}` is not a number")),
    }
}

/// The core's errors (`true`) and warnings (`false`) whose path is exactly
/// `path`.
fn problems_at<'a>(
    checked: &'a Checked,
    path: &'a str,
) -> impl Iterator<Item = (&'a Problem, bool)> + 'a {
    let errors = checked.report.errors.iter().map(|problem| (problem, true));
    let warnings = checked
        .report
        .warnings
        .iter()
        .map(|problem| (problem, false));
    errors
        .chain(warnings)
        .filter(move |(problem, _)| problem.path == path)
}

/// The core's errors and warnings whose path is exactly `path`.
#[component]
pub fn Problems(#[prop(into)] path: Signal<String>, #[prop(into)] id: String) -> impl IntoView {
    let editing = use_editing();
    // A memo: the list is rebuilt only when its own problems change, not on
    // every edit of the plan.
    let items = Memo::new(move |_| {
        let path = path.get();
        editing.checked.with(|checked| {
            problems_at(checked, &path)
                .map(|(problem, error)| (problem.message.clone(), problem.code.clone(), error))
                .collect::<Vec<_>>()
        })
    });
    view! {
        <ul class="problems" id=id aria-live="polite">
            {move || {
                items
                    .get()
                    .into_iter()
                    .map(|(message, code, error)| {
                        view! {
                            <li class=if error { "error" } else { "warning" } data-code=code>
                                <span class="tag">{if error { "error" } else { "warning" }}</span>
                                " "
                                {message}
                            </li>
                        }
                    })
                    .collect_view()
            }}
        </ul>
    }
}

/// What every field has around its control: the label, a hint, an optional
/// local message (for text that is not a number) and the core's problems.
#[component]
fn FieldFrame(
    id: String,
    label: Signal<String>,
    path: Signal<String>,
    hint: Option<String>,
    #[prop(optional)] local_error: Option<RwSignal<Option<String>>>,
    children: Children,
) -> impl IntoView {
    let problems_id = format!("{id}-problems");
    view! {
        <div class="field" data-path=move || path.get()>
            <label for=id.clone()>{move || label.get()}</label>
            {children()}
            {hint.map(|hint| view! { <p class="hint">{hint}</p> })}
            {local_error.map(|local_error| view! {
                <p class="problems local" id=format!("{id}-local") aria-live="polite">
                    {move || local_error.get().map(|message| view! { <span class="error"><span class="tag">"error"</span>" "{message}</span> })}
                </p>
            })}
            <Problems path=path id=problems_id />
        </div>
    }
}

/// Whether the core has an error at `path`, as a memo: `aria-invalid` is set
/// again only when that changes.
fn has_error(path: Signal<String>) -> Memo<bool> {
    let editing = use_editing();
    Memo::new(move |_| {
        let path = path.get();
        editing
            .checked
            .with(|checked| problems_at(checked, &path).any(|(_, error)| error))
    })
}

/// A whole-number field; `seconds` adds the value as m:ss beside it.
#[component]
pub fn WholeField(
    #[prop(into)] id: String,
    #[prop(into)] label: Signal<String>,
    #[prop(into)] path: Signal<String>,
    #[prop(into)] value: Signal<Option<i64>>,
    on_change: Callback<Option<i64>>,
    #[prop(optional)] seconds: bool,
    #[prop(optional, into)] hint: Option<String>,
) -> impl IntoView {
    number_field(
        id,
        label,
        path,
        Signal::derive(move || value.get().map(|value| value.to_string())),
        move |text| parse_whole(text).map(|parsed| on_change.run(parsed)),
        seconds.then_some(Signal::derive(move || {
            value
                .get()
                .filter(|value| *value >= 0)
                .map(|value| mmss(value as u64))
        })),
        hint,
    )
}

/// A decimal field.
#[component]
pub fn DecimalField(
    #[prop(into)] id: String,
    #[prop(into)] label: Signal<String>,
    #[prop(into)] path: Signal<String>,
    #[prop(into)] value: Signal<Option<f64>>,
    on_change: Callback<Option<f64>>,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(optional, into)] suffix: Option<Signal<Option<String>>>,
) -> impl IntoView {
    number_field(
        id,
        label,
        path,
        Signal::derive(move || value.get().map(guardrail_core::alarm::trim_float)),
        move |text| parse_decimal(text).map(|parsed| on_change.run(parsed)),
        suffix,
        hint,
    )
}

fn number_field(
    id: String,
    label: Signal<String>,
    path: Signal<String>,
    canonical: Signal<Option<String>>,
    apply: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static,
    suffix: Option<Signal<Option<String>>>,
    hint: Option<String>,
) -> impl IntoView {
    let editing = use_editing();
    let text = RwSignal::new(canonical.get_untracked().unwrap_or_default());
    let local_error = RwSignal::new(None::<String>);
    // What the plan holds since the person emptied the field: an empty field
    // may mean a default ("0"), which must not be written back into it while
    // they type the next value.
    let emptied_to = StoredValue::new(None::<String>);
    keep_untaken(editing, path, local_error);
    follow_canonical(canonical, text, local_error, emptied_to);
    let describedby = format!("{id}-local {id}-problems");
    let invalid = has_error(path);
    let frame_id = id.clone();
    view! {
        <FieldFrame id=frame_id label=label path=path hint=hint local_error=local_error>
            <div class="input-row">
                <input
                    id=id
                    type="text"
                    inputmode="decimal"
                    autocomplete="off"
                    spellcheck="false"
                    prop:value=move || text.get()
                    aria-describedby=describedby
                    aria-invalid=move || {
                        (local_error.with(Option::is_some) || invalid.get()).to_string()
                    }
                    on:input=move |event| {
                        let raw = event_target_value(&event);
                        text.set(raw.clone());
                        local_error.set(apply(&raw).err());
                        emptied_to.set_value(
                            raw.trim()
                                .is_empty()
                                .then(|| canonical.get_untracked().unwrap_or_default()),
                        );
                    }
                />
                {suffix.map(|suffix| view! { <span class="suffix">{move || suffix.get()}</span> })}
            </div>
        </FieldFrame>
    }
}

/// What the field at `path` holds but the plan cannot take
/// (`local_error`) is the editor's too: it blocks the verdict and the export
/// (see `Editing::untaken`), until fixed or the field goes.
fn keep_untaken(editing: Editing, path: Signal<String>, local_error: RwSignal<Option<String>>) {
    Effect::new(move |previous: Option<String>| {
        let now = path.get();
        if let Some(previous) = previous.filter(|previous| *previous != now) {
            editing.set_untaken(&previous, None);
        }
        editing.set_untaken(&now, local_error.get());
        now
    });
    on_cleanup(move || {
        if let Some(path) = path.try_get_untracked() {
            editing.set_untaken(&path, None);
        }
    });
}

/// Follows changes of the plan's value from elsewhere (presets, imports,
/// links, undo), but never overwrites what the person is typing when it
/// already means the same value.
fn follow_canonical(
    canonical: Signal<Option<String>>,
    text: RwSignal<String>,
    local_error: RwSignal<Option<String>>,
    emptied_to: StoredValue<Option<String>>,
) {
    Effect::new(move |_| {
        let current = canonical.get().unwrap_or_default();
        let same = text.with_untracked(|typed| {
            typed.trim() == current
                || (typed.trim().is_empty()
                    && emptied_to
                        .with_value(|emptied| emptied.as_deref() == Some(current.as_str())))
                || (parse_decimal(typed).ok().flatten().is_some()
                    && parse_decimal(typed).ok() == parse_decimal(&current).ok())
        });
        if !same {
            text.set(current);
            local_error.set(None);
        }
    });
}

/// A one-line text field.
#[component]
pub fn TextField(
    #[prop(into)] id: String,
    #[prop(into)] label: Signal<String>,
    #[prop(into)] path: Signal<String>,
    #[prop(into)] value: Signal<String>,
    on_change: Callback<String>,
    #[prop(optional, into)] hint: Option<String>,
) -> impl IntoView {
    let problems_id = format!("{id}-problems");
    let frame_id = id.clone();
    let invalid = has_error(path);
    view! {
        <FieldFrame id=frame_id label=label path=path hint=hint>
            <input
                id=id
                type="text"
                autocomplete="off"
                spellcheck="false"
                prop:value=move || value.get()
                aria-describedby=problems_id
                aria-invalid=move || invalid.get().to_string()
                on:input=move |event| on_change.run(event_target_value(&event))
            />
        </FieldFrame>
    }
}

/// A drop-down of `(value, label)` options.
#[component]
pub fn SelectField(
    #[prop(into)] id: String,
    #[prop(into)] label: Signal<String>,
    #[prop(into)] path: Signal<String>,
    options: Vec<(String, String)>,
    #[prop(into)] value: Signal<String>,
    on_change: Callback<String>,
    #[prop(optional, into)] hint: Option<String>,
) -> impl IntoView {
    let problems_id = format!("{id}-problems");
    let frame_id = id.clone();
    view! {
        <FieldFrame id=frame_id label=label path=path hint=hint>
            <select
                id=id
                aria-describedby=problems_id
                on:change=move |event| on_change.run(event_target_value(&event))
                prop:value=move || value.get()
            >
                {options
                    .into_iter()
                    .map(|(option, text)| {
                        let selected_value = option.clone();
                        view! {
                            <option value=option selected=move || value.get() == selected_value>
                                {text}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </FieldFrame>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_or_say_why_not() {
        assert_eq!(parse_whole(" 300 "), Ok(Some(300)));
        assert_eq!(parse_whole(""), Ok(None));
        assert_eq!(parse_whole("-5"), Ok(Some(-5)));
        assert_eq!(
            parse_whole("1.5"),
            Err("`1.5` is not a whole number".into())
        );
        assert_eq!(
            parse_whole("abc"),
            Err("`abc` is not a whole number".into())
        );
        assert_eq!(parse_decimal("0.05"), Ok(Some(0.05)));
        assert_eq!(parse_decimal("1e4"), Ok(Some(10_000.0)));
        assert_eq!(parse_decimal("NaN"), Err("`NaN` is not a number".into()));
        assert_eq!(parse_decimal("inf"), Err("`inf` is not a number".into()));
    }
}
