-- Monitoring: dcf_members() and dcf_stats() on a single-node cluster
-- (dcf_basic created the extension and elected the node).
CREATE EXTENSION IF NOT EXISTS dcf;

-- one typed row: this node, the leader, in the leader's view (and the
-- members dcf_member removed, listed as removed there)
SELECT node_id, is_self, view, role, state, pg_host, pg_port > 0 AS has_pg_port,
       term >= 1 AS has_term, timeline >= 2 AS promoted_timeline,
       lag_entries, lag_bytes, lag_seconds, last_heard_ms,
       dcf_address LIKE '127.0.0.1:%' AS dcf_address_ok
  FROM dcf_members() WHERE state <> 'removed';
SELECT pg_typeof(term) AS term, pg_typeof(timeline) AS timeline, pg_typeof(lag_bytes) AS lag_bytes,
       pg_typeof(lag_seconds) AS lag_seconds, pg_typeof(flush_lsn) AS flush_lsn
  FROM dcf_members() WHERE is_self;
-- its port is the server's
SELECT pg_port = current_setting('port')::int AS own_port FROM dcf_members() WHERE is_self;

-- a write goes through the log: counted, synced and timed
CREATE TABLE dcf_mon (i int);
INSERT INTO dcf_mon SELECT generate_series(1, 100);
SELECT pg_sleep(0.3);	-- the worker publishes every 10 ms
SELECT counters_since IS NOT NULL AS has_since,
       elections >= 1 AS elected, elections_won >= 1 AS won, leader_changes >= 1 AS leader_known,
       committed_entries >= 3 AS committed, committed_bytes > 0 AS committed_bytes,
       log_fsyncs >= 1 AS synced, log_fsync_time_ms >= 0 AS sync_time, log_fsync_max_ms >= 0 AS sync_max,
       commits_timed >= 1 AS timed, commit_latency_ms >= 0 AS latency,
       fences
  FROM dcf_stats();
-- dcf_member (run before) made admin requests on this node: some committed, some refused
SELECT admin_requests >= 5 AS admin_counted, admin_failures >= 1 AS admin_refusals_counted,
       admin_failures < admin_requests AS some_committed
  FROM dcf_stats();
-- counters only grow
CREATE TEMP TABLE before AS SELECT * FROM dcf_stats();
INSERT INTO dcf_mon VALUES (0);
SELECT pg_sleep(0.3);
SELECT s.committed_entries > b.committed_entries AS more_entries,
       s.committed_bytes > b.committed_bytes AS more_bytes,
       s.log_fsyncs > b.log_fsyncs AS more_syncs,
       s.commits_timed > b.commits_timed AS more_timed
  FROM dcf_stats() s, before b;
DROP TABLE dcf_mon;
