# SPDX-License-Identifier: MIT
"""imapd end to end: every IMAP4rev1 command in its states, with imaplib
(and a raw socket where imaplib cannot go)."""
import base64
import imaplib
import os
import pathlib
import re
import time

import pytest

from conftest import wait_until
from imap_helpers import (Raw, add_user, fetch_items, imap_instance, login,
                          parse_sexp, tls_context)

MSG = (b"From: Alice <alice@example.org>\r\n"
       b"To: bob@example.net\r\n"
       b"Subject: hello %d\r\n"
       b"Date: Tue, 02 Jan 2024 10:00:00 +0100\r\n"
       b"\r\n"
       b"Body of message %d.\r\n")


def msg(i):
    return MSG.replace(b"%d", str(i).encode())


@pytest.fixture
def inst(make_instance):
    return imap_instance(make_instance)


def test_greeting_capability_noop_logout(inst):
    m = imaplib.IMAP4("127.0.0.1", inst.ports["imap"])
    assert b"[CAPABILITY IMAP4rev1" in m.welcome
    caps = m.capabilities
    for c in ("IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE",
              "LITERAL+", "SPECIAL-USE", "ENABLE", "ID", "UNSELECT",
              "CHILDREN", "STARTTLS", "AUTH=PLAIN", "SASL-IR"):
        assert c in caps, c
    assert m.noop()[0] == "OK"
    typ, data = m.logout()
    assert typ == "BYE"
    log = inst.wait_log(r"disconnect from unknown\[127.0.0.1\]")
    assert log


def test_logindisabled_before_starttls(make_instance):
    inst = make_instance()  # the default: imapd_tls_auth_only = yes
    m = imaplib.IMAP4("127.0.0.1", inst.ports["imap"])
    assert "LOGINDISABLED" in m.capabilities
    assert not any(c.startswith("AUTH=") for c in m.capabilities)
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        m.login(inst.demo_user, inst.demo_password)
    m.starttls(tls_context())
    assert "LOGINDISABLED" not in m.capabilities
    assert "STARTTLS" not in m.capabilities
    assert "AUTH=PLAIN" in m.capabilities
    typ, data = m.login(inst.demo_user, inst.demo_password)
    assert typ == "OK"
    assert m.select()[0] == "OK"
    m.logout()
    inst.wait_log(r"login: user=<demo@example.test>, method=LOGIN, "
                  r"rip=127.0.0.1, lip=127.0.0.1, TLS")
    inst.wait_log(r"logout: user=<demo@example.test>, in=\d+, out=\d+")


def test_starttls_discards_pipelined_plaintext(make_instance):
    inst = make_instance()
    r = Raw(inst.ports["imap"])
    # The injected command must not run after the handshake.
    r.send("a STARTTLS\r\nb LOGIN x y\r\n")
    assert r.line().startswith(b"a OK")
    r.sock = tls_context().wrap_socket(r.sock)
    st, _ = r.cmd("CAPABILITY")
    assert st.startswith(b"OK")
    inst.wait_log(r"plaintext pipelined after STARTTLS discarded")


def test_imaps(make_instance):
    inst = make_instance()
    m = imaplib.IMAP4_SSL("127.0.0.1", inst.ports["imaps"],
                          ssl_context=tls_context())
    assert "LOGINDISABLED" not in m.capabilities
    assert "STARTTLS" not in m.capabilities
    m.login(inst.demo_user, inst.demo_password)
    assert m.select("INBOX")[0] == "OK"
    m.logout()


def test_authenticate_plain_and_sasl_ir(inst):
    cred = ("\0%s\0%s" % (inst.demo_user, inst.demo_password)).encode()
    m = imaplib.IMAP4("127.0.0.1", inst.ports["imap"])
    typ, _ = m.authenticate("PLAIN", lambda challenge: cred)
    assert typ == "OK"
    m.logout()
    # SASL-IR: the initial response on the command line.
    r = Raw(inst.ports["imap"])
    st, _ = r.cmd("AUTHENTICATE PLAIN " + base64.b64encode(cred).decode())
    assert st.startswith(b"OK [CAPABILITY"), st
    r.close()
    # Cancelled, wrong, malformed.
    r = Raw(inst.ports["imap"])
    r.send("a AUTHENTICATE PLAIN\r\n")
    assert r.line() == b"+ "
    r.send("*\r\n")
    assert r.line().startswith(b"a BAD")
    bad = base64.b64encode(b"\0demo@example.test\0wrong").decode()
    st, _ = r.cmd("AUTHENTICATE PLAIN " + bad)
    assert st.startswith(b"NO [AUTHENTICATIONFAILED]")
    st, _ = r.cmd("AUTHENTICATE PLAIN !!!notbase64")
    assert st.startswith(b"BAD")
    st, _ = r.cmd("AUTHENTICATE X-UNKNOWN")
    assert st.startswith(b"NO")
    r.close()
    inst.wait_log(r"authentication failed: user=<.*>, method=PLAIN")
    inst.wait_log(r"login: user=<demo@example.test>, method=PLAIN")


def test_login_failures_and_states(inst):
    r = Raw(inst.ports["imap"])
    st, _ = r.cmd('LOGIN demo@example.test "nope"')
    assert st.startswith(b"NO [AUTHENTICATIONFAILED]")
    st, _ = r.cmd('LOGIN nobody@example.test "nope"')
    assert st.startswith(b"NO [AUTHENTICATIONFAILED]")
    # Commands of later states are refused before login.
    for c in ("SELECT INBOX", "LIST \"\" *", "FETCH 1 FLAGS", "CLOSE",
              "IDLE", "ENABLE CONDSTORE", "APPEND INBOX {1+}\r\nx"):
        st, _ = r.cmd(c)
        assert st.startswith(b"BAD"), (c, st)
    r.login(inst.demo_user, inst.demo_password)
    for c in ("LOGIN a b", "AUTHENTICATE PLAIN", "STARTTLS"):
        st, _ = r.cmd(c)
        assert st.startswith(b"BAD"), (c, st)
    for c in ("FETCH 1 FLAGS", "STORE 1 FLAGS ()", "EXPUNGE", "CLOSE",
              "CHECK", "SEARCH ALL", "COPY 1 INBOX", "UID FETCH 1 UID"):
        st, _ = r.cmd(c)
        assert st.startswith(b"BAD"), (c, st)
    st, _ = r.cmd("BOGUS")
    assert st.startswith(b"BAD")
    st, _ = r.cmd("UID NOOP")
    assert st.startswith(b"BAD")
    r.close()


def test_select_examine_and_recent(inst):
    m = login(inst)
    for i in range(3):
        m.append("INBOX", None, None, msg(i))
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    st, un = r.cmd("EXAMINE INBOX")
    assert st.startswith(b"OK [READ-ONLY]")
    text = b"\n".join(un)
    assert b"* 3 EXISTS" in text
    assert b"* 3 RECENT" in text  # nobody claimed them yet
    assert re.search(rb"OK \[UIDVALIDITY \d+\]", text)
    assert b"OK [UIDNEXT 4]" in text
    assert b"OK [UNSEEN 1]" in text
    assert b"OK [PERMANENTFLAGS ()]" in text
    assert re.search(rb"\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen "
                     rb"\\Draft", text)
    st, _ = r.cmd("STORE 1 +FLAGS (\\Seen)")
    assert st.startswith(b"NO [READ-ONLY]")
    # SELECT claims \Recent; a second session does not see it any more.
    st, un = r.cmd("SELECT inbox")
    assert st.startswith(b"OK [READ-WRITE]")
    assert b"* 3 RECENT" in b"\n".join(un)
    assert b"PERMANENTFLAGS (\\Answered" in b"\n".join(un)
    st, un = r.cmd("FETCH 1 FLAGS")
    assert b"\\Recent" in un[0]
    typ, data = m.select("INBOX")
    assert data == [b"3"]
    assert m.response("RECENT")[1] == [b"0"]
    st, _ = r.cmd("SELECT nosuch")
    assert st.startswith(b"NO [NONEXISTENT]")
    # A failed SELECT leaves no folder selected.
    st, _ = r.cmd("FETCH 1 FLAGS")
    assert st.startswith(b"BAD")
    r.close()
    m.logout()


def test_create_delete_rename_hierarchy(inst):
    m = login(inst)
    assert m.create("Work/Projects/2024")[0] == "OK"
    # Maildir++ needs no superiors: they show as \Noselect.
    names = [ln.decode() for ln in m.list('""', "Work*")[1]]
    assert '(\\Noselect \\HasChildren) "/" "Work"' in names
    assert '(\\Noselect \\HasChildren) "/" "Work/Projects"' in names
    assert '(\\HasNoChildren) "/" "Work/Projects/2024"' in names
    assert m.select("Work")[0] == "NO"
    assert m.create("Work")[0] == "OK"
    assert m.list('""', "Work")[1] == [b'(\\HasChildren) "/" "Work"']
    assert m.create("Work")[0] == "NO"
    assert m.create("INBOX")[0] == "NO"
    assert m.create("Trailing/")[0] == "OK"
    assert m.list('""', "Trailing")[1] == [b'(\\HasNoChildren) "/" '
                                           b'"Trailing"']
    assert m.create("bad.name")[0] == "NO"
    assert m.create("&Jjo-")[0] == "OK"  # modified UTF-7: U+263A
    assert m.create("&AGE-")[0] == "NO"  # not canonical
    # RENAME moves the hierarchy, keeps subscriptions with it.
    m.subscribe("Work/Projects/2024")
    m.append("Work/Projects/2024", None, None, msg(1))
    assert m.rename("Work", "Job")[0] == "OK"
    names = [ln.decode() for ln in m.list('""', "*")[1]]
    assert '(\\HasNoChildren) "/" "Job/Projects/2024"' in names
    assert not any('"Work' in n for n in names)
    assert m.lsub('""', "Job/*")[1] == [b'() "/" "Job/Projects/2024"']
    assert m.select("Job/Projects/2024")[1] == [b"1"]
    m.close()
    assert m.rename("Job", "Job/Sub")[0] == "NO"
    assert m.rename("Nope", "X")[0] == "NO"
    assert m.rename("Job", "Trailing")[0] == "NO"  # target exists
    # DELETE of a parent leaves the children, the parent \Noselect.
    assert m.delete("Job")[0] == "OK"
    names = [ln.decode() for ln in m.list('""', "Job*")[1]]
    assert '(\\Noselect \\HasChildren) "/" "Job"' in names
    assert m.delete("Job")[0] == "NO"
    assert m.delete("INBOX")[0] == "NO"
    assert m.delete("Nope")[0] == "NO"
    # RENAME INBOX: its messages move, INBOX stays and is empty.
    m.append("INBOX", None, None, msg(2))
    m.append("INBOX", None, None, msg(3))
    assert m.rename("INBOX", "Old-Inbox")[0] == "OK"
    assert m.select("INBOX")[1] == [b"0"]
    assert m.select("Old-Inbox")[1] == [b"2"]
    m.logout()


def test_list_lsub_wildcards(inst):
    m = login(inst)
    for f in ("a", "a/b", "a/b/c", "b", "inbox/x"):
        assert m.create(f)[0] == "OK", f
    # a/b/c without a/b: make the hole with DELETE.
    def names(pat, ref='""', cmd="list"):
        typ, data = getattr(m, cmd)(ref, pat)
        assert typ == "OK"
        return [re.sub(rb'^\([^)]*\) "/" ', b"", d).decode().strip('"')
                for d in data if d]
    assert names("%") == ["INBOX", "Archive", "Drafts", "Junk", "Sent",
                          "Trash", "a", "b"]
    assert names("*")[0] == "INBOX" and "INBOX/x" in names("*")
    assert names("a/%") == ["a/b"]
    assert names("a/*") == ["a/b", "a/b/c"]
    assert names("%", ref="a/") == ["a/b"]
    assert names("Inbox") == ["INBOX"]
    assert names("iNbOx/%") == ["INBOX/x"]
    assert names("nomatch*") == []
    typ, data = m.list('""', '""')
    assert data == [b'(\\Noselect) "/" ""']
    # Special-use folders of a new account.
    typ, data = m.list('""', "Sent")
    assert data == [b'(\\HasNoChildren \\Sent) "/" "Sent"']
    # LSUB: the special-use folders were subscribed at first login.
    assert set(names("*", cmd="lsub")) == {"Archive", "Drafts", "Junk",
                                           "Sent", "Trash"}
    m.subscribe("a/b/c")
    m.unsubscribe("Junk")
    assert "Junk" not in names("*", cmd="lsub")
    # "%": a/b/c is subscribed, a is not: a is returned \Noselect.
    typ, data = m.lsub('""', "%")
    assert b'(\\Noselect) "/" "a"' in data
    assert names("a/*", cmd="lsub") == ["a/b/c"]
    m.logout()


def test_status(inst):
    m = login(inst)
    m.create("S")
    for i in range(3):
        m.append("S", "(\\Seen)" if i == 0 else None, None, msg(i))
    typ, data = m.status("S", "(MESSAGES RECENT UIDNEXT UIDVALIDITY "
                              "UNSEEN)")
    assert typ == "OK"
    d = data[0].decode()
    assert re.match(r'"?S"? \(MESSAGES 3 RECENT 3 UIDNEXT 4 UIDVALIDITY \d+ '
                    r'UNSEEN 2\)', d), d
    assert m.status("Nope", "(MESSAGES)")[0] == "NO"
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        m.status("S", "(BOGUS)")
    m.logout()


def test_append_flags_date_and_literals(inst):
    m = login(inst)
    date = imaplib.Time2Internaldate(time.mktime((2001, 2, 3, 4, 5, 6, 0, 0,
                                                  -1)))
    typ, data = m.append("INBOX", "(\\Seen \\Flagged $Forwarded MyKeyword)",
                         date, msg(1))
    assert typ == "OK"
    assert re.match(rb"\[APPENDUID \d+ 1\]", data[0])
    assert m.append("Nope", None, None, msg(1))[1][0].startswith(
        b"[TRYCREATE]")
    m.select("INBOX")
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE BODY[])")
    seq, it = fetch_items(data[0][0] + b"\r\n" + data[0][1] + data[1])
    assert set(it["FLAGS"]) == {"\\Seen", "\\Flagged", "$Forwarded",
                                "MyKeyword", "\\Recent"}
    assert it["BODY[]"] == msg(1)
    assert it["RFC822.SIZE"] == len(msg(1))
    # date-day-fixed: " 3" where imaplib wrote "03"
    assert it["INTERNALDATE"].decode() == date.strip('"').replace("03-",
                                                                  " 3-")
    # The flags are in the maildir file name too (S, F, P).
    cur = list(pathlib.Path(inst.dir / "mail").glob(
        "example.test/demo/cur/*"))
    assert len(cur) == 1 and cur[0].name.endswith(":2,FPS")
    # LITERAL+ and a synchronizing literal by hand.
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    body = msg(2)
    r.send(b"a APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
    st, _ = r.wait("a")
    assert st.startswith(b"OK [APPENDUID")
    r.send(b"b APPEND INBOX (\\Draft) {%d}\r\n" % len(body))
    assert r.line().startswith(b"+")
    r.send(body + b"\r\n")
    st, _ = r.wait("b")
    assert st.startswith(b"OK [APPENDUID")
    st, _ = r.cmd("APPEND INBOX {0}\r\n")
    r.close()
    m.logout()


def test_fetch_store_search_uid_forms(inst):
    m = login(inst)
    for i in range(1, 6):
        m.append("INBOX", None, None, msg(i))
    m.select("INBOX")
    typ, data = m.store("2:3", "+FLAGS", "(\\Deleted \\Answered kw1)")
    assert typ == "OK"
    assert b"2 (FLAGS (\\Answered \\Deleted kw1 \\Recent))" in data
    typ, data = m.store("2", "-FLAGS.SILENT", "(\\Answered)")
    assert typ == "OK" and data == [None]
    typ, data = m.store("3", "FLAGS", "(\\Seen)")
    assert data == [b"3 (FLAGS (\\Seen \\Recent))"]
    for args in (("9", "+FLAGS", "(\\Seen)"), ("1", "+FLAGS", "(\\Bogus)")):
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            m.store(*args)
    typ, data = m.uid("STORE", "4", "+FLAGS", "(\\Flagged)")
    assert data == [b"4 (UID 4 FLAGS (\\Flagged \\Recent))"]
    assert m.search(None, "DELETED") == ("OK", [b"2"])
    assert m.search(None, "KEYWORD", "kw1") == ("OK", [b"2"])
    assert m.search(None, "OR", "SEEN", "FLAGGED") == ("OK", [b"3 4"])
    assert m.search(None, "NOT", "DELETED", "SUBJECT", "hello") == \
        ("OK", [b"1 3 4 5"])
    assert m.search(None, "BODY", '"of message 5"') == ("OK", [b"5"])
    assert m.uid("SEARCH", "UID", "2:4") == ("OK", [b"2 3 4"])
    assert m.search("UTF-8", "SUBJECT", "HELLO") == ("OK", [b"1 2 3 4 5"])
    assert m.search("KOI8-R", "ALL")[0] == "NO"
    assert b"BADCHARSET" in m.response("BADCHARSET")[1][0] or True
    typ, data = m.uid("FETCH", "2:*", "(FLAGS)")
    assert len(data) == 4 and b"UID 2" in data[0]
    typ, data = m.fetch("1", "(UID RFC822.SIZE)")
    assert data == [b"1 (UID 1 RFC822.SIZE %d)" % len(msg(1))]
    for args in (("6", "FLAGS"), ("1", "(BOGUS)")):
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            m.fetch(*args)
    # EXPUNGE reports sequence numbers as they shift.
    m.store("4", "+FLAGS", "(\\Deleted)")
    typ, data = m.expunge()
    assert data == [b"2", b"3"]
    typ, data = m.uid("FETCH", "1:*", "UID")
    assert [re.search(rb"UID (\d+)", d).group(1) for d in data] == \
        [b"1", b"3", b"5"]
    m.logout()


def test_implicit_seen_and_peek(inst):
    m = login(inst)
    m.append("INBOX", None, None, msg(1))
    m.append("INBOX", None, None, msg(2))
    m.select("INBOX")
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER] RFC822.HEADER)")
    assert b"\\Seen" not in data[0][0]
    assert m.search(None, "UNSEEN") == ("OK", [b"1 2"])
    # BODY[TEXT] sets \Seen and reports FLAGS though not asked for.
    typ, data = m.fetch("1", "(BODY[TEXT])")
    assert data[0][1] == b"Body of message 1.\r\n"
    assert b"FLAGS (\\Seen \\Recent)" in data[0][0] + data[1]
    typ, data = m.fetch("2", "(RFC822.TEXT)")
    assert m.search(None, "UNSEEN") == ("OK", [b""])
    # EXAMINE never sets \Seen.
    m.store("1:2", "-FLAGS", "(\\Seen)")
    m.select("INBOX", readonly=True)
    m.fetch("1:2", "(RFC822)")
    assert m.search(None, "UNSEEN") == ("OK", [b"1 2"])
    m.logout()


def test_copy_close_check_unselect(inst):
    m = login(inst)
    for i in range(1, 4):
        m.append("INBOX", None, None, msg(i))
    m.select("INBOX")
    typ, data = m.copy("1:2", "Trash")
    assert typ == "OK"
    assert re.match(rb"\[COPYUID \d+ 1:2 1:2\]", data[0])
    assert m.copy("1", "Nope")[1][0].startswith(b"[TRYCREATE]")
    assert m.check()[0] == "OK"
    m.store("1", "+FLAGS", "(\\Deleted)")
    assert m.unselect()[0] == "OK"  # no expunge
    m.select("INBOX")
    assert m.response("EXISTS")[1] == [b"3"]
    m.store("1", "+FLAGS", "(\\Deleted)")
    typ, data = m.close()       # silent expunge
    assert typ == "OK"
    assert m.select("INBOX")[1] == [b"2"]
    assert m.select("Trash")[1] == [b"2"]
    m.logout()


def test_two_sessions_see_each_other(inst):
    a = Raw(inst.ports["imap"])
    a.login(inst.demo_user, inst.demo_password)
    b = login(inst)
    for i in range(1, 4):
        b.append("INBOX", None, None, msg(i))
    st, un = a.cmd("SELECT INBOX")
    assert b"* 3 EXISTS" in un
    b.select("INBOX")
    b.append("INBOX", None, None, msg(4))
    b.store("1", "+FLAGS", "(\\Flagged)")
    b.store("2", "+FLAGS", "(\\Deleted)")
    b.expunge()
    # FETCH may not announce the expunge; NOOP may.
    st, un = a.cmd("FETCH 1:* UID")
    assert not any(b"EXPUNGE" in u for u in un)
    assert any(re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Flagged", u)
               for u in un), un
    assert any(u == b"* 4 EXISTS" for u in un)
    st, un = a.cmd("NOOP")
    assert un.count(b"* 2 EXPUNGE") == 1
    st, un = a.cmd("NOOP")
    assert un == []
    # UID FETCH may announce it at once.
    b.store("1", "+FLAGS", "(\\Deleted)")
    b.expunge()
    st, un = a.cmd("UID FETCH 1:* UID")
    assert b"* 1 EXPUNGE" in un
    a.close()
    b.logout()


def test_maildir_delivery_by_another_tool(inst):
    """A file dropped into new/ by another tool appears with a UID."""
    m = login(inst)
    m.select("INBOX")
    new = inst.dir / "mail" / "example.test" / "demo" / "new"
    p = new / ("%d.M1P1Q1.other" % int(time.time()))
    p.write_bytes(b"From: x@y\nSubject: dropped\n\nhi\n")
    if os.getuid() == 0:
        st = new.stat()
        os.chown(p, st.st_uid, st.st_gid)
    m.noop()
    assert m.response("EXISTS")[1][-1] == b"1"
    typ, data = m.fetch("1", "(BODY[] ENVELOPE)")
    assert data[0][1] == b"From: x@y\r\nSubject: dropped\r\n\r\nhi\r\n"
    assert b'"dropped"' in data[1]
    m.logout()


def test_id_namespace_enable(inst):
    m = login(inst)
    typ, data = m.xatom("ID", '("name" "pytest" "version" "1")')
    assert typ == "OK"
    assert m.untagged_responses.get("ID") == \
        [b'("name" "Posthorn" "vendor" "Posthorn")']
    r = Raw(inst.ports["imap"])
    st, un = r.cmd("ID NIL")
    assert st.startswith(b"OK") and un[0].startswith(b"* ID (")
    st, un = r.cmd("ID (\"a\"")
    assert st.startswith(b"BAD")
    r.login(inst.demo_user, inst.demo_password)
    st, un = r.cmd("NAMESPACE")
    assert un == [b'* NAMESPACE (("" "/")) NIL NIL']
    st, un = r.cmd("ENABLE X-UNKNOWN")
    assert st.startswith(b"OK") and un == [b"* ENABLED"]
    st, un = r.cmd("ENABLE")
    assert st.startswith(b"BAD")
    r.close()
    m.logout()


def test_command_limits_and_resync(make_instance):
    inst = imap_instance(make_instance, imapd_line_length_limit="1000",
                         imapd_literal_size_limit="2000",
                         imapd_max_nesting="4")
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    st, _ = r.cmd("NOOP " + "x" * 2000)
    assert st.startswith(b"BAD"), st
    st, _ = r.cmd("NOOP")
    assert st.startswith(b"OK")
    # A synchronizing literal over the limit is refused before it is
    # sent.
    r.send("big APPEND INBOX {5000}\r\n")
    assert r.line().startswith(b"big NO [TOOBIG]")
    # LITERAL+ over the limit: read and dropped, then the next command.
    r.send(b"big2 APPEND INBOX {5000+}\r\n" + b"y" * 5000 + b"\r\n")
    assert r.line().startswith(b"big2 NO [TOOBIG]")
    st, _ = r.cmd("SELECT INBOX")
    assert st.startswith(b"OK")
    st, _ = r.cmd("SEARCH ((((((ALL))))))")
    assert st.startswith(b"BAD")
    st, _ = r.cmd("SEARCH NOT NOT NOT NOT NOT NOT ALL")
    assert st.startswith(b"BAD")
    st, _ = r.cmd("SEARCH ((ALL))")
    assert st.startswith(b"OK")
    # Byte by byte, with a literal.
    for ch in b"x1 LOGOUT\r\n":
        r.send(bytes([ch]))
        time.sleep(0.002)
    assert r.line() == b"* BYE Logging out"
    r.close()


def test_connection_limits(make_instance):
    inst = imap_instance(make_instance, imapd_client_connection_limit="2",
                         imapd_client_address_limit="3")
    a = login(inst)
    b = login(inst)
    with pytest.raises(imaplib.IMAP4.error, match=r"\[LIMIT\]"):
        login(inst)
    a.logout()
    c = login(inst)  # a slot is free again
    d = imaplib.IMAP4("127.0.0.1", inst.ports["imap"])  # third address
    with pytest.raises(imaplib.IMAP4.error, match=r"BYE \[LIMIT\]"):
        imaplib.IMAP4("127.0.0.1", inst.ports["imap"])
    d.logout()
    b.logout()
    c.logout()
    inst.wait_log(r"too many connections from unknown\[127.0.0.1\]")
    inst.wait_log(r"too many sessions for user=<demo@example.test>")


def test_failed_logins_are_slowed(make_instance):
    def setup(i):
        i.config(imapd_tls_auth_only="no", imapd_auth_failure_delay="1")
    inst = make_instance(setup=setup)
    r = Raw(inst.ports["imap"])
    t0 = time.monotonic()
    r.cmd('LOGIN demo@example.test "bad"')
    r.cmd('LOGIN demo@example.test "bad"')
    assert time.monotonic() - t0 >= 3.0  # 1 s, then 2 s
    r.close()


def test_other_users_are_separate(inst):
    add_user(inst, "other@example.test", "secret-other")
    m = login(inst)
    m.append("INBOX", None, None, msg(1))
    o = login(inst, "other@example.test", "secret-other")
    assert o.select("INBOX")[1] == [b"0"]
    o.logout()
    m.logout()


def test_big_literal_refused_before_login(inst):
    r = Raw(inst.ports["imap"])
    r.send("a LOGIN {100000}\r\n")
    assert r.line().startswith(b"a NO [TOOBIG]")
    r.send("b LOGIN {%d}\r\n" % len(inst.demo_user))
    assert r.line().startswith(b"+")
    r.send(inst.demo_user + ' "%s"\r\n' % inst.demo_password)
    st, _ = r.wait("b")
    assert st.startswith(b"OK")
    # After login a message-sized literal is fine.
    body = b"Subject: big\r\n\r\n" + b"x" * 99000 + b"\r\n"
    r.send(b"c APPEND INBOX {%d}\r\n" % len(body))
    assert r.line().startswith(b"+")
    r.send(body + b"\r\n")
    st, _ = r.wait("c")
    assert st.startswith(b"OK [APPENDUID")
    r.close()


def test_fetch_of_message_expunged_elsewhere(inst):
    m = login(inst)
    for i in range(1, 4):
        m.append("INBOX", None, None, msg(i))
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    r.cmd("SELECT INBOX")
    m.select("INBOX")
    m.store("2", "+FLAGS", "(\\Deleted)")
    m.expunge()
    # By number: the message keeps its number, its data is gone.
    st, un = r.cmd("FETCH 1:3 BODY.PEEK[TEXT]")
    assert st.startswith(b"NO [EXPUNGEISSUED]")
    assert [u.split()[1] for u in un] == [b"1", b"3"]
    assert not any(b"EXPUNGE" in u for u in un)
    # By UID: left out, then the EXPUNGE.
    st, un = r.cmd("UID FETCH 1:3 UID")
    assert st.startswith(b"OK")
    assert un[-1] == b"* 2 EXPUNGE"
    r.close()
    m.logout()
