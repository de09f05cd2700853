-- PostgreSQL's 0012 makes its change notifications fire only for statements that wrote a
-- row. SQLite's change feed (PRAGMA data_version) moves only when a commit wrote something,
-- so it needs no change; this keeps the two numberings in step.
SELECT 1;
