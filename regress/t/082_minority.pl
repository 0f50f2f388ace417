# Minority work mode (issue 14): the recovery story.  Three nodes under an
# insert load; setrunmode -x minority is refused while the node hears its
# leader.  The leader and one follower are killed for good; the survivor is
# switched with dcf_ctl setrunmode -x minority -v 1 (the command states the
# risk): it leads and commits, work_mode and dcf_ctl query say minority.
# The two lost nodes are rebuilt from it with dcf_ctl build -b full (in run
# mode 2, so that they cannot elect among themselves) and catch up; the
# mode is recorded and survives a restart of the survivor (dcf_ctl
# stop/start), which leads again; setrunmode -x
# normal: the survivor leads the 3-node majority again, which commits with
# any one node stopped.  Every acknowledged insert is on every node.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('mi', 3);
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
my %id = map { $_->name => ($_->name =~ /_n(\d+)$/)[0] } $c->nodes;
my ($s, $lost) = $c->followers($leader);
ok($c->wait_query($s, q{SELECT count(*) FROM pg_tables WHERE tablename = 't'}, '1'), 'the survivor-to-be has the table');
my @acked;


# ---- refused while the normal-mode leader is heard --------------------------------
my ($rc, $out, $err) = $c->dcf_ctl('setrunmode', '-D', $s->data_dir, '-x', 'minority', '-v', '1');
is($rc, 1, 'setrunmode -x minority on a node that hears its leader exits 1');
like($err, qr/node $id{$s->name} still hears leader $id{$leader->name} of its normal-mode majority/, 'refused with the reason');
($rc, $out, $err) = $c->dcf_ctl('setrunmode', '-D', $s->data_dir, '-x', 'minority');
like($err, qr/-x minority needs -v VOTE_NUM/, 'minority without a vote number is refused');

# ---- load, then two nodes lost for good ----------------------------------------------
my $ackfile = $leader->basedir . '/acks';
my $load = $c->start_insert_load($leader, 't', 1, $ackfile);
sleep 0.2 while $c->read_acks($ackfile) < 50;
$leader->kill9;
$lost->kill9;
$load->finish;
push @acked, $c->read_acks($ackfile);
ok($c->wait_query($s, 'SELECT leader_id IS NULL FROM dcf_replication_info()', 't', 60), 'the survivor has no leader');

($rc, $out, $err) = $c->dcf_ctl('setrunmode', '-D', $s->data_dir, '-x', 'minority', '-v', '1');
is($rc, 0, 'setrunmode -x minority -v 1 on the survivor') or diag($err);
like($err, qr/WARNING:  node $id{$s->name} works in minority mode.*\nDETAIL:  What this risks: .*split brain/s,
	'the command states what the operator risks');
ok($c->wait_query($s, 'SELECT NOT pg_is_in_recovery()', 't', 60), 'the survivor leads alone');
is($s->safe_psql('postgres', 'SELECT work_mode FROM dcf_replication_info()'), 'minority', 'work_mode says minority');
$s->safe_psql('postgres', 'INSERT INTO t SELECT g FROM generate_series(-1000, -1) g');
push @acked, -1000 .. -1;
is($s->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id < 0'), '1000', 'and commits');
ok(-f $s->basedir . '/dcf_data/work_mode', 'the mode is recorded in dcf.data_path');

# ---- the lost nodes rebuilt from the survivor ------------------------------------------
for my $n ($leader, $lost)
{
	$n->append_conf('postgresql.conf', "dcf.run_mode = 2\n");
	command_ok([ 'dcf_ctl', 'build', '-b', 'full', '-D', $n->data_dir ], $n->name . ' rebuilt from the survivor');
	command_ok([ 'dcf_ctl', 'start', '-D', $n->data_dir, '-l', $n->logfile, '-t', '120' ], $n->name . ' started');
	$n->_update_pid(1);
}
ok($c->wait_query($s, q{SELECT count(*) FROM dcf_members() WHERE state = 'streaming'}, '2', 120),
	'both rebuilt nodes follow the survivor');
($rc, $out, $err) = $c->dcf_ctl('switchover', "--target=$id{$lost->name}", '-D', $s->data_dir);
is($rc, 1, 'a switchover to a node of the other work mode exits 1');
like($err, qr/cannot switch over to node $id{$lost->name}: it works in normal mode, the leader in minority mode/,
	'refused: different work mode');
$s->safe_psql('postgres', 'INSERT INTO t VALUES (-3000)');
push @acked, -3000;
ok($c->wait_query($_, 'SELECT count(*) FROM t WHERE id = -3000', '1'), $_->name . ' receives new writes')
  for ($leader, $lost);

# durable: a restart keeps the mode, and the survivor leads and commits again
# (the rebuilt nodes, in run mode 2, wait for it)
command_ok([ 'dcf_ctl', 'stop', '-D', $s->data_dir ], 'the survivor stopped');
$s->_update_pid(0);
command_ok([ 'dcf_ctl', 'start', '-D', $s->data_dir, '-l', $s->logfile, '-t', '90' ], 'and started again');
$s->_update_pid(1);
ok($c->wait_query($s, 'SELECT NOT pg_is_in_recovery()', 't', 60), 'after its restart it leads again');
is($s->safe_psql('postgres', 'SELECT work_mode FROM dcf_replication_info()'), 'minority', 'still in minority mode');
($rc, $out, $err) = $c->dcf_ctl('query', '-D', $s->data_dir);
like($out, qr/work_mode\s*[:|]?\s*minority/, 'dcf_ctl query shows it');
$s->safe_psql('postgres', 'INSERT INTO t VALUES (-2000)');
push @acked, -2000;


# ---- back to normal: the 3-node majority --------------------------------------------------
($rc, $out, $err) = $c->dcf_ctl('setrunmode', '-D', $s->data_dir, '-x', 'normal');
is($rc, 0, 'setrunmode -x normal') or diag($err);
my $back = $c->wait_for_leader(60);
is($back->safe_psql('postgres', 'SELECT work_mode FROM dcf_replication_info()'), 'normal', 'the leader works in normal mode');
ok(!-f $s->basedir . '/dcf_data/work_mode', 'the record is gone');
for my $n ($leader, $lost)
{
	$n->append_conf('postgresql.conf', "dcf.run_mode = 0\n");
	$n->reload;
}
my ($off) = grep { $_ != $back } $c->nodes;
$off->stop('immediate');
my $r = $c->first_commit('INSERT INTO t VALUES (-4000)', 60, $back);
ok($r, 'the 3-node majority commits with one node stopped');
push @acked, -4000 if $r;
command_ok([ 'dcf_ctl', 'start', '-D', $off->data_dir, '-l', $off->logfile, '-t', '120' ], $off->name . ' back');
$off->_update_pid(1);

# ---- every acknowledged insert on every node -------------------------------------------
my $list = join(',', @acked);
for my $n ($c->nodes)
{
	ok($c->wait_query($n, "SELECT count(*) FROM unnest(ARRAY[$list]::int[]) a WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = a)", '0', 120),
		$n->name . ': all ' . scalar(@acked) . ' acknowledged inserts');
}

$c->stop_all;
done_testing();
