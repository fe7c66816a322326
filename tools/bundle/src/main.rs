//! Builds the planner into `dist/`, as `trunk build --release` did:
//!
//! 1. `cargo build` of `guardrail-app` for `wasm32-unknown-unknown` with the
//!    `csr` feature and the `wasm-release` profile, linked with relocations
//!    (`--emit-relocs`);
//! 2. the Wasm split at the planner's `#[lazy]` functions, as cargo-leptos
//!    does (`wasm_split_cli_support`): the main module, a chunk for each lazily
//!    loaded view (and chunks of what they share), and the script that loads
//!    them, which the bindings import;
//! 3. wasm-bindgen's JavaScript bindings for the web, from the library the CLI
//!    is made of (`wasm-bindgen-cli-support`, at the workspace's version), so
//!    that nothing is installed from source besides the workspace's own build;
//! 4. `index.html` with Trunk's `<link data-trunk …>` elements replaced: the
//!    module script that starts the planner, the stylesheet (with its
//!    integrity), and `modulepreload`/`preload` links for the script and the
//!    Wasm (the analysis worker finds its script by that `modulepreload` link);
//! 5. `public/` copied;
//! 6. the Wasm and its chunks, the scripts, the stylesheet and the page
//!    gzipped beside themselves (`.gz`, level 9), which the server sends to a browser that
//!    accepts gzip. Not brotli: on loopback, where guardrail serves, Chromium
//!    had the first chart 20 to 90 ms later with brotli than with the raw
//!    Wasm, and no later with gzip (BENCHMARKS.md, "Bundle size").
//!
//! File names carry a hash of their content, and the new `dist/` replaces the
//! old one whole.
//!
//! ```sh
//! cargo run -p guardrail-bundle --bin bundle            # into dist/
//! cargo run -p guardrail-bundle --bin bundle -- --dist other/
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384};

/// The planner's crate and binary.
const APP: &str = "guardrail-app";
const PROFILE: &str = "wasm-release";
const TARGET: &str = "wasm32-unknown-unknown";

fn main() -> ExitCode {
    match run() {
        Ok(dist) => {
            eprintln!("bundle: the planner is in {}", dist.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bundle: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().context("the workspace")?;
    let mut dist = root.join("dist");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dist" => dist = PathBuf::from(args.next().context("--dist needs a directory")?),
            other => bail!("unknown argument {other:?} (only --dist DIR)"),
        }
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    build_wasm(&root)?;
    let wasm = target_dir
        .join(TARGET)
        .join(PROFILE)
        .join(format!("{APP}.wasm"));
    let staging = target_dir.join("bundle-staging");
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("clearing {}", staging.display()))?;
    }
    fs::create_dir_all(&staging)?;
    let template = fs::read_to_string(root.join("index.html")).context("index.html")?;
    let html = assemble(&root, &wasm, &staging, &template)?;
    fs::write(staging.join("index.html"), html)?;
    precompress(&staging)?;
    if dist.exists() {
        fs::remove_dir_all(&dist).with_context(|| format!("replacing {}", dist.display()))?;
    }
    fs::rename(&staging, &dist)
        .with_context(|| format!("moving the bundle to {}", dist.display()))?;
    Ok(dist)
}

/// `cargo build` of the planner for the browser, as Trunk ran it.
fn build_wasm(root: &Path) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "-p",
            APP,
            "--bin",
            APP,
            "--target",
            TARGET,
            "--profile",
            PROFILE,
        ])
        .args(["--no-default-features", "--features", "csr"])
        // Relocations in the linked Wasm: what `split` reads to move code
        // into chunks.
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            "-Clink-args=--emit-relocs",
        )
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo build of the planner failed ({status})");
    }
    Ok(())
}

/// Writes the bindings, stylesheet and `public/` into `out` and returns the
/// page, from Trunk's template.
fn assemble(root: &Path, wasm: &Path, out: &Path, template: &str) -> Result<String> {
    let input = fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let name = format!("{APP}-{}", short_hash(&input));
    let main = split(&input, &name, out)?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(main.as_deref().unwrap_or(wasm))
        .web(true)?
        .typescript(false)
        .keep_lld_exports(main.is_some())
        .remove_name_section(true)
        .remove_producers_section(true)
        .out_name(&name)
        .generate(out)
        .context("wasm-bindgen")?;
    if let Some(main) = main {
        fs::remove_file(main)?;
    }
    let script = format!("{name}.js");
    let module = format!("{name}_bg.wasm");
    let mut head_end = vec![
        preload_link("modulepreload", &script, &fs::read(out.join(&script))?, ""),
        preload_link(
            "preload",
            &module,
            &fs::read(out.join(&module))?,
            r#" as="fetch" type="application/wasm""#,
        ),
    ];
    let mut replace = |link: &TrunkLink| -> Result<String> {
        match link.rel.as_str() {
            "rust" => Ok(start_script(&script, &module)),
            "css" => {
                let css = fs::read(root.join(&link.href)).with_context(|| link.href.clone())?;
                let stem = Path::new(&link.href)
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .unwrap_or("style");
                let file = format!("{stem}-{}.css", short_hash(&css));
                fs::write(out.join(&file), &css)?;
                Ok(format!(
                    r#"<link rel="stylesheet" href="/{file}" integrity="{}"/>"#,
                    integrity(&css)
                ))
            }
            "copy-dir" => {
                copy_dir(&root.join(&link.href), &out.join(&link.href))?;
                Ok(String::new())
            }
            other => bail!("index.html: a data-trunk link with rel={other:?} is not built here"),
        }
    };
    let mut page = rewrite_links(template, &mut replace)?;
    head_end.push("</head>".into());
    let Some(at) = page.find("</head>") else {
        bail!("index.html has no </head>");
    };
    page.replace_range(at..at + "</head>".len(), &head_end.concat());
    Ok(page)
}

/// Splits the planner at its `#[lazy]` functions (Leptos's, through
/// `wasm_split`), as cargo-leptos does: the main module, for wasm-bindgen,
/// in `out` (returned, `None` when the Wasm has no split point), each lazily
/// loaded chunk beside it as `STEM-HASH.wasm`, and the script that loads
/// them as `NAME-split.js`, which the bindings import. The chunks' names carry
/// a hash of their content, as every file of the bundle does.
fn split(input: &[u8], name: &str, out: &Path) -> Result<Option<PathBuf>> {
    const SPLIT_SECTION: &[u8] = b"__wasm_split_unstable";
    if !input
        .windows(SPLIT_SECTION.len())
        .any(|window| window == SPLIT_SECTION)
    {
        return Ok(None);
    }
    let main = out.join(format!("{name}-unbound.wasm"));
    let main_module = format!("./{name}.js");
    let link = format!("./{name}-split.js");
    let mut options = wasm_split_cli_support::Options::new(input);
    options.output_dir = out;
    options.main_out_path = &main;
    options.main_module = &main_module;
    options.link_name = &link;
    let split = wasm_split_cli_support::transform(options)
        .map_err(|error| anyhow::anyhow!("splitting the planner's Wasm: {error:#}"))?;
    let link_path = out.join(&link);
    let mut script = fs::read_to_string(&link_path).context("the split loader")?;
    for chunk in &split.split_modules {
        let stem = chunk
            .file_stem()
            .and_then(|stem| stem.to_str())
            .context("a chunk's name")?;
        let hashed = format!("{stem}-{}.wasm", short_hash(&fs::read(chunk)?));
        let quoted = format!("\"./{stem}.wasm\"");
        if !script.contains(&quoted) {
            bail!("the split loader does not load {stem}.wasm");
        }
        script = script.replace(&quoted, &format!("\"./{hashed}\""));
        fs::rename(chunk, out.join(hashed))?;
    }
    fs::write(&link_path, script)?;
    Ok(Some(main))
}

/// One `<link data-trunk …/>` element of the template.
#[derive(Debug, PartialEq)]
struct TrunkLink {
    rel: String,
    href: String,
}

/// `template` with each `<link data-trunk …>` element replaced by what
/// `replace` makes of it.
fn rewrite_links(
    template: &str,
    replace: &mut dyn FnMut(&TrunkLink) -> Result<String>,
) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("<link data-trunk") {
        out.push_str(&rest[..start]);
        let Some(length) = rest[start..].find('>') else {
            bail!("index.html: a data-trunk link is not closed");
        };
        let element = &rest[start..start + length + 1];
        let link = TrunkLink {
            rel: attribute(element, "rel").context("a data-trunk link without rel")?,
            href: attribute(element, "href").context("a data-trunk link without href")?,
        };
        out.push_str(&replace(&link)?);
        rest = &rest[start + length + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of `name="…"` in one element.
fn attribute(element: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = element.find(&marker)? + marker.len();
    let length = element[start..].find('"')?;
    Some(element[start..start + length].to_string())
}

/// The module script that starts the planner, as Trunk wrote it: the
/// bindings are `window.wasmBindings` (the browser benchmark calls them).
fn start_script(script: &str, module: &str) -> String {
    format!(
        "<script type=\"module\">\nimport init, * as bindings from '/{script}';\n\
         const wasm = await init({{ module_or_path: '/{module}' }});\n\
         window.wasmBindings = bindings;\n\
         dispatchEvent(new CustomEvent(\"TrunkApplicationStarted\", {{detail: {{wasm}}}}));\n</script>"
    )
}

fn preload_link(rel: &str, file: &str, content: &[u8], extra: &str) -> String {
    format!(
        r#"<link rel="{rel}" href="/{file}" crossorigin="anonymous" integrity="{}"{extra}>"#,
        integrity(content)
    )
}

/// Subresource Integrity: `sha384-` and the digest in base64.
fn integrity(content: &[u8]) -> String {
    let digest = Sha384::digest(content);
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// 16 hex digits of the content's SHA-256: a file name that changes with it.
fn short_hash(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The extensions compressed beside themselves: the page and what it loads
/// (the Wasm, its chunks, the scripts, the stylesheet).
const COMPRESSED: [&str; 4] = ["wasm", "js", "css", "html"];

/// Writes `NAME.gz` beside each file of `dir` (not below it) whose
/// extension is in [`COMPRESSED`]. Its content is fixed by the file's, so a
/// rebuild of the same code writes the same bytes.
fn precompress(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(extension) = path
            .extension()
            .and_then(|extension| extension.to_str())
            .filter(|extension| COMPRESSED.contains(extension))
        else {
            continue;
        };
        if !path.is_file() {
            continue;
        }
        let content = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        fs::write(
            path.with_extension(format!("{extension}.gz")),
            gzipped(&content)?,
        )?;
    }
    Ok(())
}

/// `content` gzipped at level 9.
fn gzipped(content: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(content)?;
    Ok(gzip.finish()?)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_trunk_links_are_replaced_and_the_rest_kept() {
        let template =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index.html"))
                .expect("index.html");
        let mut seen = Vec::new();
        let page = rewrite_links(&template, &mut |link| {
            seen.push((link.rel.clone(), link.href.clone()));
            Ok(format!("[{}]", link.rel))
        })
        .expect("rewrites");
        assert_eq!(
            seen,
            [
                ("rust".to_string(), "app/Cargo.toml".to_string()),
                ("css".into(), "style/main.css".into()),
                ("copy-dir".into(), "public".into()),
            ]
        );
        assert!(!page.contains("data-trunk"), "{page}");
        assert!(page.contains("[rust]") && page.contains("[css]"));
        // What is not Trunk's stays as it was: the console-error hook the
        // browser tests read.
        assert!(page.contains("window.__guardrailErrors = [];"));
        assert!(page.contains(r#"<link rel="icon" href="/public/favicon.svg""#));
    }

    #[test]
    fn a_link_this_builder_does_not_know_is_an_error_that_names_it() {
        let error = rewrite_links(
            r#"<link data-trunk rel="sass" href="a.scss"/>"#,
            &mut |link| bail!("rel={:?} is not built here", link.rel),
        )
        .expect_err("refused");
        assert!(error.to_string().contains("\"sass\""), "{error}");
        let unclosed = rewrite_links("<link data-trunk rel=\"css\"", &mut |_| Ok(String::new()));
        assert!(unclosed.is_err());
    }

    #[test]
    fn what_the_page_loads_is_compressed_beside_itself_and_decompresses_to_it() {
        use std::io::Read as _;
        let dir = std::env::temp_dir().join(format!("bundle-precompress-{}", std::process::id()));
        fs::create_dir_all(dir.join("public")).expect("dir");
        let script = "export function start() { return 'guardrail'; }\n".repeat(200);
        fs::write(dir.join("app-1.js"), &script).expect("write");
        fs::write(dir.join("favicon.svg"), "<svg/>").expect("write");
        fs::write(dir.join("public/inner.js"), "x").expect("write");
        precompress(&dir).expect("compresses");

        let gzip = fs::read(dir.join("app-1.js.gz")).expect("gz");
        assert!(gzip.len() < script.len() / 10);
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_string(&mut back)
            .expect("gzip decodes");
        assert_eq!(back, script);
        // Only what the page loads first, and not below the directory.
        assert!(!dir.join("favicon.svg.gz").exists());
        assert!(!dir.join("public/inner.js.gz").exists());
        fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn a_wasm_without_split_points_is_bound_whole() {
        let dir = std::env::temp_dir().join(format!("bundle-split-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        // A Wasm module's header alone: no `__wasm_split_unstable` section.
        let main = split(b"\0asm\x01\0\0\0", "app-1", &dir).expect("nothing to split");
        assert_eq!(main, None);
        assert_eq!(
            fs::read_dir(&dir).expect("dir").count(),
            0,
            "nothing written"
        );
        fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn integrity_is_sri_sha384_and_names_change_with_content() {
        // `printf abc | openssl dgst -sha384 -binary | base64`
        assert_eq!(
            integrity(b"abc"),
            "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn"
        );
        assert_eq!(short_hash(b"abc").len(), 16);
        assert_ne!(short_hash(b"abc"), short_hash(b"abd"));
    }
}
