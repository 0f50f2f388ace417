/* sql/dcf--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION dcf" to load this file. \quit

-- The node's consensus state, with the field names of openGauss's
-- dcf_replication_info, plus dcf's LSN columns.
CREATE FUNCTION dcf_replication_info(
    OUT node_id integer,
    OUT role text,
    OUT term bigint,
    OUT run_mode integer,
    OUT work_mode text,
    OUT hb_interval integer,
    OUT elc_timeout integer,
    OUT applied_index bigint,
    OUT commit_index bigint,
    OUT first_index bigint,
    OUT last_index bigint,
    OUT cluster_min_apply_idx bigint,
    OUT leader_id integer,
    OUT leader_ip text,
    OUT leader_port integer,
    OUT nodes jsonb,
    OUT paxos_write_lsn pg_lsn,
    OUT paxos_commit_lsn pg_lsn,
    OUT local_write_lsn pg_lsn,
    OUT local_flush_lsn pg_lsn,
    OUT local_replay_lsn pg_lsn)
RETURNS record
AS 'MODULE_PATHNAME', 'dcf_replication_info'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION dcf_replication_info() IS
'consensus role, term, indexes and LSNs of this dcf node';

-- Validate a dcf.config value (and optionally that node_id is a member)
-- with the server's own validator; returns the membership with defaults.
CREATE FUNCTION dcf_check_config(config text, node_id integer DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'dcf_check_config'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION dcf_check_config(text, integer) IS
'validate a dcf.config JSON value the way the server does at start';
