-- The inbox reads pending calls soonest-deadline first and counts them per agent, tool and
-- risk class. A covering partial index serves both without touching the table (it holds
-- only pending rows, so the allowed path never maintains it).
DROP INDEX calls_pending_deadline;
CREATE INDEX calls_pending ON calls (deadline, created_at, agent_id, tool, risk)
    WHERE status = 'pending';
