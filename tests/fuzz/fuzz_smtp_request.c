/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_request.c - the smtp delivery agent's reading of a request
 * from qmgr (smtp_request_decode) on arbitrary bytes
 *
 * The input is decoded as IPC messages, the way smtp_deliver.c reads
 * its socket, and each one goes to smtp_request_decode(). An accepted
 * request must hold what the SMTP dialogue relies on: no control byte
 * in anything that goes into a command (sender, ENVID, recipients,
 * ORCPT, NOTIFY), a queue file path that stays in the queue directory,
 * 1..SMTP_RCPT_MAX recipients with addresses, a known body type, and a
 * next hop whose canonical text parses back to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/nexthop.h"
#include "smtp/smtp.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
	CHECK(s);
	for (; *s; s++)
		CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void check(const struct smtp_request *r)
{
	check_text(r->queue_id);
	check_text(r->sender);
	check_text(r->queue_file);
	CHECK(r->queue_file[0] && r->queue_file[0] != '/' &&
	      !strstr(r->queue_file, ".."));
	if (r->envid)
		check_text(r->envid);
	CHECK(!r->ret || !strcmp(r->ret, "FULL") || !strcmp(r->ret, "HDRS"));
	CHECK(r->body == SMTP_BODY_7BIT || r->body == SMTP_BODY_8BITMIME ||
	      r->body == SMTP_BODY_BINARYMIME);
	CHECK(r->nrcpt >= 1 && r->nrcpt <= SMTP_RCPT_MAX);
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct smtp_rcpt *rc = &r->rcpt[i];
		check_text(rc->id);
		check_text(rc->addr);
		check_text(rc->orcpt);
		check_text(rc->notify);
		CHECK(rc->addr[0]);
		CHECK(rc->result == SMTP_RES_NONE);
	}
	struct nexthop nh;
	struct err e;
	char again[sizeof(r->nexthop_key)];
	const char *key = r->nexthop_key;
	CHECK(nexthop_parse(key, strlen(key), &nh, &e) == 0);
	nexthop_format(&nh, again, sizeof(again));
	CHECK(strcmp(again, key) == 0);
}

static int one(const struct ipc_msg *m, void *ctx)
{
	(void)ctx;
	struct smtp_request req;
	struct err e;
	memset(&req, 0, sizeof(req));
	req.arena = arena_new();
	int rc = smtp_request_decode(m, &req, &e);
	CHECK(rc == 0 || rc == -1 || rc == -2);
	if (rc == 0)
		check(&req);
	arena_free(&req.arena);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_ipc_each(data, size, one, NULL);
	return 0;
}
