# A single dcf node: the configuration it refuses at start (each mistake with
# its own FATAL), the data path it creates or refuses, its background worker
# (running, restarted after SIGTERM and after a crash), and the errors of the
# SQL surface when dcf is not loaded or not enabled.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cfg');
$node->init(allows_streaming => 1);
my $dcf_port = PostgreSQL::Test::Cluster::get_free_port();
my $data_path = $node->basedir . '/dcf_data';
my $good = qq([{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":$dcf_port,"role":"LEADER"}]);

# Write a fresh dcf section into postgresql.conf (the last setting wins, but
# rewriting keeps the file readable when a test fails).
my $base_conf = slurp_file($node->data_dir . '/postgresql.conf');
sub set_dcf_conf
{
	my (%s) = @_;
	my $conf = $base_conf;
	# the test cluster default is off; the worker crash test needs it
	$conf .= "restart_after_crash = on\nmax_connections = 100\n";
	$conf .= "shared_preload_libraries = 'dcf'\n" unless $s{no_preload};
	delete $s{no_preload};
	foreach my $k (sort keys %s)
	{
		my $v = $s{$k};
		$v =~ s/'/''/g;
		$conf .= "$k = '$v'\n";
	}
	open my $fh, '>', $node->data_dir . '/postgresql.conf' or die $!;
	print $fh $conf;
	close $fh;
}

# Start must fail; the log must name the problem.
sub start_fails
{
	my ($name, $pattern, %s) = @_;
	set_dcf_conf(%s);
	my $offset = -s $node->logfile;
	my $ok = $node->start(fail_ok => 1);
	ok(!$ok, "$name: server refuses to start");
	my $log = slurp_file($node->logfile, $offset);
	like($log, $pattern, "$name: FATAL names the problem");
	$node->stop if $ok;
}

my $keyfile = $node->basedir . '/cluster.key';
open my $kfh, '>', $keyfile or die $!;
print $kfh "0123456789abcdef0123456789abcdef0123456789abcdef\n";
close $kfh;
chmod 0600, $keyfile;

my %on = (
	'dcf.enable' => 'on',
	'dcf.node_id' => '1',
	'dcf.data_path' => $data_path,
	'dcf.auth_key_file' => $keyfile,
	'dcf.config' => $good);

# The nine configuration mistakes.
start_fails('invalid JSON',
	qr/FATAL:  invalid dcf.config: dcf.config is not valid JSON: syntax error at character \d+/,
	%on, 'dcf.config' => '[{"stream_id":1,"node_id":1,,}]');
start_fails('missing field',
	qr/FATAL:  invalid dcf.config: dcf.config element 1 has no "port" field/,
	%on, 'dcf.config' => '[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","role":"LEADER"}]');
start_fails('mistyped field',
	qr/FATAL:  invalid dcf.config: dcf.config element 1: field "port" must be an integer, not a string/,
	%on, 'dcf.config' => '[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":"5","role":"LEADER"}]');
start_fails('duplicate node_id',
	qr/FATAL:  invalid dcf.config: dcf.config elements 1 and 2 have the same node_id 1/,
	%on, 'dcf.config' => qq([{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":$dcf_port,"role":"LEADER"},{"stream_id":1,"node_id":1,"ip":"127.0.0.2","port":$dcf_port,"role":"FOLLOWER"}]));
start_fails('duplicate address',
	qr/FATAL:  invalid dcf.config: dcf.config elements 1 and 2 have the same address 127.0.0.1:$dcf_port/,
	%on, 'dcf.config' => qq([{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":$dcf_port,"role":"LEADER"},{"stream_id":1,"node_id":2,"ip":"127.0.0.1","port":$dcf_port,"role":"FOLLOWER"}]));
start_fails('port out of range',
	qr/FATAL:  invalid dcf.config: dcf.config element 1: port 65536 is out of range \(1..65535\)/,
	%on, 'dcf.config' => '[{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":65536,"role":"LEADER"}]');
start_fails('unknown role',
	qr/FATAL:  invalid dcf.config: dcf.config element 1: unknown role "MASTER"\n.*HINT:  Valid roles are LEADER, FOLLOWER, LOGGER and PASSIVE./,
	%on, 'dcf.config' => qq([{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":$dcf_port,"role":"MASTER"}]));
start_fails('stream_id other than 1',
	qr/FATAL:  invalid dcf.config: dcf.config element 1: stream_id 3 is not supported\n.*DETAIL:  Only one stream is supported/,
	%on, 'dcf.config' => qq([{"stream_id":3,"node_id":1,"ip":"127.0.0.1","port":$dcf_port,"role":"LEADER"}]));
start_fails('node_id absent',
	qr/FATAL:  dcf.node_id 2 is not a member in dcf.config/,
	%on, 'dcf.node_id' => '2');
start_fails('no voter',
	qr/FATAL:  invalid dcf.config: dcf.config has no voting member/,
	%on, 'dcf.config' => qq([{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":$dcf_port,"role":"PASSIVE"}]));

# Missing settings.
start_fails('config unset', qr/FATAL:  dcf.enable is on but dcf.config is not set/,
	%on, 'dcf.config' => '');
start_fails('node_id unset', qr/FATAL:  dcf.node_id is not set/,
	%on, 'dcf.node_id' => '0');
start_fails('data_path unset', qr/FATAL:  dcf.data_path is not set/,
	%on, 'dcf.data_path' => '');
start_fails('auth_key_file unset',
	qr/FATAL:  dcf.auth_key_file is not set\n.*DETAIL:  Nodes prove to each other.*\n.*HINT:  Create one key for the cluster with "openssl rand -hex 32/,
	%on, 'dcf.auth_key_file' => '');
start_fails('wal_level minimal', qr/FATAL:  dcf requires wal_level = replica or logical/,
	%on, 'wal_level' => 'minimal', 'max_wal_senders' => '0');

# Data paths it cannot use.
my $file = $node->basedir . '/not_a_dir';
open my $fh, '>', $file or die $!;
close $fh;
start_fails('data_path is a file', qr/FATAL:  dcf.data_path "\Q$file\E" is not a directory/,
	%on, 'dcf.data_path' => $file);
start_fails('data_path inside the data directory',
	qr/FATAL:  dcf.data_path ".*dcf_inside" is inside the data directory/,
	%on, 'dcf.data_path' => 'dcf_inside');
my $open_dir = $node->basedir . '/world_writable';
mkdir $open_dir;
chmod 0777, $open_dir;
start_fails('data_path writable by others',
	qr/FATAL:  dcf.data_path "\Q$open_dir\E" is writable by group or others/,
	%on, 'dcf.data_path' => $open_dir);
ok(!-e $data_path, 'nothing was created by the refused starts');

# A good configuration: the server starts (as a standby) and creates the
# data path 0700; the single voter elects itself and promotes.
set_dcf_conf(%on);
$node->start;
ok(-d $data_path, 'dcf.data_path created');
is((stat($data_path))[2] & 07777, 0700, 'dcf.data_path has mode 0700');
my $sql_port = $node->port;
ok(-S "$data_path/.s.PGSQL.$sql_port", 'the WAL feeder listens in dcf.data_path');
is((stat("$data_path/.s.PGSQL.$sql_port"))[2] & 0777, 0600, 'only the server\'s user can reach it');
$node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the single node did not promote';
$node->safe_psql('postgres', 'CREATE EXTENSION dcf');
is($node->safe_psql('postgres', 'SELECT role, term >= 1, leader_id FROM dcf_replication_info()'),
	'LEADER|t|1', 'a single voter leads itself');

# The worker runs, and comes back after SIGTERM and after a crash.
sub worker_pid
{
	my $out = `ps -o pid=,args= --ppid $node->{_pid}`;
	return $1 if $out =~ /^\s*(\d+)\s+postgres: .*dcf worker/m;
	return undef;
}
my $pid1;
foreach (1 .. 100) { $pid1 = worker_pid(); last if $pid1; select(undef, undef, undef, 0.1); }
ok($pid1, 'dcf worker is running');
like(slurp_file($node->logfile), qr/dcf worker started for node 1, data path "\Q$data_path\E"/,
	'worker logged its start');

kill 'TERM', $pid1;
my $pid2;
foreach (1 .. 100) { $pid2 = worker_pid(); last if $pid2 && $pid2 != $pid1; select(undef, undef, undef, 0.1); }
ok($pid2 && $pid2 != $pid1, 'worker restarted after SIGTERM');
like(slurp_file($node->logfile), qr/dcf worker shutting down/, 'worker logged its clean exit');
foreach (1 .. 100)
{
	last if slurp_file($node->logfile) =~ /dcf: worker restarted on the primary of timeline \d+; waiting to be elected again/;
	select(undef, undef, undef, 0.1);
}
like(slurp_file($node->logfile), qr/dcf: worker restarted on the primary of timeline \d+; waiting to be elected again/,
	'the restarted worker adopted the running primary');
$node->poll_query_until('postgres', "SELECT role = 'LEADER' AND NOT pg_is_in_recovery() FROM dcf_replication_info()")
  or die 'not leading again after the worker restart';
$node->safe_psql('postgres', 'CREATE TABLE after_restart (i int); INSERT INTO after_restart VALUES (1)');
pass('commits work again after the worker restart');

kill 'KILL', $pid2;
my $pid3;
foreach (1 .. 200) { $pid3 = worker_pid(); last if $pid3 && $pid3 != $pid2; select(undef, undef, undef, 0.1); }
ok($pid3 && $pid3 != $pid2, 'worker restarted after a crash');
$node->poll_query_until('postgres', "SELECT role = 'LEADER' AND NOT pg_is_in_recovery() FROM dcf_replication_info()")
  or die 'not leading again after the crash restart';
is($node->safe_psql('postgres', 'SELECT count(*) FROM after_restart'), '1',
	'after the crash restart the node came up as a standby, was elected and promoted again, with its data');
$node->stop;

# dcf.enable = off: the server runs, the functions say dcf is not enabled.
# (dcf keeps standby.signal in place on a leader; without dcf the server is a
# plain standby then.)
set_dcf_conf(%on, 'dcf.enable' => 'off');
$node->start;
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM dcf_replication_info()');
isnt($ret, 0, 'dcf_replication_info fails when dcf is off');
like($err, qr/ERROR:  dcf is not enabled on this server/, 'error says dcf is not enabled');
ok(!worker_pid(), 'no worker when dcf is off');
$node->stop;

# Not preloaded: the function says how to load it.
set_dcf_conf(no_preload => 1);
$node->start;
($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM dcf_replication_info()');
isnt($ret, 0, 'dcf_replication_info fails when dcf is not preloaded');
like($err, qr/ERROR:  dcf must be loaded via shared_preload_libraries/, 'error says to preload dcf');
$node->stop;

done_testing();
