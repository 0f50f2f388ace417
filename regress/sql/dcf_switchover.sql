-- Switchover and policy settings on a single-node cluster (issue 14): the
-- refusals that need no second node, and the effective policy.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dcf;
RESET client_min_messages;

-- bad arguments
SELECT * FROM dcf_switchover(0);
SELECT * FROM dcf_switchover(2, 0);
SELECT * FROM dcf_switchover(NULL);
-- not a member
SELECT * FROM dcf_switchover(7);
-- the target leads already: nothing to do
SELECT request_id, old_leader, new_leader, outcome FROM dcf_switchover(1);
-- promoting the leader changes nothing
SELECT dcf_promote();
SELECT dcf_promote(0);
-- writes were never stopped
CREATE TABLE dcf_sw (i int);
INSERT INTO dcf_sw VALUES (1);
DROP TABLE dcf_sw;

-- the policy in force (defaults); flow control measures even when off
SELECT policy->'majority_groups' AS majority_groups, policy->'priority_election' AS priority_election,
       policy->'election_switch_threshold_ms' AS switch_threshold_ms, policy->'flow_control' AS flow_control,
       policy->'flow' ? 'level' AS flow_state_shown, policy ? 'leader_differs' AS differs
  FROM dcf_replication_info();

-- a bad dcf.majority_groups is refused with the reason
ALTER SYSTEM SET dcf.majority_groups = '1,x';
ALTER SYSTEM SET dcf.majority_groups = '1,1';

-- minority work mode: bad arguments, and refused on a node that leads its majority
SELECT dcf_set_work_mode('half');
SELECT dcf_set_work_mode('minority');
SELECT dcf_set_work_mode('normal', 1);
SELECT dcf_set_work_mode('minority', 1);
SELECT work_mode FROM dcf_replication_info();
-- normal while normal: nothing changes
SELECT dcf_set_work_mode('normal');
