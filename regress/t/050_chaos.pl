# Chaos, bounded: regress/chaos/chaos.py against a real 3-node cluster with
# a fixed seed and a fixed number of faults (about 3 minutes) under the
# insert and bank workloads, then its end checks: every acknowledged insert
# on every node, nodes identical, bank total constant, every acknowledged
# commit on the final timeline history, no node stuck.
#
# The fault kinds are those that need no privilege (kill -9 of the leader
# or of a follower then dcf_ctl start, clean stop/start, SIGSTOP/SIGCONT of
# a whole node or of its dcf worker, the whole cluster stopped and started
# again); partitions (nftables, one OS user per node) are added when this
# runs as root or with passwordless sudo.  No kind is left out for the
# product's sake (bench/RESULTS.md has the long runs).
#
# First, the checker's own test: a run in which an acknowledged insert is
# deleted behind the harness's back must fail and report it lost.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;

my $python = '/usr/bin/python3';
my $harness = "$FindBin::RealBin/../chaos/chaos.py";
my $base = $PostgreSQL::Test::Utils::tmp_check . '/chaos';

my $has_pg = system($python, '-c', 'import psycopg2') == 0;
ok($has_pg, 'python3-psycopg2 is installed (tools/setup.sh installs it)')
  or BAIL_OUT('chaos.py needs Debian python3-psycopg2');

sub run_chaos
{
	my ($name, @args) = @_;
	my @cmd = ($python, $harness, '--workdir', "$base/$name", '--keep', @args);
	my $out = `@cmd 2>&1`;
	my $rc = $? >> 8;
	note($out);
	return ($rc, $out);
}

# the checker catches a lost write
my ($rc, $out) = run_chaos('planted', '--seed', '1', '--faults', '0', '--plant', 'lost',
	'--insert-clients', '2', '--bank-clients', '1');
is($rc, 1, 'a planted lost write fails the run');
like($out, qr/lost acknowledged inserts: [1-9]/, 'and is reported as lost');
like($out, qr/chaos: FAIL \(seed 1/, 'the failing run prints its seed');

# the bounded run
my $seed = 16;
my $faults = 12;
my $kinds = 'kill-leader,kill-follower,stop-start,pause-leader,pause-follower,pause-worker-leader,pause-worker-follower,restart-all';
my @pre;
if ($> != 0 && system('sudo -n true >/dev/null 2>&1') == 0
	&& system('sudo -n nft list tables >/dev/null 2>&1') == 0)
{
	@pre = ('sudo', '-n', "PATH=$ENV{PATH}");
}
my $partitions = ($> == 0 || @pre);
$kinds .= ',part-leader,part-follower,oneway-leader-out,oneway-leader-in,oneway-follower-out,oneway-follower-in'
  if $partitions;
note($partitions ? 'partitions included' : 'partitions left out: not root and no passwordless sudo');
my @cmd = (@pre, $python, $harness, '--workdir', "$base/bounded", '--seed', $seed,
	'--faults', $faults, '--nodes', '3', '--kinds', $kinds);
$out = `@cmd 2>&1`;
$rc = $? >> 8;
diag($out);
is($rc, 0, "bounded chaos run: seed $seed, $faults faults, every check held");
like($out, qr/^faults: $faults /m, "all $faults faults injected");
like($out, qr/lost acknowledged inserts: 0; diverged: no; stuck nodes: 0; acks off the final history: 0/,
	'no acknowledged insert lost, no divergence, no stuck node, no acknowledgement off the final history');
like($out, qr/inserts: [1-9]\d* acknowledged/, 'inserts were acknowledged');
like($out, qr/transfers: [1-9]\d* acknowledged.*, 0 with a wrong total/, 'bank transfers ran, total constant');

done_testing();
