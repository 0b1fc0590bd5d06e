/* SPDX-License-Identifier: MIT */
/*
 * qmgr_commit.c - the commit service: group commit of producers' messages
 *
 * Producers (smtpd, pickup) connect to private/qmgr and send one commit
 * request per message (proto_qmgr.h). Requests that arrive while a batch
 * is being made durable wait in their sockets; the next loop round reads
 * them all and the batch timer (armed for "now", so it runs after the
 * round's reads) commits them together (DESIGN.md "The performance
 * budget"):
 *   1. rename incoming/ID -> queue/ID for each (never over an existing
 *      file), after checking the file's size against the request;
 *   2. one sync for the whole batch (qmgr_sync.c);
 *   3. one LMDB write transaction with every index entry;
 *   4. reply ok to each producer and log "ID: from=<...>, size=N, nrcpt=N
 *      (queue active)".
 * A failure in 2 or 3 puts the batch's files back out of queue/ (they were
 * never acknowledged) and answers defer to all. Each committed message is
 * then handed to the scheduler (the committed hook).
 * The same socket carries the administration verbs (qmgr_admin.c) from
 * `posthorn queue`; they are answered at once, between commits.
 *
 * Why the loop blocks during the sync instead of syncing in a thread: the
 * sync is the only slow step, nothing else in qmgr may run ahead of it
 * for a message (its index entry must follow it), and the kernel's socket
 * buffers already hold what arrives meanwhile, which is exactly the next
 * batch. A thread would add locking and a second wake-up path for no
 * extra batching. One connection carries at most one commit in flight: its
 * socket is not read again until the reply is queued.
 */
#include "qmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/params.h"
#include "common/proto_qmgr.h"
#include "common/queue_index.h"
#include "common/xalloc.h"

struct qconn {
	struct ipc_conn conn;
	struct event *ev;
	struct qmgr_commit_req req;
	bool awaiting; /* connected, its commit not yet complete */
	bool pending;  /* its commit waits in the pending list */
	bool gone;     /* peer hung up while pending: close after the batch */
	bool ok;       /* batch result for this connection */
	const char *status;
	char reason[256];
};

static struct qmgr_queue *queue;
static struct event_loop *loop;
static enum qmgr_sync_method sync_method;
static qmgr_committed_fn committed_fn;
static void *committed_ctx;
static struct event *batch_timer;
static bool batch_waited; /* this batch already waited for stragglers */
static size_t nawaiting;  /* connections with a commit on its way */
static struct qconn **pending;
static size_t npending, pending_cap;
static struct qconn **all;
static size_t nall, all_cap;

/* ---- connections --------------------------------------------------- */

static void conn_close(struct qconn *c)
{
	if (c->awaiting)
		nawaiting--;
	event_del(&c->ev);
	ipc_conn_deinit(&c->conn);
	qmgr_proto_commit_free(&c->req);
	for (size_t i = 0; i < nall; i++)
		if (all[i] == c) {
			all[i] = all[--nall];
			break;
		}
	free(c);
}

static void conn_reject(struct qconn *c, const char *reason)
{
	log_warn("malformed request from %s on %s: %s", c->conn.peer,
	         service_name(), reason);
	conn_close(c);
}

static void arm_batch(void);
static void on_conn(struct event *ev, unsigned what, void *ctx);

/* An administration request: answered at once (qmgr_admin.c). Such a
 * connection is not a producer, so batches do not wait for it. -1 when
 * c was closed. */
static int conn_admin(struct qconn *c, const struct ipc_msg *req)
{
	struct ipc_msg reply;
	if (c->awaiting) {
		c->awaiting = false;
		nawaiting--;
	}
	ipc_msg_init(&reply);
	qmgr_admin_handle(req, &reply);
	int rc = ipc_conn_queue(&c->conn, &reply);
	ipc_msg_deinit(&reply);
	if (rc < 0 || (rc = ipc_conn_flush(&c->conn)) < 0) {
		conn_close(c);
		return -1;
	}
	if (rc == 0)
		event_fd_set(c->ev, EVENT_WRITE);
	return 0;
}

/* Takes whole messages out of the input buffer until a commit is
 * complete. Returns -1 when c was closed. */
static int conn_process(struct qconn *c)
{
	struct ipc_msg m;
	struct err e;
	ipc_msg_init(&m);
	for (;;) {
		int rc = ipc_conn_next(&c->conn, &m, &e);
		if (rc == 0)
			break;
		if (rc < 0) {
			ipc_msg_deinit(&m);
			conn_reject(c, e.msg);
			return -1;
		}
		if (c->req.env.nrcpt == 0 &&
		    qmgr_admin_is_verb(ipc_type(&m))) {
			if (conn_admin(c, &m) < 0) {
				ipc_msg_deinit(&m);
				return -1;
			}
			if (c->conn.out.len > 0)
				break; /* the rest after the reply is out */
			continue;
		}
		rc = qmgr_proto_commit_add(&c->req, &m, &e);
		if (rc < 0) {
			ipc_msg_deinit(&m);
			conn_reject(c, e.msg);
			return -1;
		}
		if (rc == 1) {
			if (c->awaiting) {
				c->awaiting = false;
				nawaiting--;
			}
			c->pending = true;
			event_fd_set(c->ev, 0);
			if (npending == pending_cap) {
				pending_cap =
				        pending_cap ? pending_cap * 2 : 64;
				pending = xrealloc(pending,
				                   pending_cap *
				                           sizeof(*pending));
			}
			pending[npending++] = c;
			arm_batch();
			break;
		}
	}
	ipc_msg_deinit(&m);
	return 0;
}

static void conn_write_done(struct qconn *c)
{
	int rc = ipc_conn_flush(&c->conn);
	if (rc < 0) {
		conn_close(c);
		return;
	}
	if (rc == 0) {
		event_fd_set(c->ev, EVENT_WRITE);
		return;
	}
	/* All sent: read the next request (maybe already buffered). */
	event_fd_set(c->ev, EVENT_READ);
	if (c->conn.in.len > 0)
		(void)conn_process(c);
}

static void on_conn(struct event *ev, unsigned what, void *ctx)
{
	struct qconn *c = ctx;
	(void)ev;
	if (c->pending) {
		/* Not reading while the commit waits; a hang-up only means
		 * the reply has nobody to go to. */
		if (what & EVENT_ERROR) {
			c->gone = true;
			event_fd_set(c->ev, 0);
			event_del(&c->ev);
		}
		return;
	}
	if (what & EVENT_WRITE) {
		conn_write_done(c);
		return;
	}
	int rc = ipc_conn_fill(&c->conn);
	if (rc < 0 || (rc == 0 && c->conn.in.len == 0)) {
		conn_close(c);
		return;
	}
	if (conn_process(c) < 0)
		return;
	if (rc == 0 && !c->pending) {
		if (c->conn.in.len > 0)
			conn_reject(c, "connection closed inside a request");
		else
			conn_close(c);
	}
}

void qmgr_commit_accept(struct service_client *sc)
{
	struct qconn *c = xcalloc(1, sizeof(*c));
	char peer[64];
	uid_t uid;
	gid_t gid;
	pid_t pid;
	if (fdpass_peer_cred(sc->fd, &uid, &gid, &pid) == 0)
		snprintf(peer, sizeof(peer), "pid=%ld uid=%ld", (long)pid,
		         (long)uid);
	else
		snprintf(peer, sizeof(peer), "%s", sc->peer.addr);
	ipc_conn_init(&c->conn, sc->fd, peer);
	sc->fd = -1;
	qmgr_proto_commit_reset(&c->req);
	c->ev = event_add_fd(loop, c->conn.fd, EVENT_READ, on_conn, c);
	if (!c->ev ||
	    ipc_conn_greet(&c->conn, QMGR_PROTO, QMGR_PROTO_VERSION) < 0) {
		log_warn("cannot serve %s: %s", peer, strerror(errno));
		event_del(&c->ev);
		ipc_conn_deinit(&c->conn);
		qmgr_proto_commit_free(&c->req);
		free(c);
		return;
	}
	if (nall == all_cap) {
		all_cap = all_cap ? all_cap * 2 : 64;
		all = xrealloc(all, all_cap * sizeof(*all));
	}
	all[nall++] = c;
	c->awaiting = true;
	nawaiting++;
	if (ipc_conn_flush(&c->conn) == 0)
		event_fd_set(c->ev, EVENT_READ | EVENT_WRITE);
}

/* ---- the batch ----------------------------------------------------- */

struct batch {
	struct qconn **v;
	size_t n;
	char **moved; /* ids renamed into queue/ */
	size_t nmoved;
	struct qmgr_store_round *store; /* delivery results riding along */
};

static void set_result(struct qconn *c, bool ok, const char *status,
                       const char *what, const char *detail)
{
	c->ok = ok;
	c->status = status;
	snprintf(c->reason, sizeof(c->reason), "%s%s%s%s", what,
	         detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
}

/* Step 1: checks and renames one message's file. */
static void move_one(struct batch *b, struct qconn *c)
{
	const struct queue_envelope *env = &c->req.env;
	struct stat st;
	if (fstatat(queue->incoming_fd, env->queue_id, &st,
	            AT_SYMLINK_NOFOLLOW) < 0) {
		log_warn("%s: commit from %s: incoming file: %s", env->queue_id,
		         c->conn.peer, strerror(errno));
		set_result(c, false, "fail", "no such file in incoming/",
		           strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != env->size) {
		log_warn("%s: commit from %s: size %" PRIu64
		         " claimed, file has %lld",
		         env->queue_id, c->conn.peer, env->size,
		         (long long)st.st_size);
		set_result(c, false, "fail",
		           "file size does not match the request", "");
		return;
	}
	if (renameat2(queue->incoming_fd, env->queue_id, queue->queue_fd,
	              env->queue_id, RENAME_NOREPLACE) < 0) {
		log_warn("%s: commit from %s: rename into queue/: %s",
		         env->queue_id, c->conn.peer, strerror(errno));
		set_result(c, false, errno == EEXIST ? "fail" : "defer",
		           "cannot move the file into the queue",
		           strerror(errno));
		return;
	}
	b->moved[b->nmoved++] = c->req.env.queue_id;
	set_result(c, true, "ok", "", "");
}

static int put_all(struct db_txn *txn, void *ctx, struct err *e)
{
	struct batch *b = ctx;
	for (size_t i = 0; i < b->n; i++) {
		struct qconn *c = b->v[i];
		if (c->ok && queue_index_put(txn, &c->req.env, e) < 0)
			return -1;
	}
	return qmgr_store_write(txn, b->store, e);
}

/* Steps 2 and 3 for the moved files; on failure they leave queue/. */
static void make_durable(struct batch *b)
{
	struct err e;
	if (b->nmoved == 0)
		return;
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < b->n; i++)
		b->v[i]->req.env.next_attempt = now;
	int rc = qmgr_sync_files(queue, sync_method, b->moved, b->nmoved, &e);
	/* Delivery results waiting to be written share this transaction:
	 * under load that halves the index commits. If they cannot be
	 * written, the batch is tried alone so they never hold up a
	 * commit. */
	b->store = rc == 0 ? qmgr_store_begin() : NULL;
	if (rc == 0)
		rc = db_write(queue->index, put_all, b, &e);
	if (rc < 0 && b->store) {
		qmgr_store_end(b->store, false, &e);
		b->store = NULL;
		rc = db_write(queue->index, put_all, b, &e);
	}
	qmgr_store_end(b->store, rc == 0, &e);
	b->store = NULL;
	if (rc == 0)
		return;
	log_error("commit of %zu message(s) failed: %s", b->nmoved, e.msg);
	for (size_t i = 0; i < b->n; i++) {
		struct qconn *c = b->v[i];
		if (!c->ok)
			continue;
		/* Never acknowledged: take it out of queue/ again so no
		 * orphan outlives this process (recovery would remove it
		 * too). The producer answers 4xx and the client retries. */
		if (unlinkat(queue->queue_fd, c->req.env.queue_id, 0) < 0)
			log_warn("%s: unlink queue/%s: %s", c->req.env.queue_id,
			         c->req.env.queue_id, strerror(errno));
		set_result(c, false, "defer", "queue file write error", "");
	}
}

static void reply_one(struct qconn *c)
{
	struct ipc_msg m;
	const struct queue_envelope *env = &c->req.env;
	char sender[QUEUE_ADDR_MAX + 1];
	if (c->ok) {
		log_info("%s: from=<%s>, size=%" PRIu64 ", nrcpt=%zu "
		         "(queue active)",
		         env->queue_id,
		         log_quote(sender, sizeof(sender), env->sender,
		                   strlen(env->sender)),
		         env->size, env->nrcpt);
	}
	c->pending = false;
	if (c->gone || !c->ev) {
		if (c->ok && committed_fn)
			committed_fn(env, committed_ctx);
		conn_close(c);
		return;
	}
	ipc_msg_init(&m);
	ipc_msg_begin_reply(&m, c->status);
	(void)ipc_put_str(&m, QMGR_ATTR_QUEUE_ID, env->queue_id);
	if (!c->ok)
		(void)ipc_put_str(&m, "reason", c->reason);
	int rc = ipc_conn_queue(&c->conn, &m);
	ipc_msg_deinit(&m);
	if (c->ok && committed_fn)
		committed_fn(env, committed_ctx);
	qmgr_proto_commit_reset(&c->req);
	if (rc < 0) {
		conn_close(c);
		return;
	}
	conn_write_done(c);
}

static void run_batch(void)
{
	struct batch b = {0};
	size_t limit = (size_t)params->qmgr_commit_batch_limit;
	b.n = npending < limit ? npending : limit;
	if (b.n == 0)
		return;
	b.v = xmalloc(b.n * sizeof(*b.v));
	b.moved = xmalloc(b.n * sizeof(*b.moved));
	memcpy(b.v, pending, b.n * sizeof(*b.v));
	memmove(pending, pending + b.n, (npending - b.n) * sizeof(*pending));
	npending -= b.n;

	for (size_t i = 0; i < b.n; i++)
		move_one(&b, b.v[i]);
	make_durable(&b);
	log_debug(1, "batch of %zu commit(s), %zu durable", b.n, b.nmoved);
	for (size_t i = 0; i < b.n; i++)
		reply_one(b.v[i]);
	free(b.v);
	free(b.moved);
	if (npending > 0)
		arm_batch();
}

/*
 * Producers typically connect, send one commit and wait. Right after a
 * batch is answered they all come back within a fraction of a
 * millisecond; starting the next sync with only the first one or two
 * would leave the rest waiting a whole sync. So when other producers are
 * connected with a commit on its way, the batch waits once, at most
 * BATCH_GATHER_MS, for them (PostgreSQL's commit_delay/commit_siblings
 * idea). A producer alone never waits.
 */
#define BATCH_GATHER_MS 1

static void on_batch_timer(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	(void)ctx;
	if (!batch_waited && nawaiting > 0 &&
	    npending < (size_t)params->qmgr_commit_batch_limit) {
		batch_waited = true;
		event_timer_set(ev, BATCH_GATHER_MS);
		return;
	}
	batch_waited = false;
	run_batch();
}

static void arm_batch(void)
{
	if (!batch_timer)
		batch_timer = event_add_timer(loop, 0, on_batch_timer, NULL);
	else if (!batch_waited || nawaiting == 0)
		event_timer_set(batch_timer, 0);
}

void qmgr_commit_init(struct qmgr_queue *q, struct event_loop *l,
                      enum qmgr_sync_method sync, qmgr_committed_fn done,
                      void *done_ctx)
{
	queue = q;
	loop = l;
	sync_method = sync;
	committed_fn = done;
	committed_ctx = done_ctx;
}

void qmgr_commit_shutdown(void)
{
	while (npending > 0)
		run_batch();
	while (nall > 0) {
		struct qconn *c = all[nall - 1];
		/* A last reply may still sit in the buffer: one try. */
		(void)ipc_conn_flush(&c->conn);
		conn_close(c);
	}
	event_del(&batch_timer);
	free(pending);
	free(all);
	pending = NULL;
	all = NULL;
	npending = pending_cap = nall = all_cap = 0;
}
