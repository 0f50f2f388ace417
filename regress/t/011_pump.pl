# The WAL pump against a real primary with synchronous_standby_names = 'dcf':
# it appears as the synchronous standby 'dcf', receives exactly the bytes of
# pg_wal, and a commit returns only once the pump reports a position at or
# past it (write = flush = apply), including with synchronous_commit =
# remote_write and remote_apply.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $harness = "$ENV{TESTDIR}/build/dcf_pump_harness";
ok(-x $harness, 'pump harness built');

my $node = PostgreSQL::Test::Cluster->new('pumpsrc');
$node->init(allows_streaming => 1);
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE t (i int)');
$node->append_conf('postgresql.conf', "synchronous_standby_names = 'dcf'\n");
$node->reload;

my $start = $node->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
my ($lo) = $node->safe_psql('postgres', "SELECT pg_walfile_name_offset('$start')") =~ /,(\d+)\)/;
my $tli = $node->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()');
my $outfile = $node->basedir . '/pumped.bin';
my $ackfile = $node->basedir . '/ack';
unlink $ackfile;

my $conninfo = 'host=' . $node->host . ' port=' . $node->port . ' user=' . ($ENV{USER} // getpwuid($<));
my ($hout, $herr) = ('', '');
my $h = IPC::Run::start([$harness, $conninfo, 'dcf', $tli, $start, $outfile, $ackfile],
	'>', \$hout, '2>', \$herr);

$node->poll_query_until('postgres',
	"SELECT sync_state FROM pg_stat_replication WHERE application_name = 'dcf'", 'sync')
  or die "pump never became the sync standby: $herr";
pass("pg_stat_replication shows 'dcf' as sync");
ok($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dcf' AND active") == 1,
	'physical slot dcf created and active');

# With nothing acknowledged, a commit waits.
sub commit_returns_within
{
	my ($sql, $secs) = @_;
	my ($o, $e) = ('', '');
	my $psql = IPC::Run::start(['psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $sql],
		'>', \$o, '2>', \$e, IPC::Run::timeout($secs + 30));
	my $t0 = time;
	while (time - $t0 < $secs) { last unless $psql->pumpable; select(undef, undef, undef, 0.05); $psql->pump_nb; }
	my $done = !$psql->pumpable;
	return ($done, $psql);
}

my ($done, $psql) = commit_returns_within('INSERT INTO t VALUES (1)', 2);
ok(!$done, 'commit does not return while the pump reports nothing');

open my $fh, '>', $ackfile or die; print $fh "all\n"; close $fh;
$psql->finish;
is($psql->result(0), 0, 'commit returns once the pump reports the position');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '1', 'row committed');

# remote_write and remote_apply wait on the same reported position.
open $fh, '>', $ackfile or die; print $fh "0/1\n"; close $fh;
sleep 1;
foreach my $level ('remote_write', 'remote_apply', 'on')
{
	($done, $psql) = commit_returns_within("SET synchronous_commit = $level; INSERT INTO t VALUES (2)", 1.5);
	ok(!$done, "synchronous_commit = $level waits for the pump");
	open $fh, '>', $ackfile or die; print $fh "all\n"; close $fh;
	$psql->finish;
	is($psql->result(0), 0, "synchronous_commit = $level returns after the report");
	open $fh, '>', $ackfile or die; print $fh "0/1\n"; close $fh;
	sleep 1;
}
open $fh, '>', $ackfile or die; print $fh "all\n"; close $fh;

# The bytes received are exactly pg_wal's bytes from the start point.
$node->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 1000)');
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
$node->poll_query_until('postgres',
	"SELECT replay_lsn >= '$end' FROM pg_stat_replication WHERE application_name = 'dcf'")
  or die 'pump did not catch up';
my $segname = $node->safe_psql('postgres', "SELECT pg_walfile_name('$start')");
my $endseg = $node->safe_psql('postgres', "SELECT pg_walfile_name('$end')");
is($segname, $endseg, 'test WAL stays in one segment');
my $nbytes = $node->safe_psql('postgres', "SELECT '$end'::pg_lsn - '$start'::pg_lsn");
open my $seg, '<:raw', $node->data_dir . "/pg_wal/$segname" or die;
seek $seg, $lo, 0;
my $want;
read $seg, $want, $nbytes;
close $seg;
open my $got, '<:raw', $outfile or die;
my $have;
read $got, $have, $nbytes;
close $got;
is(length($have), $nbytes, "pump received $nbytes bytes");
ok($have eq $want, 'pumped bytes equal pg_wal bytes');

$h->kill_kill;
$node->stop;
done_testing();
