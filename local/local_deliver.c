/* SPDX-License-Identifier: MIT */
/*
 * local_deliver.c - a group of requests delivered: every recipient
 * expanded, every maildir copy of every request written into one mbox
 * batch (one sync round for all, one index commit per mailbox), mbox
 * files and commands after, and the outcomes folded into one result per
 * recipient
 *
 * Identity: the maildir and mbox file of a target are touched only with
 * its owner's effective ids (privs_become; the mbox batch calls back for
 * each mailbox), so a user's symlink cannot make root write elsewhere.
 * Commands run in a child that drops to the owner for good.
 *
 * Crash safety: nothing is reported before mbox_batch_commit() says the
 * copy and its index entry are on disk; a local killed before replying
 * leaves qmgr to deliver every request of the group again (a duplicate,
 * never a loss).
 *
 * Open mailboxes are kept across groups (at most BOXES_MAX, least
 * recently used closed first), keyed by path and owner; before its first
 * use in a group a kept one is checked against the disk (mbox_stale:
 * maildir or index replaced) and opened again when it changed.
 *
 * The same maildir reached twice in one request (a user listed in two
 * aliases, or named directly and through an alias) gets one copy, as in
 * Postfix; two requests of a group are two messages, two copies.
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
#define BOXES_MAX 64            /* open mailboxes kept between groups */

struct box {
	char *path;
	struct mbox *mb;
	struct mbox_folder *inbox;
	uid_t uid;
	gid_t gid;
	uint64_t used; /* the group that used it last */
	bool bad;      /* a delivery failed: close it after the group */
};

/* The mailboxes this process keeps open (process-wide: a struct mbox
 * belongs to the process that opened it). */
static struct box **boxes;
static size_t nboxes, capboxes;
static uint64_t group_serial;

/* One request of the group. */
struct part {
	struct local_request *req;
	const struct local_msg *msg;
	struct local_expansion *xs;
};

struct run {
	struct local_resolver *res;
	struct part *parts;
	size_t nparts;
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

static void box_close(struct box **bp)
{
	struct box *b = *bp;
	mbox_folder_close(&b->inbox);
	mbox_close(&b->mb);
	free(b->path);
	free(b);
	*bp = NULL;
}

/* Removes boxes[i] from the cache and closes it. */
static void box_drop(size_t i)
{
	box_close(&boxes[i]);
	boxes[i] = boxes[--nboxes];
}

/* A kept mailbox for (path, owner), checked once per group; NULL when
 * there is none (or it went stale and was closed). */
static struct box *box_kept(const struct local_target *t)
{
	for (size_t i = 0; i < nboxes; i++) {
		struct box *b = boxes[i];
		if (b->uid != t->uid || b->gid != t->gid ||
		    strcmp(b->path, t->path) != 0)
			continue;
		if (b->used != group_serial && mbox_stale(b->mb)) {
			box_drop(i);
			return NULL;
		}
		b->used = group_serial;
		return b;
	}
	return NULL;
}

/* The open mailbox for a maildir path, opened (and created) as its
 * owner on first use. NULL with e set. */
static struct box *box_for(struct run *r, const struct local_target *t,
			   int *err_no, struct err *e)
{
	struct box *b = box_kept(t);
	if (b)
		return b;
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
	if (nboxes == capboxes) {
		capboxes = capboxes ? capboxes * 2 : 16;
		boxes = xrealloc(boxes, capboxes * sizeof(*boxes));
	}
	b = xcalloc(1, sizeof(*b));
	*b = (struct box){.path = xstrdup(t->path), .mb = mb, .inbox = in,
			  .uid = t->uid, .gid = t->gid, .used = group_serial};
	boxes[nboxes++] = b;
	return b;
}

/* After a group: closes boxes that failed, then the least recently used
 * ones beyond BOXES_MAX. */
static void boxes_trim(void)
{
	for (size_t i = 0; i < nboxes;)
		if (boxes[i]->bad)
			box_drop(i);
		else
			i++;
	while (nboxes > BOXES_MAX) {
		size_t old = 0;
		for (size_t i = 1; i < nboxes; i++)
			if (boxes[i]->used < boxes[old]->used)
				old = i;
		box_drop(old);
	}
}

void local_boxes_close(void)
{
	while (nboxes > 0)
		box_drop(nboxes - 1);
	free(boxes);
	boxes = NULL;
	capboxes = 0;
}

static struct box *box_of(struct mbox *mb)
{
	for (size_t i = 0; i < nboxes; i++)
		if (boxes[i]->mb == mb)
			return boxes[i];
	return NULL;
}

/* mbox_batch_commit's identity switch. */
static int box_owner(void *ctx, struct mbox *mb, bool enter, struct err *e)
{
	struct run *r = ctx;
	if (!enter) {
		restore(r);
		return 0;
	}
	struct box *b = box_of(mb);
	if (b)
		return become(r, b->uid, b->gid, e);
	err_set(e, "mailbox owner unknown");
	return -1;
}

/* The targets of one batch, so results find their way back. */
struct pending {
	struct {
		struct local_target *t;
		const char *queue_id;
		struct box *box;
	} *v;
	size_t n, cap;
};

static void commit_batch(struct run *r, struct mbox_batch **bp,
			 struct pending *p)
{
	struct err e = {{0}};
	if (mbox_batch_count(*bp) > 0 &&
	    mbox_batch_commit(*bp, box_owner, r, &e) < 0)
		log_warn("%s: %s", p->n ? p->v[0].queue_id : "-", e.msg);
	for (size_t i = 0; i < p->n; i++) {
		struct local_target *t = p->v[i].t;
		uint32_t uid;
		int err_no = 0;
		int rc = mbox_batch_result(*bp, (size_t)t->item, &uid, &err_no,
					   &e);
		if (rc == 1) {
			set_outcome(t, LOCAL_OK, "2.0.0", "delivered to maildir");
		} else {
			io_failure(t, err_no, e.msg);
			p->v[i].box->bad = true;
			log_warn("%s: to=<%s>: %s", p->v[i].queue_id, t->addr,
				 e.msg);
		}
	}
	p->n = 0;
	mbox_batch_free(bp);
	*bp = mbox_batch_new();
}

/* Same maildir as an earlier target of this request: share its copy. */
static struct local_target *dup_of(struct part *pt, size_t upto_x,
				   const struct local_target *t)
{
	for (size_t i = 0; i <= upto_x; i++) {
		struct local_expansion *x = &pt->xs[i];
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

/* Pairs of targets: v[2i] takes the outcome of v[2i + 1]. */
struct dups {
	struct local_target **v;
	size_t n, cap;
};

static void dups_add(struct dups *d, struct local_target *t,
		     struct local_target *orig)
{
	if (d->n + 2 > d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	d->v[d->n++] = t;
	d->v[d->n++] = orig;
}

/* Writes target t's copy into batch b: 0 added (t->item set), -1 t
 * failed (its outcome set). */
static int add_copy(struct run *r, struct part *pt, struct local_target *t,
		    struct mbox_batch *b, struct buf *head, struct box **bx_out)
{
	struct err e = {{0}};
	int err_no = 0;
	struct box *bx = box_for(r, t, &err_no, &e);
	if (!bx) {
		io_failure(t, err_no, e.msg);
		log_warn("%s: to=<%s>: %s", pt->req->queue_id, t->addr, e.msg);
		return -1;
	}
	buf_reset(head);
	local_msg_prepend(head, pt->req->sender, t->addr, pt->req->dlvto);
	struct mbox_part parts[2] = {
		{head->data, head->len},
		{pt->msg->data, pt->msg->len},
	};
	struct mbox_new m = {.parts = parts, .nparts = 2};
	int item = -1;
	if (become(r, bx->uid, bx->gid, &e) == 0) {
		item = mbox_batch_add(b, bx->inbox, &m, &err_no, &e);
		restore(r);
	}
	if (item < 0) {
		io_failure(t, err_no, e.msg);
		bx->bad = true;
		log_warn("%s: to=<%s>: %s", pt->req->queue_id, t->addr, e.msg);
		return -1;
	}
	t->item = item;
	*bx_out = bx;
	return 0;
}

/* The state of deliver_maildirs: the batch being filled and what its
 * results go back to. */
struct fill {
	struct mbox_batch *b;
	struct pending p;
	struct dups dups;
	struct buf head;
	size_t batch_max;
};

/* One maildir target of request pt's recipient i into the batch. */
static void fill_target(struct run *r, struct fill *fl, struct part *pt,
			size_t i, struct local_target *t)
{
	struct local_target *orig = dup_of(pt, i, t);
	if (orig) {
		t->item = -2; /* a copy made for another */
		dups_add(&fl->dups, t, orig);
		return;
	}
	struct box *bx;
	if (add_copy(r, pt, t, fl->b, &fl->head, &bx) < 0)
		return;
	struct pending *p = &fl->p;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n].t = t;
	p->v[p->n].queue_id = pt->req->queue_id;
	p->v[p->n].box = bx;
	p->n++;
	if (p->n >= fl->batch_max)
		commit_batch(r, &fl->b, p);
}

static void deliver_maildirs(struct run *r)
{
	struct fill fl = {.b = mbox_batch_new(),
			  .batch_max = (size_t)params->local_batch_size};
	buf_init(&fl.head, 0);
	for (size_t q = 0; q < r->nparts; q++) {
		struct part *pt = &r->parts[q];
		for (size_t i = 0; i < pt->req->nrcpt; i++) {
			struct local_expansion *x = &pt->xs[i];
			size_t nt = x->status == LOCAL_PENDING ? x->n : 0;
			for (size_t k = 0; k < nt; k++)
				if (x->v[k].kind == LOCAL_T_MAILDIR &&
				    x->v[k].status == LOCAL_PENDING)
					fill_target(r, &fl, pt, i, &x->v[k]);
		}
	}
	commit_batch(r, &fl.b, &fl.p);
	mbox_batch_free(&fl.b);
	for (size_t i = 0; i + 1 < fl.dups.n; i += 2) {
		struct local_target *t = fl.dups.v[i], *o = fl.dups.v[i + 1];
		set_outcome(t, o->status == LOCAL_PENDING ? LOCAL_DEFER
							  : o->status,
			    o->dsn[0] ? o->dsn : "4.3.0", "%s",
			    o->reason ? o->reason : "not delivered");
	}
	free(fl.dups.v);
	free(fl.p.v);
	buf_deinit(&fl.head);
	boxes_trim();
}

/* ---- mbox files --------------------------------------------------------- */

/* Appends the message in mbox format (mboxrd quoting: ">"* "From " lines
 * get one more '>'), so other mail readers can split the file again. */
static void mbox_format(struct buf *out, const struct part *r,
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
	local_msg_prepend(out, r->req->sender, t->addr, r->req->dlvto);
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

static void deliver_file(struct run *r, const struct part *pt,
			 struct local_target *t)
{
	struct err e = {{0}};
	struct buf text;
	uid_t uid = t->uid;
	gid_t gid = t->gid;
	if (r->as_root)
		local_never_root(&uid, &gid);
	buf_init(&text, 0);
	mbox_format(&text, pt, t);
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
		log_warn("%s: to=<%s>: %s", pt->req->queue_id, t->addr, what);
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

/* Files and commands of one request, then one result per recipient. */
static void finish_part(struct run *r, struct part *pt)
{
	struct local_request *req = pt->req;
	struct buf head;
	buf_init(&head, 0);
	for (size_t i = 0; i < req->nrcpt; i++) {
		struct local_expansion *x = &pt->xs[i];
		size_t nt = x->status == LOCAL_PENDING ? x->n : 0;
		for (size_t k = 0; k < nt; k++) {
			struct local_target *t = &x->v[k];
			if (t->status != LOCAL_PENDING)
				continue;
			if (t->kind == LOCAL_T_FILE) {
				deliver_file(r, pt, t);
			} else if (t->kind == LOCAL_T_COMMAND) {
				buf_reset(&head);
				local_msg_prepend(&head, req->sender, t->addr,
						  req->dlvto);
				local_command_run(t, pt->msg, head.data,
						  head.len, req->sender,
						  t->addr, r->as_root);
			}
		}
		local_fold(&req->rcpts[i], x);
		/* What this recipient forwards carries its address and
		 * chain on as Delivered-To (the loop guard between hosts). */
		if (req->rcpts[i].result &&
		    strcmp(req->rcpts[i].result, DELIVER_RESULT_FORWARD) == 0)
			local_rcpt_chain(&req->rcpts[i], x->top, req->dlvto);
		local_expansion_deinit(x);
	}
	buf_deinit(&head);
	free(pt->xs);
	pt->xs = NULL;
}

void local_deliver_group(struct local_resolver *res,
			 const struct local_delivery *v, size_t n)
{
	struct run r = {.res = res, .nparts = n, .as_root = res->as_root};
	r.parts = xcalloc(n ? n : 1, sizeof(*r.parts));
	group_serial++;
	for (size_t q = 0; q < n; q++) {
		struct part *pt = &r.parts[q];
		pt->req = v[q].req;
		pt->msg = v[q].msg;
		pt->xs = xcalloc(pt->req->nrcpt ? pt->req->nrcpt : 1,
				 sizeof(*pt->xs));
		res->msg = pt->msg;
		res->dlvto = pt->req->dlvto;
		for (size_t i = 0; i < pt->req->nrcpt; i++) {
			local_expansion_init(&pt->xs[i]);
			local_resolve(res, pt->req->rcpts[i].addr, &pt->xs[i]);
		}
	}
	res->msg = NULL;
	res->dlvto = NULL;
	deliver_maildirs(&r);
	for (size_t q = 0; q < n; q++)
		finish_part(&r, &r.parts[q]);
	free(r.parts);
}

void local_deliver(struct local_resolver *res, struct local_request *req,
		   const struct local_msg *msg)
{
	struct local_delivery d = {.req = req, .msg = msg};
	local_deliver_group(res, &d, 1);
}
