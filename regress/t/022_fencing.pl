# Fencing: SIGSTOP of the leader (all its processes) for longer than the
# election timeout.  Meanwhile a new leader takes over and commits.  After
# SIGCONT the old leader acknowledges no commit (a transaction that commits
# on it fails) and fences itself: logins refused, server stopped.  Nothing
# the new leader acknowledged is lost, and dcf_ctl start brings the old
# leader back as a follower.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('fence', 3);
$c->start_all;
my $old = $c->wait_for_leader;
$old->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key, src text)');
$old->safe_psql('postgres', "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g");

# A session on the leader that will try to commit after it wakes up.
my ($o, $e) = ('', '');
my $late = IPC::Run::start(['psql', '-XAtq', '-d', $old->connstr('postgres'), '-c',
		"SELECT pg_sleep(1.5); INSERT INTO t VALUES (-1, 'old leader after SIGCONT')"],
	'>', \$o, '2>', \$e);
sleep 0.5;

my @pids = $c->server_pids($old);
ok(@pids >= 3, 'found the old leader\'s processes: ' . scalar(@pids));
kill 'STOP', @pids;
my $t_stop = time;

# a new leader takes over and commits
my $r = $c->first_commit("INSERT INTO t VALUES (1000, 'new leader')", 60, $c->followers($old));
ok($r, 'a new leader took over while the old one was stopped');
my $new = $r->[0];
diag(sprintf 'new leader %s committed %.2f s after SIGSTOP', $new->name, time - $t_stop);
$new->safe_psql('postgres', "INSERT INTO t SELECT g, 'new' FROM generate_series(1001, 1100) g");
sleep 1 while time - $t_stop < 3;	# well past the election timeout

kill 'CONT', @pids;

# the late commit on the old leader must not succeed
$late->finish;
isnt($late->result(0), 0, 'a commit on the old leader after SIGCONT is not acknowledged');
diag("late session: $e");

# it fences itself and stops
my $t0 = time;
usleep(100_000) while (kill(0, $pids[0]) && time - $t0 < 30);
ok(!kill(0, $pids[0]), 'the old leader\'s server stopped');
like(slurp_file($old->logfile), qr/dcf: node \d+ is fenced: node \d+ leads in term \d+/, 'its log says why');
$old->_update_pid(0);

# nothing the new leader acknowledged is lost
is($new->safe_psql('postgres', "SELECT count(*) FROM t WHERE src IN ('new leader', 'new')"), '101',
	'all commits of the new leader are there');
is($new->safe_psql('postgres', "SELECT count(*) FROM t WHERE src = 'before'"), '100',
	'and all commits from before the failover');
is($new->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = -1'), '0',
	'the unacknowledged commit of the old leader is not on the new leader');

# back as a follower
command_ok(['dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '90'],
	'dcf_ctl start brings the fenced leader back');
$old->_update_pid(1);
ok($c->wait_query($old, "SELECT count(*) FROM t WHERE src = 'new'", '100'), 'the fenced leader follows the new one');
is($old->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = -1'), '0',
	'its unacknowledged row is gone (rewound)');
ok($c->wait_query($old, 'SELECT count(*) FROM pg_replication_slots', '0', 30),
	'the former leader dropped the pump\'s replication slot (it would hold back its WAL)');

$c->stop_all;
done_testing();
