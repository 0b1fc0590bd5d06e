# SPDX-License-Identifier: MIT
"""Two real synchronisers against imapd: mbsync (isync) and offlineimap3
sync an account both ways - new mail, flags, folders, deletions - and both
sides end with the same contents."""
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import time

import pytest

from imap_helpers import imap_instance, login

MBSYNC = shutil.which("mbsync")
OFFLINEIMAP = shutil.which("offlineimap")

FLAG_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "P": "$Forwarded",
                "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


def message(subject):
    return ("From: sync@example.org\r\nTo: demo@example.test\r\n"
            "Subject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\n"
            "Body of %s.\r\n" % (subject, subject, subject)).encode()


def digest(raw):
    """The message with LF line ends, hashed: both sides must hold the
    same bytes (maildir files keep LF or CRLF, IMAP sends CRLF), apart
    from the tracking header a synchroniser adds (mbsync X-TUID,
    offlineimap X-OfflineIMAP)."""
    raw = raw.replace(b"\r\n", b"\n")
    raw = re.sub(rb"(?m)^(X-TUID|X-OfflineIMAP): .*\n", b"", raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def server_state(inst):
    """{folder: {subject: (frozenset(flags), digest)}} as IMAP shows it."""
    m = login(inst)
    out = {}
    typ, data = m.list('""', "*")
    for line in data:
        mm = re.match(rb'\(([^)]*)\) "/" "?([^"]*)"?$', line)
        if b"\\Noselect" in mm.group(1):
            continue
        name = mm.group(2).decode()
        m.select('"%s"' % name, readonly=True)
        box = {}
        typ, items = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
        for it in items:
            if not isinstance(it, tuple):
                continue
            subj = re.search(rb"Subject: (.*)\r\n", it[1]).group(1).decode()
            flags = re.search(rb"FLAGS \(([^)]*)\)", it[0]).group(1).decode()
            box[subj] = (frozenset(f for f in flags.split()
                                   if f != "\\Recent"), digest(it[1]))
        out[name] = box
        m.unselect()
    m.logout()
    return out


def local_state(root):
    """The same for a local maildir tree (folder = path below root)."""
    out = {}
    root = pathlib.Path(root)
    for cur in root.rglob("cur"):
        folder = cur.parent
        name = str(folder.relative_to(root))
        box = {}
        for sub in ("cur", "new"):
            for f in (folder / sub).iterdir():
                text = f.read_bytes()
                subj = re.search(rb"Subject: (.*?)\r?\n", text).group(1)
                info = f.name.split(":2,", 1)[1] if ":2," in f.name else ""
                box[subj.decode()] = (frozenset(FLAG_LETTERS[c]
                                                for c in info
                                                if c in FLAG_LETTERS),
                                      digest(text))
        out[name] = box
    return out


def flags(box):
    return {subj: fl for subj, (fl, _) in box.items()}


def drop_message(folder, subject, flags=""):
    """Writes a message into a local maildir folder as a mail reader
    would."""
    folder = pathlib.Path(folder)
    sub = "cur" if flags else "new"
    name = "%d.%d_%s.local" % (time.time(), os.getpid(), subject)
    if flags:
        name += ":2," + flags
    (folder / sub / name).write_bytes(message(subject))


def find_file(folder, subject):
    for sub in ("cur", "new"):
        for f in (pathlib.Path(folder) / sub).iterdir():
            if ("Subject: %s" % subject).encode() in f.read_bytes():
                return f
    raise AssertionError("%s not in %s" % (subject, folder))


def set_local_flags(folder, subject, letters):
    f = find_file(folder, subject)
    base = f.name.split(":2,", 1)[0]
    f.rename(f.parent.parent / "cur" / (base + ":2," + letters))


def scenario(inst, local_root, sync):
    """Runs the same story with any synchroniser."""
    m = login(inst)
    m.append("INBOX", "(\\Seen)", None, message("alpha"))
    m.append("INBOX", "(\\Flagged)", None, message("bravo"))
    m.create("Work/Sub")
    m.append("Work/Sub", "(\\Answered)", None, message("charlie"))
    m.logout()

    sync()
    local = local_state(local_root)
    assert flags(local["INBOX"]) == {"alpha": {"\\Seen"},
                                     "bravo": {"\\Flagged"}}
    assert flags(local["Work/Sub"]) == {"charlie": {"\\Answered"}}
    assert local["INBOX"]["alpha"][1] == digest(message("alpha"))
    assert local == server_state(inst)

    # Local changes: new mail, a flag, a deletion, a new folder.
    drop_message(local_root / "INBOX", "delta")
    set_local_flags(local_root / "INBOX", "bravo", "FS")
    find_file(local_root / "INBOX", "alpha").unlink()
    # A new top-level folder: offlineimap makes a nested one's parent a
    # real IMAP folder first, which its own Maildir side then lacks.
    newbox = local_root / "LocalNew"
    for sub in ("cur", "new", "tmp"):
        (newbox / sub).mkdir(parents=True)
    drop_message(newbox, "echo", "S")
    sync()
    srv = server_state(inst)
    assert flags(srv["INBOX"]) == {"bravo": {"\\Flagged", "\\Seen"},
                                   "delta": frozenset()}
    assert flags(srv["LocalNew"]) == {"echo": {"\\Seen"}}
    assert srv["INBOX"]["delta"][1] == digest(message("delta"))

    # Server changes: new mail, a flag, an expunge.
    m = login(inst)
    m.select("INBOX")
    m.append("INBOX", None, None, message("foxtrot"))
    typ, data = m.search(None, "SUBJECT", "delta")
    m.store(data[0].decode(), "+FLAGS", "(\\Flagged)")
    typ, data = m.search(None, "SUBJECT", "bravo")
    m.store(data[0].decode(), "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    sync()
    local = local_state(local_root)
    assert flags(local["INBOX"]) == {"delta": {"\\Flagged"},
                                     "foxtrot": frozenset()}
    srv = server_state(inst)
    assert local == srv
    # A second run changes nothing.
    sync()
    assert local_state(local_root) == server_state(inst) == srv
    log = inst.log()
    assert "panic" not in log and "error:" not in log, log


@pytest.mark.skipif(not MBSYNC, reason="isync not installed")
def test_mbsync_round_trip(make_instance, tmp_path):
    inst = imap_instance(make_instance)
    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        "IMAPAccount posthorn\n"
        "Host 127.0.0.1\n"
        "Port %d\n"
        "User %s\n"
        "Pass %s\n"
        "SSLType None\n"
        "AuthMechs LOGIN\n\n"
        "IMAPStore remote\nAccount posthorn\n\n"
        "MaildirStore local\nPath %s/\nInbox %s/INBOX\n"
        "SubFolders Verbatim\n\n"
        "Channel sync\nFar :remote:\nNear :local:\nPatterns *\n"
        "Create Both\nRemove Both\nExpunge Both\nSyncState *\n"
        % (inst.ports["imap"], inst.demo_user, inst.demo_password, local,
           local))

    def sync():
        p = subprocess.run([MBSYNC, "-c", str(rc), "-a"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr

    scenario(inst, local, sync)


@pytest.mark.skipif(not OFFLINEIMAP, reason="offlineimap3 not installed")
def test_offlineimap_round_trip(make_instance, tmp_path):
    inst = imap_instance(make_instance)
    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "offlineimaprc"
    rc.write_text(
        "[general]\naccounts = t\nmetadata = %s/meta\nui = quiet\n\n"
        "[Account t]\nlocalrepository = L\nremoterepository = R\n\n"
        "[Repository L]\ntype = Maildir\nlocalfolders = %s\nsep = /\n\n"
        "[Repository R]\ntype = IMAP\nremotehost = 127.0.0.1\n"
        "remoteport = %d\nremoteuser = %s\nremotepass = %s\nssl = no\n"
        "starttls = no\ncreatefolders = True\n"
        % (tmp_path, local, inst.ports["imap"], inst.demo_user,
           inst.demo_password))

    def sync():
        with open(tmp_path / "offlineimap.log", "w+") as log:
            p = subprocess.run([OFFLINEIMAP, "-c", str(rc), "-o", "-u",
                                "basic"],
                               stdout=log, stderr=subprocess.STDOUT,
                               text=True, timeout=60)
            log.seek(0)
            out = log.read()
        assert p.returncode == 0 and "ERROR" not in out, out

    scenario(inst, local, sync)
