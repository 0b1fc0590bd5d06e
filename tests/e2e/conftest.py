# SPDX-License-Identifier: MIT
"""End-to-end fixtures: a real Posthorn instance per test.

`posthorn init` writes the instance into a fresh directory, the fixture
moves every inet service of master.cf to a free loopback port, starts it,
waits until each port answers, and always stops it (and kills anything left
behind) afterwards. Tests talk to it with real clients.
"""
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("POSTHORN_BUILD", REPO / "build"))
POSTHORN = BUILD / "sbin" / "posthorn"
SENDMAIL = BUILD / "sbin" / "sendmail"
DAEMON_DIR = BUILD / "libexec" / "posthorn"

# The embedded default's ports (DESIGN.md) and the names tests use for them.
DEFAULT_PORTS = {
    2525: "smtp", 2587: "submission", 2465: "smtps", 2110: "pop3",
    2995: "pop3s", 2143: "imap", 2993: "imaps",
}


_handed_out = set()


def free_port(host="127.0.0.1"):
    """A port free now and not handed out before in this test run.

    The kernel may give the same ephemeral port to two binds in a row once
    the first socket is closed; remembering what we gave keeps two services
    of one instance (or two instances) from being configured on one port.
    """
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value; fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def children_of(pid):
    """PIDs whose parent is pid (from /proc)."""
    out = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(d.name))
    return out


def proc_cmdline(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def proc_uid(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])  # effective uid
    raise AssertionError("no Uid line")


class Instance:
    """One Posthorn instance in its own directory."""

    def __init__(self, directory, interface="127.0.0.1"):
        self.dir = pathlib.Path(directory)
        self.interface = interface
        self.ports = {}
        self.demo_user = None
        self.demo_password = None
        self.started = False

    # -- commands ------------------------------------------------------
    def run(self, *args, input=None, check=True, timeout=60):
        p = subprocess.run([str(POSTHORN), "-c", str(self.dir), *args],
                           input=input, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(
                f"posthorn {' '.join(args)} exited {p.returncode}\n"
                f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def init(self):
        p = self.run("init")
        m = re.search(r"demo account (\S+), password (\S+)", p.stdout)
        if m:
            self.demo_user, self.demo_password = m.group(1), m.group(2)
        self.config(inet_interfaces=self.interface)
        self.assign_ports()
        return p

    def config(self, **kv):
        self.run("config", *[f"{k}={v}" for k, v in kv.items()])

    @property
    def master_cf(self):
        return self.dir / "master.cf"

    @property
    def main_cf(self):
        return self.dir / "main.cf"

    def assign_ports(self):
        """Moves each inet service on a DESIGN.md port to a free port."""
        lines = self.master_cf.read_text().splitlines(keepends=True)
        out = []
        for line in lines:
            f = line.split()
            if f and not line[0].isspace() and not f[0].startswith("#") \
                    and len(f) > 1 and f[1] == "inet" and f[0].isdigit() \
                    and int(f[0]) in DEFAULT_PORTS:
                port = free_port(self.interface)
                self.ports[DEFAULT_PORTS[int(f[0])]] = port
                line = line.replace(f[0], str(port), 1)
            out.append(line)
        self.master_cf.write_text("".join(out))

    def add_service(self, line):
        with self.master_cf.open("a") as f:
            f.write(line.rstrip("\n") + "\n")

    def start(self, wait=True):
        self.run("start")
        self.started = True
        if wait:
            for name, port in self.ports.items():
                wait_until(lambda: port_open(self.interface, port),
                           what=f"{name} on port {port}")

    def stop(self):
        if self.started:
            self.run("stop", check=False)
            self.started = False

    def reload(self):
        self.run("reload")

    # -- inspection ----------------------------------------------------
    @property
    def log_path(self):
        return self.dir / "log" / "maillog"

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10.0, start=0):
        """Waits for a log line matching pattern (after offset start)."""
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()[start:]),
                          timeout=timeout, what=f"log line /{pattern}/")

    def master_pid(self):
        p = self.dir / "spool" / "pid" / "master.pid"
        try:
            pid = int(p.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pathlib.Path(f"/proc/{pid}").exists() else None

    def service_pids(self, program=None):
        """Child processes of master, optionally only those running program."""
        mp = self.master_pid()
        if not mp:
            return []
        pids = children_of(mp)
        if program:
            pids = [p for p in pids
                    if proc_cmdline(p) and
                    os.path.basename(proc_cmdline(p)[0].decode()) == program]
        return pids

    def leftover_pids(self):
        """Any process whose command line mentions this instance."""
        me = str(self.dir).encode()
        out = []
        for d in pathlib.Path("/proc").iterdir():
            if d.name.isdigit() and int(d.name) != os.getpid():
                if any(me in a for a in proc_cmdline(int(d.name))):
                    out.append(int(d.name))
        return out

    def kill_leftovers(self):
        for pid in self.leftover_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def make_dir():
    d = tempfile.mkdtemp(prefix="posthorn-e2e-", dir="/tmp")
    # As root the daemons run as posthorn/vmail and must reach the instance.
    os.chmod(d, 0o755)
    return d


@pytest.fixture
def make_instance():
    """Factory: make_instance(start=True, interface=..., setup=fn)."""
    made = []

    def factory(start=True, interface="127.0.0.1", setup=None):
        inst = Instance(pathlib.Path(make_dir()) / "inst", interface)
        made.append(inst)
        inst.init()
        if setup:
            setup(inst)
        if start:
            inst.start()
        return inst

    yield factory
    for inst in made:
        try:
            inst.stop()
        finally:
            inst.kill_leftovers()
            if os.environ.get("POSTHORN_KEEP_E2E") is None:
                shutil.rmtree(inst.dir.parent, ignore_errors=True)


HELD = "retry:held for the test"


def hold_delivery(inst):
    """Keeps mail in the queue: qmgr defers every recipient itself
    (Postfix's "retry" transport) instead of delivering, for tests that
    look at what was queued. Remote mail then never reaches the smtp
    agent, so no test asks a real DNS server by accident."""
    inst.config(local_transport=HELD, virtual_transport=HELD,
                relay_transport=HELD, default_transport=HELD)


def held(factory):
    """Wraps a make_instance factory so its instances hold delivery. A
    test module that reads queue files overrides make_instance with
    `return held(make_instance)`."""
    def wrapped(*args, setup=None, **kw):
        def both(inst):
            hold_delivery(inst)
            if setup:
                setup(inst)
        return factory(*args, setup=both, **kw)
    return wrapped


@pytest.fixture
def instance(make_instance):
    """A started instance on the embedded default configuration."""
    return make_instance()


# -- mailboxes ------------------------------------------------------------

def maildir_files(maildir):
    """Message files of a maildir (new/ and cur/), oldest name first."""
    out = []
    for sub in ("new", "cur"):
        d = pathlib.Path(maildir) / sub
        if d.is_dir():
            out += sorted(d.iterdir())
    return out


def wait_mail(maildir, n=1, timeout=30):
    """Waits until maildir holds at least n messages; returns them."""
    return wait_until(lambda: (lambda f: f if len(f) >= n else None)(
        maildir_files(maildir)), timeout=timeout,
        what=f"{n} message(s) in {maildir}")


@pytest.fixture
def sysuser():
    """Factory for system users (root only) with a home under /tmp,
    removed afterwards: sysuser("x") -> (name, home, pwd entry)."""
    import pwd
    import random
    made = []

    def factory(base):
        name = "ph%s%04d" % (base, random.randrange(10000))
        home = pathlib.Path("/tmp") / ("posthorn-home-" + name)
        subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh",
                        name], check=True, capture_output=True)
        made.append((name, home))
        home.mkdir(mode=0o755)
        pw = pwd.getpwnam(name)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        return name, home, pw

    yield factory
    for name, home in made:
        subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
