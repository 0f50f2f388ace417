# Switchover (issue 14).  Nodes: two FOLLOWERs that may lead, one LOGGER.
# Refused, each with its reason: a LOGGER target, a non-member, a target
# whose standby lags more than dcf.switchover_max_lag.  Under an insert load,
# dcf_ctl switchover -D on the target: the target leads, a session of the
# old leader is told why it was terminated, the old leader comes back as a
# standby by itself (same postmaster, no rewind, no fence) and receives new
# writes; the outcome is in its dcf_admin_requests() after its restart.
# Back again with --target from the LOGGER's data directory.  A SIGSTOPped
# target: the switchover is aborted at its timeout and the old leader takes
# writes again.  Every acknowledged insert is on both data nodes at the end.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('sw', 3, roles => [ 'LEADER', 'FOLLOWER', 'LOGGER' ],
	extra_conf => "dcf.switchover_max_lag = '1MB'");
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
my %id = map { $_->name => ($_->name =~ /_n(\d+)$/)[0] } $c->nodes;
my $logger = $c->node(3);
my ($other) = grep { $_ != $leader && $_ != $logger } $c->nodes;
ok($c->wait_query($other, q{SELECT count(*) FROM pg_tables WHERE tablename = 't'}, '1'), 'the other follower has the table');
my @acked;


# ---- refusals, each with its reason -----------------------------------------
my ($rc, $out, $err) = $c->dcf_ctl('switchover', '--target=3', '-D', $other->data_dir);
is($rc, 1, 'a switchover to the LOGGER exits 1');
like($err, qr/cannot switch over to node 3: it is a LOGGER member/, 'refused: LOGGER');
($rc, $out, $err) = $c->dcf_ctl('switchover', '--target=9', '-D', $leader->data_dir);
like($err, qr/node 9 is not a member of the dcf cluster/, 'refused: not a member');

$other->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
$leader->safe_psql('postgres', 'INSERT INTO t SELECT g FROM generate_series(10000001, 10050000) g');
# the leader learns the target's replay position from its status reports (each second)
ok($c->wait_query($leader, "SELECT lag_bytes > 1048576 FROM dcf_members() WHERE node_id = $id{$other->name}", 't'),
	'the leader sees the target lag');
my (undef, undef, $lag_err) = $leader->psql('postgres', "SELECT * FROM dcf_switchover($id{$other->name}, 10)");
like($lag_err, qr/cannot switch over to node $id{$other->name}: it is behind by \d+ bytes of WAL/, 'refused: lagging beyond dcf.switchover_max_lag');
$other->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
ok($c->wait_query($other, 'SELECT count(*) >= 50000 FROM t', 't'), 'the target caught up again');
is($leader->safe_psql('postgres', 'SELECT NOT pg_is_in_recovery()'), 't', 'the leader still leads after the refusals');

# ---- switchover under load ----------------------------------------------------
sub switchover_under_load
{
	my ($round, $old, $new, $from, @ctl) = @_;
	my $ackfile = $old->basedir . "/acks_$round";
	unlink $ackfile;
	my $load = $c->start_insert_load($old, 't', $from, $ackfile);
	my $t0 = time;
	sleep 0.2 while ($c->read_acks($ackfile) < 30 && time - $t0 < 60);
	ok($c->read_acks($ackfile) >= 30, "round $round: load running on " . $old->name);
	my $old_pm = $old->{_pid};
	my ($sess_out, $sess_err) = ('', '');
	my $sess = IPC::Run::start([ 'psql', '-X', '-d', $old->connstr('postgres'), '-c', 'SELECT pg_sleep(60)' ],
		'>', \$sess_out, '2>', \$sess_err);
	sleep 0.3;

	my ($r, $o, $e) = $c->dcf_ctl('switchover', @ctl, '-t', '60');
	is($r, 0, "round $round: dcf_ctl switchover exits 0") or diag("stdout: $o\nstderr: $e");
	like($o, qr/node $id{$new->name} leads and accepts writes \(([\d.]+) s\)/, "round $round: the target leads and accepts writes");
	diag("round $round: " . ($o =~ /\(([\d.]+) s\)/ ? "$1 s" : '?') . ' from the call to writes on the target');
	$sess->finish;
	like($sess_err, qr/terminating connection: dcf node $id{$old->name} hands leadership over to node $id{$new->name} \(switchover\)/,
		"round $round: a session of the old leader is told why it ended");
	$load->finish;
	push @acked, $c->read_acks($ackfile);

	ok($c->wait_query($old, 'SELECT role FROM dcf_replication_info()', 'FOLLOWER', 90),
		"round $round: the old leader is a FOLLOWER again by itself");
	ok(kill(0, $old_pm), "round $round: its postmaster stayed up (restarted in place)");
	my $dp = $old->basedir . '/dcf_data';
	ok(!-e "$dp/fenced" && !-e "$dp/rewind_needed", "round $round: it was neither fenced nor marked for a rewind");
	my $log = slurp_file($old->logfile);
	like($log, qr/restarts as a standby of node $id{$new->name} \(switchover\)/, "round $round: it restarted as a standby");
	$new->safe_psql('postgres', "INSERT INTO t VALUES (-$round)");
	push @acked, -$round;
	ok($c->wait_query($old, "SELECT count(*) FROM t WHERE id = -$round", '1'), "round $round: it receives new writes");
	is($old->safe_psql('postgres',
		q{SELECT state FROM dcf_admin_requests() WHERE kind = 'transfer leadership' ORDER BY id DESC LIMIT 1}),
		'committed', "round $round: the outcome is kept on the old leader after its restart");
	return $from + 1_000_000;
}

my $next = switchover_under_load(1, $leader, $other, 1, '-D', $other->data_dir);
$next = switchover_under_load(2, $other, $leader, $next, "--target=$id{$leader->name}", '-D', $logger->data_dir);
unlike(slurp_file($leader->logfile) . slurp_file($other->logfile), qr/pg_rewind|dcf: node \d+ is fenced/, 'no rewind, no fence on either node');

# ---- a SIGSTOPped target: aborted at the timeout, writes resume ---------------
ok($c->wait_query($leader, "SELECT state FROM dcf_members() WHERE node_id = $id{$other->name}", 'streaming'),
	'the target streams again');
my @pids = $c->server_pids($other);
kill 'STOP', @pids;
my $t0 = time;
my ($r, $o, $e) = $leader->psql('postgres', "SELECT * FROM dcf_switchover($id{$other->name}, 5)");
my $secs = time - $t0;
isnt($r, 0, 'a switchover to a stopped target fails');
like($e, qr/switchover to node $id{$other->name} was aborted: .*\nDETAIL:  Node $id{$leader->name} takes writes again/,
	'it is aborted, and the old leader says it takes writes again');
diag(sprintf 'the aborted switchover returned after %.1f s (timeout 5 s)', $secs);
my $w = $c->first_commit('INSERT INTO t VALUES (-100)', 60, $leader);
ok($w, 'the old leader takes writes again');
push @acked, -100 if $w;
is($leader->safe_psql('postgres',
	q{SELECT state FROM dcf_admin_requests() WHERE kind = 'transfer leadership' ORDER BY id DESC LIMIT 1}),
	'aborted', 'the outcome is kept: aborted');
kill 'CONT', @pids;

# ---- every acknowledged insert on both data nodes -----------------------------
my $final = $c->wait_for_leader;
my $list = join(',', @acked);
for my $n ($leader, $other)
{
	ok($c->wait_query($n, "SELECT count(*) FROM unnest(ARRAY[$list]::int[]) a WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = a)", '0', 90),
		$n->name . ': all ' . scalar(@acked) . ' acknowledged inserts are there');
	is($n->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id BETWEEN 10000001 AND 10050000'), '50000',
		$n->name . ': and the 50000 rows of the lag test');
}

$c->stop_all;
done_testing();
