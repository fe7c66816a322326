//! The web server: the planner's static files, same-origin, with deep links
//! falling back to `index.html`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::routing::get;
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

/// Builds the router that serves the built planner from `dist`.
pub fn router(dist: &Path) -> Router {
    let index = dist.join("index.html");
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback_service(ServeDir::new(dist).fallback(ServeFile::new(index)))
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no built planner in {0}: run `scripts/run.sh` (or `trunk build --release --offline`) first")]
    NoDist(PathBuf),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves until the process is stopped. Binds to loopback only.
pub async fn serve(dist: PathBuf, port: u16) -> Result<(), ServeError> {
    if !dist.join("index.html").exists() {
        return Err(ServeError::NoDist(dist));
    }
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Bind { address, source })?;
    tracing::info!("guardrail serves http://{address}");
    eprintln!("guardrail: serving http://{address}");
    axum::serve(listener, router(&dist)).await?;
    Ok(())
}
