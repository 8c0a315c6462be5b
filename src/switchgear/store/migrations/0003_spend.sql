-- The spend ledger: one row per request, written off the request path in batches.
-- depends: 0002_audit

-- No foreign keys: the ledger is history (it outlives the keys, principals and teams it
-- names, and config-file callers have no rows to point at), and a reference check per
-- row would cost every batch insert. request_id is the primary key so a batch retried
-- after an unacknowledged commit inserts nothing twice (INSERT … ON CONFLICT DO NOTHING).
-- day is 'YYYY-MM-DD' in the limits time zone at write time, so daily totals match the
-- budgets' daily periods.
CREATE TABLE spend_ledger (
    request_id           TEXT NOT NULL PRIMARY KEY,
    ts                   DOUBLE PRECISION NOT NULL,
    day                  TEXT NOT NULL,
    org_id               TEXT,
    principal_id         TEXT,
    principal_kind       TEXT,
    credential_id        TEXT,
    agent_id             TEXT,
    user_id              TEXT,
    team_id              TEXT,
    model                TEXT NOT NULL,
    provider             TEXT,
    deployment           TEXT,
    input_tokens         BIGINT NOT NULL DEFAULT 0,
    output_tokens        BIGINT NOT NULL DEFAULT 0,
    cached_input_tokens  BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens   BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens     BIGINT NOT NULL DEFAULT 0,
    cost_nano            BIGINT NOT NULL DEFAULT 0,
    estimated            INTEGER NOT NULL DEFAULT 0,
    cached               INTEGER NOT NULL DEFAULT 0
);

-- Every read is one organisation over a time range (ts), grouped one way or another:
-- (org_id, ts) serves all of them. A team admin's reads are limited to their teams,
-- and per-principal reads are the other common filter: each gets its own range index.
-- The group-by itself (key, model, provider, day, …) aggregates the rows the range
-- selects, so it needs no index of its own.
CREATE INDEX spend_ledger_org_ts ON spend_ledger (org_id, ts);
CREATE INDEX spend_ledger_org_team_ts ON spend_ledger (org_id, team_id, ts);
CREATE INDEX spend_ledger_org_principal_ts ON spend_ledger (org_id, principal_id, ts);
