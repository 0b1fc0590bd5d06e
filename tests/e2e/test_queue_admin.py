# SPDX-License-Identifier: MIT
"""Queue administration through qmgr: posthorn queue flush, hold, release,
delete, requeue (one id, several, or ALL), and mailq's listing of them.

Mail waits in the queue because a delivery agent played by the test
(fake_agent.py) defers it until the test lets it through; the backoff is
an hour, so only an administrator's command moves it.
"""
import re
import subprocess

from conftest import BUILD, wait_until
from fake_agent import FakeAgent
from test_delivery import queue_empty, sendmail

QID = r"[0-9A-Za-z]{15}"
MAILQ = BUILD / "sbin" / "mailq"


def configure(inst):
    inst.config(transport_maps="inline:{ slow.test=fake: }",
                minimal_backoff_time="1h", maximal_backoff_time="1h")


class Gate:
    """Defers everything until opened."""

    def __init__(self):
        self.open = False

    def __call__(self, req):
        res = "sent" if self.open else "defer"
        return [{"result": res, "reason": "gate " + ("open" if self.open
                                                       else "closed")}
                for _ in req["rcpts"]]


def submit(inst, rcpt):
    """Submits a message and waits until it was deferred once; returns
    its queue id."""
    before = set(re.findall(rf"({QID}): from=<", inst.log()))
    sendmail(inst, "-f", "demo@example.test", rcpt)
    qid = wait_until(lambda: (set(re.findall(rf"({QID}): from=<",
                                             inst.log())) - before),
                     what="the new message")
    qid = qid.pop()
    inst.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, .*status=deferred")
    # Logged when the result came; recorded in the index just after.
    wait_until(lambda: "status=deferred" in
               inst.run("queue", "show", qid).stdout,
               what=f"{qid} recorded as deferred")
    return qid


def listing(inst):
    return inst.run("queue", "list").stdout


def admin(inst, *args, check=True):
    return inst.run("queue", *args, check=check)


def test_hold_release_flush(make_instance):
    inst = make_instance(setup=configure)
    gate = Gate()
    agent = FakeAgent(inst, "fake", gate)
    try:
        a = submit(inst, "a@slow.test")
        b = submit(inst, "b@slow.test")
        c = submit(inst, "c@slow.test")
        assert admin(inst, "hold", a).stdout.strip() == \
            "Placed on hold: 1 message"
        assert re.search(rf"^{a}!", listing(inst), re.M)
        inst.wait_log(rf"{a}: placed on hold")
        # mailq prints the same listing.
        p = subprocess.run([str(MAILQ), "-C", str(inst.dir)],
                           capture_output=True, text=True)
        assert p.stdout == listing(inst)

        gate.open = True
        assert admin(inst, "flush").stdout.strip() == "Flushed: 2 messages"
        for q in (b, c):
            inst.wait_log(rf"{q}: to=<.*status=sent \(gate open\)")
            inst.wait_log(rf"{q}: removed")
        ids = set(re.findall(rf"^({QID})", listing(inst), re.M))
        assert ids == {a}, "a held message stays put on flush"

        assert admin(inst, "release", a).stdout.strip() == "Released: 1 message"
        inst.wait_log(rf"{a}: released from hold")
        inst.wait_log(rf"{a}: to=<a@slow\.test>, .*status=sent")
        wait_until(lambda: queue_empty(inst), what="an empty queue")
    finally:
        agent.close()


def test_delete_one_several_and_all(make_instance):
    inst = make_instance(setup=configure)
    agent = FakeAgent(inst, "fake", Gate())
    try:
        ids = [submit(inst, f"d{i}@slow.test") for i in range(5)]
        assert admin(inst, "delete", ids[0]).stdout.strip() == \
            "Deleted: 1 message"
        inst.wait_log(rf"{ids[0]}: removed")
        assert not (inst.dir / "spool" / "queue" / ids[0]).exists()
        p = admin(inst, "delete", ids[0], check=False)
        assert p.returncode == 1 and "no such message" in p.stderr
        assert admin(inst, "delete", ids[1], ids[2]).stdout.strip() == \
            "Deleted: 2 messages"
        assert admin(inst, "delete", "ALL").stdout.strip() == \
            "Deleted: 2 messages"
        assert queue_empty(inst)
        assert list((inst.dir / "spool" / "queue").iterdir()) == []
        p = admin(inst, "delete", "not-an-id", check=False)
        assert p.returncode == 1 and "not a queue id" in p.stderr
    finally:
        agent.close()


def test_hold_all_release_all_requeue(make_instance):
    inst = make_instance(setup=configure)
    gate = Gate()
    agent = FakeAgent(inst, "fake", gate)
    try:
        ids = [submit(inst, f"h{i}@slow.test") for i in range(3)]
        assert admin(inst, "hold", "ALL").stdout.strip() == \
            "Placed on hold: 3 messages"
        assert len(re.findall(rf"^{QID}!", listing(inst), re.M)) == 3
        assert admin(inst, "release", "ALL").stdout.strip() == \
            "Released: 3 messages"
        # Released messages are due at once: tried again (still closed).
        for q in ids:
            wait_until(lambda: len(re.findall(
                rf"{q}: to=<.*status=deferred", inst.log())) == 2,
                what=f"{q} retried after release")
        wait_until(lambda: "attempts=2" in
                   inst.run("queue", "show", ids[0]).stdout,
                   what="the second attempt recorded")
        n = len(agent.times())
        assert admin(inst, "requeue", ids[0]).stdout.strip() == \
            "Requeued: 1 message"
        inst.wait_log(rf"{ids[0]}: requeued")
        wait_until(lambda: len(agent.times()) > n, what="a retry")
        wait_until(lambda: "attempts=1" in
                   inst.run("queue", "show", ids[0]).stdout,
                   what="attempts counted from zero again")
        gate.open = True
        admin(inst, "flush")
        wait_until(lambda: queue_empty(inst), what="an empty queue")
    finally:
        agent.close()
