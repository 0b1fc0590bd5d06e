/* SPDX-License-Identifier: MIT */
/*
 * test_qmgr_reply.c - the delivery agent's reply as qmgr checks it
 * (qmgr_reply.c): results, DSN class correction, missing recipients,
 * forward lists and their delivered-to chains, refused and malformed
 * replies, text cleaning; and the request qmgr builds
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/proto_deliver.h"
#include "qmgr/qmgr.h"

/* Builds a reply from "name=value" strings, NULL-terminated. */
static void build(struct ipc_msg *m, const char *const *attrs)
{
	ipc_msg_init(m);
	for (; *attrs; attrs++) {
		const char *eq = strchr(*attrs, '=');
		char name[40];
		memcpy(name, *attrs, (size_t)(eq - *attrs));
		name[eq - *attrs] = 0;
		assert_int_equal(ipc_put(m, name, eq + 1, strlen(eq + 1)), 0);
	}
}

static int decode(const char *const *attrs, size_t n, struct arena *a,
                  struct qmgr_result *out, const char **reason)
{
	struct ipc_msg m;
	struct err e;
	build(&m, attrs);
	int rc = qmgr_reply_decode(&m, n, a, out, reason, &e);
	ipc_msg_deinit(&m);
	return rc;
}

static void test_results_in_any_order(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct qmgr_result r[4];
	const char *reason = NULL;
	static const char *const reply[] = {
	        "status=ok",
	        "rcpt_id=1", "result=sent", "dsn=2.0.0",
	        "reason=delivered to maildir", "relay=local", "forward_to=",
	        "rcpt_id=0", "result=defer", "dsn=4.2.2",
	        "reason=mailbox full", "relay=local", "forward_to=",
	        "rcpt_id=2", "result=bounce", "dsn=5.1.1",
	        "reason=unknown user", "relay=local",
	        "rcpt_id=3", "result=forward", "reason=forwarded",
	        "forward_to=a@x.test\nb@y.test\n", "x_future=ignored",
	        NULL};
	assert_int_equal(decode(reply, 4, a, r, &reason), 0);
	assert_int_equal(r[0].res, QMGR_RES_DEFER);
	assert_string_equal(r[0].dsn, "4.2.2");
	assert_string_equal(r[0].reason, "mailbox full");
	assert_int_equal(r[1].res, QMGR_RES_SENT);
	assert_string_equal(r[1].relay, "local");
	assert_int_equal(r[2].res, QMGR_RES_BOUNCE);
	assert_string_equal(r[2].dsn, "5.1.1");
	assert_int_equal(r[3].res, QMGR_RES_FORWARD);
	assert_string_equal(r[3].dsn, "2.0.0");
	assert_string_equal(r[3].relay, "none");
	assert_int_equal(r[3].nfwd, 2);
	assert_string_equal(r[3].fwd[0], "a@x.test");
	assert_string_equal(r[3].fwd[1], "b@y.test");
	arena_free(&a);
}

static void test_dsn_class_follows_result(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct qmgr_result r[4];
	const char *reason;
	static const char *const reply[] = {
	        "status=ok",
	        "rcpt_id=0", "result=defer", "dsn=5.7.1", /* never a bounce */
	        "rcpt_id=1", "result=bounce", "dsn=4.4.1",
	        "rcpt_id=2", "result=sent", "dsn=garbage",
	        "rcpt_id=3", "result=defer", "dsn=4.1234.1", NULL};
	assert_int_equal(decode(reply, 4, a, r, &reason), 0);
	assert_string_equal(r[0].dsn, "4.7.1");
	assert_string_equal(r[1].dsn, "5.4.1");
	assert_string_equal(r[2].dsn, "2.0.0");
	assert_string_equal(r[3].dsn, "4.0.0");
	arena_free(&a);
}

static void test_missing_recipient_defers(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct qmgr_result r[3];
	const char *reason;
	static const char *const reply[] = {"status=ok", "rcpt_id=1",
	                                    "result=sent", NULL};
	assert_int_equal(decode(reply, 3, a, r, &reason), 0);
	assert_int_equal(r[0].res, QMGR_RES_DEFER);
	assert_int_equal(r[2].res, QMGR_RES_DEFER);
	assert_string_equal(r[0].dsn, "4.3.0");
	assert_non_null(strstr(r[0].reason, "no result"));
	assert_int_equal(r[1].res, QMGR_RES_SENT);
	arena_free(&a);
}

static void test_refused_request(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct qmgr_result r[1];
	const char *reason = NULL;
	static const char *const defer[] = {"status=defer",
	                                    "reason=cannot read \x01 file",
	                                    NULL};
	assert_int_equal(decode(defer, 1, a, r, &reason), 1);
	assert_string_equal(reason, "cannot read   file");
	static const char *const bare[] = {"status=error", NULL};
	assert_int_equal(decode(bare, 1, a, r, &reason), 1);
	assert_non_null(strstr(reason, "refused"));
	arena_free(&a);
}

static void test_malformed(void **state)
{
	(void)state;
	const char *const *bad[] = {
	        (const char *const[]){"result=sent", NULL}, /* no status */
	        (const char *const[]){"status=ok", "rcpt_id=2", "result=sent",
	                              NULL}, /* unknown id */
	        (const char *const[]){"status=ok", "rcpt_id=0", "result=sent",
	                              "rcpt_id=0", "result=sent", NULL},
	        (const char *const[]){"status=ok", "rcpt_id=x", NULL},
	        (const char *const[]){"status=ok", "rcpt_id=0", NULL},
	        (const char *const[]){"status=ok", "rcpt_id=0", "result=maybe",
	                              NULL},
	        (const char *const[]){"status=ok", "rcpt_id=0", "result=sent",
	                              "result=defer", NULL},
	        (const char *const[]){"status=ok", "rcpt_id=0",
	                              "result=forward", "forward_to=", NULL},
	        (const char *const[]){"status=ok", "rcpt_id=0",
	                              "result=forward",
	                              "forward_to=a b@x.test", NULL},
	        (const char *const[]){"status=ok", "rcpt_id=0",
	                              "result=forward",
	                              "forward_to=<a@x.test>", NULL},
	        /* A chain that could smuggle a header line. */
	        (const char *const[]){"status=ok", "rcpt_id=0",
	                              "result=forward", "forward_to=a@x.test",
	                              "delivered_to=b@y.test\r\nX: y", NULL},
	        (const char *const[]){"status=ok", "rcpt_id=0",
	                              "result=forward", "forward_to=a@x.test",
	                              "delivered_to=b@y.test\n", NULL},
	        (const char *const[]){"status=ok", "rcpt_id=0",
	                              "result=forward", "forward_to=a@x.test",
	                              "delivered_to=b@y.test",
	                              "delivered_to=c@y.test", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct arena *a = arena_new();
		struct qmgr_result r[2];
		const char *reason;
		int rc = decode(bad[i], 2, a, r, &reason);
		if (rc != -1)
			fail_msg("case %zu: rc %d, want -1", i, rc);
		arena_free(&a);
	}
}

/* A forward's delivered-to chain: kept for forward results only. */
static void test_forward_chain(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct qmgr_result r[3];
	const char *reason = NULL;
	static const char *const reply[] = {
	        "status=ok",
	        "rcpt_id=0", "result=forward", "forward_to=b@two.test",
	        "delivered_to=a@one.test\nx@one.test",
	        "rcpt_id=1", "result=forward", "forward_to=c@two.test",
	        "delivered_to=",
	        "rcpt_id=2", "result=sent", "forward_to=",
	        "delivered_to=ignored@one.test",
	        NULL};
	assert_int_equal(decode(reply, 3, a, r, &reason), 0);
	assert_int_equal(r[0].res, QMGR_RES_FORWARD);
	assert_string_equal(r[0].dlvto, "a@one.test\nx@one.test");
	assert_null(r[1].dlvto);
	assert_int_equal(r[2].res, QMGR_RES_SENT);
	assert_null(r[2].dlvto);
	arena_free(&a);
}

static void test_forward_list_bound(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct qmgr_result r[1];
	const char *reason;
	struct buf list;
	buf_init(&list, 0);
	for (int i = 0; i <= DELIVER_FORWARD_MAX; i++)
		assert_int_equal(buf_printf(&list, "u%d@x.test\n", i), 0);
	struct ipc_msg m;
	struct err e;
	ipc_msg_init(&m);
	ipc_msg_begin_reply(&m, "ok");
	(void)ipc_put_str(&m, "rcpt_id", "0");
	(void)ipc_put_str(&m, "result", "forward");
	(void)ipc_put(&m, "forward_to", list.data, list.len);
	assert_int_equal(qmgr_reply_decode(&m, 1, a, r, &reason, &e), -1);
	ipc_msg_deinit(&m);
	buf_deinit(&list);
	arena_free(&a);
}

static void test_clean_text(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	assert_string_equal(qmgr_clean_text(a, "a\r\nb\xc3\xa4", 6, 100),
	                    "a  b??");
	assert_string_equal(qmgr_clean_text(a, "abcdef", 6, 3), "abc");
	char nul[3] = {'x', 0, 'y'};
	assert_memory_equal(qmgr_clean_text(a, nul, 3, 10), "x y", 3);
	arena_free(&a);
}

static void test_request(void **state)
{
	(void)state;
	struct qmgr_transport t = {.name = "local"};
	struct qmgr_dest d = {.t = &t, .nexthop = "example.test"};
	struct qmgr_rcpt rc[2] = {
	        {.q = {.address = "a@example.test",
	               .notify = QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE}},
	        {.q = {.address = "b@example.test",
	               .orcpt = "rfc822;o@example.test"}},
	};
	struct qmgr_msg msg = {.r = rc, .nr = 2};
	memcpy(msg.env.queue_id, "ABCDEFGHIJKLMNO", QUEUE_ID_SIZE);
	msg.env.sender = "s@example.test";
	msg.env.arrival_us = 1700000000123456;
	msg.env.size = 42;
	msg.env.envid = "id+2B1";
	msg.env.ret = QUEUE_RET_HDRS;
	msg.env.body = QUEUE_BODY_8BITMIME;
	struct qmgr_job j = {.msg = &msg, .dest = &d, .rcpt = {1, 0}, .n = 2};
	struct ipc_msg m;
	const char *v;
	ipc_msg_init(&m);
	assert_int_equal(qmgr_request_build(&j, &m), 0);
	assert_string_equal(ipc_type(&m), "deliver");
	assert_int_equal(ipc_get_str(&m, "queue_file", &v), 1);
	assert_string_equal(v, "queue/ABCDEFGHIJKLMNO");
	assert_int_equal(ipc_get_str(&m, "arrival", &v), 1);
	assert_string_equal(v, "1700000000");
	assert_int_equal(ipc_get_str(&m, "envid", &v), 1);
	assert_string_equal(v, "id+1");
	/* An ENVID that decodes to controls is not passed on: smtp
	 * would refuse the whole request. */
	struct ipc_msg m2;
	ipc_msg_init(&m2);
	msg.env.envid = "id+0D+0A";
	assert_int_equal(qmgr_request_build(&j, &m2), 0);
	assert_int_equal(ipc_get_str(&m2, "envid", &v), 0);
	ipc_msg_deinit(&m2);
	msg.env.envid = "id+2B1";
	assert_int_equal(ipc_get_str(&m, "ret", &v), 1);
	assert_string_equal(v, "HDRS");
	assert_int_equal(ipc_get_str(&m, "body", &v), 1);
	assert_string_equal(v, "8BITMIME");
	assert_int_equal(ipc_get_str(&m, "nrcpt", &v), 1);
	assert_string_equal(v, "2");
	size_t pos = 0;
	assert_int_equal(ipc_get_next(&m, "rcpt", &pos, &v, NULL), 1);
	assert_string_equal(v, "b@example.test"); /* the job's order */
	pos = 0;
	assert_int_equal(ipc_get_next(&m, "notify", &pos, &v, NULL), 1);
	assert_string_equal(v, "");
	assert_int_equal(ipc_get_next(&m, "notify", &pos, &v, NULL), 1);
	assert_string_equal(v, "SUCCESS,FAILURE");
	pos = 0;
	assert_int_equal(ipc_get_next(&m, "orcpt", &pos, &v, NULL), 1);
	assert_string_equal(v, "rfc822;o@example.test");
	assert_int_equal(ipc_count(&m, "rcpt_id"), 2);
	assert_int_equal(ipc_count(&m, "delivered_to"), 0);
	size_t plain = qmgr_request_size(&j);
	ipc_msg_deinit(&m);
	/* A job of forwarded recipients carries their chain, once. */
	j.dlvto = "a@one.test\nb@two.test";
	ipc_msg_init(&m);
	assert_int_equal(qmgr_request_build(&j, &m), 0);
	assert_int_equal(ipc_get_str(&m, "delivered_to", &v), 1);
	assert_string_equal(v, "a@one.test\nb@two.test");
	assert_true(qmgr_request_size(&j) >= plain + strlen(j.dlvto));
	assert_true(qmgr_request_size(&j) >= m.wire.len + 4);
	ipc_msg_deinit(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_results_in_any_order),
	        cmocka_unit_test(test_dsn_class_follows_result),
	        cmocka_unit_test(test_missing_recipient_defers),
	        cmocka_unit_test(test_refused_request),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_forward_chain),
	        cmocka_unit_test(test_forward_list_bound),
	        cmocka_unit_test(test_clean_text),
	        cmocka_unit_test(test_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
