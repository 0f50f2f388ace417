# A killed leader whose WAL went past the cluster's is elected again when
# it comes back (issue 16: found by the fault-injection harness, seed 7,
# 3 nodes, a restart-all fault: `dcf_ctl start` of that node failed once,
# "the server stopped; see its log").
#
# Its consensus log is as long as anyone's (its worker was stopped, so the
# WAL past the cluster's never reached the log), so it can win the election
# after a restart; as leader it then finds its server's WAL beyond the
# committed log.  It used to fence itself there and stop, and `dcf_ctl
# start` failed; now it is a diverged node like any other: it hands the
# leadership over to a caught-up voter, keeps its server up, refusing
# logins, and stops for its rewind once the new leader leads on its new
# timeline, which `dcf_ctl start` (still running) then does.
#
# B and C run with dcf.run_mode = 2 so that A alone campaigns by itself
# (a transfer still makes them campaign).
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

my $c = DcfCluster->new('red', 3, extra_conf => "dcf.election_timeout = '2s'\n");
$c->start_all;
my $na = $c->wait_for_leader;
$na->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
$na->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 100)');
my @acked = (1 .. 100);
my ($nb, $nc) = $c->followers($na);
for my $n ($nb, $nc)
{
	ok($c->wait_query($n, 'SELECT count(*) FROM t', '100'), $n->name . ' has the first rows');
}
# every node knows where the others' servers listen (rewind sources)
for my $n ($c->nodes)
{
	my $f = $n->basedir . '/dcf_data/pg_endpoints';
	my $t0 = time;
	usleep(100_000) while ((!-f $f || scalar(split /\n/, slurp_file($f)) < 3) && time - $t0 < 30);
}

# A's WAL goes past the cluster's (its worker stopped, a commit waiting);
# then every node is killed
my $aw = $c->worker_pid($na);
ok($aw, "A's dcf worker found");
kill 'STOP', $aw;
my $late = IPC::Run::start(['psql', '-XAtq', '-d', $na->connstr('postgres'), '-c', 'INSERT INTO t VALUES (-1)'],
	'>', \my $late_out, '2>', \my $late_err);
sleep 1;
my @apids = $c->server_pids($na);
$na->kill9;
kill 'KILL', @apids;
$late->kill_kill;
for my $n ($nb, $nc)
{
	$n->kill9;
}
my $t0 = time;
usleep(100_000) while grep({ DcfRejoin::postmaster_pid($_->data_dir) } $c->nodes) && time - $t0 < 30;

# B and C come back without campaigning; A, started by dcf_ctl, is elected
for my $n ($nb, $nc)
{
	$n->append_conf('postgresql.conf', "dcf.run_mode = 2\n");
	$n->start;
}
my $from = -s $na->logfile;
my ($rc, $out, $err) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $na->data_dir, '-l', $na->logfile, '-t', '120');
is($rc, 0, 'dcf_ctl start brings A back') or diag($out . $err);
$na->_update_pid(1) if DcfRejoin::postmaster_pid($na->data_dir);
my $alog = substr(slurp_file($na->logfile), $from);
like($alog, qr/dcf: node \d+ is LEADER in term/, 'A was elected after the restart (the case under test)');
unlike($alog, qr/is fenced: the server replayed WAL/, 'A was not fenced for its WAL past the log');
like($alog, qr/handing leadership over to node/, 'A handed its leadership over');
like($out, qr/rewind complete/, 'A was rewound');

# a leader takes writes; every acknowledged row on every node, A's unacknowledged row nowhere
for my $n ($nb, $nc)
{
	$n->append_conf('postgresql.conf', "dcf.run_mode = 0\n");
	$n->reload;
}
my $r = $c->first_commit('INSERT INTO t VALUES (101)', 60, $nb, $nc, $na);
ok($r, 'the cluster takes writes' . ($r ? ' (' . $r->[0]->name . ')' : ''));
push @acked, 101 if $r;
$c->check_acked_rows(\@acked, 90);

$c->stop_all;
done_testing();
