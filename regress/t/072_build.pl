# Growing, shrinking and rebuilding a cluster with dcf_ctl build (issue 13),
# under an insert load (every acknowledged insert checked at the end) and a
# pgbench load:
#  - a build before the node was added is refused with a clear error, and
#    so is a build with the node_id of a running member;
#  - 3 -> 4 -> 5: each node added (dcf_ctl member), built (dcf_ctl build,
#    through a follower: the leader is found) and started (dcf_ctl start);
#    it catches up as a learner and is promoted; the quorum counts it (a
#    commit returns with two original followers of five stopped);
#  - a build killed half-way leaves a node dcf_ctl start refuses; the
#    leader's hold on its log lapses (dcf_build_holds() shows it); the build
#    run again succeeds;
#  - a node whose consensus metadata was damaged (its worker refuses to
#    start and says to rebuild it) is rebuilt and catches up;
#  - 5 -> 3: a running follower removed (it learns it, says so in its log
#    and dcf_ctl query, and stops campaigning), then the leader (the removal
#    commits, it hands over); with three members a commit returns with one
#    of them stopped (2 of 3).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use File::Copy;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

# a 5 s election timeout: the commit-blocking check below pauses three of
# five voters for a few seconds, which must not cost the leader its leadership
my $c = DcfCluster->new('bd', 3, extra_conf => "dcf.election_timeout = 5s\n");
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
my ($f1, $f2) = $c->followers($leader);
my $lid = $leader->safe_psql('postgres', 'SELECT node_id FROM dcf_replication_info()');
ok($c->wait_query($_, q{SELECT count(*) FROM pg_tables WHERE tablename = 't'}, '1'), $_->name . ' has the table')
  for ($f1, $f2);

my $ackfile = $leader->basedir . '/acks';
unlink $ackfile;
my $load = $c->start_insert_load($leader, 't', 1, $ackfile);
$leader->command_ok(['pgbench', '-i', '-q', '-s', '1', '-d', $leader->connstr('postgres')], 'pgbench tables');
my $pgbench = IPC::Run::start(['pgbench', '-n', '-c', '2', '-T', '900', '-R', '20', '-d', $leader->connstr('postgres')],
	'>', '/dev/null', '2>', '/dev/null');
sleep 0.2 while $c->read_acks($ackfile) < 10;
my @extra;    # acknowledged single inserts

# A new node's directory: its own postgresql.conf, the template's with its
# node-local settings after it.
sub new_node
{
	my ($name, $id) = @_;
	my $n = PostgreSQL::Test::Cluster->new($name);
	make_path($n->data_dir);
	chmod 0700, $n->data_dir;
	copy($f1->data_dir . "/$_", $n->data_dir . "/$_") or die "copy $_: $!" for qw(postgresql.conf pg_hba.conf pg_ident.conf);
	$n->append_conf('postgresql.conf', qq(
port = ${\ $n->port}
unix_socket_directories = '${\ $n->host}'
listen_addresses = '127.0.0.1'
dcf.node_id = $id
dcf.data_path = '${\ $n->basedir}/dcf_data'
));
	return $n;
}

sub run_ctl
{
	my (@cmd) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(['dcf_ctl', @cmd], '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err, $?);
}

sub ctl_start
{
	my ($n) = @_;
	my ($rc, $out, $err) = run_ctl('start', '-D', $n->data_dir, '-l', $n->logfile, '-t', '120');
	is($rc, 0, $n->name . ' started with dcf_ctl start') or diag($out . $err);
	$n->_update_pid(1);
}

sub ctl_stop
{
	my ($n) = @_;
	my ($rc, $out, $err) = run_ctl('stop', '-D', $n->data_dir);
	is($rc, 0, $n->name . ' stopped') or diag($out . $err);
	$n->_update_pid(0);
}

sub commit_returns
{
	my ($node, $id, $what) = @_;
	my ($ret) = $node->psql('postgres', "INSERT INTO t VALUES ($id)", timeout => 60);
	is($ret, 0, $what);
	push @extra, $id if defined $ret && $ret == 0;
}

sub wait_voter
{
	my ($id) = @_;
	my $t0 = time;
	while (time - $t0 < 120)
	{
		my $l = $c->writable_node;
		my ($r, $o) = $l ? $l->psql('postgres', "SELECT learner FROM dcf_membership() WHERE node_id = $id", timeout => 10) : (1, '');
		return 1 if defined $r && $r == 0 && defined $o && $o eq 'f';
		sleep 0.5;
	}
	return 0;
}

my $src = '--source-server=' . $f1->connstr('postgres');
my %dcf_port = (4 => PostgreSQL::Test::Cluster::get_free_port(), 5 => PostgreSQL::Test::Cluster::get_free_port());

# the wrong order: built before it was added
my $n4 = new_node('bd_n4', 4);
my ($rc, $out, $err) = run_ctl('build', '-b', 'full', '-D', $n4->data_dir, $src);
is($rc, 1, 'a build before the node was added fails');
like($err, qr/node 4 is not a member of the dcf cluster.*\nDETAIL:  .*\nHINT:  Add it first with dcf_ctl member --operation=add -u 4/s,
	'with the reason and the command to run first') or diag($err);
ok(!-f $n4->data_dir . '/PG_VERSION', 'and nothing was copied');

# a node_id that a running member has: refused
my $f2id = $f2->safe_psql('postgres', 'SHOW dcf.node_id');
my $dup = new_node('bd_dup', $f2id);
($rc, $out, $err) = run_ctl('build', '-D', $dup->data_dir, $src);
is($rc, 1, 'a build with the node_id of a running member fails');
like($err, qr/node $f2id is running: the leader heard from it \d+ ms ago/, 'naming the running member') or diag($err);
ok(!-f $dup->data_dir . '/PG_VERSION', 'and nothing was copied');

# 3 -> 4: add, build, start
($rc, $out, $err) = run_ctl('member', '--operation=add', '-u', '4', '-i', '127.0.0.1', '-e', $dcf_port{4}, '-D', $f2->data_dir, '-t', '2');
is($rc, 2, 'member add of node 4 waits for it to catch up (times out, the learner is in)') or diag($out . $err);
($rc, $out, $err) = run_ctl('build', '-b', 'full', '-D', $n4->data_dir, $src);
is($rc, 0, 'node 4 built through a follower') or diag($out . $err);
like($out, qr/building node 4 from the leader, node $lid/, 'the build found the leader');
like($out, qr/build complete: .*its consensus log starts at index (\d+)/, 'the new log starts where the copy is');
push @{ $c->{nodes} }, $n4;
ctl_start($n4);
ok(wait_voter(4), 'node 4 caught up as a learner and was promoted');
ctl_stop($f1);
commit_returns($leader, -1, 'with 4 voters and an original follower stopped, a commit returns (3 of 4: node 4 counts)');
ctl_start($f1);
# the added node is a rewind source like any member: every member learns its
# PostgreSQL port, and it learns theirs (dcf_ctl start reads pg_endpoints)
{
	my $t0 = time;
	my ($in_f2, $all_in_n4) = (0, 0);
	while (time - $t0 < 30 && !($in_f2 && $all_in_n4))
	{
		my $e2 = slurp_file($f2->basedir . '/dcf_data/pg_endpoints');
		my $e4 = -f $n4->basedir . '/dcf_data/pg_endpoints' ? slurp_file($n4->basedir . '/dcf_data/pg_endpoints') : '';
		$in_f2 = $e2 =~ /^4 127\.0\.0\.1 ${\ $n4->port}$/m;
		$all_in_n4 = 4 == grep { $e4 =~ /^$_ 127\.0\.0\.1 \d+$/m } 1 .. 4;
		sleep 0.3;
	}
	ok($in_f2, 'a member knows the added node 4\'s PostgreSQL port');
	ok($all_in_n4, 'and node 4 knows every member\'s');
}

# 4 -> 5, with a build killed half-way first
my $n5 = new_node('bd_n5', 5);
($rc) = run_ctl('member', '--operation=add', '-u', '5', '-i', '127.0.0.1', '-e', $dcf_port{5}, '-D', $leader->data_dir, '-t', '2');
is($rc, 2, 'member add of node 5 (the learner is in)');
{
	local $ENV{DCF_CTL_INJECT} = 'build_copy:kill';
	my ($krc, $kout, $kerr, $status) = run_ctl('build', '-D', $n5->data_dir, $src, '--lease=2');
	is($status & 127, 9, 'the build was killed half-way') or diag($kout . $kerr);
}
($rc, $out, $err) = run_ctl('start', '-D', $n5->data_dir, '-l', $n5->logfile);
is($rc, 1, 'dcf_ctl start refuses the half-built node');
like($err, qr/an earlier dcf_ctl build of this node was interrupted/, 'saying why');
ok($c->wait_query($leader, "SELECT state FROM dcf_build_holds() WHERE node_id = 5", 'lapsed', 30),
	'the leader\'s hold on its log for the killed build lapsed');
like(slurp_file($leader->logfile), qr/build hold for node 5 lapsed/, 'the leader logged it');
($rc, $out, $err) = run_ctl('build', '-b', 'full', '-D', $n5->data_dir, $src);
is($rc, 0, 'the build run again succeeds') or diag($out . $err);
like($out, qr/an earlier build of this node was interrupted/, 'it noticed the interrupted one');
is($leader->safe_psql('postgres', 'SELECT state FROM dcf_build_holds() WHERE node_id = 5'), 'active',
	'the leader holds its log for node 5 until it has caught up');
push @{ $c->{nodes} }, $n5;
ctl_start($n5);
ok(wait_voter(5), 'node 5 caught up as a learner and was promoted');
ok($c->wait_query($leader, "SELECT state FROM dcf_build_holds() WHERE node_id = 5", 'released', 60),
	'the hold is released once node 5 caught up');
ctl_stop($f1);
ctl_stop($f2);
commit_returns($leader, -2, 'with 5 voters and both original followers stopped, a commit returns (3 of 5)');
ctl_start($f1);
ctl_start($f2);
# ... and with three of the five paused a commit waits (2 of 5 are no
# majority), then returns once they go on
{
	my @paused = map { $c->worker_pid($_) } ($f1, $f2, $n4);
	my ($o, $e) = ('', '');
	kill 'STOP', @paused;
	my $ins = IPC::Run::start([ 'psql', '-X', '-d', $leader->connstr('postgres'), '-c', 'INSERT INTO t VALUES (-20)' ],
		'>', \$o, '2>', \$e);
	my $held = $c->wait_query($leader, 'SELECT paxos_write_lsn > paxos_commit_lsn FROM dcf_replication_info()', 't', 10);
	sleep 1;
	my $waits = $ins->pumpable;
	kill 'CONT', @paused;
	ok($held, 'with 3 of 5 voters paused, the leader holds WAL it does not commit');
	ok($waits, 'and the commit waits (2 of 5 are no majority)');
	$ins->finish;
	is($? >> 8, 0, 'once they go on, the commit returns (5 of 5)') or diag($o . $e);
	push @extra, -20 if ($? >> 8) == 0;
}

# a damaged consensus log: the node refuses to start, and is rebuilt
ctl_stop($n4);
my $meta = $n4->basedir . '/dcf_data/dcf.meta';
open my $mf, '+<', $meta or die $!;
seek $mf, 12, 0;
print $mf "damage";
close $mf;
$n4->start(fail_ok => 1);
my $said = 0;
my $t0 = time;
while (!$said && time - $t0 < 60)
{
	$said = slurp_file($n4->logfile) =~ /dcf cannot start: .*dcf\.meta.*rebuild it with dcf_ctl build/;
	sleep 0.3 unless $said;
}
ok($said, 'with its metadata damaged node 4 refuses to run dcf and says to rebuild it');
$n4->stop('immediate', fail_ok => 1);
$n4->_update_pid(0);
my ($lterm, $llast, $lnode) = split /\|/, $leader->safe_psql('postgres', 'SELECT term, last_index, node_id FROM dcf_replication_info()');
($rc, $out, $err) = run_ctl('build', '-D', $n4->data_dir, $src);
is($rc, 0, 'node 4 rebuilt') or diag($out . $err);
# S2 (core): its metadata lost, the rebuilt node takes the leader's term with
# the leader as its vote, and must fetch up to the leader's last index before
# it votes for anyone less up to date or counts toward a commit
($rc, $out, $err) = run_ctl('log-dump', '--data-path=' . $n4->basedir . '/dcf_data');
like($out, qr/term $lterm, voted_for $lnode,/, "the rebuilt node 4 starts in the leader's term $lterm with the leader's vote")
  or diag($out . $err);
my ($ri) = $out =~ /repair index (\d+)/;
ok(defined $ri && $ri >= $llast, "and a repair index at the leader's last index ($llast or later): " . ($ri // 'none'));
ctl_start($n4);
ok($c->wait_query($n4, 'SELECT count(*) >= 1 FROM t WHERE id = -2', 't'), 'the rebuilt node 4 caught up');

# 5 -> 3: remove a follower, then the leader
($rc, $out, $err) = run_ctl('member', '--operation=remove', '-u', '5', '-D', $f1->data_dir);
is($rc, 0, 'node 5 removed') or diag($out . $err);
my $told = 0;
$t0 = time;
while (!$told && time - $t0 < 30)
{
	$told = slurp_file($n5->logfile) =~ /dcf: node 5 was removed from the cluster: node \d+ says the configuration of log index \d+ no longer names it/;
	sleep 0.2 unless $told;
}
ok($told, 'the running node 5 learns it was removed and says so in its log');
($rc, $out, $err) = run_ctl('query', '-D', $n5->data_dir);
like($out, qr/dcf_role\s+: REMOVED/, 'dcf_ctl query shows it') or diag($out . $err);
sleep 3;    # three election timeouts without a leader's heartbeat
my ($after) = slurp_file($n5->logfile) =~ /was removed from the cluster(.*)\z/s;
unlike($after, qr/node 5 is (PRE_CANDIDATE|CANDIDATE)/, 'and it does not campaign');
ctl_stop($n5);
$pgbench->kill_kill;
$load->kill_kill;
my @acked = $c->read_acks($ackfile);
my $leader_log_at = -s $leader->logfile;
($rc, $out, $err) = run_ctl('member', '--operation=remove', '-u', $lid, '-D', $f1->data_dir, '-t', '60');
is($rc, 0, "the leader, node $lid, removed: the request reports the removal committed") or diag($out . $err);
like($out, qr/node $lid is the leader: handing leadership over to node \d+ first\n.*node \d+ leads now; removing node $lid through it/s,
	'removing the leader hands leadership over first');
my $new = $c->wait_for_leader(60, $leader, $n5);
ok($new != $leader, 'it handed over to ' . $new->name);
my $leader_log = substr(slurp_file($leader->logfile), $leader_log_at);
like($leader_log, qr/dcf: switchover to node \d+: writes stopped on node $lid/, 'the old leader stopped writes for the hand-over');
unlike($leader_log, qr/dcf: node $lid is fenced/, 'and was not fenced: it restarted in place as a standby');
my @left = grep { $_ != $leader && $_ != $n5 } $c->nodes;
is($new->safe_psql('postgres', "SELECT count(*) FROM dcf_membership() WHERE node_id = $lid"), '0', "node $lid is no longer a member");
is($new->safe_psql('postgres', 'SELECT count(*) FROM dcf_membership()'), '3', 'three members are left');
my ($stop) = grep { $_ != $new } @left;
ctl_stop($stop);
commit_returns($new, -3, 'with three members and one stopped, a commit returns (2 of 3)');
ctl_start($stop);

ok(@acked > 20, scalar(@acked) . ' inserts acknowledged under load');
my $list = join(',', @acked, @extra);
for my $n (@left)
{
	ok($c->wait_query($n, "SELECT count(*) FROM unnest(ARRAY[$list]::int[]) a WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = a)", '0'),
		$n->name . ' has every acknowledged insert');
}

$c->stop_all;
done_testing();
