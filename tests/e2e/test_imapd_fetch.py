# SPDX-License-Identifier: MIT
"""FETCH over a corpus of MIME messages: every data item, ENVELOPE and
BODYSTRUCTURE checked structurally, sections and partials byte for byte."""
import base64
import email.header
import quopri

import pytest

from imap_helpers import (BINARY, ENCODED_BODY, ENCODED_SUBJECT,
                          HTML_PART_BODY, QP_TEXT, Raw, _nested, corpus,
                          fetch_items, imap_instance, login)


@pytest.fixture(scope="module")
def mailbox(request, tmp_path_factory):
    """One instance for the module: the corpus appended to INBOX."""
    from conftest import Instance, make_dir
    import shutil
    inst = Instance(__import__("pathlib").Path(make_dir()) / "inst")
    inst.init()
    inst.config(imapd_tls_auth_only="no")
    inst.start()
    c = corpus()
    m = login(inst)
    order = ["mixed", "nested", "encoded"]
    for name in order:
        assert m.append("INBOX", None, None, c[name])[0] == "OK"
    m.logout()
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    st, _ = r.cmd("EXAMINE INBOX")
    assert st.startswith(b"OK")
    yield r, {n: i + 1 for i, n in enumerate(order)}, c
    r.close()
    inst.stop()
    inst.kill_leftovers()
    shutil.rmtree(inst.dir.parent, ignore_errors=True)


def fetch(r, seq, items):
    st, un = r.cmd("FETCH %d %s" % (seq, items))
    assert st.startswith(b"OK"), st
    found = [fetch_items(u[2:]) for u in un if b" FETCH " in u[:20]]
    assert len(found) == 1, un
    return found[0][1]


def s(v):
    return v.decode() if isinstance(v, bytes) else v


def test_envelope_structure(mailbox):
    r, seq, c = mailbox
    env = fetch(r, seq["mixed"], "ENVELOPE")["ENVELOPE"]
    assert len(env) == 10
    date, subj, frm, sender, reply_to, to, cc, bcc, irt, mid = env
    assert s(date) == "Tue, 02 Jan 2024 10:00:00 +0100"
    assert s(subj) == "Mixed with attachment"
    assert [[s(x) for x in a] for a in frm] == \
        [["Alice Example", None, "alice", "example.org"]]
    assert [[s(x) for x in a] for a in sender] == \
        [["Secretary", None, "sec", "example.org"]]
    assert reply_to == frm  # RFC 3501: defaults to From
    assert [[s(x) for x in a] for a in to] == \
        [["Bob", None, "bob", "example.net"],
         [None, None, "carol", "example.com"]]
    # Group syntax: a start marker, the members, an end marker.
    assert [[s(x) for x in a] for a in cc] == \
        [[None, None, "team", None],
         [None, None, "dan", "example.com"],
         [None, None, "eve", "example.com"],
         [None, None, None, None]]
    assert bcc is None
    assert s(irt) == "<earlier@example.net>"
    assert s(mid) == "<mixed-1@example.org>"


def test_envelope_encoded_words(mailbox):
    r, seq, c = mailbox
    env = fetch(r, seq["encoded"], "ENVELOPE")["ENVELOPE"]
    subj = s(env[1])
    assert "=?utf-8?b?" in subj  # sent as written, the client decodes
    decoded = "".join(
        p.decode(cs) if isinstance(p, bytes) else p
        for p, cs in email.header.decode_header(subj))
    assert decoded == ENCODED_SUBJECT
    name = s(env[2][0][0])
    dn = email.header.decode_header(name)[0]
    assert dn[0].decode(dn[1]) == "J\u00f6rg M\u00fcller"
    assert s(env[5][0][2]) == "renee"


def test_bodystructure_mixed(mailbox):
    r, seq, c = mailbox
    it = fetch(r, seq["mixed"], "(BODYSTRUCTURE BODY)")
    bs = it["BODYSTRUCTURE"]
    # (alternative attachment "MIXED" (params) disposition lang location)
    alt, att = bs[0], bs[1]
    assert s(bs[2]).upper() == "MIXED"
    assert [s(x) for x in bs[3]] == ["BOUNDARY", "=-=mixed=-="]
    assert s(alt[2]).upper() == "ALTERNATIVE"
    text, html = alt[0], alt[1]
    assert [s(x).upper() for x in text[:2]] == ["TEXT", "PLAIN"]
    assert [s(x).upper() for x in text[2]] == ["CHARSET", "UTF-8"]
    assert s(text[5]).upper() == "QUOTED-PRINTABLE"
    qp = QP_TEXT.encode()[:-2]  # the CRLF before "--alt" is the boundary's
    assert text[6] == len(qp)
    assert text[7] == qp.count(b"\n") + 1
    assert [s(x).upper() for x in html[:2]] == ["TEXT", "HTML"]
    assert s(html[3]) == "<html-part@example.org>"
    assert s(html[5]).upper() == "BASE64"
    assert html[6] == len(HTML_PART_BODY) - 2
    assert [s(x).upper() for x in att[:2]] == ["APPLICATION", "OCTET-STREAM"]
    assert [s(x) for x in att[2]] == ["NAME", "data.bin"]
    assert s(att[5]).upper() == "BASE64"
    # body-ext-1part: md5, disposition, language, location
    assert att[7] is None
    assert s(att[8][0]).upper() == "ATTACHMENT"
    assert [s(x) for x in att[8][1]] == ["FILENAME", "data.bin"]
    # BODY: the same without extension data.
    body = it["BODY"]
    assert s(body[-1]).upper() == "MIXED" and len(body) == 3
    assert len(body[1]) == 7  # application part: basic fields only


def test_bodystructure_nested_message(mailbox):
    r, seq, c = mailbox
    bs = fetch(r, seq["nested"], "BODYSTRUCTURE")["BODYSTRUCTURE"]
    msgpart = bs[1]
    assert [s(x).upper() for x in msgpart[:2]] == ["MESSAGE", "RFC822"]
    assert s(msgpart[4]) == "the original"
    _, inner = _nested()
    assert msgpart[6] == len(inner) - 2
    env, body, lines = msgpart[7], msgpart[8], msgpart[9]
    assert s(env[1]) == "Inner message"
    assert [s(x).upper() for x in body[0][:2]] == ["TEXT", "PLAIN"]
    assert s(body[2]).upper() == "MIXED"
    assert lines == inner[:-2].count(b"\n") + 1


def test_sections_byte_exact(mailbox):
    r, seq, c = mailbox
    raw = c["mixed"]
    n = seq["mixed"]
    it = fetch(r, n, "(BODY.PEEK[1.2] BODY.PEEK[1.2.MIME] BODY.PEEK[1.1] "
                     "BODY.PEEK[2] BODY.PEEK[1] BODY.PEEK[])")
    assert it["BODY[1.2]"] == HTML_PART_BODY[:-2]
    assert base64.b64decode(it["BODY[1.2]"]).decode() == \
        "<p>Gr\u00fc\u00dfe <b>aus</b> M\u00fcnchen</p>\n"
    assert it["BODY[1.2.MIME]"] == (
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"Content-ID: <html-part@example.org>\r\n\r\n")
    assert quopri.decodestring(it["BODY[1.1]"]).decode() == (
        "Gr\u00fc\u00dfe aus M\u00fcnchen = caf\u00e9, a line long enough "
        "to need a soft break.")
    assert base64.b64decode(it["BODY[2]"]) == BINARY
    assert it["BODY[1]"].startswith(b"--alt\r\n")
    assert it["BODY[1]"].endswith(b"--alt--")
    assert it["BODY[]"] == raw


def test_header_sections_and_partials(mailbox):
    r, seq, c = mailbox
    raw = c["mixed"]
    hdr = raw[:raw.index(b"\r\n\r\n") + 4]
    n = seq["mixed"]
    it = fetch(r, n, "(BODY.PEEK[HEADER] BODY.PEEK[TEXT] "
                     "BODY.PEEK[HEADER.FIELDS (from SUBJECT x-none)] "
                     "BODY.PEEK[HEADER.FIELDS.NOT (Cc To Sender Date "
                     "Message-ID In-Reply-To MIME-Version Content-Type)])")
    assert it["BODY[HEADER]"] == hdr
    assert it["BODY[TEXT]"] == raw[len(hdr):]
    assert it["BODY[HEADER.FIELDS (FROM SUBJECT X-NONE)]"] == (
        b"From: Alice Example <alice@example.org>\r\n"
        b"Subject: Mixed with attachment\r\n\r\n")
    assert it["BODY[HEADER.FIELDS.NOT (CC TO SENDER DATE MESSAGE-ID "
              "IN-REPLY-TO MIME-VERSION CONTENT-TYPE)]"] == (
        b"From: Alice Example <alice@example.org>\r\n"
        b"Subject: Mixed with attachment\r\n\r\n")
    it = fetch(r, n, "(BODY.PEEK[]<10.20> BODY.PEEK[TEXT]<0.4> "
                     "BODY.PEEK[1.2]<4.8> BODY.PEEK[]<99999.5>)")
    assert it["BODY[]<10>"] == raw[10:30]
    assert it["BODY[TEXT]<0>"] == raw[len(hdr):len(hdr) + 4]
    assert it["BODY[1.2]<4>"] == HTML_PART_BODY[4:12]
    assert it["BODY[]<99999>"] == b""


def test_nested_message_sections(mailbox):
    r, seq, c = mailbox
    _, inner = _nested()
    ihdr = inner[:inner.index(b"\r\n\r\n") + 4]
    it = fetch(r, seq["nested"], "(BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] "
                                  "BODY.PEEK[2.1] BODY.PEEK[2.2] "
                                  "BODY.PEEK[2.2.MIME] BODY.PEEK[2] "
                                  "BODY.PEEK[2.HEADER.FIELDS (Subject)] "
                                  "BODY.PEEK[3] BODY.PEEK[1.1])")
    assert it["BODY[2.HEADER]"] == ihdr
    assert it["BODY[2.TEXT]"] == inner[len(ihdr):-2]
    assert it["BODY[2.1]"] == b"inner part one"
    assert it["BODY[2.2]"] == b"inner part two"
    assert it["BODY[2.2.MIME]"] == b"Content-Type: text/plain\r\n\r\n"
    assert it["BODY[2]"] == inner[:-2]
    assert it["BODY[2.HEADER.FIELDS (SUBJECT)]"] == \
        b"Subject: Inner message\r\n\r\n"
    assert it["BODY[3]"] is None      # no such part
    assert it["BODY[1.1]"] is None    # a leaf has no sub-parts


def test_utf8_header_and_base64_body(mailbox):
    r, seq, c = mailbox
    it = fetch(r, seq["encoded"], "(BODY.PEEK[HEADER.FIELDS (X-Raw-UTF8)] "
                                   "BODY.PEEK[1] BODYSTRUCTURE)")
    # 8-bit text is sent as a literal, bytes unchanged.
    assert it["BODY[HEADER.FIELDS (X-RAW-UTF8)]"] == \
        "X-Raw-UTF8: caf\u00e9 \u65e5\u672c\r\n\r\n".encode()
    assert base64.b64decode(it["BODY[1]"]) == ENCODED_BODY
    bs = it["BODYSTRUCTURE"]
    assert [s(x).upper() for x in bs[:2]] == ["TEXT", "PLAIN"]
    assert [s(x).upper() for x in bs[2]] == ["CHARSET", "UTF-8"]


def test_rfc822_items_and_flags(mailbox):
    r, seq, c = mailbox
    n = seq["nested"]
    raw = c["nested"]
    hdr = raw[:raw.index(b"\r\n\r\n") + 4]
    it = fetch(r, n, "(RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE UID "
                     "FLAGS INTERNALDATE)")
    assert it["RFC822"] == raw
    assert it["RFC822.HEADER"] == hdr
    assert it["RFC822.TEXT"] == raw[len(hdr):]
    assert it["RFC822.SIZE"] == len(raw)
    assert it["UID"] == n
    assert "\\Recent" in it["FLAGS"]  # EXAMINE: nobody claimed them
    assert len(s(it["INTERNALDATE"])) == 26
    # Macros.
    it = fetch(r, n, "ALL")
    assert set(it) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}
    it = fetch(r, n, "FULL")
    assert set(it) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
                       "BODY"}
    it = fetch(r, n, "FAST")
    assert set(it) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}
    # UID FETCH always carries the UID.
    st, un = r.cmd("UID FETCH %d FLAGS" % n)
    assert b"UID %d" % n in un[0]


def test_fetch_sets_seen_and_cache(make_instance):
    """Non-PEEK sections set \\Seen; the structure cache is used for a
    message another tool delivered too."""
    inst = imap_instance(make_instance)
    m = login(inst)
    m.append("INBOX", None, None, corpus()["mixed"])
    m.select("INBOX")
    typ, data = m.fetch("1", "(BODY[1.2])")
    assert b"FLAGS (\\Seen \\Recent)" in b"".join(
        d if isinstance(d, bytes) else d[0] for d in data)
    typ, data = m.fetch("1", "(BODYSTRUCTURE)")
    assert b'"ALTERNATIVE"' in data[0]
    m.logout()
