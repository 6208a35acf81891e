-- The per-agent cap on pending calls counts one agent's pending calls at each gated
-- proposal: a partial index holds only pending rows, so the count reads at most the cap's
-- number of entries and the allowed path never maintains it.
CREATE INDEX calls_pending_agent ON calls (agent_id) WHERE status = 'pending';
