-- A call can be running (started by an agent that reports how it went) or failed (started,
-- and ended without a result), and an executed call records whether its tool returned a
-- result or an error of its own.
ALTER TABLE calls ADD COLUMN outcome TEXT CHECK (outcome IN ('succeeded', 'tool_error', 'failed'));
ALTER TABLE calls ADD COLUMN outcome_detail TEXT;
ALTER TABLE calls ADD COLUMN finished_at INTEGER;

-- Widening the status CHECK changes no stored row, so it is done as SQLite documents for
-- relaxing a constraint (https://www.sqlite.org/lang_altertable.html#otheralter): the
-- table's text in the schema is edited in place. The CREATE INDEX after it changes the
-- schema cookie, so every other connection re-reads the edited text; the connection that
-- ran the migrations is closed afterwards (`store::migrate`).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''executed'', ''stale'')', '''executed'', ''stale'', ''running'', ''failed'')')
 WHERE type = 'table' AND name = 'calls';
PRAGMA writable_schema = OFF;
-- Stop here (integer overflow) unless the edit took.
SELECT CASE WHEN (SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'calls')
                 LIKE '%''running'', ''failed''%'
            THEN 0 ELSE abs(-9223372036854775807 - 1) END;

-- Running calls, oldest first, for the sweep that fails those nobody reported on.
CREATE INDEX calls_running ON calls (executed_at) WHERE status = 'running';

-- A call that ran, whatever its outcome, makes its tool known in its session.
DROP INDEX calls_novelty;
CREATE INDEX calls_novelty ON calls (agent_id, session, tool)
    WHERE status IN ('allowed', 'executed', 'running', 'failed');
