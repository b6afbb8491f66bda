//! Resources: the object store (content and manifests) and the SQL catalog. Each sits behind a
//! small type whose backend is chosen by a URL, not by code.

pub mod blob_store;
pub mod catalog;
