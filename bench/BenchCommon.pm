# BenchCommon — what the benchmarks comparing dcf with native replication
# share (bench/pgbench.pl, bench/bulk.pl).
#
#   my ($p, @s) = BenchCommon::native_quorum($conf);  # nat_p + nat_s1, nat_s2 in quorum
#   my ($tps, $lat, $out) = BenchCommon::pgbench($node, $clients, $seconds);
package BenchCommon;

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;

# Native quorum synchronous replication: a primary nat_p and two streaming
# standbys nat_s1 and nat_s2 (copies of its configuration, $conf appended),
# synchronous_standby_names = 'ANY 1 (nat_s1, nat_s2)'; returns once both
# standbys are in the quorum.
sub native_quorum
{
	my ($conf) = @_;
	my $p = PostgreSQL::Test::Cluster->new('nat_p');
	$p->init(allows_streaming => 1);
	$p->append_conf('postgresql.conf', $conf . "max_connections = 100\n");
	$p->start;
	$p->backup('b');
	my @s;
	for my $k (1, 2)
	{
		my $s = PostgreSQL::Test::Cluster->new("nat_s$k");
		$s->init_from_backup($p, 'b', has_streaming => 1);
		$s->start;
		push @s, $s;
	}
	$p->append_conf('postgresql.conf', "synchronous_standby_names = 'ANY 1 (nat_s1, nat_s2)'\n");
	$p->reload;
	$p->poll_query_until('postgres', "SELECT count(*) = 2 FROM pg_stat_replication WHERE sync_state = 'quorum'")
	  or die 'native standbys not in quorum';
	return ($p, @s);
}

# pgbench -n -c $clients -j 2 -T $seconds on $node's postgres database;
# returns its TPS (without the initial connection time), mean latency in ms
# and whole output.  Dies when it fails or its output cannot be read.
sub pgbench
{
	my ($node, $clients, $seconds) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'pgbench', '-n', '-c', $clients, '-j', 2, '-T', $seconds, '-d', $node->connstr('postgres') ],
		'>', \$out, '2>', \$err) or die 'pgbench failed on ' . $node->name . ": $err";
	my ($tps) = $out =~ /tps = ([\d.]+) \(without initial connection time\)/;
	my ($lat) = $out =~ /latency average = ([\d.]+) ms/;
	die "cannot parse pgbench output: $out" unless defined $tps && defined $lat;
	return ($tps, $lat, $out);
}

1;
