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
    OUT local_replay_lsn pg_lsn,
    OUT repair_index bigint,
    OUT policy jsonb)
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

-- Every member as this node sees it: on the leader (view 'leader') with
-- each member's progress and last status report, elsewhere (view 'local')
-- only this node and its leader.  state: leading, promoting, streaming,
-- catching up, needs build, fenced, down, unknown, removed (left the
-- membership while this server ran; listed last).  lag_bytes: committed
-- WAL the member's standby has not replayed; lag_seconds: how long it has
-- been behind; last_heard_ms: how long ago the leader heard from it.
CREATE FUNCTION dcf_members(
    OUT node_id integer,
    OUT is_self boolean,
    OUT view text,
    OUT role text,
    OUT state text,
    OUT dcf_address text,
    OUT pg_host text,
    OUT pg_port integer,
    OUT term bigint,
    OUT timeline integer,
    OUT match_index bigint,
    OUT applied_index bigint,
    OUT lag_entries bigint,
    OUT lag_bytes bigint,
    OUT lag_seconds double precision,
    OUT last_heard_ms bigint,
    OUT connected boolean,
    OUT flush_lsn pg_lsn,
    OUT replay_lsn pg_lsn)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dcf_members'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED ROWS 5;

COMMENT ON FUNCTION dcf_members() IS
'one row per cluster member: role, state, addresses, term, timeline, lag';

-- Cumulative counters of this node, for monitoring systems to scrape
-- (docs/postgres_exporter.yml).  Kept across restarts in dcf.data_path.
CREATE FUNCTION dcf_stats(
    OUT counters_since timestamptz,
    OUT elections bigint,
    OUT elections_won bigint,
    OUT leader_changes bigint,
    OUT term_changes bigint,
    OUT committed_entries bigint,
    OUT committed_bytes bigint,
    OUT log_fsyncs bigint,
    OUT log_fsync_time_ms double precision,
    OUT log_fsync_max_ms double precision,
    OUT commits_timed bigint,
    OUT commit_latency_ms double precision,
    OUT fences bigint,
    OUT admin_requests bigint,
    OUT admin_failures bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'dcf_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION dcf_stats() IS
'cumulative counters of this dcf node: elections, commits, log syncs, fences';

-- ---- membership changes over the admin channel (issue 13) ------------------
--
-- Callable by superusers and members of dcf_admin, the role for HA
-- operators (created here when it does not exist; roles are cluster-wide).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dcf_admin') THEN
        CREATE ROLE dcf_admin NOLOGIN;
    END IF;
END
$$;

CREATE TYPE dcf_member AS (
    node_id integer,
    ip text,
    port integer,
    role text,
    weight integer,
    "group" integer,
    priority integer,
    learner boolean);

COMMENT ON TYPE dcf_member IS
'a member of the dcf cluster; learner: a voter still catching up, it counts for nothing yet';

CREATE FUNCTION dcf_membership()
RETURNS SETOF dcf_member
AS 'MODULE_PATHNAME', 'dcf_membership_sql'
LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION dcf_membership() IS
'the dcf membership in force on this node';

CREATE FUNCTION dcf_add_member(node_id integer, ip text, port integer,
                               role text DEFAULT 'FOLLOWER', weight integer DEFAULT 1,
                               "group" integer DEFAULT 0, priority integer DEFAULT 0,
                               timeout integer DEFAULT 60)
RETURNS SETOF dcf_member
AS 'MODULE_PATHNAME', 'dcf_add_member'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

COMMENT ON FUNCTION dcf_add_member(integer, text, integer, text, integer, integer, integer, integer) IS
'add a member (on the leader); returns the new membership once committed (a voter: once caught up and promoted)';

CREATE FUNCTION dcf_remove_member(node_id integer, timeout integer DEFAULT 60)
RETURNS SETOF dcf_member
AS 'MODULE_PATHNAME', 'dcf_remove_member'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

COMMENT ON FUNCTION dcf_remove_member(integer, integer) IS
'remove a member (on the leader); returns the new membership once committed';

CREATE FUNCTION dcf_change_member(node_id integer, role text DEFAULT NULL,
                                  priority integer DEFAULT NULL, "group" integer DEFAULT NULL,
                                  timeout integer DEFAULT 60)
RETURNS SETOF dcf_member
AS 'MODULE_PATHNAME', 'dcf_change_member'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

COMMENT ON FUNCTION dcf_change_member(integer, text, integer, integer, integer) IS
'change a member''s role, priority or group (on the leader); returns the new membership once committed';

CREATE FUNCTION dcf_admin_requests(
    OUT id bigint,
    OUT kind text,
    OUT node_id integer,
    OUT state text,
    OUT reason text,
    OUT config_index bigint,
    OUT posted_at timestamptz,
    OUT finished_at timestamptz,
    OUT requester_pid integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dcf_admin_requests'
LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION dcf_admin_requests() IS
'recent dcf admin requests of this node and their outcome (committed, refused, aborted, running)';

REVOKE ALL ON FUNCTION dcf_add_member(integer, text, integer, text, integer, integer, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dcf_remove_member(integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dcf_change_member(integer, text, integer, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dcf_admin_requests() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dcf_add_member(integer, text, integer, text, integer, integer, integer, integer) TO dcf_admin;
GRANT EXECUTE ON FUNCTION dcf_remove_member(integer, integer) TO dcf_admin;
GRANT EXECUTE ON FUNCTION dcf_change_member(integer, text, integer, integer, integer) TO dcf_admin;
GRANT EXECUTE ON FUNCTION dcf_admin_requests() TO dcf_admin;

-- ---- switchover (issue 14) ----------------------------------------------------

CREATE FUNCTION dcf_switchover(target integer, timeout integer DEFAULT 60,
    OUT request_id bigint, OUT old_leader integer, OUT new_leader integer, OUT outcome text)
RETURNS record
AS 'MODULE_PATHNAME', 'dcf_switchover'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

COMMENT ON FUNCTION dcf_switchover(integer, integer) IS
'hand leadership to node target (on the leader): stops writes, commits them, transfers; the old leader restarts as a standby';

REVOKE ALL ON FUNCTION dcf_switchover(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dcf_switchover(integer, integer) TO dcf_admin;

CREATE FUNCTION dcf_promote(timeout integer DEFAULT 60)
RETURNS text
AS 'MODULE_PATHNAME', 'dcf_promote'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

COMMENT ON FUNCTION dcf_promote(integer) IS
'start an election on this node now (run mode 2: when no leader is left); returns once it leads';

REVOKE ALL ON FUNCTION dcf_promote(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dcf_promote(integer) TO dcf_admin;

-- ---- dcf_ctl build: the leader's holds on its consensus log ----------------
--
-- dcf_build_hold() (on the leader) keeps the log from recycling for a build
-- of node_id under a lease of `lease` seconds: without start_lsn a new hold
-- from the commit index; renew => true extends the running one (an error
-- when it lapsed); with start_lsn, the copy's start, it returns the first
-- index and the term before it of the built node's consensus log and the
-- membership record of its metadata.  dcf_build_holds() shows the holds:
-- pending, active, lapsed (its lease ran out), released (the node caught
-- up), failed.
CREATE FUNCTION dcf_build_hold(node_id integer, start_lsn pg_lsn DEFAULT NULL,
                               lease integer DEFAULT 60, renew boolean DEFAULT false,
    OUT hold_index bigint,
    OUT first_index bigint,
    OUT prev_term bigint,
    OUT membership bytea,
    OUT expires_at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'dcf_build_hold'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

COMMENT ON FUNCTION dcf_build_hold(integer, pg_lsn, integer, boolean) IS
'hold the leader''s consensus log from recycling for dcf_ctl build of a node (a lease)';

CREATE FUNCTION dcf_build_holds(
    OUT node_id integer,
    OUT state text,
    OUT hold_index bigint,
    OUT start_lsn pg_lsn,
    OUT first_index bigint,
    OUT expires_at timestamptz,
    OUT changed_at timestamptz,
    OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dcf_build_holds'
LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION dcf_build_holds() IS
'the leader''s holds on its consensus log for dcf_ctl build: pending, active, lapsed, released, failed';

REVOKE ALL ON FUNCTION dcf_build_hold(integer, pg_lsn, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dcf_build_hold(integer, pg_lsn, integer, boolean) TO dcf_admin;
CREATE FUNCTION dcf_set_work_mode(mode text, vote_num integer DEFAULT NULL,
                                  force boolean DEFAULT false, timeout integer DEFAULT 60)
RETURNS text
AS 'MODULE_PATHNAME', 'dcf_set_work_mode'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

COMMENT ON FUNCTION dcf_set_work_mode(text, integer, boolean, integer) IS
'switch this node to minority work mode (quorum = vote_num) or back to normal; recorded durably; see README for the risks';

REVOKE ALL ON FUNCTION dcf_set_work_mode(text, integer, boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dcf_set_work_mode(text, integer, boolean, integer) TO dcf_admin;
