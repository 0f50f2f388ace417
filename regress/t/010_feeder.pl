# The WAL feeder (extension/pg/feeder*.c) against real PostgreSQL 15
# standbys, through build/dcf_feeder_harness, which serves the pg_wal of a
# node ("source") up to a limit the test sets in a control file.
#
#   primary --streaming--> source (its pg_wal is what the harness serves)
#   follower  <--feeder-- harness 1 (the standby under test)
#   div_seg, div_same  <--feeder-- harness 2 (standbys whose WAL diverged)
#
# Proves: rows reach the follower only up to the served limit; a restart
# re-serves the segment, its first part from the follower's own pg_wal; WAL
# the source no longer has is refused with "must be rebuilt"; promotion of
# the source ends timeline 1 and the follower follows onto timeline 2
# through the end-of-timeline sequence; diverged standbys get PostgreSQL's
# error and the host's callback fires; malformed clients are refused
# without disturbing the walreceiver; a feeder killed with SIGKILL leaves a
# stale socket that its successor replaces, and the walreceiver reconnects.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(usleep);

my $harness_bin = "$ENV{TESTDIR}/build/dcf_feeder_harness";
ok(-x $harness_bin, 'the harness is built');
command_like([ $harness_bin, '--self-test' ], qr/^1\.\.\d+$/m,
	'protocol self-test (in-memory source, scripted client) passes');

sub lsn2int
{
	my ($lsn) = @_;
	my ($hi, $lo) = split m{/}, $lsn;
	return hex($hi) * 2**32 + hex($lo);
}

sub int2lsn
{
	my ($v) = @_;
	return sprintf('%X/%X', int($v / 2**32), $v % 2**32);
}

# ---- the primary, the source, and standbys that will diverge -------------
my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "wal_keep_size = '1GB'\n");
$primary->start;
$primary->safe_psql('postgres',
	"CREATE TABLE t (phase text, n int); INSERT INTO t SELECT 'base', g FROM generate_series(1, 100) g");
$primary->backup('b1');

my ($controldata) = run_command([ 'pg_controldata', $primary->data_dir ]);
my ($sysid) = $controldata =~ /Database system identifier:\s+(\d+)/;
my ($seg_bytes) = $controldata =~ /Bytes per WAL segment:\s+(\d+)/;
ok($sysid && $seg_bytes, "system identifier $sysid, $seg_bytes-byte segments");

my $source = PostgreSQL::Test::Cluster->new('source');
$source->init_from_backup($primary, 'b1', has_streaming => 1);
$source->append_conf('postgresql.conf', "wal_keep_size = '1GB'\n");
$source->start;

my %div;
foreach my $name ('div_seg', 'div_same')
{
	$div{$name} = PostgreSQL::Test::Cluster->new($name);
	$div{$name}->init_from_backup($primary, 'b1', has_streaming => 1);
	$div{$name}->start;
}

# ---- harnesses -------------------------------------------------------------
my $sockdir = PostgreSQL::Test::Utils::tempdir_short();
my $log_dir = $PostgreSQL::Test::Utils::log_path;
my %h;

sub set_control
{
	my ($name, %c) = @_;
	my $file = $h{$name}{control};
	$h{$name}{last_control} = {%c};
	my $text = '';
	$text .= "limit $c{limit}\n" if $c{limit};
	$text .= "floor $c{floor}\n" if $c{floor};
	$text .= "local $c{local}\n" if $c{local};
	open my $fh, '>', "$file.tmp" or die $!;
	print $fh $text;
	close $fh;
	rename "$file.tmp", $file or die $!;
	# the harness polls every 50 ms
	usleep(200_000);
}

sub start_harness
{
	my ($name, $port) = @_;
	$port //= PostgreSQL::Test::Cluster::get_free_port();
	my $log = "$log_dir/010_feeder_$name.log";
	$log =~ s/\.log$/_restarted.log/ if -e $log;
	my $control = "$log_dir/010_feeder_$name.control";
	my %keep = %{ $h{$name}{last_control} // {} };
	$h{$name} = { port => $port, log => $log, control => $control };
	set_control($name, %keep);
	$h{$name}{proc} = IPC::Run::start(
		[
			$harness_bin, '--wal-dir', $source->data_dir . '/pg_wal',
			'--socket-dir', $sockdir, '--port', $port, '--sysid', $sysid,
			'--seg-bytes', $seg_bytes, '--control', $control
		],
		'<', \undef, '>', '/dev/null', '2>', $log);
	for (my $i = 0; $i < 100 && !(-e $log && slurp_file($log) =~ /listening on/); $i++)
	{
		usleep(50_000);
	}
	like(slurp_file($log), qr/listening on \Q$sockdir\E\/\.s\.PGSQL\.$port/, "harness $name listens");
	return $port;
}

sub harness_log { return slurp_file($h{ $_[0] }{log}); }

sub wait_harness_log
{
	my ($name, $re) = @_;
	for (my $i = 0; $i < 600; $i++)
	{
		return 1 if harness_log($name) =~ $re;
		usleep(100_000);
	}
	return 0;
}

my $port1 = start_harness('h1');
my $port2 = start_harness('h2');
my @sb = stat("$sockdir/.s.PGSQL.$port1");
is(sprintf('%o', $sb[2] & 07777), '600', 'the feeder socket is mode 0600');

# ---- the follower, fed only through harness 1 -------------------------------
my $follower = PostgreSQL::Test::Cluster->new('follower');
$follower->init_from_backup($primary, 'b1');
$follower->append_conf('postgresql.conf', qq(
primary_conninfo = 'host=$sockdir port=$port1 application_name=feeder_follower'
wal_retrieve_retry_interval = 100ms
hot_standby_feedback = on
wal_receiver_status_interval = 1s
));
$follower->set_standby_mode;
$follower->start;

sub count_phase
{
	my ($node, $phase) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM t WHERE phase = '$phase'");
}

sub insert_phase
{
	my ($node, $phase) = @_;
	$node->safe_psql('postgres', "INSERT INTO t SELECT '$phase', g FROM generate_series(1, 50) g");
	return $node->lsn('flush');
}

# 1. streaming, bounded by the limit
my $l0 = $primary->lsn('flush');
$primary->wait_for_catchup($source, 'flush', $l0);
set_control('h1', limit => $l0);
ok( $follower->poll_query_until('postgres',
		"SELECT status = 'streaming' FROM pg_stat_wal_receiver"),
	"the follower connects through the feeder (limit $l0)");
is( $follower->safe_psql('postgres',
		'SELECT status, sender_host, sender_port, received_tli FROM pg_stat_wal_receiver'),
	"streaming|$sockdir|$port1|1",
	'pg_stat_wal_receiver: streaming from the feeder socket on timeline 1');

my $l1 = insert_phase($primary, 'phase1');
$primary->wait_for_catchup($source, 'flush', $l1);
set_control('h1', limit => $l1);
ok($follower->poll_query_until('postgres', "SELECT count(*) = 50 FROM t WHERE phase = 'phase1'"),
	'rows below the limit reach the follower');

my $l2 = insert_phase($primary, 'phase2');
$primary->wait_for_catchup($source, 'flush', $l2);
usleep(1_500_000);
is(count_phase($follower, 'phase2'), '0', 'rows past the limit do not (source has them, limit does not)');
is($follower->safe_psql('postgres', "SELECT pg_last_wal_receive_lsn() <= '$l1'"),
	't', "nothing past the limit $l1 was received although the source has WAL up to $l2");
set_control('h1', limit => $l2);
ok($follower->poll_query_until('postgres', "SELECT count(*) = 50 FROM t WHERE phase = 'phase2'"),
	'raising the limit delivers them');
ok(wait_harness_log('h1', qr/EVENT reply write/), "the standby's replies reach the host (on_reply)");
ok(wait_harness_log('h1', qr/EVENT feedback xmin/), 'hot standby feedback reaches the host (on_feedback)');

# 2. restart mid-stream: the segment is served again, below the source's
#    floor from the follower's own pg_wal
my $received = $follower->safe_psql('postgres', 'SELECT pg_last_wal_receive_lsn()');
$follower->stop('fast');
my $l3 = insert_phase($primary, 'phase3');
$primary->wait_for_catchup($source, 'flush', $l3);
set_control('h1', limit => $l3, floor => $received, local => $follower->data_dir . '/pg_wal');
$follower->start;
ok($follower->poll_query_until('postgres', "SELECT count(*) = 50 FROM t WHERE phase = 'phase3'"),
	'after a restart the follower continues');
my ($restart_at) = harness_log('h1') =~ /reading (\S+) on timeline 1 from the standby's own WAL/;
ok( defined $restart_at
	  && lsn2int($restart_at) % $seg_bytes == 0
	  && lsn2int($restart_at) < lsn2int($received),
	"the segment was re-served from its start "
	  . ($restart_at // '?')
	  . ", below the floor $received, out of the follower's own pg_wal");

# 3. WAL the source no longer has, and no local copy: rebuild
$received = $follower->safe_psql('postgres', 'SELECT pg_last_wal_receive_lsn()');
$follower->stop('fast');
set_control('h1', limit => $l3, floor => int2lsn(lsn2int($received) + 1));
my $offset = -s $follower->logfile;
$follower->start;
ok($follower->wait_for_log(qr/no longer available: this node must be rebuilt/, $offset),
	'a request below what the source has is refused: "must be rebuilt"');
ok(wait_harness_log('h1', qr/EVENT wal_missing timeline 1/), 'on_wal_missing fired');
set_control('h1', limit => $l3);
ok( $follower->poll_query_until('postgres',
		"SELECT status = 'streaming' FROM pg_stat_wal_receiver"),
	'with the WAL back the follower streams again');

# 4. promotion of the source: timeline 1 ends, the follower follows
my $l4 = insert_phase($primary, 'phase4');
$primary->wait_for_catchup($source, 'replay', $l4);
$primary->wait_for_catchup($div{div_same}, 'replay', $l4);
$primary->wait_for_catchup($div{div_seg}, 'replay', $l4);
set_control('h1', limit => $l4);
ok($follower->poll_query_until('postgres', "SELECT count(*) = 50 FROM t WHERE phase = 'phase4'"),
	'phase 4 on timeline 1');
$offset = -s $follower->logfile;
$source->promote;
ok($source->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the source is promoted');
my $history = slurp_file($source->data_dir . '/pg_wal/00000002.history');
my ($switch) = $history =~ /^1\s+(\S+)/m;
ok($switch, "timeline 1 ended at $switch");

# timeline 1 goes on without the source: the primary's future is another history
insert_phase($primary, 'after_switch');
$primary->wait_for_catchup($div{div_same}, 'replay', $primary->lsn('flush'));
my $same_at = $div{div_same}->safe_psql('postgres', 'SELECT pg_last_wal_replay_lsn()');
$div{div_same}->stop('fast');
$primary->safe_psql('postgres', 'SELECT pg_switch_wal()');
insert_phase($primary, 'after_switch2');
$primary->wait_for_catchup($div{div_seg}, 'replay', $primary->lsn('flush'));
my $seg_at = $div{div_seg}->safe_psql('postgres', 'SELECT pg_last_wal_replay_lsn()');
$div{div_seg}->stop('fast');

my $l5 = insert_phase($source, 'phase5');
set_control('h1', limit => $l5);
ok($follower->poll_query_until('postgres', "SELECT count(*) = 50 FROM t WHERE phase = 'phase5'"),
	'rows written on timeline 2 reach the follower');
is($follower->safe_psql('postgres', 'SELECT received_tli FROM pg_stat_wal_receiver'),
	'2', 'the follower streams timeline 2');
is(count_phase($follower, 'after_switch'), '0', "nothing of timeline 1 past the switch point");
like(harness_log('h1'), qr/end of timeline 1 at \Q$switch\E \(sent up to \Q$switch\E\); next timeline 2/,
	'the feeder sent timeline 1 exactly to its switch point, then the end-of-timeline result');
like(harness_log('h1'), qr/TIMELINE_HISTORY 2 \(\d+ bytes\)/, 'the follower fetched the history file');
like(harness_log('h1'), qr/START_REPLICATION \S+ TIMELINE 2 \(latest timeline 2/,
	'and restarted streaming on timeline 2');
ok($follower->wait_for_log(qr/End of WAL reached on timeline 1 at \Q$switch\E/, $offset),
	"the walreceiver saw the end of timeline 1 at $switch");

# restart on timeline 2
$follower->stop('fast');
my $l6 = insert_phase($source, 'phase6');
set_control('h1', limit => $l6);
$follower->start;
ok($follower->poll_query_until('postgres', "SELECT count(*) = 50 FROM t WHERE phase = 'phase6'"),
	'a restart on timeline 2 continues too');

# 5. diverged standbys, on harness 2
set_control('h2', limit => $l6);
foreach my $name ('div_same', 'div_seg')
{
	$div{$name}->append_conf('postgresql.conf', qq(
primary_conninfo = 'host=$sockdir port=$port2 application_name=$name'
wal_retrieve_retry_interval = 100ms
));
}
my $same_segment = int(lsn2int($same_at) / $seg_bytes) == int(lsn2int($switch) / $seg_bytes);
note("div_same replayed to $same_at, div_seg to $seg_at, switch point $switch");
ok(int(lsn2int($seg_at) / $seg_bytes) > int(lsn2int($switch) / $seg_bytes),
	'div_seg replayed into a later segment than the switch point');

$offset = -s $div{div_seg}->logfile;
$div{div_seg}->start;
ok( $div{div_seg}->wait_for_log(
		qr/requested starting point \S+ on timeline 1 is not in this server's history\n.*DETAIL:  This server's history forked from timeline 1 at \Q$switch\E\./,
		$offset),
	"a standby asking for timeline 1 past the switch point gets the walsender's error");
ok(wait_harness_log('h2', qr/EVENT diverged timeline 1 requested \S+ switch \Q$switch\E next 2/),
	'on_diverged fired for it');
$div{div_seg}->stop('immediate');

$offset = -s $div{div_same}->logfile;
$div{div_same}->start;
my $same_re =
  $same_segment
  ? qr/standby has replayed WAL up to \Q$same_at\E on timeline 1, past this server's switch point/
  : qr/requested starting point \S+ on timeline 1 is not in this server's history/;
ok($div{div_same}->wait_for_log($same_re, $offset),
	$same_segment
	? 'a standby that replayed past the switch point inside its segment is caught by its replay position'
	: 'a standby past the switch point (next segment) gets the error');
# replay position when caught by it, else the segment start it asked for
my $same_reported =
  $same_segment ? $same_at : int2lsn(int(lsn2int($same_at) / $seg_bytes) * $seg_bytes);
ok(wait_harness_log('h2', qr/EVENT diverged timeline 1 requested \Q$same_reported\E switch \Q$switch\E next 2/),
	"on_diverged fired with $same_reported");
is(count_phase($div{div_same}, 'phase5'), '0', 'no timeline 2 row reached a diverged standby');
$div{div_same}->stop('immediate');

# 6. malformed clients on harness 1 do not disturb the follower
my $pid = $follower->safe_psql('postgres', 'SELECT pid FROM pg_stat_wal_receiver');

sub raw_exchange
{
	my ($bytes) = @_;
	my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => "$sockdir/.s.PGSQL.$port1")
	  or die "connect: $!";
	$sock->syswrite($bytes);
	my $sel = IO::Select->new($sock);
	my $got = '';
	for (my $i = 0; $i < 100; $i++)
	{
		last unless $sel->can_read(0.1);
		my $n = $sock->sysread(my $buf, 65536);
		last unless $n;
		$got .= $buf;
	}
	close $sock;
	return $got;
}

like(raw_exchange("GET / HTTP/1.1\r\n\r\n"), qr/^E.*SFATAL.*invalid length of startup packet/s,
	'HTTP garbage: FATAL invalid length of startup packet');
like(raw_exchange(pack('NN', 0x7fffffff, 196608)), qr/^E.*invalid length of startup packet/s,
	'a 2 GB startup length is refused before any allocation');
like(raw_exchange(pack('NN', 3, 0)), qr/^E.*invalid length of startup packet/s,
	'a startup length below the minimum is refused');
my $params = join('', map { "$_\0" } ('user', 'x', 'database', 'postgres', 'application_name', 'psql')) . "\0";
like(raw_exchange(pack('NN', 8 + length($params), 196608) . $params),
	qr/^E.*accepts only physical replication connections/s, 'a non-replication login is refused');
like(raw_exchange(pack('NN', 8, 0x04D2162F) . pack('NN', 8, 9 << 16)),
	qr/^N.*unsupported frontend protocol 9\.0/s, "SSLRequest answered 'N', then protocol 9.0 refused");
my $l7 = insert_phase($source, 'phase7');
set_control('h1', limit => $l7);
ok($follower->poll_query_until('postgres', "SELECT count(*) = 50 FROM t WHERE phase = 'phase7'"),
	'the follower still streams after the refused clients');
is($follower->safe_psql('postgres', 'SELECT pid FROM pg_stat_wal_receiver'),
	$pid, 'with the same walreceiver: it was never disconnected');
like(harness_log('h1'), qr/refused/, 'the refusals are in the harness log');

# 7. the feeder's host dies (SIGKILL, as a crashed worker: the socket file
#    stays behind) and comes back on the same port
$h{h1}{proc}->signal('KILL');
$h{h1}{proc}->finish;
ok(-S "$sockdir/.s.PGSQL.$port1", 'a killed feeder leaves its socket file behind');
my $l8 = insert_phase($source, 'phase8');
$h{h1}{last_control} = { limit => $l8 };
start_harness('h1', $port1);
ok($follower->poll_query_until('postgres', "SELECT count(*) = 50 FROM t WHERE phase = 'phase8'"),
	'the restarted feeder replaced the stale socket and the follower reconnected');

# ---- shutdown ------------------------------------------------------------------
foreach my $name ('h1', 'h2')
{
	$h{$name}{proc}->signal('TERM');
	my $clean = $h{$name}{proc}->finish;
	ok($clean && $h{$name}{proc}->full_result == 0, "harness $name exits 0 on SIGTERM");
	ok(!-e "$sockdir/.s.PGSQL.$h{$name}{port}", "harness $name removed its socket");
}

done_testing();
