# SPDX-License-Identifier: MIT
"""The queue hand-off: sendmail -> pickup -> qmgr group commit -> index.

Submits with the real sendmail, reads the queue back with mailq and
`posthorn queue list/show`, and checks durability the hard way: qmgr is
killed with SIGKILL while many sendmail processes submit at once, and
every submission sendmail reported as successful must be in the index
with its file, while restart recovery removes what was never
acknowledged.
"""
import concurrent.futures
import os
import pwd
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import SENDMAIL, BUILD, held, wait_until

MAILQ = BUILD / "sbin" / "mailq"
QID = r"[0-9A-Za-z]{15}"


@pytest.fixture
def make_instance(make_instance):
    """These tests look at the hand-off into the queue: nothing may leave
    it meanwhile."""
    return held(make_instance)


def sendmail(inst, *args, data="Subject: test\n\nhello\n", timeout=120):
    return subprocess.run([str(SENDMAIL), "-C", str(inst.dir), *args],
                          input=data, capture_output=True, text=True,
                          timeout=timeout)


def spool(inst):
    return inst.dir / "spool"


def queue_files(inst):
    return {p.name: p for p in (spool(inst) / "queue").iterdir()}


def listing(inst):
    return inst.run("queue", "list").stdout


def listed_ids(inst):
    return set(re.findall(rf"^({QID})[ !]", listing(inst), re.M))


def qmgr_pid(inst):
    pids = inst.service_pids("qmgr")
    return pids[0] if len(pids) == 1 else None


def ipc_encode(*attrs):
    out = b""
    for a in attrs:
        a = a.encode() if isinstance(a, str) else a
        out += struct.pack(">I", len(a)) + a
    return out + b"\0\0\0\0"


def ipc_read(sock):
    """Reads one attribute message; returns a list of (name, value)."""
    attrs = []
    f = sock.makefile("rb")
    while True:
        hdr = f.read(4)
        if len(hdr) < 4:
            raise EOFError
        n = struct.unpack(">I", hdr)[0]
        if n == 0:
            return attrs
        name, _, value = f.read(n).partition(b"=")
        attrs.append((name.decode(), value.decode(errors="replace")))


def test_mailq_of_an_empty_queue(instance):
    p = subprocess.run([str(MAILQ), "-C", str(instance.dir)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "Mail queue is empty"
    assert listing(instance).strip() == "Mail queue is empty"


def test_sendmail_messages_are_listed(instance):
    p = sendmail(instance, "-f", "alice@example.test", "bob@example.test",
                 "carol@example.test",
                 data="Subject: one\r\n\r\nfirst body\r\n.\r\nnot part\r\n")
    assert p.returncode == 0, p.stderr
    p = sendmail(instance, "-t", "-F", "Dave Example",
                 data="From dave Sat Nov 21 10:00:00 2026\n"
                      "To: Erin <erin@example.test>, \"Last, First\" "
                      "<frank@example.test>\nCc: grace@example.test (G)\n"
                      "Bcc: hidden@example.test\nSubject: two\n\nsecond\n")
    assert p.returncode == 0, p.stderr
    p = sendmail(instance, "-i", "-f", "", "henry",
                 data="Subject: three\n\n.\nafter a lone dot\n")
    assert p.returncode == 0, p.stderr

    wait_until(lambda: len(listed_ids(instance)) == 3, what="3 queued")
    text = listing(instance)
    files = queue_files(instance)
    assert set(files) == listed_ids(instance)
    # Each block: id, size (the queue file's), time, sender, recipients.
    blocks = {m.group(1): (int(m.group(2)), m.group(3), m.group(4))
              for m in re.finditer(rf"^({QID}) +(\d+) .{{20}} (\S+)\n"
                                   r"((?: {47}\S.*\n)+)", text, re.M)}
    assert len(blocks) == 3, text
    by_sender = {}
    for qid, (size, sender, rcpts) in blocks.items():
        assert size == files[qid].stat().st_size
        # "(reason)" lines of deferred recipients are not recipients.
        by_sender[sender] = (qid, sorted(
            ln.strip() for ln in rcpts.splitlines()
            if not ln.strip().startswith("(")))
    assert by_sender["alice@example.test"][1] == [
        "bob@example.test", "carol@example.test"]
    root = [s for s in by_sender if s.endswith("@example.test")
            and s != "alice@example.test"]
    assert len(root) == 1
    assert by_sender[root[0]][1] == [
        "erin@example.test", "frank@example.test", "grace@example.test",
        "hidden@example.test"]
    assert by_sender["MAILER-DAEMON"][1] == ["henry@example.test"]
    assert re.search(r"^-- \d+ Kbytes in 3 Requests\.$", text, re.M)

    # The stored message: LF line ends, our Received: on top, the
    # dot ended input without -i, Bcc gone, missing headers added.
    first = files[by_sender["alice@example.test"][0]].read_bytes()
    assert first.startswith(b"Received: by mail.example.test (")
    assert b"\r" not in first
    assert b"first body\n" in first and b"not part" not in first
    assert re.search(rb"^Date: ", first, re.M)
    assert re.search(rb"^Message-ID: <.+@mail\.example\.test>$", first, re.M)
    assert re.search(rb"^From: (.* <)?alice@example\.test>?$", first, re.M)
    second = files[by_sender[root[0]][0]].read_bytes()
    assert b"hidden@example.test" not in second
    assert b"From dave" not in second
    assert re.search(rb"^From: Dave Example <.+@example\.test>$", second,
                     re.M)
    third = files[by_sender["MAILER-DAEMON"][0]].read_bytes()
    assert b"\n.\nafter a lone dot\n" in third

    # Postfix-shaped log lines, one per message.
    log = instance.log()
    for qid, (size, sender, _) in blocks.items():
        s = "" if sender == "MAILER-DAEMON" else sender
        assert re.search(rf"qmgr\[\d+\]: {qid}: from=<{re.escape(s)}>, "
                         rf"size={size}, nrcpt=\d+ \(queue active\)", log)
        assert re.search(rf"pickup\[\d+\]: {qid}: uid=\d+ from=<", log)

    # queue show: envelope, then the message text.
    qid = by_sender["alice@example.test"][0]
    show = instance.run("queue", "show", qid).stdout
    assert f"queue_id: {qid}" in show
    assert "sender: <alice@example.test>" in show
    assert re.search(r"recipient: <bob@example.test> "
                     r"status=(pending|deferred)", show)
    assert show.endswith(first.decode())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_ordinary_user_can_submit(instance):
    # public/ is 0711: any local user reaches public/pickup; pickup takes
    # the uid from the socket, not from what the client says.
    p = subprocess.run(["runuser", "-u", "nobody", "--", str(SENDMAIL), "-C",
                        str(instance.dir), "bob@example.test"],
                       input="Subject: from nobody\n\nhi\n",
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    wait_until(lambda: len(listed_ids(instance)) == 1, what="queued")
    qid = listed_ids(instance).pop()
    body = queue_files(instance)[qid].read_text()
    assert f"from userid {pwd.getpwnam('nobody').pw_uid})" in body


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_ordinary_user_mailq_goes_through_showq(instance):
    # The index is mail_owner's: a user's mailq cannot read it and asks
    # the showq service, which prints the same listing.
    assert sendmail(instance, "carol@example.test").returncode == 0
    wait_until(lambda: len(listed_ids(instance)) == 1, what="queued")
    qid = listed_ids(instance).pop()
    index = spool(instance) / "index.lmdb"
    nobody = ["runuser", "-u", "nobody", "--"]
    assert subprocess.run(nobody + ["test", "-r", str(index / "data.mdb")]
                          ).returncode != 0, "index readable by anyone"
    p = subprocess.run(nobody + [str(MAILQ), "-C", str(instance.dir)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == listing(instance)
    assert re.search(rf"^{qid} ", p.stdout, re.M)
    assert "carol@example.test" in p.stdout


def test_sendmail_refuses_without_recipients(instance):
    p = sendmail(instance, data="Subject: none\n\nx\n")
    assert p.returncode == 64
    assert "No recipient addresses" in p.stderr
    p = sendmail(instance, "-t", data="Subject: none\n\nx\n")
    assert p.returncode == 64
    assert listing(instance).strip() == "Mail queue is empty"


def test_sendmail_bs_speaks_smtp(instance):
    script = ("EHLO client\r\nMAIL FROM:<ivan@example.test>\r\n"
              "RCPT TO:<judy@example.test>\r\nDATA\r\n"
              "Subject: smtp\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n")
    p = sendmail(instance, "-bs", data=script)
    assert p.returncode == 0, p.stderr
    m = re.search(rf"^250 2\.0\.0 Ok: queued as ({QID})\s*$", p.stdout, re.M)
    assert m, p.stdout
    assert p.stdout.startswith("220 ")
    assert "221 2.0.0" in p.stdout
    body = (spool(instance) / "queue" / m.group(1)).read_bytes()
    assert b"\n.leading dot\n" in body
    assert m.group(1) in listed_ids(instance)


def test_malformed_qmgr_requests_are_logged_not_fatal(instance):
    path = str(spool(instance) / "private" / "qmgr")
    pid = wait_until(lambda: qmgr_pid(instance), what="qmgr")
    bad = [
        b"\0\0\0\x04junk\0\0\0\0",  # no '=' in a record
        ipc_encode("type=commit", "queue_id=000000000000001",
                   "sender=a@b", "size=1", "arrival_us=1", "nrcpt=2",
                   "rcpt=x@y"),  # count mismatch
        ipc_encode("type=commit", "queue_id=../../../etc/x", "sender=",
                   "size=1", "arrival_us=1", "nrcpt=1", "rcpt=x@y"),
        b"\xff\xff\xff\xff" + b"x" * 100,  # absurd length
    ]
    for payload in bad:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(path)
            greet = dict(ipc_read(s))
            assert greet.get("proto") == "qmgr"
            s.sendall(payload)
            # qmgr closes without a reply.
            assert s.recv(100) == b""
    instance.wait_log(r"qmgr\[\d+\]: warning: malformed request from "
                      r"pid=\d+ uid=\d+ on qmgr: .*nrcpt=2")
    assert len(re.findall(r"malformed request from", instance.log())) >= 4

    # A well-formed commit for a file that does not exist: status=fail.
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        ipc_read(s)
        s.sendall(ipc_encode("type=commit", "queue_id=000000000000002",
                             "sender=", "size=0", "arrival_us=1",
                             "nrcpt=1", "rcpt=x@y"))
        reply = dict(ipc_read(s))
        assert reply["status"] == "fail"
        assert "incoming" in reply["reason"]

    assert qmgr_pid(instance) == pid, "qmgr restarted"
    assert sendmail(instance, "k@example.test").returncode == 0
    wait_until(lambda: len(listed_ids(instance)) == 1, what="queued")


def test_kill_qmgr_during_load_loses_nothing(make_instance):
    inst = make_instance(setup=lambda i: i.config(service_throttle_time="1s"))
    wait_until(lambda: qmgr_pid(inst), what="qmgr")
    total, workers = 600, 24
    results = {}
    stop = threading.Event()
    kills = []

    def submit(n):
        token = f"token-{n:05d}-{os.urandom(4).hex()}"
        p = sendmail(inst, "-f", f"s{n}@example.test", f"r{n}@example.test",
                     data=f"Subject: {token}\n\n{token}\n")
        results[token] = p.returncode

    def killer():
        while not stop.is_set() and len(kills) < 5:
            time.sleep(0.3)
            pid = qmgr_pid(inst)
            if pid:
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)

    k = threading.Thread(target=killer)
    k.start()
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        list(ex.map(submit, range(total)))
    stop.set()
    k.join()
    assert kills, "qmgr was never killed"
    ok = {t for t, rc in results.items() if rc == 0}
    assert all(rc in (0, 75) for rc in results.values()), results
    assert len(ok) > total // 2, f"only {len(ok)} of {total} succeeded"

    # One more restart so recovery runs over whatever the last kill left.
    wait_until(lambda: qmgr_pid(inst), what="qmgr back")
    os.kill(qmgr_pid(inst), signal.SIGKILL)
    wait_until(lambda: qmgr_pid(inst), timeout=20, what="qmgr back again")
    # Recovery has run once the new qmgr answers a commit.
    assert sendmail(inst, "last@example.test").returncode == 0

    files = queue_files(inst)
    ids = listed_ids(inst)
    assert set(files) == ids, "queue/ and the index disagree after recovery"
    found = {}
    for qid, path in files.items():
        m = re.search(rb"token-\d{5}-[0-9a-f]{8}", path.read_bytes())
        if m:
            found.setdefault(m.group().decode(), []).append(qid)
    lost = ok - set(found)
    assert not lost, f"{len(lost)} acknowledged submissions lost"
    dups = sum(len(v) - 1 for v in found.values())
    print(f"\n{len(ok)}/{total} acknowledged, {len(kills)} kills, "
          f"{len(found) - len(ok & set(found))} unacknowledged but queued, "
          f"{dups} duplicates")


def test_restart_recovery_cleans_orphans(instance):
    assert sendmail(instance, "keep@example.test").returncode == 0
    assert sendmail(instance, "gone@example.test").returncode == 0
    wait_until(lambda: len(listed_ids(instance)) == 2, what="2 queued")
    files = queue_files(instance)
    text = listing(instance)
    gone = next(q for q in files
                if re.search(rf"^{q}.*\n(?: +\(.*\n)?.*gone@", text, re.M))
    keep = next(q for q in files if q != gone)
    # An index entry whose file vanished, a queue file nobody committed,
    # an old and a fresh uncommitted incoming file, a foreign name.
    files[gone].unlink()
    orphan = spool(instance) / "queue" / "000000000000ABC"
    orphan.write_text("Subject: never acknowledged\n\n")
    stale = spool(instance) / "incoming" / "000000000000DEF"
    stale.write_text("half a message")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = spool(instance) / "incoming" / "000000000000FED"
    fresh.write_text("being written")
    foreign = spool(instance) / "queue" / "README"
    foreign.write_text("not ours")
    if os.geteuid() == 0:
        import pwd
        owner = pwd.getpwnam("posthorn")
        for p in (orphan, stale, fresh, foreign):
            os.chown(p, owner.pw_uid, owner.pw_gid)

    os.kill(qmgr_pid(instance), signal.SIGKILL)
    instance.wait_log(r"000000000000ABC: removed: queue file without index",
                      timeout=20)
    instance.wait_log(rf"{gone}: queue file missing; index entry removed")
    instance.wait_log(r"000000000000DEF: removed: incoming file older")
    instance.wait_log(r"queue/README: not a queue file; left alone")
    assert not orphan.exists() and not stale.exists()
    assert fresh.exists() and foreign.exists()
    assert listed_ids(instance) == {keep}
