-- Identity: organisations, teams, principals (users, service accounts, agents),
-- team membership, API keys (hashes only) and grants.
-- Rolling upgrades: later migrations only add; a column is dropped only in a release
-- after the one that stopped reading it.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  DOUBLE PRECISION NOT NULL
);

CREATE TABLE teams (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    name        TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE principals (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs(id),
    kind          TEXT NOT NULL CHECK (kind IN ('user', 'service_account', 'agent')),
    name          TEXT NOT NULL,
    email         TEXT,
    external_id   TEXT,
    role          TEXT CHECK (role IN ('org_admin', 'auditor', 'viewer')),
    owner_id      TEXT REFERENCES principals(id),
    purpose       TEXT,
    on_behalf_of  TEXT CHECK (on_behalf_of IN ('required', 'optional', 'forbidden')),
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    DOUBLE PRECISION NOT NULL,
    UNIQUE (org_id, kind, name)
);

CREATE INDEX principals_external_id ON principals (external_id);

CREATE TABLE team_members (
    team_id       TEXT NOT NULL REFERENCES teams(id),
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    role          TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'team_admin')),
    PRIMARY KEY (team_id, principal_id)
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    prefix        TEXT NOT NULL UNIQUE,
    digest        TEXT NOT NULL UNIQUE,
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    name          TEXT NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL,
    expires_at    DOUBLE PRECISION,
    revoked_at    DOUBLE PRECISION,
    rotated_from  TEXT REFERENCES api_keys(id),
    created_by    TEXT
);

CREATE INDEX api_keys_principal ON api_keys (principal_id);

CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs(id),
    subject_type  TEXT NOT NULL CHECK (subject_type IN ('principal', 'team')),
    subject_id    TEXT NOT NULL,
    models        TEXT NOT NULL,
    endpoints     TEXT NOT NULL,
    max_tokens    INTEGER,
    data_classes  TEXT,
    regions       TEXT,
    created_at    DOUBLE PRECISION NOT NULL,
    created_by    TEXT
);

CREATE INDEX grants_subject ON grants (subject_type, subject_id);

-- Bumped in the same transaction as every identity change: a gateway process reloads
-- its in-process snapshot when it sees a new revision (PostgreSQL also NOTIFYs).
CREATE TABLE identity_revision (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    revision  BIGINT NOT NULL
);

INSERT INTO identity_revision (id, revision) VALUES (1, 0);
