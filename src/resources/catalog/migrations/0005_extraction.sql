-- Text extraction (OCR of scans, text of PDFs, OFD and Word), one job per stored blob: a scan
-- uploaded twice is read once. The text itself is an object in the store
-- (`extracted/<sha256>/<engine>.json`, sealed like its source); the job row says how far the
-- reading is, and the digest of the text object `henji verify` checks.

CREATE TABLE extraction_jobs (
    sha256        TEXT PRIMARY KEY,   -- the blob as stored (sealed bytes, when sealed)
    document_id   TEXT NOT NULL,      -- a document that has it: whose data key opens it
    name          TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    sealed_base   TEXT,               -- set when the blob is sealed
    state         TEXT NOT NULL,      -- queued, running, done, failed, unsupported
    engine        TEXT,               -- the engine and version that read it
    pages         BIGINT NOT NULL DEFAULT 0,
    pages_done    BIGINT NOT NULL DEFAULT 0,
    attempts      BIGINT NOT NULL DEFAULT 0,
    not_before    TEXT NOT NULL,      -- a retry waits until then
    reason        TEXT,               -- why it failed
    text_sha256   TEXT,               -- the text object's digest, once done
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX extraction_jobs_queue ON extraction_jobs (state, not_before, created_at);
