/* SPDX-License-Identifier: MIT */
/*
 * queue_index.c - the LMDB queue index: messages, recipients, due order
 *
 * Keeps the msg, rcpt and due tables consistent with each other inside
 * the caller's transaction; the layout is described in queue_index.h.
 * Records carry a version attribute and are decoded strictly: a record
 * that fails to decode is reported as corrupt with its key, so a damaged
 * index is noticed instead of half-read. Not responsible for the queue
 * files themselves or for any scheduling decision.
 */
#include "common/queue_index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proto_qmgr.h"
#include "common/xalloc.h"

#define T_MSG "msg"
#define T_RCPT "rcpt"
#define T_DUE "due"
#define T_META "meta"
#define A_VERSION "v"
#define DUE_KEY_LEN (8 + QUEUE_ID_LEN)
#define RCPT_KEY_LEN (QUEUE_ID_LEN + 4)

/* ---- keys ---------------------------------------------------------- */

static void due_key(unsigned char out[DUE_KEY_LEN], int64_t when,
                    const char *id)
{
	uint64_t u = (uint64_t)when ^ (UINT64_C(1) << 63);
	for (int i = 7; i >= 0; i--) {
		out[i] = (unsigned char)u;
		u >>= 8;
	}
	memcpy(out + 8, id, QUEUE_ID_LEN);
}

static int64_t due_key_time(const unsigned char *k)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | k[i];
	return (int64_t)(u ^ (UINT64_C(1) << 63));
}

static void rcpt_key(unsigned char out[RCPT_KEY_LEN], const char *id,
                     uint32_t i)
{
	memcpy(out, id, QUEUE_ID_LEN);
	out[QUEUE_ID_LEN] = (unsigned char)(i >> 24);
	out[QUEUE_ID_LEN + 1] = (unsigned char)(i >> 16);
	out[QUEUE_ID_LEN + 2] = (unsigned char)(i >> 8);
	out[QUEUE_ID_LEN + 3] = (unsigned char)i;
}

static int check_id(const char *id, struct err *e)
{
	if (!queue_id_valid(id, strnlen(id, QUEUE_ID_SIZE))) {
		err_set(e, "bad queue id");
		return -1;
	}
	return 0;
}

/* ---- records ------------------------------------------------------- */

/* Stores m (with its terminator) under key. */
static int put_record(struct db_txn *txn, const char *table, const void *key,
                      size_t klen, struct ipc_msg *m, struct err *e)
{
	static const char term[4] = {0, 0, 0, 0};
	if (buf_append(&m->wire, term, sizeof(term)) < 0) {
		err_set(e, "queue index record too large");
		return -1;
	}
	return db_put(txn, table, key, klen, m->wire.data, m->wire.len, e);
}

/* Decodes a stored record into m and checks its version. */
static int decode_record(struct ipc_msg *m, const void *val, size_t vlen,
                         const char *what, const char *id, struct err *e)
{
	struct err de;
	size_t used = 0;
	uint64_t v;
	if (ipc_msg_decode(m, val, vlen, &used, &de) != 1 || used != vlen) {
		err_set(e, "%.15s: corrupt %s record in the queue index", id,
		        what);
		return -1;
	}
	int rc = ipc_get_u64(m, A_VERSION, 0, UINT32_MAX, &v);
	if (rc != 1 || v != QUEUE_INDEX_VERSION) {
		err_set(e,
		        "%.15s: %s record of version %s in the queue index "
		        "(this program reads version %u)",
		        id, what, rc == 1 ? "newer or older" : "unknown",
		        QUEUE_INDEX_VERSION);
		return -1;
	}
	return 0;
}

static int put_msg_record(struct db_txn *txn, const struct queue_envelope *env,
                          struct err *e)
{
	struct ipc_msg m;
	ipc_msg_init(&m);
	int rc = ipc_put_u64(&m, A_VERSION, QUEUE_INDEX_VERSION);
	rc |= queue_env_encode(&m, env);
	rc |= ipc_put_i64(&m, QMGR_ATTR_NEXT_ATTEMPT, env->next_attempt);
	rc |= ipc_put_u64(&m, QMGR_ATTR_NRCPT, env->nrcpt);
	if (rc)
		err_set(e, "%s: envelope too large", env->queue_id);
	else
		rc = put_record(txn, T_MSG, env->queue_id, QUEUE_ID_LEN, &m, e);
	ipc_msg_deinit(&m);
	return rc ? -1 : 0;
}

int queue_index_put_rcpt(struct db_txn *txn, const char *id, size_t i,
                         const struct queue_rcpt *r, struct err *e)
{
	unsigned char key[RCPT_KEY_LEN];
	struct ipc_msg m;
	if (check_id(id, e) < 0)
		return -1;
	if (i >= QUEUE_RCPT_MAX) {
		err_set(e, "%s: recipient number %zu out of range", id, i);
		return -1;
	}
	rcpt_key(key, id, (uint32_t)i);
	ipc_msg_init(&m);
	int rc = ipc_put_u64(&m, A_VERSION, QUEUE_INDEX_VERSION);
	rc |= queue_rcpts_encode(&m, r, 1, true);
	if (rc)
		err_set(e, "%s: recipient record too large", id);
	else
		rc = put_record(txn, T_RCPT, key, sizeof(key), &m, e);
	ipc_msg_deinit(&m);
	return rc ? -1 : 0;
}

/* Reads the stored envelope of id (no recipients). 1, 0, -1. */
static int get_envelope(struct db_txn *txn, const char *id, struct arena *a,
                        struct queue_envelope *out, struct err *e)
{
	const void *val;
	size_t vlen;
	int rc = db_get(txn, T_MSG, id, QUEUE_ID_LEN, &val, &vlen, e);
	if (rc <= 0)
		return rc;
	struct ipc_msg m;
	uint64_t nrcpt;
	int64_t next;
	ipc_msg_init(&m);
	memset(out, 0, sizeof(*out));
	rc = decode_record(&m, val, vlen, "message", id, e);
	if (rc == 0 && (queue_env_decode(&m, a, out, e) < 0 ||
	                ipc_get_i64(&m, QMGR_ATTR_NEXT_ATTEMPT, INT64_MIN,
	                            INT64_MAX, &next) != 1 ||
	                ipc_get_u64(&m, QMGR_ATTR_NRCPT, 0, QUEUE_RCPT_MAX,
	                            &nrcpt) != 1)) {
		err_set(e, "%.15s: corrupt message record in the queue index",
		        id);
		rc = -1;
	}
	ipc_msg_deinit(&m);
	if (rc < 0)
		return -1;
	memcpy(out->queue_id, id, QUEUE_ID_LEN);
	out->queue_id[QUEUE_ID_LEN] = 0;
	out->next_attempt = next;
	out->nrcpt = (size_t)nrcpt;
	return 1;
}

static int decode_rcpt(const void *val, size_t vlen, const char *id,
                       struct arena *a, struct queue_rcpt *out, struct err *e)
{
	struct ipc_msg m;
	struct queue_rcpt *list = NULL;
	size_t n = 0, cap = 0;
	ipc_msg_init(&m);
	int rc = decode_record(&m, val, vlen, "recipient", id, e);
	if (rc == 0 &&
	    (queue_rcpts_decode(&m, a, &list, &n, &cap, 1, true, e) < 0 ||
	     n != 1)) {
		err_set(e, "%.15s: corrupt recipient record in the queue index",
		        id);
		rc = -1;
	}
	ipc_msg_deinit(&m);
	if (rc == 0)
		*out = list[0];
	return rc;
}

int queue_index_has(struct db_txn *txn, const char *id, struct err *e)
{
	const void *val;
	size_t vlen;
	if (check_id(id, e) < 0)
		return -1;
	return db_get(txn, T_MSG, id, QUEUE_ID_LEN, &val, &vlen, e);
}

int queue_index_get_rcpt(struct db_txn *txn, const char *id, size_t i,
                         struct arena *a, struct queue_rcpt *out, struct err *e)
{
	unsigned char key[RCPT_KEY_LEN];
	const void *val;
	size_t vlen;
	if (check_id(id, e) < 0)
		return -1;
	if (i >= QUEUE_RCPT_MAX)
		return 0;
	rcpt_key(key, id, (uint32_t)i);
	int rc = db_get(txn, T_RCPT, key, sizeof(key), &val, &vlen, e);
	if (rc <= 0)
		return rc;
	return decode_rcpt(val, vlen, id, a, out, e) < 0 ? -1 : 1;
}

/* ---- due keys ------------------------------------------------------ */

static int due_set(struct db_txn *txn, const struct queue_envelope *old,
                   const struct queue_envelope *env, struct err *e)
{
	unsigned char key[DUE_KEY_LEN];
	if (old && !old->hold) {
		due_key(key, old->next_attempt, old->queue_id);
		if (db_del(txn, T_DUE, key, sizeof(key), e) < 0)
			return -1;
	}
	if (env && !env->hold) {
		due_key(key, env->next_attempt, env->queue_id);
		if (db_put(txn, T_DUE, key, sizeof(key), "1", 1, e) < 0)
			return -1;
	}
	return 0;
}

/* ---- whole messages ------------------------------------------------ */

/* Deletes the recipient records of id from number `from` on. */
static int del_rcpts(struct db_txn *txn, const char *id, size_t from,
                     struct err *e)
{
	struct db_cursor *c;
	unsigned char start[RCPT_KEY_LEN];
	const void *key = start, *val;
	size_t klen = sizeof(start), vlen;
	if (db_cursor_open(txn, T_RCPT, &c, e) < 0)
		return -1;
	rcpt_key(start, id, (uint32_t)from);
	int rc = db_cursor_get(c, DB_SET_RANGE, &key, &klen, &val, &vlen, e);
	while (rc == 1 && klen == RCPT_KEY_LEN &&
	       memcmp(key, id, QUEUE_ID_LEN) == 0) {
		if (db_cursor_del(c, e) < 0) {
			rc = -1;
			break;
		}
		/* After a delete LMDB leaves the cursor on the next record
		 * ("GET_CURRENT"); re-seek to stay independent of that. */
		key = start;
		klen = sizeof(start);
		rc = db_cursor_get(c, DB_SET_RANGE, &key, &klen, &val, &vlen,
		                   e);
	}
	db_cursor_close(&c);
	return rc < 0 ? -1 : 0;
}

int queue_index_delete(struct db_txn *txn, const char *id, struct err *e)
{
	struct queue_envelope old;
	struct arena *a = arena_new();
	if (check_id(id, e) < 0) {
		arena_free(&a);
		return -1;
	}
	int rc = get_envelope(txn, id, a, &old, e);
	if (rc < 0) {
		/* A corrupt record must still be removable. */
		const void *val;
		size_t vlen;
		struct err ge;
		if (db_get(txn, T_MSG, id, QUEUE_ID_LEN, &val, &vlen, &ge) !=
		    1) {
			arena_free(&a);
			return -1;
		}
		rc = db_del(txn, T_MSG, id, QUEUE_ID_LEN, e) < 0 ||
		                     del_rcpts(txn, id, 0, e) < 0
		             ? -1
		             : 1;
		arena_free(&a);
		return rc;
	}
	if (rc == 1 && (due_set(txn, &old, NULL, e) < 0 ||
	                db_del(txn, T_MSG, id, QUEUE_ID_LEN, e) < 0 ||
	                del_rcpts(txn, id, 0, e) < 0))
		rc = -1;
	arena_free(&a);
	return rc;
}

int queue_index_put(struct db_txn *txn, const struct queue_envelope *env,
                    struct err *e)
{
	if (check_id(env->queue_id, e) < 0)
		return -1;
	if (env->nrcpt > QUEUE_RCPT_MAX) {
		err_set(e, "%s: too many recipients", env->queue_id);
		return -1;
	}
	int rc = queue_index_delete(txn, env->queue_id, e);
	if (rc < 0)
		return -1;
	if (put_msg_record(txn, env, e) < 0 || due_set(txn, NULL, env, e) < 0)
		return -1;
	for (size_t i = 0; i < env->nrcpt; i++)
		if (queue_index_put_rcpt(txn, env->queue_id, i, &env->rcpts[i],
		                         e) < 0)
			return -1;
	return 0;
}

int queue_index_put_envelope(struct db_txn *txn,
                             const struct queue_envelope *env, struct err *e)
{
	struct queue_envelope old;
	struct arena *a = arena_new();
	if (check_id(env->queue_id, e) < 0) {
		arena_free(&a);
		return -1;
	}
	int rc = get_envelope(txn, env->queue_id, a, &old, e);
	if (rc == 0)
		err_set(e, "%s: no such message in the queue index",
		        env->queue_id);
	else if (rc == 1 && old.nrcpt != env->nrcpt)
		err_set(e, "%s: recipient count changed", env->queue_id);
	if (rc != 1 || old.nrcpt != env->nrcpt ||
	    due_set(txn, &old, env, e) < 0 || put_msg_record(txn, env, e) < 0)
		rc = -1;
	else
		rc = 0;
	arena_free(&a);
	return rc;
}

int queue_index_get(struct db_txn *txn, const char *id, struct arena *a,
                    bool rcpts, struct queue_envelope *out, struct err *e)
{
	if (check_id(id, e) < 0)
		return -1;
	int rc = get_envelope(txn, id, a, out, e);
	if (rc <= 0 || !rcpts)
		return rc;
	size_t bytes;
	if (size_mul(out->nrcpt ? out->nrcpt : 1, sizeof(*out->rcpts), &bytes) <
	    0)
		log_panic("recipient array overflow");
	out->rcpts = arena_alloc(a, bytes);

	struct db_cursor *c;
	unsigned char start[RCPT_KEY_LEN];
	const void *key = start, *val;
	size_t klen = sizeof(start), vlen, n = 0;
	if (db_cursor_open(txn, T_RCPT, &c, e) < 0)
		return -1;
	rcpt_key(start, id, 0);
	rc = db_cursor_get(c, DB_SET_RANGE, &key, &klen, &val, &vlen, e);
	while (rc == 1 && klen == RCPT_KEY_LEN &&
	       memcmp(key, id, QUEUE_ID_LEN) == 0) {
		unsigned char want[RCPT_KEY_LEN];
		rcpt_key(want, id, (uint32_t)n);
		if (n >= out->nrcpt || memcmp(key, want, klen) != 0 ||
		    decode_rcpt(val, vlen, id, a, &out->rcpts[n], e) < 0) {
			err_set(e,
			        "%s: recipient records do not match the "
			        "message record",
			        id);
			rc = -1;
			break;
		}
		n++;
		rc = db_cursor_get(c, DB_NEXT, &key, &klen, &val, &vlen, e);
	}
	db_cursor_close(&c);
	if (rc < 0)
		return -1;
	if (n != out->nrcpt) {
		err_set(e, "%s: %zu of %zu recipient records present", id, n,
		        out->nrcpt);
		return -1;
	}
	return 1;
}

/* ---- iteration ----------------------------------------------------- */

int queue_index_next(struct db_txn *txn, char id[QUEUE_ID_SIZE], struct err *e)
{
	struct db_cursor *c;
	const void *key = id, *val;
	size_t klen = strnlen(id, QUEUE_ID_LEN), vlen;
	char start[QUEUE_ID_SIZE];
	memcpy(start, id, klen);
	start[klen] = 0;
	if (db_cursor_open(txn, T_MSG, &c, e) < 0)
		return -1;
	key = start;
	int rc = db_cursor_get(c, DB_SET_RANGE, &key, &klen, &val, &vlen, e);
	if (rc == 1 && klen == strlen(start) && memcmp(key, start, klen) == 0)
		rc = db_cursor_get(c, DB_NEXT, &key, &klen, &val, &vlen, e);
	if (rc == 1) {
		if (klen != QUEUE_ID_LEN || !queue_id_valid(key, klen)) {
			err_set(e, "corrupt key in the queue index");
			rc = -1;
		} else {
			memcpy(id, key, QUEUE_ID_LEN);
			id[QUEUE_ID_LEN] = 0;
		}
	}
	db_cursor_close(&c);
	return rc;
}

void queue_due_start(struct queue_due *pos)
{
	pos->when = INT64_MIN;
	pos->id[0] = 0;
}

int queue_index_due_next(struct db_txn *txn, struct queue_due *pos,
                         int64_t until, struct err *e)
{
	struct db_cursor *c;
	unsigned char start[DUE_KEY_LEN];
	const void *key = start, *val;
	size_t idlen = strnlen(pos->id, QUEUE_ID_LEN);
	size_t klen = 8 + idlen, vlen;
	due_key(start, pos->when, "000000000000000");
	memcpy(start + 8, pos->id, idlen);
	if (db_cursor_open(txn, T_DUE, &c, e) < 0)
		return -1;
	size_t slen = klen;
	int rc = db_cursor_get(c, DB_SET_RANGE, &key, &klen, &val, &vlen, e);
	if (rc == 1 && klen == slen && memcmp(key, start, slen) == 0)
		rc = db_cursor_get(c, DB_NEXT, &key, &klen, &val, &vlen, e);
	if (rc == 1) {
		const unsigned char *k = key;
		if (klen != DUE_KEY_LEN ||
		    !queue_id_valid((const char *)k + 8, QUEUE_ID_LEN)) {
			err_set(e, "corrupt due key in the queue index");
			rc = -1;
		} else if (due_key_time(k) > until) {
			rc = 0;
		} else {
			pos->when = due_key_time(k);
			memcpy(pos->id, k + 8, QUEUE_ID_LEN);
			pos->id[QUEUE_ID_LEN] = 0;
		}
	}
	db_cursor_close(&c);
	return rc;
}

/* ---- open ---------------------------------------------------------- */

static int check_version(struct db_txn *txn, void *ctx, struct err *e)
{
	bool write = *(bool *)ctx;
	const void *val;
	size_t vlen;
	char want[16];
	int n = snprintf(want, sizeof(want), "%u", QUEUE_INDEX_VERSION);
	int rc = db_get(txn, T_META, "version", 7, &val, &vlen, e);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return write ? db_put(txn, T_META, "version", 7, want,
		                      (size_t)n, e)
		             : 0;
	if (vlen != (size_t)n || memcmp(val, want, vlen) != 0) {
		err_set(e,
		        "queue index format %.*s; this program understands %s",
		        (int)(vlen < 16 ? vlen : 16), (const char *)val, want);
		return -1;
	}
	return 0;
}

int queue_index_open(struct db_env **out, const char *queue_dir, bool rdonly,
                     struct err *e)
{
	char *path = xasprintf("%s/%s", queue_dir, QUEUE_INDEX_NAME);
	*out = NULL;
	if (rdonly) {
		/* init may have made the directory before qmgr first ran:
		 * no data file yet is an empty queue, not an error. */
		char *data = xasprintf("%s/data.mdb", path);
		struct stat st;
		bool none = stat(data, &st) < 0 && errno == ENOENT;
		free(data);
		if (none) {
			free(path);
			return 0;
		}
	}
	int rc = db_open(out, path, rdonly ? DB_RDONLY : DB_CREATE, 8, e);
	free(path);
	if (rc < 0)
		return -1;
	bool write = !rdonly;
	if (write) {
		rc = db_write(*out, check_version, &write, e);
	} else {
		struct db_txn *txn;
		rc = db_read_begin(*out, &txn, e);
		if (rc == 0) {
			rc = check_version(txn, &write, e);
			db_txn_end(&txn);
		}
	}
	if (rc < 0) {
		db_close(out);
		return -1;
	}
	return 1;
}
