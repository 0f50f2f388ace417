# bench/rejoin.pl — CYCLES (default 100) consecutive fence-or-kill-then-
# `dcf_ctl start` cycles of the leader of a 3-node cluster under a write
# load (issues 12 and 19).  Each cycle does one fault to the current leader,
# in turn:
#   kill      kill -9 of its postmaster
#   pause     SIGSTOP of its whole server past the election timeout, then
#             SIGCONT: it is fenced (stops itself)
#   wpause    SIGSTOP of its dcf worker only (commits wait, its WAL goes past
#             the cluster's), then SIGCONT: it is fenced
#   wkill     SIGSTOP of its dcf worker, then kill -9 of the server: a
#             diverged leader that was not shut down cleanly
# then waits for a new leader, and brings the old one back with dcf_ctl
# start.  Every rejoin must succeed the first time, none may need a rebuild,
# and at the end every acknowledged insert must be on every node.  Prints
# the figures; exits non-zero if any of that fails.
#
#   make rejoin-cycles [CYCLES=100] [REJOIN_WAL_KEEP=0]   (non-root, after make install)
#
# REJOIN_WAL_KEEP sets wal_keep_size (default 0, PostgreSQL's default: the
# nodes recycle WAL, as in production).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../regress/t";
use DcfCluster;
use DcfRejoin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep usleep);

my $cycles = $ENV{CYCLES} // 100;
my $keep = $ENV{REJOIN_WAL_KEEP} // '0';
my $c = DcfCluster->new('brj', 3, extra_conf => "wal_keep_size = '$keep'\n");
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id bigint primary key)');

my @kinds = qw(kill pause wpause wkill);
my (%ok, %failed, @secs, @acked);
my ($rewinds, $rebuilds, $retries) = (0, 0, 0);
my $next = 1;
my $t_start = time;

for my $cycle (1 .. $cycles)
{
	my $kind = $kinds[($cycle - 1) % @kinds];
	my $old = $leader;
	my $ackfile = $old->basedir . "/acks_$cycle";
	unlink $ackfile;
	my $load = $c->start_insert_load($old, 't', $next, $ackfile);
	my $t0 = time;
	sleep 0.1 while (scalar(my @a = $c->read_acks($ackfile)) < 10 && time - $t0 < 30);

	my ($w) = DcfRejoin::wait_worker($old->data_dir, 10);
	my @pids = $c->server_pids($old);
	if ($kind eq 'kill')
	{
		$old->kill9;
	}
	elsif ($kind eq 'pause')
	{
		kill 'STOP', @pids;
	}
	else
	{
		kill 'STOP', $w;
	}
	my $r = $c->first_commit("INSERT INTO t VALUES (-$cycle)", 60, $c->followers($old));
	if (!$r)
	{
		fail("cycle $cycle ($kind): no new leader within 60 s");
		last;
	}
	my $new = $r->[0];
	if ($kind eq 'pause')
	{
		sleep 1;
		kill 'CONT', @pids;
	}
	elsif ($kind eq 'wpause')
	{
		sleep 1;
		kill 'CONT', $w;
	}
	elsif ($kind eq 'wkill')
	{
		kill 'KILL', $w;
		$old->kill9;
	}
	# the old leader stops (fenced) or is gone
	my $t1 = time;
	usleep(100_000) while (DcfRejoin::postmaster_pid($old->data_dir) && time - $t1 < 60);
	$load->finish;
	push @acked, $c->read_acks($ackfile);
	$next += 1_000_000;
	$old->{_pid} = undef;

	my $ts = time;
	my ($ret, $out, $err) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '120');
	my $secs = time - $ts;
	$rewinds++ if ($out =~ /rewind complete/);
	if ($ret == 0)
	{
		$ok{$kind}++;
		push @secs, $secs;
	}
	else
	{
		$failed{$kind}++;
		$rebuilds++ if ($err =~ /cannot be rewound/);
		diag("cycle $cycle ($kind): dcf_ctl start of " . $old->name . " failed:\n$out$err");
		# try once more, to keep the run going if it can
		$retries++;
		($ret, $out, $err) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '120');
		if ($ret != 0)
		{
			fail("cycle $cycle: the second dcf_ctl start failed too; stopping");
			last;
		}
	}
	$old->_update_pid(1);
	$leader = $new;
	diag(sprintf "cycle %d (%s): %s -> %s, rejoin %s in %.1f s%s", $cycle, $kind, $old->name, $new->name,
		$ret == 0 ? 'ok' : 'FAILED', $secs, $out =~ /rewind complete/ ? ' (rewound)' : '');
}

my $done = 0;
$done += $_ for (values %ok, values %failed);
my $nfail = 0;
$nfail += $_ for values %failed;
is($nfail, 0, "every rejoin succeeded the first time ($done cycles)");
is($rebuilds, 0, 'no node needed a rebuild');
is($done, $cycles, "all $cycles cycles ran");

my $count = $leader->safe_psql('postgres', 'SELECT count(*) FROM t');
for my $n ($c->nodes)
{
	ok($c->wait_query($n, 'SELECT count(*) FROM t', $count, 120), $n->name . " has all $count rows");
	is(DcfRejoin::missing_rows($n, 't', @acked), '0',
		$n->name . ': every one of the ' . scalar(@acked) . ' acknowledged inserts is there');
}

my @s = sort { $a <=> $b } @secs;
diag(sprintf "rejoin-cycles: %d cycles in %.0f s (wal_keep_size=%s): %d rejoined at the first dcf_ctl start, %d failed, %d rebuilds; %d rewinds",
	$done, time - $t_start, $keep, scalar(@secs), $nfail, $rebuilds, $rewinds);
diag(sprintf "rejoin-cycles: by fault: %s", join(', ', map { "$_ " . ($ok{$_} // 0) . '/' . (($ok{$_} // 0) + ($failed{$_} // 0)) } @kinds));
diag(sprintf "rejoin-cycles: dcf_ctl start time: median %.1f s, max %.1f s", $s[int(@s / 2)], $s[-1]) if @s;
diag(sprintf "rejoin-cycles: %d acknowledged inserts, all on all 3 nodes", scalar(@acked));

$_->stop('immediate') for grep { -f $_->data_dir . '/postmaster.pid' } $c->nodes;
done_testing();
