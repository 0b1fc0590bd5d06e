/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_QMGR_QMGR_H
#define POSTHORN_QMGR_QMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "common/event.h"
#include "common/proto_deliver.h"
#include "common/queue_env.h"
#include "common/service.h"

struct arena;
struct buf;
struct ipc_msg;

/*
 * qmgr's shared state and the seams between its modules:
 *   qmgr.c          main, start-up (lock, index, recovery), shutdown
 *   qmgr_commit.c   private/qmgr: producers' commits (group commit) and
 *                   the administration verbs (handed to qmgr_admin.c)
 *   qmgr_sync.c     making a batch of queue files durable
 *   qmgr_recover.c  reconciling queue/ and the index; incoming/ cleanup
 *   qmgr_sched.c    the active set: due scans, routing recipients into
 *                   per-destination job queues, concurrency, dispatch
 *   qmgr_route.c    recipient -> transport + nexthop (address classes,
 *                   transport_maps, relayhost, default_transport)
 *   qmgr_agent.c    connections to delivery agents (private/<transport>)
 *   qmgr_reply.c    the delivery request and the checked reply decoder
 *   qmgr_result.c   one recipient's result: state, log line, notices,
 *                   forwarded recipients
 *   qmgr_retry.c    backoff, expiry and NOTIFY arithmetic (pure)
 *   qmgr_store.c    making results durable: DSN files, one index
 *                   transaction per loop round, removal of done messages
 *   qmgr_bounce.c   RFC 3464 reports (text only, pure)
 *   qmgr_admin.c    flush, hold, release, delete, requeue
 *   qmgr_hash.c     a small string-keyed hash table
 */
struct qmgr_queue {
	char *dir;       /* queue_directory */
	int dir_fd;      /* queue_directory itself */
	int queue_fd;    /* queue/ (flock'ed: one qmgr at a time) */
	int incoming_fd; /* incoming/ */
	struct db_env *index;
};

enum qmgr_sync_method {
	QMGR_SYNC_SYNCFS,
	QMGR_SYNC_FDATASYNC,
	QMGR_SYNC_AUTO, /* fdatasync for small batches, syncfs for large */
};

/* From this many files on, "auto" uses syncfs. */
#define QMGR_SYNC_AUTO_SYNCFS_FROM 16

/* qmgr_sync.c: parses qmgr_sync_method; -1 for an unknown name. */
int qmgr_sync_parse(const char *name, enum qmgr_sync_method *out);
/* Makes the files queue/<ids[i]> and their directory entries durable.
 * 0, or -1 with e set. Blocks. */
int qmgr_sync_files(const struct qmgr_queue *q, enum qmgr_sync_method m,
                    char *const *ids, size_t n, struct err *e);

/* qmgr_recover.c: start-up reconciliation (see the file header). 0, or -1
 * with e set when the queue cannot be read at all. */
int qmgr_recover(struct qmgr_queue *q, struct err *e);
/* Removes incoming/ files older than qmgr_incoming_grace_time. */
void qmgr_incoming_sweep(struct qmgr_queue *q);

/* Called for each message once it is durable and acknowledged, with its
 * envelope (valid only during the call). May be NULL. */
typedef void (*qmgr_committed_fn)(const struct queue_envelope *env,
                                  void *ctx);

/* qmgr_commit.c */
void qmgr_commit_init(struct qmgr_queue *q, struct event_loop *loop,
                      enum qmgr_sync_method sync, qmgr_committed_fn done,
                      void *done_ctx);
/* service_def accept hook: takes ownership of c->fd. */
void qmgr_commit_accept(struct service_client *c);
/* Commits what was received and not yet committed, replies, closes every
 * connection. For shutdown. */
void qmgr_commit_shutdown(void);

/* ---- qmgr_hash.c --------------------------------------------------- */

/* Entries are embedded in the caller's structs (intrusive), keyed by a
 * NUL-terminated string the entry points to. */
struct qmgr_hash_entry {
	const char *key;
	struct qmgr_hash_entry *next;
};
struct qmgr_hash {
	struct qmgr_hash_entry **slots;
	size_t nslots, count;
};
void qmgr_hash_init(struct qmgr_hash *h);
void qmgr_hash_deinit(struct qmgr_hash *h); /* frees slots, not entries */
struct qmgr_hash_entry *qmgr_hash_find(const struct qmgr_hash *h,
                                       const char *key);
/* Adds e (e->key set; no entry with that key may exist). */
void qmgr_hash_add(struct qmgr_hash *h, struct qmgr_hash_entry *e);
void qmgr_hash_remove(struct qmgr_hash *h, struct qmgr_hash_entry *e);
/* Calls fn for every entry (fn must not change h). */
void qmgr_hash_walk(const struct qmgr_hash *h,
                    void (*fn)(struct qmgr_hash_entry *e, void *ctx),
                    void *ctx);

/* ---- qmgr_route.c -------------------------------------------------- */

#define QMGR_TRANSPORT_MAX 64
#define QMGR_NEXTHOP_MAX 1024

/* Postfix's address classes, in the order they are tried. */
enum qmgr_class {
	QMGR_CLASS_LOCAL,   /* mydestination: local_transport */
	QMGR_CLASS_VIRTUAL, /* virtual_mailbox/alias_domains:
	                       virtual_transport */
	QMGR_CLASS_RELAY,   /* relay_domains: relay_transport */
	QMGR_CLASS_DEFAULT, /* anything else: default_transport */
};

struct qmgr_route {
	enum qmgr_class cls;
	char transport[QMGR_TRANSPORT_MAX]; /* master.cf name, or error,
	                                       retry, discard */
	char nexthop[QMGR_NEXTHOP_MAX];     /* lower case, or their text */
};

/* Opens transport_maps. 0, or -1 with e set. */
int qmgr_route_init(struct err *e);
void qmgr_route_deinit(void);
/*
 * Routes one recipient address. 0 with *out filled; -1 with e set when
 * a table cannot be read or the configuration gives no transport (the
 * recipient is deferred, not bounced).
 */
int qmgr_route_rcpt(const char *addr, struct qmgr_route *out, struct err *e);
/* The recipient domain of addr (after the last '@', lower-cased, without
 * a trailing dot) into out; "" when addr has none. */
void qmgr_route_domain(const char *addr, char *out, size_t outsz);

/* ---- qmgr_retry.c -------------------------------------------------- */

/* Wait before the next try after `attempts` failed ones (>= 1):
 * min_s * 2^(attempts-1), at most max_s (and never below min_s). */
long qmgr_backoff(uint32_t attempts, long min_s, long max_s);
/* When a message deferred now should be tried again: now + the backoff
 * of its least-tried deferred recipient, but not after expire_at (so the
 * message is returned on time), and not before now + 1. */
int64_t qmgr_next_attempt(int64_t now, uint32_t attempts, int64_t expire_at,
                          long min_s, long max_s);
/* Seconds a message may stay queued: bounce_queue_lifetime for bounces
 * (null sender), else maximal_queue_lifetime. */
long qmgr_lifetime(const struct queue_envelope *env);
/* True when a message that arrived at arrival_s (seconds) has outlived
 * lifetime_s at now. */
bool qmgr_expired(int64_t arrival_s, int64_t now, long lifetime_s);
/* True when a deferral now deserves a delay notice: delay_warning_time
 * (dwt_s > 0) has passed since arrival_s, and it had not yet passed at
 * the recipient's previous attempt prev_s (0 = none). */
bool qmgr_delay_warning_due(int64_t arrival_s, int64_t prev_s, int64_t now,
                            long dwt_s);
/* Whether a recipient's NOTIFY (QUEUE_NOTIFY_*, 0 = not given) asks for
 * notices of kind `what` (one QUEUE_NOTIFY_* bit): without NOTIFY,
 * FAILURE and DELAY (RFC 3461 4.1 leaves DELAY to the MTA). */
bool qmgr_notify_wants(unsigned notify, unsigned what);
/* NOTIFY as the delivery protocol writes it: "" (not given), "NEVER", or
 * e.g. "SUCCESS,FAILURE". Returns out. */
const char *qmgr_notify_text(unsigned notify, char *out, size_t outsz);

/* ---- qmgr_reply.c -------------------------------------------------- */

#define QMGR_RELAY_MAX 255

enum qmgr_res {
	QMGR_RES_SENT,
	QMGR_RES_DEFER,
	QMGR_RES_BOUNCE,
	QMGR_RES_FORWARD,
};

/* One recipient's outcome, checked and cleaned (printable ASCII only). */
struct qmgr_result {
	enum qmgr_res res;
	char dsn[12];       /* "2.0.0"; its class agrees with res */
	const char *reason; /* never NULL */
	const char *relay;  /* never NULL; "none" when not given */
	const char **fwd;   /* forward: the new addresses (each safe) */
	size_t nfwd;
	const char *dlvto;  /* forward: their delivered-to chain
	                       (queue_dlvto_safe), or NULL */
};

/*
 * Checks and decodes an agent's reply to a request for n recipients whose
 * rcpt_id values were 0 .. n-1. Strings are copied into a.
 *   0  status=ok: out[0..n) filled; a recipient the reply left out is
 *      deferred ("delivery agent returned no result for it");
 *   1  status not ok: *reason_out says why (every recipient defers);
 *  -1  malformed (e set): an unknown or repeated rcpt_id, a value where
 *      none belongs, an unknown result, a bad forward list or
 *      delivered-to chain.
 */
int qmgr_reply_decode(const struct ipc_msg *m, size_t n, struct arena *a,
                      struct qmgr_result *out, const char **reason_out,
                      struct err *e);
/* Makes text safe for the index, logs and DSNs: printable ASCII kept,
 * anything else '?' or (controls) ' ', cut to max bytes. In a. */
const char *qmgr_clean_text(struct arena *a, const char *s, size_t len,
                            size_t max);

/* ---- the active set (qmgr_sched.c) --------------------------------- */

/* Per-recipient flags (struct qmgr_rcpt.flags). */
#define QMGR_R_BUSY 0x01     /* in a job queued or in flight */
#define QMGR_R_DIRTY 0x02    /* index record out of date */
#define QMGR_R_N_FAIL 0x04   /* failure notice owed */
#define QMGR_R_N_DELAY 0x08  /* delay notice owed */
#define QMGR_R_N_OK 0x10     /* success notice owed */
#define QMGR_R_FORWARDED 0x20 /* expanded into other recipients */
#define QMGR_R_NOTICES (QMGR_R_N_FAIL | QMGR_R_N_DELAY | QMGR_R_N_OK)

struct qmgr_rcpt {
	struct queue_rcpt q; /* as in the index; strings in the msg arena */
	unsigned flags;
	const char *relay;  /* where the last attempt went, or NULL */
	const char *action; /* success notice: delivered/relayed/expanded */
};

/* Per-message flags (struct qmgr_msg.flags). */
#define QMGR_M_DIRTY 0x01    /* on the store's list */
#define QMGR_M_DELETE 0x02   /* delete when no job is left */
#define QMGR_M_HOLD 0x04     /* put on hold when no job is left */
#define QMGR_M_REQUEUE 0x08  /* reset attempts, due now, when finished */
#define QMGR_M_GROWN 0x10    /* recipients added: rewrite it whole */
#define QMGR_M_EXPIRED_LOGGED 0x40 /* "status=expired" was logged */

struct qmgr_msg {
	struct qmgr_hash_entry h; /* key: env.queue_id */
	struct arena *arena;      /* envelope and recipient strings */
	struct queue_envelope env; /* env.rcpts unused: see r */
	struct qmgr_rcpt *r;
	size_t nr, cap;
	int64_t active_ms; /* wall clock, when it entered the active set */
	unsigned jobs;     /* jobs queued or in flight */
	unsigned flags;
	struct qmgr_msg *dirty_next;
};

struct qmgr_transport;
struct qmgr_dest;

/* Recipients of one message for one destination: one request. */
struct qmgr_job {
	struct qmgr_msg *msg;
	struct qmgr_dest *dest;
	uint32_t rcpt[DELIVER_RCPT_MAX]; /* indexes into msg->r */
	size_t n;
	/* The delivered-to chain all its recipients share (the copy sent
	 * carries it, so recipients with other chains need another
	 * request); NULL for none. Points into the message's arena. */
	const char *dlvto;
	size_t open_slot; /* its place in the routing pass's open set */
	int64_t queued_ms;  /* wall clock */
	int64_t conn_ms;    /* connection setup took (for delays=) */
	int64_t sent_ms;
	struct qmgr_job *next;       /* in its destination's queue */
	struct qmgr_job *group_next; /* the next request of its group */
	bool holds_dest; /* the last job of its destination in its group:
	                    its end frees the destination's slot */
};

struct qmgr_dest {
	struct qmgr_hash_entry h; /* key: transport NUL... see sched */
	char *key;
	struct qmgr_transport *t;
	char *nexthop;
	int active, limit;
	size_t rcpt_limit;
	struct qmgr_job *head, *tail;
	bool ready; /* on t's ready ring */
	struct qmgr_dest *ready_next;
	struct qmgr_job *open; /* the last job of it being filled by
	                          qmgr_sched_route(), NULL when none */
	uint64_t group;        /* the last group that took a job of it */
	struct qmgr_job *group_last; /* that job (valid while the group is
	                                being built) */
};

struct qmgr_conn;

struct qmgr_transport {
	char *name;
	char *path;  /* queue_directory/private/<name> */
	char *label; /* "private/<name>", for reasons and logs */
	int active; /* connections busy with a group or connecting */
	int limit;
	size_t group_max; /* requests per group its agents take (their
	                     greeting's group=; 1 until one said) */
	int64_t dead_until_ms; /* monotonic; 0 = alive */
	char dead_reason[300];
	struct qmgr_dest *ready_head, *ready_tail;
	struct qmgr_conn *idle;
	struct qmgr_transport *next;
};

void qmgr_sched_init(struct qmgr_queue *q, struct event_loop *loop);
/* The commit hook: a new message enters the active set if there is room
 * (else the next scan finds it). */
void qmgr_sched_committed(const struct queue_envelope *env, void *ctx);
/* Adds a message qmgr itself wrote (a notice); env is copied. */
void qmgr_sched_add_new(const struct queue_envelope *env);
/* Asks for a due scan as soon as possible (flush, release). */
void qmgr_sched_scan_soon(void);
/* The active message with that id, or NULL. */
struct qmgr_msg *qmgr_sched_find(const char *id);
/* Calls fn for every active message. */
void qmgr_sched_walk(void (*fn)(struct qmgr_msg *m, void *ctx), void *ctx);
/* Marks every transport alive again (flush). */
void qmgr_sched_revive(void);
/* A job's request got its answer (or failed): called by qmgr_agent.c.
 * res is out[0..job->n) from qmgr_reply_decode, or NULL when the whole
 * request failed, with dsn and reason saying why. The jobs of a group
 * end in their order. */
void qmgr_sched_job_done(struct qmgr_job *j, const struct qmgr_result *res,
                         const char *dsn, const char *reason);
/* A connection of t is done with its group (every job of it ended):
 * called by qmgr_agent.c after the last qmgr_sched_job_done. */
void qmgr_sched_group_done(struct qmgr_transport *t);
/* Routes recipients [from, msg->nr) that want delivery into jobs. */
void qmgr_sched_route(struct qmgr_msg *m, size_t from);

/*
 * The jobs being filled by one routing pass (qmgr_sched_route). A
 * recipient joins the open job of its destination that has the same
 * delivered-to chain (one request per chain: the agent sends one copy
 * of the message for all its recipients, and the chain is part of
 * that copy), else a new one; at most d->rcpt_limit recipients a job.
 * Start zeroed; dests' open fields must be NULL.
 */
struct qmgr_open_jobs {
	struct qmgr_job **v;
	size_t n, cap;
};
/* Adds recipient i of m (marked QMGR_R_BUSY; m->jobs counts a new job)
 * to an open job for d. Returns a job that was full and left the open
 * set, for the caller to queue, or NULL. */
struct qmgr_job *qmgr_open_jobs_add(struct qmgr_open_jobs *o,
                                    struct qmgr_msg *m, uint32_t i,
                                    struct qmgr_dest *d);
/* Ends the pass: hands each open job, in the order they were opened, to
 * fn (which takes it), clears the dests' open fields, frees o's array. */
void qmgr_open_jobs_close(struct qmgr_open_jobs *o,
                          void (*fn)(struct qmgr_job *j));
/* Frees a message that left the active set (qmgr_store.c). */
void qmgr_sched_release(struct qmgr_msg *m);
/* Called by qmgr_store when messages left the active set. */
void qmgr_sched_room(void);
/* Stops dispatching, waits up to ms for requests in flight, closes all.
 * For shutdown. */
void qmgr_sched_shutdown(long ms);
/* The queue (for qmgr_store and qmgr_admin). */
struct qmgr_queue *qmgr_sched_queue(void);
/* Wall clock in milliseconds. */
int64_t qmgr_now_ms(void);

/* ---- qmgr_agent.c -------------------------------------------------- */

/* Sends a group of jobs (j, j->group_next, ...; one transport) to an
 * agent of their transport on one connection (an idle one, or a new
 * one), each request but the last with more=1. The outcomes come back
 * in order through qmgr_sched_job_done(), then qmgr_sched_group_done(),
 * possibly before this returns (connect failure). */
void qmgr_agent_start(struct qmgr_job *j);
/* Number of requests in flight. */
size_t qmgr_agent_busy(void);
/* Closes idle connections of t (all transports when t is NULL). */
void qmgr_agent_close_idle(struct qmgr_transport *t);
/* Closes everything; jobs in flight are failed with reason. */
void qmgr_agent_close_all(const char *reason);
/* Builds the deliver request for j (qmgr_reply.c); the caller adds
 * more=1 for every request of a group but the last. 0, or -1 when a
 * value passes an IPC limit. */
int qmgr_request_build(const struct qmgr_job *j, struct ipc_msg *m);
/* An upper bound of the encoded size of j's request, in bytes. */
size_t qmgr_request_size(const struct qmgr_job *j);

/* ---- qmgr_result.c ------------------------------------------------- */

/* Applies one recipient's outcome: status, attempt count, log line,
 * notices owed, forwarded recipients (added to the message and routed). */
void qmgr_result_apply(struct qmgr_job *j, size_t k,
                       const struct qmgr_result *res, int64_t now_ms);
/* The same for a recipient that never reached an agent (routing failure,
 * error/discard transports, dead transport). */
void qmgr_result_direct(struct qmgr_msg *m, uint32_t i, enum qmgr_res res,
                        const char *dsn, const char *reason,
                        const char *transport);

/* ---- qmgr_store.c -------------------------------------------------- */

void qmgr_store_init(struct qmgr_queue *q, struct event_loop *loop);
/* Puts m on the list written at the end of this loop round. */
void qmgr_store_mark(struct qmgr_msg *m);
/* Writes everything marked, now (its own index transaction). */
void qmgr_store_flush(void);
/*
 * The same in three steps, so a round can ride on another index
 * transaction (the commit batch's: one LMDB commit instead of two):
 * begin takes what is marked and writes and syncs the notice files (NULL
 * when nothing is marked); write adds the round to txn (-1 with e set
 * when the notices could not be made durable, or on an index error; it
 * may be called again if db_write retries); end finishes it after the
 * transaction committed or failed (then everything is retried later).
 */
struct qmgr_store_round;
struct qmgr_store_round *qmgr_store_begin(void);
int qmgr_store_write(struct db_txn *txn, struct qmgr_store_round *rd,
                     struct err *e);
void qmgr_store_end(struct qmgr_store_round *rd, bool committed,
                    const struct err *e);

/* ---- qmgr_bounce.c ------------------------------------------------- */

enum qmgr_notice {
	QMGR_NOTICE_FAIL,    /* non-delivery to the sender */
	QMGR_NOTICE_DELAY,   /* delay warning to the sender */
	QMGR_NOTICE_SUCCESS, /* delivery report to the sender */
	QMGR_NOTICE_2BOUNCE, /* an undeliverable bounce, to postmaster */
};

struct qmgr_dsn_rcpt {
	const char *address;
	const char *orcpt;  /* "type;xtext" as received, or NULL */
	const char *action; /* failed, delayed, delivered, relayed, expanded */
	const char *status; /* "5.1.1" */
	const char *reason;
	const char *relay; /* "mx.example[192.0.2.1]:25", "local", NULL */
	int64_t last_attempt; /* seconds, 0 = none */
};

struct qmgr_dsn {
	enum qmgr_notice kind;
	const char *queue_id;  /* the original message */
	const char *report_id; /* the notice's own queue id */
	const char *hostname;  /* Reporting-MTA */
	const char *from;      /* From: address (MAILER-DAEMON@...) */
	const char *to;        /* the notice's recipient */
	const char *sender;    /* the original envelope sender */
	const char *envid;     /* xtext as received, or NULL */
	int64_t arrival_s;
	int64_t now_s;
	int64_t retry_until_s; /* delay notices */
	/* The original: whole message (full) or its header block. */
	const char *orig;
	size_t orig_len;
	bool full;
};

/* Builds the whole notice message (header and multipart/report body, LF
 * line ends) into out. 0, or -1 when out's maximum is passed. */
int qmgr_dsn_build(const struct qmgr_dsn *d, const struct qmgr_dsn_rcpt *r,
                   size_t n, struct buf *out);
/* RFC 5322 date-time of t in local time into out; returns out. */
const char *qmgr_rfc822_date(int64_t t, char *out, size_t outsz);

/* ---- qmgr_admin.c -------------------------------------------------- */

/* True when type is an administration verb. */
bool qmgr_admin_is_verb(const char *type);
/* Serves one administration request; builds the reply. */
void qmgr_admin_handle(const struct ipc_msg *req, struct ipc_msg *reply);

/* ---- qmgr_showq.c -------------------------------------------------- */

/* True when master.cf runs this program as the showq service. */
bool qmgr_showq_wanted(int argc, char **argv);
/* The showq service's main. */
int qmgr_showq_main(int argc, char **argv);

#endif
