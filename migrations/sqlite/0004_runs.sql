-- Runs of approved commands. `body` holds the whole run (JSON); the other columns repeat the
-- fields that queries select on. `run_locks` holds the lock key of each running run, so runs
-- on one target never overlap, also across warroom processes.

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  BIGINT REFERENCES incidents (id),
    command      TEXT   NOT NULL,
    state        TEXT   NOT NULL,
    lock_key     TEXT,
    expires_at   BIGINT,
    lease_until  BIGINT,
    requested_at BIGINT NOT NULL,
    body         TEXT   NOT NULL
);

CREATE INDEX runs_state ON runs (state);

CREATE TABLE run_locks (
    lock_key    TEXT   PRIMARY KEY,
    run_id      BIGINT NOT NULL REFERENCES runs (id),
    lease_until BIGINT NOT NULL
);

-- What happened to each run, in order: request, approvals, denial, expiry, start, finish.
CREATE TABLE run_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     BIGINT NOT NULL REFERENCES runs (id),
    at         BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    actor_name TEXT   NOT NULL,
    text       TEXT   NOT NULL,
    data       TEXT   NOT NULL
);

CREATE INDEX run_audit_run ON run_audit (run_id, id);

CREATE TRIGGER run_audit_no_update BEFORE UPDATE ON run_audit
BEGIN
    SELECT RAISE(ABORT, 'the run audit is append-only');
END;

CREATE TRIGGER run_audit_no_delete BEFORE DELETE ON run_audit
BEGIN
    SELECT RAISE(ABORT, 'the run audit is append-only');
END;
