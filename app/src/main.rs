//! Browser entry point: mounts the planner. Without the `csr` feature (native
//! builds, `cargo test --workspace`) it does nothing.

fn main() {
    #[cfg(feature = "csr")]
    {
        console_error_panic_hook::set_once();
        // The same bundle is the what-if's analysis worker.
        if guardrail_app::analysis::worker::in_worker() {
            guardrail_app::analysis::worker::register();
            return;
        }
        leptos::mount::mount_to_body(guardrail_app::App);
    }
}
