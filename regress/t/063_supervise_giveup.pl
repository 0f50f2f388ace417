# dcf_ctl supervise gives up, says why, and exits 3 (the systemd unit does
# not restart it then):
#   1. after --max-failed-starts failed starts in a row, with the back-off
#      between them (a start that always fails: an unknown setting);
#   2. at the first failed start of a node that needs a rebuild (its
#      rebuild_needed marker), naming the marker's reason.
# The node is never up; it removes its supervise.pid when it gives up.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $c = DcfCluster->new('sgu', 1);
my $n = $c->node(1);
my $dpath = $n->basedir . '/dcf_data';

sub supervise
{
	my (@extra) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'dcf_ctl', 'supervise', '-D', $n->data_dir, '-l', $n->logfile, '-t', '30', @extra ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(300));
	note("dcf_ctl supervise @extra:\n$out$err");
	return ($? >> 8, $out . $err);
}

# 1. every start fails
my ($rc, $log) = supervise('-o', '-c no_such_setting=1', '--max-failed-starts', '2');
is($rc, 3, 'a start that always fails: the supervisor gives up with exit status 3');
like($log, qr/start 1 of 2 failed.*waiting 1 s before the next start.*start 2 of 2 failed/s,
	'after two failed starts, with a back-off between them');
like($log, qr/giving up: 2 starts in a row failed; the node does not rejoin by itself/,
	'it says it gives up and that the node will not rejoin');
like($log, qr/pg_ctl start failed/, 'each failed start says what failed');
unlike($log, qr/start 3 of/, 'no third start');
like(slurp_file($n->logfile), qr/unrecognized configuration parameter "no_such_setting"/,
	'the server log names the cause');
ok(!-e "$dpath/supervise.pid", 'its supervise.pid is gone');

# 2. a node that needs a rebuild
mkdir $dpath;
open my $m, '>', "$dpath/rebuild_needed" or die $!;
print $m "reason=test: the cluster's log no longer has this node's WAL\n";
close $m;
($rc, $log) = supervise();
is($rc, 3, 'a node that needs a rebuild: exit status 3');
like($log, qr/this node cannot be rewound: test: the cluster's log no longer has this node's WAL/,
	'dcf_ctl start refused it');
like($log, qr/giving up: the node needs a rebuild \(test: the cluster's log no longer has this node's WAL\).*dcf_ctl build/,
	'the supervisor gives up at once, naming the reason and the way out');
unlike($log, qr/start \d+ of \d+ failed/, 'without retrying');
ok(!-e "$dpath/supervise.pid", 'its supervise.pid is gone');

# a bad limit is refused
($rc, $log) = supervise('--max-failed-starts', '0');
is($rc, 1, '--max-failed-starts 0 is refused');
like($log, qr/invalid --max-failed-starts value "0": give an integer between 1 and 1000/, 'with the valid range');

$c->stop_all;
done_testing();
