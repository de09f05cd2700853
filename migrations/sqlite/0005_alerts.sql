-- Alert ingestion (HTTP): which incident each alert group feeds, every alert instance seen,
-- and the opens that storm control counts. Times are milliseconds since the Unix epoch (UTC).

-- One row per alert group (Alertmanager/Grafana groupKey, a generic `group`, a PagerDuty
-- dedup_key): the incident its alerts go to. `claim` is set while a delivery opens the
-- incident (incident_id still NULL), so two deliveries of one group never open two.
CREATE TABLE alert_groups (
    source      TEXT    NOT NULL,
    group_key   TEXT    NOT NULL,
    route       TEXT    NOT NULL,
    incident_id BIGINT  REFERENCES incidents (id),
    claim       TEXT,
    claimed_at  BIGINT,
    overflow    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (source, group_key)
);

CREATE INDEX alert_groups_incident ON alert_groups (incident_id);

-- One row per alert instance: a fingerprint that started at one time (`instance` is the
-- start in milliseconds, or `seq:N` when the sender gives no start). A replayed delivery
-- finds its rows and changes nothing.
CREATE TABLE alerts (
    source      TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL,
    instance    TEXT   NOT NULL,
    group_key   TEXT   NOT NULL,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    status      TEXT   NOT NULL CHECK (status IN ('firing', 'resolved')),
    summary     TEXT   NOT NULL,
    labels      TEXT   NOT NULL DEFAULT '{}',
    starts_at   BIGINT,
    ends_at     BIGINT,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, fingerprint, instance)
);

CREATE INDEX alerts_incident_status ON alerts (incident_id, status);

-- Storm control: every incident a route opened, so the opens of the last minute can be
-- counted under the route's lock. Rows older than the window are pruned as new ones come.
CREATE TABLE alert_route_opens (
    route     TEXT   NOT NULL,
    opened_at BIGINT NOT NULL,
    group_key TEXT   NOT NULL
);

CREATE INDEX alert_route_opens_window ON alert_route_opens (route, opened_at);

-- One row per route, locked (FOR UPDATE on PostgreSQL) while deciding whether a new group may
-- open an incident, so two deliveries at once can never both take the last slot.
CREATE TABLE alert_routes (
    route TEXT PRIMARY KEY
);
