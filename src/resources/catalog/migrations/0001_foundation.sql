-- The catalog of henji: people, documents, head pointers, the revision index and the audit
-- chain. Content lives in the object store; this is the index over it. Portable SQL (SQLite
-- now, PostgreSQL planned): TEXT times in RFC 3339 UTC, no AUTOINCREMENT, no JSON operators.

CREATE TABLE departments (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    department     TEXT NOT NULL REFERENCES departments (code),
    roles          TEXT NOT NULL,          -- comma-separated role words
    clearance      TEXT NOT NULL,
    color          TEXT NOT NULL,
    created_at     TEXT NOT NULL
);

-- Bearer tokens are stored only as SHA-256 digests.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE documents (
    id                   TEXT PRIMARY KEY,
    kind                 TEXT NOT NULL,
    title                TEXT NOT NULL,
    department           TEXT NOT NULL REFERENCES departments (code),
    classification       TEXT NOT NULL,
    classification_rank  INTEGER NOT NULL,
    urgency              TEXT NOT NULL,
    state                TEXT NOT NULL,
    fields               TEXT NOT NULL,   -- JSON object of the head revision
    attachments          TEXT NOT NULL,   -- JSON array of the head revision
    head_revision        TEXT NOT NULL,
    revision_count       INTEGER NOT NULL,
    created_at           TEXT NOT NULL,
    created_by           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    deleted_at           TEXT,
    deleted_by           TEXT
);
CREATE INDEX documents_by_department ON documents (department, id);

-- One row per revision; (document_id, seq) and (document_id, parent) being unique is what makes
-- a fork in a document's history impossible, whatever the application does.
CREATE TABLE revisions (
    id           TEXT PRIMARY KEY,
    document_id  TEXT NOT NULL REFERENCES documents (id),
    seq          INTEGER NOT NULL,
    parent       TEXT,
    author       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    note         TEXT,
    body_sha256  TEXT,
    body_chars   BIGINT,
    UNIQUE (document_id, seq),
    UNIQUE (document_id, parent)
);

-- Which documents refer to which blobs: a blob is readable by whoever may read one of them.
CREATE TABLE document_blobs (
    document_id  TEXT NOT NULL REFERENCES documents (id),
    sha256       TEXT NOT NULL,
    name         TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    PRIMARY KEY (document_id, sha256)
);
CREATE INDEX document_blobs_by_sha256 ON document_blobs (sha256);

CREATE TABLE blobs (
    sha256      TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    created_at  TEXT NOT NULL
);

-- Each event's hash covers the previous event's hash (see domain::audit).
CREATE TABLE audit_events (
    seq          BIGINT PRIMARY KEY,
    at           TEXT NOT NULL,
    username     TEXT,
    action       TEXT NOT NULL,
    object       TEXT NOT NULL,
    document_id  TEXT,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_events_by_document ON audit_events (document_id, seq);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
