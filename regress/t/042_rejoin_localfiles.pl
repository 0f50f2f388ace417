# A rewind keeps every node-local file, survives a kill of dcf_ctl in the
# middle, and a server never starts with another node's identity (issue 12
# points 3 and 4).
#
# Every node keeps its port, dcf.node_id and dcf.data_path in an included
# file of its data directory (node.conf), which pg_rewind replaces with the
# leader's; A also has a setting in postgresql.auto.conf.  A diverges and
# is killed; `dcf_ctl start` is killed right after pg_rewind
# (DCF_CTL_INJECT=mid_rewind:kill), when the data directory holds the
# leader's files.  The next `dcf_ctl start` puts A's own files back and A
# rejoins with its own port, node id and settings.  A server whose
# dcf.node_id is not the one its dcf.data_path recorded refuses to start.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use DcfRejoin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('rjl', 3);
my %nodeconf;
for my $i (1 .. 3)
{
	my $n = $c->node($i);
	$nodeconf{ $n->name } = "port = ${\ $n->port}\ndcf.node_id = $i\ndcf.data_path = '${\ $n->basedir}/dcf_data'\n";
	PostgreSQL::Test::Utils::append_to_file($n->data_dir . '/node.conf', $nodeconf{ $n->name });
	$n->append_conf('postgresql.conf', "include 'node.conf'\n");
}
$c->start_all;
my $a = $c->wait_for_leader;
my $a_id = $a->safe_psql('postgres', 'SHOW dcf.node_id');
PostgreSQL::Test::Utils::append_to_file($a->data_dir . '/postgresql.auto.conf', "work_mem = '7MB'\n");
$a->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
$a->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 100)');
my @acked = (1 .. 100);

# A diverges: its worker stops, a commit waits, B takes over; A is killed
my ($w) = DcfRejoin::wait_worker($a->data_dir, 10);
kill 'STOP', $w;
my $late = IPC::Run::start(['psql', '-XAtq', '-d', $a->connstr('postgres'), '-c', 'INSERT INTO t VALUES (-1)']);
my $r = $c->first_commit('INSERT INTO t VALUES (1000)', 60, $c->followers($a));
ok($r, 'a new leader took over');
my $b = $r->[0];
push @acked, 1000;
kill 'KILL', $w;
$a->kill9;
$late->kill_kill;

# dcf_ctl start dies right after pg_rewind
my ($ret, $out, $err);
{
	local $ENV{DCF_CTL_INJECT} = 'mid_rewind:kill';
	($ret, $out, $err) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $a->data_dir, '-l', $a->logfile, '-t', '120');
}
isnt($ret, 0, 'dcf_ctl start was killed in the middle of the rewind');
like($out . $err, qr/running pg_rewind --dry-run/, 'it ran pg_rewind --dry-run first') or diag($out . $err);
like($err, qr/killed at mid_rewind/, 'it was killed after pg_rewind');
ok(-d $a->data_dir . '.dcf_rewind', 'the node-local files are saved outside the data directory');
isnt(slurp_file($a->data_dir . '/node.conf'), $nodeconf{ $a->name },
	'node.conf in the data directory is now the leader\'s (what pg_rewind did)');

# a server with another node's id on this node's data path refuses to start
my $conf = slurp_file($a->data_dir . '/node.conf');
open my $fh, '>', $a->data_dir . '/node.conf' or die $!;
my $other = $a_id == 1 ? 2 : 1;
print $fh "port = ${\ $a->port}\ndcf.node_id = $other\ndcf.data_path = '${\ $a->basedir}/dcf_data'\n";
close $fh;
my $logsize = -s $a->logfile;
($ret) = DcfRejoin::run_status('pg_ctl', 'start', '-w', '-D', $a->data_dir, '-l', $a->logfile);
isnt($ret, 0, 'pg_ctl start with another dcf.node_id fails');
like(substr(slurp_file($a->logfile), $logsize), qr/FATAL:  dcf.data_path ".*" belongs to node $a_id, not to dcf.node_id $other/,
	'the server says the data path belongs to another node');
open $fh, '>', $a->data_dir . '/node.conf' or die $!;
print $fh $conf;
close $fh;

# the next start puts the node's own files back and finishes the rewind
($ret, $out, $err) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $a->data_dir, '-l', $a->logfile, '-t', '120');
is($ret, 0, 'dcf_ctl start after the interrupted rewind succeeds') or diag($out . $err);
like($out, qr/interrupted/, 'it says it finished an interrupted rewind');
$a->_update_pid(1);
ok(!-d $a->data_dir . '.dcf_rewind', 'the saved files are gone');
is(slurp_file($a->data_dir . '/node.conf'), $nodeconf{ $a->name }, 'node.conf is the node\'s own again');
is($a->safe_psql('postgres', 'SHOW dcf.node_id'), $a_id, 'A runs with its own dcf.node_id');
is($a->safe_psql('postgres', 'SHOW work_mem'), '7MB', 'and its own postgresql.auto.conf');
is($a->safe_psql('postgres', 'SELECT role FROM dcf_replication_info()'), 'FOLLOWER', 'A follows');

$b->safe_psql('postgres', 'INSERT INTO t VALUES (2000)');
push @acked, 2000;
my $count = $b->safe_psql('postgres', 'SELECT count(*) FROM t');
for my $n ($c->nodes)
{
	ok($c->wait_query($n, 'SELECT count(*) FROM t', $count, 60), $n->name . " has all $count rows");
	is(DcfRejoin::missing_rows($n, 't', @acked), '0', $n->name . ': no acknowledged row is missing');
	is($n->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = -1'), '0', $n->name . ': the unacknowledged row is not there');
}

$c->stop_all;
done_testing();
