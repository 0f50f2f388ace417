# dcf_ctl stop picks the shutdown mode by role: the leader (a primary)
# immediately, so that no shutdown checkpoint the cluster never saw is
# written; a follower (a standby) with a fast shutdown.  postmaster.pid
# cannot tell them apart (a hot standby's status line says "ready" too):
# the chaos harness found followers stopped with -m immediate.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $c = DcfCluster->new('stopmode', 3);
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf');
my ($f) = $c->followers($leader);
ok($c->wait_query($f, 'SELECT pg_is_in_recovery()', 't'), $f->name . ' is a standby');

my ($out, $err) = run_command(['dcf_ctl', 'stop', '-D', $f->data_dir]);
like($out, qr/node stopped \(-m fast\)/, 'a follower is stopped with -m fast');
like(slurp_file($f->logfile), qr/received fast shutdown request/, 'its server got a fast shutdown request');
$f->_update_pid(0);

($out, $err) = run_command(['dcf_ctl', 'stop', '-D', $leader->data_dir]);
like($out, qr/node stopped \(-m immediate\)/, 'the leader is stopped with -m immediate');
like(slurp_file($leader->logfile), qr/received immediate shutdown request/, 'its server got an immediate shutdown request');
$leader->_update_pid(0);

$c->stop_all;
done_testing();
