/* SPDX-License-Identifier: MIT */
/*
 * fuzz_deliver_reply.c - qmgr's check of a delivery agent's reply
 * (qmgr_reply_decode) on arbitrary bytes
 *
 * The first input byte chooses how many recipients the request had
 * (0..DELIVER_RCPT_MAX); the rest is decoded as IPC messages, the way
 * qmgr_agent.c reads an agent's socket. Whatever the decoder accepts must
 * hold what qmgr relies on: a known result per recipient, a DSN whose
 * class matches it, bounded printable texts, and for forwards a bounded
 * list of safe addresses and, if any, a well-formed delivered-to chain.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/proto_deliver.h"
#include "qmgr/qmgr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			abort();
}

static void check(const struct qmgr_result *r)
{
	static const char klass[] = {'2', '4', '5', '2'};
	if ((unsigned)r->res > QMGR_RES_FORWARD || r->dsn[0] != klass[r->res])
		abort();
	if (!r->reason || !r->relay)
		abort();
	check_text(r->reason, DELIVER_REASON_MAX);
	check_text(r->relay, QMGR_RELAY_MAX);
	if (r->res == QMGR_RES_FORWARD) {
		if (r->nfwd == 0 || r->nfwd > DELIVER_FORWARD_MAX)
			abort();
		for (size_t i = 0; i < r->nfwd; i++)
			if (!r->fwd[i][0] ||
			    !queue_addr_safe(r->fwd[i], strlen(r->fwd[i])))
				abort();
	}
	/* A chain goes into Delivered-To: lines: only a checked one. */
	if (r->dlvto && (r->res != QMGR_RES_FORWARD ||
	                 !queue_dlvto_safe(r->dlvto, strlen(r->dlvto))))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t n = data[0] % (DELIVER_RCPT_MAX + 1);
	size_t off = 1;
	struct ipc_msg m;
	struct err e;
	ipc_msg_init(&m);
	while (off < size) {
		size_t used = 0;
		if (ipc_msg_decode(&m, data + off, size - off, &used, &e) != 1)
			break;
		off += used;
		struct arena *a = arena_new();
		struct qmgr_result *res =
		        arena_calloc(a, n ? n : 1, sizeof(*res));
		const char *reason = NULL;
		int rc = qmgr_reply_decode(&m, n, a, res, &reason, &e);
		if (rc == 0) {
			for (size_t i = 0; i < n; i++)
				check(&res[i]);
		} else if (rc == 1) {
			if (!reason)
				abort();
			check_text(reason, DELIVER_REASON_MAX);
		} else if (rc != -1) {
			abort();
		}
		arena_free(&a);
	}
	ipc_msg_deinit(&m);
	return 0;
}
