# bench/bulk.pl — bulk loads and pgbench on a 3-node dcf cluster against
# native quorum synchronous replication (1 primary + 2 standbys,
# synchronous_standby_names = 'ANY 1 (...)', synchronous_commit = on), same
# settings, in the same session, alternating which goes first every round.
#
# Each round, on each system:
#   insert  INSERT INTO b1 SELECT * FROM src   (ROWS rows of ~530 bytes, one transaction)
#   copy    COPY b2 FROM a file written once by COPY src TO
#   index   CREATE INDEX ON b2 (k)
#   pgbench pgbench -c 8 and -c 32 for SECONDS seconds each
# Before every timed step: CHECKPOINT, and every replica has replayed all WAL,
# so one step's replication backlog never lands in the next step.
# Prints, per step, the median time (or TPS) of both, the dcf/native ratio,
# the WAL MB/s of both, and the CPU milliseconds per WAL MB of every server
# process (from /proc/PID/stat; cluster_name tells the servers apart:
# nat_p/nat_s1/nat_s2 native, bbl_n1/2/3 dcf) and the bytes each wrote to storage
# (/proc/PID/io) per WAL MB.  The pad column is hex text (md5), which lz4
# barely compresses: a worst case for dcf.compress = lz4.
#
#   make bench-bulk [ROWS=300000 ROUNDS=3 SECONDS=20 SCALE=10 CLIENTS="8 32" STEPS="insert copy index pgbench"]
#   DCF_CONF='dcf.compress = lz4' adds settings to the dcf nodes only.
#   BENCH_MARK_DIR=DIR: DIR/STEP-KIND lists the server processes while a step runs.
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
use Time::HiRes qw(time usleep);
use POSIX qw(sysconf);

my $rows = $ENV{ROWS} // 300000;
my $rounds = $ENV{ROUNDS} // 3;
my $seconds = $ENV{SECONDS} // 20;
my $scale = $ENV{SCALE} // 10;
my @clients = split ' ', ($ENV{CLIENTS} // '8 32');
my %step_on = map { $_ => 1 } split ' ', ($ENV{STEPS} // 'insert copy index pgbench');
my $common = "fsync = on\nsynchronous_commit = on\nshared_buffers = 128MB\n"
  . "max_wal_size = 4GB\ncheckpoint_timeout = 30min\nwal_keep_size = '256MB'\n";
my $hz = sysconf(POSIX::_SC_CLK_TCK()) || 100;

# dcf
# dcf.election_timeout 5 s: on this shared 2-core machine (load 15-30 from
# other sessions) a worker can wait over a second for a CPU; with the default
# 1 s that started elections in the middle of a bulk load twice, and the old
# leader fenced itself.  It changes no throughput figure.
my $c = DcfCluster->new('bbl', 3,
	extra_conf => $common . "dcf.election_timeout = '5s'\n" . ($ENV{DCF_CONF} // '') . "\n");
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf');

# native quorum synchronous replication
my ($p, @s) = BenchCommon::native_quorum($common);

my %sys = (
	native => { primary => $p, replicas => [@s], servers => [$p, @s] },
	dcf => { primary => $leader, replicas => [ $c->followers($leader) ], servers => [ $c->nodes ] });

# wait until every replica has replayed all of the primary's WAL
sub catch_up
{
	my ($kind) = @_;
	my $x = $sys{$kind};
	my $lsn = $x->{primary}->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	for my $r (@{ $x->{replicas} })
	{
		$r->poll_query_until('postgres', "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")
		  or die 'replica ' . $r->name . " did not replay up to $lsn";
	}
}

# source data and the COPY file, once per system
my $pad = join(' || ', map { "md5((g * 15 + $_)::text)" } 0 .. 14);
for my $kind ('native', 'dcf')
{
	my $n = $sys{$kind}{primary};
	my $file = $n->basedir . '/bulk.copy';
	$n->safe_psql('postgres', qq(
		CREATE TABLE src (id bigint, ts timestamptz, k text, pad text);
		INSERT INTO src SELECT g, '2026-01-01'::timestamptz + g * interval '1 s', md5(g::text), $pad
		  FROM generate_series(1, $rows) g;
		VACUUM ANALYZE src;
		COPY src TO '$file';));
	$sys{$kind}{file} = $file;
	command_ok(['pgbench', '-i', '-q', '-s', $scale, '-d', $n->connstr('postgres')], "pgbench -i on $kind")
	  if $step_on{pgbench};
	catch_up($kind);
}
my $rowbytes = $p->safe_psql('postgres', 'SELECT avg(pg_column_size(src.*))::int FROM src');
diag("source: $rows rows, $rowbytes bytes each on average");

# ---- CPU and storage writes of every server process -------------------------
sub server_procs
{
	my ($kind) = @_;
	my %pids;
	for my $n (@{ $sys{$kind}{servers} })
	{
		$pids{$_} = 1 for $c->server_pids($n);
	}
	return keys %pids;
}

sub snap
{
	my ($kind) = @_;
	my %d;
	for my $pid (server_procs($kind))
	{
		open my $st, '<', "/proc/$pid/stat" or next;
		my $stat = <$st>;
		close $st;
		open my $cl, '<', "/proc/$pid/cmdline" or next;
		my $cmd = do { local $/; <$cl> } // '';
		close $cl;
		$cmd =~ s/\0/ /g;
		$cmd =~ s/\s+$//;
		my @f = split ' ', (split /\)/, $stat)[-1];
		my $wb = 0;
		if (open my $io, '<', "/proc/$pid/io")
		{
			while (my $l = <$io>) { $wb = $1 if $l =~ /^write_bytes: (\d+)/; }
			close $io;
		}
		$d{$pid} = [ $cmd, ($f[11] + $f[12]) / $hz, $wb ];
	}
	return \%d;
}

# "postgres: d2: walreceiver streaming 0/3A000000" -> "d2: walreceiver"
sub proc_key
{
	my ($cmd) = @_;
	return "$1: postmaster" if $cmd =~ /--cluster-name=(\S+)/;
	$cmd =~ s/^postgres: //;
	$cmd =~ s/ (streaming|recovering|waiting|idle|\[local\]|\d).*$//;
	$cmd =~ s/^(\S+: walsender) .*/$1/;
	return $cmd;
}

# CPU ms and MB written, per process key, between two snapshots
sub proc_diff
{
	my ($a, $b) = @_;
	my %agg;
	for my $pid (keys %$b)
	{
		next unless exists $a->{$pid};
		my $k = proc_key($b->{$pid}[0]);
		$agg{$k}[0] += ($b->{$pid}[1] - $a->{$pid}[1]) * 1000;
		$agg{$k}[1] += ($b->{$pid}[2] - $a->{$pid}[2]) / 1e6;
	}
	return \%agg;
}

# ---- the steps ----------------------------------------------------------------
my %res;	# $res{$step}{$kind} = [ [value, wal_mb, secs, procs], ... ]

sub wal_lsn { return $_[0]->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()'); }

sub wal_mb
{
	my ($n, $from, $to) = @_;
	return $n->safe_psql('postgres', "SELECT pg_wal_lsn_diff('$to', '$from')") / 1e6;
}

# BENCH_MARK_DIR=dir: while a step runs, dir/STEP-KIND lists the server
# processes (pid and title), for a profiler attached from outside
sub mark
{
	my ($kind, $step, $on) = @_;
	return unless $ENV{BENCH_MARK_DIR};
	my $f = "$ENV{BENCH_MARK_DIR}/$step-$kind";
	if (!$on)
	{
		unlink $f;
		return;
	}
	my $s = snap($kind);
	open my $o, '>', "$f.tmp" or die "$f.tmp: $!";
	print $o "$_ " . proc_key($s->{$_}[0]) . "\n" for sort keys %$s;
	close $o;
	rename "$f.tmp", $f or die $!;
}

sub timed_sql
{
	my ($kind, $step, $prep, $sql) = @_;
	my $n = $sys{$kind}{primary};
	$n->safe_psql('postgres', $prep) if $prep;
	$n->safe_psql('postgres', 'CHECKPOINT');
	catch_up($kind);
	my $l0 = wal_lsn($n);
	my $s0 = snap($kind);
	mark($kind, $step, 1);
	my $t0 = time;
	# the server's clock after the statement, before COMMIT: what remains
	# (COMMIT) is the wait for replication to catch up with the statement's WAL
	my $t_stmt = $n->safe_psql('postgres',
		"BEGIN; $sql; SELECT extract(epoch FROM clock_timestamp()); COMMIT;");
	my $t1 = time;
	my $secs = $t1 - $t0;
	my $commit = $t1 - $t_stmt;
	mark($kind, $step, 0);
	my $s1 = snap($kind);
	my $mb = wal_mb($n, $l0, wal_lsn($n));
	push @{ $res{$step}{$kind} }, [ $secs, $mb, $secs, proc_diff($s0, $s1), $commit ];
	diag(sprintf '%-8s %-6s: %7.2f s (commit %5.2f s), %7.1f WAL MB, %6.1f MB/s', $step, $kind, $secs, $commit, $mb, $mb / $secs);
}

sub run_pgbench
{
	my ($kind, $clients) = @_;
	my $n = $sys{$kind}{primary};
	my $step = "pgbench$clients";
	$n->safe_psql('postgres', 'CHECKPOINT');
	catch_up($kind);
	my $l0 = wal_lsn($n);
	my $s0 = snap($kind);
	mark($kind, $step, 1);
	my ($tps) = BenchCommon::pgbench($n, $clients, $seconds);
	mark($kind, $step, 0);
	my $s1 = snap($kind);
	my $mb = wal_mb($n, $l0, wal_lsn($n));
	push @{ $res{$step}{$kind} }, [ $tps, $mb, $seconds, proc_diff($s0, $s1) ];
	diag(sprintf '%-10s %-6s: %8.1f tps, %7.1f WAL MB, %6.1f MB/s', $step, $kind, $tps, $mb, $mb / $seconds);
}

sub one_round
{
	my ($kind) = @_;
	if ($step_on{insert})
	{
		timed_sql($kind, 'insert', 'DROP TABLE IF EXISTS b1; CREATE TABLE b1 (LIKE src) WITH (autovacuum_enabled = off)',
			'INSERT INTO b1 SELECT * FROM src');
	}
	if ($step_on{copy} || $step_on{index})
	{
		timed_sql($kind, 'copy', 'DROP TABLE IF EXISTS b2; CREATE TABLE b2 (LIKE src) WITH (autovacuum_enabled = off)',
			"COPY b2 FROM '$sys{$kind}{file}'");
	}
	if ($step_on{index})
	{
		timed_sql($kind, 'index', '', 'CREATE INDEX b2_k ON b2 (k)');
	}
	if ($step_on{pgbench})
	{
		for my $cl (@clients) { run_pgbench($kind, $cl); }
	}
}

for my $r (1 .. $rounds)
{
	diag("round $r");
	my @order = $r % 2 ? ('native', 'dcf') : ('dcf', 'native');
	for my $kind (@order) { one_round($kind); }
}

# ---- summary -----------------------------------------------------------------------
sub median
{
	my @v = sort { $a <=> $b } @_;
	return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

my @lines;
my $load = do { open my $la, '<', '/proc/loadavg'; my $l = <$la>; (split ' ', $l)[2] };
push @lines, sprintf('bench-bulk: %d rows of %d bytes, %d rounds, pgbench -s %d -T %d; load average (15 min) at the end %s',
	$rows, $rowbytes, $rounds, $scale, $seconds, $load);
push @lines, sprintf('%-10s %12s %12s %7s %10s %10s', 'step', 'native', 'dcf', 'ratio', 'nat MB/s', 'dcf MB/s');
my @steps = grep { $res{$_} } ('insert', 'copy', 'index', map { "pgbench$_" } @clients);
for my $step (@steps)
{
	my %m;
	for my $kind ('native', 'dcf')
	{
		my @v = @{ $res{$step}{$kind} };
		$m{$kind} = median(map { $_->[0] } @v);
		$m{"${kind}_mbs"} = median(map { $_->[1] / $_->[2] } @v);
		$m{"${kind}_commit"} = median(map { $_->[4] // 0 } @v);
	}
	my $unit = $step =~ /^pgbench/ ? 'tps' : 's';
	push @lines, sprintf('%-10s %10.2f %-2s %9.2f %-2s %6.2f  %10.1f %10.1f   (%s ratio dcf/native; each: native %s; dcf %s)',
		$step, $m{native}, $unit, $m{dcf}, $unit, $m{dcf} / $m{native}, $m{native_mbs}, $m{dcf_mbs},
		$unit eq 's' ? 'time' : 'TPS',
		join(' ', map { sprintf '%.2f', $_->[0] } @{ $res{$step}{native} }),
		join(' ', map { sprintf '%.2f', $_->[0] } @{ $res{$step}{dcf} }));
	push @lines, sprintf('%-10s %10.2f %-2s %9.2f %-2s          (of which the wait at COMMIT, medians)',
		'  commit', $m{native_commit}, 's', $m{dcf_commit}, 's') if $unit eq 's';
}
if (grep { $res{$_} } qw(insert copy index))
{
	my %tot;
	for my $kind ('native', 'dcf')
	{
		my @per_round;
		for my $r (0 .. $rounds - 1)
		{
			my $t = 0;
			$t += $res{$_}{$kind}[$r][0] for grep { $res{$_} } qw(insert copy index);
			push @per_round, $t;
		}
		$tot{$kind} = median(@per_round);
	}
	push @lines, sprintf('%-10s %10.2f %-2s %9.2f %-2s %6.2f   (insert + copy + index, median of the rounds\' sums)',
		'bulk', $tot{native}, 's', $tot{dcf}, 's', $tot{dcf} / $tot{native});
}

# CPU ms and MB written per WAL MB, per process (medians over the rounds)
for my $step (@steps)
{
	push @lines, "$step: CPU ms / MB written per WAL MB, per process (median of the rounds)";
	for my $kind ('native', 'dcf')
	{
		my %keys;
		for my $v (@{ $res{$step}{$kind} })
		{
			$keys{$_} = 1 for keys %{ $v->[3] };
		}
		my @rowsout;
		my ($tc, $tw) = (0, 0);
		for my $k (sort keys %keys)
		{
			my $cpu = median(map { ($_->[3]{$k} ? $_->[3]{$k}[0] : 0) / $_->[1] } @{ $res{$step}{$kind} });
			my $wr = median(map { ($_->[3]{$k} ? $_->[3]{$k}[1] : 0) / $_->[1] } @{ $res{$step}{$kind} });
			$tc += $cpu;
			$tw += $wr;
			next if $cpu < 0.05 && $wr < 0.01;
			push @rowsout, sprintf('    %-28s %8.2f ms %7.2f MB', $k, $cpu, $wr);
		}
		push @lines, sprintf('  %s (total %.2f ms CPU, %.2f MB written per WAL MB):', $kind, $tc, $tw), @rowsout;
	}
}
diag($_) for @lines;
ok(1, 'bench ran');
if (open my $out, '>', "$ENV{TESTDIR}/build/bench-bulk.txt")
{
	print $out "$_\n" for @lines;
	close $out;
}
$_->stop('immediate') for grep { -f $_->data_dir . '/postmaster.pid' } ($c->nodes, $p, @s);
done_testing();
