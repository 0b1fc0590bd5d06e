# SPDX-License-Identifier: MIT
"""The IPC attribute codec (CONVENTIONS.md section 5), for tests that talk
to a service directly: a message is a sequence of records, each a 4-byte
big-endian length L then L bytes "name=value"; L = 0 ends the message.

A message is a list of (name, value) pairs (values are bytes or str;
numbers are sent as decimal text), so repeated attributes keep their
order.
"""
import socket
import struct

MSG_MAX = 1024 * 1024


def encode(attrs):
    out = bytearray()
    for name, value in attrs:
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, str):
            value = value.encode()
        rec = name.encode() + b"=" + value
        out += struct.pack(">I", len(rec)) + rec
    out += struct.pack(">I", 0)
    return bytes(out)


class Conn:
    """A blocking client connection to a UNIX socket."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def close(self):
        self.sock.close()

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def recv(self):
        """Returns the next message as a list of (name, value-str)."""
        attrs, total = [], 0
        while True:
            self._need(4)
            (n,) = struct.unpack(">I", self.buf[:4])
            self.buf = self.buf[4:]
            total += 4 + n
            if total > MSG_MAX:
                raise ValueError("message too long")
            if n == 0:
                return attrs
            self._need(n)
            rec, self.buf = self.buf[:n], self.buf[n:]
            name, _, value = rec.partition(b"=")
            attrs.append((name.decode(), value.decode("utf-8", "replace")))

    def send(self, attrs):
        self.sock.sendall(encode(attrs))

    def call(self, attrs):
        self.send(attrs)
        return self.recv()


def get(attrs, name, default=None):
    for n, v in attrs:
        if n == name:
            return v
    return default


def get_all(attrs, name):
    return [v for n, v in attrs if n == name]
