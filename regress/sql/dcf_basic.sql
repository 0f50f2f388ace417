-- The SQL surface of a configured single node that has not joined a
-- cluster yet.
CREATE EXTENSION dcf;

\df dcf_*

-- one row, typed columns, openGauss field names
SELECT node_id, role, term, run_mode, work_mode, hb_interval, elc_timeout,
       applied_index, commit_index, first_index, last_index,
       cluster_min_apply_idx, leader_id, leader_ip, leader_port
  FROM dcf_replication_info();

SELECT jsonb_pretty(nodes) FROM dcf_replication_info();

SELECT paxos_write_lsn, paxos_commit_lsn,
       pg_typeof(local_write_lsn) AS lsn_type,
       local_write_lsn > '0/0' AS has_write,
       local_flush_lsn >= local_write_lsn AS flush_ge_write
  FROM dcf_replication_info();

SELECT count(*) FROM dcf_replication_info();

-- the parameters, with units
SELECT name, setting, unit, context FROM pg_settings
 WHERE name LIKE 'dcf.%' AND name NOT IN ('dcf.data_path', 'dcf.config')
 ORDER BY name;

-- the dcf prefix is reserved: a misspelt parameter is refused
SET dcf.enabel = on;
