# Membership changes on a running cluster under an insert load (issue 13):
# a refusal on a follower names the leader; a member changed to PASSIVE no
# longer counts (commits return with it and one voter stopped) and counts
# again once changed back (a commit returns with another voter stopped: 3
# of 4); a stopped member is removed and the quorum
# shrinks with it; a replacement with a new node_id and port is added,
# built with dcf_ctl build, started, catches up as a learner and is promoted;
# re-running the add changes nothing; the leader removes itself and hands
# over.  Every acknowledged insert is on every remaining node at the end.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Copy ();
use File::Path ();
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('mb', 4);
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
my $lid = $leader->safe_psql('postgres', 'SELECT node_id FROM dcf_replication_info()');
my @f = $c->followers($leader);
my %id = map { $_->name => ($_->name =~ /_n(\d+)$/)[0] } $c->nodes;
ok($c->wait_query($_, q{SELECT count(*) FROM pg_tables WHERE tablename = 't'}, '1'), $_->name . ' has the table')
  for @f;

# on a follower: refused, naming the leader
my ($ret, $out, $err) = $f[0]->psql('postgres', 'SELECT * FROM dcf_remove_member(' . $id{ $f[2]->name } . ')');
like($err, qr/ERROR:  node $id{$f[0]->name} is not the leader of the dcf cluster\nDETAIL:  The leader is node $lid, dcf address 127\.0\.0\.1:\d+\./,
	'a change on a follower is refused with the leader named');

my $ackfile = $leader->basedir . '/acks';
unlink $ackfile;
my $load = $c->start_insert_load($leader, 't', 1, $ackfile);
sleep 0.2 while $c->read_acks($ackfile) < 20;

# PASSIVE: no longer counts, the quorum is 2 of the 3 voters
my ($p, $v, $w) = @f;
my $pid = $id{ $p->name };
is($leader->safe_psql('postgres', "SELECT role FROM dcf_change_member($pid, role => 'PASSIVE') WHERE node_id = $pid"),
	'PASSIVE', "node $pid changed to PASSIVE");
$p->stop('immediate');
$v->stop('immediate');
($ret) = $leader->psql('postgres', 'INSERT INTO t VALUES (-1)', timeout => 60);
is($ret, 0, 'with the PASSIVE node and one voter stopped, commits return (2 of 3 voters)');
$p->start;
$v->start;

# FOLLOWER again
is($leader->safe_psql('postgres',
	"SELECT role || ' ' || learner FROM dcf_change_member($pid, role => 'FOLLOWER', timeout => 120) WHERE node_id = $pid"),
	'FOLLOWER false', "node $pid changed back to FOLLOWER once caught up");
ensure_running($_) for $c->nodes;
# it counts again: with another voter stopped, 3 of 4 (the leader, the third voter and it)
{
	my $l = $c->wait_for_leader;
	my ($other) = grep { $_ != $l && $_ != $p } $c->nodes;
	$other->stop('immediate');
	($ret) = $l->psql('postgres', 'INSERT INTO t VALUES (-2)', timeout => 60);
	is($ret, 0, "changed back, node $pid counts again: a commit returns with another voter stopped (3 of 4)");
	$other->start;
}
$load->kill_kill;
$leader = $c->wait_for_leader;
$lid = $leader->safe_psql('postgres', 'SELECT node_id FROM dcf_replication_info()');
my $ackfile2 = $leader->basedir . '/acks2';
unlink $ackfile2;
$load = $c->start_insert_load($leader, 't', 1_000_000, $ackfile2);

# remove a stopped node: the quorum shrinks with it
my ($x, $y, $z) = $c->followers($leader);
my $xid = $id{ $x->name };
$x->stop('immediate');
is($leader->safe_psql('postgres', "SELECT string_agg(node_id::text, ',' ORDER BY node_id) FROM dcf_remove_member($xid)"),
	join(',', sort grep { $_ != $xid } values %id), "stopped node $xid removed");
$y->stop('immediate');
($ret) = $leader->psql('postgres', 'INSERT INTO t VALUES (-4)', timeout => 60);
is($ret, 0, 'removed node and one more stopped: commits return (2 of 3)');
$y->start;
($v, $w) = ($y, $z);

# a replacement with a new node_id and port
my $n5 = PostgreSQL::Test::Cluster->new('mb_n5');
my $port5 = PostgreSQL::Test::Cluster::get_free_port();
($ret, $out, $err) = $leader->psql('postgres', "SELECT * FROM dcf_add_member(5, '127.0.0.1', $port5, timeout => 2)");
like($err, qr/add member of node 5 did not finish within 2 s\nDETAIL:  Request \d+ is still running/,
	'adding node 5 before it runs: the caller times out, the learner is in');
is($leader->safe_psql('postgres', 'SELECT learner FROM dcf_membership() WHERE node_id = 5'), 't', 'node 5 is a learner');
# its own configuration only (a stale dcf.config without node 5), then dcf_ctl build
File::Path::make_path($n5->data_dir);
chmod 0700, $n5->data_dir;
File::Copy::copy($leader->data_dir . "/$_", $n5->data_dir . "/$_") or die "copy $_: $!" for qw(postgresql.conf pg_hba.conf pg_ident.conf);
$n5->append_conf('postgresql.conf', qq(
port = ${\ $n5->port}
unix_socket_directories = '${\ $n5->host}'
listen_addresses = '127.0.0.1'
dcf.node_id = 5
dcf.data_path = '${\ $n5->basedir}/dcf_data'
));
command_ok(['dcf_ctl', 'build', '-b', 'full', '-D', $n5->data_dir, '--source-server=' . $y->connstr('postgres')],
	'node 5 built with dcf_ctl build');
command_ok(['dcf_ctl', 'start', '-D', $n5->data_dir, '-l', $n5->logfile, '-t', '120'], 'node 5 started');
$n5->_update_pid(1);
push @{ $c->{nodes} }, $n5;
# (a leader change may happen meanwhile on this loaded machine: ask whoever leads)
my $promoted = 0;
my $t0 = time;
while (!$promoted && time - $t0 < 180)
{
	my $l = $c->writable_node;
	my ($rr, $oo) = $l ? $l->psql('postgres', 'SELECT learner FROM dcf_membership() WHERE node_id = 5', timeout => 10) : (1, '');
	$promoted = 1 if defined $rr && $rr == 0 && defined $oo && $oo eq 'f';
	sleep 0.5 unless $promoted;
}
ok($promoted, 'node 5 caught up and was promoted to voter');
$load->kill_kill;
ensure_running($_) for grep { $_ != $x } $c->nodes;
$leader = $c->wait_for_leader;
$lid = $leader->safe_psql('postgres', 'SELECT node_id FROM dcf_replication_info()');
is($leader->safe_psql('postgres', "SELECT count(*) FROM dcf_add_member(5, '127.0.0.1', $port5)"), '4',
	're-running the add returns the membership without a second change');

my @acked = ($c->read_acks($ackfile), $c->read_acks($ackfile2));
ok($c->read_acks($ackfile2) > 5, scalar(@acked) . ' inserts acknowledged');
my $list = join(",", @acked, -1, -2, -4);
for my $n (grep { $_ != $x } $c->nodes)
{
	ok($c->wait_query($n, "SELECT count(*) FROM unnest(ARRAY[$list]::int[]) a WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = a)", '0'),
		$n->name . ' has every acknowledged insert');
}

# the leader removes itself: it hands over, another node leads
my ($rm) = $leader->psql("postgres", "SELECT * FROM dcf_remove_member($lid)", timeout => 60);
is($rm, 0, 'the leader removing itself: the request reports the removal committed');
my $new = $c->wait_for_leader(60, $leader);
ok($new != $leader, 'after removing itself the old leader hands over to ' . $new->name);
is($new->safe_psql('postgres', "SELECT count(*) FROM dcf_membership() WHERE node_id = $lid"), '0', 'it is no longer a member');
($ret) = $new->psql('postgres', 'INSERT INTO t VALUES (-5)', timeout => 60);
is($ret, 0, 'the new leader commits');
for my $n (grep { $_ != $leader && $_ != $x } $c->nodes)
{
	ok($c->wait_query($n, "SELECT count(*) FROM unnest(ARRAY[$list,-5]::int[]) a WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = a)", '0'),
		$n->name . ' still has every acknowledged insert');
}

$c->stop_all;
done_testing();

# A node that fenced itself (it lost its majority for too long) comes back
# through dcf_ctl start.
sub ensure_running
{
	my ($n) = @_;
	return if system('pg_ctl', 'status', '-D', $n->data_dir) == 0;
	command_ok(['dcf_ctl', 'start', '-D', $n->data_dir, '-l', $n->logfile, '-t', '90'], $n->name . ' restarted');
	$n->_update_pid(1);
}
