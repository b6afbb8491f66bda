//! Resources: the object store (content and manifests), the SQL catalog, the search index and
//! the keyring.
//! Each sits behind a small type whose backend is chosen by a URL or a folder, not by code.

pub mod blob_store;
pub mod catalog;
pub mod durability;
pub mod engines;
pub mod keyring;
pub mod search;
