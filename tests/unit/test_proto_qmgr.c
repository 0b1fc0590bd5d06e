/* SPDX-License-Identifier: MIT */
/*
 * test_proto_qmgr.c - commit requests: build/parse round trip, split over
 * several messages, and every way a malformed request is refused
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ipc.h"
#include "common/proto_qmgr.h"
#include "common/xalloc.h"

static void build_envelope(struct queue_envelope *env, struct queue_rcpt *r,
                           size_t n)
{
	memset(env, 0, sizeof(*env));
	queue_id_new(env->queue_id);
	env->sender = "s@example.test";
	env->arrival_us = 1700000000000000;
	env->size = 42;
	env->protocol = "ESMTP";
	env->body = QUEUE_BODY_8BITMIME;
	env->ret = QUEUE_RET_FULL;
	env->envid = "abc";
	for (size_t i = 0; i < n; i++) {
		char *a = xasprintf("r%zu@example.test", i);
		r[i] = (struct queue_rcpt){
		        .address = a,
		        .notify = i % 2 ? QUEUE_NOTIFY_NEVER : 0,
		        .orcpt = i % 3 ? NULL : "rfc822;o@x"};
	}
	env->rcpts = r;
	env->nrcpt = n;
}

static void free_rcpts(struct queue_rcpt *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)r[i].address);
}

/* Sends msgs through the wire codec (encode -> bytes -> decode) into
 * the server-side parser; returns its last result. */
static int feed(struct qmgr_commit_req *req, struct ipc_msg *msgs, size_t n,
                struct err *e)
{
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		struct buf wire;
		struct ipc_msg m;
		size_t used;
		buf_init(&wire, 0);
		assert_int_equal(
		        buf_append(&wire, msgs[i].wire.data, msgs[i].wire.len),
		        0);
		assert_int_equal(buf_append(&wire, "\0\0\0\0", 4), 0);
		ipc_msg_init(&m);
		assert_int_equal(
		        ipc_msg_decode(&m, wire.data, wire.len, &used, e), 1);
		rc = qmgr_proto_commit_add(req, &m, e);
		ipc_msg_deinit(&m);
		buf_deinit(&wire);
		if (rc != 0)
			break;
	}
	return rc;
}

static void round_trip(size_t nrcpt)
{
	struct queue_rcpt *r = xcalloc(nrcpt ? nrcpt : 1, sizeof(*r));
	struct queue_envelope env;
	struct ipc_msg *msgs;
	size_t n;
	struct err e;
	build_envelope(&env, r, nrcpt);
	assert_int_equal(qmgr_proto_build_commit(&env, &msgs, &n, &e), 0);
	assert_int_equal(n, nrcpt / QMGR_RCPT_PER_MSG + 1);
	struct qmgr_commit_req req = {0};
	assert_int_equal(feed(&req, msgs, n, &e), 1);
	assert_string_equal(req.env.queue_id, env.queue_id);
	assert_string_equal(req.env.sender, env.sender);
	assert_int_equal(req.env.size, 42);
	assert_int_equal(req.env.body, QUEUE_BODY_8BITMIME);
	assert_int_equal(req.env.ret, QUEUE_RET_FULL);
	assert_string_equal(req.env.envid, "abc");
	assert_int_equal(req.env.nrcpt, nrcpt);
	for (size_t i = 0; i < nrcpt; i++) {
		assert_string_equal(req.env.rcpts[i].address, r[i].address);
		assert_int_equal(req.env.rcpts[i].notify, r[i].notify);
		if (r[i].orcpt)
			assert_string_equal(req.env.rcpts[i].orcpt, r[i].orcpt);
		else
			assert_null(req.env.rcpts[i].orcpt);
	}
	/* The same request object serves the next commit after a reset. */
	qmgr_proto_commit_reset(&req);
	assert_int_equal(feed(&req, msgs, n, &e), 1);
	assert_int_equal(req.env.nrcpt, nrcpt);
	qmgr_proto_commit_free(&req);
	qmgr_proto_msgs_free(&msgs, n);
	free_rcpts(r, nrcpt);
	free(r);
}

static void round_trips(void **state)
{
	(void)state;
	round_trip(1);
	round_trip(3);
	round_trip(QMGR_RCPT_PER_MSG);
	round_trip(QMGR_RCPT_PER_MSG + 1);
	round_trip(1000); /* smtpd_recipient_limit's default */
}

/* A request written by hand: "name=value" strings. */
static int parse_strings(const char *const *attrs, struct err *e)
{
	struct ipc_msg m;
	ipc_msg_init(&m);
	for (size_t i = 0; attrs[i]; i++) {
		const char *eq = strchr(attrs[i], '=');
		char name[40];
		snprintf(name, sizeof(name), "%.*s", (int)(eq - attrs[i]),
		         attrs[i]);
		assert_int_equal(ipc_put(&m, name, eq + 1, strlen(eq + 1)), 0);
	}
	struct qmgr_commit_req req = {0};
	int rc = qmgr_proto_commit_add(&req, &m, e);
	qmgr_proto_commit_free(&req);
	ipc_msg_deinit(&m);
	return rc;
}

#define OKID "queue_id=4Xb2kQ0z7Lz9aB0"
#define BASE "sender=a@b", "size=10", "arrival_us=5"

static void malformed_requests_are_refused(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		const char *attrs[12];
		const char *want; /* substring of the reason */
	} cases[] = {
	        {"good",
	         {"type=commit", OKID, BASE, "nrcpt=1", "rcpt=x@y"},
	         NULL},
	        {"wrong verb", {"type=flush", OKID}, "unexpected"},
	        {"no type", {OKID, BASE, "nrcpt=1", "rcpt=x@y"}, "unexpected"},
	        {"missing queue_id",
	         {"type=commit", BASE, "nrcpt=1", "rcpt=x@y"},
	         "queue_id missing"},
	        {"bad queue_id",
	         {"type=commit", "queue_id=../../x", BASE, "nrcpt=1",
	          "rcpt=x@y"},
	         "queue_id invalid"},
	        {"repeated queue_id",
	         {"type=commit", OKID, OKID, BASE, "nrcpt=1", "rcpt=x@y"},
	         "queue_id invalid"},
	        {"missing sender",
	         {"type=commit", OKID, "size=1", "arrival_us=1", "nrcpt=1",
	          "rcpt=x@y"},
	         "sender missing"},
	        {"missing size",
	         {"type=commit", OKID, "sender=", "arrival_us=1", "nrcpt=1",
	          "rcpt=x@y"},
	         "size missing"},
	        {"bad size",
	         {"type=commit", OKID, "sender=", "size=-1", "arrival_us=1",
	          "nrcpt=1", "rcpt=x@y"},
	         "size invalid"},
	        {"size not a number",
	         {"type=commit", OKID, "sender=", "size=12k", "arrival_us=1",
	          "nrcpt=1", "rcpt=x@y"},
	         "size invalid"},
	        {"missing nrcpt",
	         {"type=commit", OKID, BASE, "rcpt=x@y"},
	         "nrcpt missing"},
	        {"zero nrcpt",
	         {"type=commit", OKID, BASE, "nrcpt=0"},
	         "nrcpt invalid"},
	        {"huge nrcpt",
	         {"type=commit", OKID, BASE, "nrcpt=99999999999999999999",
	          "rcpt=x@y"},
	         "nrcpt invalid"},
	        {"count mismatch",
	         {"type=commit", OKID, BASE, "nrcpt=2", "rcpt=x@y"},
	         "nrcpt=2"},
	        {"orcpt count mismatch",
	         {"type=commit", OKID, BASE, "nrcpt=2", "rcpt=x@y", "rcpt=z@y",
	          "orcpt="},
	         "orcpt"},
	        {"bad notify",
	         {"type=commit", OKID, BASE, "nrcpt=1", "rcpt=x@y",
	          "notify=16"},
	         "notify"},
	        {"never with others",
	         {"type=commit", OKID, BASE, "nrcpt=1", "rcpt=x@y", "notify=3"},
	         "notify"},
	        {"empty recipient",
	         {"type=commit", OKID, BASE, "nrcpt=1", "rcpt="},
	         "rcpt"},
	        {"CRLF in recipient",
	         {"type=commit", OKID, BASE, "nrcpt=1", "rcpt=x@y\r\nDATA"},
	         "rcpt"},
	        {"angle brackets in sender",
	         {"type=commit", OKID, "sender=<a@b>", "size=1", "arrival_us=1",
	          "nrcpt=1", "rcpt=x@y"},
	         "sender"},
	        {"bad body",
	         {"type=commit", OKID, BASE, "body=9bit", "nrcpt=1",
	          "rcpt=x@y"},
	         "body"},
	        {"bad ret",
	         {"type=commit", OKID, BASE, "ret=", "nrcpt=1", "rcpt=x@y"},
	         "ret"},
	        {"bad flag",
	         {"type=commit", OKID, BASE, "hold=2", "nrcpt=1", "rcpt=x@y"},
	         "hold"},
	        {"control in helo",
	         {"type=commit", OKID, BASE, "helo=a\tb", "nrcpt=1",
	          "rcpt=x@y"},
	         "helo"},
	        {"rcpt message without recipients", {"type=rcpt"}, "without"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e = {{0}};
		int rc = parse_strings(cases[i].attrs, &e);
		if (!cases[i].want) {
			if (rc != 1)
				fail_msg("%s: got %d (%s), want 1",
				         cases[i].what, rc, e.msg);
			continue;
		}
		if (rc != -1)
			fail_msg("%s: got %d, want -1", cases[i].what, rc);
		if (!strstr(e.msg, cases[i].want))
			fail_msg("%s: reason \"%s\" lacks \"%s\"",
			         cases[i].what, e.msg, cases[i].want);
	}
}

/* A commit message with the required envelope and nrcpt = n. */
static void begin_commit(struct ipc_msg *m, uint64_t n)
{
	ipc_msg_begin(m, QMGR_REQ_COMMIT);
	(void)ipc_put_str(m, QMGR_ATTR_QUEUE_ID, "4Xb2kQ0z7Lz9aB0");
	(void)ipc_put_str(m, QMGR_ATTR_SENDER, "");
	(void)ipc_put_u64(m, QMGR_ATTR_SIZE, 1);
	(void)ipc_put_u64(m, QMGR_ATTR_ARRIVAL, 1);
	(void)ipc_put_u64(m, QMGR_ATTR_NRCPT, n);
}

static void rcpt_messages_then_commit(void **state)
{
	(void)state;
	struct err e;
	struct qmgr_commit_req req = {0};
	struct ipc_msg m;
	ipc_msg_init(&m);
	ipc_msg_begin(&m, QMGR_REQ_RCPT);
	(void)ipc_put_str(&m, QMGR_ATTR_RCPT, "a@x");
	assert_int_equal(qmgr_proto_commit_add(&req, &m, &e), 0);
	begin_commit(&m, 1);
	/* nrcpt counts the earlier rcpt message too: 1 + 1 != 1. */
	(void)ipc_put_str(&m, QMGR_ATTR_RCPT, "b@x");
	assert_int_equal(qmgr_proto_commit_add(&req, &m, &e), -1);
	qmgr_proto_commit_reset(&req);
	ipc_msg_begin(&m, QMGR_REQ_RCPT);
	(void)ipc_put_str(&m, QMGR_ATTR_RCPT, "a@x");
	assert_int_equal(qmgr_proto_commit_add(&req, &m, &e), 0);
	begin_commit(&m, 1);
	assert_int_equal(qmgr_proto_commit_add(&req, &m, &e), 1);
	assert_int_equal(req.env.nrcpt, 1);
	assert_string_equal(req.env.rcpts[0].address, "a@x");
	qmgr_proto_commit_free(&req);
	ipc_msg_deinit(&m);
}

static void address_safety(void **state)
{
	(void)state;
	assert_true(queue_addr_safe("", 0));
	assert_true(queue_addr_safe("a@b", 3));
	assert_true(queue_addr_safe("\"a b\"@c", 7));
	assert_true(queue_addr_safe("\xc3\xa9@b", 4)); /* UTF-8 */
	assert_false(queue_addr_safe("a b@c", 5));
	assert_false(queue_addr_safe("a\n@c", 4));
	assert_false(queue_addr_safe("a\0@c", 4));
	assert_false(queue_addr_safe("<a@c>", 5));
	/* An escaped control is still a control (found by fuzz_dsn). */
	assert_false(queue_addr_safe("\"a\\\n\"@c", 7));
	assert_false(queue_addr_safe("\"a\\\0\"@c", 7));
	assert_true(queue_addr_safe("\"a\\\"\"@c", 7));
	char big[QUEUE_ADDR_MAX + 2];
	memset(big, 'a', sizeof(big));
	assert_true(queue_addr_safe(big, QUEUE_ADDR_MAX));
	assert_false(queue_addr_safe(big, QUEUE_ADDR_MAX + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(round_trips),
	        cmocka_unit_test(malformed_requests_are_refused),
	        cmocka_unit_test(rcpt_messages_then_commit),
	        cmocka_unit_test(address_safety),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
