//! Views the planner's first load leaves out. Each is a Leptos `#[lazy]`
//! function, a chunk of its own in the browser (split out by `tools/bundle`)
//! that is fetched the first time the view is shown; natively it is a plain
//! async function.

use leptos::prelude::*;

/// Shows `view`, a `#[lazy]` function's future, once its chunk has loaded,
/// and `loading` until then.
pub fn lazily(
    view: impl std::future::Future<Output = AnyView> + Send + 'static,
    loading: &'static str,
) -> impl IntoView {
    view! {
        <Suspense fallback=move || view! { <p class="hint" id="view-loading">{loading}</p> }>
            {Suspend::new(view)}
        </Suspense>
    }
}
