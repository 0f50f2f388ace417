# A node stopped for its rewind whose only live peer is a standby that has
# received the cluster's newest timeline but replayed no checkpoint of it
# (issue 16, found by the fault-injection harness, seed 7, 3 nodes).
#
# pg_rewind (PostgreSQL 15) takes each server's timeline from the last
# checkpoint in its control file.  Such a standby's control file still names
# the node's own timeline, so pg_rewind answers "no rewind required" and
# changes nothing.  On main before the fix, dcf_ctl start either took that
# answer ("rewind complete", markers removed, the node started as diverged
# as before: one of its two rewinds used up) or, when the standby had no
# walreceiver at that moment, did not count it as a member with the
# cluster's WAL at all and gave up after 30 s with the node down; the
# standby then could never be elected (it needs the node's vote), and the
# cluster stayed without a leader.  Now dcf_ctl sees the standby is not
# usable yet (checkpointing it first), starts the node unrewound ("rewind
# deferred"): its worker finds the divergence, keeps the server up voting,
# the standby is elected and promotes, the node stops for its rewind and
# dcf_ctl rewinds it from the new leader.
#
# The scene, made deterministic with replay pauses: B and C pause replay; A
# (leader) gets WAL past the cluster's (its worker stopped, a commit
# waiting); B is elected, resumes replay and promotes, a row is committed on
# it; A is killed and started by hand: it diverged, so it stops itself with
# a rewind_needed marker; B is killed.  C alone remains, a standby with B's
# timeline received but not replayed.
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

my $c = DcfCluster->new('rss', 3, extra_conf => "dcf.election_timeout = '3s'\n");
$c->start_all;
my $na = $c->wait_for_leader;
$na->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
$na->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 100)');
my @acked = (1 .. 100);

# every node knows where the others' servers listen (rewind sources)
for my $n ($c->nodes)
{
	my $f = $n->basedir . '/dcf_data/pg_endpoints';
	my $t0 = time;
	usleep(100_000) while ((!-f $f || scalar(split /\n/, slurp_file($f)) < 3) && time - $t0 < 30);
	is(scalar(split /\n/, slurp_file($f)), 3, $n->name . ' knows the PostgreSQL ports of all 3 members');
}

# SQL on a node that may not have joined (dcf_ctl's logins are let in)
sub nq
{
	my ($n, $sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(['psql', '-XAtq', '-d', $n->connstr('postgres') . ' application_name=dcf_ctl', '-c', $sql],
		'>', \$out, '2>', \$err, IPC::Run::timeout(20));
	chomp $out;
	return $? == 0 ? $out : undef;
}

for my $n ($c->followers($na))
{
	ok($c->wait_query($n, 'SELECT count(*) FROM t', '100'), $n->name . ' has replayed the first rows');
	nq($n, 'SELECT pg_wal_replay_pause()');
}

# A's WAL goes past the cluster's: its worker stopped, a commit waiting
my $aw = $c->worker_pid($na);
ok($aw, "A's dcf worker found");
kill 'STOP', $aw;
my $late = IPC::Run::start(['psql', '-XAtq', '-d', $na->connstr('postgres'), '-c', 'INSERT INTO t VALUES (-1)'],
	'>', \my $late_out, '2>', \my $late_err);

# B is elected; it resumes replay and promotes
my ($nb, $t0) = (undef, time);
while (!$nb && time - $t0 < 90)
{
	for my $n ($c->followers($na))
	{
		$nb = $n if (nq($n, 'SELECT role FROM dcf_replication_info()') // '') eq 'LEADER';
	}
	usleep(100_000);
}
ok($nb, 'B elected: ' . ($nb ? $nb->name : 'none'));
my ($cn) = grep { $_ != $na && $_ != $nb } $c->nodes;
nq($nb, 'SELECT pg_wal_replay_resume()');
my $r = $c->first_commit('INSERT INTO t VALUES (200)', 90, $nb);
ok($r, 'B promoted and commits (C persists its log, replay paused)');
push @acked, 200 if $r;
my $btli = nq($nb, q{SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)});

# A killed (every process: its stopped worker would keep the shared memory)
my @apids = $c->server_pids($na);
$na->kill9;
kill 'KILL', @apids;
$late->kill_kill;
usleep(100_000) while DcfRejoin::postmaster_pid($na->data_dir) && time - $t0 < 150;

# A started by hand: it diverged and B leads on the newest timeline, so it stops itself for its rewind
my $marker = $na->basedir . '/dcf_data/rewind_needed';
# (pg_ctl without -w: the server may stop itself before it is ready)
DcfRejoin::run_status('pg_ctl', 'start', '-D', $na->data_dir, '-l', $na->logfile);
$t0 = time;
usleep(100_000) while (!-f $marker || DcfRejoin::postmaster_pid($na->data_dir)) && time - $t0 < 90;
ok(-f $marker && !DcfRejoin::postmaster_pid($na->data_dir), 'A stopped itself for its rewind');
# A usually fetched the history file of B's timeline before it stopped (its
# standby asks for it at the switch); make sure it has it, the harder case:
# recovery would then target that timeline and refuse to start unrewound
my $hist = sprintf('%08X.history', hex($btli // '0'));
if (!-f $na->data_dir . "/pg_wal/$hist")
{
	PostgreSQL::Test::Utils::system_or_bail('cp', $cn->data_dir . "/pg_wal/$hist", $na->data_dir . "/pg_wal/$hist");
}
ok(-f $na->data_dir . "/pg_wal/$hist", "A has the history file of B's timeline");

# B killed: C alone, with B's timeline received but no checkpoint of it replayed
my @bpids = $c->server_pids($nb);
$nb->kill9;
kill 'KILL', @bpids;
is(nq($cn, 'SELECT pg_is_wal_replay_paused()'), 't', "C's replay is still paused");
my $ctli = nq($cn, 'SELECT timeline_id FROM pg_control_checkpoint()');
ok(defined $ctli && hex($btli // '0') > $ctli, "C's control file is on a timeline before B's ($ctli < " . hex($btli // '0') . ')');

# dcf_ctl start A: no usable source; A is started unrewound and votes
my $bg = DcfRejoin::start_bg($na);
my $deferred = 0;
$t0 = time;
while (time - $t0 < 90 && $bg->[0]->pumpable)
{
	$bg->[0]->pump_nb;
	if (${ $bg->[1] } . ${ $bg->[2] } =~ /rewind deferred/ && DcfRejoin::postmaster_pid($na->data_dir))
	{
		$deferred = 1;
		last;
	}
	usleep(100_000);
}
my $out = ${ $bg->[1] } . ${ $bg->[2] };
ok($deferred, 'dcf_ctl start A: C is not a usable rewind source yet; A started unrewound') or diag($out);
like($out, qr/has the cluster's WAL \(timeline \d+\) but its last checkpoint is on timeline \d+/, 'dcf_ctl says why C is not used');
unlike($out, qr/no rewind is required|rewind complete/, 'no "rewind" that changes nothing');

# C replays on; with A's vote it is elected and promotes; A is rewound from it and joins
nq($cn, 'SELECT pg_wal_replay_resume()');
my $rc = DcfRejoin::finish_bg($bg);
$out = ${ $bg->[1] } . ${ $bg->[2] };
is($rc, 0, 'dcf_ctl start A rewound A from C once C led, and A joined') or diag($out);
like($out, qr/rewind source: .*the leader/, 'the source was the new leader');
$na->_update_pid(1) if DcfRejoin::postmaster_pid($na->data_dir);

$r = $c->first_commit('INSERT INTO t VALUES (201)', 120, $cn, $na);
ok($r, 'the cluster takes writes again' . ($r ? ' (' . $r->[0]->name . ')' : ''));
push @acked, 201 if $r;

# B rejoins; every acknowledged row on every node, A's unacknowledged row nowhere
my ($brc, $bout, $berr) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $nb->data_dir, '-l', $nb->logfile, '-t', '120');
is($brc, 0, 'B rejoined with dcf_ctl start') or diag($bout . $berr);
$nb->_update_pid(1) if DcfRejoin::postmaster_pid($nb->data_dir);
$c->check_acked_rows(\@acked, 90);

$c->stop_all;
done_testing();
