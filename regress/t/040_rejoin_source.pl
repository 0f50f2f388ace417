# dcf_ctl start rewinds from a member that is up now, not from the leader
# recorded when the node was stopped (issue 12 point 2).  A leader is
# paused (SIGSTOP), B is elected, A is fenced when it wakes up, then B is
# killed with -9: only C is left, and C alone has no majority.  dcf_ctl
# start A must rewind A from C (a standby or the new leader: whoever has
# the cluster's WAL), start it, and the cluster must be writable again
# with every acknowledged row.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use DcfRejoin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

# C, elected with A's vote, loses its majority again while A is stopped for
# its rewind; it keeps its server up for 10 election timeouts before it
# fences itself.  On a loaded test machine the rewind can take longer than
# the default 10 s, so the timeout is raised (see the note of issue 12).
my $c = DcfCluster->new('rjs', 3, extra_conf => "dcf.election_timeout = '4s'\n");
$c->start_all;
my $a = $c->wait_for_leader;
$a->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
$a->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 100)');
my @acked = (1 .. 100);

# every node knows where the others' servers listen
for my $n ($c->nodes)
{
	my $f = $n->basedir . '/dcf_data/pg_endpoints';
	my $t0 = time;
	usleep(100_000) while ((!-f $f || scalar(split /\n/, slurp_file($f)) < 3) && time - $t0 < 30);
	is(scalar(split /\n/, slurp_file($f)), 3, $n->name . ' knows the PostgreSQL ports of all 3 members');
}

# A pauses with a commit about to be written: its WAL will diverge
my $late = IPC::Run::start(['psql', '-XAtq', '-d', $a->connstr('postgres'), '-c',
		'SELECT pg_sleep(1.5); INSERT INTO t VALUES (-1)']);
sleep 0.5;
my @pids = $c->server_pids($a);
kill 'STOP', @pids;
my $r = $c->first_commit('INSERT INTO t VALUES (1000)', 60, $c->followers($a));
ok($r, 'a new leader took over while A was paused');
my $b = $r->[0];
push @acked, 1000;
$b->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1001, 1100)');
push @acked, 1001 .. 1100;
my ($cnode) = grep { $_ != $a && $_ != $b } $c->nodes;

# A wakes up and is fenced
kill 'CONT', @pids;
my $t0 = time;
usleep(100_000) while (kill(0, $pids[0]) && time - $t0 < 60);
ok(!kill(0, $pids[0]), 'A fenced itself and stopped');
$a->{_pid} = undef;
$late->finish;

# B dies: C alone cannot lead
$b->kill9;

my ($ret, $out, $err) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $a->data_dir, '-l', $a->logfile, '-t', '120');
$out .= $err;
is($ret, 0, 'dcf_ctl start A succeeds with B dead') or diag($out);
like($out, qr/rewind source: host=127\.0\.0\.1 port=${\ $cnode->port} /, 'it rewound A from C')
  or diag($out);
unlike($out, qr/pg_rewind failed/, 'without a failed attempt');
$a->_update_pid(1);

my $leader = $c->wait_for_leader(120);
ok($leader == $a || $leader == $cnode, 'A and C elect a leader: ' . $leader->name);
$leader->safe_psql('postgres', 'INSERT INTO t VALUES (2000)');
push @acked, 2000;

# B comes back too
command_ok(['dcf_ctl', 'start', '-D', $b->data_dir, '-l', $b->logfile, '-t', '120'], 'dcf_ctl start B');
$b->_update_pid(1);
my $count = $leader->safe_psql('postgres', 'SELECT count(*) FROM t');
for my $n ($c->nodes)
{
	ok($c->wait_query($n, 'SELECT count(*) FROM t', $count, 60), $n->name . " has all $count rows");
	is(DcfRejoin::missing_rows($n, 't', @acked), '0', $n->name . ': no acknowledged row is missing');
	is($n->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = -1'), '0', $n->name . ': A\'s unacknowledged row is not there');
}

$c->stop_all;
done_testing();
