-- The timer engine asks when the next timer is due after every commit. With one pending
-- timer per open incident (RTO deadlines, reminders), answering by reading every pending
-- timer cost a scan of thousands of rows per commit: during a burst of 10,000 pages it was
-- most of the database's work. The answer is now two index lookups: the earliest pending
-- timer not held past its due time (timers_due), and the earliest claim on a held timer
-- running out (this index; held timers are few).
CREATE INDEX timers_held ON timers (claim_until) WHERE state = 'pending' AND claimed_by IS NOT NULL;
