/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_POP3D_POP3D_MAILDROP_H
#define POSTHORN_POP3D_POP3D_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/mbox.h"

/*
 * The maildrop of one POP3 session (RFC 1939 section 3): the INBOX of a
 * mailbox as it was when the session entered the TRANSACTION state,
 * numbered 1..count, with the session's deletion marks. Mail delivered
 * later is not in it (it shows in the next session); the mailbox's
 * exclusive session lock is held for the snapshot's whole life.
 *
 * Nothing changes on disk before pop3d_maildrop_commit() (the UPDATE
 * state); pop3d_maildrop_close() without a commit leaves the mailbox as
 * it was, which is what a dropped connection must do.
 */

struct pop3d_msg {
	uint32_t uid;
	uint64_t vsize; /* octets as RETR sends them, CRLF line ends,
	                   before byte-stuffing (LIST, STAT) */
	bool deleted;   /* marked by DELE, cleared by RSET */
	bool retrieved; /* sent whole by RETR */
};

struct pop3d_maildrop {
	uint32_t uidvalidity;
	struct pop3d_msg *msgs; /* count entries; message n is msgs[n - 1] */
	size_t count;
	uint64_t size;         /* sum of vsize over all messages */
	size_t ndeleted;       /* marked messages */
	uint64_t deleted_size; /* their octets */
	/* private */
	struct mbox *mb;
	struct mbox_folder *inbox;
	int lock_fd;
};

/*
 * Opens the maildir at path (creating it when missing, as a first login
 * before the first delivery would find it), takes the session lock,
 * moves new/ to cur/, gives new files their UIDs, and snapshots INBOX in
 * UID order. 1 with *out, 0 another session holds the lock (RFC 2449
 * [IN-USE]), -1 error with e set. Blocks on disk I/O. Free with
 * pop3d_maildrop_close().
 */
int pop3d_maildrop_open(const char *path, struct pop3d_maildrop **out,
                        struct err *e);
/* Releases the lock and frees *mdp without changing the mailbox; sets
 * *mdp to NULL; accepts NULL. */
void pop3d_maildrop_close(struct pop3d_maildrop **mdp);

/*
 * RFC 2449 6.5 LOGIN-DELAY: the time of the last login to this mailbox
 * is the modification time of POP3D_LOGIN_STAMP in the maildir. When it
 * is less than delay seconds ago, returns 0 and the seconds still to wait
 * in *wait_out; otherwise records this login and returns 1. -1 with e
 * set on an I/O error (the caller lets the login through: the delay is
 * a courtesy to the server, not a security boundary).
 */
#define POP3D_LOGIN_STAMP "posthorn.pop3.login"
int pop3d_maildrop_login_delay(struct pop3d_maildrop *md, long delay,
                               long *wait_out, struct err *e);

/* Message msgno (1-based), or NULL when there is none: out of range or
 * marked as deleted (RFC 1939: a deleted message may not be referred
 * to). *deleted_out (may be NULL) tells the two apart. */
struct pop3d_msg *pop3d_maildrop_msg(struct pop3d_maildrop *md, uint64_t msgno,
                                     bool *deleted_out);

/* Marks m as deleted (DELE); false when it was already. */
bool pop3d_maildrop_mark(struct pop3d_maildrop *md, struct pop3d_msg *m);
/* Clears every mark (RSET). */
void pop3d_maildrop_unmark_all(struct pop3d_maildrop *md);

/*
 * The unique-id listing (UIDL) of m: "<UIDVALIDITY>.<UID>" in decimal,
 * so the same message keeps its id across sessions and shows the UID
 * imapd gives it, and a rebuilt index (new UIDVALIDITY) changes every id
 * (clients fetch again: a duplicate, never a missed message). out must
 * hold POP3D_UIDL_MAX bytes.
 */
#define POP3D_UIDL_MAX 24
void pop3d_maildrop_uidl(const struct pop3d_maildrop *md,
                         const struct pop3d_msg *m, char *out, size_t outsz);

/* Opens message m for reading. 1 with *fd_out, 0 it is gone (expunged
 * by another client since the snapshot), -1 error. */
int pop3d_maildrop_open_msg(struct pop3d_maildrop *md,
                            const struct pop3d_msg *m, int *fd_out,
                            struct err *e);

/*
 * The UPDATE state: sets \Seen on the messages RETR sent that stay (so
 * an IMAP client shows them as read; a failure there is only logged),
 * then removes every marked message in one index transaction
 * (mbox_expunge: files and entries, all or none). With expire_retrieved
 * (EXPIRE 0), retrieved messages are removed as well. *removed_out gets
 * the number removed. 0, or -1 with e set when nothing was removed.
 */
int pop3d_maildrop_commit(struct pop3d_maildrop *md, bool expire_retrieved,
                          size_t *removed_out, struct err *e);

#endif
