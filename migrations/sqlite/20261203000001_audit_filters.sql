-- The audit page filters by kind, actor and agent, newest first, paged by id: each index
-- ends in `id` so a filtered page is one index range read backwards, however large the log.
-- (Kind prefixes and time ranges are read along the primary key instead; see
-- `store::audit_query`.)
CREATE INDEX audit_kind ON audit_events (kind, id);
CREATE INDEX audit_actor ON audit_events (actor, id);
CREATE INDEX audit_agent ON audit_events (agent_id, id);
