# dcf_ctl: --help, --version, `query -D` on a configured node, and clear
# failures (exit 1) where it cannot answer.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

command_ok(['dcf_ctl', '--help'], 'dcf_ctl --help exits 0');
command_like(['dcf_ctl', '--version'], qr/^dcf_ctl \(dcf\) \d+\.\d+/, 'dcf_ctl --version');
command_fails_like(['dcf_ctl', 'frobnicate', '-D', '/nonexistent'], qr/unknown command "frobnicate"/,
	'unknown command');
{
	delete local $ENV{PGHOST};
	delete local $ENV{PGPORT};
	command_fails_like(['dcf_ctl', 'query'], qr/no data directory given/, 'query needs -D');
}

my $node = PostgreSQL::Test::Cluster->new('ctl');
$node->init(allows_streaming => 1);
my $dcf_port = PostgreSQL::Test::Cluster::get_free_port();
my $data_path = $node->basedir . '/dcf_data';
my $keyfile = $node->basedir . '/cluster.key';
open my $kfh, '>', $keyfile or die $!;
print $kfh "0123456789abcdef0123456789abcdef0123456789abcdef\n";
close $kfh;
chmod 0600, $keyfile;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'dcf'
dcf.auth_key_file = '$keyfile'
dcf.enable = on
dcf.node_id = 3
dcf.data_path = '$data_path'
dcf.config = '[{"stream_id":1,"node_id":3,"ip":"127.0.0.1","port":$dcf_port,"role":"FOLLOWER","priority":7}]'
dcf.heartbeat_interval = 200ms
max_connections = 100
));

command_fails_like(['dcf_ctl', 'query', '-D', $node->data_dir],
	qr/no server running: ".*postmaster.pid" does not exist/, 'query on a stopped node fails');

$node->start;
$node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'no promotion';
command_fails_like(['dcf_ctl', 'query', '-D', $node->data_dir],
	qr/extension "dcf" is not installed in database "postgres"/,
	'query says when the extension is not installed');

$node->safe_psql('postgres', 'CREATE EXTENSION dcf');
my ($stdout, $stderr);
my $ok = IPC::Run::run(['dcf_ctl', 'query', '-D', $node->data_dir], '>', \$stdout, '2>', \$stderr);
ok($ok, 'dcf_ctl query -D exits 0');
like($stdout, qr/HA state:\n\s+local_role\s+: Primary\n\s+dcf_role\s+: LEADER/, 'HA state section');
like($stdout, qr/Paxos replication info:/, 'replication info section');
like($stdout, qr/^\s+node_id\s+: 3$/m, 'node_id from the server');
like($stdout, qr/^\s+term\s+: [1-9]\d*$/m, 'term');
like($stdout, qr/^\s+leader_id\s+: 3$/m, 'leader_id');
like($stdout, qr/^\s+hb_interval\s+: 200$/m, 'hb_interval in ms');
like($stdout, qr/^\s+elc_timeout\s+: 1000$/m, 'elc_timeout default 1000 ms');
like($stdout, qr/^\s+nodes\s+: \[\{.*"priority": 7.*\}\]$/m, 'nodes as JSON');
like($stdout, qr/^\s+local_flush_lsn\s+: [0-9A-F]+\/[0-9A-F]+$/m, 'local flush LSN');

# -h/-p instead of -D
command_like(['dcf_ctl', 'query', '-h', $node->host, '-p', $node->port],
	qr/dcf_role\s+: LEADER/, 'query with -h/-p');
# a database without the extension, named with -d
command_fails_like(['dcf_ctl', 'query', '-D', $node->data_dir, '-d', 'template1'],
	qr/extension "dcf" is not installed in database "template1"/, '-d names the database');

# dcf disabled: the server's error comes through, exit 1
$node->append_conf('postgresql.conf', "dcf.enable = off\n");
$node->restart;
command_fails_like(['dcf_ctl', 'query', '-D', $node->data_dir],
	qr/dcf_replication_info\(\) failed: dcf is not enabled on this server\nHINT:/,
	'query on a node with dcf off fails with the server error');
$node->stop;

done_testing();
