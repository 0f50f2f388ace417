# DcfCluster — a dcf cluster of PostgreSQL::Test::Cluster nodes on loopback.
#
#   my $c = DcfCluster->new('name', 3);      # one initdb, copied to 3 nodes
#   $c->start_all;
#   my $leader = $c->wait_for_leader;        # the writable node
#   $c->follower_nodes($leader)
#
# Every node listens for SQL on its Unix socket and on 127.0.0.1 (pg_rewind
# reaches the leader by TCP), and for dcf traffic on a free loopback port.
# All nodes share one cluster key.
package DcfCluster;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::RecursiveCopy;
use Test::More;
use Time::HiRes qw(usleep time);

sub new
{
	my ($class, $name, $n, %opt) = @_;
	my $self = bless { name => $name, nodes => [] }, $class;

	my @nodes;
	my @dcf_ports;
	for my $i (1 .. $n)
	{
		push @nodes, PostgreSQL::Test::Cluster->new("${name}_n$i");
		push @dcf_ports, PostgreSQL::Test::Cluster::get_free_port();
	}
	my $first = $nodes[0];
	$first->init(allows_streaming => 1);
	my $keyfile = $first->basedir . '/../' . "${name}_cluster.key";
	open my $kf, '>', $keyfile or die $!;
	print $kf join('', map { sprintf '%02x', int(rand(256)) } 1 .. 32), "\n";
	close $kf;
	chmod 0600, $keyfile;

	my @members;
	for my $i (1 .. $n)
	{
		my $role = $opt{roles} ? $opt{roles}->[$i - 1] : ($i == 1 ? 'LEADER' : 'FOLLOWER');
		# member_json: extra fields per member, e.g. '"group":1,"priority":5'
		my $more = $opt{member_json} && $opt{member_json}->[$i - 1] ? ',' . $opt{member_json}->[$i - 1] : '';
		push @members,
		  qq({"stream_id":1,"node_id":$i,"ip":"127.0.0.1","port":$dcf_ports[$i-1],"role":"$role"$more});
	}
	my $config = '[' . join(',', @members) . ']';

	# the template: everything but the node-local settings
	$first->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'dcf'
dcf.enable = on
dcf.auth_key_file = '$keyfile'
dcf.config = '$config'
restart_after_crash = on
max_connections = 100
wal_keep_size = '256MB'
log_min_messages = info
# allows_streaming turned this on; a user does not, dcf must (pg_rewind needs it)
wal_log_hints = off
));
	$first->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n");

	for my $i (2 .. $n)
	{
		my $node = $nodes[$i - 1];
		mkdir $node->basedir;
		PostgreSQL::Test::RecursiveCopy::copypath($first->data_dir, $node->data_dir);
		chmod 0700, $node->data_dir;
	}
	for my $i (1 .. $n)
	{
		my $node = $nodes[$i - 1];
		my $extra = $opt{extra_conf} // '';
		$node->append_conf('postgresql.conf', qq(
port = ${\ $node->port}
unix_socket_directories = '${\ $node->host}'
listen_addresses = '127.0.0.1'
dcf.node_id = $i
dcf.data_path = '${\ $node->basedir}/dcf_data'
$extra
));
	}
	$self->{nodes} = \@nodes;
	$self->{dcf_ports} = \@dcf_ports;
	$self->{keyfile} = $keyfile;
	return $self;
}

sub nodes { return @{ $_[0]->{nodes} }; }
sub node { return $_[0]->{nodes}->[ $_[1] - 1 ]; }

sub start_all
{
	my ($self) = @_;
	$_->start for $self->nodes;
}

# The node whose server accepts writes (the promoted leader), or undef.
sub writable_node
{
	my ($self) = @_;
	for my $node ($self->nodes)
	{
		next unless -f $node->data_dir . '/postmaster.pid';
		# (eval: a psql refused at login may exit before reading the query,
		# and IPC::Run dies of the broken pipe)
		my ($ret, $out) = eval { $node->psql('postgres', 'SELECT NOT pg_is_in_recovery()',
			extra_params => ['-X'], timeout => 5) };
		return $node if defined $ret && $ret == 0 && defined $out && $out eq 't';
	}
	return undef;
}

# Wait until a leader is writable; returns it.
sub wait_for_leader
{
	my ($self, $timeout, @exclude) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $t0 = time;
	while (time - $t0 < $timeout)
	{
		my $l = $self->writable_node;
		return $l if $l && !grep { $_ == $l } @exclude;
		usleep(100_000);
	}
	die "no writable leader within $timeout s";
}

sub followers
{
	my ($self, $leader) = @_;
	return grep { $_ != $leader } $self->nodes;
}

# Wait until $sql on $node returns $expected (connection failures retried).
sub wait_query
{
	my ($self, $node, $sql, $expected, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $t0 = time;
	my $out;
	while (time - $t0 < $timeout)
	{
		my $ret;
		($ret, $out) = eval { $node->psql('postgres', $sql, extra_params => ['-X'], timeout => 10) };
		return 1 if defined $ret && $ret == 0 && defined $out && $out eq $expected;
		usleep(100_000);
	}
	diag("wait_query on " . $node->name . ": '$sql' gave '" . ($out // '') . "', wanted '$expected'");
	return 0;
}

# One check per node: table t ends with exactly the ids in @$acked.
sub check_acked_rows
{
	my ($self, $acked, $timeout) = @_;
	my $want = join(',', sort { $a <=> $b } @$acked);
	for my $n ($self->nodes)
	{
		Test::More::ok($self->wait_query($n, q{SELECT string_agg(id::text, ',' ORDER BY id) FROM t}, $want, $timeout),
			$n->name . ' has every acknowledged row and nothing else');
	}
}

1;

package DcfCluster;

# A background insert loop on $node: ids from $from up, one psql per
# insert; every acknowledged id is appended to $ackfile.  Stops at the first
# failure.  Returns the IPC::Run harness.
sub start_insert_load
{
	my ($self, $node, $table, $from, $ackfile) = @_;
	my $connstr = $node->connstr('postgres');
	my $script = qq(i=$from; while psql -XAtq -d "$connstr" -c "INSERT INTO $table VALUES (\$i)" >/dev/null 2>&1; do echo \$i >> '$ackfile'; i=\$((i+1)); done);
	return IPC::Run::start(['bash', '-c', $script]);
}

sub read_acks
{
	my ($self, $ackfile) = @_;
	return () unless -f $ackfile;
	open my $fh, '<', $ackfile or die $!;
	my @ids = map { chomp; $_ } <$fh>;
	close $fh;
	return @ids;
}

# All processes of a node's server (postmaster and children).
sub server_pids
{
	my ($self, $node) = @_;
	my $pm = $node->{_pid};
	return () unless $pm;
	my @pids = ($pm);
	for my $line (split /\n/, `ps -o pid= --ppid $pm`)
	{
		push @pids, $1 if $line =~ /(\d+)/;
	}
	return @pids;
}

# Stop every node that still runs; forget those that stopped themselves
# (a fenced leader), so that the test framework's own teardown at exit does
# not try to stop them again and bail out.
sub stop_all
{
	my ($self) = @_;
	for my $n ($self->nodes)
	{
		if (-f $n->data_dir . '/postmaster.pid')
		{
			$n->stop('immediate', fail_ok => 1);
		}
		else
		{
			$n->_update_pid(0);
		}
	}
}

# The pid of a node's dcf worker, or undef.
sub worker_pid
{
	my ($self, $node) = @_;
	my $pm = $node->{_pid};
	return undef unless $pm;
	my $out = `ps -o pid=,args= --ppid $pm`;
	return $1 if $out =~ /^\s*(\d+)\s+postgres: .*dcf worker/m;
	return undef;
}

# Try to commit on each node until one succeeds; returns [node, seconds].
sub first_commit
{
	my ($self, $sql, $timeout, @candidates) = @_;
	my $t0 = Time::HiRes::time();
	while (Time::HiRes::time() - $t0 < $timeout)
	{
		for my $n (@candidates)
		{
			my ($ret) = $n->psql('postgres', $sql, extra_params => ['-X'], timeout => 5);
			return [$n, Time::HiRes::time() - $t0] if defined $ret && $ret == 0;
		}
		Time::HiRes::usleep(20_000);
	}
	return undef;
}

# Run dcf_ctl with @args; returns (exit status, stdout, stderr).
sub dcf_ctl
{
	my ($self, @args) = @_;
	my ($stdout, $stderr) = ('', '');
	IPC::Run::run([ 'dcf_ctl', @args ], '>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stdout, $stderr);
}

1;
