# No timeline ID is ever used by two leaders (issue 11, point 2).
#
# A leader that promotes and dies before its timeline-switch entry commits
# used to leave no trace in the log, so the next leader promoted to the same
# timeline ID with a different switch point, and neither the feeder nor
# pg_rewind could tell the two apart.  Now a leader reserves its timeline in
# the log (committed) before it promotes.
#
# 5 nodes: the first leader is killed; the second promotes and is stopped at
# once by failure injection (dcf.inject = promote_before_switch:kill); the
# third must promote to another timeline.  Both dead leaders then rejoin
# with dcf_ctl start, and every acknowledged row is on every node.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('tlr', 5);
$c->start_all;
my $l1 = $c->wait_for_leader;
$l1->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
$l1->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 100)');
my @acked = (1 .. 100);

sub timeline_of
{
	my ($node) = @_;
	return hex(substr($node->safe_psql('postgres',
				'SELECT pg_walfile_name(pg_current_wal_lsn())'), 0, 8));
}
my $tl1 = timeline_of($l1);
diag("first leader " . $l1->name . " on timeline $tl1");

# every other node: a new leader is stopped right after its promotion
for my $n ($c->followers($l1))
{
	$n->append_conf('postgresql.conf', "dcf.inject = 'promote_before_switch:kill'\n");
	$n->reload;
}
sleep 1;

$l1->kill9;

# the second leader promotes, then its server stops before the switch entry
my $l2;
my $t0 = time;
while (!$l2 && time - $t0 < 60)
{
	for my $n ($c->followers($l1))
	{
		$l2 = $n if -f $n->logfile && slurp_file($n->logfile) =~ /injected failure at "promote_before_switch"/;
	}
	usleep(100_000);
}
ok($l2, 'a second leader promoted and was stopped by failure injection: ' . ($l2 ? $l2->name : 'none'));
usleep(100_000) while -f $l2->data_dir . '/postmaster.pid' && time - $t0 < 90;
$l2->_update_pid(0);
my ($tl2) = map { hex(substr($_, 0, 8)) } grep { /^[0-9A-F]{8}\.history$/ }
  sort { $b cmp $a } map { s{.*/}{}r } glob($l2->data_dir . '/pg_wal/*.history');
ok($tl2 && $tl2 > $tl1, "the second leader promoted to timeline $tl2");

# nobody else may be stopped by the injection now
for my $n (grep { $_ != $l2 } $c->followers($l1))
{
	$n->append_conf('postgresql.conf', "dcf.inject = ''\n");
	$n->reload;
}

my @rest = grep { $_ != $l2 } $c->followers($l1);
my $r = $c->first_commit('INSERT INTO t VALUES (101)', 90, @rest);
ok($r, 'a third leader takes writes');
push @acked, 101;
my $l3 = $r->[0];
my $tl3 = timeline_of($l3);
diag("third leader " . $l3->name . " on timeline $tl3");
isnt($tl3, $tl2, 'the third leader did not reuse the timeline the second promoted to');
ok($tl3 > $tl2, 'it promoted to a timeline above the reserved one');
like(slurp_file($l3->logfile), qr/dcf: reserving timeline $tl3 at log index \d+/, 'it reserved its timeline in the log first');

$l3->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(102, 200)');
push @acked, 102 .. 200;

# both dead leaders rejoin (the second diverged on its abandoned timeline)
for my $old ($l1, $l2)
{
	my $ok = 0;
	for my $try (1 .. 3)
	{
		my $rc = system('dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '90');
		$old->_update_pid(-f $old->data_dir . '/postmaster.pid' ? 1 : 0);
		if ($rc == 0 && $c->wait_query($old, 'SELECT count(*) FROM t', scalar(@acked), 60))
		{
			$ok = 1;
			last;
		}
		diag($old->name . ": dcf_ctl start attempt $try did not rejoin");
	}
	ok($ok, $old->name . ' rejoined with dcf_ctl start');
}
like(slurp_file($l2->logfile), qr/which its leader reserved and promoted to but never switched the cluster to|diverged/,
	'the second leader was found diverged on its abandoned timeline');

# every acknowledged row on every node
$l3->safe_psql('postgres', 'INSERT INTO t VALUES (201)');
push @acked, 201;
$c->check_acked_rows(\@acked, 60);

$c->stop_all;
done_testing();
