# Failover: under a continuous insert load, kill -9 of the leader's
# postmaster; a new leader accepts writes and has every insert acknowledged
# before the kill.  The killed node, started with dcf_ctl start, rejoins as a
# follower (rewound if its WAL went past the cluster's) and receives new
# writes.  A second failover (another timeline): every follower follows.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('fo', 3);
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
# the timeline a primary writes on, from its current WAL file name
my $tli_sql = q{SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int};
my $tli0 = $leader->safe_psql('postgres', $tli_sql);

sub failover_under_load
{
	my ($round, $old, $from) = @_;
	my $ackfile = $old->basedir . "/acks_$round";
	unlink $ackfile;
	my $load = $c->start_insert_load($old, 't', $from, $ackfile);
	my $t0 = time;
	sleep 0.2 while ($c->read_acks($ackfile) < 50 && time - $t0 < 60);
	my @before = $c->read_acks($ackfile);
	ok(@before >= 50, "round $round: load running on " . $old->name . " (" . scalar(@before) . " acks)");

	$old->kill9;
	my $t_kill = time;
	my @acked = $c->read_acks($ackfile);	# what was acknowledged before the kill
	my $r = $c->first_commit('INSERT INTO t VALUES (-' . $round . ')', 60, $c->followers($old));
	ok($r, "round $round: a new leader accepts writes");
	my ($new, $secs) = @$r;
	diag(sprintf "round %d: failover %.2f s (kill -9 of %s -> first commit on %s)", $round, $secs, $old->name, $new->name);
	$load->finish;
	@acked = $c->read_acks($ackfile);
	my $missing = $new->safe_psql('postgres',
		'SELECT count(*) FROM unnest(ARRAY[' . join(',', @acked) . ']::int[]) a WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = a)');
	is($missing, '0', "round $round: all " . scalar(@acked) . " inserts acknowledged before the kill are on the new leader");
	# an insert may have committed after its id was last acknowledged
	return ($new, $from + 1_000_000);
}

my ($new, $next) = failover_under_load(1, $leader, 1);
my $tli1 = $new->safe_psql('postgres', $tli_sql);
ok($tli1 > $tli0, "new leader is on a new timeline ($tli1 > $tli0)");

# the killed leader rejoins with dcf_ctl start
my $old = $leader;
command_ok(['dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '90'],
	'dcf_ctl start brings the killed leader back');
$old->_update_pid(1);
$new->safe_psql('postgres', 'INSERT INTO t VALUES (100000)');
ok($c->wait_query($old, 'SELECT count(*) FROM t WHERE id = 100000', '1'), 'the old leader receives new writes as a follower');
is($old->safe_psql('postgres', 'SELECT role FROM dcf_replication_info()'), 'FOLLOWER', 'and says FOLLOWER');

# second failover: timeline moves again, every follower follows
my ($third) = failover_under_load(2, $new, $next);
my $tli2 = $third->safe_psql('postgres', $tli_sql);
ok($tli2 > $tli1, "second failover: another timeline ($tli2 > $tli1)");
command_ok(['dcf_ctl', 'start', '-D', $new->data_dir, '-l', $new->logfile, '-t', '90'],
	'the second killed leader comes back too');
$new->_update_pid(1);
$third->safe_psql('postgres', 'INSERT INTO t VALUES (200000)');
my $count = $third->safe_psql('postgres', 'SELECT count(*) FROM t');
for my $n ($c->followers($third))
{
	ok($c->wait_query($n, 'SELECT count(*) FROM t', $count), $n->name . " follows onto timeline $tli2 and has all $count rows");
	ok($c->wait_query($n, 'SELECT received_tli FROM pg_stat_wal_receiver', $tli2), $n->name . " streams timeline $tli2");
}

$c->stop_all;
done_testing();
