# Storage faults on one node (issue 15): its consensus log loses entries it
# had acknowledged, and it must come back by itself with every row.
#
# Under a continuous insert load a node is stopped, its log in dcf.data_path
# is damaged, and it is started again:
#   last      the last 100 written bytes of the newest segment zeroed (its
#             last entry and the close mark) — the experiment of issue 15
#   middle    one byte of an entry in the middle of the log flipped
#   segment   the newest segment file deleted
#   truncate  the newest segment cut so that its last few entries are gone
# first on a follower, then on a stopped old leader (the others elect a new
# one meanwhile).  Each time: the node logs what it lost and that it
# repairs, the leader logs that the follower's log went backwards (when it
# had acknowledged more), the node is back to normal — logins accepted,
# receiving writes, repair_index 0 in dcf_replication_info() — with no
# operator action, and every acknowledged insert is on every node.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use DcfCluster;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

my $c = DcfCluster->new('sf', 3);
$c->start_all;
my $leader = $c->wait_for_leader;
$leader->safe_psql('postgres', 'CREATE EXTENSION dcf; CREATE TABLE t (id int primary key)');

sub log_dir { return $_[0]->basedir . '/dcf_data'; }

sub newest_segment
{
	my @s = sort glob(log_dir($_[0]) . '/*.seg');
	return $s[-1];
}

# Entries of a stopped node's log as [index, offset, length] of the newest
# segment, from dcf_ctl log-dump.
sub newest_entries
{
	my ($node) = @_;
	my $seg = newest_segment($node);
	my ($first) = $seg =~ m{/0*(\d+)\.seg$};
	my ($out) = run_command(['dcf_ctl', 'log-dump', '--data-path=' . log_dir($node), "--from=$first"]);
	my @e;
	for my $line (split /\n/, $out)
	{
		push @e, [$1, $3, $2] if $line =~ /^\s+(\d+)\s+\d+\s+\d+\s+\S+\s+(\d+)\s+(\d+)\s*$/ && $1 >= $first;
	}
	return @e;
}

# Offset one past the last non-zero byte of a file (segments are
# preallocated with zeros).
sub data_end
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	my $pos = -s $path;
	while ($pos > 0)
	{
		my $n = $pos >= 65536 ? 65536 : $pos;
		$pos -= $n;
		my $buf;
		seek $fh, $pos, 0;
		read $fh, $buf, $n;
		if ($buf =~ /[^\0]/)
		{
			$buf =~ /[^\0]\0*\z/;
			close $fh;
			return $pos + $-[0] + 1;
		}
	}
	close $fh;
	return 0;
}

sub write_at
{
	my ($path, $off, $bytes) = @_;
	open my $fh, '+<:raw', $path or die "$path: $!";
	seek $fh, $off, 0;
	print $fh $bytes;
	close $fh;
}

# Damages a stopped node's log; returns a description.
sub damage
{
	my ($node, $kind) = @_;
	my $seg = newest_segment($node);
	my @e = newest_entries($node);
	die "no entries in $seg" unless @e >= 8;
	if ($kind eq 'last')
	{
		my $end = data_end($seg);
		write_at($seg, $end - 100, "\0" x 100);
		return "zeroed bytes " . ($end - 100) . "..$end of $seg (last entry $e[-1][0])";
	}
	if ($kind eq 'middle')
	{
		my $m = $e[int(@e / 2)];
		my $at = $m->[1] + 56 + int($m->[2] / 2);
		open my $fh, '<:raw', $seg or die;
		my $b;
		seek $fh, $at, 0;
		read $fh, $b, 1;
		close $fh;
		write_at($seg, $at, chr(ord($b) ^ 0x5a));
		return "flipped a byte of entry $m->[0] (of $e[0][0]..$e[-1][0]) at offset $at";
	}
	if ($kind eq 'segment')
	{
		unlink $seg or die "$seg: $!";
		return "deleted $seg (entries $e[0][0]..$e[-1][0])";
	}
	if ($kind eq 'truncate')
	{
		my $cut = $e[-4];
		truncate $seg, $cut->[1] or die "$seg: $!";
		return "truncated $seg at entry $cut->[0] (of $e[-1][0])";
	}
	die "unknown damage $kind";
}

my $round = 0;
my $next_id = 1;

sub check_rows
{
	my ($what, @acked) = @_;
	my $list = join(',', @acked);
	for my $n ($c->nodes)
	{
		ok($c->wait_query($n,
			"SELECT count(*) FROM unnest(ARRAY[$list]::int[]) a WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = a)", '0', 120),
			"$what: all " . scalar(@acked) . " acknowledged inserts are on " . $n->name);
	}
}

# The node is back to normal: logins, repair over, a new write arrives.
sub check_back
{
	my ($what, $node, $writer) = @_;
	my $id = -1000 - $round;
	$writer->safe_psql('postgres', "INSERT INTO t VALUES ($id)");
	ok($c->wait_query($node, "SELECT count(*) FROM t WHERE id = $id", '1', 120),
		"$what: " . $node->name . " accepts logins and receives new writes");
	ok($c->wait_query($node, 'SELECT repair_index FROM dcf_replication_info()', '0', 60),
		"$what: " . $node->name . " says its repair is over (repair_index 0)");
}

# A follower is stopped under load, damaged, started.
sub follower_case
{
	my ($kind) = @_;
	$round++;
	my $what = "follower, $kind";
	my $f = (grep { $_ != $leader } $c->nodes)[$round % 2];
	my $ackfile = $leader->basedir . "/acks_$round";
	my $load = $c->start_insert_load($leader, 't', $next_id, $ackfile);
	sleep 0.2 while $c->read_acks($ackfile) < 30;
	my $loglen = -s $f->logfile;
	my $leaderlog = -s $leader->logfile;
	$f->stop('fast');
	my $desc = damage($f, $kind);
	note("$what: $desc");
	$f->start;
	my $t0 = time;
	sleep 0.2 while $c->read_acks($ackfile) < 60 && time - $t0 < 60;
	check_back($what, $f, $leader);
	$load->kill_kill;
	$load->finish;
	my @acked = $c->read_acks($ackfile);
	$next_id += 1_000_000;
	my $flog = slurp_file($f->logfile, $loglen);
	like($flog, qr/consensus log entries from index \d+ on were damaged or missing though index \d+ had been durable/,
		"$what: the node logs what it lost");
	like($flog, qr/holds its consensus log up to index \d+ again: it votes and counts toward commits again/,
		"$what: and that its repair is over");
	if ($kind eq 'last')
	{
		command_like(['dcf_ctl', 'query', '-D', $f->data_dir], qr/repair_index\s+: 0\n/,
			"$what: dcf_ctl query shows repair_index 0");
		# the experiment: it had acknowledged the entry it lost
		like(slurp_file($leader->logfile, $leaderlog),
			qr/the consensus log of node \d+ went backwards: it rejected index \d+ at or below its match index \d+/,
			"$what: the leader logs that the follower's log went backwards");
	}
	check_rows($what, @acked);
}

# The leader is stopped under load, damaged; the others elect a new leader;
# the old one is started again.
sub old_leader_case
{
	my ($kind) = @_;
	$round++;
	my $what = "old leader, $kind";
	my $old = $leader;
	my $ackfile = $old->basedir . "/acks_$round";
	my $load = $c->start_insert_load($old, 't', $next_id, $ackfile);
	sleep 0.2 while $c->read_acks($ackfile) < 30;
	my $loglen = -s $old->logfile;
	$old->stop('fast');
	$load->finish;
	my @acked = $c->read_acks($ackfile);
	$next_id += 1_000_000;
	my $desc = damage($old, $kind);
	note("$what: $desc");
	$leader = $c->wait_for_leader(120, $old);
	command_ok(['dcf_ctl', 'start', '-D', $old->data_dir, '-l', $old->logfile, '-t', '120'],
		"$what: dcf_ctl start brings the damaged old leader back");
	$old->_update_pid(1);
	check_back($what, $old, $leader);
	my $olog = slurp_file($old->logfile, $loglen);
	like($olog, qr/consensus log entries from index \d+ on were damaged or missing/,
		"$what: the node logs what it lost");
	check_rows($what, @acked);
}

# DCF_STORAGE_FAULT_CASES="follower:last ..." runs only the cases named
my %only = map { $_ => 1 } split ' ', ($ENV{DCF_STORAGE_FAULT_CASES} // '');
for my $kind (qw(last middle segment truncate))
{
	follower_case($kind) if !%only || $only{"follower:$kind"};
}
for my $kind (qw(last middle truncate segment))
{
	old_leader_case($kind) if !%only || $only{"leader:$kind"};
}

$c->stop_all;
done_testing();
