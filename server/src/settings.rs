//! Where guardrail keeps its data and finds the built planner.

use std::path::PathBuf;

/// The data directory: `--data-dir`, else `GUARDRAIL_DATA_DIR` (both handled by
/// clap), else `$XDG_DATA_HOME/guardrail`, else `~/.local/share/guardrail`, else
/// `.guardrail` in the working directory.
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|value| !value.is_empty()) {
        return PathBuf::from(xdg).join("guardrail");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|value| !value.is_empty()) {
        return PathBuf::from(home).join(".local/share/guardrail");
    }
    PathBuf::from(".guardrail")
}

/// The Trunk output: `GUARDRAIL_DIST` (via clap), else `dist/` of this checkout,
/// else `dist/` in the working directory.
pub fn default_dist_dir() -> PathBuf {
    let checkout = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist"));
    if checkout.join("index.html").exists() {
        checkout
    } else {
        PathBuf::from("dist")
    }
}
