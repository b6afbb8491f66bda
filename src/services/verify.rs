//! Verification of a whole installation (`henji verify`, `POST /api/v1/admin/fixity`): every
//! blob re-hashed against its name, every revision id re-derived from its manifest, every parent
//! link and head pointer checked against the catalog, every extracted text against its digest,
//! and the audit chain walked.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::audit::ChainReport;
use super::sealed::{SealedFields, open_fields};
use super::{Henji, ServiceError, ServiceResult};
use crate::domain::canonical::to_canonical_bytes;
use crate::resources::catalog::keys;
use crate::domain::ids::{DocumentId, RevisionId, Sha256Digest};
use crate::domain::manifest::RevisionManifest;
use crate::resources::catalog::documents as rows;

/// One object that failed a check, named so a person can find it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct BadObject {
    pub object: String,
    pub problem: String,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct FixityReport {
    pub blobs_checked: u64,
    pub bytes_checked: u64,
    pub bad: Vec<BadObject>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub blobs_checked: u64,
    pub bytes_checked: u64,
    pub manifests_checked: u64,
    pub revisions_checked: u64,
    /// Text extracted from attachments, each against the digest the catalog recorded.
    pub texts_checked: u64,
    pub audit_events: u64,
    /// Manifests no catalog row refers to: left by a crash between manifest and catalog write.
    pub unreferenced_manifests: u64,
    pub bad: Vec<BadObject>,
}

/// What the manifest pass of `verify` found.
#[derive(Default)]
struct ManifestPass {
    checked: u64,
    bad: Vec<BadObject>,
    /// (manifest, blob it names), to look for among the blobs that hashed right.
    references: Vec<(String, Sha256Digest)>,
    /// (document, revision) → parent.
    manifests: HashMap<(String, String), Option<String>>,
    /// Digests of the sealed fields of each manifest that has some, to hold the catalog's
    /// copy against without the key.
    sealed_fields: HashMap<(String, String), Sha256Digest>,
}

/// The path's document and revision ids, if it is a manifest's (`revisions/<doc>/<rev>.json`).
fn manifest_ids(object: &str) -> Option<(DocumentId, RevisionId)> {
    let names = object.split('/').collect::<Vec<_>>();
    match (names.first(), names.get(1), names.get(2), names.get(3)) {
        (Some(&"revisions"), Some(doc), Some(file), None) => Some((doc.parse().ok()?, file.strip_suffix(".json")?.parse().ok()?)),
        _ => None,
    }
}

impl Henji {
    /// Re-hashes every blob against its name.
    pub async fn fixity(&self) -> ServiceResult<(FixityReport, HashSet<Sha256Digest>)> {
        let mut report = FixityReport::default();
        let mut seen = HashSet::new();
        let mut checks = self.blobs.hash_all_blobs();
        while let Some(batch) = checks.next().await {
            for (path, outcome) in batch {
                report.blobs_checked += 1;
                let name = path.filename().unwrap_or_default().to_owned();
                match (outcome, name.parse::<Sha256Digest>()) {
                    (Ok((digest, size)), Ok(expected)) if digest == expected && crate::resources::blob_store::blob_path(&expected) == path => {
                        report.bytes_checked += size;
                        seen.insert(expected);
                    }
                    (Ok((digest, _)), _) => report.bad.push(BadObject { object: path.to_string(), problem: format!("content hashes to {digest}") }),
                    (Err(e), _) => report.bad.push(BadObject { object: path.to_string(), problem: format!("unreadable: {e}") }),
                }
            }
        }
        report.bad.sort_by(|a, b| a.object.cmp(&b.object));
        Ok((report, seen))
    }

    /// Manifests: name = digest of bytes, canonical, about the document whose folder holds
    /// them; the blobs they name are collected for the caller to look for.
    async fn read_manifests(&self) -> ServiceResult<ManifestPass> {
        let mut pass = ManifestPass::default();
        let mut fetches = self.blobs.read_all_manifests();
        while let Some(batch) = fetches.next().await {
            for (path, bytes) in batch {
                pass.checked += 1;
                let object = path.to_string();
                let Some((doc_id, rev_id)) = manifest_ids(&object) else {
                    pass.bad.push(BadObject { object, problem: "not a revision manifest path".into() });
                    continue;
                };
                let bytes = match bytes {
                    Ok(b) => b,
                    Err(e) => {
                        pass.bad.push(BadObject { object, problem: format!("unreadable: {e}") });
                        continue;
                    }
                };
                if RevisionId::of_manifest(&bytes) != rev_id {
                    pass.bad.push(BadObject { object, problem: "revision id does not re-derive from the manifest bytes".into() });
                    continue;
                }
                let manifest = match RevisionManifest::parse(&bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        pass.bad.push(BadObject { object, problem: e.to_string() });
                        continue;
                    }
                };
                if manifest.document != doc_id {
                    pass.bad.push(BadObject { object: object.clone(), problem: format!("manifest names document {}", manifest.document) });
                }
                for digest in manifest.blobs() {
                    pass.references.push((object.clone(), digest));
                }
                if !manifest.sealed_fields.is_empty() {
                    pass.sealed_fields.insert((doc_id.to_string(), rev_id.to_string()), fields_digest(&manifest.sealed_fields));
                }
                pass.manifests.insert((doc_id.to_string(), rev_id.to_string()), manifest.parent.map(|p| p.to_string()));
            }
        }
        // Read in no particular order; reported in one.
        pass.bad.sort_by(|a, b| a.object.cmp(&b.object));
        pass.references.sort();
        Ok(pass)
    }

    /// The full check behind `henji verify`.
    pub async fn verify(&self) -> ServiceResult<VerifyReport> {
        // Blobs, the audit chain, and manifests followed by the catalog are checked at the same
        // time, as three tasks rather than one joined future: each does real work (hashing,
        // parsing, catalog reads) and would otherwise wait for the others' turns on one thread.
        let joined = |e: tokio::task::JoinError| ServiceError::Internal(format!("verify: {e}"));
        let (henji_a, henji_b) = (self.clone(), self.clone());
        let history = tokio::spawn(async move { henji_a.verify_history().await });
        let chain = tokio::spawn(async move { henji_b.verify_audit_chain().await });
        let (fixity, blobs) = self.fixity().await?;
        let (mut report, references) = history.await.map_err(joined)??;
        let chain = chain.await.map_err(joined)??;
        // Blobs an archive disposal deleted on purpose: their tombstone keeps the digests.
        let disposed: HashSet<String> = crate::resources::catalog::documents::disposed_blobs(&mut *self.catalog.read().await?).await?.into_iter().collect();
        (report.blobs_checked, report.bytes_checked) = (fixity.blobs_checked, fixity.bytes_checked);
        let mut bad = fixity.bad;
        bad.append(&mut report.bad);
        for (object, digest) in references {
            if !blobs.contains(&digest) && !disposed.contains(&digest.to_hex()) {
                bad.push(BadObject { object, problem: format!("refers to blob {digest}, which is missing or damaged") });
            }
        }
        report.bad = bad;
        let (texts, mut texts_bad) = self.verify_texts().await?;
        report.texts_checked = texts;
        report.bad.append(&mut texts_bad);
        for (object, problem) in self.verify_anchors().await? {
            report.bad.push(BadObject { object, problem });
        }
        match chain {
            ChainReport::Intact { events } => report.audit_events = events,
            ChainReport::Broken { first_bad_seq } => report.bad.push(BadObject { object: format!("audit event {first_bad_seq}"), problem: "audit chain is broken at this event".into() }),
        }
        Ok(report)
    }

    /// Manifests, then the catalog against them: each document's revisions form one unbroken
    /// chain of stored manifests ending at its head, and sealed fields agree. Returns the
    /// report so far and the (manifest, blob) references for the caller to look for among the
    /// blobs that hashed right.
    async fn verify_history(&self) -> ServiceResult<(VerifyReport, Vec<(String, Sha256Digest)>)> {
        let ManifestPass { checked, bad, references, manifests, sealed_fields } = self.read_manifests().await?;
        let mut report = VerifyReport { manifests_checked: checked, bad, ..Default::default() };
        let mut referenced = 0u64;
        let mut after = (String::new(), 0i64);
        let mut previous: Option<(String, String)> = None;
        loop {
            let page = rows::all_revisions(&mut *self.catalog.read().await?, (&after.0, after.1), 1000).await?;
            let Some(last) = page.last() else { break };
            after = (last.document_id.clone(), last.seq);
            for r in &page {
                report.revisions_checked += 1;
                let object = format!("revisions/{}/{}.json", r.document_id, r.id);
                let expected_parent = match &previous {
                    Some((doc, id)) if *doc == r.document_id => Some(id.clone()),
                    _ => None,
                };
                match manifests.get(&(r.document_id.clone(), r.id.clone())) {
                    None => report.bad.push(BadObject { object, problem: "in the catalog but its manifest is missing or damaged".into() }),
                    Some(parent) => {
                        referenced += 1;
                        if *parent != r.parent || r.parent != expected_parent {
                            report.bad.push(BadObject { object, problem: "parent link does not match the document's history".into() });
                        }
                    }
                }
                previous = Some((r.document_id.clone(), r.id.clone()));
            }
        }
        for (document, head) in rows::documents_with_wrong_head(&mut *self.catalog.read().await?).await? {
            report.bad.push(BadObject { object: format!("document {document}"), problem: format!("head pointer {head} is not the newest revision in its history") });
        }
        report.unreferenced_manifests = (manifests.len() as u64).saturating_sub(referenced);
        self.verify_sealing(&sealed_fields, &mut report).await?;
        Ok((report, references))
    }

    /// The catalog's copy of each head's sealed fields is the manifest's; with the keys at
    /// hand, every data key unwraps and every sealed field of a head opens.
    async fn verify_sealing(&self, manifests: &HashMap<(String, String), Sha256Digest>, report: &mut VerifyReport) -> ServiceResult<()> {
        let mut after = String::new();
        loop {
            let page = rows::sealed_field_heads(&mut *self.catalog.read().await?, &after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.0.clone();
            for (document, head, text) in page {
                let object = format!("document {document} (catalog sealed fields)");
                let Ok(Some(sealed)) = SealedFields::parse(&text) else {
                    report.bad.push(BadObject { object, problem: "unreadable".into() });
                    continue;
                };
                if manifests.get(&(document.clone(), head.clone())) != Some(&fields_digest(&sealed.values)) {
                    report.bad.push(BadObject { object, problem: format!("differ from the sealed fields of head revision {head}") });
                    continue;
                }
                if self.keys.has_keyring() {
                    match self.data_key(&document).await {
                        Ok(key) => {
                            if let Err(field) = open_fields(&key, &document, &sealed.base, &sealed.values) {
                                report.bad.push(BadObject { object: format!("document {document} field {field}"), problem: "sealed value does not open".into() });
                            }
                        }
                        Err(ServiceError::Gone(_)) => {}
                        Err(e) => report.bad.push(BadObject { object: format!("data-key/{document}"), problem: e.to_string() }),
                    }
                }
            }
        }
        if self.keys.has_keyring() {
            let mut after = String::new();
            loop {
                let page = keys::live_keys(&mut *self.catalog.read().await?, &after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.owner.clone();
                for row in page {
                    if let Err(e) = self.data_key(&row.owner).await {
                        report.bad.push(BadObject { object: format!("data-key/{}", row.owner), problem: e.to_string() });
                    }
                }
            }
        }
        Ok(())
    }
}

fn fields_digest(fields: &serde_json::Map<String, serde_json::Value>) -> Sha256Digest {
    Sha256Digest::of(&to_canonical_bytes(&serde_json::Value::Object(fields.clone())))
}
