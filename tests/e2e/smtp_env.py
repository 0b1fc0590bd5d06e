# SPDX-License-Identifier: MIT
"""Test bed for the smtp delivery agent: a private DNS server, sink SMTP
servers on 127.0.0.2 and 127.0.0.3 (one port for both, as smtp_tcp_port
is one number), and helpers that play qmgr on private/smtp.

Until qmgr schedules remote mail, tests put a message file in
spool/queue/ and send the delivery request themselves (ipc.py).
"""
import itertools
import pathlib
import random
import socket
import subprocess
import time

import ipc
from conftest import wait_until
from dnsserver import DNSServer
from sink import Sink

MX1, MX2 = "127.0.0.2", "127.0.0.3"
_qids = itertools.count(1)


def shared_port():
    """A port free on both sink addresses."""
    for _ in range(100):
        with socket.socket() as a:
            a.bind((MX1, 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind((MX2, port))
                except OSError:
                    continue
                return port
    raise AssertionError("no port free on both sink addresses")


def smtp_on_shared_port(inst, port):
    """Moves an instance's SMTP service to port (in a setup, before it
    starts): instances on their own addresses all listen on the one port
    smtp_tcp_port names, so they can reach each other by MX."""
    text = inst.master_cf.read_text()
    old = str(inst.ports["smtp"])
    inst.master_cf.write_text(text.replace(old + " ", str(port) + " ", 1))
    inst.ports["smtp"] = port


def make_cert(directory, names):
    """A self-signed certificate for names; returns (cert, key) paths."""
    directory = pathlib.Path(directory)
    cert, key = directory / "sink-cert.pem", directory / "sink-key.pem"
    san = ",".join("DNS:" + n for n in names)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=" + names[0], "-addext", "subjectAltName=" + san,
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    cert.chmod(0o644)
    key.chmod(0o644)
    return str(cert), str(key)


class SmtpEnv:
    """One instance, its DNS server and its sinks."""

    def __init__(self, make_instance, zone=None, **config):
        self.dns = DNSServer(zone or {}).start()
        self.port = shared_port()
        self.sinks = []
        self.config = {"dns_servers": self.dns.address,
                       "smtp_tcp_port": self.port,
                       "smtp_connect_timeout": "5s",
                       "smtp_dns_timeout": "2s"}
        self.config.update(config)
        self.inst = make_instance(setup=lambda i: i.config(**self.config))

    def sink(self, host=MX1, **kw):
        extra = {k: kw.pop(k) for k in list(kw)
                 if k not in ("name", "extensions", "starttls", "auth")}
        s = Sink(host, self.port, **kw)
        for k, v in extra.items():
            setattr(s, k, v)
        self.sinks.append(s.start())
        return s

    def close(self):
        for s in self.sinks:
            s.stop()
        self.dns.stop()

    # -- playing qmgr -------------------------------------------------
    @property
    def socket_path(self):
        return self.inst.dir / "spool" / "private" / "smtp"

    def put_message(self, body):
        qid = "S%05dX%04d" % (next(_qids), random.randrange(10000))
        (self.inst.dir / "spool" / "queue" / qid).write_bytes(body)
        return qid

    def connect(self):
        wait_until(lambda: self.socket_path.exists(), what="private/smtp")
        c = ipc.Conn(self.socket_path, timeout=60)
        greeting = c.recv()
        assert ipc.get(greeting, "proto") == "deliver"
        assert ipc.get(greeting, "version") == "1"
        return c

    def request(self, qid, body, rcpts, nexthop, sender="alice@example.test",
                **extra):
        req = [("type", "deliver"), ("queue_id", qid),
               ("queue_file", "queue/" + qid), ("sender", sender),
               ("arrival", int(time.time())), ("size", len(body)),
               ("nexthop", nexthop), ("transport", "smtp")]
        # body_type is the request's "body" attribute (7BIT, 8BITMIME).
        req += [("body" if k == "body_type" else k, v)
                for k, v in extra.items()]
        req.append(("nrcpt", len(rcpts)))
        for i, r in enumerate(rcpts):
            if isinstance(r, str):
                r = {"rcpt": r}
            req += [("rcpt_id", "id%d" % i), ("rcpt", r["rcpt"]),
                    ("orcpt", r.get("orcpt", "")),
                    ("notify", r.get("notify", ""))]
        return req

    def deliver(self, rcpts, nexthop, body=None, conn=None, **kw):
        """Delivers body to rcpts through nexthop; returns the results
        (one dict per recipient) and the queue id."""
        body = body if body is not None else message()
        qid = self.put_message(body)
        c = conn or self.connect()
        try:
            reply = c.call(self.request(qid, body, rcpts, nexthop, **kw))
        finally:
            if conn is None:
                c.close()
        return parse_reply(reply, len(rcpts)), qid


def parse_reply(attrs, n):
    assert attrs[0] == ("status", "ok"), attrs
    out, cur = [], None
    for name, value in attrs[1:]:
        if name == "rcpt_id":
            cur = {}
            out.append(cur)
        cur[name] = value
    assert len(out) == n, attrs
    for i, r in enumerate(out):
        assert r["rcpt_id"] == "id%d" % i
    return out


def message(subject="test", body=b"Hello.\n", extra_headers=b""):
    return (b"Received: from client (client [127.0.0.1])\n"
            b"From: Alice <alice@example.test>\n"
            b"To: Bob <bob@remote.test>\n"
            b"Subject: " + subject.encode() + b"\n" + extra_headers +
            b"\n" + body)
