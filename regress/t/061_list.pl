# dcf_ctl list: every member with the right role and state, from any node
# (by -D or -h/-p), on a healthy cluster, with a follower down, after the
# leader was killed, and once that killed leader is removed from the
# membership (listed as removed, with the role it had); --json parses;
# --watch refreshes.  Every acknowledged insert is on every running node at
# the end.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('list', 3);
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');
my @acked;
sub write_rows
{
	my ($node, $from, $n) = @_;
	$node->safe_psql('postgres', "INSERT INTO t SELECT generate_series($from, $from + $n - 1)");
	push @acked, $from .. $from + $n - 1;
}
write_rows($leader, 1, 100);

sub list_json
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'dcf_ctl', 'list', @args, '--json' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	my $doc = eval { decode_json($out) };
	return ($doc, $out, $err);
}

# Wait until the list (from @args) shows %want: node_id => [role, state].
sub wait_list
{
	my ($what, $want, @args) = @_;
	my ($doc, $out, $err);
	my $t0 = time;
	while (time - $t0 < 60)
	{
		($doc, $out, $err) = list_json(@args);
		if ($doc && $doc->{view} eq 'leader' && @{ $doc->{members} } == keys %$want)
		{
			my $ok = 1;
			for my $m (@{ $doc->{members} })
			{
				my $w = $want->{ $m->{node_id} } or do { $ok = 0; last };
				$ok = 0 if $m->{role} ne $w->[0] || $m->{state} ne $w->[1];
				# a member that was ever heard of has its PostgreSQL address
				$ok = 0 unless defined $m->{pg_port} || $w->[1] eq 'removed';
			}
			if ($ok)
			{
				pass($what);
				return $doc;
			}
		}
		usleep(200_000);
	}
	fail($what);
	diag("last output: $out\nstderr: $err");
	return $doc;
}

my %id = map { $_->name => $_ } $c->nodes;
sub node_id { my ($n) = @_; return ($n->name =~ /_n(\d+)$/)[0]; }

my ($f1, $f2) = $c->followers($leader);
my %healthy = (node_id($leader) => [ 'LEADER', 'leading' ],
	node_id($f1) => [ 'FOLLOWER', 'streaming' ], node_id($f2) => [ 'FOLLOWER', 'streaming' ]);

# from a follower, by its data directory: the leader's view
my $doc = wait_list('healthy cluster, listed from a follower (-D): every member right', \%healthy,
	'-D', $f1->data_dir);
is($doc->{source_node}, node_id($leader), 'the view is the leader\'s');
my %by = map { $_->{node_id} => $_ } @{ $doc->{members} };
for my $n ($c->nodes)
{
	my $m = $by{ node_id($n) };
	is($m->{pg_port}, $n->port, $n->name . ': its PostgreSQL port is listed');
	is($m->{dcf_address}, '127.0.0.1:' . $c->{dcf_ports}->[ node_id($n) - 1 ], $n->name . ': its dcf address');
	ok(defined $m->{term} && $m->{term} == $by{ node_id($leader) }->{term}, $n->name . ': the leader\'s term');
	ok(defined $m->{timeline} && $m->{timeline} >= 2, $n->name . ': a timeline (' . ($m->{timeline} // 'null') . ')');
	ok(defined $m->{lag_entries} && defined $m->{lag_bytes} && defined $m->{lag_seconds},
		$n->name . ': lag in entries, bytes and seconds');
}
my $tli_before = $by{ node_id($leader) }->{timeline};
ok(defined $by{ node_id($f2) }->{last_heard_ms} && $by{ node_id($f2) }->{last_heard_ms} < 5000,
	'the leader heard from a follower recently');

# from the leader by -h/-p, and the plain table
wait_list('healthy cluster, listed from the leader (-h/-p)', \%healthy,
	'-h', $leader->host, '-p', $leader->port);
my ($out, $err) = ('', '');
IPC::Run::run([ 'dcf_ctl', 'list', '-D', $f2->data_dir ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
like($out, qr/cluster as seen by the leader, node ${\ node_id($leader)}/, 'the table says whose view it is');
like($out, qr/^\s+${\ node_id($leader)}\s+LEADER\s+leading\s/m, 'the table shows the leader leading');
like($out, qr/^\s+${\ node_id($f1)}\s+FOLLOWER\s+streaming\s/m, 'and a follower streaming');

# --watch refreshes
my $watchfile = $f1->basedir . '/watch.out';
my $h = IPC::Run::start([ 'dcf_ctl', 'list', '-D', $f1->data_dir, '--watch', '0.5', '--json' ],
	'>', $watchfile, '2>&1');
sleep 4;
$h->kill_kill;
my $wout = slurp_file($watchfile);
my @docs = grep { defined } map { eval { decode_json($_) } } split /\n/, $wout;
ok(@docs >= 2, 'list --watch 0.5 --json printed a JSON document per refresh (' . scalar(@docs) . ' in 4 s)');
ok(!grep({ $_->{view} ne 'leader' } @docs), 'each one the leader\'s view');

# one follower down
$f2->stop('immediate');
write_rows($leader, 1000, 50);
my %f2down = %healthy;
$f2down{ node_id($f2) } = [ 'FOLLOWER', 'down' ];
$doc = wait_list('a follower down: listed as down, the others as before', \%f2down, '-D', $f1->data_dir);
%by = map { $_->{node_id} => $_ } @{ $doc->{members} };
is($by{ node_id($f2) }->{pg_port}, $f2->port, 'the down member keeps its last known PostgreSQL address');
ok($by{ node_id($f2) }->{lag_entries} > 0, 'and shows its lag in entries (' . $by{ node_id($f2) }->{lag_entries} . ')');

# listing the down node itself fails with a message
my ($rc_out, $rc_err) = ('', '');
IPC::Run::run([ 'dcf_ctl', 'list', '-D', $f2->data_dir ], '>', \$rc_out, '2>', \$rc_err);
like($rc_err, qr/no server running.*name a running member with -h\/-p/, 'list of a stopped node says to name a running one');

# back: streaming again
$f2->start;
wait_list('the follower back: streaming again', \%healthy, '-D', $leader->data_dir);

# the leader killed: a new leader, the old one down
$leader->kill9;
my $r = $c->first_commit('INSERT INTO t VALUES (5000)', 60, $f1, $f2);
ok($r, 'a new leader after the kill');
push @acked, 5000;
my $new = $r->[0];
my $other = $new == $f1 ? $f2 : $f1;
my %after = (node_id($new) => [ 'LEADER', 'leading' ], node_id($other) => [ 'FOLLOWER', 'streaming' ],
	node_id($leader) => [ 'FOLLOWER', 'down' ]);
$doc = wait_list('after the leader was killed: the new leader leading, the old one down', \%after,
	'-D', $other->data_dir);
%by = map { $_->{node_id} => $_ } @{ $doc->{members} };
ok($by{ node_id($new) }->{timeline} > $tli_before,
	"the new leader is on a newer timeline ($by{ node_id($new) }->{timeline} > $tli_before)");
is($by{ node_id($leader) }->{pg_port}, $leader->port, 'the killed leader keeps its PostgreSQL address');

# the killed leader removed from the membership: listed as removed
my $old_id = node_id($leader);
command_like([ 'dcf_ctl', 'member', '--operation=remove', '-u', $old_id, '-D', $other->data_dir ],
	qr/member remove done/, "node $old_id removed with dcf_ctl member");
my %removed = %after;
$removed{$old_id} = [ 'FOLLOWER', 'removed' ];
$doc = wait_list('the killed leader removed: listed as removed, the others as before', \%removed,
	'-D', $other->data_dir);
%by = map { $_->{node_id} => $_ } @{ $doc->{members} };
ok(!defined $by{$old_id}->{lag_entries} && !defined $by{$old_id}->{last_heard_ms},
	'the removed member has no lag and no last heard');
is($new->safe_psql('postgres', "SELECT count(*) FROM dcf_membership() WHERE node_id = $old_id"), '0',
	'and is not in the membership');
($out, $err) = ('', '');
IPC::Run::run([ 'dcf_ctl', 'list', '-h', $new->host, '-p', $new->port ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
like($out, qr/^\s+$old_id\s+FOLLOWER\s+removed\s/m, 'the table shows it removed');
ok($c->wait_query($other, "SELECT state FROM dcf_members() WHERE node_id = $old_id", 'removed', 60),
	'a follower that saw the removal lists it as removed in its own view too');

# every acknowledged insert on every running node
write_rows($new, 6000, 10);
my $ids = join(',', @acked);
for my $n ($new, $other)
{
	ok($c->wait_query($n,
		"SELECT count(*) FROM unnest(ARRAY[$ids]::int[]) a WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = a)",
		'0', 60), $n->name . ': all ' . scalar(@acked) . ' acknowledged inserts are there');
}

$c->stop_all;
done_testing();
