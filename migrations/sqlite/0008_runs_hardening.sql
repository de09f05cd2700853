-- The exact validated values of a run, kept apart from `body`: the body is what every view
-- of a run shows (API, Discord card, exports), with values that look like secrets redacted;
-- these are what execution binds again. NULL for runs from before (their body's values are
-- exact).
ALTER TABLE runs ADD COLUMN bound_values TEXT;
