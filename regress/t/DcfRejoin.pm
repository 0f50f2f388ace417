# DcfRejoin — helpers for the rejoin tests (regress/t/04x_rejoin*.pl) and
# the rejoin cycle run (bench/rejoin.pl): start a node with dcf_ctl in the
# background, pause a node's dcf worker, check acknowledged rows.
package DcfRejoin;

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

# The postmaster pid in a data directory's postmaster.pid, or 0.
sub postmaster_pid
{
	my ($datadir) = @_;
	open my $fh, '<', "$datadir/postmaster.pid" or return 0;
	my $pid = <$fh>;
	close $fh;
	return 0 unless defined $pid;
	chomp $pid;
	return ($pid =~ /^\d+$/ && kill(0, $pid)) ? $pid : 0;
}

# The dcf worker process of the postmaster $pm, or 0.
sub worker_pid
{
	my ($pm) = @_;
	return 0 unless $pm;
	for my $line (split /\n/, `ps -o pid=,args= --ppid $pm 2>/dev/null`)
	{
		return $1 if $line =~ /^\s*(\d+)\s+.*dcf worker/;
	}
	return 0;
}

# Wait until the node's dcf worker runs; returns its pid (0 on timeout).
sub wait_worker
{
	my ($datadir, $timeout, $not_pm) = @_;
	my $t0 = time;
	while (time - $t0 < $timeout)
	{
		my $pm = postmaster_pid($datadir);
		if ($pm && (!$not_pm || $pm != $not_pm))
		{
			my $w = worker_pid($pm);
			return ($w, $pm) if $w;
		}
		usleep(5_000);
	}
	return (0, 0);
}

# dcf_ctl start in the background; returns [harness, \$out, \$err].
sub start_bg
{
	my ($node, @extra) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(['dcf_ctl', 'start', '-D', $node->data_dir, '-l', $node->logfile,
			'-t', '120', @extra], '>', \$out, '2>', \$err);
	return [$h, \$out, \$err];
}

# Finish a background dcf_ctl start; returns its exit status.
sub finish_bg
{
	my ($bg) = @_;
	$bg->[0]->finish;
	return $bg->[0]->result(0);
}

# Run a command; returns (exit status, stdout, stderr).
sub run_status
{
	my (@cmd) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	my $st = $?;
	return ($st == 0 ? 0 : (($st >> 8) || 128 + ($st & 127)), $out, $err);
}

# How many of @ids are missing on $node in table $table.
sub missing_rows
{
	my ($node, $table, @ids) = @_;
	return 0 unless @ids;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM unnest(ARRAY[" . join(',', @ids) . "]::int[]) a WHERE NOT EXISTS (SELECT 1 FROM $table WHERE id = a)");
}

1;
