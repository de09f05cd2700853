-- What happens during an incident is read back by kind: checklist ticks and recovery points
-- (for the card, the resolve check and the export) without reading every message.
CREATE INDEX incident_events_kind ON incident_events (incident_id, kind, seq);
