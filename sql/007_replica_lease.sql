-- Each replica publishes, with every heartbeat, how long it may stay silent before the others
-- judge it dead, and is judged by that: a replica started with a short TICK_LEASE_MS must not
-- convict a healthy peer that heartbeats at the pace of a longer lease (issue 12, item 7).
-- NULL: a replica of a version before this migration, judged by the judge's own settings.
ALTER TABLE tickd_replica
  -- Silence after which its running ticks are taken over (half its TICK_LEASE_MS).
  ADD COLUMN lease_silence_ms integer NULL CHECK (lease_silence_ms > 0),
  -- Silence after which a replica whose session lock is free has crashed.
  ADD COLUMN crash_silence_ms integer NULL CHECK (crash_silence_ms > 0);
