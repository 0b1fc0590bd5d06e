# SPDX-License-Identifier: MIT
"""smtpd under load and abuse: 200 concurrent sessions, a killed smtpd
mid-DATA, garbage, NUL, huge lines, 10,000 recipients, slow-drip clients,
the per-client connection limit."""
import os
import random
import signal
import socket
import threading
import time

import pytest

from conftest import held, wait_until
from smtp_util import (Raw, body_of, queued_files, queued_ids, smtpd_pid_for,
                       smtp_port, transaction, untrusted, wait_queued)


@pytest.fixture
def make_instance(make_instance):
    """These tests read the queue files smtpd wrote: nothing may be
    delivered meanwhile."""
    return held(make_instance)


def test_200_concurrent_sessions_each_queued_once(make_instance):
    inst = make_instance(setup=lambda i: i.config(
        default_process_limit="250"))
    port = smtp_port(inst)
    n = 200
    results = [None] * n
    barrier = threading.Barrier(n)

    def session(k):
        try:
            c = Raw(port, timeout=120)
            barrier.wait(timeout=120)
            r = transaction(c, f"s{k}@client.example", ["demo@example.test"],
                            b"Subject: load %d\r\n\r\nmarker-%d\r\n" % (k, k))
            results[k] = r[0]
            c.cmd("QUIT")
            c.close()
        except Exception as e:  # reported below
            results[k] = repr(e)

    threads = [threading.Thread(target=session, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert all(not t.is_alive() for t in threads)
    assert results == [250] * n, [r for r in results if r != 250][:5]
    files = queued_files(inst)
    assert len(files) == n
    seen = sorted(int(body_of(b).split(b"marker-")[1]) for b in files.values())
    assert seen == list(range(n))


def test_killed_smtpd_mid_data_leaves_no_message(instance):
    port = smtp_port(instance)
    other = Raw(port)
    assert other.cmd("EHLO other.example")[0] == 250
    assert other.cmd("MAIL FROM:<o@client.example>")[0] == 250
    assert other.cmd("RCPT TO:<demo@example.test>")[0] == 250
    victim = Raw(port)
    victim.cmd("EHLO victim.example")
    victim.cmd("MAIL FROM:<v@client.example>")
    victim.cmd("RCPT TO:<demo@example.test>")
    assert victim.cmd("DATA")[0] == 354
    victim.send(b"Subject: half\r\n\r\n" + b"partial line\r\n" * 1000)
    pid = wait_until(lambda: smtpd_pid_for(instance, victim.sock),
                     what="the victim's smtpd")
    assert pid != smtpd_pid_for(instance, other.sock)
    # the incoming file exists while DATA is under way
    incoming = instance.dir / "spool" / "incoming"
    wait_until(lambda: os.listdir(incoming), what="an incoming file")
    os.kill(pid, signal.SIGKILL)
    assert victim.closed()
    # the other session is unharmed
    assert other.cmd("DATA")[0] == 354
    other.send(b"Subject: whole\r\n\r\nfine\r\n.\r\n")
    r = other.reply()
    assert r[0] == 250
    other.cmd("QUIT")
    files = queued_files(instance)
    assert len(files) == 1
    assert b"Subject: whole" in list(files.values())[0]
    listing = instance.run("queue", "list").stdout
    assert "v@client.example" not in listing
    assert "o@client.example" in listing


def test_garbage_and_nul(make_instance):
    inst = make_instance(setup=lambda i: i.config(
        smtpd_error_sleep_time="0", smtpd_hard_error_limit="1000"))
    c = Raw(smtp_port(inst))
    rnd = random.Random(5321)
    for _ in range(50):
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
        junk = junk.replace(b"\n", b"")
        c.send(junk + b"\r\n")
        code, _ = c.reply()
        assert code in (500, 502, 501, 503, 553, 555), (junk, code)
    assert c.cmd("EHLO x\x00.example") == (500, ["5.5.2 Error: bad syntax"])
    c.send(b"NOOP\x00\r\n")
    assert c.reply()[0] == 500
    assert c.cmd("NOOP")[0] == 250


def test_megabyte_command_line(instance):
    c = Raw(smtp_port(instance))
    c.send(b"EHLO " + b"x" * (1 << 20) + b"\r\n")
    assert c.reply() == (500, ["5.5.0 Error: line too long"])
    assert c.cmd("EHLO x.example")[0] == 250


def test_ten_thousand_recipients(make_instance):
    inst = make_instance(setup=lambda i: i.config(
        smtpd_error_sleep_time="0"))
    c = Raw(smtp_port(inst), timeout=60)
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    batch = b"".join(b"RCPT TO:<demo+%d@example.test>\r\n" % k
                     for k in range(10000))
    sender = threading.Thread(target=lambda: c.sock.sendall(batch))
    sender.start()
    codes = []
    try:
        while True:
            code, text = c.reply()
            codes.append(code)
            if code == 421:
                break
    except (ConnectionError, OSError):
        pass
    sender.join(timeout=60)
    assert codes[:1000] == [250] * 1000
    assert set(codes[1000:-1]) == {452}
    # past the tolerated overshoot the refusals count as errors: 421
    assert codes[-1] == 421
    assert len(codes) < 10000
    assert queued_ids(inst) == []


def test_slow_drip_client_times_out(make_instance):
    inst = make_instance(setup=lambda i: i.config(smtpd_timeout="2s"))
    c = Raw(smtp_port(inst))
    t = time.monotonic()
    code = None
    try:
        for ch in b"EHLO slow.example\r\n":
            c.send(bytes([ch]))
            time.sleep(0.3)
    except OSError:
        pass
    c.sock.settimeout(10)
    try:
        code = c.reply()[0]
    except ConnectionError:
        pass
    assert code in (421, None)
    assert time.monotonic() - t < 8
    inst.wait_log(r"timeout after (CONNECT|EHLO) from unknown\[127\.0\.0\.1\]")


def test_data_timeout_keeps_nothing(make_instance):
    inst = make_instance(setup=lambda i: i.config(smtpd_data_timeout="2s"))
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    c.cmd("RCPT TO:<demo@example.test>")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: stalled\r\n\r\nsome")
    c.sock.settimeout(10)
    assert c.reply()[0] == 421
    inst.wait_log(r"timeout after DATA \(\d+ bytes\) from "
                  r"unknown\[127\.0\.0\.1\]")
    assert queued_ids(inst) == []
    wait_until(lambda: not os.listdir(inst.dir / "spool" / "incoming"),
               what="incoming/ emptied")


def test_per_client_connection_limit(make_instance):
    def setup(i):
        untrusted(i)
        i.config(smtpd_client_connection_count_limit="3")
    inst = make_instance(setup=setup)
    port = smtp_port(inst)
    held = [Raw(port) for _ in range(3)]
    assert all(h.greeting[0] == 220 for h in held)
    extra = Raw(port)
    assert extra.greeting == (
        421, ["4.7.0 mail.example.test Error: too many connections from "
              "127.0.0.1"])
    assert extra.closed()
    inst.wait_log(r"warning: Connection concurrency limit exceeded: 4 from "
                  r"unknown\[127\.0\.0\.1\] for service \d+")
    held[0].cmd("QUIT")
    held[0].close()
    # a freed slot is usable again; a killed session's slot too
    wait_until(lambda: Raw(port).greeting[0] == 220, what="a free slot")
    pid = smtpd_pid_for(inst, held[1].sock)
    os.kill(pid, signal.SIGKILL)
    assert held[1].closed()
    c = Raw(port)
    assert c.greeting[0] == 220
