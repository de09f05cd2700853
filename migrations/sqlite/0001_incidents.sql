-- Incidents and their append-only timeline. Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE incidents (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    title                TEXT    NOT NULL,
    description          TEXT    NOT NULL DEFAULT '',
    severity             TEXT    NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN ('open', 'acknowledged', 'mitigated', 'resolved')),
    service              TEXT,
    source               TEXT    NOT NULL CHECK (source IN ('discord', 'api', 'alert', 'cli')),
    drill                BOOLEAN NOT NULL DEFAULT FALSE,
    private              BOOLEAN NOT NULL DEFAULT FALSE,
    channel_id           BIGINT UNIQUE,
    opened_at            BIGINT  NOT NULL,
    opened_by            TEXT    NOT NULL,
    opened_by_name       TEXT    NOT NULL,
    acknowledged_at      BIGINT,
    acknowledged_by      TEXT,
    acknowledged_by_name TEXT,
    mitigated_at         BIGINT,
    resolved_at          BIGINT,
    roles                TEXT    NOT NULL DEFAULT '{}',
    last_seq             BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX incidents_status ON incidents (status);

CREATE TABLE incident_events (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    actor       TEXT   NOT NULL,
    actor_name  TEXT   NOT NULL,
    text        TEXT   NOT NULL,
    data        TEXT   NOT NULL DEFAULT '{}',
    event_key   TEXT,
    PRIMARY KEY (incident_id, seq)
);

CREATE UNIQUE INDEX incident_events_key ON incident_events (incident_id, event_key)
    WHERE event_key IS NOT NULL;

-- History is never rewritten (SPEC §1): the database itself refuses to.
CREATE TRIGGER incident_events_no_update BEFORE UPDATE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'timeline events are append-only');
END;

CREATE TRIGGER incident_events_no_delete BEFORE DELETE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'timeline events are append-only');
END;
