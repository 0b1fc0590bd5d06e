/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_QUEUE_INDEX_H
#define POSTHORN_COMMON_QUEUE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "common/err.h"
#include "common/queue_env.h"

struct arena;

/*
 * The queue index: queue_directory/index.lmdb, one LMDB environment with
 * three tables (DESIGN.md "The spool"):
 *
 *   msg   queue id -> envelope record (queue_env.h fields, next_attempt,
 *         nrcpt)
 *   rcpt  queue id + 4-byte big-endian recipient number -> recipient
 *         record, so one recipient's status changes without rewriting
 *         the message's other recipients
 *   due   8-byte big-endian next_attempt (seconds, sign bit flipped) +
 *         queue id -> "1", one key per message that is not on hold, so a
 *         cursor walks the work in the order it falls due
 *   meta  "version" -> the index format version
 *
 * Records are the IPC attribute encoding (ipc.h) of the proto_qmgr.h
 * attributes, led by v=<record version>; a record of another version or
 * one that does not decode is reported as corrupt, never guessed at.
 * The version changes when a reader of the old one would misread the
 * new records (a field changes meaning, a required one is added). An
 * optional attribute that a reader may ignore does not change it, as
 * readers skip attributes they do not know (CONVENTIONS.md 5): so the
 * recipients' delivered_to (queue_env.h), absent from the records of
 * recipients without one, kept version 1; a qmgr before it reads such
 * a record and only loses the chain (forwarded copies then go without
 * their Delivered-To, as they did).
 *
 * This module is data only: it keeps the tables consistent with each
 * other and knows no policy (when to retry, what to bounce). qmgr is the
 * only writer (DESIGN.md); readers such as `posthorn queue list` open it
 * read-only. All functions but open/close work inside a transaction of
 * common/db.h: writers call them from a db_write() function, so a batch
 * of changes commits atomically and durably.
 */
#define QUEUE_INDEX_VERSION 1u
#define QUEUE_INDEX_NAME "index.lmdb"

/*
 * Opens queue_dir/index.lmdb. Writable: creates it if missing, records or
 * checks the format version (a different version fails). Read-only:
 * returns 0 when no index exists yet. 1 opened, 0 (read-only only) none,
 * -1 with e set.
 */
int queue_index_open(struct db_env **out, const char *queue_dir, bool rdonly,
                     struct err *e);

/*
 * Stores a whole message: envelope and all recipients (replacing any
 * previous entry with that id and all of its recipients) and its due key.
 * 0, or -1 with e set.
 */
int queue_index_put(struct db_txn *txn, const struct queue_envelope *env,
                    struct err *e);
/* Stores only the envelope (its recipients stay as they are) and moves its
 * due key to env->next_attempt / env->hold. The message must exist and
 * env->nrcpt must match. 0, or -1 with e set. */
int queue_index_put_envelope(struct db_txn *txn,
                             const struct queue_envelope *env, struct err *e);
/* Replaces recipient number i (0-based, < nrcpt) of message id. */
int queue_index_put_rcpt(struct db_txn *txn, const char *id, size_t i,
                         const struct queue_rcpt *r, struct err *e);

/*
 * Reads message id into *out, strings and the recipient array allocated
 * from a; with rcpts false, out->rcpts is NULL but out->nrcpt is set.
 * 1 found, 0 no such message, -1 error (e set; corrupt records included).
 */
int queue_index_get(struct db_txn *txn, const char *id, struct arena *a,
                    bool rcpts, struct queue_envelope *out, struct err *e);
/* Whether message id is in the index. 1, 0, -1. */
int queue_index_has(struct db_txn *txn, const char *id, struct err *e);
/* Reads recipient number i of message id. 1, 0, -1 as above. */
int queue_index_get_rcpt(struct db_txn *txn, const char *id, size_t i,
                         struct arena *a, struct queue_rcpt *out,
                         struct err *e);
/* Removes message id with its recipients and due key. 1 removed, 0 there
 * was none, -1 error. */
int queue_index_delete(struct db_txn *txn, const char *id, struct err *e);

/*
 * Iteration without a held cursor (so callers may change the index
 * between steps): replaces id (a queue id, or "" to start) with the next
 * larger id in the index. 1 found, 0 no more, -1 error.
 */
int queue_index_next(struct db_txn *txn, char id[QUEUE_ID_SIZE], struct err *e);

/* A position in the due order. Start with queue_due_start(). */
struct queue_due {
	int64_t when;
	char id[QUEUE_ID_SIZE];
};
void queue_due_start(struct queue_due *pos);
/*
 * Advances pos to the next due entry after it whose time is <= until.
 * 1 found (pos->when, pos->id set), 0 none left, -1 error.
 */
int queue_index_due_next(struct db_txn *txn, struct queue_due *pos,
                         int64_t until, struct err *e);

#endif
