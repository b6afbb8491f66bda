-- The official-document flow: routes, their task rows (the handling trail), distributions and
-- opinions. Task rows of earlier passes are history and are never changed again.

CREATE TABLE routes (
    document_id   TEXT PRIMARY KEY REFERENCES documents (id),
    template      TEXT,
    initiator     TEXT NOT NULL,
    steps         TEXT NOT NULL,      -- JSON array of step plans, assignees resolved
    status        TEXT NOT NULL,      -- active, returned, withdrawn, completed
    current_step  INTEGER NOT NULL,
    signed_by     TEXT,
    signed_at     TEXT,
    version       BIGINT NOT NULL,    -- bumped by every action: a lost race is a 409, never a double transition
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE tasks (
    document_id   TEXT NOT NULL REFERENCES documents (id),
    seq           BIGINT NOT NULL,
    step          INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    assignee      TEXT NOT NULL,
    on_behalf_of  TEXT,
    state         TEXT NOT NULL,      -- waiting, pending, done, skipped
    received_at   TEXT,
    handled_at    TEXT,
    action        TEXT,
    comment       TEXT,               -- sealed (base64) when the document is classified
    due_at        TEXT,
    PRIMARY KEY (document_id, seq)
);
CREATE INDEX tasks_by_assignee ON tasks (assignee, state);

-- 分发: departments that may read a finished document, read-only.
CREATE TABLE distributions (
    document_id     TEXT NOT NULL REFERENCES documents (id),
    department      TEXT NOT NULL REFERENCES departments (code),
    distributed_by  TEXT NOT NULL,
    distributed_at  TEXT NOT NULL,
    PRIMARY KEY (document_id, department)
);
CREATE INDEX distributions_by_department ON distributions (department);

-- 批示意见: append-only.
CREATE TABLE opinions (
    id              TEXT PRIMARY KEY,
    document_id     TEXT NOT NULL REFERENCES documents (id),
    author          TEXT NOT NULL,
    department      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    text            TEXT,             -- sealed (base64) when the document is classified
    sealed          INTEGER NOT NULL,
    ink_sha256      TEXT,
    ink_media_type  TEXT
);
CREATE INDEX opinions_by_document ON opinions (document_id, id);
