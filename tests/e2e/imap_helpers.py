# SPDX-License-Identifier: MIT
"""Helpers for the imapd end-to-end tests.

- `imap_instance(make_instance)`: a started instance whose IMAP accepts
  plaintext LOGIN on loopback (most tests; TLS has its own tests).
- `Raw`: a line-level IMAP client on a plain socket, for what imaplib
  cannot do (IDLE, LITERAL+, literals of our own, broken input).
- `parse_sexp`: reads an IMAP response value (atoms, numbers, NIL, quoted
  strings, literals, lists) into Python values, for structural checks of
  ENVELOPE and BODYSTRUCTURE.
- `corpus()`: the MIME messages the FETCH tests use, built with Python's
  email package.
"""
import base64
import imaplib
import re
import socket
import ssl
import time


def imap_instance(make_instance, **config):
    def setup(inst):
        inst.config(imapd_tls_auth_only="no", imapd_auth_failure_delay="0",
                    **config)
    return make_instance(setup=setup)


def add_user(inst, address, password):
    inst.run("user", "add", address, input=password + "\n")


def login(inst, user=None, password=None):
    m = imaplib.IMAP4("127.0.0.1", inst.ports["imap"])
    m.login(user or inst.demo_user, password or inst.demo_password)
    return m


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Raw:
    """A minimal IMAP client: send a command, collect the response."""

    def __init__(self, port, host="127.0.0.1", tls=False, timeout=10):
        s = socket.create_connection((host, port), timeout=timeout)
        if tls:
            s = tls_context().wrap_socket(s)
        self.sock = s
        self.buf = b""
        self.n = 0
        self.greeting = self.line()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self):
        """One line without CRLF (bytes)."""
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def response_line(self):
        """A line with its literals inlined (as one bytes value)."""
        out = self.line()
        while True:
            m = re.search(rb"\{(\d+)\}$", out)
            if not m:
                return out
            out += b"\r\n" + self.exact(int(m.group(1)))
            out += self.line()

    def tag(self):
        self.n += 1
        return "t%d" % self.n

    def cmd(self, text, tag=None):
        """Sends `tag text` and reads to the tagged reply.
        Returns (status_line, [untagged lines])."""
        tag = tag or self.tag()
        self.send(tag + " " + text + "\r\n")
        return self.wait(tag)

    def wait(self, tag):
        untagged = []
        tb = tag.encode() + b" "
        while True:
            ln = self.response_line()
            if ln.startswith(tb):
                return ln[len(tb):], untagged
            untagged.append(ln)

    def login(self, user, password):
        st, _ = self.cmd('LOGIN "%s" "%s"' % (user, password))
        assert st.startswith(b"OK"), st
        return st


# ---- response values ------------------------------------------------------

class _Reader:
    def __init__(self, data):
        self.d = data
        self.i = 0

    def ws(self):
        while self.i < len(self.d) and self.d[self.i:self.i + 1] == b" ":
            self.i += 1

    def value(self):
        self.ws()
        c = self.d[self.i:self.i + 1]
        if c == b"(":
            self.i += 1
            out = []
            while True:
                self.ws()
                if self.d[self.i:self.i + 1] == b")":
                    self.i += 1
                    return out
                out.append(self.value())
        if c == b'"':
            self.i += 1
            out = bytearray()
            while True:
                ch = self.d[self.i:self.i + 1]
                if ch == b"\\":
                    out += self.d[self.i + 1:self.i + 2]
                    self.i += 2
                    continue
                self.i += 1
                if ch == b'"':
                    return bytes(out)
                if not ch:
                    raise ValueError("unterminated string")
                out += ch
        if c == b"{":
            m = re.compile(rb"\{(\d+)\}\r\n").match(self.d, self.i)
            n = int(m.group(1))
            self.i = m.end()
            v = self.d[self.i:self.i + n]
            self.i += n
            return v
        m = re.compile(rb"[^ ()\[\]]+(\[[^\]]*\](<\d+>)?)?").match(self.d,
                                                                 self.i)
        if not m:
            raise ValueError("bad value at %d: %r" % (self.i, self.d[self.i:]))
        self.i = m.end()
        tok = m.group(0)
        if tok.upper() == b"NIL":
            return None
        if tok.isdigit():
            return int(tok)
        return tok.decode()


def parse_sexp(data):
    r = _Reader(data)
    v = r.value()
    return v


def fetch_items(line):
    """b'3 FETCH (UID 5 FLAGS (\\Seen) ...)' -> (3, {'UID': 5, ...})."""
    m = re.match(rb"(?:\* )?(\d+) (?:FETCH )?", line)
    assert m, line
    vals = parse_sexp(line[m.end():])
    it = iter(vals)
    return int(m.group(1)), {str(k).upper(): v for k, v in zip(it, it)}


# ---- the MIME corpus ------------------------------------------------------

# 1 KiB of every byte value, NUL and CR LF included: the binary attachment.
BINARY = bytes(range(256)) * 4 + b"\x00\r\n\x00\xff"

HTML_PART_BODY = base64.encodebytes(
    "<p>Gr\u00fc\u00dfe <b>aus</b> M\u00fcnchen</p>\n".encode()).replace(
    b"\n", b"\r\n")

QP_TEXT = ("Gr=C3=BC=C3=9Fe aus M=C3=BCnchen =3D caf=C3=A9, a line long "
           "enough to need a soft=\r\n break.\r\n")


def _mixed():
    att = base64.encodebytes(BINARY).replace(b"\n", b"\r\n")
    return (b"From: Alice Example <alice@example.org>\r\n"
            b"Sender: Secretary <sec@example.org>\r\n"
            b"To: Bob <bob@example.net>, carol@example.com\r\n"
            b"Cc: team: dan@example.com, eve@example.com;\r\n"
            b"Subject: Mixed with attachment\r\n"
            b"Date: Tue, 02 Jan 2024 10:00:00 +0100\r\n"
            b"Message-ID: <mixed-1@example.org>\r\n"
            b"In-Reply-To: <earlier@example.net>\r\n"
            b"MIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="=-=mixed=-="\r\n'
            b"\r\n"
            b"This is a multi-part message in MIME format.\r\n"
            b"--=-=mixed=-=\r\n"
            b"Content-Type: multipart/alternative; boundary=alt\r\n"
            b"\r\n"
            b"--alt\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n"
            b"\r\n" + QP_TEXT.encode() +
            b"--alt\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-ID: <html-part@example.org>\r\n"
            b"\r\n" + HTML_PART_BODY +
            b"--alt--\r\n"
            b"--=-=mixed=-=\r\n"
            b"Content-Type: application/octet-stream; name=data.bin\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="data.bin"\r\n'
            b"\r\n" + att +
            b"--=-=mixed=-=--\r\n"
            b"epilogue\r\n")


def _nested():
    inner = (b"From: Inner Sender <inner@example.net>\r\n"
             b"To: outer@example.org\r\n"
             b"Subject: Inner message\r\n"
             b"Date: Mon, 01 Jan 2024 09:00:00 +0000\r\n"
             b"Content-Type: multipart/mixed; boundary=inner-b\r\n"
             b"\r\n"
             b"--inner-b\r\n"
             b"\r\n"
             b"inner part one\r\n"
             b"--inner-b\r\n"
             b"Content-Type: text/plain\r\n"
             b"\r\n"
             b"inner part two\r\n"
             b"--inner-b--\r\n")
    return (b"From: forwarder@example.org\r\n"
            b"To: you@example.test\r\n"
            b"Subject: Fwd: Inner message\r\n"
            b"Date: Thu, 04 Jan 2024 12:00:00 +0000\r\n"
            b"Content-Type: multipart/mixed; boundary=outer-b\r\n"
            b"\r\n"
            b"--outer-b\r\n"
            b"Content-Type: text/plain; charset=us-ascii\r\n"
            b"\r\n"
            b"Forwarded below.\r\n"
            b"--outer-b\r\n"
            b"Content-Type: message/rfc822\r\n"
            b"Content-Description: the original\r\n"
            b"\r\n" + inner +
            b"--outer-b--\r\n"), inner


ENCODED_BODY = ("\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! "
                "Hello\n").encode()
ENCODED_SUBJECT = "Gr\u00fc\u00dfe \u2013 \u65e5\u672c\u8a9e"


def _encoded():
    b64 = base64.b64encode(ENCODED_BODY)
    return (b"From: =?utf-8?b?SsO2cmcgTcO8bGxlcg==?= <jm@example.de>\r\n"
            b"To: =?utf-8?q?Ren=C3=A9e?= <renee@example.fr>\r\n"
            b"Subject: =?utf-8?b?R3LDvMOfZSDigJMg5pel5pys6Kqe?=\r\n"
            b"Date: Fri, 05 Jan 2024 08:15:00 +0100\r\n"
            b"X-Raw-UTF8: caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=\"utf-8\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"\r\n" + b64 + b"\r\n")


def corpus():
    """Name -> message bytes (CRLF line ends)."""
    nested, _ = _nested()
    return {"mixed": _mixed(), "nested": nested, "encoded": _encoded()}
