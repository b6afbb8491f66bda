//! Whether the parts of the service answer (`/healthz`).

use serde::Serialize;
use utoipa::ToSchema;

use super::Henji;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `degraded` (search is rebuilding or failed; the rest works) or `unavailable`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<&'static str>,
    /// The search index: `rebuilding` (a new one is being built; search answers from the old
    /// one, or with 503 when there is none) or `failed`; absent when it is fine.
    #[serde(rename = "index", skip_serializing_if = "Option::is_none")]
    pub search: Option<&'static str>,
}

impl Health {
    /// Whether the service can take requests (search aside).
    pub fn available(&self) -> bool {
        self.status != "unavailable"
    }
}

impl Henji {
    /// Pings the catalog and the object store, and reports the search index's state.
    pub async fn health(&self) -> Health {
        let catalog_ok = self.catalog.ping().await.is_ok();
        let store_ok = self.blobs.ping().await.is_ok();
        let search = self.search_health();
        if catalog_ok && store_ok {
            let status = if search.is_some() { "degraded" } else { "ok" };
            return Health { status, catalog: None, store: None, search };
        }
        let state = |ok: bool| Some(if ok { "ok" } else { "unreachable" });
        Health { status: "unavailable", catalog: state(catalog_ok), store: state(store_ok), search }
    }
}
