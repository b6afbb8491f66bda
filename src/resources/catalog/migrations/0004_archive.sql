-- Archive records (归档). Item numbers count from 1 within (fonds, year, retention, department);
-- the unique constraint is what makes a repeated number impossible whatever the application
-- does. A disposed record stays as a tombstone: number, digests and who disposed of it, why.

CREATE TABLE archive_records (
    archive_no       TEXT PRIMARY KEY,
    document_id      TEXT NOT NULL UNIQUE REFERENCES documents (id),
    fonds            TEXT NOT NULL,
    year             INTEGER NOT NULL,
    retention        TEXT NOT NULL,    -- permanent, 30y, 10y
    department       TEXT NOT NULL,
    item             BIGINT NOT NULL,
    category         TEXT,
    head_revision    TEXT NOT NULL,
    archived_at      TEXT NOT NULL,
    archived_by      TEXT NOT NULL,
    expires_at       TEXT,             -- NULL: permanent
    disposed_at      TEXT,
    disposed_by      TEXT,
    disposal_reason  TEXT,
    UNIQUE (fonds, year, retention, department, item)
);
CREATE INDEX archive_records_by_department ON archive_records (department, year);

-- Blobs deleted by a disposal: `henji verify` counts them as accounted for, not missing.
CREATE TABLE disposed_blobs (
    sha256       TEXT PRIMARY KEY,
    archive_no   TEXT NOT NULL,
    disposed_at  TEXT NOT NULL
);

-- Fixity checks (manual and scheduled) and what they found.
CREATE TABLE fixity_runs (
    started_at         TEXT PRIMARY KEY,
    finished_at        TEXT NOT NULL,
    trigger_name       TEXT NOT NULL,   -- schedule, api, cli
    blobs_checked      BIGINT NOT NULL,
    bytes_checked      BIGINT NOT NULL,
    manifests_checked  BIGINT NOT NULL,
    bad_count          BIGINT NOT NULL,
    first_bad          TEXT
);
