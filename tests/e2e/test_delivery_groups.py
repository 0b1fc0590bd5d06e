# SPDX-License-Identifier: MIT
"""Delivery groups (common/proto_deliver.h, Groups): qmgr pipelines
several requests on one connection to an agent that said group=N, each
but the last with more=1; local delivers a group with one sync round and
answers every request in order; an agent may also answer one by one; a
connection lost within a group defers every request not answered, so a
killed local means redelivery, never loss.
"""
import os
import re
import signal
import socket

import pytest

import ipc
from conftest import maildir_files, wait_until
from fake_agent import FakeAgent
from test_delivery import queue_empty, smtp_send
from test_local import (BODY, Local, build_aliases, demo_maildir, expected,
                        index_entries, parse_reply, put_message,
                        virtual_mailboxes, writable_dir)

QID = r"[0-9A-Za-z]{15}"


def request(qid, rcpts, more=False, body=BODY):
    req = [("type", "deliver"), ("queue_id", qid),
           ("queue_file", "queue/" + qid), ("sender", "sender@example.org"),
           ("arrival", 1), ("size", len(body)), ("nexthop", "example.test")]
    if more:
        req.append(("more", 1))
    req.append(("nrcpt", len(rcpts)))
    for i, r in enumerate(rcpts):
        req += [("rcpt_id", "id%d" % i), ("rcpt", r), ("orcpt", ""),
                ("notify", "")]
    return req


# ---- local ------------------------------------------------------------------

def test_local_answers_a_group_in_order(make_instance):
    """Four requests sent at once: delivered, a mailbox that cannot be
    made, an unknown user, a queue file that is gone. Each gets its own
    reply, in order; the others are not held back by the failures."""
    def setup(inst):
        virtual_mailboxes(inst, "demo@example.test example.test/demo/\n"
                                "broken@example.test example.test/broken/\n")
    inst = make_instance(setup=setup)
    mail = inst.dir / "mail" / "example.test"
    mail.mkdir(parents=True, exist_ok=True)
    owner = (inst.dir / "mail").stat()
    os.chown(mail, owner.st_uid, owner.st_gid)
    (mail / "broken").write_text("a file where a maildir should be\n")
    c = Local(inst)
    try:
        q1, q2, q3 = put_message(inst), put_message(inst), put_message(inst)
        c.conn.send(request(q1, ["demo@example.test"], more=True))
        c.conn.send(request(q2, ["broken@example.test", "demo@example.test"],
                            more=True))
        c.conn.send(request(q3, ["nosuch@example.test"], more=True))
        c.conn.send(request("T999999X0000", ["demo@example.test"]))
        r1 = parse_reply(c.conn.recv(), 1)
        r2 = parse_reply(c.conn.recv(), 2)
        r3 = parse_reply(c.conn.recv(), 1)
        r4 = c.conn.recv()
    finally:
        c.close()
    assert r1[0]["result"] == "sent", r1
    assert r2[0]["result"] == "defer" and r2[0]["dsn"] == "4.3.0", r2
    assert r2[1]["result"] == "sent", r2
    assert r3[0]["result"] == "bounce" and r3[0]["dsn"] == "5.1.1", r3
    assert ipc.get(r4, "status") == "defer", r4
    assert "cannot read queued message" in ipc.get(r4, "reason")
    md = demo_maildir(inst)
    files = maildir_files(md)
    assert len(files) == 2
    assert all(f.read_bytes() == expected("demo@example.test")
               for f in files)
    assert index_entries(md) == 2


def test_local_greeting_says_group(make_instance):
    inst = make_instance(setup=lambda i: i.config(local_batch_size="16"))
    wait_until(lambda: (inst.dir / "spool" / "private" / "local").exists(),
               what="private/local")
    conn = ipc.Conn(inst.dir / "spool" / "private" / "local")
    try:
        g = conn.recv()
    finally:
        conn.close()
    assert ipc.get(g, "proto") == "deliver"
    assert ipc.get(g, "group") == "16"


def test_local_group_cut_short_delivers_nothing(make_instance):
    """A connection that ends inside a group (more=1, then nothing): qmgr
    will defer the whole group, so local delivers none of it."""
    inst = make_instance()
    c = Local(inst)
    qid = put_message(inst)
    c.conn.send(request(qid, ["demo@example.test"], more=True))
    c.conn.sock.shutdown(socket.SHUT_WR)
    with pytest.raises(EOFError):
        c.conn.recv()
    c.close()
    assert maildir_files(demo_maildir(inst)) == []


def test_local_malformed_request_ends_the_group(make_instance):
    """A malformed request inside a group: what came before it is
    delivered and answered, then the connection closes."""
    inst = make_instance()
    c = Local(inst)
    qid = put_message(inst)
    c.conn.send(request(qid, ["demo@example.test"], more=True))
    bad = request(qid, ["demo@example.test"])
    bad.insert(1, ("more", 7))
    c.conn.send(bad)
    r = parse_reply(c.conn.recv(), 1)
    assert r[0]["result"] == "sent", r
    with pytest.raises((EOFError, ConnectionResetError)):
        c.conn.recv()
    c.close()
    assert len(maildir_files(demo_maildir(inst))) == 1
    inst.wait_log(r"bad request: bad attribute more")


# ---- qmgr -------------------------------------------------------------------

def fake_setup(inst):
    inst.config(transport_maps="inline:{ group.test=fake: }",
                minimal_backoff_time="1h", maximal_backoff_time="1h")


class Gate:
    """Defers everything until opened; with crash_at set, closes the
    connection instead of answering the crash_at-th request it sees
    after opening."""

    def __init__(self):
        self.open = False
        self.crash_at = None
        self.seen = 0

    def __call__(self, req):
        if self.open:
            self.seen += 1
            if self.seen == self.crash_at:
                return "crash"
        res = "sent" if self.open else "defer"
        return [{"result": res, "reason": "gate " + ("open" if self.open
                                                       else "closed")}
                for _ in req["rcpts"]]


def submit_deferred(inst, n):
    """n messages to n@group.test, each deferred once; their ids."""
    ids = []
    for i in range(n):
        before = set(re.findall(rf"({QID}): from=<", inst.log()))
        smtp_send(inst, "demo@example.test", [f"r{i}@group.test"],
                  b"Subject: group\r\n\r\nbody\r\n")
        new = wait_until(lambda: set(re.findall(rf"({QID}): from=<",
                                                inst.log())) - before,
                         what="the new message")
        qid = new.pop()
        inst.wait_log(rf"{qid}: to=<r{i}@group\.test>, .*status=deferred")
        ids.append(qid)
    wait_until(lambda: all("status=deferred" in
                           inst.run("queue", "show", q).stdout for q in ids),
               what="deferrals recorded")
    return ids


def deferred_behind_gate(make_instance, group, n):
    """An instance whose fake agent takes groups of group and deferred
    n messages once, each alone; the gate is still closed."""
    inst = make_instance(setup=fake_setup)
    gate = Gate()
    agent = FakeAgent(inst, "fake", gate, group=group)
    try:
        ids = submit_deferred(inst, n)
    except BaseException:
        agent.close()
        raise
    return inst, gate, agent, ids


def test_qmgr_sends_groups_and_takes_replies_one_by_one(make_instance):
    inst, gate, agent, ids = deferred_behind_gate(make_instance, 4, 6)
    try:
        first = len(agent.requests)
        gate.open = True
        inst.run("queue", "flush")
        for q in ids:
            inst.wait_log(rf"{q}: to=<.*status=sent \(gate open\)")
        wait_until(lambda: queue_empty(inst), what="an empty queue")
        reqs = [r for _, r in agent.requests[first:]]
    finally:
        agent.close()
    # Six due at once, groups of at most four: more=1 on all but the
    # last request of each group.
    assert len(reqs) == 6
    more = [r.get("more") == "1" for r in reqs]
    assert more == [True, True, True, False, True, False], more


def test_qmgr_defers_the_rest_of_a_group_when_the_agent_dies(make_instance):
    inst, gate, agent, ids = deferred_behind_gate(make_instance, 8, 4)
    try:
        first = len(agent.requests)
        start = len(inst.log())
        gate.open = True
        gate.crash_at = 2
        inst.run("queue", "flush")
        # The first was answered; the agent died on the second: it and
        # the two after it (sent, never answered) are deferred.
        lost = inst.wait_log(r"lost connection with private/fake while "
                             r"delivering", start=start)
        assert lost
        wait_until(lambda: len(re.findall(
            r"status=deferred \(lost connection with private/fake",
            inst.log()[start:])) == 3, what="three deferrals")
        assert len(re.findall(r"status=sent \(gate open\)",
                              inst.log()[start:])) == 1
        reqs = [r for _, r in agent.requests[first:]]
        assert [r.get("more") for r in reqs[:2]] == ["1", "1"]
        # Logged when the result came; recorded in the index just after
        # (the one sent is gone from the queue).
        wait_until(lambda: sum("lost connection" in
                               inst.run("queue", "show", q,
                                        check=False).stdout
                               for q in ids) == 3,
                   what="deferrals recorded")
        # Retried: everything arrives.
        inst.run("queue", "flush")
        for q in ids:
            inst.wait_log(rf"{q}: to=<.*status=sent \(gate open\)")
        wait_until(lambda: queue_empty(inst), what="an empty queue")
    finally:
        agent.close()


def test_killed_local_mid_group_redelivers_the_whole_group(make_instance):
    """One message for a virtual user and an alias whose command is slow:
    two requests of one group. local commits both maildir copies, then
    runs the command; killed there, it never answered either request, so
    qmgr delivers both again (duplicates, never a loss)."""
    out = None

    def setup(inst):
        nonlocal out
        out = writable_dir(inst)
        build_aliases(inst, 'slow: demo, "|touch %s/started; sleep 30"\n'
                            % out)
        inst.config(minimal_backoff_time="1s", maximal_backoff_time="1s",
                    queue_run_delay="1s")
    inst = make_instance(setup=setup)
    md = demo_maildir(inst)
    # A first delivery teaches qmgr that local takes groups.
    smtp_send(inst, "sender@example.org", ["demo@example.test"],
              b"Subject: warm-up\r\n\r\nhello\r\n")
    wait_until(lambda: len(maildir_files(md)) == 1, what="warm-up delivery")
    start = len(inst.log())
    smtp_send(inst, "sender@example.org",
              ["demo@example.test", "slow@mail.example.test"],
              b"Subject: grouped\r\n\r\nhello\r\n")
    wait_until(lambda: (out / "started").exists(), what="command started")
    # Both copies are in the maildir before the command runs.
    assert len(maildir_files(md)) == 3
    build_aliases(inst, "slow: demo\n")
    # One group on the connection the warm-up left: one local process.
    pids = inst.service_pids("local")
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)
    log = inst.wait_log(r"to=<demo@example\.test>.*status=deferred \(lost "
                        r"connection", start=start)
    assert log
    inst.wait_log(r"to=<slow@mail\.example\.test>.*status=deferred \(lost "
                  r"connection", start=start)
    # The retry delivers both again.
    inst.wait_log(r"to=<demo@example\.test>.*status=sent", start=start,
                  timeout=30)
    inst.wait_log(r"to=<slow@mail\.example\.test>.*status=sent",
                  start=start, timeout=30)
    wait_until(lambda: queue_empty(inst), timeout=30, what="an empty queue")
    assert len(maildir_files(md)) == 5
    assert index_entries(md) == 5
