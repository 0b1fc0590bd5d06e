# SPDX-License-Identifier: MIT
"""Crash safety of the whole loop: 1,000 messages over SMTP while qmgr and
the local delivery agents are killed with SIGKILL again and again.

Every message the server acknowledged with 250 must end up in a mailbox;
duplicates are allowed (a delivery whose result qmgr never recorded is
made again) and counted. The test ends by itself: submissions stop after
the last message, the kills after the submissions, and the queue must
drain within a deadline.
"""
import os
import re
import signal
import smtplib
import threading
import time

from conftest import maildir_files, wait_until
from test_delivery import queue_empty

TOTAL = 1000
SESSIONS = 10
USERS = [f"load{i}" for i in range(5)]


def configure(inst):
    for u in USERS:
        inst.run("user", "add", f"{u}@example.test", input="pw-secret\n")
    inst.config(service_throttle_time="1s", minimal_backoff_time="1s",
                maximal_backoff_time="2s", queue_run_delay="1s",
                transport_retry_time="1s")


def sender(inst, tokens, acked, stop):
    """Sends its share of tokens, one message each, over one session at a
    time; a token counts as acknowledged only on a 250 after DATA."""
    s = None
    for tok in tokens:
        rcpt = f"{USERS[hash(tok) % len(USERS)]}@example.test"
        msg = (f"From: load@example.test\r\nSubject: {tok}\r\n\r\n"
               f"{tok}\r\n").encode()
        for _ in range(3):
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", inst.ports["smtp"],
                                     timeout=60)
                    s.ehlo("load.example")
                s.sendmail("load@example.test", [rcpt], msg)
                acked.add(tok)
                break
            except (smtplib.SMTPException, OSError):
                try:
                    if s:
                        s.close()
                except OSError:
                    pass
                s = None  # 451 while qmgr was down: not acknowledged
                time.sleep(0.05)
    if s:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def killer(inst, acked, stop, kills):
    """Kills by progress, so the kills fall inside the load however fast
    it runs: the local agents every 40 acknowledged messages, qmgr every
    150 (master restarts both). Locals die while qmgr waits for their
    replies, and qmgr dies with requests out and commits half done."""
    next_local, next_qmgr = 40, 150
    while not stop.wait(0.005):
        n = len(acked)
        progs = []
        if n >= next_local:
            progs.append("local")
            next_local += 40
        if n >= next_qmgr:
            progs.append("qmgr")
            next_qmgr += 150
        for prog in progs:
            for pid in inst.service_pids(prog):
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills[prog] += 1
                except ProcessLookupError:
                    pass


def test_kill_qmgr_and_local_during_1000_messages(make_instance):
    inst = make_instance(setup=configure)
    wait_until(lambda: inst.service_pids("qmgr"), what="qmgr")
    tokens = [f"tok-{n:05d}-{os.urandom(4).hex()}" for n in range(TOTAL)]
    acked = set()
    stop = threading.Event()
    kills = {"qmgr": 0, "local": 0}
    k = threading.Thread(target=killer, args=(inst, acked, stop, kills))
    k.start()
    threads = [threading.Thread(target=sender,
                                args=(inst, tokens[i::SESSIONS], acked,
                                      stop))
               for i in range(SESSIONS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    stop.set()
    k.join()
    elapsed = time.monotonic() - t0
    assert kills["qmgr"] >= 4 and kills["local"] >= 10, kills
    assert len(acked) > TOTAL // 2, f"only {len(acked)} acknowledged"

    # Everything queued gets delivered once nobody kills anything.
    wait_until(lambda: queue_empty(inst), timeout=180, interval=0.5,
               what="the queue to drain")
    seen = {}
    for u in USERS:
        for f in maildir_files(inst.dir / "mail" / "example.test" / u):
            m = re.search(rb"tok-\d{5}-[0-9a-f]{8}", f.read_bytes())
            if m:
                tok = m.group().decode()
                seen[tok] = seen.get(tok, 0) + 1
    lost = acked - set(seen)
    dups = sum(n - 1 for n in seen.values())
    unacked = len(set(seen) - acked)
    crashed = len(re.findall(r"lost connection with private/local while "
                             r"delivering", inst.log()))
    print(f"\n{len(acked)}/{TOTAL} acknowledged in {elapsed:.1f}s, "
          f"kills: {kills}, {crashed} request(s) lost with a killed "
          f"local, delivered {len(seen)} distinct, "
          f"{dups} duplicate(s), {unacked} delivered but not "
          f"acknowledged, {len(lost)} lost")
    assert not lost, f"{len(lost)} acknowledged messages lost"
