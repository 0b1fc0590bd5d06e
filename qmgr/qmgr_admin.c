/* SPDX-License-Identifier: MIT */
/*
 * qmgr_admin.c - queue administration requests on private/qmgr
 *
 * `posthorn queue flush | delete | hold | release | requeue` send these
 * (proto_qmgr.h); qmgr, the only writer of the index, carries them out:
 *   flush    every deferred message becomes due now, dead transports are
 *            tried again, and a scan runs;
 *   delete   ID|ALL: index entry and file go ("ID: removed");
 *   hold     ID|ALL: out of the due order until released;
 *   release  ID|ALL: back into it, due now;
 *   requeue  ID|ALL: attempt counts reset, due now.
 * A message in the active set is not changed under its deliveries: it is
 * flagged, jobs not yet sent are dropped, and qmgr_store.c applies the
 * flag once its requests in flight have answered. Others are changed in
 * the index in transactions of up to BATCH messages. Reply: status=ok
 * with count= (messages affected), or status=fail for a single id that is
 * not queued.
 */
#include "qmgr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proto_qmgr.h"
#include "common/queue_index.h"
#include "common/xalloc.h"

#define BATCH 256

enum op { OP_HOLD, OP_RELEASE, OP_DELETE, OP_REQUEUE, OP_FLUSH };

static const struct {
	const char *verb;
	enum op op;
	const char *logged; /* "ID: <logged>" */
} verbs[] = {
        {QMGR_REQ_HOLD, OP_HOLD, "placed on hold"},
        {QMGR_REQ_RELEASE, OP_RELEASE, "released from hold"},
        {QMGR_REQ_DELETE, OP_DELETE, "removed"},
        {QMGR_REQ_REQUEUE, OP_REQUEUE, "requeued"},
        {QMGR_REQ_FLUSH, OP_FLUSH, NULL},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

bool qmgr_admin_is_verb(const char *type)
{
	for (size_t i = 0; i < NVERBS; i++)
		if (strcmp(type, verbs[i].verb) == 0)
			return true;
	return false;
}

struct batch {
	enum op op;
	char (*ids)[QUEUE_ID_SIZE];
	size_t n;
	bool *found, *changed;
	int64_t now;
	struct arena *a;
};

/* ---- messages in the active set ------------------------------------ */

/* 1 changed, 0 found unchanged. */
static int active_op(struct qmgr_msg *m, enum op op)
{
	switch (op) {
	case OP_DELETE:
		if (m->flags & QMGR_M_DELETE)
			return 0;
		m->flags |= QMGR_M_DELETE;
		break;
	case OP_HOLD:
		if (m->flags & QMGR_M_HOLD)
			return 0;
		m->flags |= QMGR_M_HOLD;
		break;
	case OP_RELEASE:
		if (!(m->flags & QMGR_M_HOLD))
			return 0;
		m->flags &= ~QMGR_M_HOLD;
		log_info("%s: released from hold", m->env.queue_id);
		return 1;
	case OP_REQUEUE:
		m->flags |= QMGR_M_REQUEUE;
		log_info("%s: requeued", m->env.queue_id);
		return 1;
	default:
		return 0;
	}
	/* delete and hold are logged when they take effect. */
	qmgr_store_mark(m);
	return 1;
}

/* ---- messages in the index only ------------------------------------ */

static int index_op(struct db_txn *txn, struct batch *b, size_t i,
                    struct err *e)
{
	const char *id = b->ids[i];
	struct queue_envelope env;
	int rc;
	if (b->op == OP_DELETE) {
		rc = queue_index_delete(txn, id, e);
		b->found[i] = b->changed[i] = rc == 1;
		return rc < 0 ? -1 : 0;
	}
	bool rcpts = b->op == OP_REQUEUE;
	rc = queue_index_get(txn, id, b->a, rcpts, &env, e);
	if (rc <= 0)
		return rc;
	b->found[i] = true;
	switch (b->op) {
	case OP_HOLD:
		if (env.hold)
			return 0;
		env.hold = true;
		break;
	case OP_RELEASE:
	case OP_FLUSH:
		if (b->op == OP_RELEASE ? !env.hold
		                        : env.hold || env.next_attempt <= b->now)
			return 0;
		env.hold = false;
		env.next_attempt = b->now;
		break;
	case OP_REQUEUE:
		for (size_t k = 0; k < env.nrcpt; k++)
			if (env.rcpts[k].status == QUEUE_RCPT_PENDING ||
			    env.rcpts[k].status == QUEUE_RCPT_DEFERRED)
				env.rcpts[k].attempts = 0;
		if (!env.hold)
			env.next_attempt = b->now;
		b->changed[i] = true;
		return queue_index_put(txn, &env, e);
	default:
		return 0;
	}
	b->changed[i] = true;
	return queue_index_put_envelope(txn, &env, e);
}

static int write_batch(struct db_txn *txn, void *ctx, struct err *e)
{
	struct batch *b = ctx;
	arena_reset(b->a);
	for (size_t i = 0; i < b->n; i++) {
		b->found[i] = b->changed[i] = false;
		if (b->ids[i][0] && index_op(txn, b, i, e) < 0)
			return -1;
	}
	return 0;
}

static const char *logged_as(enum op op)
{
	for (size_t i = 0; i < NVERBS; i++)
		if (verbs[i].op == op)
			return verbs[i].logged;
	return NULL;
}

/* Applies b->op to the ids of b; adds to *found and *changed. */
static int run_batch(struct batch *b, size_t *found, size_t *changed)
{
	struct err e;
	struct qmgr_queue *q = qmgr_sched_queue();
	for (size_t i = 0; i < b->n; i++) {
		struct qmgr_msg *m = qmgr_sched_find(b->ids[i]);
		if (!m)
			continue;
		if (b->op != OP_FLUSH) {
			(*found)++;
			*changed += (size_t)active_op(m, b->op);
		}
		b->ids[i][0] = 0; /* not the index's business now */
	}
	if (db_write(q->index, write_batch, b, &e) < 0) {
		log_error("queue %s: %s", b->op == OP_FLUSH ? "flush" : "change",
		          e.msg);
		return -1;
	}
	const char *what = logged_as(b->op);
	for (size_t i = 0; i < b->n; i++) {
		*found += b->found[i];
		*changed += b->changed[i];
		if (!b->changed[i])
			continue;
		if (b->op == OP_DELETE &&
		    unlinkat(q->queue_fd, b->ids[i], 0) < 0 && errno != ENOENT)
			log_warn("%s: remove queue/%s: %s", b->ids[i], b->ids[i],
			         strerror(errno));
		if (what)
			log_info("%s: %s", b->ids[i], what);
	}
	return 0;
}

static void batch_init(struct batch *b, enum op op)
{
	memset(b, 0, sizeof(*b));
	b->op = op;
	b->ids = xcalloc(BATCH, QUEUE_ID_SIZE);
	b->found = xcalloc(BATCH, sizeof(bool));
	b->changed = xcalloc(BATCH, sizeof(bool));
	b->now = (int64_t)time(NULL);
	b->a = arena_new();
}

static void batch_deinit(struct batch *b)
{
	free(b->ids);
	free(b->found);
	free(b->changed);
	arena_free(&b->a);
}

/* Collects up to BATCH ids of the index after *last (by id, or in due
 * order after *pos for flush). 1 some, 0 none left, -1 error. */
static int next_ids(struct batch *b, char last[QUEUE_ID_SIZE],
                    struct queue_due *pos)
{
	struct db_txn *txn;
	struct err e;
	int rc = 1;
	b->n = 0;
	if (db_read_begin(qmgr_sched_queue()->index, &txn, &e) < 0) {
		log_error("queue: %s", e.msg);
		return -1;
	}
	while (b->n < BATCH) {
		rc = pos ? queue_index_due_next(txn, pos, INT64_MAX, &e)
		         : queue_index_next(txn, last, &e);
		if (rc != 1)
			break;
		if (pos && pos->when <= b->now)
			continue; /* due already */
		memcpy(b->ids[b->n++], pos ? pos->id : last, QUEUE_ID_SIZE);
	}
	db_txn_end(&txn);
	if (rc < 0) {
		log_error("queue: %s", e.msg);
		return -1;
	}
	return b->n > 0;
}

static int run_all(enum op op, size_t *found, size_t *changed)
{
	struct batch b;
	char last[QUEUE_ID_SIZE] = "";
	struct queue_due pos;
	int rc;
	batch_init(&b, op);
	queue_due_start(&pos);
	while ((rc = next_ids(&b, last, op == OP_FLUSH ? &pos : NULL)) == 1)
		if (run_batch(&b, found, changed) < 0) {
			rc = -1;
			break;
		}
	batch_deinit(&b);
	return rc < 0 ? -1 : 0;
}

static void reply_fail(struct ipc_msg *reply, const char *status,
                       const char *reason)
{
	ipc_msg_begin_reply(reply, status);
	(void)ipc_put_str(reply, "reason", reason);
}

void qmgr_admin_handle(const struct ipc_msg *req, struct ipc_msg *reply)
{
	const char *type = ipc_type(req), *id = NULL;
	enum op op = OP_FLUSH;
	size_t found = 0, changed = 0;
	int rc;
	for (size_t i = 0; i < NVERBS; i++)
		if (strcmp(type, verbs[i].verb) == 0)
			op = verbs[i].op;
	if (op == OP_FLUSH) {
		rc = run_all(op, &found, &changed);
		qmgr_sched_revive();
		qmgr_sched_scan_soon();
		log_info("flush: %zu deferred message(s) made due", changed);
	} else if (ipc_get_str(req, QMGR_ATTR_QUEUE_ID, &id) != 1) {
		reply_fail(reply, "error", "queue_id missing");
		return;
	} else if (strcmp(id, "ALL") == 0) {
		rc = run_all(op, &found, &changed);
	} else if (!queue_id_valid(id, strlen(id))) {
		reply_fail(reply, "fail", "not a queue id");
		return;
	} else {
		struct batch b;
		batch_init(&b, op);
		memcpy(b.ids[0], id, QUEUE_ID_SIZE);
		b.n = 1;
		rc = run_batch(&b, &found, &changed);
		batch_deinit(&b);
		if (rc == 0 && found == 0) {
			reply_fail(reply, "fail", "no such message");
			return;
		}
	}
	if (op == OP_RELEASE || op == OP_REQUEUE)
		qmgr_sched_scan_soon();
	if (rc < 0) {
		reply_fail(reply, "defer", "queue index error (see the log)");
		return;
	}
	ipc_msg_begin_reply(reply, "ok");
	(void)ipc_put_u64(reply, QMGR_ATTR_COUNT, changed);
	(void)ipc_put_u64(reply, QMGR_ATTR_FOUND, found);
}
