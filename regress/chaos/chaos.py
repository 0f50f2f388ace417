#!/usr/bin/env python3
"""chaos.py -- fault injection against a real dcf cluster on loopback.

Runs a 3- or 5-node cluster, a concurrent workload (unique-id inserts from
several clients that follow whoever leads, and bank transfers whose total
never changes) and a seeded schedule of faults, each followed by a heal:

  kill-leader, kill-follower     kill -9 of every process of the node, then
                                 `dcf_ctl start` as a user would
  stop-start                     `dcf_ctl stop`, then `dcf_ctl start`
  pause-leader, pause-follower   SIGSTOP of every process of the node, SIGCONT
  pause-worker-leader,
  pause-worker-follower          SIGSTOP/SIGCONT of the dcf worker alone
  part-leader, part-follower     (root only) the node cut off from every
                                 other node, both directions
  oneway-leader-out/-in,
  oneway-follower-out/-in        (root only) only the node's outgoing (out)
                                 or incoming (in) dcf traffic dropped
  part-bridge                    (root only, 5 nodes) {a,b} | c | {d,e}: c
                                 sees everybody, the two sides not each other
  restart-all                    the whole cluster down at once (power loss):
                                 every node stopped concurrently, some by
                                 `dcf_ctl stop`, the others by kill -9; then
                                 every node started with `dcf_ctl start`,
                                 concurrently

After the schedule: every fault healed, every node started, convergence
awaited, and then the checks: every acknowledged insert on every node, all
nodes identical (count + hash of both tables), the bank total constant
(also checked on the leader during the run), every acknowledged commit's
LSN on the final timeline history (no acknowledgement from a history that
was later abandoned, whichever nodes acknowledged in overlapping
intervals), no node stuck (logins accepted, a new write received by all).

The fault schedule (kinds, durations, gaps) is a pure function of the
seed; which node is "the leader" is decided when the fault happens.
Exit status 0 = all checks held; 1 = a check failed or a node did not come
back (the seed is printed and the logs kept); 2 = harness error.

Partitions use nftables: each node runs as its own OS user
(dcf_chaos_nI, created if missing), connections are marked with the
initiating socket's uid, and packets are dropped by mark, direction and
original destination port.  They need root; the table is deleted at the
end whatever happens.
"""

import argparse
import bisect
import collections
import hashlib
import json
import os
import pwd
import random
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
import types

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:
    sys.stderr.write("chaos.py: psycopg2 is missing: apt-get install python3-psycopg2\n")
    sys.exit(2)

PGUSER = "chaos"          # the cluster's bootstrap superuser
NFT_TABLE = "dcf_chaos"   # suffixed with the run's tag

ROOT_KINDS = ["part-leader", "part-follower", "oneway-leader-out", "oneway-leader-in",
              "oneway-follower-out", "oneway-follower-in", "part-bridge"]
BASE_KINDS = ["kill-leader", "kill-follower", "stop-start", "pause-leader", "pause-follower",
              "pause-worker-leader", "pause-worker-follower", "restart-all"]
ALL_KINDS = BASE_KINDS + ROOT_KINDS
LEADER_KINDS = {"kill-leader", "pause-leader", "pause-worker-leader", "part-leader",
                "oneway-leader-out", "oneway-leader-in"}

T0 = time.time()
STOP = threading.Event()     # SIGTERM/SIGINT: stop injecting, heal, check


def on_stop_signal(signum, frame):
    STOP.set()


def now():
    return time.time() - T0


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def __call__(self, msg, echo=True):
        line = "[%8.2f] %s" % (now(), msg)
        with self.lock:
            self.f.write(line + "\n")
            if echo:
                print(line, flush=True)


LOG = None


def die(msg):
    raise HarnessError(msg)


class HarnessError(Exception):
    pass


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


# ---------------------------------------------------------------- nodes

class Node:
    def __init__(self, cluster, i, pg_port, dcf_port):
        self.c = cluster
        self.i = i
        self.name = "n%d" % i
        self.pg_port = pg_port
        self.dcf_port = dcf_port
        self.dir = os.path.join(cluster.workdir, self.name)
        self.data = os.path.join(self.dir, "data")
        self.dcf_data = os.path.join(self.dir, "dcf")
        self.logfile = os.path.join(self.dir, "server.log")
        self.user = cluster.node_user(i)
        self.uid = pwd.getpwnam(self.user).pw_uid if self.user else os.getuid()
        self.stopped_pids = []

    def dsn(self, timeout=3):
        return ("host=127.0.0.1 port=%d dbname=postgres user=%s connect_timeout=%d "
                "application_name=chaos" % (self.pg_port, PGUSER, timeout))

    def run(self, argv, timeout=300):
        """Run a command as the node's OS user; returns (rc, output)."""
        env = dict(os.environ, PGUSER=PGUSER, LC_ALL="C")
        if self.user and os.getuid() == 0:
            argv = ["runuser", "-u", self.user, "--", "env", "PGUSER=" + PGUSER,
                    "PATH=" + os.environ["PATH"], "HOME=" + self.dir] + argv
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, timeout=timeout, cwd=self.dir)
            return p.returncode, p.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            return 124, (e.stdout or b"").decode(errors="replace") + "\n(timed out)"

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read()
            state = st.rsplit(")", 1)[1].split()[0]
            if state == "Z":
                return None
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read()
            if b"postgres" not in cmd:
                return None
        except OSError:
            return None
        return pid

    def running(self):
        return self.postmaster_pid() is not None

    def pids(self):
        pm = self.postmaster_pid()
        if pm is None:
            return []
        out = [pm]
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
                ppid = int(st.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pm:
                out.append(int(d))
        return out

    def worker_pid(self):
        pm = self.postmaster_pid()
        for pid in self.pids():
            if pid == pm:
                continue
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ")
            except OSError:
                continue
            if b"dcf worker" in cmd:
                return pid
        return None

    def signal_all(self, sig):
        pids = self.pids()
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        return pids

    def start(self, tries=3):
        """dcf_ctl start as an operator would; retried like one would."""
        out = ""
        for attempt in range(1, tries + 1):
            rc, out = self.run(["dcf_ctl", "start", "-D", self.data, "-l", self.logfile, "-t", "90"],
                               timeout=200)
            LOG("  %s: dcf_ctl start (attempt %d) -> %d: %s" %
                (self.name, attempt, rc, " | ".join(l for l in out.strip().splitlines()[-3:])))
            if rc == 0:
                return True
            if self.running():
                # up but not joined within -t: let convergence judge it
                return True
            time.sleep(1)
        return False

    def stop(self):
        rc, out = self.run(["dcf_ctl", "stop", "-D", self.data], timeout=120)
        LOG("  %s: dcf_ctl stop -> %d %s" % (self.name, rc, out.strip().replace("\n", " | ")[-200:]))
        return rc == 0

    def connect(self, timeout=3):
        return psycopg2.connect(self.dsn(timeout))

    def query(self, sql, timeout=5):
        """One query on a fresh connection, with a client-side deadline (a
        stopped server enforces nothing); returns rows or raises."""
        deadline = time.time() + timeout
        conn = psycopg2.connect(self.dsn(max(2, int(timeout))), async_=1)
        try:
            wait_io(conn, deadline)
            cur = conn.cursor()
            cur.execute(sql)
            wait_io(conn, deadline)
            return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def is_writable(self):
        try:
            return self.query("SELECT NOT pg_is_in_recovery()", 3)[0][0] is True
        except Exception:
            return False


# ---------------------------------------------------------------- partitions

class Net:
    """nftables rules on loopback: drop packets sent from node a to node b."""

    def __init__(self, cluster, enabled):
        self.c = cluster
        self.enabled = enabled
        self.table = "%s_%s" % (NFT_TABLE, cluster.tag)
        self.active = False

    def nft(self, script):
        p = subprocess.run(["nft", "-f", "-"], input=script.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if p.returncode != 0:
            die("nft failed: %s\nscript:\n%s" % (p.stdout.decode(errors="replace"), script))

    def setup(self):
        if not self.enabled:
            return
        self.teardown(quiet=True)
        # tables left by harnesses that were killed outright (SIGKILL)
        p = subprocess.run(["nft", "list", "tables"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for line in p.stdout.decode(errors="replace").splitlines():
            w = line.split()
            if len(w) == 3 and w[2].startswith(NFT_TABLE + "_"):
                pid = w[2][len(NFT_TABLE) + 1:].split("_")[0]
                if pid.isdigit() and not os.path.exists("/proc/" + pid):
                    LOG("removing the stale nftables table %s" % w[2])
                    subprocess.run(["nft", "delete", "table", w[1], w[2]])
        uidmap = ", ".join("%d : %d" % (n.uid, n.i) for n in self.c.nodes)
        self.nft("""
table inet %(t)s {
  chain out {
    type filter hook output priority -150; policy accept;
    ct state new ct mark set meta skuid map { %(m)s }
  }
  chain drops {
    type filter hook output priority -140; policy accept;
  }
}
""" % {"t": self.table, "m": uidmap})
        self.active = True

    def cut(self, pairs):
        """pairs: (a, b) node pairs; packets a sends to b are dropped."""
        lines = []
        for a, b in pairs:
            # a's own connections to b's dcf port, in a's sending direction
            lines.append("add rule inet %s drops meta l4proto tcp ct mark %d ct direction original ct original proto-dst %d drop"
                         % (self.table, a.i, b.dcf_port))
            # b's connections to a's dcf port: a's replies
            lines.append("add rule inet %s drops meta l4proto tcp ct mark %d ct direction reply ct original proto-dst %d drop"
                         % (self.table, b.i, a.dcf_port))
        self.nft("\n".join(lines) + "\n")

    def heal(self):
        if self.active:
            self.nft("flush chain inet %s drops\n" % self.table)

    def teardown(self, quiet=False):
        if not self.enabled:
            return
        p = subprocess.run(["nft", "delete", "table", "inet", self.table],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0 and not quiet:
            LOG("nft delete table: %s" % p.stdout.decode(errors="replace").strip())
        self.active = False


# ---------------------------------------------------------------- cluster

class Cluster:
    def __init__(self, args):
        self.args = args
        self.workdir = os.path.abspath(args.workdir)
        self.tag = "%d_%d" % (os.getpid(), args.seed)
        self.root = os.getuid() == 0
        self.nodes = []

    def node_user(self, i):
        if os.getuid() != 0:
            return None
        return "%s%d" % (self.args.user_prefix, i)

    def create(self, n):
        if os.path.exists(self.workdir):
            shutil.rmtree(self.workdir)
        os.makedirs(self.workdir)
        os.chmod(self.workdir, 0o755)
        if self.root:
            for i in range(1, n + 1):
                u = self.node_user(i)
                try:
                    pwd.getpwnam(u)
                except KeyError:
                    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false", u], check=True)
        ports = free_ports(2 * n)
        self.nodes = [Node(self, i, ports[2 * (i - 1)], ports[2 * (i - 1) + 1]) for i in range(1, n + 1)]
        key = os.urandom(32).hex() + "\n"
        members = ",".join('{"stream_id":1,"node_id":%d,"ip":"127.0.0.1","port":%d,"role":"%s"}'
                           % (nd.i, nd.dcf_port, "LEADER" if nd.i == 1 else "FOLLOWER")
                           for nd in self.nodes)
        first = self.nodes[0]
        for nd in self.nodes:
            os.makedirs(nd.dir)
            with open(os.path.join(nd.dir, "cluster.key"), "w") as f:
                f.write(key)
            os.chmod(os.path.join(nd.dir, "cluster.key"), 0o600)
            if self.root:
                subprocess.run(["chown", "-R", nd.user, nd.dir], check=True)
            os.chmod(nd.dir, 0o755)
        rc, out = first.run(["initdb", "-D", first.data, "-U", PGUSER, "--auth=trust", "-E", "UTF8",
                             "--locale=C", "-N"], timeout=300)
        if rc != 0:
            die("initdb failed: " + out)
        with open(os.path.join(first.data, "pg_hba.conf"), "a") as f:
            f.write("host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n")
        for nd in self.nodes[1:]:
            if self.root:
                subprocess.run(["cp", "-a", first.data, nd.data], check=True)
                subprocess.run(["chown", "-R", nd.user, nd.data], check=True)
            else:
                shutil.copytree(first.data, nd.data, symlinks=True)
            os.chmod(nd.data, 0o700)
        for nd in self.nodes:
            with open(os.path.join(nd.data, "postgresql.conf"), "a") as f:
                f.write("""
# chaos harness
shared_preload_libraries = 'dcf'
dcf.enable = on
dcf.auth_key_file = '%(dir)s/cluster.key'
dcf.config = '[%(members)s]'
dcf.node_id = %(i)d
dcf.data_path = '%(dir)s/dcf'
port = %(port)d
listen_addresses = '127.0.0.1'
unix_socket_directories = '%(dir)s'
restart_after_crash = on
shared_buffers = 16MB
wal_keep_size = '256MB'
log_line_prefix = '%%m [%%p] %%b '
log_min_messages = info
%(extra)s
""" % {"dir": nd.dir, "members": members, "i": nd.i, "port": nd.pg_port, "extra": self.args.extra_conf})

    def concurrently(self, fn, nodes=None):
        """fn(node) for every node at once; returns {node name: result}."""
        res = {}
        ts = [threading.Thread(target=lambda nd=nd: res.__setitem__(nd.name, fn(nd)))
              for nd in (nodes if nodes is not None else self.nodes)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return res

    def start_all(self):
        return self.concurrently(lambda nd: nd.start())

    def writable(self):
        for nd in self.nodes:
            if nd.running() and nd.is_writable():
                return nd
        return None

    def wait_leader(self, timeout=60):
        t = time.time()
        while time.time() - t < timeout:
            nd = self.writable()
            if nd:
                return nd
            time.sleep(0.2)
        return None

    def leader_guess(self):
        """The node dcf says leads (from any node's view), else the writable one."""
        for nd in self.nodes:
            if not nd.running():
                continue
            try:
                r = nd.query("SELECT role, leader_id FROM dcf_replication_info()", 2)
                if r and r[0][1]:
                    return self.nodes[int(r[0][1]) - 1]
            except Exception:
                pass
        return self.writable()


# ---------------------------------------------------------------- workload

def wait_io(conn, deadline):
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError("client deadline")
        if state == psycopg2.extensions.POLL_READ:
            select.select([conn.fileno()], [], [], min(left, 1.0))
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [conn.fileno()], [], min(left, 1.0))


DEFINITE_FAIL = {"25006", "57P03", "28000", "3D000", "23505", "40001", "40P01"}


class Client(threading.Thread):
    """Follows whoever leads; runs one statement at a time, async, with a
    deadline; never cancels (a cancelled commit wait returns success)."""

    def __init__(self, wl, cid, kind):
        super().__init__(daemon=True)
        self.wl = wl
        self.cid = cid
        self.kind = kind
        self.conn = None
        self.node = None
        self.seq = 0
        self.rr = cid

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None
        self.node = None

    def execute(self, sql, deadline):
        cur = self.conn.cursor()
        cur.execute(sql)
        wait_io(self.conn, deadline)
        return cur.fetchall() if cur.description else None

    def connect(self):
        nodes = self.wl.c.nodes
        for k in range(len(nodes)):
            nd = nodes[(self.rr + k) % len(nodes)]
            try:
                conn = psycopg2.connect(nd.dsn(2), async_=1)
                wait_io(conn, time.time() + 3)
                self.conn = conn
                r = self.execute("SELECT NOT pg_is_in_recovery()", time.time() + 3)
                if r and r[0][0]:
                    self.node = nd
                    self.rr = nd.i - 1
                    return True
            except Exception:
                pass
            self.close()
        return False

    def run(self):
        while not self.wl.stopping.is_set():
            if self.conn is None and not self.connect():
                time.sleep(0.1)
                continue
            try:
                if self.kind == "insert":
                    self.insert()
                else:
                    self.transfer()
            except Exception as e:  # harness bug: keep going but say so
                LOG("client %d: unexpected %r" % (self.cid, e))
                self.close()
            time.sleep(self.wl.think)

    def insert(self):
        self.seq += 1
        oid = self.cid * 10_000_000 + self.seq
        node = self.node
        t1 = time.time()
        try:
            r = self.execute("INSERT INTO ins VALUES (%d, %d) RETURNING pg_current_wal_insert_lsn()::text, "
                             "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"
                             % (oid, self.cid), t1 + self.wl.deadline)
            t2 = time.time()
            self.wl.record(("ins", oid, node.i, t1, t2, "ok", r[0][1], r[0][0]))
        except Exception as e:
            t2 = time.time()
            code = getattr(e, "pgcode", None)
            # an error once the statement was sent leaves the commit unknown,
            # unless the server says it refused it before committing
            status = "fail" if code in DEFINITE_FAIL else "indet"
            self.wl.record(("ins", oid, node.i, t1, t2, status, None, None, code, str(e).strip()[:200]))
            self.close()

    def transfer(self):
        rnd = self.wl.rng_for(self.cid)
        a, b = rnd.sample(range(self.wl.accounts), 2)
        amt = rnd.randint(1, 50)
        node = self.node
        t1 = time.time()
        try:
            if rnd.random() < 0.2:
                r = self.execute("SELECT sum(bal)::bigint, count(*) FROM bank", t1 + self.wl.deadline)
                self.wl.record(("read", r[0][0], node.i, t1, time.time(), "ok", int(r[0][1])))
                return
            self.execute("BEGIN; UPDATE bank SET bal = bal - %d WHERE id = %d; "
                         "UPDATE bank SET bal = bal + %d WHERE id = %d; COMMIT" % (amt, a, amt, b),
                         t1 + self.wl.deadline)
            self.wl.record(("xfer", None, node.i, t1, time.time(), "ok"))
        except Exception as e:
            code = getattr(e, "pgcode", None)
            self.wl.record(("xfer", None, node.i, t1, time.time(), "err", code, str(e).strip()[:200]))
            self.close()


class Workload:
    def __init__(self, cluster, args):
        self.c = cluster
        self.args = args
        self.accounts = 10
        self.balance = 1000
        self.think = args.think
        self.deadline = 30.0
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.events = []
        self.clients = []
        self.rngs = {}
        self.events_file = open(os.path.join(cluster.workdir, "history.jsonl"), "w", buffering=1)

    def rng_for(self, cid):
        if cid not in self.rngs:
            self.rngs[cid] = random.Random(self.args.seed * 1000 + cid)
        return self.rngs[cid]

    def record(self, ev):
        with self.lock:
            self.events.append(ev)
            self.events_file.write(json.dumps(ev) + "\n")

    def setup(self, leader):
        leader.query("CREATE EXTENSION IF NOT EXISTS dcf", 30)
        leader.query("CREATE TABLE ins (id bigint PRIMARY KEY, client int NOT NULL)", 30)
        leader.query("CREATE TABLE bank (id int PRIMARY KEY, bal bigint NOT NULL)", 30)
        leader.query("INSERT INTO bank SELECT g, %d FROM generate_series(0, %d) g" % (self.balance, self.accounts - 1), 30)
        leader.query("CREATE TABLE marker (id int PRIMARY KEY)", 30)

    def start(self):
        for k in range(self.args.insert_clients):
            self.clients.append(Client(self, k + 1, "insert"))
        for k in range(self.args.bank_clients):
            self.clients.append(Client(self, 100 + k, "bank"))
        for cl in self.clients:
            cl.start()

    def stop(self):
        self.stopping.set()
        for cl in self.clients:
            cl.join(self.deadline + 10)
        for cl in self.clients:
            cl.close()

    def acks_since(self, t):
        with self.lock:
            return [e for e in self.events if e[0] == "ins" and e[5] == "ok" and e[4] >= t]


# ---------------------------------------------------------------- faults

def make_schedule(seed, n, kinds, nnodes, fmin, fmax):
    rng = random.Random(seed)
    out = []
    for k in range(n):
        kind = rng.choice(kinds)
        out.append({"n": k + 1, "kind": kind,
                    "hold": round(rng.uniform(fmin, fmax), 2),
                    "gap": round(rng.uniform(0.5, 2.0), 2),
                    "pick": rng.randrange(1000)})
    return out


class Chaos:
    def __init__(self, args):
        self.args = args
        self.c = Cluster(args)
        self.net = Net(self.c, args.partitions)
        self.wl = None
        self.faults_done = collections.Counter()
        self.leader_faults = []      # (fault no, kind, t_fault, old leader index)
        self.restart_faults = []     # (fault no, t_fault, t_all_down) of restart-all
        self.fault_times = []
        self.findings = []
        self.failed = False

    def finding(self, msg):
        LOG("FINDING: " + msg)
        self.findings.append(msg)
        self.failed = True

    def pick_follower(self, leader, pick):
        fol = [n for n in self.c.nodes if n is not leader]
        return fol[pick % len(fol)]

    def inject(self, f):
        kind, hold = f["kind"], f["hold"]
        leader = self.c.leader_guess()
        if leader is None:
            leader = self.c.wait_leader(30)
        if leader is None:
            self.finding("fault %d: no leader before the fault" % f["n"])
            return False
        if kind == "restart-all":
            target = None
        elif kind in LEADER_KINDS:
            target = leader
        else:
            target = self.pick_follower(leader, f["pick"])
        t_fault = time.time()
        self.fault_times.append(t_fault)
        LOG("fault %d/%d: %s on %s (leader %s), hold %.2f s"
            % (f["n"], self.args.faults, kind, target.name if target else "all", leader.name, hold))
        if kind in LEADER_KINDS:
            self.leader_faults.append((f["n"], kind, t_fault, leader.i))
        if kind == "restart-all":
            self.restart_all(f, t_fault)
        elif kind.startswith("kill"):
            pids = target.signal_all(signal.SIGKILL)
            LOG("  killed %s: %s" % (target.name, pids), echo=False)
            time.sleep(hold)
            # wait for the processes to be gone before restarting
            t = time.time()
            while target.running() and time.time() - t < 10:
                time.sleep(0.1)
            if not target.start():
                self.finding("fault %d (%s): %s did not start again (dcf_ctl start failed 3 times)"
                             % (f["n"], kind, target.name))
        elif kind == "stop-start":
            target.stop()
            time.sleep(hold)
            if not target.start():
                self.finding("fault %d (%s): %s did not start again" % (f["n"], kind, target.name))
        elif kind.startswith("pause-worker"):
            w = target.worker_pid()
            if w is None:
                LOG("  %s has no dcf worker process; skipped" % target.name)
                return True
            os.kill(w, signal.SIGSTOP)
            time.sleep(hold)
            try:
                os.kill(w, signal.SIGCONT)
            except ProcessLookupError:
                pass
        elif kind.startswith("pause"):
            pids = target.signal_all(signal.SIGSTOP)
            time.sleep(hold)
            for p in pids:
                try:
                    os.kill(p, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        elif kind in ("part-leader", "part-follower"):
            others = [n for n in self.c.nodes if n is not target]
            self.net.cut([(target, o) for o in others] + [(o, target) for o in others])
            time.sleep(hold)
            self.net.heal()
        elif kind.startswith("oneway"):
            others = [n for n in self.c.nodes if n is not target]
            if kind.endswith("-out"):
                self.net.cut([(target, o) for o in others])
            else:
                self.net.cut([(o, target) for o in others])
            time.sleep(hold)
            self.net.heal()
        elif kind == "part-bridge":
            order = list(self.c.nodes)
            random.Random(f["pick"]).shuffle(order)
            bridge, side_a, side_b = order[0], order[1:3], order[3:5]
            LOG("  bridge %s; sides %s | %s" % (bridge.name, [n.name for n in side_a], [n.name for n in side_b]))
            self.net.cut([(a, b) for a in side_a for b in side_b] + [(b, a) for a in side_a for b in side_b])
            time.sleep(hold)
            self.net.heal()
        else:
            die("unknown fault kind " + kind)
        self.faults_done[kind] += 1
        return True

    def restart_all(self, f, t_fault):
        """Power loss and restart: every node down at once, some by a clean
        dcf_ctl stop, the others by kill -9 (which ones: the seed's choice,
        at least one of each), then every node started concurrently."""
        rnd = random.Random(f["pick"] * 7919 + f["n"])
        nodes = self.c.nodes
        how = {nd.name: rnd.choice(("stop", "kill")) for nd in nodes}
        if len(set(how.values())) == 1:
            how[nodes[rnd.randrange(len(nodes))].name] = "stop" if how[nodes[0].name] == "kill" else "kill"
        LOG("  stopping every node: %s" % ", ".join("%s %s" % (nd.name, how[nd.name]) for nd in nodes))

        def down(nd):
            if how[nd.name] == "kill":
                nd.signal_all(signal.SIGKILL)
            else:
                nd.stop()
            t = time.time()
            while nd.running() and time.time() - t < 30:
                time.sleep(0.1)
            return not nd.running()

        res = self.c.concurrently(down)
        for nd in nodes:
            if not res[nd.name]:
                # a dcf_ctl stop that failed: the power loss does the rest
                LOG("  %s still running after the stop: kill -9" % nd.name)
                nd.signal_all(signal.SIGKILL)
        t = time.time()
        while any(nd.running() for nd in nodes) and time.time() - t < 10:
            time.sleep(0.1)
        t_down = time.time()
        self.restart_faults.append((f["n"], t_fault, t_down))
        LOG("  restart-all: every node down")
        time.sleep(f["hold"])
        res = self.c.start_all()
        for nd in nodes:
            if not res[nd.name]:
                self.finding("fault %d (restart-all): %s did not start again (dcf_ctl start failed 3 times)"
                             % (f["n"], nd.name))

    def converge(self, fno, timeout):
        """Every node up and accepting logins, a writable leader.  Starts
        the nodes that are down (a fenced leader stops itself) as an
        operator would: all of them at once, again while they fail, until
        the timeout."""
        t = time.time()
        failed_starts = collections.Counter()
        while time.time() - t < timeout:
            down = [nd for nd in self.c.nodes if not nd.running()]
            if down and time.time() - t > 2:
                LOG("  down after the heal: %s: dcf_ctl start" % ", ".join(nd.name for nd in down))
                res = self.c.concurrently(lambda nd: nd.start(), down)
                for nd in down:
                    if not res[nd.name]:
                        failed_starts[nd.name] += 1
                continue
            ok = 0
            for nd in self.c.nodes:
                try:
                    nd.query("SELECT 1", 2)
                    ok += 1
                except Exception:
                    pass
            if ok == len(self.c.nodes) and self.c.writable():
                return True
            time.sleep(0.3)
        down = [nd.name for nd in self.c.nodes if not nd.running()]
        self.finding("fault %d: cluster not converged %d s after the heal (down: %s; dcf_ctl start failed "
                     "3 times in a row: %s)" % (fno, timeout, down, dict(failed_starts) or "never"))
        return False

    # ------------------------------------------------------------ run

    def run(self):
        a = self.args
        kinds = a.kinds
        LOG("chaos: seed %d, %d nodes, %d faults, kinds %s, partitions %s, workdir %s, t0 %.3f"
            % (a.seed, a.nodes, a.faults, ",".join(kinds), "on" if a.partitions else "off", self.c.workdir, T0))
        sched = make_schedule(a.seed, a.faults, kinds, a.nodes, a.hold_min, a.hold_max)
        with open(os.path.join(self.c.workdir, "schedule.json"), "w") as f:
            json.dump(sched, f, indent=0)
        self.c.start_all()
        self.net.setup()
        leader = self.c.wait_leader(120)
        if leader is None:
            die("no leader after the first start")
        LOG("first leader: %s" % leader.name)
        self.wl = Workload(self.c, a)
        self.wl.setup(leader)
        for nd in self.c.nodes:
            t = time.time()
            while time.time() - t < 60:
                try:
                    if nd.query("SELECT count(*) FROM bank", 2)[0][0] == self.wl.accounts:
                        break
                except Exception:
                    pass
                time.sleep(0.2)
        self.wl.start()
        time.sleep(2)
        self.t_faults = time.time()
        for f in sched:
            if STOP.is_set():
                LOG("stop requested after %d faults: healing and checking" % (f["n"] - 1))
                break
            if a.duration and time.time() - self.t_faults > a.duration:
                LOG("time budget of %d s spent after %d faults" % (a.duration, f["n"] - 1))
                break
            if not self.inject(f):
                break
            if not self.converge(f["n"], a.converge_timeout):
                break
            time.sleep(f["gap"])
        self.t_end_faults = time.time()
        time.sleep(1)
        self.heal_all()
        self.wl.stop()
        if a.plant == "lost":
            # the checker's own test: an acknowledged insert removed behind
            # its back must be reported lost on every node
            victim = next(e for e in self.wl.events if e[0] == "ins" and e[5] == "ok")
            ld = self.c.wait_leader(60)
            ld.query("DELETE FROM ins WHERE id = %d" % victim[1], 30)
            LOG("planted: acknowledged insert %d deleted on %s" % (victim[1], ld.name))
        self.final_checks()

    def check_only(self):
        """The end of a run whose harness was killed: rebuild the cluster's
        description, the faults and the history from the work directory,
        then heal, converge and check as usual."""
        global T0
        a = self.args
        wd = self.c.workdir
        names = sorted((d for d in os.listdir(wd) if d[0] == "n" and d[1:].isdigit()), key=lambda d: int(d[1:]))
        conf = {}
        for d in names:
            kv = {}
            with open(os.path.join(wd, d, "data", "postgresql.conf")) as f:
                for line in f:
                    if "=" in line and not line.lstrip().startswith("#"):
                        k, v = line.split("=", 1)
                        kv[k.strip()] = v.strip().strip("'")
            conf[d] = kv
        members = json.loads(conf[names[0]]["dcf.config"])
        dport = {m["node_id"]: m["port"] for m in members}
        self.c.nodes = []
        for d in names:
            i = int(d[1:])
            nd = Node.__new__(Node)
            nd.c, nd.i, nd.name = self.c, i, d
            nd.pg_port, nd.dcf_port = int(conf[d]["port"]), dport[i]
            nd.dir = os.path.join(wd, d)
            nd.data, nd.dcf_data = os.path.join(nd.dir, "data"), os.path.join(nd.dir, "dcf")
            nd.logfile = os.path.join(nd.dir, "server.log")
            st = os.stat(nd.dir)
            nd.user = pwd.getpwuid(st.st_uid).pw_name if os.getuid() == 0 else None
            nd.uid = st.st_uid
            nd.stopped_pids = []
            self.c.nodes.append(nd)
        a.nodes = len(names)
        events = []
        with open(os.path.join(wd, "history.jsonl")) as f:
            for line in f:
                try:
                    events.append(tuple(json.loads(line)))
                except ValueError:
                    pass       # a line cut by the kill
        import re
        pat = re.compile(r"^\[\s*([0-9.]+)\] fault (\d+)/(\d+): (\S+) on (?:n(\d+)|all) \(leader n(\d+)\)")
        with open(os.path.join(wd, "chaos.log")) as f:
            lines = f.readlines()
        # the run's time origin: logged by this version; for older logs,
        # the first fault came 2 s after the workload's first operation
        # (the figures are then good to about 0.1 s)
        T0 = None
        for line in lines:
            m = re.match(r"^\[\s*[0-9.]+\] chaos: seed (\d+).*, t0 ([0-9.]+)$", line.strip())
            if m:
                T0 = float(m.group(2))
        if T0 is None:
            first = next(float(m.group(1)) for m in map(pat.match, lines) if m)
            T0 = min(e[3] for e in events) + 2.0 - first
            LOG("check-only: time origin reconstructed from the first fault (about 0.1 s)")
        for line in lines:
            m = re.match(r"^\[\s*[0-9.]+\] chaos: seed (\d+)", line)
            if m:
                a.seed = int(m.group(1))
            m = pat.match(line)
            if m:
                t, kind = T0 + float(m.group(1)), m.group(4)
                self.fault_times.append(t)
                self.faults_done[kind] += 1
                if kind in LEADER_KINDS:
                    self.leader_faults.append((int(m.group(2)), kind, t, int(m.group(5))))
                if kind == "restart-all":
                    self.restart_faults.append((int(m.group(2)), t, t))
            m = re.match(r"^\[\s*([0-9.]+)\]   restart-all: every node down", line)
            if m and self.restart_faults:
                fno, tf, _ = self.restart_faults[-1]
                self.restart_faults[-1] = (fno, tf, T0 + float(m.group(1)))
        a.faults = sum(self.faults_done.values())
        LOG("check-only: %d nodes, %d faults, %d events from %s (time origin %s)"
            % (a.nodes, a.faults, len(events), wd, time.strftime("%H:%M:%S", time.gmtime(T0))))
        self.wl = types.SimpleNamespace(events=events, accounts=10, balance=1000)
        self.t_end_faults = max(e[4] for e in events)
        self.net.enabled = os.getuid() == 0 and shutil.which("nft") is not None
        self.net.setup()       # removes tables of dead harnesses
        self.heal_all()
        self.final_checks()

    def heal_all(self):
        self.net.heal()
        for nd in self.c.nodes:
            nd.signal_all(signal.SIGCONT)
            w = nd.worker_pid()
            if w:
                os.kill(w, signal.SIGCONT)
        self.converge(0, self.args.converge_timeout)

    # ------------------------------------------------------------ checks

    def final_checks(self):
        a = self.args
        ev = self.wl.events
        ins = [e for e in ev if e[0] == "ins"]
        acked = [e for e in ins if e[5] == "ok"]
        indet = [e for e in ins if e[5] == "indet"]
        failed = [e for e in ins if e[5] == "fail"]
        xfers = [e for e in ev if e[0] == "xfer"]
        reads = [e for e in ev if e[0] == "read"]
        total = self.wl.accounts * self.wl.balance

        # a new write every node receives: no node stuck
        leader = self.c.wait_leader(60)
        stuck = []
        if leader is None:
            self.finding("no writable leader at the end")
        else:
            err = None
            for _ in range(5):
                try:
                    leader.query("INSERT INTO marker VALUES (1) ON CONFLICT DO NOTHING", 30)
                    err = None
                    break
                except Exception as e:
                    err = e
                    time.sleep(2)
                    leader = self.c.wait_leader(30) or leader
            if err is not None:
                self.finding("final write on the leader %s failed: %s" % (leader.name, err))
        for nd in self.c.nodes:
            t = time.time()
            got = False
            while time.time() - t < 60:
                try:
                    if nd.query("SELECT count(*) FROM marker", 2)[0][0] == 1:
                        got = True
                        break
                except Exception:
                    pass
                time.sleep(0.3)
            if not got:
                stuck.append(nd.name)
        if stuck:
            self.finding("stuck nodes (no login or no new write within 60 s): %s" % stuck)

        # contents of every node
        ackids = set(e[1] for e in acked)
        contents = {}
        for nd in self.c.nodes:
            if nd.name in stuck:
                continue
            try:
                ids = set(r[0] for r in nd.query("SELECT id FROM ins", 60))
                bank = nd.query("SELECT id, bal FROM bank ORDER BY id", 10)
                contents[nd.name] = (ids, bank)
            except Exception as e:
                self.finding("reading %s failed: %s" % (nd.name, e))
        lost_ids = set()
        for name, (ids, bank) in contents.items():
            lost = ackids - ids
            lost_ids |= lost
            if lost:
                self.finding("%s lacks %d acknowledged inserts, e.g. %s"
                             % (name, len(lost), sorted(lost)[:10]))
            s = sum(b for _, b in bank)
            if s != total:
                self.finding("%s: bank total %d, expected %d" % (name, s, total))
        digests = {}
        for name, (ids, bank) in contents.items():
            h = hashlib.md5((",".join(str(i) for i in sorted(ids)) + "|" + repr(bank)).encode()).hexdigest()
            digests[name] = (len(ids), h)
        diverged = len(set(digests.values())) > 1
        if diverged:
            self.finding("nodes differ: %s" % digests)
        bad_reads = [e for e in reads if e[1] != total]
        if bad_reads:
            self.finding("%d bank reads during the run saw a total other than %d: %s"
                         % (len(bad_reads), total, bad_reads[:3]))

        # acknowledged commits on the final timeline history
        off_history = 0
        overlap_pairs = 0
        if leader is not None:
            try:
                tli = leader.query("SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")[0][0]
                hist = {}
                if tli > 1:
                    txt = leader.query("SELECT pg_read_file('pg_wal/%08X.history')" % tli)[0][0]
                    for line in txt.splitlines():
                        p = line.split()
                        if len(p) >= 2 and p[0].isdigit():
                            hist[int(p[0])] = lsn_int(p[1])
                for e in acked:
                    etli, elsn = e[6], e[7]
                    if etli is None:
                        continue
                    if etli == tli:
                        continue
                    if etli not in hist or lsn_int(elsn) >= hist[etli]:
                        off_history += 1
                        if off_history <= 5:
                            self.finding("insert %d acknowledged by n%d on timeline %d at %s is not on the final "
                                         "history (timeline %d, switch points %s)"
                                         % (e[1], e[2], etli, elsn, tli,
                                            {k: "%X/%X" % (v >> 32, v & 0xffffffff) for k, v in hist.items()}))
                # acknowledgements of different nodes in overlapping intervals
                by_t = sorted(acked, key=lambda e: e[3])
                for k, e in enumerate(by_t):
                    j = k + 1
                    while j < len(by_t) and by_t[j][3] <= e[4]:
                        if by_t[j][2] != e[2]:
                            overlap_pairs += 1
                        j += 1
            except Exception as ex:
                self.finding("history check failed: %s" % ex)
        if off_history:
            self.finding("%d acknowledged commits are not on the final history" % off_history)

        # figures
        acks_sorted = sorted(e[4] for e in acked)
        longest, at = 0.0, 0.0
        for x, y in zip(acks_sorted, acks_sorted[1:]):
            if y - x > longest:
                longest, at = y - x, x
        failovers = []
        by_end = sorted(acked, key=lambda e: e[4])
        ends = [e[4] for e in by_end]
        for (fno, kind, tf, old) in self.leader_faults:
            nxt = min([x for x in self.fault_times if x > tf] + [self.t_end_faults + 60])
            j = bisect.bisect_left(ends, tf)
            while j < len(by_end) and by_end[j][4] < nxt:
                if by_end[j][2] != old:
                    failovers.append((by_end[j][4] - tf, kind))
                    break
                j += 1
        fo_times = [x for x, _ in failovers]
        # restart-all: fault to the first insert acknowledged that was sent
        # once every node was down, by any node
        restarts = []
        for (fno, tf, tdown) in self.restart_faults:
            j = bisect.bisect_left(ends, tdown)
            while j < len(by_end) and by_end[j][3] < tdown:
                j += 1
            if j < len(by_end):
                restarts.append(by_end[j][4] - tf)
        present_indet = sum(1 for e in indet if any(e[1] in c[0] for c in contents.values()))
        LOG("checks done", echo=False)
        nfaults = sum(self.faults_done.values())
        print("")
        print("==== chaos result: seed %d, %d nodes ====" % (a.seed, a.nodes))
        print("faults: %d (%s)" % (nfaults, ", ".join("%s %d" % kv for kv in sorted(self.faults_done.items()))))
        print("inserts: %d acknowledged, %d indeterminate (%d of them committed), %d failed before commit"
              % (len(acked), len(indet), present_indet, len(failed)))
        print("transfers: %d acknowledged, %d errors; %d bank reads, %d with a wrong total"
              % (sum(1 for e in xfers if e[5] == "ok"), sum(1 for e in xfers if e[5] != "ok"), len(reads), len(bad_reads)))
        print("lost acknowledged inserts: %d; diverged: %s; stuck nodes: %d; acks off the final history: %d"
              % (len(lost_ids), "yes" if diverged else "no", len(stuck), off_history))
        print("acknowledgements by different nodes in overlapping intervals: %d pairs (all on the final history: %s)"
              % (overlap_pairs, "yes" if off_history == 0 else "no"))
        print("longest unavailability (gap between acknowledged inserts): %.2f s (from t=%.1f s)" % (longest, at - T0))
        if fo_times:
            print("failover after leader faults (fault -> first ack by another node): n=%d median %.2f s max %.2f s"
                  % (len(fo_times), statistics.median(fo_times), max(fo_times)))
            kinds_fo = collections.defaultdict(list)
            for x, k in failovers:
                kinds_fo[k].append(x)
            for k, xs in sorted(kinds_fo.items()):
                print("  %-22s n=%3d median %.2f s max %.2f s" % (k, len(xs), statistics.median(xs), max(xs)))
        if restarts:
            print("writes back after restart-all (fault -> first ack): n=%d median %.2f s max %.2f s"
                  % (len(restarts), statistics.median(restarts), max(restarts)))
        summary = {"seed": a.seed, "nodes": a.nodes, "faults": nfaults, "by_kind": dict(self.faults_done),
                   "acked": len(acked), "indeterminate": len(indet), "lost": len(lost_ids), "diverged": diverged,
                   "stuck": len(stuck), "off_history": off_history, "longest_unavail_s": round(longest, 2),
                   "failover_median_s": round(statistics.median(fo_times), 2) if fo_times else None,
                   "failover_max_s": round(max(fo_times), 2) if fo_times else None,
                   "restart_all_median_s": round(statistics.median(restarts), 2) if restarts else None,
                   "restart_all_max_s": round(max(restarts), 2) if restarts else None,
                   "findings": self.findings}
        with open(os.path.join(self.c.workdir, "result.json"), "w") as f:
            json.dump(summary, f, indent=1)
        if nfaults < a.faults and not a.duration:
            self.failed = True

    def cleanup(self):
        try:
            self.net.heal()
        except Exception:
            pass
        self.net.teardown()
        # every node at once: stopping them one by one is itself a fault
        # schedule (the leader first, a new one elected, stopped in turn...)
        for nd in self.c.nodes:
            nd.signal_all(signal.SIGCONT)
        for nd in self.c.nodes:
            pm = nd.postmaster_pid()
            if pm:
                os.kill(pm, signal.SIGQUIT)       # pg_ctl stop -m immediate
        t = time.time()
        while any(nd.running() for nd in self.c.nodes) and time.time() - t < 30:
            time.sleep(0.2)
        for nd in self.c.nodes:
            for p in nd.pids():
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def lsn_int(s):
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def main():
    global LOG
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--faults", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--kinds", default="auto",
                    help="comma-separated fault kinds, 'auto' (every kind this user can inject) or 'all'")
    ap.add_argument("--exclude", default="", help="comma-separated kinds to leave out of auto")
    ap.add_argument("--duration", type=int, default=0, help="stop injecting after this many seconds")
    ap.add_argument("--hold-min", type=float, default=1.0)
    ap.add_argument("--hold-max", type=float, default=4.0)
    ap.add_argument("--converge-timeout", type=int, default=120)
    ap.add_argument("--insert-clients", type=int, default=4)
    ap.add_argument("--bank-clients", type=int, default=2)
    ap.add_argument("--think", type=float, default=0.02, help="pause between a client's statements (s)")
    ap.add_argument("--workdir", default="/tmp/dcf-chaos")
    ap.add_argument("--user-prefix", default="dcf_chaos_n", help="OS users of the nodes when run as root")
    ap.add_argument("--extra-conf", default="")
    ap.add_argument("--keep", action="store_true", help="keep the work directory even when the run passed")
    ap.add_argument("--plant", choices=["lost"], help="plant a lost write to prove the checks catch it")
    ap.add_argument("--check-only", action="store_true",
                    help="heal, converge and check the cluster of an interrupted run in --workdir")
    a = ap.parse_args()
    if a.nodes < 3:
        ap.error("--nodes must be at least 3")
    root = os.getuid() == 0
    if shutil.which("dcf_ctl") is None or shutil.which("initdb") is None:
        sys.stderr.write("chaos.py: dcf_ctl and initdb must be in PATH (PostgreSQL 15's bin directory)\n")
        return 2
    if a.kinds == "auto":
        kinds = BASE_KINDS + (ROOT_KINDS if root and shutil.which("nft") else [])
    elif a.kinds == "all":
        kinds = list(ALL_KINDS)
    else:
        kinds = [k for k in a.kinds.split(",") if k]
    kinds = [k for k in kinds if k not in a.exclude.split(",")]
    if a.nodes < 5:
        kinds = [k for k in kinds if k != "part-bridge"]
    for k in kinds:
        if k not in ALL_KINDS:
            ap.error("unknown fault kind %s (known: %s)" % (k, ", ".join(ALL_KINDS)))
    if not kinds:
        ap.error("no fault kinds left")
    a.kinds = kinds
    a.partitions = any(k in ROOT_KINDS for k in kinds)
    if a.partitions and not root:
        ap.error("partition faults need root (nftables, one OS user per node)")
    if a.partitions and not shutil.which("nft"):
        ap.error("partition faults need nftables (apt-get install nftables)")

    signal.signal(signal.SIGTERM, on_stop_signal)
    signal.signal(signal.SIGINT, on_stop_signal)
    ch = Chaos(a)
    os.makedirs(os.path.dirname(os.path.abspath(a.workdir)) or "/", exist_ok=True)
    rc = 0
    try:
        if a.check_only:
            LOG = Log(os.path.join(ch.c.workdir, "chaos.log"))
            ch.check_only()
        else:
            ch.c.create(a.nodes)
            LOG = Log(os.path.join(ch.c.workdir, "chaos.log"))
            ch.run()
        rc = 1 if ch.failed else 0
    except HarnessError as e:
        if LOG:
            LOG("harness error: %s" % e)
        else:
            print("harness error: %s" % e)
        rc = 2
    except KeyboardInterrupt:
        rc = 2
    except Exception:
        traceback.print_exc()
        rc = 2
    finally:
        ch.cleanup()
    if rc == 0:
        print("chaos: PASS (seed %d)" % a.seed)
        if not a.keep and not a.check_only:
            shutil.rmtree(ch.c.workdir, ignore_errors=True)
    else:
        print("chaos: FAIL (seed %d, exit %d); logs kept in %s; replay with: make chaos SEED=%d FAULTS=%d NODES=%d%s"
              % (a.seed, rc, ch.c.workdir, a.seed, a.faults, a.nodes,
                 "" if a.kinds == BASE_KINDS else " KINDS=" + ",".join(a.kinds)))
        for fnd in ch.findings:
            print("  finding: " + fnd)
    return rc


if __name__ == "__main__":
    sys.exit(main())
