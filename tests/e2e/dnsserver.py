# SPDX-License-Identifier: MIT
"""A tiny authoritative DNS server on loopback for tests (UDP and TCP).

Answers from a dict, pure standard library:

    zone = {
        "example.test": {"MX": [(10, "mx1.example.test"), (20, "mx2...")]},
        "mx1.example.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
        "nullmx.test": {"MX": [(0, ".")]},          # RFC 7505 null MX
        "broken.test": "SERVFAIL",                   # every query fails
        "slow.test": "TIMEOUT",                      # never answered
        "2.0.0.127.in-addr.arpa": {"PTR": ["mx1.example.test"]},
    }
    with DNSServer(zone) as dns:
        ... dns.port, dns.queries (list of (name, type)) ...

A name in the zone without the asked type gets NOERROR with no answer
(NODATA); a name not in the zone gets NXDOMAIN. A "CNAME" entry (one
target name) is answered for every type, followed by the target's records.
The zone may be changed while the server runs (dns.zone[...] = ...).
"""
import ipaddress
import socket
import socketserver
import struct
import threading

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
NOERROR, FORMERR, SERVFAIL, NXDOMAIN = 0, 1, 2, 3


def encode_name(name):
    name = name.rstrip(".")
    out = b""
    if name:
        for label in name.split("."):
            b = label.encode()
            out += bytes([len(b)]) + b
    return out + b"\0"


def decode_name(msg, off):
    """Reads a (possibly compressed) name; returns (name, next offset)."""
    labels = []
    jumped = False
    end = off
    for _ in range(128):
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n
    if not jumped:
        end = off
    return ".".join(labels), end


def rdata(rtype, value):
    if rtype == "A":
        return ipaddress.IPv4Address(value).packed
    if rtype == "AAAA":
        return ipaddress.IPv6Address(value).packed
    if rtype == "MX":
        pref, host = value
        return struct.pack("!H", pref) + encode_name(host)
    if rtype in ("PTR", "CNAME", "NS"):
        return encode_name(value)
    if rtype == "TXT":
        b = value.encode()
        return bytes([len(b)]) + b
    raise ValueError(rtype)


def rr(name, rtype, value, ttl=60):
    data = rdata(rtype, value)
    return encode_name(name) + struct.pack("!HHIH", TYPES[rtype], 1, ttl,
                                           len(data)) + data


class DNSServer:
    def __init__(self, zone=None, host="127.0.0.1", port=0):
        self.zone = {k.lower().rstrip("."): v for k, v in (zone or {}).items()}
        self.queries = []
        self.lock = threading.Lock()
        # UDP and TCP on one port number: a port free for UDP may be
        # taken for TCP, so try until both bind.
        for attempt in range(50):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind((host, port))
            self.host, self.port = self.udp.getsockname()
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind((host, self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
                if port or attempt == 49:
                    raise
        self.tcp.listen(16)
        self.stopping = False
        self.threads = [threading.Thread(target=self._serve_udp, daemon=True),
                        threading.Thread(target=self._serve_tcp, daemon=True)]

    # -- lifecycle -----------------------------------------------------
    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping = True
        for s in (self.udp, self.tcp):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        """The dns_servers value for main.cf."""
        return f"{self.host}:{self.port}"

    def set(self, name, value):
        self.zone[name.lower().rstrip(".")] = value

    def asked(self, name, rtype=None):
        name = name.lower().rstrip(".")
        with self.lock:
            return [q for q in self.queries
                    if q[0] == name and (rtype is None or q[1] == rtype)]

    # -- answering -----------------------------------------------------
    def answer(self, query):
        """The reply bytes for one query message, or None (no answer)."""
        if len(query) < 12:
            return None
        qid, flags, qd = struct.unpack("!HHH", query[:6])
        if qd != 1:
            return struct.pack("!HHHHHH", qid, 0x8180 | FORMERR, 0, 0, 0, 0)
        name, off = decode_name(query, 12)
        qtype, qclass = struct.unpack("!HH", query[off:off + 4])
        question = query[12:off + 4]
        key = name.lower().rstrip(".")
        tname = TYPE_NAMES.get(qtype, str(qtype))
        with self.lock:
            self.queries.append((key, tname))
        rcode, answers = self.lookup(key, tname)
        if rcode is None:
            return None
        rd = flags & 0x0100
        hdr = struct.pack("!HHHHHH", qid, 0x8400 | rd | 0x0080 | rcode, 1,
                          len(answers), 0, 0)
        return hdr + question + b"".join(answers)

    def lookup(self, key, tname, depth=0):
        entry = self.zone.get(key)
        if entry is None:
            return NXDOMAIN, []
        if entry == "SERVFAIL":
            return SERVFAIL, []
        if entry == "TIMEOUT":
            return None, []
        if entry == "REFUSED":
            return 5, []
        if "CNAME" in entry and tname != "CNAME" and depth < 8:
            target = entry["CNAME"]
            rcode, more = self.lookup(target.lower().rstrip("."), tname,
                                      depth + 1)
            return (rcode if rcode != NXDOMAIN else NOERROR,
                    [rr(key, "CNAME", target)] + more)
        return NOERROR, [rr(key, tname, v) for v in entry.get(tname, [])]

    def _serve_udp(self):
        while not self.stopping:
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            try:
                reply = self.answer(data)
            except (IndexError, struct.error, ValueError):
                reply = None  # malformed query or zone entry: drop it
            if reply is not None:
                if len(reply) > 512:
                    # Too big for UDP: header with TC set, question only,
                    # so the client asks again over TCP (RFC 1035 4.2.1).
                    end = 12 + len(self._question(data))
                    reply = bytearray(reply[:end])
                    reply[2] |= 0x02
                    reply[6:12] = b"\0" * 6
                    reply = bytes(reply)
                try:
                    self.udp.sendto(reply, peer)
                except OSError:
                    pass

    @staticmethod
    def _question(query):
        _, off = decode_name(query, 12)
        return query[12:off + 4]

    def _serve_tcp(self):
        while not self.stopping:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_client, args=(conn,),
                             daemon=True).start()

    def _tcp_client(self, conn):
        with conn:
            try:
                while True:
                    hdr = self._recv_exact(conn, 2)
                    if not hdr:
                        return
                    (n,) = struct.unpack("!H", hdr)
                    data = self._recv_exact(conn, n)
                    if not data:
                        return
                    reply = self.answer(data)
                    if reply is not None:
                        conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return

    @staticmethod
    def _recv_exact(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf


if __name__ == "__main__":
    import json
    import sys
    import time
    z = json.load(open(sys.argv[1])) if len(sys.argv) > 1 else {}
    for v in z.values():
        if isinstance(v, dict) and "MX" in v:
            v["MX"] = [tuple(x) for x in v["MX"]]
    with DNSServer(z) as srv:
        print(srv.port, flush=True)
        while True:
            time.sleep(3600)
