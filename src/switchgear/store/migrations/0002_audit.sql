-- The tamper-evident audit record: a hash chain with signed checkpoints.
-- depends: 0001_identity

-- entry is the canonical JSON the hash covers; the other columns are copies of its
-- fields for indexed queries, checked against it by `switchgear audit verify`.
CREATE TABLE audit_log (
    seq            BIGINT PRIMARY KEY,
    ts             DOUBLE PRECISION NOT NULL,
    kind           TEXT NOT NULL,
    org_id         TEXT,
    principal_id   TEXT,
    agent_id       TEXT,
    credential_id  TEXT,
    action         TEXT NOT NULL,
    decision       TEXT NOT NULL,
    entry          TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);

CREATE INDEX audit_log_ts ON audit_log (ts);
CREATE INDEX audit_log_credential ON audit_log (credential_id, ts);
CREATE INDEX audit_log_agent ON audit_log (agent_id, ts);

-- The chain's head: one row, locked by each appending transaction so that writers in
-- many processes extend one chain in one order.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    ts         DOUBLE PRECISION NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);
