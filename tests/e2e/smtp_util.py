# SPDX-License-Identifier: MIT
"""Helpers for the smtpd end-to-end tests: a raw SMTP client that sends
exactly the bytes a test gives it, and views of the queue."""
import os
import pathlib
import re
import socket
import ssl
import subprocess
import time

from conftest import POSTHORN, wait_until


class Raw:
    """A byte-exact SMTP client: send() writes what it is given, reply()
    reads one (possibly multi-line) reply as (code, [texts])."""

    def __init__(self, port, host="127.0.0.1", timeout=20, greet=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; pending {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        texts = []
        while True:
            line = self._line()
            texts.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), texts

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def starttls(self, **ctx_args):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        for k, v in ctx_args.items():
            setattr(ctx, k, v)
        self.sock = ctx.wrap_socket(self.sock)
        return self.sock

    def closed(self, timeout=10):
        """True when the server closes the connection (after draining)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def smtp_port(inst, name="smtp"):
    return inst.ports[name]


def queue_dir(inst):
    return inst.dir / "spool" / "queue"


def queued_ids(inst):
    try:
        return sorted(os.listdir(queue_dir(inst)))
    except FileNotFoundError:
        return []


def queued_files(inst):
    return {i: (queue_dir(inst) / i).read_bytes() for i in queued_ids(inst)}


def wait_queued(inst, n, timeout=20):
    return wait_until(lambda: len(queued_ids(inst)) >= n and queued_ids(inst),
                      timeout=timeout, what=f"{n} queued messages")


def queue_show(inst, qid):
    """`posthorn queue show ID` (envelope, then the message bytes)."""
    p = subprocess.run([str(POSTHORN), "-c", str(inst.dir), "queue", "show",
                        qid], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode("utf-8", "replace")


def queued_as(reply):
    m = re.search(r"queued as (\w+)", " ".join(reply[1]))
    return m.group(1) if m else None


def body_of(stored):
    """The stored message without our Received: header."""
    head, rest = stored.split(b"\n", 1)
    assert head.startswith(b"Received: ")
    while rest.startswith(b"\t"):
        rest = rest.split(b"\n", 1)[1]
    return rest


def transaction(c, sender, rcpts, body, ehlo="client.example"):
    """A plain DATA transaction on an open Raw client; returns the final
    reply. body is bytes, already dot-stuffed and CRLF-ended."""
    assert c.cmd(f"EHLO {ehlo}")[0] == 250
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    for r in rcpts:
        assert c.cmd(f"RCPT TO:<{r}>")[0] == 250, r
    assert c.cmd("DATA")[0] == 354
    c.send(body + b".\r\n")
    return c.reply()


def untrusted(inst):
    """Makes 127.0.0.1 an outside client: mynetworks without loopback."""
    inst.config(mynetworks="192.0.2.0/24",
                smtpd_client_connection_exceptions="")


def set_service_option(inst, port_name, *opts):
    """Adds -o options to the master.cf service of a named port."""
    port = str(inst.ports[port_name])
    lines = inst.master_cf.read_text().splitlines(keepends=True)
    out = []
    for line in lines:
        out.append(line)
        f = line.split()
        if f and not line[0].isspace() and f[0] == port:
            for o in opts:
                out.append(f"  -o {o}\n")
    inst.master_cf.write_text("".join(out))


def elapsed(fn):
    t = time.monotonic()
    r = fn()
    return r, time.monotonic() - t


def smtpd_pid_for(inst, client_sock):
    """The smtpd process serving the connection of client_sock."""
    return server_pid_for(inst, client_sock, "smtpd")


def server_pid_for(inst, client_sock, program):
    """The process running program that serves client_sock's connection."""
    lport = client_sock.getsockname()[1]
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            rem_port = int(f[2].split(":")[1], 16)
            if rem_port == lport:
                inodes.add(f[9])
    for pid in inst.service_pids(program):
        try:
            for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                m = re.match(r"socket:\[(\d+)\]", link)
                if m and m.group(1) in inodes:
                    return pid
        except OSError:
            continue
    return None
