/* SPDX-License-Identifier: MIT */
/*
 * test_queue_index.c - the LMDB queue index: round trips, recipient
 * updates, due order, hold, delete, iteration, corruption and versions,
 * and the forwarded recipients' delivered-to chain (optional attribute,
 * old records still read)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/db.h"
#include "common/queue_index.h"
#include "common/xalloc.h"
#include "unit_tmpdir.h"

struct fx {
	char dir[64];
	struct db_env *env;
	struct arena *a;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct err e;
	if (unit_tmpdir_make(f->dir, sizeof(f->dir), "test_qidx") < 0)
		return -1;
	if (queue_index_open(&f->env, f->dir, false, &e) != 1) {
		fprintf(stderr, "open: %s\n", e.msg);
		return -1;
	}
	f->a = arena_new();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	db_close(&f->env);
	arena_free(&f->a);
	unit_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static struct queue_rcpt rcpts3[] = {
        {.address = "a@example.test", .notify = QUEUE_NOTIFY_FAILURE},
        {.address = "\"b c\"@example.test",
         .orcpt = "rfc822;b+2Bx@example.test",
         .notify = QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY},
        {.address = "d@example.test",
         .status = QUEUE_RCPT_DEFERRED,
         .attempts = 3,
         .last_attempt = 1700000000,
         .dsn = "4.4.1",
         .reason = "connection refused"},
};

static void fill(struct queue_envelope *env, const char *id, int64_t next)
{
	memset(env, 0, sizeof(*env));
	snprintf(env->queue_id, sizeof(env->queue_id), "%s", id);
	env->sender = "sender@example.test";
	env->arrival_us = INT64_C(1700000000123456);
	env->size = 1234;
	env->client_name = "client.example";
	env->client_addr = "192.0.2.1";
	env->helo = "helo.example";
	env->protocol = "ESMTP";
	env->sasl_user = "user";
	env->envid = "ENV+2BID";
	env->ret = QUEUE_RET_HDRS;
	env->body = QUEUE_BODY_8BITMIME;
	env->smtputf8 = true;
	env->next_attempt = next;
	env->rcpts = rcpts3;
	env->nrcpt = 3;
}

struct put_ctx {
	const struct queue_envelope *envs;
	size_t n;
};

static int put_fn(struct db_txn *txn, void *ctx, struct err *e)
{
	struct put_ctx *p = ctx;
	for (size_t i = 0; i < p->n; i++)
		if (queue_index_put(txn, &p->envs[i], e) < 0)
			return -1;
	return 0;
}

static void put(struct fx *f, const struct queue_envelope *envs, size_t n)
{
	struct err e;
	struct put_ctx p = {envs, n};
	if (db_write(f->env, put_fn, &p, &e) < 0)
		fail_msg("put: %s", e.msg);
}

static int get(struct fx *f, const char *id, bool rcpts,
               struct queue_envelope *out, struct err *e)
{
	struct db_txn *txn;
	if (db_read_begin(f->env, &txn, e) < 0)
		fail_msg("read: %s", e->msg);
	int rc = queue_index_get(txn, id, f->a, rcpts, out, e);
	db_txn_end(&txn);
	return rc;
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (!want || !want[0])
		assert_true(got == NULL || got[0] == 0);
	else
		assert_string_equal(got, want);
}

static void round_trip(void **state)
{
	struct fx *f = *state;
	struct queue_envelope in, out;
	struct err e;
	fill(&in, "000000000000001", 1700000100);
	put(f, &in, 1);
	assert_int_equal(get(f, in.queue_id, true, &out, &e), 1);
	assert_string_equal(out.queue_id, in.queue_id);
	assert_string_equal(out.sender, in.sender);
	assert_true(out.arrival_us == in.arrival_us);
	assert_int_equal(out.size, in.size);
	assert_string_equal(out.client_name, in.client_name);
	assert_string_equal(out.client_addr, in.client_addr);
	assert_string_equal(out.helo, in.helo);
	assert_string_equal(out.protocol, in.protocol);
	assert_string_equal(out.sasl_user, in.sasl_user);
	assert_string_equal(out.envid, in.envid);
	assert_int_equal(out.ret, in.ret);
	assert_int_equal(out.body, in.body);
	assert_true(out.smtputf8);
	assert_false(out.hold);
	assert_false(out.bounce);
	assert_true(out.next_attempt == in.next_attempt);
	assert_int_equal(out.nrcpt, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct queue_rcpt *w = &rcpts3[i], *g = &out.rcpts[i];
		assert_string_equal(g->address, w->address);
		assert_str_or_null(g->orcpt, w->orcpt);
		assert_int_equal(g->notify, w->notify);
		assert_int_equal(g->status, w->status);
		assert_int_equal(g->attempts, w->attempts);
		assert_true(g->last_attempt == w->last_attempt);
		assert_str_or_null(g->dsn, w->dsn);
		assert_str_or_null(g->reason, w->reason);
	}
	/* Without recipients: the count only. */
	assert_int_equal(get(f, in.queue_id, false, &out, &e), 1);
	assert_null(out.rcpts);
	assert_int_equal(out.nrcpt, 3);
	/* Null sender and minimal envelope. */
	struct queue_rcpt one = {.address = "x@y"};
	struct queue_envelope min = {.sender = "", .rcpts = &one, .nrcpt = 1};
	snprintf(min.queue_id, sizeof(min.queue_id), "000000000000002");
	put(f, &min, 1);
	assert_int_equal(get(f, min.queue_id, true, &out, &e), 1);
	assert_string_equal(out.sender, "");
	assert_null(out.client_name);
	assert_int_equal(out.ret, QUEUE_RET_DEFAULT);
	assert_int_equal(out.body, QUEUE_BODY_7BIT);
	/* Missing. */
	assert_int_equal(get(f, "000000000000009", true, &out, &e), 0);
	/* A bad id is an error, not a lookup. */
	assert_int_equal(get(f, "../../etc/passw", true, &out, &e), -1);
}

struct rcpt_ctx {
	const char *id;
	size_t i;
	const struct queue_rcpt *r;
	struct queue_envelope *env;
};

static int rcpt_fn(struct db_txn *txn, void *ctx, struct err *e)
{
	struct rcpt_ctx *c = ctx;
	if (c->r)
		return queue_index_put_rcpt(txn, c->id, c->i, c->r, e);
	return queue_index_put_envelope(txn, c->env, e);
}

static void update_recipient_and_envelope(void **state)
{
	struct fx *f = *state;
	struct queue_envelope in, out;
	struct err e;
	fill(&in, "000000000000003", 100);
	put(f, &in, 1);
	struct queue_rcpt sent = rcpts3[0];
	sent.status = QUEUE_RCPT_SENT;
	sent.attempts = 1;
	sent.dsn = "2.0.0";
	sent.reason = "delivered to maildir";
	struct rcpt_ctx c = {in.queue_id, 0, &sent, NULL};
	assert_int_equal(db_write(f->env, rcpt_fn, &c, &e), 0);
	assert_int_equal(get(f, in.queue_id, true, &out, &e), 1);
	assert_int_equal(out.rcpts[0].status, QUEUE_RCPT_SENT);
	assert_string_equal(out.rcpts[0].reason, "delivered to maildir");
	assert_int_equal(out.rcpts[1].status, QUEUE_RCPT_PENDING);

	/* Envelope update keeps recipients and moves the due key. */
	out.next_attempt = 50;
	out.hold = true;
	c = (struct rcpt_ctx){.env = &out};
	assert_int_equal(db_write(f->env, rcpt_fn, &c, &e), 0);
	struct queue_envelope again;
	assert_int_equal(get(f, in.queue_id, true, &again, &e), 1);
	assert_true(again.hold);
	assert_int_equal(again.nrcpt, 3);
	assert_int_equal(again.rcpts[0].status, QUEUE_RCPT_SENT);
	/* A changed recipient count is refused. */
	again.nrcpt = 2;
	c = (struct rcpt_ctx){.env = &again};
	assert_int_equal(db_write(f->env, rcpt_fn, &c, &e), -1);
}

static int collect_due(struct fx *f, int64_t until, char ids[][QUEUE_ID_SIZE],
                       int max)
{
	struct db_txn *txn;
	struct queue_due pos;
	struct err e;
	int n = 0, rc;
	queue_due_start(&pos);
	assert_int_equal(db_read_begin(f->env, &txn, &e), 0);
	while (n < max &&
	       (rc = queue_index_due_next(txn, &pos, until, &e)) == 1)
		memcpy(ids[n++], pos.id, QUEUE_ID_SIZE);
	db_txn_end(&txn);
	return n;
}

static int del_fn(struct db_txn *txn, void *ctx, struct err *e)
{
	return queue_index_delete(txn, ctx, e) < 0 ? -1 : 0;
}

static void due_order_hold_and_delete(void **state)
{
	struct fx *f = *state;
	struct queue_envelope envs[5];
	char ids[8][QUEUE_ID_SIZE];
	struct err e;
	/* Ids out of time order on purpose; one negative time. */
	fill(&envs[0], "00000000000000A", 300);
	fill(&envs[1], "00000000000000B", 100);
	fill(&envs[2], "00000000000000C", 200);
	fill(&envs[3], "00000000000000D", 100);
	fill(&envs[4], "00000000000000E", -5);
	envs[2].hold = true;
	put(f, envs, 5);
	int n = collect_due(f, INT64_MAX, ids, 8);
	assert_int_equal(n, 4); /* the held one is not due */
	assert_string_equal(ids[0], "00000000000000E");
	assert_string_equal(ids[1], "00000000000000B");
	assert_string_equal(ids[2], "00000000000000D");
	assert_string_equal(ids[3], "00000000000000A");
	n = collect_due(f, 100, ids, 8);
	assert_int_equal(n, 3);

	/* Re-putting with a new time moves the key (no stale one left). */
	envs[1].next_attempt = 1000;
	put(f, &envs[1], 1);
	n = collect_due(f, INT64_MAX, ids, 8);
	assert_int_equal(n, 4);
	assert_string_equal(ids[3], "00000000000000B");

	/* Delete removes message, recipients and due key. */
	assert_int_equal(db_write(f->env, del_fn, "00000000000000D", &e), 0);
	n = collect_due(f, INT64_MAX, ids, 8);
	assert_int_equal(n, 3);
	struct queue_envelope out;
	assert_int_equal(get(f, "00000000000000D", true, &out, &e), 0);
	struct db_txn *txn;
	struct queue_rcpt r;
	assert_int_equal(db_read_begin(f->env, &txn, &e), 0);
	assert_int_equal(
	        queue_index_get_rcpt(txn, "00000000000000D", 0, f->a, &r, &e),
	        0);
	assert_int_equal(
	        queue_index_get_rcpt(txn, "00000000000000A", 1, f->a, &r, &e),
	        1);
	assert_string_equal(r.address, rcpts3[1].address);

	/* Iteration over all ids in order, held one included. */
	char id[QUEUE_ID_SIZE] = "";
	const char *want[] = {"00000000000000A", "00000000000000B",
	                      "00000000000000C", "00000000000000E"};
	size_t k = 0;
	int rc;
	while ((rc = queue_index_next(txn, id, &e)) == 1) {
		assert_true(k < 4);
		assert_string_equal(id, want[k]);
		k++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(k, 4);
	db_txn_end(&txn);
}

static void shrinking_recipients_leave_no_stale_records(void **state)
{
	struct fx *f = *state;
	struct queue_envelope in, out;
	struct err e;
	fill(&in, "000000000000010", 1);
	put(f, &in, 1);
	in.nrcpt = 1;
	put(f, &in, 1);
	assert_int_equal(get(f, in.queue_id, true, &out, &e), 1);
	assert_int_equal(out.nrcpt, 1);
	struct db_txn *txn;
	struct queue_rcpt r;
	assert_int_equal(db_read_begin(f->env, &txn, &e), 0);
	assert_int_equal(
	        queue_index_get_rcpt(txn, in.queue_id, 2, f->a, &r, &e), 0);
	db_txn_end(&txn);
}

struct raw {
	const char *table;
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
};

static int raw_fn(struct db_txn *txn, void *ctx, struct err *e)
{
	struct raw *r = ctx;
	return db_put(txn, r->table, r->key, r->klen, r->val, r->vlen, e);
}

static void corrupt_and_foreign_records(void **state)
{
	struct fx *f = *state;
	struct queue_envelope in, out;
	struct err e;
	fill(&in, "000000000000020", 1);
	put(f, &in, 1);

	/* Garbage bytes as the message record. */
	struct raw r = {"msg", in.queue_id, QUEUE_ID_LEN, "\0\0\0\x05junk", 9};
	assert_int_equal(db_write(f->env, raw_fn, &r, &e), 0);
	assert_int_equal(get(f, in.queue_id, true, &out, &e), -1);
	assert_non_null(strstr(e.msg, "corrupt"));

	/* A well-formed record of another version. */
	static const char v2[] = "\0\0\0\x03v=2\0\0\0\x08sender=x"
	                         "\0\0\0\x06size=1\0\0\0\x0c"
	                         "arrival_us=1\0\0\0\0";
	r.val = v2;
	r.vlen = sizeof(v2) - 1;
	assert_int_equal(db_write(f->env, raw_fn, &r, &e), 0);
	assert_int_equal(get(f, in.queue_id, true, &out, &e), -1);
	assert_non_null(strstr(e.msg, "version"));

	/* A corrupt message can still be deleted. */
	assert_int_equal(db_write(f->env, del_fn, in.queue_id, &e), 0);
	assert_int_equal(get(f, in.queue_id, true, &out, &e), 0);

	/* Recipient count mismatch (a recipient record missing). */
	fill(&in, "000000000000021", 1);
	put(f, &in, 1);
	static const char rec[] = "\0\0\0\x03v=1\0\0\0\x08sender=x"
	                          "\0\0\0\x06size=1\0\0\0\x0c"
	                          "arrival_us=1\0\0\0\x0enext_attempt=1"
	                          "\0\0\0\x07nrcpt=4\0\0\0\0";
	r = (struct raw){"msg", in.queue_id, QUEUE_ID_LEN, rec,
	                 sizeof(rec) - 1};
	assert_int_equal(db_write(f->env, raw_fn, &r, &e), 0);
	assert_int_equal(get(f, in.queue_id, true, &out, &e), -1);
	assert_int_equal(get(f, in.queue_id, false, &out, &e), 1);
	assert_int_equal(out.nrcpt, 4);
}

/* Builds a raw recipient record ("name=value" strings, version first). */
static size_t raw_record(char *out, size_t outsz, const char *const *attrs)
{
	size_t n = 0;
	for (; *attrs; attrs++) {
		size_t len = strlen(*attrs);
		assert_true(n + 4 + len + 4 <= outsz);
		out[n++] = 0;
		out[n++] = 0;
		out[n++] = (char)(len >> 8);
		out[n++] = (char)len;
		memcpy(out + n, *attrs, len);
		n += len;
	}
	memset(out + n, 0, 4);
	return n + 4;
}

static void rcpt_key_of(unsigned char key[QUEUE_ID_LEN + 4], const char *id,
                        unsigned i)
{
	memcpy(key, id, QUEUE_ID_LEN);
	key[QUEUE_ID_LEN] = key[QUEUE_ID_LEN + 1] = key[QUEUE_ID_LEN + 2] = 0;
	key[QUEUE_ID_LEN + 3] = (unsigned char)i;
}

/* A forwarded recipient's delivered-to chain: stored and read back; not
 * written at all for recipients without one (their records stay what
 * version 1 readers wrote); records without it, as written before it
 * existed, still read; a bad chain is a corrupt record. */
static void delivered_to_chain(void **state)
{
	struct fx *f = *state;
	struct queue_envelope in, out;
	struct err e;
	struct queue_rcpt r[2] = {
	        {.address = "b@two.test",
	         .orcpt = "rfc822;a@one.test",
	         .delivered_to = "a@one.test\nx@one.test"},
	        {.address = "plain@two.test"},
	};
	fill(&in, "000000000000030", 1);
	in.rcpts = r;
	in.nrcpt = 2;
	put(f, &in, 1);
	assert_int_equal(get(f, in.queue_id, true, &out, &e), 1);
	assert_string_equal(out.rcpts[0].delivered_to, "a@one.test\nx@one.test");
	assert_null(out.rcpts[1].delivered_to);
	/* The record of the recipient without a chain has no trace of it. */
	struct db_txn *txn;
	unsigned char key[QUEUE_ID_LEN + 4];
	const void *val;
	size_t vlen;
	rcpt_key_of(key, in.queue_id, 1);
	assert_int_equal(db_read_begin(f->env, &txn, &e), 0);
	assert_int_equal(db_get(txn, "rcpt", key, sizeof(key), &val, &vlen, &e),
	                 1);
	assert_null(memmem(val, vlen, "delivered_to", 12));
	rcpt_key_of(key, in.queue_id, 0);
	assert_int_equal(db_get(txn, "rcpt", key, sizeof(key), &val, &vlen, &e),
	                 1);
	assert_non_null(memmem(val, vlen, "delivered_to=a@one.test\n", 24));
	db_txn_end(&txn);

	/* A record as written before the chain existed. */
	char rec[512];
	static const char *const old[] = {
	        "v=1", "rcpt=old@two.test", "orcpt=", "notify=0",
	        "rcpt_status=deferred", "attempts=2", "last_attempt=5",
	        "dsn=4.4.1", "last_reason=refused", NULL};
	struct raw w = {"rcpt", key, sizeof(key), rec,
	                raw_record(rec, sizeof(rec), old)};
	assert_int_equal(db_write(f->env, raw_fn, &w, &e), 0);
	assert_int_equal(get(f, in.queue_id, true, &out, &e), 1);
	assert_string_equal(out.rcpts[0].address, "old@two.test");
	assert_int_equal(out.rcpts[0].attempts, 2);
	assert_null(out.rcpts[0].delivered_to);

	/* Chains that are not address lists are corrupt records. */
	static const char *const bad[] = {
	        "delivered_to=a@one.test\n", "delivered_to=\na@one.test",
	        "delivered_to=a@one.test\r\nX: y", "delivered_to=<a@one.test>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *attrs[] = {"v=1",    "rcpt=b@two.test",
		                       "orcpt=", "notify=0",
		                       bad[i],   NULL};
		w.vlen = raw_record(rec, sizeof(rec), attrs);
		assert_int_equal(db_write(f->env, raw_fn, &w, &e), 0);
		if (get(f, in.queue_id, true, &out, &e) != -1)
			fail_msg("case %zu: read as good", i);
	}
}

static void chain_syntax(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
	        {"a@one.test", true},
	        {"a@one.test\nb@two.test", true},
	        {"\"x y\"@one.test", true},
	        {"b\xc3\xb8" "b@one.test", true},
	        {"", false},
	        {"\n", false},
	        {"a@one.test\n", false},
	        {"a@one.test\n\nb@two.test", false},
	        {"a@one.test\rb", false},
	        {"a b@one.test", false},
	        {"<a@one.test>", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (queue_dlvto_safe(cases[i].s, strlen(cases[i].s)) !=
		    cases[i].ok)
			fail_msg("\"%s\": want %d", cases[i].s, cases[i].ok);
	char nul[] = "a@b\0c@d";
	assert_false(queue_dlvto_safe(nul, sizeof(nul) - 1));
	/* At most QUEUE_DLVTO_MAX addresses. */
	char many[QUEUE_DLVTO_MAX * 8 + 8];
	size_t n = 0;
	for (int i = 0; i < QUEUE_DLVTO_MAX; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%sa%02d@b",
		                      i ? "\n" : "", i);
	assert_true(queue_dlvto_safe(many, n));
	n += (size_t)snprintf(many + n, sizeof(many) - n, "\nz@b");
	assert_false(queue_dlvto_safe(many, n));
	/* Walking it. */
	const char *chain = "a@one.test\nb@two.test", *a;
	size_t pos = 0, alen;
	assert_int_equal(queue_dlvto_next(chain, strlen(chain), &pos, &a, &alen),
	                 1);
	assert_int_equal(alen, 10);
	assert_memory_equal(a, "a@one.test", 10);
	assert_int_equal(queue_dlvto_next(chain, strlen(chain), &pos, &a, &alen),
	                 1);
	assert_memory_equal(a, "b@two.test", 10);
	assert_int_equal(queue_dlvto_next(chain, strlen(chain), &pos, &a, &alen),
	                 0);
}

static void index_version_mismatch_refuses_open(void **state)
{
	struct fx *f = *state;
	struct err e;
	struct raw r = {"meta", "version", 7, "99", 2};
	assert_int_equal(db_write(f->env, raw_fn, &r, &e), 0);
	db_close(&f->env);
	struct db_env *env;
	assert_int_equal(queue_index_open(&env, f->dir, false, &e), -1);
	assert_non_null(strstr(e.msg, "format 99"));
	assert_int_equal(queue_index_open(&env, f->dir, true, &e), -1);
	/* Read-only open of a queue without an index: nothing, no error. */
	char empty[80];
	snprintf(empty, sizeof(empty), "%s/none", f->dir);
	assert_int_equal(queue_index_open(&env, empty, true, &e), 0);
	assert_null(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
	        cmocka_unit_test_setup_teardown(update_recipient_and_envelope,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(due_order_hold_and_delete,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                shrinking_recipients_leave_no_stale_records, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(corrupt_and_foreign_records,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(delivered_to_chain, setup,
	                                        teardown),
	        cmocka_unit_test(chain_syntax),
	        cmocka_unit_test_setup_teardown(
	                index_version_mismatch_refuses_open, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
