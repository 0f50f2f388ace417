# The holes of issue 11 in the PostgreSQL glue, each shown on a real
# 3-node cluster:
#   - COMMIT/ROLLBACK PREPARED below synchronous_commit = on bypassed
#     consensus (the commit callback only sees transactions with an XID);
#   - any walsender named "dcf" could acknowledge commits;
#   - a session named dcf_ctl could write on a leader that lost its
#     majority; `joined` was never reset, so a node whose worker stopped kept
#     accepting logins;
#   - dcf.election_timeout reloaded and showed a value the core never used.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('hard', 3, extra_conf => "max_prepared_transactions = 10\n");
$c->start_all;
my $leader = $c->wait_for_leader;
my @followers = $c->followers($leader);
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');

# ---- two-phase commit --------------------------------------------------------
$leader->safe_psql('postgres', "BEGIN; INSERT INTO t VALUES (1); PREPARE TRANSACTION 'p1'");
$leader->safe_psql('postgres', "BEGIN; INSERT INTO t VALUES (2); PREPARE TRANSACTION 'p2'");
my ($ret, $out, $err) = $leader->psql('postgres', "SET synchronous_commit = local; COMMIT PREPARED 'p1'",
	extra_params => ['-X'], timeout => 30);
isnt($ret, 0, 'COMMIT PREPARED with synchronous_commit = local is refused');
like($err, qr/cannot commit a prepared transaction with synchronous_commit = local while dcf is enabled/,
	'... saying why');
($ret, $out, $err) = $leader->psql('postgres', "SET synchronous_commit = off; ROLLBACK PREPARED 'p2'",
	extra_params => ['-X'], timeout => 30);
isnt($ret, 0, 'ROLLBACK PREPARED with synchronous_commit = off is refused');
like($err, qr/cannot roll back a prepared transaction with synchronous_commit = off/, '... saying why');
is($leader->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '2',
	'both transactions are still prepared');
$leader->safe_psql('postgres', "COMMIT PREPARED 'p1'");
$leader->safe_psql('postgres', "ROLLBACK PREPARED 'p2'");
ok($c->wait_query($_, 'SELECT string_agg(id::text, \',\') FROM t', '1'), $_->name . ' has the committed prepared row')
  for @followers;

# ---- the reserved standby name ----------------------------------------------
my $sock = $leader->host;
my $port = $leader->port;
($ret, $out, $err) = $leader->psql('postgres', 'IDENTIFY_SYSTEM',
	connstr => "host=$sock port=$port dbname=replication replication=true application_name=dcf",
	extra_params => ['-X'], timeout => 30);
isnt($ret, 0, 'a physical replication connection named dcf is refused');
like($err, qr/replication connections named "dcf" are reserved for the dcf worker/, '... saying why');
($ret, $out, $err) = $leader->psql('postgres', 'IDENTIFY_SYSTEM',
	connstr => "host=$sock port=$port dbname=replication replication=true options='-c application_name=DCF'",
	extra_params => ['-X'], timeout => 30);
isnt($ret, 0, 'the name given in startup options (any case) is refused too');
($ret, $out, $err) = $leader->psql('postgres', "SET application_name = 'dcf'",
	connstr => "host=$sock port=$port dbname=postgres replication=database application_name=x",
	extra_params => ['-X'], timeout => 30);
like($err, qr/the application_name "dcf" is reserved for the dcf worker/,
	'a logical replication connection cannot SET the name');
($ret, $out, $err) = $leader->psql('postgres', "SELECT set_config('application_name', 'dcf', false)",
	connstr => "host=$sock port=$port dbname=postgres replication=database application_name=x",
	extra_params => ['-X'], timeout => 30);
like($err, qr/the application_name "dcf" is reserved for the dcf worker/,
	'... nor set_config() it');
($ret, $out, $err) = $leader->psql('postgres', 'IDENTIFY_SYSTEM',
	connstr => "host=$sock port=$port dbname=replication replication=true application_name=other",
	extra_params => ['-X'], timeout => 30);
is($ret, 0, 'a replication connection under another name is accepted');
$leader->safe_psql('postgres', 'INSERT INTO t VALUES (3)');
is($leader->safe_psql('postgres', "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'dcf'"), '1',
	'the worker\'s pump still reports for the standby name, commits return');

# ---- election_timeout is restart-only ------------------------------------------
my $f1 = $followers[0];
$f1->append_conf('postgresql.conf', "dcf.election_timeout = 1500ms\n");
$f1->reload;
sleep 0.5;
is($f1->safe_psql('postgres', 'SHOW dcf.election_timeout'), '1s',
	'a reload does not change dcf.election_timeout (the core keeps its start-up value)');
is($f1->safe_psql('postgres', "SELECT pending_restart FROM pg_settings WHERE name = 'dcf.election_timeout'"), 't',
	'... and pg_settings says a restart is pending');

# ---- a follower whose worker stopped refuses logins ------------------------------
my $wpid = $c->worker_pid($f1);
ok($wpid, "found the dcf worker of " . $f1->name);
kill 'STOP', $wpid;
sleep 4.5;    # > 3 election timeouts of 1 s
($ret, $out, $err) = $f1->psql('postgres', 'SELECT 1', extra_params => ['-X'], timeout => 30);
isnt($ret, 0, 'logins to a follower whose worker is stopped are refused');
like($err, qr/this dcf node has not joined its cluster yet/, '... as not joined');
($ret, $out, $err) = $f1->psql('postgres', 'SELECT 1',
	connstr => $f1->connstr('postgres') . ' application_name=dcf_ctl', extra_params => ['-X'], timeout => 30);
is($ret, 0, 'dcf_ctl may still log in to read');
kill 'CONT', $wpid;
ok($c->wait_query($f1, 'SELECT count(*) FROM t', '2', 60), 'logins are accepted again once the worker runs');

# ---- dcf_ctl may only read on a leader that lost its majority ---------------------
my @fpids = map { $c->server_pids($_) } @followers;
kill 'STOP', @fpids;
my $t0 = time;
my $susp = 0;
while (time - $t0 < 30 && !$susp)
{
	($ret, $out, $err) = $leader->psql('postgres', 'SELECT 1', extra_params => ['-X'], timeout => 10);
	$susp = 1 if $ret != 0 && $err =~ /lost contact with the majority/;
	usleep(100_000);
}
ok($susp, 'the leader without its majority refuses ordinary logins');
($ret, $out, $err) = $leader->psql('postgres', 'CREATE TABLE sneaky (i int)',
	connstr => $leader->connstr('postgres') . ' application_name=dcf_ctl', extra_params => ['-X'], timeout => 20);
isnt($ret, 0, 'a dcf_ctl session cannot write there');
like($err, qr/this session may only read/, '... it may only read');
kill 'CONT', @fpids;

# the cluster recovers (the old leader is re-elected or another leads)
my $l2 = $c->wait_for_leader(120);
ok($l2, 'a leader after the followers came back: ' . $l2->name);
$l2->safe_psql('postgres', 'INSERT INTO t VALUES (4)');
for my $n (grep { -f $_->data_dir . '/postmaster.pid' && $c->wait_query($_, 'SELECT 1', '1', 30) } $c->nodes)
{
	ok($c->wait_query($n, 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM t', '1,3,4'),
		$n->name . ' has every acknowledged row and nothing else');
}

$c->stop_all;
done_testing();
