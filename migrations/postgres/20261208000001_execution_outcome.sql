-- A call can be running (started by an agent that reports how it went) or failed (started,
-- and ended without a result), and an executed call records whether its tool returned a
-- result or an error of its own.
ALTER TABLE calls DROP CONSTRAINT calls_status_check;
ALTER TABLE calls ADD CONSTRAINT calls_status_check CHECK (status IN
    ('allowed', 'denied', 'pending', 'approved', 'expired', 'cancelled', 'executed', 'stale',
     'running', 'failed'));

ALTER TABLE calls ADD COLUMN outcome TEXT CHECK (outcome IN ('succeeded', 'tool_error', 'failed'));
ALTER TABLE calls ADD COLUMN outcome_detail TEXT;
ALTER TABLE calls ADD COLUMN finished_at BIGINT;

-- Running calls, oldest first, for the sweep that fails those nobody reported on.
CREATE INDEX calls_running ON calls (executed_at) WHERE status = 'running';

-- A call that ran, whatever its outcome, makes its tool known in its session.
DROP INDEX calls_novelty;
CREATE INDEX calls_novelty ON calls (agent_id, session, tool)
    WHERE status IN ('allowed', 'executed', 'running', 'failed');
