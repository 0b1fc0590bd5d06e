# SPDX-License-Identifier: MIT
"""A delivery agent played by the test: it listens on
spool/private/<name> (qmgr connects to private/<transport>; transport_maps
sends a test domain there), speaks the delivery protocol
(common/proto_deliver.h) through ipc.py, records every request with its
time, and answers what the test's policy says:

    policy(request) -> list of per-recipient dicts
        {"result": "sent"|"defer"|"bounce"|"forward", "dsn": ...,
         "reason": ..., "relay": ..., "forward_to": "a\\nb"}
    or "crash" (close the connection without a reply), or
    ("status", "defer", "reason") for a whole-request refusal.

With group=N the greeting says the agent takes groups of N requests
(proto_deliver.h, Groups): qmgr then pipelines them, each but the last
with more=1, and this agent still answers them one by one, in order.
"""
import os
import socket
import struct
import threading
import time

import ipc


def parse_request(attrs):
    """The request as a dict: envelope fields, and rcpts as a list of
    dicts in order."""
    req = {"rcpts": []}
    cur = None
    for name, value in attrs:
        if name == "rcpt_id":
            cur = {"rcpt_id": value}
            req["rcpts"].append(cur)
        elif cur is not None and name in ("rcpt", "orcpt", "notify"):
            cur[name] = value
        else:
            req[name] = value
    return req


class FakeAgent:
    def __init__(self, inst, name, policy, group=None):
        self.path = inst.dir / "spool" / "private" / name
        self.policy = policy
        self.group = group
        self.requests = []  # (monotonic time, request dict)
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.sock.bind(str(self.path))
        # qmgr runs as mail_owner when the test is root.
        os.chmod(self.path, 0o777)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,),
                             daemon=True).start()

    def _recv(self, c, buf):
        attrs = []
        while True:
            while len(buf) < 4:
                chunk = c.recv(65536)
                if not chunk:
                    raise EOFError
                buf += chunk
            (n,) = struct.unpack(">I", buf[:4])
            buf = buf[4:]
            if n == 0:
                return attrs, buf
            while len(buf) < n:
                chunk = c.recv(65536)
                if not chunk:
                    raise EOFError
                buf += chunk
            rec, buf = buf[:n], buf[n:]
            k, _, v = rec.partition(b"=")
            attrs.append((k.decode(), v.decode("utf-8", "replace")))

    def _conn(self, c):
        buf = b""
        try:
            greeting = [("proto", "deliver"), ("version", 1)]
            if self.group:
                greeting.append(("group", self.group))
            c.sendall(ipc.encode(greeting))
            while True:
                attrs, buf = self._recv(c, buf)
                req = parse_request(attrs)
                with self.lock:
                    self.requests.append((time.monotonic(), req))
                answer = self.policy(req)
                if answer == "crash":
                    c.close()
                    return
                if isinstance(answer, tuple):
                    c.sendall(ipc.encode([("status", answer[1]),
                                          ("reason", answer[2])]))
                    continue
                reply = [("status", "ok")]
                for r, a in zip(req["rcpts"], answer):
                    reply += [("rcpt_id", r["rcpt_id"]),
                              ("result", a["result"]),
                              ("dsn", a.get("dsn", {
                                  "sent": "2.0.0", "defer": "4.4.1",
                                  "bounce": "5.1.1",
                                  "forward": "2.0.0"}.get(a["result"],
                                                          "2.0.0"))),
                              ("reason", a.get("reason", "test says so")),
                              ("relay", a.get("relay", "fake.test")),
                              ("forward_to", a.get("forward_to", ""))]
                c.sendall(ipc.encode(reply))
        except (EOFError, OSError):
            pass
        finally:
            c.close()

    def times(self):
        with self.lock:
            return [t for t, _ in self.requests]

    def close(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(timeout=5)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def every(result, **kw):
    """A policy giving every recipient the same answer."""
    def policy(req):
        return [dict(result=result, **kw) for _ in req["rcpts"]]
    return policy
