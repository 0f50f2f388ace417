# Policy settings (issue 14).  Groups {n1, n2} = 1, {n3} = 2; n3 has the
# highest priority.  Flow control on: its state is in
# dcf_replication_info().policy.  Once dcf.priority_election is turned on
# by a reload, n3 leads within the switch threshold; after a failover away
# from it and its return, n3 leads again.  dcf.run_mode is reloadable; in
# run mode 2, with the leader gone, dcf_promote() makes a node lead, nothing
# moves leadership by itself, and a switchover does.
# Then n1 alone is restarted with dcf.majority_groups = '2' and made leader
# by a switchover: the others say their settings differ from the leader's;
# with n3 stopped a commit waits although n1 and n2 are a majority; with n3
# back it returns.  Every committed row is on every node at the end.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('po', 3,
	member_json => [ '"group":1', '"group":1', '"group":2,"priority":10' ],
	extra_conf => "dcf.election_switch_threshold = '2s'\ndcf.flow_control = on\n");
$c->start_all;
my ($n1, $n2, $n3) = $c->nodes;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
if ($leader == $n3)
{
	ok($c->wait_query($n3, 'SELECT state FROM dcf_members() WHERE node_id = 1', 'streaming'), 'n1 streams');
	$n3->safe_psql('postgres', 'SELECT * FROM dcf_switchover(1)');
	$leader = $c->wait_for_leader(60, $n3);
}
my @rows;

# ---- the effective policy is visible ----------------------------------------------
$leader->safe_psql('postgres', 'INSERT INTO t SELECT g FROM generate_series(1, 2000) g');
push @rows, 1 .. 2000;
is($leader->safe_psql('postgres', q{SELECT policy->>'majority_groups' FROM dcf_replication_info()}), '[]',
	'no majority_groups in force');
ok($c->wait_query($leader,
	q{SELECT (policy->>'flow_control')::bool AND (policy->'flow'->>'enabled')::bool AND (policy->'flow'->>'periods')::int > 0 AND (policy->'flow'->>'level')::int BETWEEN 1 AND 64 FROM dcf_replication_info()},
	't'), 'flow control on: its state (level, periods) is visible');
is($n2->safe_psql('postgres', q{SELECT policy ? 'leader_differs' FROM dcf_replication_info()}), 'f',
	'a member with the same settings as its leader shows no difference');

# ---- priority election, turned on by a reload -----------------------------------------
sub reload_all
{
	my ($setting) = @_;
	for my $n ($c->nodes)
	{
		next unless -f $n->data_dir . '/postmaster.pid';
		$n->append_conf('postgresql.conf', "$setting\n");
		$n->reload;
	}
}

# an old leader either restarted in place as a standby or was fenced: bring it back
sub ensure_running
{
	for my $n ($c->nodes)
	{
		next if -f $n->data_dir . '/postmaster.pid';
		command_ok([ 'dcf_ctl', 'start', '-D', $n->data_dir, '-l', $n->logfile, '-t', '90' ], $n->name . ' started again');
		$n->_update_pid(1);
	}
}

reload_all('dcf.priority_election = on');
ok($c->wait_query($n3, 'SELECT NOT pg_is_in_recovery()', 't', 60), 'n3, of the highest priority, leads once priority election is on');
is($n3->safe_psql('postgres', q{SELECT (policy->>'priority_election')::bool FROM dcf_replication_info()}), 't',
	'priority_election in force on the new leader');
ensure_running();
$n3->safe_psql('postgres', 'INSERT INTO t VALUES (-2)');
push @rows, -2;

# failover away from n3, then its return
$n3->stop('immediate');
my $r = $c->first_commit('INSERT INTO t VALUES (-3)', 60, $n1, $n2);
ok($r, 'after n3 is stopped another node leads and commits');
push @rows, -3 if $r;
command_ok([ 'dcf_ctl', 'start', '-D', $n3->data_dir, '-l', $n3->logfile, '-t', '90' ], 'n3 comes back');
$n3->_update_pid(1);
ok($c->wait_query($n3, 'SELECT NOT pg_is_in_recovery()', 't', 60), 'n3 leads again once it has caught up');
ensure_running();
$n3->safe_psql('postgres', 'INSERT INTO t VALUES (-4)');
push @rows, -4;

# ---- dcf.run_mode is reloadable; in run mode 2 a promotion moves leadership --------
reload_all('dcf.run_mode = 2');
ok($c->wait_query($_, 'SELECT run_mode FROM dcf_replication_info()', '2'), $_->name . ': run mode 2 after a reload')
  for $c->nodes;
$n3->stop('immediate');
my $promoted = '';
for (1 .. 100)
{
	my ($pr, $po, $pe) = $n1->psql('postgres', 'SELECT dcf_promote(30)');
	if (defined $pr && $pr == 0) { $promoted = $po; last; }
	sleep 0.3;			# refused within an election timeout of hearing the leader
}
is($promoted, 'node 1 leads', 'run mode 2, the leader gone: dcf_promote() makes n1 lead');
$n1->safe_psql('postgres', 'INSERT INTO t VALUES (-5)');
push @rows, -5;
command_ok([ 'dcf_ctl', 'start', '-D', $n3->data_dir, '-l', $n3->logfile, '-t', '90' ], 'n3 comes back');
$n3->_update_pid(1);
ok($c->wait_query($n1, 'SELECT state FROM dcf_members() WHERE node_id = 3', 'streaming', 90), 'n3 streams');
is($n1->safe_psql('postgres', 'SELECT role FROM dcf_replication_info()'), 'LEADER',
	'run mode 2: n1 still leads (no priority hand-over, no election)');
is($n1->safe_psql('postgres', 'SELECT outcome FROM dcf_switchover(3)'), 'done', 'run mode 2: a switchover moves leadership to n3');
ok($c->wait_query($n3, 'SELECT NOT pg_is_in_recovery()', 't', 60), 'n3 leads');
ensure_running();
reload_all('dcf.run_mode = 0');
ok($c->wait_query($_, 'SELECT run_mode FROM dcf_replication_info()', '0'), $_->name . ': run mode 0 again') for $c->nodes;

# ---- policy majority: group 2 must hold every committed entry -----------------------
# n3 leads again (priority); its hand-over restarted the old leader in place
ok($c->wait_query($n3, 'SELECT NOT pg_is_in_recovery()', 't', 60), 'n3 leads again after the run mode test');
ensure_running();
reload_all('dcf.priority_election = off');
ok($c->wait_query($n3, 'SELECT count(*) FROM dcf_members() WHERE state = \'streaming\'', '2', 60),
	'both followers stream');
$n1->append_conf('postgresql.conf', "dcf.majority_groups = '2'\n");
$n1->restart;
ok($c->wait_query($n1, 'SELECT role FROM dcf_replication_info()', 'FOLLOWER'), 'n1 restarted with dcf.majority_groups = 2');
$leader = $c->wait_for_leader(60);
ok($c->wait_query($leader, 'SELECT state FROM dcf_members() WHERE node_id = 1', 'streaming'), 'n1 streams');
is($leader->safe_psql('postgres', 'SELECT outcome FROM dcf_switchover(1)'), 'done', 'switchover to n1') if $leader != $n1;
$leader = $c->wait_for_leader(60);
is($leader->name, $n1->name, 'n1 leads');
ensure_running();
is($n1->safe_psql('postgres', q{SELECT policy->>'majority_groups' FROM dcf_replication_info()}), '[2]',
	'majority_groups in force on the leader: [2]');
ok($c->wait_query($n2, q{SELECT policy->'leader_differs'->>'leader_id' FROM dcf_replication_info()}, '1'),
	'a member whose settings differ from its leader\'s shows it');
like(slurp_file($n2->logfile), qr/the policy settings of leader 1 differ from this node's/, 'and warns in its log');

$n3->stop('immediate');
my ($ins_out, $ins_err) = ('', '');
my $ins = IPC::Run::start([ 'psql', '-X', '-d', $n1->connstr('postgres'), '-c', 'INSERT INTO t VALUES (-1)' ],
	'>', \$ins_out, '2>', \$ins_err);
ok($c->wait_query($n1, 'SELECT paxos_write_lsn > paxos_commit_lsn FROM dcf_replication_info()', 't'),
	'with n3 stopped, the leader holds WAL it does not commit');
sleep 2;
ok($ins->pumpable, 'the commit waits (n1 and n2 are a majority, but group 2 has no copy)');
is($n1->safe_psql('postgres', 'SELECT paxos_write_lsn > paxos_commit_lsn FROM dcf_replication_info()'), 't',
	'and the commit position has not moved past it');
$n3->start;
$ins->finish;
is($? >> 8, 0, 'with n3 back the commit returns');
push @rows, -1;
is($n1->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = -1'), '1', 'and the row is there');

# ---- every row on every node ------------------------------------------------------------
my $count = scalar(@rows);
for my $n ($c->nodes)
{
	ok($c->wait_query($n, 'SELECT count(*) FROM t', $count, 90), $n->name . ": all $count committed rows");
}

$c->stop_all;
done_testing();
