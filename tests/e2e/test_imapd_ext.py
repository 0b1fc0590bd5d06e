# SPDX-License-Identifier: MIT
"""imapd extensions: IDLE, UIDPLUS, MOVE, UNSELECT, SPECIAL-USE (with
CREATE-SPECIAL-USE), CHILDREN; the other ones (NAMESPACE, LITERAL+, ENABLE,
ID) are in test_imapd.py."""
import re
import select
import time

import pytest

from imap_helpers import Raw, imap_instance, login

MSG = b"From: a@example.org\r\nSubject: s%d\r\n\r\nbody %d\r\n"


def msg(i):
    return MSG.replace(b"%d", str(i).encode())


@pytest.fixture
def inst(make_instance):
    return imap_instance(make_instance)


def read_until(r, pred, timeout=10):
    """Untagged lines read without sending anything, until pred(line)."""
    got = []
    deadline = time.monotonic() + timeout
    r.sock.settimeout(timeout)
    while time.monotonic() < deadline:
        ln = r.response_line()
        got.append(ln)
        if pred(ln):
            return got
    raise AssertionError("not seen: %r" % got)


def test_idle_pushes_new_mail_flags_and_expunges(inst):
    other = login(inst)
    for i in range(2):
        other.append("INBOX", None, None, msg(i))
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    r.cmd("SELECT INBOX")
    r.send("i1 IDLE\r\n")
    assert r.line().startswith(b"+ ")
    # New mail: EXISTS and RECENT without any command from us.
    other.append("INBOX", None, None, msg(3))
    got = read_until(r, lambda ln: ln == b"* 3 EXISTS")
    other.select("INBOX")
    other.store("1", "+FLAGS", "(\\Flagged)")
    read_until(r, lambda ln: re.match(rb"\* 1 FETCH \(UID 1 FLAGS "
                                      rb"\(\\Flagged", ln) is not None)
    other.store("2", "+FLAGS", "(\\Deleted)")
    other.expunge()
    read_until(r, lambda ln: ln == b"* 2 EXPUNGE")
    r.send("DONE\r\n")
    st, un = r.wait("i1")
    assert st.startswith(b"OK")
    st, un = r.cmd("FETCH 1:* UID")
    assert len(un) == 2
    r.close()
    other.logout()


def test_idle_not_selected_and_bad_end(inst):
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    r.send("i1 IDLE\r\n")
    assert r.line().startswith(b"+ ")
    r.send("done\r\n")
    st, _ = r.wait("i1")
    assert st.startswith(b"OK")
    r.send("i2 IDLE\r\n")
    assert r.line().startswith(b"+ ")
    r.send("NOOP\r\n")
    st, _ = r.wait("i2")
    assert st.startswith(b"BAD")
    st, _ = r.cmd("NOOP")
    assert st.startswith(b"OK")
    r.close()


def test_uidplus_appenduid_copyuid_uid_expunge(inst):
    m = login(inst)
    uids = []
    for i in range(5):
        typ, data = m.append("INBOX", None, None, msg(i))
        v, u = re.match(rb"\[APPENDUID (\d+) (\d+)\]", data[0]).groups()
        uids.append(int(u))
    assert uids == [1, 2, 3, 4, 5]
    m.select("INBOX")
    m.create("Dest")
    typ, data = m.uid("COPY", "2,4:5", "Dest")
    assert typ == "OK"
    code = m.response("COPYUID")[1][-1]
    v, src, dst = re.match(rb"(\d+) (\S+) (\S+)", code).groups()
    assert (src, dst) == (b"2,4:5", b"1:3")
    assert m.status("Dest", "(UIDVALIDITY)")[1][0].endswith(
        b"(UIDVALIDITY %s)" % v)
    # UID EXPUNGE removes only the \Deleted messages in its set.
    m.store("1:3", "+FLAGS", "(\\Deleted)")
    typ, data = m.uid("EXPUNGE", "2:3")
    assert typ == "OK"
    assert m.response("EXPUNGE")[1] == [b"2", b"2"]
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
    assert [re.search(rb"UID (\d+)", d).group(1) for d in data] == \
        [b"1", b"4", b"5"]
    m.logout()


def test_move(inst):
    m = login(inst)
    for i in range(4):
        m.append("INBOX", None, None, msg(i))
    m.select("INBOX")
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    r.cmd("SELECT INBOX")
    st, un = r.cmd("MOVE 2:3 Trash")
    assert st.startswith(b"OK"), st
    assert re.match(rb"\* OK \[COPYUID \d+ 2:3 1:2\]", un[0]), un
    assert un[1:] == [b"* 2 EXPUNGE", b"* 2 EXPUNGE"]
    st, un = r.cmd("UID MOVE 4 Trash")
    assert re.match(rb"\* OK \[COPYUID \d+ 4 3\]", un[0]), un
    assert un[1:] == [b"* 2 EXPUNGE"]
    st, un = r.cmd("MOVE 1 Nope")
    assert st.startswith(b"NO [TRYCREATE]")
    assert m.select("Trash")[1] == [b"3"]
    typ, data = m.fetch("1:*", "BODY.PEEK[TEXT]")
    assert [d[1] for d in data if isinstance(d, tuple)] == \
        [b"body 1\r\n", b"body 2\r\n", b"body 3\r\n"]
    # The other session hears of the moves as expunges.
    m.select("INBOX")
    assert m.response("EXISTS")[1][-1] == b"1"
    r.close()
    m.logout()


def test_unselect_keeps_deleted(inst):
    m = login(inst)
    m.append("INBOX", "(\\Deleted)", None, msg(1))
    m.select("INBOX")
    assert m.unselect()[0] == "OK"
    assert m.select("INBOX")[1] == [b"1"]
    m.logout()


def test_special_use_and_children(inst):
    m = login(inst)
    typ, data = m.list('""', "%")
    lines = {d.decode() for d in data}
    for name, attr in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"),
                       ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                       ("Archive", "\\Archive")):
        assert '(\\HasNoChildren %s) "/" "%s"' % (attr, name) in lines
    # CREATE-SPECIAL-USE (RFC 6154 3).
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    st, _ = r.cmd("CREATE Everything (USE (\\All))")
    assert st.startswith(b"OK")
    st, _ = r.cmd("CREATE Odd (USE (\\Bogus))")
    assert st.startswith(b"NO [USEATTR]")
    st, un = r.cmd('LIST "" Everything')
    assert un == [b'* LIST (\\HasNoChildren \\All) "/" "Everything"']
    # CHILDREN
    r.cmd("CREATE Sent/2024")
    st, un = r.cmd('LIST "" Sent')
    assert un == [b'* LIST (\\HasChildren \\Sent) "/" "Sent"']
    r.close()
    # The folders are made once: deleted, they stay deleted.
    m.delete("Junk")
    m.logout()
    m = login(inst)
    assert m.list('""', "Junk")[1] == [None]
    m.logout()


def test_condstore(inst):
    m = login(inst)
    for i in range(3):
        m.append("INBOX", None, None, msg(i))
    m.logout()
    r = Raw(inst.ports["imap"])
    assert b"CONDSTORE" in r.greeting
    r.login(inst.demo_user, inst.demo_password)
    st, un = r.cmd("SELECT INBOX (CONDSTORE)")
    assert st.startswith(b"OK")
    hms = int(re.search(rb"\[HIGHESTMODSEQ (\d+)\]", b"\n".join(un)).group(1))
    st, un = r.cmd("FETCH 1:* (MODSEQ)")
    modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", u).group(1)) for u in un]
    assert len(modseqs) == 3 and max(modseqs) <= hms
    # A change, then only it comes back with CHANGEDSINCE.
    st, un = r.cmd("STORE 2 +FLAGS (\\Flagged)")
    m2 = int(re.search(rb"MODSEQ \((\d+)\)", un[0]).group(1))
    assert m2 > hms and b"UID 2" in un[0]
    st, un = r.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % hms)
    assert len(un) == 1 and un[0].startswith(b"* 2 FETCH")
    assert b"MODSEQ (%d)" % m2 in un[0]
    # UNCHANGEDSINCE: message 2 changed after hms, 3 did not.
    st, un = r.cmd("STORE 2:3 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % hms)
    assert st.startswith(b"OK [MODIFIED 2]"), st
    assert len(un) == 1 and un[0].startswith(b"* 3 FETCH")
    st, un = r.cmd("UID SEARCH MODSEQ %d" % hms)
    assert re.match(rb"\* SEARCH 2 3 \(MODSEQ \d+\)", un[0]), un
    st, un = r.cmd("STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
    assert re.match(rb'\* STATUS "?INBOX"? \(HIGHESTMODSEQ \d+ MESSAGES '
                    rb'3\)', un[0]), un
    # Another session's change arrives with MODSEQ.
    o = login(inst)
    o.select("INBOX")
    o.store("1", "+FLAGS", "(\\Answered)")
    st, un = r.cmd("NOOP")
    assert re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Answered \\Recent\) MODSEQ "
                    rb"\(\d+\)\)", un[0]), un
    o.logout()
    r.close()
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    st, un = r.cmd("ENABLE CONDSTORE")
    assert un == [b"* ENABLED CONDSTORE"]
    st, un = r.cmd("ENABLE CONDSTORE")
    assert un == [b"* ENABLED"]
    st, un = r.cmd("SELECT INBOX (BOGUS)")
    assert st.startswith(b"BAD")
    r.close()


def test_selected_folder_deleted_by_another_session(inst):
    m = login(inst)
    m.create("Gone")
    m.append("Gone", None, None, msg(1))
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    r.cmd("SELECT Gone")
    m.delete("Gone")
    r.send("x NOOP\r\n")
    assert r.line() == b"* BYE Selected mailbox is no longer available."
    r.close()
    m.logout()


def test_qresync(inst):
    m = login(inst)
    for i in range(1, 6):
        m.append("INBOX", None, None, msg(i))
    r = Raw(inst.ports["imap"])
    assert b"QRESYNC" in r.greeting
    r.login(inst.demo_user, inst.demo_password)
    st, un = r.cmd("SELECT INBOX (QRESYNC (1 1))")
    assert st.startswith(b"BAD")  # not enabled yet
    st, un = r.cmd("ENABLE QRESYNC")
    assert un == [b"* ENABLED QRESYNC"]
    st, un = r.cmd("SELECT INBOX")
    text = b"\n".join(un)
    uv = int(re.search(rb"UIDVALIDITY (\d+)", text).group(1))
    hms = int(re.search(rb"HIGHESTMODSEQ (\d+)", text).group(1))
    st, un = r.cmd("UNSELECT")
    # Meanwhile: 2 expunged, 4 flagged, 6 arrives.
    m.select("INBOX")
    m.store("2", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.store("3", "+FLAGS", "(\\Flagged)")  # UID 4 now has number 3
    m.append("INBOX", None, None, msg(6))
    st, un = r.cmd("SELECT INBOX (QRESYNC (%d %d 1:5))" % (uv, hms))
    assert st.startswith(b"OK"), st
    assert b"* VANISHED (EARLIER) 2" in un
    fetches = [u for u in un if b" FETCH " in u]
    assert len(fetches) == 1 and fetches[0].startswith(b"* 3 FETCH (UID 4")
    assert b"MODSEQ" in fetches[0]
    # A wrong UIDVALIDITY: no resync data, a plain SELECT.
    st, un = r.cmd("SELECT INBOX (QRESYNC (%d %d))" % (uv + 1, hms))
    assert un[0] == b"* OK [CLOSED] Previous mailbox closed."
    assert not any(b"VANISHED" in u for u in un)
    # UID FETCH (CHANGEDSINCE n VANISHED)
    st, un = r.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hms)
    assert un[0] == b"* VANISHED (EARLIER) 2", un
    assert [u.split(b"UID ")[1].split()[0] for u in un[1:]] == [b"4", b"6"]
    # Expunges are now VANISHED, not EXPUNGE.
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    st, un = r.cmd("NOOP")
    assert b"* VANISHED 1" in un and not any(b"EXPUNGE" in u for u in un)
    st, un = r.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert st.startswith(b"BAD")  # VANISHED only with UID FETCH
    r.close()
    m.logout()
