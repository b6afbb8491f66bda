-- Encryption at rest. Data keys (one per document, and one for the sealed search index) are
-- stored only wrapped by a key-encryption key; the keys themselves never enter the catalog.

-- One sealed known value per key-encryption key, so a start with a wrong key stops before it
-- touches anything.
CREATE TABLE key_checks (
    kek_id       TEXT PRIMARY KEY,
    check_value  TEXT NOT NULL,     -- base64
    added_at     TEXT NOT NULL
);

-- `owner` is a document id, or `index` for the sealed search index. A destroyed key keeps its
-- row (who, when) but not its bytes: what it sealed can never be opened again.
CREATE TABLE data_keys (
    owner         TEXT PRIMARY KEY,
    kek_id        TEXT NOT NULL,
    wrapped       TEXT NOT NULL,    -- base64; empty once destroyed
    created_at    TEXT NOT NULL,
    destroyed_at  TEXT
);
CREATE INDEX data_keys_by_kek ON data_keys (kek_id);

-- Sensitive fields of the head revision, sealed: JSON {"base": revision or "root", "values": {name: base64}}.
ALTER TABLE documents ADD COLUMN sealed_fields TEXT NOT NULL DEFAULT '';
-- Where a sealed body or attachment was sealed (its associated data); NULL for plain blobs.
ALTER TABLE revisions ADD COLUMN body_sealed_base TEXT;
ALTER TABLE document_blobs ADD COLUMN sealed_role TEXT;
ALTER TABLE document_blobs ADD COLUMN sealed_base TEXT;
