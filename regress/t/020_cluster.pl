# A 3-node dcf cluster: WAL replicated through consensus.
#   - every server boots as a standby; one is elected and promoted
#   - a row written on the leader is readable on both followers, and the
#     leader's pg_stat_replication shows 'dcf' as sync
#   - with one follower stopped commits succeed; with both stopped a commit
#     does not return, and returns once one follower is back
#   - SET synchronous_commit = local, then a write, is refused
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);

my $c = DcfCluster->new('c3', 3, extra_conf => "hot_standby_feedback = on\nwal_receiver_status_interval = 1s");
$c->start_all;
my $leader = $c->wait_for_leader;
ok($leader, 'a leader was elected and promoted: ' . $leader->name);
my @f = $c->followers($leader);

$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key, v text)');
$leader->safe_psql('postgres', "INSERT INTO t VALUES (1, 'one')");
for my $n (@f)
{
	ok($c->wait_query($n, 'SELECT v FROM t WHERE id = 1', 'one'),
		'row written on the leader is readable on follower ' . $n->name);
}
is($leader->safe_psql('postgres',
		"SELECT application_name || ':' || sync_state FROM pg_stat_replication"),
	'dcf:sync', "leader's pg_stat_replication shows 'dcf' as sync");

# followers' hot standby feedback reaches the leader's walsender through dcf
# (the pump streams through the physical slot 'dcf', so the xmin lands there)
ok($c->wait_query($leader, "SELECT xmin IS NOT NULL FROM pg_replication_slots WHERE slot_name = 'dcf'", 't'),
	'hot standby feedback of the followers is forwarded to the leader');

# every node reports the live truth
is($leader->safe_psql('postgres', 'SELECT role FROM dcf_replication_info()'), 'LEADER', 'leader says LEADER');
for my $n (@f)
{
	ok($c->wait_query($n, "SELECT role || ',' || (leader_id IS NOT NULL)::int FROM dcf_replication_info()",
			'FOLLOWER,1'), $n->name . ' says FOLLOWER and knows the leader');
}
my $nodes = $leader->safe_psql('postgres',
	"SELECT count(*) FROM dcf_replication_info(), jsonb_array_elements(nodes) e WHERE e ? 'match_index'");
is($nodes, '2', 'leader reports next/match/applied index of both followers');
my ($commit, $last) = split /\|/, $leader->safe_psql('postgres',
	'SELECT commit_index, last_index FROM dcf_replication_info()');
ok($commit > 0 && $commit <= $last, "commit_index $commit within last_index $last");
command_like(['dcf_ctl', 'query', '-D', $leader->data_dir], qr/dcf_role\s+: LEADER/, 'dcf_ctl query on the leader');
command_like(['dcf_ctl', 'query', '-D', $f[0]->data_dir], qr/dcf_role\s+: FOLLOWER/, 'dcf_ctl query on a follower');

# synchronous_commit below remote_write would bypass consensus
my ($ret, $out, $err) = $leader->psql('postgres',
	"SET synchronous_commit = local; INSERT INTO t VALUES (99, 'local')");
isnt($ret, 0, 'write with synchronous_commit = local is refused');
like($err, qr/cannot commit with synchronous_commit = local while dcf is enabled/, 'with a clear error');
is($leader->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = 99'), '0', 'the refused row is not there');
($ret, $out, $err) = $leader->psql('postgres',
	"SET synchronous_commit = off; INSERT INTO t VALUES (98, 'off')");
like($err, qr/cannot commit with synchronous_commit = off/, 'synchronous_commit = off is refused too');
is($leader->safe_psql('postgres', "SET synchronous_commit = remote_write; INSERT INTO t VALUES (97, 'rw') RETURNING id"),
	'97', 'remote_write waits for the same consensus position and is allowed');

# ... but autovacuum, which PostgreSQL runs with synchronous_commit = local
# and whose commits acknowledge nothing to a client, works on the leader:
# ANALYZE's statistics (pg_statistic rows, transactional) appear
$leader->safe_psql('postgres', "ALTER SYSTEM SET autovacuum_naptime = '1s'; SELECT pg_reload_conf()");
$leader->safe_psql('postgres', 'CREATE TABLE av (id int) WITH (autovacuum_analyze_threshold = 1, autovacuum_analyze_scale_factor = 0); '
	  . 'INSERT INTO av SELECT generate_series(1, 100)');
ok($leader->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stats WHERE tablename = 'av'"),
	'autovacuum analyzes a table on the leader');
$leader->safe_psql('postgres', 'ALTER SYSTEM RESET autovacuum_naptime; SELECT pg_reload_conf()');

# one follower down: commits go on
$f[0]->stop('fast');
$leader->safe_psql('postgres', "INSERT INTO t VALUES (2, 'two')");
pass('commit succeeds with one follower stopped');
ok($c->wait_query($f[1], 'SELECT v FROM t WHERE id = 2', 'two'), 'the other follower has it');

# both down: a commit waits...  The session connects first: a leader
# without its majority refuses new logins about one election timeout after
# the second follower stops, and on a loaded machine psql can be later.
my ($o, $e) = ('', '');
my $h = IPC::Run::start(['psql', '-XAtq', '-d', $leader->connstr('postgres'), '-c',
		"SELECT pg_sleep(2); INSERT INTO t VALUES (3, 'three')"],
	'>', \$o, '2>', \$e);
usleep(500_000);
$f[1]->stop('fast');
my $t0 = time;
while (time - $t0 < 3) { $h->pump_nb; usleep(50_000); }
ok($h->pumpable, 'with both followers stopped the commit does not return');

# ... and returns once one follower is back
$f[0]->start;
$h->finish;
is($h->result(0), 0, 'the commit returns once a follower is back');
is($leader->safe_psql('postgres', 'SELECT v FROM t WHERE id = 3'), 'three', 'and the row is there');
ok($c->wait_query($f[0], 'SELECT v FROM t WHERE id = 3', 'three'), 'the returning follower has it');
$f[1]->start;
ok($c->wait_query($f[1], 'SELECT count(*) FROM t', '4'), 'the other follower catches up');

$c->stop_all;
done_testing();
