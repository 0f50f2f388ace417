# dcf_ctl list shows "needs build" for a member the leader released from log
# retention (dcf.log_retention_size) while it is down; back, it caught up
# from the log that was not recycled yet and is listed as streaming.  Every
# acknowledged row is on every node at the end.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('lnb', 3, extra_conf => "dcf.log_retention_size = '8MB'\n");
$c->start_all;
my $leader = $c->wait_for_leader;
my ($keep, $down) = $c->followers($leader);
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key, pad text)');
$leader->safe_psql('postgres', "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 100) g");
ok($c->wait_query($down, 'SELECT count(*) FROM t', '100'), $down->name . ' has the first rows');
my $down_id = $down->safe_psql('postgres', 'SHOW dcf.node_id');
$down->stop('fast');

# ~20 MB of WAL while it is down: over the 8 MB retention
my @acked = (1 .. 100);
for my $b (0 .. 1)
{
	my $lo = 1000 + $b * 10000;
	my $hi = $lo + 9999;
	$leader->safe_psql('postgres', "INSERT INTO t SELECT g, repeat(md5(g::text), 30) FROM generate_series($lo, $hi) g");
	push @acked, $lo .. $hi;
}

# Wait until `dcf_ctl list @args --json` shows member $id in $state; returns the member.
sub wait_state
{
	my ($id, $state, @args) = @_;
	my ($out, $err, $m) = ('', '');
	my $t0 = time;
	while (time - $t0 < 90)
	{
		($out, $err) = ('', '');
		IPC::Run::run([ 'dcf_ctl', 'list', @args, '--json' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
		my $doc = eval { decode_json($out) };
		($m) = grep { $_->{node_id} == $id } @{ $doc ? $doc->{members} : [] };
		return ($m, $doc) if $m && $m->{state} eq $state;
		usleep(300_000);
	}
	diag("last output: $out\nstderr: $err");
	return (undef, undef);
}

my ($m, $doc) = wait_state($down_id, 'needs build', '-D', $keep->data_dir);
ok($m, 'the released member, down, is listed as "needs build" in the leader\'s view');
is($doc && $doc->{view}, 'leader', 'the view is the leader\'s');

# restarted, it catches up from what the leader's log still holds (20 MB
# of WAL did not fill a 64 MB segment, so nothing was recycled): its fresh
# report says streaming, and the list believes the report over the release
$down->start;
($m) = wait_state($down_id, 'streaming', '-D', $leader->data_dir);
ok($m, 'restarted and caught up from the log: listed as streaming again');
ok($c->wait_query($down, 'SELECT count(*) FROM t', scalar(@acked)), $down->name . ' has every acknowledged row');

# every acknowledged row is on the nodes that should have it
my $want = scalar(@acked);
ok($c->wait_query($_, 'SELECT count(*) FROM t', $want), $_->name . " has all $want acknowledged rows")
  for ($leader, $keep);

$c->stop_all;
done_testing();
