# bench/failover.pl — failover time of a 3-node dcf cluster with default
# settings: under a continuous insert load, kill -9 of the leader's
# postmaster; the time from the kill to the first successful commit on a
# new leader, over TRIALS trials (default 10).  After each trial the killed
# node rejoins with dcf_ctl start, so every trial starts from three nodes.
# Every insert acknowledged before the kill must be on the new leader.
#
#   make bench-failover [TRIALS=10]      (as a non-root user, after make install)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../regress/t";
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $trials = $ENV{TRIALS} // 10;
my $c = DcfCluster->new('bfo', 3);
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id bigint primary key)');

my @times;
my $next = 1;
for my $trial (1 .. $trials)
{
	my $ackfile = $leader->basedir . "/acks_$trial";
	unlink $ackfile;
	my $load = $c->start_insert_load($leader, 't', $next, $ackfile);
	my $t0 = time;
	sleep 0.1 while ($c->read_acks($ackfile) < 30 && time - $t0 < 60);
	$leader->kill9;
	my $r = $c->first_commit("INSERT INTO t VALUES (-$trial)", 60, $c->followers($leader));
	die "trial $trial: no new leader" unless $r;
	my ($new, $secs) = @$r;
	$load->finish;
	my @acked = $c->read_acks($ackfile);
	my $missing = $new->safe_psql('postgres',
		'SELECT count(*) FROM unnest(ARRAY[' . join(',', @acked) . ']::bigint[]) a WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = a)');
	is($missing, '0', sprintf('trial %d: %.2f s from kill -9 of %s to a commit on %s; all %d acknowledged inserts there',
			$trial, $secs, $leader->name, $new->name, scalar @acked));
	push @times, $secs;
	$next += 1_000_000;		# an unacknowledged insert may still have committed

	# the old leader rejoins for the next trial
	my $old = $leader;
	command_ok(['dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '120'],
		"trial $trial: " . $old->name . ' rejoins');
	$old->_update_pid(1);
	$leader = $new;
}

my @s = sort { $a <=> $b } @times;
my $median = @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
my $summary = sprintf('failover over %d trials: median %.2f s, max %.2f s, min %.2f s (each: %s)',
	scalar @s, $median, $s[-1], $s[0], join(' ', map { sprintf '%.2f', $_ } @times));
diag($summary);
if (open my $out, '>', "$ENV{TESTDIR}/build/bench-failover.txt")
{
	print $out "$summary\n";
	close $out;
}
$_->stop('immediate') for grep { -f $_->data_dir . '/postmaster.pid' } $c->nodes;
done_testing();
