# dcf_ctl supervise: a node whose server stops without dcf_ctl stop comes
# back by itself as a follower, with no command typed.
#   1. kill -9 of the supervised leader's postmaster under an insert load:
#      a new leader takes over; the old node is back as a follower and
#      receives new writes.
#   2. a fence: SIGSTOP of the (new) leader's processes past the election
#      timeout under load; another node leads; after SIGCONT the old leader
#      fences itself and stops; its supervisor brings it back as a follower.
#   3. dcf_ctl stop of a supervised node stops it and ends its supervisor;
#      nothing restarts it.
# At the end every acknowledged insert is on every running node.
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

my $c = DcfCluster->new('sup', 3);
my %sup;	# node name -> IPC::Run harness of its supervisor

sub sup_log { return $_[0]->basedir . '/supervise.log'; }

sub start_supervisor
{
	my ($node) = @_;
	$sup{ $node->name } = IPC::Run::start(
		[ 'dcf_ctl', 'supervise', '-D', $node->data_dir, '-l', $node->logfile, '-t', '90' ],
		'>>', sup_log($node), '2>>', sup_log($node));
}

sub running
{
	my ($node) = @_;
	open my $f, '<', $node->data_dir . '/postmaster.pid' or return 0;
	my $pid = <$f>;
	close $f;
	chomp $pid;
	return $pid && kill(0, $pid) ? $pid : 0;
}

END
{
	# never leave a supervisor behind to restart a node being torn down
	for my $h (values %sup) { eval { $h->kill_kill(grace => 5) if $h->pumpable; }; }
}

start_supervisor($_) for $c->nodes;
my $leader = $c->wait_for_leader(120);
# every supervisor has finished its first start (a kill during it counts as
# a failed start, not as the crash of a running node)
for my $n ($c->nodes)
{
	my $t = time;
	sleep 0.2 while (!-f sup_log($n) || slurp_file(sup_log($n)) !~ /the node is up and joined its cluster/) && time - $t < 120;
}
$_->_update_pid(1) for $c->nodes;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
my @all_acked;

# Run an insert load on $node until a kill/fence happened and a new leader
# committed; returns the new leader.
sub load_and_fail
{
	my ($round, $old, $from, $fail) = @_;
	my $ackfile = $old->basedir . "/acks_$round";
	unlink $ackfile;
	my $load = $c->start_insert_load($old, 't', $from, $ackfile);
	my $t0 = time;
	sleep 0.2 while ($c->read_acks($ackfile) < 30 && time - $t0 < 60);
	ok($c->read_acks($ackfile) >= 30, "round $round: load running on " . $old->name);
	my $after = $fail->();
	my $r = $c->first_commit("INSERT INTO t VALUES (-$round)", 90, $c->followers($old));
	ok($r, "round $round: a new leader accepts writes");
	my $new = $r->[0];
	diag(sprintf "round %d: %s leads %.2f s after the fault", $round, $new->name, $r->[1]);
	$after->() if $after;
	$load->finish;
	push @all_acked, $c->read_acks($ackfile), -$round;
	return $new;
}

sub back_as_follower
{
	my ($round, $old, $new, $row) = @_;
	my $t0 = time;
	$new->safe_psql('postgres', "INSERT INTO t VALUES ($row)");
	push @all_acked, $row;
	ok($c->wait_query($old, "SELECT count(*) FROM t WHERE id = $row", '1', 180),
		"round $round: " . $old->name . ' is back by itself and receives new writes');
	is($old->safe_psql('postgres', 'SELECT role FROM dcf_replication_info()'), 'FOLLOWER',
		"round $round: and is a FOLLOWER");
	diag(sprintf "round %d: %s receiving writes %.1f s after the new leader's first commit",
		$round, $old->name, time - $t0);
	$old->_update_pid(1);
}

# 1. kill -9 of the leader's postmaster
my $old = $leader;
my $new = load_and_fail(1, $old, 1, sub { $old->kill9; return undef; });
back_as_follower(1, $old, $new, 100000);
like(slurp_file(sup_log($old)), qr/the server stopped without dcf_ctl stop \(crashed or killed\); starting it again/,
	'round 1: the supervisor logged why it restarted the node');

# 2. a fence: SIGSTOP past the election timeout
$old = $new;
my @pids;
$new = load_and_fail(2, $old, 1_000_000, sub {
	$old->_update_pid(1);
	@pids = $c->server_pids($old);
	kill 'STOP', @pids;
	return sub {
		sleep 2.5;	# well past the 1 s election timeout
		kill 'CONT', @pids;
	};
});
my $t0 = time;
usleep(100_000) while (kill(0, $pids[0]) && time - $t0 < 60);
ok(!kill(0, $pids[0]), 'round 2: the stopped old leader fenced itself and its server stopped');
back_as_follower(2, $old, $new, 200000);
like(slurp_file(sup_log($old)), qr/the node was fenced|its WAL diverged/,
	'round 2: the supervisor logged the fence');
like(slurp_file($old->logfile), qr/dcf: node \d+ is fenced/, 'round 2: the server log says it was fenced');

# every acknowledged insert on every node
my $ids = join(',', @all_acked);
for my $n ($c->nodes)
{
	ok($c->wait_query($n,
		"SELECT count(*) FROM unnest(ARRAY[$ids]::int[]) a WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = a)",
		'0', 60), $n->name . ': all ' . scalar(@all_acked) . ' acknowledged inserts are there');
}

# 3. dcf_ctl stop ends the supervisor; nothing restarts the node
my $f = ($c->followers($new))[0];
my $h = $sup{ $f->name };
command_ok([ 'dcf_ctl', 'stop', '-D', $f->data_dir ], 'dcf_ctl stop of a supervised follower');
$t0 = time;
sleep 0.2 while ($h->pumpable && time - $t0 < 30);
ok(!$h->pumpable, 'its supervisor ended');
$h->finish;
is($h->result(0), 0, 'with exit status 0');
sleep 3;
ok(!running($f), 'and the node stays stopped');
like(slurp_file(sup_log($f)), qr/stop requested: stopping the node/, 'the supervisor logged the stop');
$f->_update_pid(0);

# the cluster still commits with two nodes
$new->safe_psql('postgres', 'INSERT INTO t VALUES (300000)');

for my $n (grep { running($_) } $c->nodes)
{
	command_ok([ 'dcf_ctl', 'stop', '-D', $n->data_dir ], 'dcf_ctl stop ' . $n->name);
	$n->_update_pid(0);
}
for my $h2 (values %sup)
{
	$h2->finish;
}
done_testing();
