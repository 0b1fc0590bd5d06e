/* SPDX-License-Identifier: MIT */
/*
 * pop3d_maildrop.c - the snapshot of a mailbox that one POP3 session sees
 *
 * Responsible for: the session lock (RFC 1939 section 8: one maildrop
 * session at a time), the numbering of messages (1..n in UID order, fixed
 * for the session), deletion marks, the unique-id listing, and the UPDATE
 * state (flags and expunge through the mailbox store).
 * Not here: reading and encoding message bytes (pop3d_send.c), protocol
 * replies (pop3d_cmd.c).
 *
 * Invariants: msgs[] never changes length after open; ndeleted and
 * deleted_size always equal the sums over the marked entries; nothing is
 * written to the mailbox before pop3d_maildrop_commit().
 */
#include "pop3d_maildrop.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

struct collect {
	struct pop3d_maildrop *md;
	size_t cap;
};

static int collect_one(void *ctx, const struct mbox_msg *m)
{
	struct collect *c = ctx;
	struct pop3d_maildrop *md = c->md;
	if (md->count == c->cap) {
		size_t bytes;
		c->cap = c->cap ? c->cap * 2 : 64;
		if (size_mul(c->cap, sizeof(*md->msgs), &bytes) < 0)
			return -1;
		md->msgs = xrealloc(md->msgs, bytes);
	}
	md->msgs[md->count++] = (struct pop3d_msg){
	        .uid = m->uid,
	        .vsize = m->vsize,
	};
	md->size += m->vsize;
	return 0;
}

int pop3d_maildrop_open(const char *path, struct pop3d_maildrop **out,
                        struct err *e)
{
	struct pop3d_maildrop *md = xcalloc(1, sizeof(*md));
	md->lock_fd = -1;
	*out = NULL;
	int rc = mbox_open(&md->mb, path, MBOX_CREATE, e);
	if (rc <= 0) {
		if (rc == 0)
			err_set(e, "%s: no maildir", path);
		goto fail;
	}
	rc = mbox_lock_session(md->mb, &md->lock_fd, e);
	if (rc == 0) {
		pop3d_maildrop_close(&md);
		return 0;
	}
	if (rc < 0)
		goto fail;
	if (mbox_folder_open(md->mb, MBOX_INBOX, &md->inbox, e) != 1 ||
	    mbox_folder_sync(md->inbox, MBOX_SYNC_NEW_TO_CUR, NULL, e) < 0)
		goto fail;
	struct mbox_status st;
	if (mbox_folder_status(md->inbox, &st, e) < 0)
		goto fail;
	md->uidvalidity = st.uidvalidity;
	struct collect c = {.md = md};
	rc = mbox_msg_iter(md->inbox, 1, UINT32_MAX, collect_one, &c, e);
	if (rc != 0) {
		if (rc > 0)
			err_set(e, "%s: too many messages", path);
		goto fail;
	}
	*out = md;
	return 1;
fail:
	pop3d_maildrop_close(&md);
	return -1;
}

void pop3d_maildrop_close(struct pop3d_maildrop **mdp)
{
	struct pop3d_maildrop *md = *mdp;
	if (!md)
		return;
	mbox_folder_close(&md->inbox);
	if (md->lock_fd >= 0)
		(void)close(md->lock_fd);
	mbox_close(&md->mb);
	free(md->msgs);
	free(md);
	*mdp = NULL;
}

int pop3d_maildrop_login_delay(struct pop3d_maildrop *md, long delay,
                               long *wait_out, struct err *e)
{
	char p[4096];
	struct stat sb;
	*wait_out = 0;
	int n = snprintf(p, sizeof(p), "%s/%s", mbox_path(md->mb),
	                 POP3D_LOGIN_STAMP);
	if (n < 0 || (size_t)n >= sizeof(p)) {
		err_set(e, "%s: path too long", mbox_path(md->mb));
		return -1;
	}
	/* The session lock is held: no other login races this. */
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		err_set(e, "%s: %s", p, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	time_t now = time(NULL);
	/* A new file has now as its time but no login recorded yet. */
	if (sb.st_size > 0 && now >= sb.st_mtime && now - sb.st_mtime < delay) {
		*wait_out = delay - (long)(now - sb.st_mtime);
		(void)close(fd);
		return 0;
	}
	int rc = 1;
	if (sb.st_size == 0 && write(fd, "\n", 1) != 1)
		rc = -1;
	else if (futimens(fd, NULL) < 0)
		rc = -1;
	if (rc < 0)
		err_set(e, "%s: %s", p, strerror(errno));
	(void)close(fd);
	return rc;
}

struct pop3d_msg *pop3d_maildrop_msg(struct pop3d_maildrop *md, uint64_t msgno,
                                     bool *deleted_out)
{
	if (deleted_out)
		*deleted_out = false;
	if (msgno < 1 || msgno > md->count)
		return NULL;
	struct pop3d_msg *m = &md->msgs[msgno - 1];
	if (m->deleted) {
		if (deleted_out)
			*deleted_out = true;
		return NULL;
	}
	return m;
}

bool pop3d_maildrop_mark(struct pop3d_maildrop *md, struct pop3d_msg *m)
{
	if (m->deleted)
		return false;
	m->deleted = true;
	md->ndeleted++;
	md->deleted_size += m->vsize;
	return true;
}

void pop3d_maildrop_unmark_all(struct pop3d_maildrop *md)
{
	for (size_t i = 0; i < md->count; i++)
		md->msgs[i].deleted = false;
	md->ndeleted = 0;
	md->deleted_size = 0;
}

void pop3d_maildrop_uidl(const struct pop3d_maildrop *md,
                         const struct pop3d_msg *m, char *out, size_t outsz)
{
	(void)snprintf(out, outsz, "%" PRIu32 ".%" PRIu32, md->uidvalidity,
	               m->uid);
}

int pop3d_maildrop_open_msg(struct pop3d_maildrop *md,
                            const struct pop3d_msg *m, int *fd_out,
                            struct err *e)
{
	return mbox_msg_open(md->inbox, m->uid, fd_out, e);
}

/* \Seen on what RETR sent and stays: what Dovecot's POP3 does too, so a
 * user who also reads by IMAP sees the downloaded mail as read. */
static void mark_seen(struct pop3d_maildrop *md, uint32_t *uids)
{
	size_t n = 0;
	for (size_t i = 0; i < md->count; i++)
		if (md->msgs[i].retrieved && !md->msgs[i].deleted)
			uids[n++] = md->msgs[i].uid;
	if (n == 0)
		return;
	struct mbox_store_req req = {.op = MBOX_STORE_ADD,
	                             .flags = MBOX_F_SEEN};
	struct mbox_store_res *res = xcalloc(n, sizeof(*res));
	struct err e;
	if (mbox_store(md->inbox, uids, n, &req, res, &e) < 0)
		log_warn("%s: setting \\Seen: %s", mbox_path(md->mb), e.msg);
	free(res);
}

int pop3d_maildrop_commit(struct pop3d_maildrop *md, bool expire_retrieved,
                          size_t *removed_out, struct err *e)
{
	*removed_out = 0;
	if (md->count == 0)
		return 0;
	uint32_t *uids = xcalloc(md->count, sizeof(*uids));
	if (expire_retrieved)
		for (size_t i = 0; i < md->count; i++)
			if (md->msgs[i].retrieved)
				(void)pop3d_maildrop_mark(md, &md->msgs[i]);
	mark_seen(md, uids);
	size_t n = 0;
	for (size_t i = 0; i < md->count; i++)
		if (md->msgs[i].deleted)
			uids[n++] = md->msgs[i].uid;
	int rc = 0;
	if (n > 0)
		rc = mbox_expunge(md->inbox, uids, n, NULL, NULL, e);
	if (rc == 0)
		*removed_out = n;
	free(uids);
	return rc;
}
