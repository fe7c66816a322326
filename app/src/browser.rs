//! The few browser facilities the planner needs: the URL fragment, local storage,
//! the clipboard, downloads and a clock. Outside the browser (native tests) they
//! do nothing, so the rest of the app stays testable.

#[cfg(feature = "csr")]
mod imp {
    use wasm_bindgen::JsCast;

    fn window() -> Option<web_sys::Window> {
        web_sys::window()
    }

    /// The URL fragment without its `#`.
    pub fn fragment() -> String {
        window()
            .and_then(|window| window.location().hash().ok())
            .map(|hash| hash.trim_start_matches('#').to_string())
            .unwrap_or_default()
    }

    /// Work to do once the page has been quiet for a while: gloo's timeout,
    /// cancelled when dropped (so replacing one debounces).
    pub type Later = gloo_timers::callback::Timeout;

    /// Runs `work` after `ms` milliseconds, unless the returned value is
    /// dropped first.
    pub fn later(ms: u32, work: impl FnOnce() + 'static) -> Later {
        gloo_timers::callback::Timeout::new(ms, work)
    }

    /// Replaces the URL fragment without adding a history entry.
    pub fn replace_fragment(fragment: &str) {
        if let Some(history) = window().and_then(|window| window.history().ok()) {
            let url = format!("#{fragment}");
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }

    /// gloo's local storage, when the browser offers one (it throws, rather
    /// than fails, when storage is switched off).
    fn storage() -> Option<()> {
        window()?.local_storage().ok()?.map(|_| ())
    }

    /// The value stored as JSON under `key`, if it reads as a `T` (read by
    /// the core's one JSON reader, not gloo's).
    pub fn storage_get<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
        use gloo_storage::Storage;
        storage()?;
        let text = gloo_storage::LocalStorage::raw().get_item(key).ok()??;
        guardrail_core::json::from_json(&text).ok()
    }

    /// Stores `value` as JSON under `key` (written by the core's one JSON
    /// writer, not gloo's).
    pub fn storage_set<T: serde::Serialize>(key: &str, value: &T) {
        use gloo_storage::Storage;
        if storage().is_some() {
            let text = guardrail_core::json::to_json(value);
            let _ = gloo_storage::LocalStorage::raw().set_item(key, &text);
        }
    }

    /// The value stored as JSON under `key` for this tab (session storage).
    pub fn session_get<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
        use gloo_storage::Storage;
        window()?.session_storage().ok()??;
        let text = gloo_storage::SessionStorage::raw().get_item(key).ok()??;
        guardrail_core::json::from_json(&text).ok()
    }

    /// Stores `value` as JSON under `key` for this tab.
    pub fn session_set<T: serde::Serialize>(key: &str, value: &T) {
        use gloo_storage::Storage;
        if window()
            .and_then(|window| window.session_storage().ok())
            .flatten()
            .is_some()
        {
            let text = guardrail_core::json::to_json(value);
            let _ = gloo_storage::SessionStorage::raw().set_item(key, &text);
        }
    }

    /// Copies text; returns false when the browser refuses.
    pub fn copy(text: &str) -> bool {
        match window() {
            Some(window) => {
                let _ = window.navigator().clipboard().write_text(text);
                true
            }
            None => false,
        }
    }

    /// Offers `text` as a file download.
    pub fn download(file_name: &str, text: &str) {
        let Some(document) = window().and_then(|window| window.document()) else {
            return;
        };
        let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("text/plain;charset=utf-8");
        let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
            return;
        };
        let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
            return;
        };
        if let Some(anchor) = document
            .create_element("a")
            .ok()
            .and_then(|element| element.dyn_into::<web_sys::HtmlAnchorElement>().ok())
        {
            anchor.set_href(&url);
            anchor.set_download(file_name);
            anchor.click();
        }
        let _ = web_sys::Url::revoke_object_url(&url);
    }

    /// Moves keyboard focus to the first input of the field that edits `path`.
    pub fn focus_path(path: &str) {
        let Some(document) = window().and_then(|window| window.document()) else {
            return;
        };
        let selector = format!(
            "[data-path=\"{}\"] input, [data-path=\"{}\"] select",
            path.replace('"', ""),
            path.replace('"', "")
        );
        if let Ok(Some(element)) = document.query_selector(&selector) {
            if let Ok(element) = element.dyn_into::<web_sys::HtmlElement>() {
                let _ = element.focus();
            }
        }
    }

    /// Moves keyboard focus to the element `id`.
    pub fn focus_id(id: &str) {
        let element = window()
            .and_then(|window| window.document())
            .and_then(|document| document.get_element_by_id(id))
            .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok());
        if let Some(element) = element {
            let _ = element.focus();
        }
    }

    /// Loads the page again (its fragment decides what it opens).
    pub fn reload() {
        if let Some(window) = window() {
            let _ = window.location().reload();
        }
    }

    /// Opens `url` in this tab.
    pub fn open(url: &str) {
        if let Some(window) = window() {
            let _ = window.location().set_href(url);
        }
    }

    /// The page's address without its fragment.
    pub fn page_url() -> String {
        window()
            .map(|window| {
                let location = window.location();
                format!(
                    "{}{}{}",
                    location.origin().unwrap_or_default(),
                    location.pathname().unwrap_or_default(),
                    location.search().unwrap_or_default()
                )
            })
            .unwrap_or_default()
    }

    /// The window's width in CSS pixels.
    pub fn viewport_width() -> f64 {
        window()
            .and_then(|window| window.inner_width().ok())
            .and_then(|width| width.as_f64())
            .unwrap_or(f64::INFINITY)
    }

    /// A User Timing mark (`performance.mark`), for benchmarks to read.
    pub fn mark(name: &str) {
        if let Some(performance) = window().and_then(|window| window.performance()) {
            let _ = performance.mark(name);
        }
    }

    /// Milliseconds from the page's start, for timings.
    pub fn now_ms() -> f64 {
        window()
            .and_then(|window| window.performance())
            .map(|performance| performance.now())
            .unwrap_or(0.0)
    }
}

#[cfg(not(feature = "csr"))]
mod imp {
    pub struct Later;
    /// Outside the browser there is no page to wait for: run it now.
    pub fn later(_ms: u32, work: impl FnOnce() + 'static) -> Later {
        work();
        Later
    }
    pub fn fragment() -> String {
        String::new()
    }
    pub fn replace_fragment(_fragment: &str) {}
    pub fn storage_get<T>(_key: &str) -> Option<T> {
        None
    }
    pub fn storage_set<T>(_key: &str, _value: &T) {}
    pub fn session_get<T>(_key: &str) -> Option<T> {
        None
    }
    pub fn session_set<T>(_key: &str, _value: &T) {}
    pub fn copy(_text: &str) -> bool {
        false
    }
    pub fn download(_file_name: &str, _text: &str) {}
    pub fn focus_path(_path: &str) {}
    pub fn focus_id(_id: &str) {}
    pub fn reload() {}
    pub fn open(_url: &str) {}
    pub fn page_url() -> String {
        String::new()
    }
    pub fn now_ms() -> f64 {
        0.0
    }
    pub fn mark(_name: &str) {}
    /// No window: charts at their widest.
    pub fn viewport_width() -> f64 {
        f64::INFINITY
    }
}

pub use imp::*;
