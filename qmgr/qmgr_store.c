/* SPDX-License-Identifier: MIT */
/*
 * qmgr_store.c - making delivery results durable, once per loop round
 *
 * Messages whose recipients changed are marked (qmgr_store_mark); within
 * STORE_GATHER_MS they are written together, either by the next commit
 * batch's index transaction (qmgr_commit.c takes them along, so a busy
 * qmgr pays one LMDB commit per round, not two) or by their own:
 *   1. notices: for each finished message (no job left), a DSN per kind
 *      owed (failure, delay, success) is written as a new file in queue/
 *      (qmgr_bounce.c builds the text);
 *   2. the notice files are made durable (qmgr_sync.c);
 *   3. one LMDB transaction: finished messages with every recipient done
 *      (or deleted) are removed; other finished ones get their recipients
 *      and their next attempt (backoff, hold) written; messages still in
 *      progress get only their newly sent recipients written (so a crash
 *      does not deliver those again); the notices are added;
 *   4. after the commit: "ID: ... notification: NEWID" and "ID: removed"
 *      are logged, the files of removed messages unlinked, finished
 *      messages leave the active set and the notices enter it.
 * Ordering gives the crash guarantees: a recipient is recorded bounced in
 * the same transaction that queues its DSN, after the DSN file is on disk
 * (a crash before leaves both undone; recovery removes the orphan file
 * and the recipient is tried again); a message's index entry goes before
 * its file (a crash between leaves an orphan file, which recovery
 * removes). A recipient with a notice still owed is never written
 * without it.
 *
 * Bounce loops: the notice for a null-sender message is a double bounce
 * to bounce_notice_recipient from double_bounce_sender; a message from
 * double_bounce_sender is never bounced, only logged and dropped.
 */
#include "qmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/params.h"
#include "common/queue_index.h"
#include "common/rfc822.h"
#include "common/str.h"
#include "common/xalloc.h"

/* Headers returned when RET=FULL is not asked for (or is too big) are
 * read up to this much, or bounce_size_limit if larger. */
#define HEADER_READ_MAX 16384
#define RETRY_MS 1000
/* Results wait this long for company: a round costs an LMDB commit (two
 * fsyncs) however little it writes, and the loop waits for it. */
#define STORE_GATHER_MS 10

static struct qmgr_queue *queue;
static struct event *flush_timer;
static struct qmgr_msg *dirty;
static bool flush_armed;

struct notice {
	char id[QUEUE_ID_SIZE];
	struct queue_envelope env;
	struct queue_rcpt rcpt;
	enum qmgr_notice kind;
	char from_id[QUEUE_ID_SIZE];
};

struct round {
	bool failed; /* notice files could not be made durable */
	struct err err;
	struct qmgr_msg **v;
	size_t n;
	unsigned char *state; /* ST_* per message */
	struct queue_rcpt **full; /* recipient arrays for whole rewrites */
	struct notice *notes;
	size_t nnotes, cap;
	struct arena *a;
	int64_t now;
};

enum {
	ST_PROGRESS, /* jobs left: write newly sent recipients only */
	ST_FINISH,   /* no job left: write its state, leave the active set */
	ST_DONE,     /* no recipient left (or deleted): remove it */
	ST_SKIP,     /* a notice could not be written: retry later */
};

void qmgr_store_mark(struct qmgr_msg *m)
{
	if (!(m->flags & QMGR_M_DIRTY)) {
		m->flags |= QMGR_M_DIRTY;
		m->dirty_next = dirty;
		dirty = m;
	}
	if (flush_timer && !flush_armed) {
		flush_armed = true;
		event_timer_set(flush_timer, STORE_GATHER_MS);
	}
}

/* ---- notices ------------------------------------------------------- */

static char *qualify(struct arena *a, const char *addr)
{
	return strchr(addr, '@') ? arena_strdup(a, addr)
	                         : arena_printf(a, "%s@%s", addr,
	                                        params->myorigin);
}

static bool from_double_bounce(const struct qmgr_msg *m, struct arena *a)
{
	const char *s = m->env.sender;
	return s[0] && (str_eq_nocase(s, params->double_bounce_sender) ||
	                str_eq_nocase(s, qualify(a, params->double_bounce_sender)));
}

/* Reads the original for a notice: the whole file (when *full and it fits
 * bounce_size_limit) or its header block. Returns the bytes in a (len 0
 * when unreadable) and clears *full when only headers came back. */
static const char *read_original(const char *id, bool *full, size_t *len,
                                 struct arena *a)
{
	size_t limit = (size_t)params->bounce_size_limit;
	if (!*full && limit < HEADER_READ_MAX)
		limit = HEADER_READ_MAX;
	char *p = arena_alloc(a, limit + 1);
	size_t got = 0;
	*len = 0;
	int fd = openat(queue->queue_fd, id, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("%s: original for a notice: %s", id, strerror(errno));
		*full = false;
		return p;
	}
	while (got < limit + 1) {
		ssize_t r = read(fd, p + got, limit + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (*full && got <= limit) {
		*len = got;
		return p;
	}
	*full = false;
	bool blank = false;
	size_t h = rfc822_header_len(p, got < limit ? got : limit, &blank);
	if (!blank) {
		/* Cut inside the header: end at the last whole line. */
		while (h > 0 && p[h - 1] != '\n')
			h--;
	}
	*len = h;
	return p;
}

static const char *action_of(const struct qmgr_rcpt *r, enum qmgr_notice k)
{
	switch (k) {
	case QMGR_NOTICE_DELAY:
		return "delayed";
	case QMGR_NOTICE_SUCCESS:
		return r->action ? r->action : "delivered";
	default:
		return "failed";
	}
}

static int write_file(const char *id, const struct buf *b, struct err *e)
{
	int fd = openat(queue->queue_fd, id,
	                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(e, "create queue/%s: %s", id, strerror(errno));
		return -1;
	}
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = write(fd, b->data + off, b->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err_set(e, "write queue/%s: %s", id,
			        w < 0 ? strerror(errno) : "short write");
			close(fd);
			(void)unlinkat(queue->queue_fd, id, 0);
			return -1;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0) {
		err_set(e, "close queue/%s: %s", id, strerror(errno));
		(void)unlinkat(queue->queue_fd, id, 0);
		return -1;
	}
	return 0;
}

static struct notice *notice_new(struct round *rd)
{
	if (rd->nnotes == rd->cap) {
		rd->cap = rd->cap ? rd->cap * 2 : 8;
		rd->notes = xrealloc(rd->notes, rd->cap * sizeof(*rd->notes));
	}
	struct notice *n = &rd->notes[rd->nnotes];
	memset(n, 0, sizeof(*n));
	return n;
}

/* Writes the notice of kind k for m's recipients flagged with flag.
 * 0 (also when none is owed or it is dropped), -1 with e set. */
static int make_notice(struct round *rd, struct qmgr_msg *m,
                       enum qmgr_notice k, unsigned flag, struct err *e)
{
	struct arena *a = rd->a;
	size_t n = 0;
	for (size_t i = 0; i < m->nr; i++)
		n += (m->r[i].flags & flag) != 0;
	if (n == 0)
		return 0;
	const char *to = m->env.sender, *env_sender = "";
	if (k == QMGR_NOTICE_FAIL && !m->env.sender[0]) {
		k = QMGR_NOTICE_2BOUNCE;
		to = qualify(a, params->bounce_notice_recipient);
		env_sender = qualify(a, params->double_bounce_sender);
	}
	if (k == QMGR_NOTICE_2BOUNCE ? m->env.sender[0] != 0
	                             : from_double_bounce(m, a)) {
		/* Never loops: what double-bounce sent is not returned. */
		log_info("%s: undeliverable postmaster notification discarded",
		         m->env.queue_id);
		return 0;
	}
	if (k != QMGR_NOTICE_2BOUNCE && !to[0])
		return 0;

	struct qmgr_dsn_rcpt *dr = arena_calloc(a, n, sizeof(*dr));
	size_t j = 0;
	for (size_t i = 0; i < m->nr; i++) {
		const struct qmgr_rcpt *r = &m->r[i];
		if (!(r->flags & flag))
			continue;
		dr[j].address = r->q.address;
		dr[j].orcpt = r->q.orcpt;
		dr[j].action = action_of(r, k);
		dr[j].status = r->q.dsn ? r->q.dsn : "5.0.0";
		dr[j].reason = r->q.reason;
		dr[j].relay = r->relay;
		dr[j].last_attempt = r->q.last_attempt;
		j++;
	}
	struct notice *no = notice_new(rd);
	queue_id_new(no->id);
	bool full = k == QMGR_NOTICE_FAIL && m->env.ret == QUEUE_RET_FULL;
	struct qmgr_dsn d = {
	        .kind = k,
	        .queue_id = m->env.queue_id,
	        .report_id = no->id,
	        .hostname = params->myhostname,
	        .from = arena_printf(a, "MAILER-DAEMON@%s", params->myhostname),
	        .to = to,
	        .sender = m->env.sender,
	        .envid = m->env.envid,
	        .arrival_s = m->env.arrival_us / 1000000,
	        .now_s = rd->now,
	        .retry_until_s =
	                m->env.arrival_us / 1000000 + qmgr_lifetime(&m->env),
	};
	d.orig = read_original(m->env.queue_id, &full, &d.orig_len, a);
	d.full = full;
	struct buf b;
	buf_init(&b, 0);
	int rc = qmgr_dsn_build(&d, dr, n, &b);
	if (rc == 0)
		rc = write_file(no->id, &b, e);
	else
		err_set(e, "notice too large");
	struct queue_envelope *env = &no->env;
	memcpy(env->queue_id, no->id, QUEUE_ID_SIZE);
	env->sender = env_sender;
	env->arrival_us = qmgr_now_ms() * 1000;
	env->size = b.len;
	env->protocol = "local";
	env->bounce = true;
	env->body = QUEUE_BODY_7BIT;
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] >= 0x80) {
			env->body = QUEUE_BODY_8BITMIME;
			break;
		}
	env->next_attempt = rd->now;
	/* The original leaves the active set before the notice enters it:
	 * nothing may point into its memory. */
	no->rcpt.address = arena_strdup(a, to);
	no->rcpt.status = QUEUE_RCPT_PENDING;
	env->rcpts = &no->rcpt;
	env->nrcpt = 1;
	no->kind = k;
	memcpy(no->from_id, m->env.queue_id, QUEUE_ID_SIZE);
	buf_deinit(&b);
	if (rc < 0)
		return -1;
	rd->nnotes++;
	return 0;
}

/* ---- the round ----------------------------------------------------- */

static bool all_final(const struct qmgr_msg *m)
{
	for (size_t i = 0; i < m->nr; i++)
		if (m->r[i].q.status != QUEUE_RCPT_SENT &&
		    m->r[i].q.status != QUEUE_RCPT_BOUNCED)
			return false;
	return true;
}

/* Decides what happens to a finished message that stays queued: the
 * next attempt, hold, requeue. */
static void schedule_next(struct qmgr_msg *m, int64_t now)
{
	uint32_t least = UINT32_MAX;
	for (size_t i = 0; i < m->nr; i++) {
		struct qmgr_rcpt *r = &m->r[i];
		if (r->q.status != QUEUE_RCPT_PENDING &&
		    r->q.status != QUEUE_RCPT_DEFERRED)
			continue;
		if (m->flags & QMGR_M_REQUEUE) {
			r->q.attempts = 0;
			r->flags |= QMGR_R_DIRTY;
		}
		if (r->q.attempts < least)
			least = r->q.attempts;
	}
	int64_t expire = m->env.arrival_us / 1000000 + qmgr_lifetime(&m->env);
	m->env.next_attempt =
	        m->flags & QMGR_M_REQUEUE
	                ? now
	                : qmgr_next_attempt(now, least == UINT32_MAX ? 1 : least,
	                                    expire, params->minimal_backoff_time,
	                                    params->maximal_backoff_time);
	m->env.hold = (m->flags & QMGR_M_HOLD) != 0;
	m->flags &= ~QMGR_M_REQUEUE;
}

static bool writes_in_progress(const struct qmgr_rcpt *r)
{
	return (r->flags & QMGR_R_DIRTY) && r->q.status == QUEUE_RCPT_SENT &&
	       !(r->flags & QMGR_R_NOTICES);
}

static int write_msg(struct db_txn *txn, struct round *rd, size_t i,
                     struct err *e)
{
	struct qmgr_msg *m = rd->v[i];
	switch (rd->state[i]) {
	case ST_SKIP:
		return 0;
	case ST_DONE:
		return queue_index_delete(txn, m->env.queue_id, e) < 0 ? -1 : 0;
	case ST_PROGRESS:
		if (m->flags & QMGR_M_GROWN)
			return 0; /* written whole when finished */
		for (size_t k = 0; k < m->nr; k++)
			if (writes_in_progress(&m->r[k]) &&
			    queue_index_put_rcpt(txn, m->env.queue_id, k,
			                         &m->r[k].q, e) < 0)
				return -1;
		return 0;
	default:
		break;
	}
	if (m->flags & QMGR_M_GROWN) {
		struct queue_envelope env = m->env;
		env.rcpts = rd->full[i];
		env.nrcpt = m->nr;
		return queue_index_put(txn, &env, e);
	}
	for (size_t k = 0; k < m->nr; k++)
		if ((m->r[k].flags & QMGR_R_DIRTY) &&
		    queue_index_put_rcpt(txn, m->env.queue_id, k, &m->r[k].q,
		                         e) < 0)
			return -1;
	return queue_index_put_envelope(txn, &m->env, e);
}

static int write_round(struct db_txn *txn, void *ctx, struct err *e)
{
	struct round *rd = ctx;
	for (size_t i = 0; i < rd->n; i++)
		if (write_msg(txn, rd, i, e) < 0)
			return -1;
	for (size_t i = 0; i < rd->nnotes; i++)
		if (queue_index_put(txn, &rd->notes[i].env, e) < 0)
			return -1;
	return 0;
}

static const char *notice_name(enum qmgr_notice k)
{
	switch (k) {
	case QMGR_NOTICE_DELAY:
		return "sender delay notification";
	case QMGR_NOTICE_SUCCESS:
		return "sender delivery status notification";
	case QMGR_NOTICE_2BOUNCE:
		return "postmaster non-delivery notification";
	default:
		return "sender non-delivery notification";
	}
}

/* Step 1 for message i. */
static void prepare(struct round *rd, size_t i)
{
	static const struct {
		enum qmgr_notice kind;
		unsigned flag;
	} kinds[] = {{QMGR_NOTICE_FAIL, QMGR_R_N_FAIL},
	             {QMGR_NOTICE_DELAY, QMGR_R_N_DELAY},
	             {QMGR_NOTICE_SUCCESS, QMGR_R_N_OK}};
	struct qmgr_msg *m = rd->v[i];
	struct err e;
	if (m->jobs > 0) {
		rd->state[i] = ST_PROGRESS;
		return;
	}
	size_t first = rd->nnotes;
	if (!(m->flags & QMGR_M_DELETE)) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			if (make_notice(rd, m, kinds[k].kind, kinds[k].flag,
			                &e) < 0) {
				log_error("%s: cannot write a notice: %s",
				          m->env.queue_id, e.msg);
				for (size_t n = first; n < rd->nnotes; n++)
					(void)unlinkat(queue->queue_fd,
					               rd->notes[n].id, 0);
				rd->nnotes = first;
				rd->state[i] = ST_SKIP;
				return;
			}
		}
	}
	if ((m->flags & QMGR_M_DELETE) || all_final(m)) {
		rd->state[i] = ST_DONE;
		return;
	}
	rd->state[i] = ST_FINISH;
	schedule_next(m, rd->now);
	if (m->flags & QMGR_M_GROWN) {
		rd->full[i] = xcalloc(m->nr, sizeof(**rd->full));
		for (size_t k = 0; k < m->nr; k++)
			rd->full[i][k] = m->r[k].q;
	}
}

/* Step 4. */
static void after_commit(struct round *rd)
{
	bool left = false;
	for (size_t i = 0; i < rd->nnotes; i++) {
		struct notice *no = &rd->notes[i];
		log_info("%s: %s: %s", no->from_id, notice_name(no->kind),
		         no->id);
	}
	for (size_t i = 0; i < rd->n; i++) {
		struct qmgr_msg *m = rd->v[i];
		switch (rd->state[i]) {
		case ST_SKIP:
			m->flags &= ~QMGR_M_DIRTY;
			qmgr_store_mark(m);
			event_timer_set(flush_timer, RETRY_MS);
			continue;
		case ST_PROGRESS:
			if (!(m->flags & QMGR_M_GROWN))
				for (size_t k = 0; k < m->nr; k++)
					if (writes_in_progress(&m->r[k]))
						m->r[k].flags &= ~QMGR_R_DIRTY;
			continue;
		case ST_DONE:
			if (unlinkat(queue->queue_fd, m->env.queue_id, 0) < 0 &&
			    errno != ENOENT)
				log_warn("%s: remove queue/%s: %s",
				         m->env.queue_id, m->env.queue_id,
				         strerror(errno));
			log_info("%s: removed", m->env.queue_id);
			break;
		default:
			if (m->flags & QMGR_M_HOLD)
				log_info("%s: placed on hold", m->env.queue_id);
			break;
		}
		qmgr_sched_release(m);
		left = true;
	}
	/* The notices join the active set like committed messages. */
	for (size_t i = 0; i < rd->nnotes; i++)
		qmgr_sched_add_new(&rd->notes[i].env);
	if (left)
		qmgr_sched_room();
}

static void fail_round(struct round *rd, const struct err *e)
{
	log_error("cannot record delivery results: %s", e->msg);
	for (size_t i = 0; i < rd->nnotes; i++)
		(void)unlinkat(queue->queue_fd, rd->notes[i].id, 0);
	for (size_t i = 0; i < rd->n; i++) {
		rd->v[i]->flags &= ~QMGR_M_DIRTY;
		qmgr_store_mark(rd->v[i]);
	}
	event_timer_set(flush_timer, RETRY_MS);
}

struct qmgr_store_round *qmgr_store_begin(void)
{
	struct err e;
	size_t n = 0;
	for (struct qmgr_msg *m = dirty; m; m = m->dirty_next)
		n++;
	if (n == 0)
		return NULL;
	struct round *rd = xcalloc(1, sizeof(*rd));
	rd->v = xcalloc(n, sizeof(*rd->v));
	rd->state = xcalloc(n, 1);
	rd->full = xcalloc(n, sizeof(*rd->full));
	rd->a = arena_new();
	rd->now = (int64_t)time(NULL);
	for (struct qmgr_msg *m = dirty; m; m = m->dirty_next) {
		m->flags &= ~QMGR_M_DIRTY;
		rd->v[rd->n++] = m;
	}
	dirty = NULL;
	for (size_t i = 0; i < rd->n; i++)
		prepare(rd, i);
	char **ids = xcalloc(rd->nnotes ? rd->nnotes : 1, sizeof(*ids));
	for (size_t i = 0; i < rd->nnotes; i++)
		ids[i] = rd->notes[i].id;
	rd->failed = qmgr_sync_files(queue, QMGR_SYNC_FDATASYNC, ids,
	                             rd->nnotes, &e) < 0;
	if (rd->failed)
		rd->err = e;
	free(ids);
	return (struct qmgr_store_round *)rd;
}

int qmgr_store_write(struct db_txn *txn, struct qmgr_store_round *r,
                     struct err *e)
{
	struct round *rd = (struct round *)r;
	if (!rd)
		return 0;
	if (rd->failed) {
		*e = rd->err; /* never write without the notices on disk */
		return -1;
	}
	return write_round(txn, rd, e);
}

void qmgr_store_end(struct qmgr_store_round *r, bool committed,
                    const struct err *e)
{
	struct round *rd = (struct round *)r;
	if (!rd)
		return;
	if (committed)
		after_commit(rd);
	else
		fail_round(rd, rd->failed ? &rd->err : e);
	for (size_t i = 0; i < rd->n; i++)
		free(rd->full[i]);
	free(rd->full);
	free(rd->v);
	free(rd->state);
	free(rd->notes);
	arena_free(&rd->a);
	free(rd);
}

static int write_only(struct db_txn *txn, void *ctx, struct err *e)
{
	return qmgr_store_write(txn, ctx, e);
}

void qmgr_store_flush(void)
{
	struct err e;
	struct qmgr_store_round *rd = qmgr_store_begin();
	if (!rd)
		return;
	struct round *r = (struct round *)rd;
	bool ok = !r->failed &&
	          db_write(queue->index, write_only, rd, &e) == 0;
	qmgr_store_end(rd, ok, &e);
}

static void on_flush(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	(void)what;
	(void)ctx;
	flush_armed = false;
	qmgr_store_flush();
}

void qmgr_store_init(struct qmgr_queue *q, struct event_loop *loop)
{
	queue = q;
	flush_timer = event_add_timer(loop, -1, on_flush, NULL);
}
