# bench/pgbench.pl — pgbench against a 3-node dcf cluster and against native
# quorum synchronous replication (1 primary + 2 standbys,
# synchronous_standby_names = 'ANY 1 (...)', synchronous_commit = on), same
# scale, clients and duration, alternating runs in the same session so both
# see the same machine.  Prints TPS, mean latency and the dcf/native ratio.
#
#   make bench-pgbench [SCALE=10 CLIENTS=8 SECONDS=30 ROUNDS=2]
#   make bench-pgbench DCF_CONF="dcf.flow_control = on"   (extra settings of the dcf nodes)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../regress/t";
use lib $FindBin::RealBin;
use BenchCommon;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $scale = $ENV{SCALE} // 10;
my $clients = $ENV{CLIENTS} // 8;
my $seconds = $ENV{SECONDS} // 30;
my $rounds = $ENV{ROUNDS} // 2;
my $common = "fsync = on\nsynchronous_commit = on\nshared_buffers = 128MB\nmax_wal_size = 1GB\n";

# dcf
my $c = DcfCluster->new('bpg', 3, extra_conf => $common . ($ENV{DCF_CONF} // '') . "\n");
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf');

# native quorum synchronous replication
my ($p, @s) = BenchCommon::native_quorum($common);

for my $n ($leader, $p)
{
	command_ok(['pgbench', '-i', '-q', '-s', $scale, '-d', $n->connstr('postgres')], 'pgbench -i on ' . $n->name);
}

my (%tps, %lat);
for my $r (1 .. $rounds)
{
	for my $kind ('native', 'dcf')
	{
		my ($t, $l) = BenchCommon::pgbench($kind eq 'dcf' ? $leader : $p, $clients, $seconds);
		push @{ $tps{$kind} }, $t;
		push @{ $lat{$kind} }, $l;
		diag(sprintf 'round %d %-6s: %.1f tps, %.2f ms mean latency', $r, $kind, $t, $l);
	}
}
sub avg { my $s = 0; $s += $_ for @_; return $s / @_; }
my ($td, $tn, $ld, $ln) = (avg(@{ $tps{dcf} }), avg(@{ $tps{native} }), avg(@{ $lat{dcf} }), avg(@{ $lat{native} }));
my $summary = sprintf("pgbench -s %d -c %d -T %d, %d rounds: dcf %.1f tps %.2f ms; native quorum sync rep %.1f tps %.2f ms; TPS ratio dcf/native %.2f, latency ratio %.2f",
	$scale, $clients, $seconds, $rounds, $td, $ld, $tn, $ln, $td / $tn, $ld / $ln);
$summary .= ($ENV{DCF_CONF} ? " (dcf with: $ENV{DCF_CONF})" : '');
diag($summary);
diag('dcf flow control on the leader: ' .
	$leader->safe_psql('postgres', q{SELECT policy->'flow' FROM dcf_replication_info()}));
ok($td > 0 && $tn > 0, 'both ran');
if (open my $out, '>', "$ENV{TESTDIR}/build/bench-pgbench.txt")
{
	print $out "$summary\n";
	close $out;
}
$_->stop('immediate') for ($c->nodes, $p, @s);
done_testing();
