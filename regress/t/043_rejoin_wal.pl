# Rejoin when the node no longer has its own WAL back to the last common
# checkpoint (issue 19).  With wal_keep_size = 0, a leader checkpoints,
# moves to the next WAL segment, diverges (its worker stops while commits
# wait) and is killed after a failover.  Its crash recovery (which pg_rewind
# needs first) checkpoints in the new segment and recycles the one holding
# the last common checkpoint, and the new leader recycles it too, so
# pg_rewind cannot read the node's WAL back to that checkpoint.  dcf_ctl
# start must supply the segment (from the node's consensus log) and rejoin.
#
# Then the same state once more, with the supply made to fail
# (DCF_CTL_INJECT=restore_wal:fail): dcf_ctl start says once that the node
# cannot be rewound and names dcf_ctl build, writes rebuild_needed, and a
# second start refuses at once without running pg_rewind again; dcf_ctl
# build then rebuilds it (a node diverged beyond pg_rewind) and it rejoins.
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

my $c = DcfCluster->new('rjw', 3, extra_conf => "wal_keep_size = 0\nmax_wal_size = '64MB'\nmin_wal_size = '32MB'\n");
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
my @acked;
my $next = 1;

# SQL on a leader that may refuse for a moment (a loaded machine): retried
sub leader_psql
{
	my ($node, $sql) = @_;
	my $t0 = time;
	while (time - $t0 < 60)
	{
		my ($ret) = $node->psql('postgres', $sql, extra_params => ['-X'], timeout => 30);
		return if defined $ret && $ret == 0;
		sleep 0.5;
	}
	die "could not run '$sql' on " . $node->name;
}

sub insert_acked
{
	my ($node, $n) = @_;
	leader_psql($node, "INSERT INTO t SELECT generate_series($next, " . ($next + $n - 1) . ')');
	push @acked, $next .. $next + $n - 1;
	$next += $n;
}

# The leader diverges after its last checkpoint moved a segment back, and is
# killed; returns (old, new leader).
sub diverge_and_kill
{
	my ($old) = @_;
	insert_acked($old, 50);
	$old->safe_psql('postgres', 'CHECKPOINT');
	insert_acked($old, 50);
	$old->safe_psql('postgres', 'SELECT pg_switch_wal()');
	insert_acked($old, 50);
	my ($w) = DcfRejoin::wait_worker($old->data_dir, 10);
	kill 'STOP', $w;
	my $late = IPC::Run::start(['psql', '-XAtq', '-d', $old->connstr('postgres'), '-c',
			'INSERT INTO t SELECT -g FROM generate_series(1, 1000) g']);
	my $r = $c->first_commit("INSERT INTO t VALUES ($next)", 60, $c->followers($old));
	ok($r, 'a new leader took over from ' . $old->name);
	push @acked, $next++;
	my $new = $r->[0];
	kill 'KILL', $w;
	$old->kill9;
	$late->kill_kill;
	# the new leader moves on and recycles the old segments
	insert_acked($new, 50);
	leader_psql($new, 'SELECT pg_switch_wal()');
	insert_acked($new, 50);
	leader_psql($new, 'CHECKPOINT');
	return ($old, $new);
}

# a first failover and rejoin: the node is on its third timeline below
my ($old, $new) = diverge_and_kill($leader);
command_ok(['dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '120'],
	'first failover: the old leader rejoins');
$old->_update_pid(1);

($old, $new) = diverge_and_kill($new);
my ($ret, $out, $err) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '120');
is($ret, 0, 'second failover: the old leader rejoins although its WAL back to the last common checkpoint is gone')
  or diag($out . $err);
like($out . $err, qr/no longer has its WAL back to the last common checkpoint/, 'dcf_ctl start saw the missing WAL')
  or diag($out . $err);
like($err, qr/restore-wal: [0-9A-F]{24} from the consensus log/, 'and supplied it from the consensus log');
$old->_update_pid(1);

# the same state, and the supply fails: one clear refusal, no retry loop
($old, $new) = diverge_and_kill($new);
{
	local $ENV{DCF_CTL_INJECT} = 'restore_wal:fail';
	($ret, $out, $err) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '120');
}
isnt($ret, 0, 'with the WAL nowhere to be had, dcf_ctl start fails');
like($err, qr/this node cannot be rewound: .*\n.*dcf_ctl build/, 'it says why and names dcf_ctl build')
  or diag($out . $err);
my $dpath = $old->basedir . '/dcf_data';
ok(-f "$dpath/rebuild_needed", 'it recorded that the node needs a rebuild');
($ret, $out, $err) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '120');
isnt($ret, 0, 'a second dcf_ctl start refuses too');
unlike($out . $err, qr/running pg_rewind/, 'without running pg_rewind again');
like($err, qr/cannot be rewound.*\n.*dcf_ctl build/, 'with the same message');
ok(!-f $old->data_dir . '/postmaster.pid', 'the node stays down');
# the remedy: rebuild it from the cluster (the source found from the members it recorded)
command_ok(['dcf_ctl', 'build', '-b', 'full', '-D', $old->data_dir], 'dcf_ctl build rebuilds it');
ok(!-f "$dpath/rebuild_needed", 'the build cleared the mark');
command_ok(['dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '120'],
	'the rebuilt node rejoins');
$old->_update_pid(1);

insert_acked($new, 10);
my $count = $new->safe_psql('postgres', 'SELECT count(*) FROM t');
for my $n ($c->nodes)
{
	ok($c->wait_query($n, 'SELECT count(*) FROM t', $count, 60), $n->name . " has all $count rows");
	is(DcfRejoin::missing_rows($n, 't', @acked), '0', $n->name . ': every one of the ' . scalar(@acked) . ' acknowledged rows');
	is($n->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id < 0'), '0', $n->name . ': no unacknowledged row');
}

$c->stop_all;
done_testing();
