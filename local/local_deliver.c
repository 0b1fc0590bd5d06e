/* SPDX-License-Identifier: MIT */
/*
 * local_deliver.c - one request's deliveries: every recipient expanded,
 * every maildir copy written in one mbox batch (one sync for all, then
 * one index commit per mailbox), mbox files and commands after, and the
 * outcomes folded into one result per recipient
 *
 * Identity: the maildir and mbox file of a target are touched only with
 * its owner's effective ids (privs_become; the mbox batch calls back for
 * each mailbox), so a user's symlink cannot make root write elsewhere.
 * Commands run in a child that drops to the owner for good.
 *
 * Crash safety: nothing is reported before mbox_batch_commit() says the
 * copy and its index entry are on disk; a local killed before replying
 * leaves qmgr to deliver again (a duplicate, never a loss).
 *
 * The same maildir reached twice in one request (a user listed in two
 * aliases, or named directly and through an alias) gets one copy, as in
 * Postfix.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mbox.h"
#include "common/params.h"
#include "common/privs.h"
#include "common/proto_deliver.h"
#include "common/xalloc.h"
#include "local.h"

#define FORWARD_BYTES_MAX 60000 /* forward_to within IPC_VALUE_MAX */

struct box {
	char *path;
	struct mbox *mb;
	struct mbox_folder *inbox;
	uid_t uid;
	gid_t gid;
};

struct run {
	struct local_resolver *res;
	struct local_request *req;
	const struct local_msg *msg;
	struct local_expansion *xs;
	struct box *boxes;
	size_t nboxes, capboxes;
	bool as_root;
};

static void set_outcome(struct local_target *t, enum local_status st,
			const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_outcome(struct local_target *t, enum local_status st,
			const char *dsn, const char *fmt, ...)
{
	char tmp[LOCAL_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	t->status = st;
	(void)snprintf(t->dsn, sizeof(t->dsn), "%s", dsn);
	free(t->reason);
	t->reason = xstrdup(tmp);
}

/* The DSN and words for a system error while writing a mailbox. */
static void io_failure(struct local_target *t, int err_no, const char *what)
{
	if (err_no == ENOSPC || err_no == EDQUOT)
		set_outcome(t, LOCAL_DEFER, "4.2.2", "mailbox full: %s", what);
	else
		set_outcome(t, LOCAL_DEFER, "4.3.0", "mail system error: %s",
			    what);
}

static int become(const struct run *r, uid_t uid, gid_t gid, struct err *e)
{
	return r->as_root ? privs_become(uid, gid, e) : 0;
}

static void restore(const struct run *r)
{
	struct err e;
	if (r->as_root && privs_restore(&e) < 0)
		log_panic("%s", e.msg);
}

/* ---- maildirs ------------------------------------------------------- */

/* The open mailbox for a maildir path, opened (and created) as its
 * owner on first use. NULL with e set. */
static struct box *box_for(struct run *r, const struct local_target *t,
			   int *err_no, struct err *e)
{
	for (size_t i = 0; i < r->nboxes; i++)
		if (strcmp(r->boxes[i].path, t->path) == 0)
			return &r->boxes[i];
	struct mbox *mb = NULL;
	struct mbox_folder *in = NULL;
	if (become(r, t->uid, t->gid, e) < 0)
		return NULL;
	errno = 0;
	int rc = mbox_open(&mb, t->path, MBOX_CREATE, e);
	if (rc == 1)
		rc = mbox_folder_open(mb, MBOX_INBOX, &in, e);
	*err_no = errno;
	restore(r);
	if (rc != 1) {
		if (rc == 0)
			err_set(e, "%s: not a maildir", t->path);
		mbox_close(&mb);
		return NULL;
	}
	if (r->nboxes == r->capboxes) {
		r->capboxes = r->capboxes ? r->capboxes * 2 : 8;
		r->boxes = xrealloc(r->boxes, r->capboxes * sizeof(*r->boxes));
	}
	struct box *b = &r->boxes[r->nboxes++];
	*b = (struct box){.path = xstrdup(t->path), .mb = mb, .inbox = in,
			  .uid = t->uid, .gid = t->gid};
	return b;
}

static void boxes_close(struct run *r)
{
	for (size_t i = 0; i < r->nboxes; i++) {
		mbox_folder_close(&r->boxes[i].inbox);
		mbox_close(&r->boxes[i].mb);
		free(r->boxes[i].path);
	}
	free(r->boxes);
	r->boxes = NULL;
	r->nboxes = r->capboxes = 0;
}

/* mbox_batch_commit's identity switch. */
static int box_owner(void *ctx, struct mbox *mb, bool enter, struct err *e)
{
	struct run *r = ctx;
	if (!enter) {
		restore(r);
		return 0;
	}
	for (size_t i = 0; i < r->nboxes; i++)
		if (r->boxes[i].mb == mb)
			return become(r, r->boxes[i].uid, r->boxes[i].gid, e);
	err_set(e, "mailbox owner unknown");
	return -1;
}

/* The targets of one batch, so results find their way back. */
struct pending {
	struct local_target **v;
	size_t n, cap;
};

static void commit_batch(struct run *r, struct mbox_batch **bp,
			 struct pending *p)
{
	struct err e = {{0}};
	if (mbox_batch_count(*bp) > 0 &&
	    mbox_batch_commit(*bp, box_owner, r, &e) < 0)
		log_warn("%s: %s", r->req->queue_id, e.msg);
	for (size_t i = 0; i < p->n; i++) {
		struct local_target *t = p->v[i];
		uint32_t uid;
		int err_no = 0;
		int rc = mbox_batch_result(*bp, (size_t)t->item, &uid, &err_no,
					   &e);
		if (rc == 1) {
			set_outcome(t, LOCAL_OK, "2.0.0", "delivered to maildir");
		} else {
			io_failure(t, err_no, e.msg);
			log_warn("%s: to=<%s>: %s", r->req->queue_id, t->addr,
				 e.msg);
		}
	}
	p->n = 0;
	mbox_batch_free(bp);
	*bp = mbox_batch_new();
}

/* Same maildir as an earlier target of this request: share its copy. */
static struct local_target *dup_of(struct run *r, size_t upto_x,
				   const struct local_target *t)
{
	for (size_t i = 0; i <= upto_x; i++) {
		struct local_expansion *x = &r->xs[i];
		for (size_t k = 0; k < x->n; k++) {
			struct local_target *o = &x->v[k];
			if (o == t)
				return NULL;
			if (x->status != LOCAL_PENDING)
				break;
			if (o->kind == LOCAL_T_MAILDIR && o->item != -2 &&
			    o->path && strcmp(o->path, t->path) == 0)
				return o;
		}
	}
	return NULL;
}

static void deliver_maildirs(struct run *r)
{
	struct mbox_batch *b = mbox_batch_new();
	struct pending p = {0};
	struct buf head;
	buf_init(&head, 0);
	/* Targets that share an earlier target's maildir: dups.v[2i] takes
	 * the outcome of dups.v[2i + 1] after the commits. */
	struct pending dups = {0};
	size_t batch_max = (size_t)params->local_batch_size;
	for (size_t i = 0; i < r->req->nrcpt; i++) {
		struct local_expansion *x = &r->xs[i];
		for (size_t k = 0; x->status == LOCAL_PENDING && k < x->n; k++) {
			struct local_target *t = &x->v[k];
			if (t->kind != LOCAL_T_MAILDIR ||
			    t->status != LOCAL_PENDING)
				continue;
			struct local_target *orig = dup_of(r, i, t);
			if (orig) {
				t->item = -2; /* a copy is made for another */
				if (dups.n + 2 > dups.cap) {
					dups.cap = dups.cap ? dups.cap * 2 : 8;
					dups.v = xrealloc(dups.v,
							  dups.cap * sizeof(*dups.v));
				}
				dups.v[dups.n++] = t;
				dups.v[dups.n++] = orig;
				continue;
			}
			struct err e = {{0}};
			int err_no = 0;
			struct box *bx = box_for(r, t, &err_no, &e);
			if (!bx) {
				io_failure(t, err_no, e.msg);
				log_warn("%s: to=<%s>: %s", r->req->queue_id,
					 t->addr, e.msg);
				continue;
			}
			buf_reset(&head);
			local_msg_prepend(&head, r->req->sender, t->addr);
			struct mbox_part parts[2] = {
				{head.data, head.len},
				{r->msg->data, r->msg->len},
			};
			struct mbox_new m = {.parts = parts, .nparts = 2};
			int item = -1;
			if (become(r, bx->uid, bx->gid, &e) == 0) {
				item = mbox_batch_add(b, bx->inbox, &m, &err_no,
						      &e);
				restore(r);
			}
			if (item < 0) {
				io_failure(t, err_no, e.msg);
				log_warn("%s: to=<%s>: %s", r->req->queue_id,
					 t->addr, e.msg);
				continue;
			}
			t->item = item;
			if (p.n == p.cap) {
				p.cap = p.cap ? p.cap * 2 : 16;
				p.v = xrealloc(p.v, p.cap * sizeof(*p.v));
			}
			p.v[p.n++] = t;
			if (p.n >= batch_max)
				commit_batch(r, &b, &p);
		}
	}
	commit_batch(r, &b, &p);
	mbox_batch_free(&b);
	for (size_t i = 0; i + 1 < dups.n; i += 2) {
		struct local_target *t = dups.v[i], *o = dups.v[i + 1];
		set_outcome(t, o->status == LOCAL_PENDING ? LOCAL_DEFER
							  : o->status,
			    o->dsn[0] ? o->dsn : "4.3.0", "%s",
			    o->reason ? o->reason : "not delivered");
	}
	free(dups.v);
	free(p.v);
	buf_deinit(&head);
	boxes_close(r);
}

/* ---- mbox files --------------------------------------------------------- */

/* Appends the message in mbox format (mboxrd quoting: ">"* "From " lines
 * get one more '>'), so other mail readers can split the file again. */
static void mbox_format(struct buf *out, const struct run *r,
			const struct local_target *t)
{
	time_t now = time(NULL);
	struct tm tm;
	char date[64];
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
	(void)buf_printf(out, "From %s %s\n",
			 r->req->sender[0] ? r->req->sender : "MAILER-DAEMON",
			 date);
	local_msg_prepend(out, r->req->sender, t->addr);
	const char *p = r->msg->data, *end = p + r->msg->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl + 1 : end;
		const char *q = p;
		while (q < line_end && *q == '>')
			q++;
		if (line_end - q >= 5 && memcmp(q, "From ", 5) == 0)
			(void)buf_append_char(out, '>');
		(void)buf_append(out, p, (size_t)(line_end - p));
		p = line_end;
	}
	if (r->msg->len && r->msg->data[r->msg->len - 1] != '\n')
		(void)buf_append_char(out, '\n');
	(void)buf_append_char(out, '\n');
}

static void deliver_file(struct run *r, struct local_target *t)
{
	struct err e = {{0}};
	struct buf text;
	uid_t uid = t->uid;
	gid_t gid = t->gid;
	if (r->as_root)
		local_never_root(&uid, &gid);
	buf_init(&text, 0);
	mbox_format(&text, r, t);
	if (become(r, uid, gid, &e) < 0) {
		set_outcome(t, LOCAL_DEFER, "4.3.0", "%s", e.msg);
		buf_deinit(&text);
		return;
	}
	int fd = open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
				       O_CLOEXEC | O_NOCTTY,
		      0600);
	int err_no = errno;
	struct stat st;
	off_t start = 0;
	bool ok = fd >= 0;
	if (ok && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		err_no = fstat(fd, &st) < 0 ? errno : EISDIR;
		ok = false;
	}
	for (int i = 0; ok && i < 100; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (i == 99) {
			err_no = errno;
			ok = false;
		}
		usleep(100000);
	}
	if (ok) {
		start = lseek(fd, 0, SEEK_END);
		const char *p = text.data;
		size_t left = text.len;
		while (ok && left) {
			ssize_t n = write(fd, p, left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				err_no = n < 0 ? errno : EIO;
				ok = false;
				break;
			}
			p += n;
			left -= (size_t)n;
		}
		if (ok && fsync(fd) < 0) {
			err_no = errno;
			ok = false;
		}
		/* A partial message would corrupt the file for every
		 * reader: take it back. */
		if (!ok && start >= 0)
			(void)ftruncate(fd, start);
	}
	if (fd >= 0)
		close(fd);
	restore(r);
	buf_deinit(&text);
	if (ok) {
		set_outcome(t, LOCAL_OK, "2.0.0", "delivered to file: %s",
			    t->path);
	} else {
		char what[LOCAL_TEXT_MAX];
		(void)snprintf(what, sizeof(what), "cannot append to %s: %s",
			       t->path, strerror(err_no));
		io_failure(t, err_no, what);
		log_warn("%s: to=<%s>: %s", r->req->queue_id, t->addr, what);
	}
}

/* ---- results ------------------------------------------------------------- */

void local_fold(struct local_rcpt *rc, const struct local_expansion *x)
{
	if (x->status != LOCAL_PENDING) {
		local_rcpt_result(rc,
				  x->status == LOCAL_DEFER ? DELIVER_RESULT_DEFER
							   : DELIVER_RESULT_BOUNCE,
				  x->dsn, "%s", buf_cstr(&x->reason));
		return;
	}
	size_t ok = 0, failed = 0, unforwardable = 0;
	const struct local_target *first_ok = NULL, *first_defer = NULL,
				  *first_bounce = NULL;
	for (size_t i = 0; i < x->n; i++) {
		const struct local_target *t = &x->v[i];
		if (t->status == LOCAL_OK) {
			ok++;
			if (!first_ok)
				first_ok = t;
		} else if (t->status == LOCAL_DEFER ||
			   t->status == LOCAL_BOUNCE) {
			failed++;
			if (!t->forwardable)
				unforwardable++;
			if (t->status == LOCAL_DEFER && !first_defer)
				first_defer = t;
			if (t->status == LOCAL_BOUNCE && !first_bounce)
				first_bounce = t;
		}
	}
	/* Addresses for qmgr: remote ones, and, when something else went
	 * through, members that failed (so each is retried or bounced on
	 * its own instead of the whole list again). */
	bool progress = ok > 0;
	for (size_t i = 0; i < x->n; i++)
		if (x->v[i].kind == LOCAL_T_FORWARD &&
		    x->v[i].status == LOCAL_PENDING)
			progress = true;
	bool hand_back = failed > 0 && unforwardable == 0 && progress;
	if (failed > 0 && !hand_back) {
		const struct local_target *w = first_defer ? first_defer
							   : first_bounce;
		local_rcpt_result(rc,
				  first_defer ? DELIVER_RESULT_DEFER
					      : DELIVER_RESULT_BOUNCE,
				  w->dsn, "%s", w->reason ? w->reason : "");
		return;
	}
	size_t bytes = 0;
	for (size_t i = 0; i < x->n; i++) {
		const struct local_target *t = &x->v[i];
		bool fw = (t->kind == LOCAL_T_FORWARD &&
			   t->status == LOCAL_PENDING) ||
			  (hand_back && t->status != LOCAL_OK &&
			   t->status != LOCAL_PENDING);
		if (!fw || strv_contains_nocase(&rc->forward, t->addr))
			continue;
		bytes += strlen(t->addr) + 1;
		if (bytes > FORWARD_BYTES_MAX) {
			strv_deinit(&rc->forward);
			local_rcpt_result(rc, DELIVER_RESULT_BOUNCE, "5.2.4",
					  "alias/forward expansion too large");
			return;
		}
		strv_push(&rc->forward, t->addr);
	}
	if (rc->forward.n > 0) {
		if (ok)
			local_rcpt_result(rc, DELIVER_RESULT_FORWARD, "2.0.0",
					  "%s; forwarded to %zu address(es)",
					  first_ok->reason, rc->forward.n);
		else
			local_rcpt_result(rc, DELIVER_RESULT_FORWARD, "2.0.0",
					  "forwarded to %zu address(es)",
					  rc->forward.n);
		return;
	}
	if (ok == 0) {
		local_rcpt_result(rc, DELIVER_RESULT_DEFER, "4.3.0",
				  "nothing delivered");
		return;
	}
	if (ok > 1)
		local_rcpt_result(rc, DELIVER_RESULT_SENT, "2.0.0",
				  "%s (and %zu more)", first_ok->reason,
				  ok - 1);
	else
		local_rcpt_result(rc, DELIVER_RESULT_SENT, "2.0.0", "%s",
				  first_ok->reason);
}

void local_deliver(struct local_resolver *res, struct local_request *req,
		   const struct local_msg *msg)
{
	struct run r = {.res = res, .req = req, .msg = msg,
			.as_root = res->as_root};
	r.xs = xcalloc(req->nrcpt, sizeof(*r.xs));
	res->msg = msg;
	for (size_t i = 0; i < req->nrcpt; i++) {
		local_expansion_init(&r.xs[i]);
		local_resolve(res, req->rcpts[i].addr, &r.xs[i]);
	}
	deliver_maildirs(&r);
	struct buf head;
	buf_init(&head, 0);
	for (size_t i = 0; i < req->nrcpt; i++) {
		struct local_expansion *x = &r.xs[i];
		for (size_t k = 0; x->status == LOCAL_PENDING && k < x->n; k++) {
			struct local_target *t = &x->v[k];
			if (t->status != LOCAL_PENDING)
				continue;
			if (t->kind == LOCAL_T_FILE) {
				deliver_file(&r, t);
			} else if (t->kind == LOCAL_T_COMMAND) {
				buf_reset(&head);
				local_msg_prepend(&head, req->sender, t->addr);
				local_command_run(t, msg, head.data, head.len,
						  req->sender, t->addr,
						  r.as_root);
			}
		}
		local_fold(&req->rcpts[i], x);
		local_expansion_deinit(x);
	}
	buf_deinit(&head);
	res->msg = NULL;
	free(r.xs);
}
