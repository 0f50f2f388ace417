# A leader whose timeline switch committed before any WAL of its timeline
# (issue 16: found by the fault-injection harness).
#
# The second leader promotes, its timeline-switch entry commits, and its
# server dies before the pump put any WAL of the new timeline into the log
# (dcf.inject = switch_before_pump:kill).  The log's newest timeline then
# holds no WAL: it begins and ends at its switch point.  The next leader's
# standby must still be able to follow that timeline to its (empty) end and
# promote; before the fix every later leader waited in WAIT_RECEIVE forever
# and the cluster had no writable leader.
#
# Then the same once more after a restart of the whole cluster.  At the end
# every dead node rejoins with dcf_ctl start and every acknowledged row is on
# every node.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('swl', 3);
$c->start_all;
my $l1 = $c->wait_for_leader;
$l1->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
$l1->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 100)');
my @acked = (1 .. 100);

sub set_inject
{
	my ($value, @nodes) = @_;
	for my $n (@nodes)
	{
		$n->append_conf('postgresql.conf', "dcf.inject = '$value'\n");
		$n->reload if $n->{_pid};
	}
}

# Wait for the node among @nodes whose log says the injection fired and
# whose server then stopped; returns it.
# (only log lines written after the log offsets in %$from count)
sub wait_injected
{
	my ($from, @nodes) = @_;
	my $t0 = time;
	my $hit;
	while (!$hit && time - $t0 < 90)
	{
		for my $n (@nodes)
		{
			next unless -f $n->logfile;
			my $log = slurp_file($n->logfile);
			$hit = $n if substr($log, $from->{ $n->name } // 0) =~ /injected failure at "switch_before_pump"/;
		}
		usleep(100_000);
	}
	return undef unless $hit;
	usleep(100_000) while -f $hit->data_dir . '/postmaster.pid' && time - $t0 < 120;
	$hit->_update_pid(0);
	return $hit;
}

sub log_offsets
{
	return { map { ($_->name => (-f $_->logfile ? -s $_->logfile : 0)) } $c->nodes };
}

sub rejoin
{
	my ($n) = @_;
	for my $try (1 .. 3)
	{
		my $rc = system('dcf_ctl', 'start', '-D', $n->data_dir, '-l', $n->logfile, '-t', '90');
		$n->_update_pid(-f $n->data_dir . '/postmaster.pid' ? 1 : 0);
		return 1 if $rc == 0;
		diag($n->name . ": dcf_ctl start attempt $try failed");
	}
	return 0;
}

# ---- 1. after a failover ----------------------------------------------------
# The first leader dies with WAL the cluster never had (its own worker is
# paused while it writes, so nothing reaches the log), so it diverged; and the survivor, a
# standby, has replayed no checkpoint of the second leader's timeline (there
# is no WAL of it), so to pg_rewind it looks like a server on the old
# timeline ("no rewind required").  The diverged first leader must still come
# back: it stays up and votes until a leader on the newest timeline can be its
# rewind source.
set_inject('switch_before_pump:kill', $c->followers($l1));
sleep 1;
# (log offsets first: the next leader may be elected, promote and be
# stopped within the second below)
my $from = log_offsets();
my @paused = ($c->worker_pid($l1));
kill 'STOP', @paused;
my @indeterminate = (1000 .. 1099);
my $hang = IPC::Run::start(['psql', '-XAtq', '-d', $l1->connstr('postgres'), '-c',
	'INSERT INTO t SELECT generate_series(1000, 1099)'], '>', \my $hout, '2>', \my $herr);
sleep 1;
kill 'KILL', @paused;	# a stopped worker would keep the shared memory in use
$l1->kill9;
$hang->kill_kill;
my $l2 = wait_injected($from, $c->followers($l1));
ok($l2, 'a second leader committed its timeline switch and was stopped before any of its WAL: '
	  . ($l2 ? $l2->name : 'none'));
my ($y) = grep { $_ != $l1 && $_ != $l2 } $c->nodes;
set_inject('', $y, $l1);

ok(rejoin($l1), $l1->name . ' (first leader) started with dcf_ctl start');
my $r = $c->first_commit('INSERT INTO t VALUES (101)', 120, $l1, $y);
ok($r, 'a third leader takes writes after a switch with no WAL' . ($r ? ' (' . $r->[0]->name . ')' : ''));
push @acked, 101 if $r;
my $l3 = $r ? $r->[0] : $y;

ok(rejoin($l2), $l2->name . ' (second leader) rejoined with dcf_ctl start');
set_inject('', $l2);
$l3->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(102, 150)');
push @acked, 102 .. 150;

# ---- 2. the same, then the whole cluster restarts --------------------------
my @others = $c->followers($l3);
set_inject('switch_before_pump:kill', @others);
sleep 1;
my $offsets = log_offsets();
$l3->kill9;
my $l4 = wait_injected($offsets, @others);
ok($l4, 'again a leader was stopped right after its switch committed: ' . ($l4 ? $l4->name : 'none'));
set_inject('', $c->nodes);
for my $n ($c->nodes)
{
	$n->stop('immediate', fail_ok => 1) if $n->{_pid};
	$n->{_pid} = undef;
}
# all at once: a node joins only once a majority is up
my %h = map { ($_->name => IPC::Run::start(['dcf_ctl', 'start', '-D', $_->data_dir, '-l', $_->logfile, '-t', '120'])) }
  $c->nodes;
for my $n ($c->nodes)
{
	my $ok = $h{ $n->name }->finish;
	$n->_update_pid(-f $n->data_dir . '/postmaster.pid' ? 1 : 0);
	$ok = rejoin($n) if !$ok;	# a rewind the start found necessary is retried once more
	ok($ok, $n->name . ' started after the whole cluster stopped');
}
$r = $c->first_commit('INSERT INTO t VALUES (151)', 120, $c->nodes);
ok($r, 'after a whole-cluster restart a leader takes writes' . ($r ? ' (' . $r->[0]->name . ')' : ''));
push @acked, 151 if $r;

# every acknowledged row on every node (the first leader's last insert was
# never acknowledged: it may or may not be there, but the same on every node)
my $want = join(',', sort { $a <=> $b } @acked);
my $maybe = join(',', @indeterminate);
my $first;
for my $n ($c->nodes)
{
	ok($c->wait_query($n, qq{SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE id NOT IN ($maybe)}, $want, 90),
		$n->name . ' has every acknowledged row and no other but the unacknowledged insert');
	my $rest = $n->safe_psql('postgres', "SELECT count(*) FROM t WHERE id IN ($maybe)");
	$first //= $rest;
	is($rest, $first, $n->name . " has the same $rest rows of the unacknowledged insert as the others");
}

$c->stop_all;
done_testing();
