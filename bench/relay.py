#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""relay.py - smtp delivery agent throughput: messages/s to a sink.

Plays qmgr against private/smtp (until qmgr schedules remote mail, the
whole SMTP-in -> smtp-out pipeline cannot run): C concurrent qmgr
connections each send delivery requests for one 1 KB message with one
recipient to a domain whose MX is a sink SMTP server on 127.0.0.2. The
sink (asyncio, in its own process) accepts everything with PIPELINING.
Reports messages/s per concurrency, with connection reuse (same next
hop, RSET between messages) and without (a new next hop each time).

usage: bench/relay.py BUILD_DIR WORK_DIR [SECONDS]
"""
import asyncio
import multiprocessing
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))
import ipc  # noqa: E402
from dnsserver import DNSServer  # noqa: E402

MX = "127.0.0.2"
BODY = (b"From: bench@example.test\nTo: sink@bench.test\nSubject: bench\n\n" +
        b"x" * 72 + b"\n") * 1 + (b"y" * 71 + b"\n") * 12


# ---- a fast sink ----------------------------------------------------------

async def sink_session(reader, writer):
    w = writer.write
    w(b"220 sink.bench.test ESMTP\r\n")
    in_data = False
    n = 0
    while True:
        line = await reader.readline()
        if not line:
            break
        if in_data:
            if line == b".\r\n":
                in_data = False
                n += 1
                w(b"250 2.0.0 Ok: queued as B%d\r\n" % n)
            continue
        cmd = line[:4].upper()
        if cmd == b"EHLO":
            w(b"250-sink.bench.test\r\n250-PIPELINING\r\n"
              b"250-8BITMIME\r\n250 SIZE 100000000\r\n")
        elif cmd == b"DATA":
            in_data = True
            w(b"354 go\r\n")
        elif cmd == b"QUIT":
            w(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            w(b"250 Ok\r\n")
        # Flush only when no more pipelined input is waiting.
        if not reader._buffer:  # noqa: SLF001 (asyncio internals)
            await writer.drain()
    writer.close()


def run_sink(port, ready):
    async def main():
        srv = await asyncio.start_server(sink_session, MX, port,
                                         backlog=256)
        ready.set()
        async with srv:
            await srv.serve_forever()
    asyncio.run(main())


# ---- the instance ---------------------------------------------------------

def posthorn(build, inst, *args):
    return subprocess.run([str(build / "sbin" / "posthorn"), "-c",
                           str(inst), *args], capture_output=True,
                          text=True, check=True)


def free_port():
    with socket.socket() as s:
        s.bind((MX, 0))
        return s.getsockname()[1]


def setup(build, work, dns_port, sink_port):
    inst = pathlib.Path(work) / "relay"
    posthorn(build, inst, "init")
    posthorn(build, inst, "config", f"dns_servers=127.0.0.1:{dns_port}",
             f"smtp_tcp_port={sink_port}", "smtp_tls_security_level=none",
             "inet_interfaces=127.0.0.1", "default_process_limit=64")
    # Only smtp: no listeners on fixed ports, no queue manager.
    mcf = inst / "master.cf"
    lines = [l for l in mcf.read_text().splitlines(keepends=True)
             if l.startswith(("#", "smtp ")) or not l.strip()]
    mcf.write_text("".join(lines))
    posthorn(build, inst, "start")
    return inst


def request(qid, nexthop):
    return [("type", "deliver"), ("queue_id", qid),
            ("queue_file", "queue/" + qid), ("sender", "bench@example.test"),
            ("arrival", int(time.time())), ("size", len(BODY)),
            ("nexthop", nexthop), ("nrcpt", 1), ("rcpt_id", "r0"),
            ("rcpt", "sink@bench.test"), ("orcpt", ""), ("notify", "")]


def worker(sock_path, qid, reuse, deadline, counts, idx, errors):
    c = ipc.Conn(sock_path, timeout=60)
    c.recv()
    n = 0
    while time.monotonic() < deadline:
        nexthop = "bench.test" if reuse else f"d{idx}x{n}.bench.test"
        reply = c.call(request(qid, nexthop))
        if ipc.get(reply, "result") != "sent":
            errors.append(reply)
            break
        n += 1
    c.close()
    counts[idx] = n


def measure(inst, qid, conc, reuse, secs):
    sock_path = inst / "spool" / "private" / "smtp"
    counts = [0] * conc
    errors = []
    deadline = time.monotonic() + secs
    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(sock_path, qid, reuse,
                                                     deadline, counts, i,
                                                     errors))
               for i in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    if errors:
        print(f"  error: {errors[0]}")
    return sum(counts) / elapsed


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    build = pathlib.Path(sys.argv[1])
    work = sys.argv[2]
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    sink_port = free_port()
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(target=run_sink, args=(sink_port, ready),
                                   daemon=True)
    sink.start()
    ready.wait(10)
    zone = {"bench.test": {"MX": [(10, "mx.bench.test")]},
            "mx.bench.test": {"A": [MX]}}
    dns = DNSServer(zone).start()
    # Per-message next hops for the no-reuse runs: a wildcard by hand.
    orig = dns.lookup

    def lookup(key, tname, depth=0):
        if key.endswith(".bench.test") and key.startswith("d"):
            return orig("bench.test", tname, depth)
        return orig(key, tname, depth)
    dns.lookup = lookup
    inst = None
    try:
        inst = setup(build, work, dns.port, sink_port)
        qid = "BENCH0000001"
        path = inst / "spool" / "queue" / qid
        path.write_bytes(BODY)
        os.chmod(path, 0o644)
        print(f"smtp relay throughput, {len(BODY)}-byte messages, one "
              f"recipient, {os.cpu_count()} CPUs, {secs:g} s each")
        for reuse in (True, False):
            for conc in (1, 4, 16):
                rate = measure(inst, qid, conc, reuse, secs)
                label = "reused connection" if reuse else "new connection "
                print(f"  {label}  concurrency {conc:2d}: "
                      f"{rate:8.0f} messages/s")
    finally:
        if inst:
            subprocess.run([str(build / "sbin" / "posthorn"), "-c",
                            str(inst), "stop"], capture_output=True)
        dns.stop()
        sink.terminate()


if __name__ == "__main__":
    main()
