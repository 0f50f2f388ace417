-- The SQL surface of a configured single-node cluster.  pg_regress could
-- only log in once the node had joined: it elected itself and promoted.
CREATE EXTENSION dcf;

\df dcf_*

-- one row, typed columns, openGauss field names
SELECT node_id, role, term >= 1 AS has_term, run_mode, work_mode, hb_interval, elc_timeout,
       commit_index >= 2 AS committed_noop_and_switch,
       applied_index <= commit_index AS applied_le_commit,
       first_index = 1 AS first_index_1,
       last_index >= commit_index AS last_ge_commit,
       leader_id, leader_ip, leader_port > 0 AS has_leader_port
  FROM dcf_replication_info();

-- the members (the dcf port is chosen at random by the test set-up)
SELECT jsonb_pretty(jsonb_agg(e - 'port')), bool_and((e->>'port')::int > 0) AS has_port
  FROM dcf_replication_info(), jsonb_array_elements(nodes) e;

-- a single node is its own majority: what it wrote is committed
SELECT pg_typeof(paxos_commit_lsn) AS lsn_type,
       paxos_commit_lsn > '0/0' AS has_commit,
       paxos_write_lsn >= paxos_commit_lsn AS write_ge_commit,
       local_flush_lsn >= paxos_commit_lsn AS flushed_ge_commit,
       local_replay_lsn IS NULL AS primary_replays_nothing
  FROM dcf_replication_info();

SELECT count(*) FROM dcf_replication_info();

-- the parameters, with units
SELECT name, setting, unit, context FROM pg_settings
 WHERE name LIKE 'dcf.%' AND name NOT IN ('dcf.data_path', 'dcf.config', 'dcf.auth_key_file')
 ORDER BY name;

-- the dcf prefix is reserved: a misspelt parameter is refused
SET dcf.enabel = on;

-- what dcf arranged for the server
SELECT name, setting FROM pg_settings
 WHERE name IN ('synchronous_standby_names', 'wal_log_hints', 'hot_standby', 'recovery_target_timeline')
 ORDER BY name;
SELECT application_name, sync_state FROM pg_stat_replication;

-- commits wait for the consensus commit position; local ones are refused
CREATE TABLE dcf_t (i int);
INSERT INTO dcf_t VALUES (1);
SET synchronous_commit = local;
INSERT INTO dcf_t VALUES (2);
SET synchronous_commit = off;
INSERT INTO dcf_t VALUES (3);
-- read-only transactions are not affected
SELECT count(*) FROM dcf_t;
RESET synchronous_commit;
DROP TABLE dcf_t;
