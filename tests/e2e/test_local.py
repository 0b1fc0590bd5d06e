# SPDX-License-Identifier: MIT
"""local: the delivery agent, driven directly over private/local.

Until qmgr schedules deliveries, these tests play qmgr: they put a message
file into spool/queue/, connect to spool/private/local, and speak the
delivery protocol (common/proto_deliver.h) through the IPC codec in ipc.py.
They check what a user would: the reply per recipient, the message in the
maildir (headers added, body byte-exact), the mailbox index, the owner of
the files.
"""
import itertools
import os
import pathlib
import pwd
import random
import signal
import subprocess
import time

import pytest

import ipc
from conftest import maildir_files as messages, wait_until

IS_ROOT = os.geteuid() == 0
BODY = (b"Received: from client (client [127.0.0.1])\n"
        b"From: Sender <sender@example.org>\n"
        b"To: someone\n"
        b"Subject: test message\n"
        b"\n"
        b"Hello,\n"
        b"\n"
        b".leading dot and trailing space \n"
        b"8-bit \xc3\xa4 text\n")
_qids = itertools.count(1)


def put_message(inst, body=BODY):
    """Queues body as a message file; returns its queue id."""
    qid = "T%06dX%04d" % (next(_qids), random.randrange(10000))
    path = inst.dir / "spool" / "queue" / qid
    path.write_bytes(body)
    return qid


def local_socket(inst):
    return inst.dir / "spool" / "private" / "local"


class Local:
    """A connection to local, greeted."""

    def __init__(self, inst):
        wait_until(lambda: local_socket(inst).exists(), what="private/local")
        self.conn = ipc.Conn(local_socket(inst))
        greeting = self.conn.recv()
        assert ipc.get(greeting, "proto") == "deliver"
        assert ipc.get(greeting, "version") == "1"

    def deliver(self, qid, rcpts, sender="sender@example.org", body=BODY):
        req = [("type", "deliver"), ("queue_id", qid),
               ("queue_file", "queue/" + qid), ("sender", sender),
               ("arrival", int(time.time())), ("size", len(body)),
               ("nexthop", "example.test"), ("nrcpt", len(rcpts))]
        for i, r in enumerate(rcpts):
            req += [("rcpt_id", "id%d" % i), ("rcpt", r), ("orcpt", ""),
                    ("notify", "")]
        return parse_reply(self.conn.call(req), len(rcpts))

    def close(self):
        self.conn.close()


def parse_reply(attrs, n):
    assert attrs[0] == ("status", "ok"), attrs
    out = []
    cur = None
    for name, value in attrs[1:]:
        if name == "rcpt_id":
            cur = {}
            out.append(cur)
        cur[name] = value
    assert len(out) == n
    for i, r in enumerate(out):
        assert r["rcpt_id"] == "id%d" % i
        assert r["relay"] == "local"
    return out


def deliver(inst, rcpts, body=BODY, sender="sender@example.org"):
    qid = put_message(inst, body)
    c = Local(inst)
    try:
        return c.deliver(qid, rcpts, sender=sender, body=body)
    finally:
        c.close()


def index_entries(maildir, table="msgs"):
    """Entries in a table of the mailbox index (mdb_stat)."""
    p = subprocess.run(["mdb_stat", "-n", "-s", table,
                        str(pathlib.Path(maildir) / "posthorn.lmdb")],
                       capture_output=True, text=True, check=True)
    for line in p.stdout.splitlines():
        if line.strip().startswith("Entries:"):
            return int(line.split()[1])
    raise AssertionError(p.stdout)


def expected(addr, sender="sender@example.org", body=BODY):
    return (b"Return-Path: <" + sender.encode() + b">\n" +
            b"Delivered-To: " + addr.encode() + b"\n" + body)


def build_aliases(inst, text):
    (inst.dir / "aliases").write_text(text)
    inst.run("map", "build", "-a", str(inst.dir / "aliases"))


def virtual_mailboxes(inst, lines):
    """Makes virtual_mailbox_maps a table of address -> maildir lines."""
    (inst.dir / "vmailbox").write_text(lines)
    inst.run("map", "build", str(inst.dir / "vmailbox"))
    inst.config(virtual_mailbox_maps="lmdb:$config_directory/vmailbox")


def demo_maildir(inst):
    return inst.dir / "mail" / "example.test" / "demo"


def writable_dir(inst):
    """A world-writable directory for files commands write (alias
    commands run as nobody when the alias table belongs to root)."""
    d = inst.dir.parent / "out"
    d.mkdir(exist_ok=True)
    os.chmod(d, 0o1777)
    return d


# ---- virtual accounts ------------------------------------------------------

def test_virtual_account_delivery(make_instance):
    inst = make_instance()
    assert inst.demo_user == "demo@example.test"
    r = deliver(inst, ["demo@example.test"])
    assert r[0]["result"] == "sent", r
    assert r[0]["dsn"] == "2.0.0"
    assert r[0]["reason"] == "delivered to maildir"
    assert r[0]["forward_to"] == ""
    md = demo_maildir(inst)
    files = messages(md)
    assert len(files) == 1 and files[0].parent.name == "new"
    assert files[0].read_bytes() == expected("demo@example.test")
    # Dovecot-style sizes in the name: S= bytes, W= CRLF bytes.
    data = files[0].read_bytes()
    assert ",S=%d," % len(data) in files[0].name
    assert ",W=%d" % (len(data) + data.count(b"\n")) in files[0].name
    assert index_entries(md) == 1
    # ENVELOPE/BODYSTRUCTURE were cached for imapd at delivery.
    assert index_entries(md, "cache") == 1
    if IS_ROOT:
        vmail = pwd.getpwnam("vmail")
        assert files[0].stat().st_uid == vmail.pw_uid
        assert (md / "posthorn.lmdb").stat().st_uid == vmail.pw_uid
        assert files[0].stat().st_mode & 0o777 == 0o600
    # Case and extension: the same mailbox, next UID.
    r = deliver(inst, ["Demo+news@EXAMPLE.test"], sender="")
    assert r[0]["result"] == "sent", r
    files = messages(md)
    assert len(files) == 2
    assert files[1].read_bytes() == expected("demo+news@example.test",
                                             sender="")
    assert index_entries(md) == 2


def test_unknown_users_bounce(make_instance):
    inst = make_instance()
    r = deliver(inst, ["nosuch@example.test", "nosuch@mail.example.test",
                       "demo@example.test"])
    assert r[0]["result"] == "bounce" and r[0]["dsn"] == "5.1.1", r
    assert "unknown user" in r[0]["reason"]
    assert r[1]["result"] == "bounce" and r[1]["dsn"] == "5.1.1", r
    assert r[2]["result"] == "sent"


def test_batch_of_many_mailboxes(make_instance):
    def setup(inst):
        virtual_mailboxes(inst, "".join(
            "u%d@example.test example.test/u%d/\n" % (i, i)
            for i in range(40)))
    inst = make_instance(setup=setup)
    rcpts = ["u%d@example.test" % i for i in range(40)]
    r = deliver(inst, rcpts)
    assert [x["result"] for x in r] == ["sent"] * 40, r
    for i in range(40):
        md = inst.dir / "mail" / "example.test" / ("u%d" % i)
        files = messages(md)
        assert len(files) == 1
        assert files[0].read_bytes() == expected("u%d@example.test" % i)
        assert index_entries(md) == 1


def test_several_requests_on_one_connection(make_instance):
    inst = make_instance()
    c = Local(inst)
    try:
        for _ in range(3):
            qid = put_message(inst)
            assert c.deliver(qid, ["demo@example.test"])[0]["result"] == \
                "sent"
    finally:
        c.close()
    assert len(messages(demo_maildir(inst))) == 3
    assert index_entries(demo_maildir(inst)) == 3


# ---- aliases ----------------------------------------------------------------

def test_alias_fan_out_and_remote_forward(make_instance):
    def setup(inst):
        build_aliases(inst, "team: demo, other@example.test,"
                            " friend@remote.test\n"
                            "ext: someone@remote.test\n")
        virtual_mailboxes(inst, "other@example.test example.test/other/\n")
    inst = make_instance(setup=setup)
    r = deliver(inst, ["team@mail.example.test", "ext@localhost"])
    assert r[0]["result"] == "forward", r
    assert r[0]["forward_to"] == "friend@remote.test"
    assert "delivered to maildir" in r[0]["reason"]
    assert r[1]["result"] == "forward", r
    assert r[1]["forward_to"] == "someone@remote.test"
    # "demo" is qualified with myorigin (example.test): the account.
    files = messages(demo_maildir(inst))
    assert len(files) == 1
    assert files[0].read_bytes() == expected("demo@example.test")
    other = messages(inst.dir / "mail" / "example.test" / "other")
    assert len(other) == 1
    assert other[0].read_bytes() == expected("other@example.test")


def test_include_file(make_instance):
    def setup(inst):
        inc = inst.dir / "list.inc"
        inc.write_text("# members\ndemo@example.test\nfar@remote.test\n")
        build_aliases(inst, "list: :include:%s\n" % inc)
    inst = make_instance(setup=setup)
    r = deliver(inst, ["list@mail.example.test"])
    assert r[0]["result"] == "forward", r
    assert r[0]["forward_to"] == "far@remote.test"
    assert len(messages(demo_maildir(inst))) == 1


def test_alias_command_allowed(make_instance):
    def setup(inst):
        out = writable_dir(inst)
        build_aliases(inst, 'pipe: "|cat > %s/piped; echo $SENDER >> '
                            '%s/piped"\n' % (out, out))
    inst = make_instance(setup=setup)
    r = deliver(inst, ["pipe@mail.example.test"])
    assert r[0]["result"] == "sent", r
    assert r[0]["reason"].startswith("delivered to command")
    piped = writable_dir(inst) / "piped"
    assert piped.read_bytes() == expected("pipe@mail.example.test") + \
        b"sender@example.org\n"
    if IS_ROOT:
        # The alias table belongs to root: the command ran as nobody.
        assert piped.stat().st_uid == pwd.getpwnam("nobody").pw_uid


def test_alias_command_refused(make_instance):
    def setup(inst):
        build_aliases(inst, 'pipe: "|cat > /dev/null"\n'
                            'mixed: demo, "|cat >/dev/null"\n')
        inst.config(allow_mail_to_commands="forward")
    inst = make_instance(setup=setup)
    r = deliver(inst, ["pipe@mail.example.test", "mixed@mail.example.test"])
    assert r[0]["result"] == "bounce", r
    assert r[0]["dsn"] == "5.7.1"
    assert "restricted" in r[0]["reason"]
    # A refused command among deliveries that worked: the recipient
    # reports the failure (a retry would duplicate, a loss is worse).
    assert r[1]["result"] == "bounce", r


def test_command_failure_codes(make_instance):
    def setup(inst):
        build_aliases(inst, 'tmp: "|exit 75"\n'
                            'perm: "|echo go away; exit 1"\n')
    inst = make_instance(setup=setup)
    r = deliver(inst, ["tmp@mail.example.test", "perm@mail.example.test"])
    assert r[0]["result"] == "defer" and r[0]["dsn"].startswith("4."), r
    assert r[1]["result"] == "bounce" and r[1]["dsn"].startswith("5."), r
    assert "go away" in r[1]["reason"]


def test_alias_loop_and_delivered_to_loop(make_instance):
    def setup(inst):
        build_aliases(inst, "a: b@localhost\nb: a@localhost\n")
    inst = make_instance(setup=setup)
    r = deliver(inst, ["a@mail.example.test"])
    assert r[0]["result"] == "bounce" and r[0]["dsn"] == "5.4.6", r
    looped = b"Delivered-To: demo@example.test\n" + BODY
    r = deliver(inst, ["demo@example.test"], body=looped)
    assert r[0]["result"] == "bounce" and r[0]["dsn"] == "5.4.6", r
    assert "mail forwarding loop" in r[0]["reason"]
    assert messages(demo_maildir(inst)) == []


def test_virtual_alias_rewriting(make_instance):
    def setup(inst):
        (inst.dir / "virtual").write_text(
            "postmaster@example.test demo@example.test\n"
            "sales@example.test demo@example.test, buyer@remote.test\n"
            "@catch.test demo@example.test\n")
        inst.run("map", "build", str(inst.dir / "virtual"))
        inst.config(virtual_mailbox_domains="example.test catch.test")
    inst = make_instance(setup=setup)
    r = deliver(inst, ["sales@example.test", "anything@catch.test"])
    assert r[0]["result"] == "forward", r
    assert r[0]["forward_to"] == "buyer@remote.test"
    assert r[1]["result"] == "sent", r
    # Both reached demo's mailbox: one copy per request.
    assert len(messages(demo_maildir(inst))) == 1


# ---- system users (root) ---------------------------------------------------

@pytest.mark.skipif(not IS_ROOT, reason="needs root to switch users")
def test_system_user_delivery(make_instance, sysuser):
    name, home, pw = sysuser("u")
    inst = make_instance()
    r = deliver(inst, [name + "@mail.example.test"])
    assert r[0]["result"] == "sent", r
    md = home / "Maildir"
    files = messages(md)
    assert len(files) == 1
    assert files[0].read_bytes() == expected(name + "@mail.example.test")
    for p in (md, md / "new", files[0], md / "posthorn.lmdb"):
        assert p.stat().st_uid == pw.pw_uid, p
    assert index_entries(md) == 1


@pytest.mark.skipif(not IS_ROOT, reason="needs root to switch users")
def test_dot_forward(make_instance, sysuser):
    name, home, pw = sysuser("f")
    out = None

    def setup(inst):
        nonlocal out
        out = writable_dir(inst)
    inst = make_instance(setup=setup)
    fwd = home / ".forward"
    fwd.write_text("\\%s, away@remote.test\n\"|cat > %s/fwd-%s\"\n"
                   % (name, out, name))
    os.chown(fwd, pw.pw_uid, pw.pw_gid)
    r = deliver(inst, [name + "@mail.example.test"])
    assert r[0]["result"] == "forward", r
    assert r[0]["forward_to"] == "away@remote.test"
    files = messages(home / "Maildir")
    assert len(files) == 1
    piped = out / ("fwd-" + name)
    assert piped.read_bytes() == expected(name + "@mail.example.test")
    # .forward commands run as the user.
    assert piped.stat().st_uid == pw.pw_uid
    # A .forward owned by someone else is ignored.
    os.chown(fwd, pwd.getpwnam("nobody").pw_uid, pw.pw_gid)
    r = deliver(inst, [name + "@mail.example.test"])
    assert r[0]["result"] == "sent", r
    assert len(messages(home / "Maildir")) == 2


@pytest.mark.skipif(not IS_ROOT, reason="needs root to switch users")
def test_mailbox_not_writable_defers(make_instance, sysuser):
    name, home, pw = sysuser("n")
    os.chown(home, 0, 0)
    os.chmod(home, 0o755)
    inst = make_instance()
    r = deliver(inst, [name + "@mail.example.test"])
    assert r[0]["result"] == "defer", r
    assert r[0]["dsn"].startswith("4.")
    assert not (home / "Maildir").exists()


# ---- crash safety -----------------------------------------------------------

def test_killed_local_means_redelivery_not_loss(make_instance):
    """A local killed before it replies leaves qmgr without a result, so
    qmgr delivers again: the copy made before the kill is durable and
    indexed, the second delivery adds another (a duplicate, never a
    loss)."""
    out = None

    def setup(inst):
        nonlocal out
        out = writable_dir(inst)
        build_aliases(inst, 'slow: demo, "|touch %s/started; sleep 5"\n'
                            % out)
    inst = make_instance(setup=setup)
    qid = put_message(inst)
    c = Local(inst)
    req_rcpts = ["slow@mail.example.test"]
    c.conn.send([("type", "deliver"), ("queue_id", qid),
                 ("queue_file", "queue/" + qid),
                 ("sender", "sender@example.org"), ("arrival", 1),
                 ("size", len(BODY)), ("nexthop", "x"), ("nrcpt", 1),
                 ("rcpt_id", "id0"), ("rcpt", req_rcpts[0]),
                 ("orcpt", ""), ("notify", "")])
    wait_until(lambda: (out / "started").exists(), what="command started")
    pids = inst.service_pids("local")
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises((EOFError, ConnectionResetError)):
        c.conn.recv()
    c.close()
    # The maildir copy was committed before the command ran.
    md = demo_maildir(inst)
    assert len(messages(md)) == 1
    assert index_entries(md) == 1
    # qmgr's retry: master has started a new local.
    build_aliases(inst, "slow: demo\n")
    c = Local(inst)
    try:
        r = c.deliver(qid, req_rcpts)
    finally:
        c.close()
    assert r[0]["result"] == "sent", r
    assert len(messages(md)) == 2
    assert index_entries(md) == 2
