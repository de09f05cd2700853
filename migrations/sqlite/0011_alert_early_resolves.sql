-- Resolved notices for alert instances warroom never saw fire (it was down, the firing
-- notice was lost, or it arrives after the resolve): remembered for a day, so a firing
-- notice of the same instance (fingerprint and start) arriving later opens no incident that
-- would never resolve. Pruned as new ones come.
CREATE TABLE alert_early_resolves (
    source      TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL,
    instance    TEXT   NOT NULL,
    group_key   TEXT   NOT NULL,
    ends_at     BIGINT,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, fingerprint, instance)
);

CREATE INDEX alert_early_resolves_received ON alert_early_resolves (received_at);
