# A leader that lost its majority stays up while it serves a rewind (issue
# 16: found by the fault-injection harness, seed 7, 3 nodes, after a
# restart-all: both followers had diverged and stopped for their rewinds from
# the new leader at once; the leader, with no follower left, was suspended
# and fenced itself after 10 election timeouts while the rewinds were still
# copying from it; both failed and the cluster had no node up until the next
# dcf_ctl start of all three, 45 s of unavailability).
#
# A suspended leader acknowledges nothing and refuses logins; it used to be
# fenced after 10 election timeouts regardless.  Now, as long as no other
# leader is known, it postpones that while a dcf_ctl session (a rewind
# reading from it: pg_rewind connects with dcf_ctl's application_name) is
# connected, for at most WORKER_SUSPEND_SERVE_MS.  Here a dcf_ctl session
# stands in for the rewinds: both followers die, the leader is suspended,
# the session outlasts the 10 election timeouts, the followers come back,
# and the same leader is elected again and takes writes without a rewind
# (the followers return in run mode 2, so that it is the one elected).
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

my $c = DcfCluster->new('ssr', 3, extra_conf => "dcf.election_timeout = '1s'\n");
$c->start_all;
my $l = $c->wait_for_leader;
$l->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
$l->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 100)');
my @f = $c->followers($l);
ok($c->wait_query($_, 'SELECT count(*) FROM t', '100'), $_->name . ' has the rows') for @f;

# a dcf_ctl session on the leader (what a rewind from it looks like)
my $sess = IPC::Run::start(['psql', '-XAtq', '-d', $l->connstr('postgres') . ' application_name=dcf_ctl',
	'-c', 'SELECT pg_sleep(30)'], '>', \my $sout, '2>', \my $serr);
usleep(500_000);

# both followers die: the leader loses its majority
my $from = -s $l->logfile;
for my $n (@f)
{
	my @p = $c->server_pids($n);
	$n->kill9;
	kill 'KILL', @p;
}
my $t0 = time;
sleep 0.5 while time - $t0 < 15;
my $llog = substr(slurp_file($l->logfile), $from);
like($llog, qr/lost contact with the majority/, 'the leader was suspended');
ok(DcfRejoin::postmaster_pid($l->data_dir), 'after 15 s (10 election timeouts and more) its server is still up')
  or diag(substr($llog, -2000));
like($llog, qr/serving a dcf_ctl session/, 'it says why it is not fenced yet');

# the followers come back; the same leader is elected again and resumes
# (they come back in run mode 2: their logs are as long as the leader's, and
# one of them campaigning first would win, and rightly fence the old leader)
for my $n (@f)
{
	$n->append_conf('postgresql.conf', "dcf.run_mode = 2\n");
	my ($rc, $out, $err) = DcfRejoin::run_status('dcf_ctl', 'start', '-D', $n->data_dir, '-l', $n->logfile, '-t', '60');
	is($rc, 0, $n->name . ' started') or diag($out . $err);
	$n->_update_pid(1) if DcfRejoin::postmaster_pid($n->data_dir);
}
my $r = $c->first_commit('INSERT INTO t VALUES (101)', 60, $l);
ok($r, 'the same leader takes writes again');
$llog = substr(slurp_file($l->logfile), $from);
like($llog, qr/leads again in term/, 'it resumed on its timeline');
unlike($llog, qr/dcf: node \d+ is fenced/, 'it was never fenced');
$sess->kill_kill;

$c->check_acked_rows([1 .. 101], 60);
$c->stop_all;
done_testing();
