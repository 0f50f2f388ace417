# bench/switchover.pl — the write pause of a switchover under a pgbench
# load: SWITCHOVERS (default 10) dcf_ctl switchovers back and forth
# between nodes 1 and 2 of a 3-node cluster, each with pgbench running
# against both nodes in a retry loop (the follower's run fails at once and is
# retried every 20 ms, so pgbench writes on whichever node leads).  Every
# pgbench transaction also inserts (node, clock_timestamp()) into a probe
# table; the pause of one switchover is the time from the last row the old
# leader committed to the first row the new leader committed.  After each
# switchover the old leader must be a follower again by itself (no rewind,
# no fence), and both nodes hold the same probe rows at the end.
#
#   make bench-switchover [SWITCHOVERS=10 CLIENTS=4]   (non-root, after make install)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../regress/t";
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $rounds = $ENV{SWITCHOVERS} // 10;
my $clients = $ENV{CLIENTS} // 4;
my $c = DcfCluster->new('bsw', 3);
$c->start_all;
my ($n1, $n2) = ($c->node(1), $c->node(2));
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf');
if ($leader != $n1)
{
	ok($c->wait_query($leader, 'SELECT state FROM dcf_members() WHERE node_id = 1', 'streaming'), 'n1 streams');
	$leader->safe_psql('postgres', 'SELECT * FROM dcf_switchover(1)');
	$leader = $c->wait_for_leader(60);
}
$leader->safe_psql('postgres', 'CREATE TABLE probe (node int, ts timestamptz)');
command_ok([ 'pgbench', '-i', '-q', '-s', '4', $leader->connstr('postgres') ], 'pgbench -i');

my $script = $leader->basedir . '/probe.sql';
open my $sf, '>', $script or die $!;
print $sf <<'EOS';
\set aid random(1, 100000 * :scale)
\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
INSERT INTO probe VALUES (current_setting('dcf.node_id')::int, clock_timestamp());
END;
EOS
close $sf;

# pgbench against one node, forever: a run that fails (a follower, a refused
# login, the switchover terminating its sessions) is started again
my @loops;
for my $n ($n1, $n2)
{
	my $cs = $n->connstr('postgres');
	# its own process group (setsid), so that the loop and its pgbench stop together
	push @loops, IPC::Run::start([ 'setsid', 'bash', '-c',
		qq(while true; do pgbench -n -c $clients -j 2 -T 3600 -f '$script' "$cs" >/dev/null 2>&1; sleep 0.02; done) ]);
}

sub node_id { return ($_[0]->name =~ /_n(\d+)$/)[0]; }

my @pauses;
for my $round (1 .. $rounds)
{
	my $old = $leader;
	my $new = $old == $n1 ? $n2 : $n1;
	my ($oid, $nid) = (node_id($old), node_id($new));
	ok($c->wait_query($old, "SELECT state FROM dcf_members() WHERE node_id = $nid", 'streaming', 60),
		"round $round: node $nid streams");
	sleep 3;	# the load runs on the leader
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'dcf_ctl', 'switchover', '-D', $new->data_dir, '-t', '60' ], '>', \$out, '2>', \$err);
	is($? >> 8, 0, "round $round: switchover from node $oid to node $nid") or diag("$out$err");
	ok($c->wait_query($old, 'SELECT role FROM dcf_replication_info()', 'FOLLOWER', 90),
		"round $round: node $oid follows by itself");
	sleep 2;	# the load runs on the new leader
	my $pause = $new->safe_psql('postgres', qq{
		WITH last_old AS (SELECT max(ts) t FROM probe WHERE node = $oid),
		     first_new AS (SELECT min(ts) t FROM probe, last_old WHERE node = $nid AND ts > last_old.t)
		SELECT extract(epoch FROM first_new.t - last_old.t) FROM last_old, first_new});
	ok($pause ne '', "round $round: writes on both sides of the switchover");
	push @pauses, $pause if $pause ne '';
	diag(sprintf 'round %d: node %d -> node %d: write pause %.3f s', $round, $oid, $nid, $pause || -1);
	$leader = $new;
}

for my $h (@loops)
{
	kill 'TERM', -$_->{PID} for @{ $h->{KIDS} };
	$h->finish;
}
my $dp = sub { $_[0]->basedir . '/dcf_data' };
ok(!-e $dp->($_) . '/fenced' && !-e $dp->($_) . '/rewind_needed', $_->name . ': never fenced, never marked for a rewind')
  for ($n1, $n2);
my $count = $leader->safe_psql('postgres', 'SELECT count(*) FROM probe');
ok($c->wait_query($_, 'SELECT count(*) FROM probe', $count, 60), $_->name . ": all $count probe rows") for $c->nodes;

my @s = sort { $a <=> $b } @pauses;
my $median = @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
my $summary = sprintf('switchover write pause over %d switchovers (pgbench -c %d): median %.3f s, max %.3f s, min %.3f s (each: %s)',
	scalar @s, $clients, $median, $s[-1], $s[0], join(' ', map { sprintf '%.3f', $_ } @pauses));
diag($summary);
if (open my $out, '>', "$ENV{TESTDIR}/build/bench-switchover.txt")
{
	print $out "$summary\n";
	close $out;
}
$c->stop_all;
done_testing();
