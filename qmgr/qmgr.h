/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_QMGR_QMGR_H
#define POSTHORN_QMGR_QMGR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/db.h"
#include "common/event.h"
#include "common/service.h"

/*
 * qmgr's shared state and the seams between its modules:
 *   qmgr.c          main, start-up (lock, index, recovery), shutdown
 *   qmgr_commit.c   the commit service: connections and group commit
 *   qmgr_sync.c     making a batch of queue files durable
 *   qmgr_recover.c  reconciling queue/ and the index; incoming/ cleanup
 * Issue 4 adds qmgr_sched.c (due work -> delivery agents), which hooks in
 * through qmgr_commit's "committed" callback and the index's due order.
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

/* Called for each message once it is durable and acknowledged (issue 4's
 * scheduler takes it from here). May be NULL. */
typedef void (*qmgr_committed_fn)(const char *queue_id, void *ctx);

/* qmgr_commit.c */
void qmgr_commit_init(struct qmgr_queue *q, struct event_loop *loop,
                      enum qmgr_sync_method sync, qmgr_committed_fn done,
                      void *done_ctx);
/* service_def accept hook: takes ownership of c->fd. */
void qmgr_commit_accept(struct service_client *c);
/* Commits what was received and not yet committed, replies, closes every
 * connection. For shutdown. */
void qmgr_commit_shutdown(void);

#endif
