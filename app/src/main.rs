//! Browser entry point: mounts the planner. Without the `csr` feature (native
//! builds, `cargo test --workspace`) it does nothing.

fn main() {
    #[cfg(feature = "csr")]
    {
        console_error_panic_hook::set_once();
        leptos::mount::mount_to_body(guardrail_app::App);
    }
}
