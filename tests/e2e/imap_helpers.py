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
import email.encoders
import email.mime.application
import email.mime.base
import email.mime.message
import email.mime.multipart
import email.mime.text
import email.header
import email.policy
import email.utils
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

PNG = bytes(range(256)) * 4 + b"\x00\r\n\x00\xff"


def corpus():
    """Name -> message bytes (CRLF line ends)."""
    pol = email.policy.SMTP
    out = {}

    # multipart/mixed: text + binary attachment
    m = email.mime.multipart.MIMEMultipart("mixed", boundary="=-=mixed=-=")
    m["From"] = "Alice Example <alice@example.org>"
    m["To"] = "Bob <bob@example.net>, carol@example.com"
    m["Cc"] = "team: dan@example.com, eve@example.com;"
    m["Subject"] = "Mixed with attachment"
    m["Date"] = "Tue, 02 Jan 2024 10:00:00 +0100"
    m["Message-ID"] = "<mixed-1@example.org>"
    m.preamble = "This is a multi-part message in MIME format."
    m.attach(email.mime.text.MIMEText("See the attached file.\n", "plain",
                                      "us-ascii"))
    att = email.mime.application.MIMEApplication(PNG, "octet-stream")
    att.add_header("Content-Disposition", "attachment", filename="data.bin")
    m.attach(att)
    out["mixed"] = m.as_bytes(policy=pol)

    # multipart/alternative (quoted-printable and base64 parts)
    m = email.mime.multipart.MIMEMultipart("alternative", boundary="alt-b")
    m["From"] = "news@example.com"
    m["To"] = "reader@example.test"
    m["Subject"] = "Alternative"
    m["Date"] = "Wed, 03 Jan 2024 11:30:00 -0500"
    t = email.mime.text.MIMEText("Gr\u00fc\u00dfe aus M\u00fcnchen = "
                                 "caf\u00e9\n" * 3, "plain", "utf-8")
    del t["Content-Transfer-Encoding"]
    t.set_payload(t.get_payload(decode=True))
    email.encoders.encode_quopri(t)
    m.attach(t)
    h = email.mime.text.MIMEText("<p>Gr\u00fc\u00dfe <b>aus</b> "
                                 "M\u00fcnchen</p>\n", "html", "utf-8")
    m.attach(h)
    out["alternative"] = m.as_bytes(policy=pol)

    # nested message/rfc822 holding a multipart
    inner = email.mime.multipart.MIMEMultipart("mixed", boundary="inner-b")
    inner["From"] = "Inner Sender <inner@example.net>"
    inner["To"] = "outer@example.org"
    inner["Subject"] = "Inner message"
    inner["Date"] = "Mon, 01 Jan 2024 09:00:00 +0000"
    inner.attach(email.mime.text.MIMEText("inner part one\n"))
    inner.attach(email.mime.text.MIMEText("inner part two\n"))
    m = email.mime.multipart.MIMEMultipart("mixed", boundary="outer-b")
    m["From"] = "forwarder@example.org"
    m["To"] = "you@example.test"
    m["Subject"] = "Fwd: Inner message"
    m["Date"] = "Thu, 04 Jan 2024 12:00:00 +0000"
    m.attach(email.mime.text.MIMEText("Forwarded below.\n"))
    m.attach(email.mime.message.MIMEMessage(inner))
    out["nested"] = m.as_bytes(policy=pol)

    # encoded words and raw UTF-8 headers, base64 body
    subj = "Gr\u00fc\u00dfe \u2013 \u65e5\u672c\u8a9e"
    body = ("\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! "
            "Hello\n").encode()
    m = email.mime.text.MIMEText("", "plain", "utf-8")
    m.set_payload(body)
    email.encoders.encode_base64(m)
    m["From"] = email.header.Header("J\u00f6rg M\u00fcller",
                                    "utf-8").encode() + " <jm@example.de>"
    m["To"] = "=?utf-8?q?Ren=C3=A9e?= <renee@example.fr>"
    m["Subject"] = email.header.Header(subj, "utf-8").encode()
    m["Date"] = "Fri, 05 Jan 2024 08:15:00 +0100"
    m["X-Raw-UTF8"] = "caf\u00e9"
    raw = m.as_string(policy=email.policy.SMTPUTF8).encode("utf-8")
    out["encoded"] = raw
    return out
