# Log retention (issue 11, point 6): a member that stays down no longer pins
# the leader's consensus log until the disk fills.  With a small
# dcf.log_retention_size, a stopped follower is released once it is that far
# behind: the leader recycles the log it would need and shows it as needing
# a build; restarted, the follower says so itself.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Find;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('ret', 3, extra_conf => "dcf.log_retention_size = '8MB'\n");
$c->start_all;
my $leader = $c->wait_for_leader;
my ($keep, $down) = $c->followers($leader);
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key, pad text)');
$leader->safe_psql('postgres', "INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 100) g");
ok($c->wait_query($down, 'SELECT count(*) FROM t', '100'), $down->name . ' has the first rows');
my $down_id = $down->safe_psql('postgres', 'SHOW dcf.node_id');
my $down_last = $down->safe_psql('postgres', 'SELECT last_index FROM dcf_replication_info()');
$down->stop('fast');

sub log_bytes
{
	my ($node) = @_;
	my $sum = 0;
	find(sub { $sum += -s $_ if -f $_ }, $node->basedir . '/dcf_data');
	return $sum;
}

# ~200 MB of WAL while it is down (over 3 log segments of 64 MB), in acknowledged transactions
my $lsn0 = $leader->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my @acked = (1 .. 100);
for my $b (0 .. 11)
{
	my $lo = 1000 + $b * 10000;
	my $hi = $lo + 9999;
	$leader->safe_psql('postgres', "INSERT INTO t SELECT g, repeat(md5(g::text), 30) FROM generate_series($lo, $hi) g");
	push @acked, $lo .. $hi;
}
my $wal_mb = $leader->safe_psql('postgres',
	"SELECT (pg_current_wal_lsn() - '$lsn0'::pg_lsn) / (1024 * 1024)");
diag("WAL written while " . $down->name . " was down: $wal_mb MB");

# the leader releases the stopped follower and recycles its log
my $released = $c->wait_query($leader,
	"SELECT n->>'needs_build' FROM dcf_replication_info(), jsonb_array_elements(nodes) n WHERE (n->>'node_id')::int = $down_id",
	'true', 90);
ok($released, 'the leader shows the stopped follower as needing a build');
my $first = 0;
my $t0 = time;
while (time - $t0 < 60)
{
	$first = $leader->safe_psql('postgres', 'SELECT first_index FROM dcf_replication_info()');
	last if $first > $down_last;
	sleep 1;
}
ok($first > $down_last, "the leader recycled the log the follower would need (first index $first > its last $down_last)");
my $bytes = log_bytes($leader);
diag(sprintf 'leader consensus log: %.1f MB after %s MB of WAL', $bytes / 1048576, $wal_mb);
ok($bytes < $wal_mb * 1048576, 'the leader\'s log holds less than the WAL written since the follower stopped');
like(slurp_file($leader->logfile), qr/dcf: node $down_id is released from log retention; it needs a build/,
	'the leader logs the release');

# restarted, the follower learns it needs a build
$down->start;
my $said = 0;
$t0 = time;
while (time - $t0 < 60 && !$said)
{
	$said = 1 if slurp_file($down->logfile) =~ /fell too far behind its leader \(node \d+\) and needs a build/;
	usleep(200_000);
}
ok($said, 'restarted, the follower says in its log that it needs a build');
my ($ret, $out) = $down->psql('postgres',
	"SELECT n->>'needs_build' FROM dcf_replication_info(), jsonb_array_elements(nodes) n WHERE (n->>'node_id')::int = $down_id",
	connstr => $down->connstr('postgres') . ' application_name=dcf_ctl', extra_params => ['-X']);
is($out, 'true', 'and in dcf_replication_info (as dcf_ctl query shows it)');

# rebuilt with dcf_ctl build (the leader found from the members it recorded), it rejoins
$down->stop('fast');
my ($out, $err) = ('', '');
IPC::Run::run(['dcf_ctl', 'build', '-b', 'full', '-D', $down->data_dir], '>', \$out, '2>', \$err);
is($? >> 8, 0, 'the released follower is rebuilt with dcf_ctl build') or diag($out . $err);
like($out, qr/its consensus log starts at index (\d+)/, 'its new log starts where its copy is');
IPC::Run::run(['dcf_ctl', 'start', '-D', $down->data_dir, '-l', $down->logfile, '-t', '120'], '>', \$out, '2>', \$err);
is($? >> 8, 0, 'and started') or diag($out . $err);
$down->_update_pid(1);
ok($c->wait_query($leader,
	"SELECT coalesce(n->>'needs_build', 'false') FROM dcf_replication_info(), jsonb_array_elements(nodes) n WHERE (n->>'node_id')::int = $down_id",
	'false', 60), 'the leader no longer shows it as needing a build');

# every acknowledged row is on the nodes that should have it
my $want = scalar(@acked);
ok($c->wait_query($_, 'SELECT count(*) FROM t', $want), $_->name . " has all $want acknowledged rows")
  for ($leader, $keep, $down);

$c->stop_all;
done_testing();
