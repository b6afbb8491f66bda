//! henji (痕迹, "traces"): official documents as content-addressed revisions in object storage.
//!
//! The layers, each a folder; arrows point one way, access → services → domain ← resources:
//! - [`http`] and [`cli`]: access. Parse, authenticate, render, map errors; no decisions.
//! - [`services`]: the use cases and the only way in; each asks the domain before it acts.
//! - [`domain`]: plain types and pure rules (ids, manifests, permissions and state rules,
//!   routes, archive numbers, the audit chain). No I/O.
//! - [`resources`]: the object store, the SQL catalog, the search index and the keyring.

pub mod cli;
pub mod domain;
pub mod http;
pub mod resources;
pub mod services;
pub mod telemetry;
pub mod web;

#[cfg(test)]
mod layers;

use std::future::Future;
use std::io::Write;

use services::Henji;

/// Serves on a bound listener until `shutdown` resolves, then finishes requests in flight.
/// Prints `listening on http://ADDR` to standard output once connections are accepted.
pub async fn serve_on(listener: tokio::net::TcpListener, henji: Henji, max_body: usize, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let app = http::router(henji.clone(), max_body);
    tracing::info!(%addr, store = henji.store_description(), "henji is listening");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        writeln!(out, "web desk (办公桌面): http://{addr}/   API: http://{addr}/api/v1/openapi.json")?;
        out.flush()?;
    }
    // The peer's address limits sign-in attempts per address.
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).with_graceful_shutdown(shutdown).await?;
    henji.close().await;
    Ok(())
}
