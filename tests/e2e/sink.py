# SPDX-License-Identifier: MIT
"""A scriptable SMTP sink server for tests (standard library only).

    sink = Sink("127.0.0.2", port, name="mx1.example.test",
                extensions=["PIPELINING", "8BITMIME", "SIZE 1000000"])
    sink.start()
    ... sink.transactions (one dict per finished or abandoned MAIL),
        sink.sessions (one dict per connection) ...
    sink.stop()

Every transaction records the MAIL and RCPT lines as sent, the replies
given, and the DATA payload byte-exact (dot-stuffing and CRLF included,
the final ".\r\n" excluded). Replies can be scripted:

  greeting        "220 ..." (default) or e.g. "421 4.3.2 busy"
  ehlo_reply      None (normal) or e.g. "502 5.5.1 unrecognized" (HELO
                  then works)
  mail_reply      callable(line) -> reply, or a string
  rcpt_reply      callable(address) -> reply, or a dict address -> reply
  data_reply      reply to DATA (default 354)
  final_replies   list consumed one per message (default "250 2.0.0 Ok:
                  queued as N")
  starttls        (certfile, keyfile) to offer STARTTLS; one server
                  context per sink, which issues TLS session tickets, so a
                  client can resume (session["tls_reused"] says it did)
  auth            {user: password}: offer AUTH PLAIN LOGIN
  drop_after_data close the connection without a reply after the dot
  final_delay     seconds to wait before the reply to the dot
  starttls_broken answer STARTTLS with 220, then send junk instead of a
                  TLS handshake
"""
import base64
import socket
import ssl
import threading
import time


class Sink:
    def __init__(self, host, port, name="sink.example.test",
                 extensions=("PIPELINING", "8BITMIME", "SIZE 10240000",
                             "ENHANCEDSTATUSCODES", "DSN"),
                 starttls=None, auth=None):
        self.host, self.port = host, port
        self.name = name
        self.extensions = list(extensions)
        self.starttls = starttls
        self.auth = auth or {}
        self.greeting = f"220 {name} ESMTP sink"
        self.ehlo_reply = None
        self.mail_reply = "250 2.1.0 Ok"
        self.rcpt_reply = None
        self.data_reply = "354 End data with <CR><LF>.<CR><LF>"
        self.final_replies = []
        self.drop_after_data = False
        self.final_delay = 0
        self.starttls_broken = False
        self._tls_ctx = None
        self.transactions = []
        self.sessions = []
        self.lock = threading.Lock()
        self.counter = 0
        self.sock = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    # -- lifecycle -----------------------------------------------------
    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def messages(self):
        """Transactions that ended with a 2xx to the content."""
        with self.lock:
            return [t for t in self.transactions if t.get("accepted")]

    # -- serving -------------------------------------------------------
    def _accept(self):
        while not self.stopping:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, peer),
                             daemon=True).start()

    def _serve(self, conn, peer):
        s = _Session(self, conn, peer)
        with self.lock:
            self.sessions.append(s.record)
        try:
            s.run()
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            s.record["closed"] = True
            try:
                s.conn.close()
            except OSError:
                pass

    def tls_context(self):
        """The server context every connection shares: its ticket key
        lets a later connection resume an earlier one's session."""
        with self.lock:
            if self._tls_ctx is None:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(*self.starttls)
                self._tls_ctx = ctx
            return self._tls_ctx

    def reply_for_rcpt(self, addr):
        r = self.rcpt_reply
        if r is None:
            return "250 2.1.5 Ok"
        if callable(r):
            return r(addr)
        if isinstance(r, dict):
            return r.get(addr, "250 2.1.5 Ok")
        return r

    def next_final_reply(self):
        with self.lock:
            self.counter += 1
            if self.final_replies:
                return self.final_replies.pop(0)
            return f"250 2.0.0 Ok: queued as SINK{self.counter}"


class _Session:
    def __init__(self, sink, conn, peer):
        self.sink = sink
        self.conn = conn
        self.buf = b""
        self.tls = False
        self.record = {"peer": peer, "commands": [], "tls": False,
                       "auth": None, "helo": None, "closed": False}
        self.tx = None

    def send(self, text):
        self.conn.sendall(text.encode() + b"\r\n")

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise ValueError("eof")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def ehlo_lines(self):
        ext = list(self.sink.extensions)
        if self.sink.starttls and not self.tls:
            ext.append("STARTTLS")
        if self.sink.auth:
            ext.append("AUTH PLAIN LOGIN")
        return [self.sink.name] + ext

    def run(self):
        sink = self.sink
        self.send(sink.greeting)
        if not sink.greeting.startswith("2"):
            # RFC 5321 3.1: a 554 greeting still takes QUIT; a 421 closes.
            if sink.greeting.startswith("421"):
                return
        while True:
            raw = self.readline()
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            self.record["commands"].append(line)
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            if not sink.greeting.startswith("2") and verb != "QUIT":
                self.send("503 5.5.1 go away")
                continue
            handler = getattr(self, "do_" + verb, None)
            if handler is None:
                self.send("502 5.5.2 command not recognized")
                continue
            if handler(arg) is False:
                return

    def do_EHLO(self, arg):
        if self.sink.ehlo_reply:
            self.send(self.sink.ehlo_reply)
            return
        self.record["helo"] = arg
        lines = self.ehlo_lines()
        for i, l in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            self.send(f"250{sep}{l}")

    def do_HELO(self, arg):
        self.record["helo"] = arg
        self.send(f"250 {self.sink.name}")

    def do_STARTTLS(self, arg):
        if not self.sink.starttls or self.tls:
            self.send("502 5.5.1 no")
            return
        self.send("220 2.0.0 Ready to start TLS")
        if self.sink.starttls_broken:
            self.conn.sendall(b"this is not TLS\r\n" * 4)
            return False
        self.conn = self.sink.tls_context().wrap_socket(self.conn,
                                                        server_side=True)
        self.buf = b""
        self.tls = True
        self.record["tls"] = True
        self.record["tls_version"] = self.conn.version()
        self.record["tls_reused"] = self.conn.session_reused

    def do_AUTH(self, arg):
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        if mech == "PLAIN":
            if len(parts) > 1:
                resp = parts[1]
            else:
                self.send("334 ")
                resp = self.readline().strip().decode()
            try:
                _, user, pw = base64.b64decode(resp).split(b"\0")
            except ValueError:
                self.send("501 5.5.2 bad")
                return
            user, pw = user.decode(), pw.decode()
        elif mech == "LOGIN":
            self.send("334 VXNlcm5hbWU6")
            user = base64.b64decode(self.readline().strip()).decode()
            self.send("334 UGFzc3dvcmQ6")
            pw = base64.b64decode(self.readline().strip()).decode()
        else:
            self.send("504 5.5.4 unknown mechanism")
            return
        if self.sink.auth.get(user) == pw:
            self.record["auth"] = (mech, user)
            self.send("235 2.7.0 Authentication successful")
        else:
            self.send("535 5.7.8 Authentication credentials invalid")

    def do_MAIL(self, arg):
        r = self.sink.mail_reply
        reply = r("MAIL " + arg) if callable(r) else r
        self.tx = {"mail": "MAIL " + arg, "rcpts": [], "rcpt_replies": [],
                   "data": None, "accepted": False, "tls": self.tls,
                   "auth": self.record["auth"], "mail_reply": reply,
                   "session": len(self.sink.sessions) - 1}
        with self.sink.lock:
            self.sink.transactions.append(self.tx)
        if not reply.startswith("2"):
            self.tx = None
        self.send(reply)

    def do_RCPT(self, arg):
        if self.tx is None:
            self.send("503 5.5.1 need MAIL")
            return
        addr = arg.split(":", 1)[1].strip() if ":" in arg else arg
        addr = addr.split(">", 1)[0].lstrip("<")
        reply = self.sink.reply_for_rcpt(addr)
        self.tx["rcpts"].append("RCPT " + arg)
        self.tx["rcpt_replies"].append(reply)
        self.send(reply)

    def do_DATA(self, arg):
        tx = self.tx
        if tx is None or not any(r.startswith("2")
                                 for r in tx["rcpt_replies"]):
            self.send("554 5.5.1 no valid recipients")
            return
        reply = self.sink.data_reply
        if not reply.startswith("354"):
            self.send(reply)
            return
        self.send(reply)
        data = bytearray()
        while True:
            line = self.readline()
            if line == b".\r\n":
                break
            data += line
        tx["data"] = bytes(data)
        if self.sink.drop_after_data:
            return False
        if self.sink.final_delay:
            time.sleep(self.sink.final_delay)
        final = self.sink.next_final_reply()
        tx["final_reply"] = final
        tx["accepted"] = final.startswith("2")
        self.tx = None
        self.send(final)

    def do_BDAT(self, arg):
        """RFC 3030, enough for one or more chunks."""
        parts = arg.split()
        size = int(parts[0])
        while len(self.buf) < size:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise ValueError("eof")
            self.buf += chunk
        data, self.buf = self.buf[:size], self.buf[size:]
        tx = self.tx
        if tx is None:
            self.send("503 5.5.1 need MAIL")
            return
        tx["data"] = (tx["data"] or b"") + data
        tx["bdat"] = True
        if len(parts) > 1 and parts[1].upper() == "LAST":
            final = self.sink.next_final_reply()
            tx["final_reply"] = final
            tx["accepted"] = final.startswith("2")
            self.tx = None
            self.send(final)
        else:
            self.send(f"250 2.0.0 {size} octets received")

    def do_RSET(self, arg):
        self.tx = None
        self.send("250 2.0.0 Ok")

    def do_NOOP(self, arg):
        self.send("250 2.0.0 Ok")

    def do_QUIT(self, arg):
        self.send("221 2.0.0 Bye")
        return False


def unstuff(data):
    """The message from a DATA payload: dots removed, CRLF kept."""
    out = []
    for line in data.split(b"\r\n"):
        out.append(line[1:] if line.startswith(b".") else line)
    return b"\r\n".join(out)
