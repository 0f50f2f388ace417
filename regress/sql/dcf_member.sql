-- Membership changes through the admin channel on a one-node cluster (node 1
-- leads alone): every refusal's message, idempotent re-runs, timeouts.
CREATE EXTENSION IF NOT EXISTS dcf;

SELECT node_id, ip, role, weight, "group", priority, learner FROM dcf_membership();

-- bad arguments
SELECT * FROM dcf_add_member(0, '127.0.0.1', 1);
SELECT * FROM dcf_add_member(2, '', 1);
SELECT * FROM dcf_add_member(2, '127.0.0.1', 70000);
SELECT * FROM dcf_add_member(2, '127.0.0.1', 1, role => 'LEADER');
SELECT * FROM dcf_add_member(2, '127.0.0.1', 1, weight => 0);
SELECT * FROM dcf_add_member(2, '127.0.0.1', 1, timeout => 0);
SELECT * FROM dcf_add_member(2, NULL, 1);
SELECT * FROM dcf_change_member(1);

-- unknown node, duplicate node_id, the last member that can lead
SELECT * FROM dcf_remove_member(9);
SELECT * FROM dcf_change_member(9, priority => 1);
SELECT * FROM dcf_remove_member(1);

-- a PASSIVE member joins at once; the same add again changes nothing
SELECT node_id, ip, CASE WHEN node_id = 1 THEN 0 ELSE port END AS port, role, learner FROM dcf_add_member(2, '127.0.0.1', 1, role => 'PASSIVE') ORDER BY node_id;
SELECT node_id, ip, CASE WHEN node_id = 1 THEN 0 ELSE port END AS port, role, learner FROM dcf_add_member(2, '127.0.0.1', 1, role => 'PASSIVE') ORDER BY node_id;
SELECT * FROM dcf_add_member(3, '127.0.0.1', 1, role => 'PASSIVE');
-- the same node_id with another address or role
SELECT * FROM dcf_add_member(2, '127.0.0.2', 1, role => 'PASSIVE');
SELECT * FROM dcf_add_member(2, '127.0.0.1', 1);
SELECT node_id, role, priority, "group" FROM dcf_change_member(2, priority => 7, "group" => 3) ORDER BY node_id;

-- a voter that never catches up: the caller times out, the request runs on
\set VERBOSITY terse
SELECT * FROM dcf_add_member(3, '127.0.0.1', 2, timeout => 1);
\set VERBOSITY default
SELECT node_id, role, learner FROM dcf_membership() ORDER BY node_id;
SELECT kind, node_id, state FROM dcf_admin_requests() WHERE kind = 'add member' AND node_id = 3;
-- while its promotion waits for it, other changes are refused
SELECT * FROM dcf_change_member(2, priority => 1);

-- the core gives up waiting for the catch-up after 10 election timeouts;
-- the learner stays (any leader promotes it once it catches up)
DO $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        EXIT WHEN (SELECT reason LIKE '%learner%' FROM dcf_admin_requests() WHERE kind = 'add member' AND node_id = 3);
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
SELECT kind, node_id, state, reason FROM dcf_admin_requests() WHERE kind = 'add member' AND node_id = 3;

-- remove it (its addition is aborted); removing again after the fact changes nothing
SELECT node_id, role FROM dcf_remove_member(3) ORDER BY node_id;
SELECT kind, node_id, state, reason FROM dcf_admin_requests() WHERE kind = 'add member' AND node_id = 3;
SELECT node_id, role FROM dcf_remove_member(3) ORDER BY node_id;
SELECT node_id, role FROM dcf_remove_member(2) ORDER BY node_id;
SELECT kind, node_id, state FROM dcf_admin_requests() ORDER BY id;
-- dcf_members() lists the removed members as removed, with the role they had
SELECT node_id, is_self, role, state, term IS NULL AS no_term, lag_entries IS NULL AS no_lag,
       dcf_address LIKE '127.0.0.1:%' AS dcf_address_ok
  FROM dcf_members() ORDER BY node_id;

-- only superusers and members of dcf_admin
CREATE ROLE dcf_member_plain;
SET ROLE dcf_member_plain;
SELECT * FROM dcf_remove_member(2);
SELECT count(*) FROM dcf_membership();
RESET ROLE;
DROP ROLE dcf_member_plain;

-- dcf_ctl build's hold on the leader's log: a lease that lapses
SELECT * FROM dcf_build_hold(9);
SELECT * FROM dcf_build_hold(1, lease => 0);
SELECT * FROM dcf_build_hold(1, renew => true);
SELECT hold_index > 0 AS held, first_index IS NULL AS before_copy, membership IS NULL AS no_membership_yet
  FROM dcf_build_hold(1, lease => 1);
SELECT node_id, state, hold_index > 0 AS held FROM dcf_build_holds();
DO $$
BEGIN
    FOR i IN 1 .. 100 LOOP
        EXIT WHEN (SELECT state = 'lapsed' FROM dcf_build_holds() WHERE node_id = 1);
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
SELECT node_id, state FROM dcf_build_holds();
SELECT * FROM dcf_build_hold(1, renew => true);
