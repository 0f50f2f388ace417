# bench/pgbench.pl — pgbench against a 3-node dcf cluster and against native
# quorum synchronous replication (1 primary + 2 standbys,
# synchronous_standby_names = 'ANY 1 (...)', synchronous_commit = on), same
# scale, clients and duration, alternating runs in the same session so both
# see the same machine.  Prints TPS, mean latency and the dcf/native ratio.
#
#   make bench-pgbench [SCALE=10 CLIENTS=8 SECONDS=30 ROUNDS=2]
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../regress/t";
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
my $c = DcfCluster->new('bpg', 3, extra_conf => $common);
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf');

# native quorum synchronous replication
my $p = PostgreSQL::Test::Cluster->new('nat_p');
$p->init(allows_streaming => 1);
$p->append_conf('postgresql.conf', $common . "max_connections = 100\n");
$p->start;
$p->backup('b');
my @s;
for my $i (1, 2)
{
	my $s = PostgreSQL::Test::Cluster->new("nat_s$i");
	$s->init_from_backup($p, 'b', has_streaming => 1);
	$s->append_conf('postgresql.conf', $common);
	$s->start;
	push @s, $s;
}
$p->append_conf('postgresql.conf', "synchronous_standby_names = 'ANY 1 (nat_s1, nat_s2)'\n");
$p->reload;
$p->poll_query_until('postgres', "SELECT count(*) = 2 FROM pg_stat_replication WHERE sync_state = 'quorum'")
  or die 'native standbys not in quorum';

for my $n ($leader, $p)
{
	command_ok(['pgbench', '-i', '-q', '-s', $scale, '-d', $n->connstr('postgres')], 'pgbench -i on ' . $n->name);
}

sub run_pgbench
{
	my ($node) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(['pgbench', '-n', '-c', $clients, '-j', 2, '-T', $seconds, '-d', $node->connstr('postgres')],
		'>', \$out, '2>', \$err) or die "pgbench failed on " . $node->name . ": $err";
	my ($tps) = $out =~ /tps = ([\d.]+) \(without initial connection time\)/;
	my ($lat) = $out =~ /latency average = ([\d.]+) ms/;
	die "cannot parse pgbench output: $out" unless defined $tps && defined $lat;
	return ($tps, $lat);
}

my (%tps, %lat);
for my $r (1 .. $rounds)
{
	for my $kind ('native', 'dcf')
	{
		my ($t, $l) = run_pgbench($kind eq 'dcf' ? $leader : $p);
		push @{ $tps{$kind} }, $t;
		push @{ $lat{$kind} }, $l;
		diag(sprintf 'round %d %-6s: %.1f tps, %.2f ms mean latency', $r, $kind, $t, $l);
	}
}
sub avg { my $s = 0; $s += $_ for @_; return $s / @_; }
my ($td, $tn, $ld, $ln) = (avg(@{ $tps{dcf} }), avg(@{ $tps{native} }), avg(@{ $lat{dcf} }), avg(@{ $lat{native} }));
my $summary = sprintf("pgbench -s %d -c %d -T %d, %d rounds: dcf %.1f tps %.2f ms; native quorum sync rep %.1f tps %.2f ms; TPS ratio dcf/native %.2f, latency ratio %.2f",
	$scale, $clients, $seconds, $rounds, $td, $ld, $tn, $ln, $td / $tn, $ld / $ln);
diag($summary);
ok($td > 0 && $tn > 0, 'both ran');
if (open my $out, '>', "$ENV{TESTDIR}/build/bench-pgbench.txt")
{
	print $out "$summary\n";
	close $out;
}
$_->stop('immediate') for ($c->nodes, $p, @s);
done_testing();
