-- dcf.config validation: every mistake has its own message, naming the
-- element and the field.  dcf_check_config() runs the same validator the
-- server runs at start.
\set VERBOSITY default

-- a valid three-node config, defaults filled in
SELECT jsonb_pretty(dcf_check_config('[
  {"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER"},
  {"stream_id":1,"node_id":2,"ip":"127.0.0.1","port":17784,"role":"FOLLOWER","weight":2,"group":1,"priority":5},
  {"stream_id":1,"node_id":3,"ip":"::1","port":17785,"role":"PASSIVE"}]'));
SELECT dcf_check_config('[{"stream_id":1,"node_id":7,"ip":"10.0.0.1","port":1,"role":"LOGGER"}]', 7) ->0->>'role';
SELECT dcf_check_config(NULL) IS NULL AS null_in_null_out;

-- 1. invalid JSON, with the position
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER"');
SELECT dcf_check_config('[{"stream_id":1, node_id:1}]');
-- 2. a missing field
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","role":"LEADER"}]');
SELECT dcf_check_config('[{"node_id":1,"ip":"127.0.0.1","port":1,"role":"LEADER"}]');
-- 3. a mistyped field
SELECT dcf_check_config('[{"stream_id":1,"node_id":"1","ip":"127.0.0.1","port":17783,"role":"LEADER"}]');
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783.5,"role":"LEADER"}]');
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":127,"port":17783,"role":"LEADER"}]');
-- 4. a duplicate node_id
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER"},
                          {"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17784,"role":"FOLLOWER"}]');
-- 5. a duplicate ip:port
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER"},
                          {"stream_id":1,"node_id":2,"ip":"127.0.0.1","port":17783,"role":"FOLLOWER"}]');
-- 6. a port out of range
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":70000,"role":"LEADER"}]');
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":0,"role":"LEADER"}]');
-- 7. an unknown role
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"leader"}]');
-- 8. a stream_id other than 1
SELECT dcf_check_config('[{"stream_id":2,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER"}]');
-- 9. this server's node_id absent
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER"}]', 4);
-- 10. fewer than one voter
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"PASSIVE"}]');
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"FOLLOWER","weight":0}]');

-- more mistakes an operator makes
SELECT dcf_check_config('');
SELECT dcf_check_config('{"stream_id":1}');
SELECT dcf_check_config('[]');
SELECT dcf_check_config('[1]');
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"localhost","port":17783,"role":"LEADER"}]');
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER","priorty":3}]');
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER","port":17784}]');
SELECT dcf_check_config('[{"stream_id":1,"node_id":0,"ip":"127.0.0.1","port":17783,"role":"LEADER"}]');
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER"},
                          {"stream_id":1,"node_id":2,"ip":"127.0.0.1","port":17784,"role":"PASSIVE","weight":1}]');
SELECT dcf_check_config('[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER","weight":-1}]');
