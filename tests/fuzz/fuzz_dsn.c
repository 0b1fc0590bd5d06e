/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dsn.c - delivery status notifications (qmgr_dsn_build) built from
 * what outsiders chose: the returned message, the sender and recipient
 * addresses, ENVID and ORCPT (xtext from MAIL/RCPT or sendmail -V), the
 * reasons and relay names other servers gave
 *
 * Byte 0 picks the notice kind (bits 0-1), RET=FULL (bit 2) and the
 * number of recipients (bits 4-5, 1..4). The next lines are the sender,
 * ENVID, then per recipient its address, ORCPT, reason and relay; the
 * rest is the original message. Each value is first made what the queue
 * guarantees before it reaches the builder (addresses queue_addr_safe
 * and at most ADDR_MAX bytes,
 * ENVID/ORCPT without controls, reasons and relays cleaned as
 * qmgr_reply.c does). Checks: everything before the original holds
 * only LF line ends, no control byte but TAB and lines of at most 998
 * bytes; the header block and the delivery-status part are made of
 * "Name: value" fields and folded continuations only, with one
 * Final-Recipient per recipient; the boundary opens the three parts and
 * closes the message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/queue_env.h"
#include "qmgr/qmgr.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RCPTS_MAX 4

/* The next line of the input (without its LF) as a string in a. */
static const char *next_line(const char **p, const char *end, size_t *len,
			     struct arena *a)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	const char *s = arena_memdup(a, *p, n);
	*p = nl ? nl + 1 : end;
	*len = n;
	return s;
}

static bool no_controls(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Addresses as the queue takes them, but at most ADDR_MAX bytes: the
 * notice's "To: <sender>" line cannot fold, so a sender of nearly
 * QUEUE_ADDR_MAX bytes (only local submission allows one) would make it
 * longer than 998 (see the report of the fuzzing campaign). */
#define ADDR_MAX 990

static const char *addr_or(const char *s, size_t n, const char *dflt)
{
	return n > 0 && n <= ADDR_MAX && queue_addr_safe(s, n) &&
			       !memchr(s, 0, n)
		       ? s
		       : dflt;
}

static const char *text_or_null(const char *s, size_t n, size_t max)
{
	return n > 0 && n <= max && no_controls(s, n) ? s : NULL;
}

/* A field line: "Name: value" with a name of letters, digits and '-'. */
static bool field_line(const char *p, size_t n, const char **name, size_t *nlen)
{
	size_t k = 0;
	while (k < n &&
	       ((p[k] >= 'A' && p[k] <= 'Z') || (p[k] >= 'a' && p[k] <= 'z') ||
		(p[k] >= '0' && p[k] <= '9') || p[k] == '-'))
		k++;
	*name = p;
	*nlen = k;
	return k > 0 && k + 1 < n && p[k] == ':' && p[k + 1] == ' ';
}

static void check(const char *m, size_t n, size_t nrcpt)
{
	static const char key[] = "\tboundary=\"";
	const char *b = memmem(m, n, key, sizeof(key) - 1);
	CHECK(b);
	b += sizeof(key) - 1;
	const char *q = memchr(b, '"', (size_t)(m + n - b));
	CHECK(q);
	char delim[160];
	int dl = snprintf(delim, sizeof(delim), "--%.*s", (int)(q - b), b);
	CHECK(dl > 2 && (size_t)dl < sizeof(delim));

	/* Walk our own text: header, the two report parts, the third
	 * part's header; the original follows the empty line after it. */
	size_t i = 0, parts = 0, finals = 0;
	bool header = true, in_status = false;
	while (i < n) {
		const char *nl = memchr(m + i, '\n', n - i);
		CHECK(nl);
		const char *p = m + i;
		size_t len = (size_t)(nl - p);
		CHECK(len <= 998);
		for (size_t k = 0; k < len; k++)
			CHECK((unsigned char)p[k] >= 0x20 || p[k] == '\t');
		CHECK(p[0] != 0x7f);
		i += len + 1;
		if (len == (size_t)dl && memcmp(p, delim, (size_t)dl) == 0) {
			parts++;
			header = true;
			in_status = false;
			continue;
		}
		if (header && len == 0) {
			header = false;
			if (parts == 3)
				break; /* the original starts here */
			continue;
		}
		if (!header && !in_status)
			continue;
		if (p[0] == ' ' || p[0] == '\t') {
			CHECK(len > 1);
			continue;
		}
		if (!header && len == 0)
			continue; /* between recipients */
		const char *name;
		size_t nlen;
		CHECK(field_line(p, len, &name, &nlen));
		if (header && nlen == 12 &&
		    memcmp(name, "Content-Type", 12) == 0 &&
		    memmem(p, len, "message/delivery-status", 23))
			in_status = true;
		if (!header && nlen == 15 &&
		    memcmp(name, "Final-Recipient", 15) == 0)
			finals++;
	}
	CHECK(parts == 3);
	CHECK(finals == nrcpt);
	/* The message ends with the closing delimiter. */
	CHECK(n >= (size_t)dl + 3 && memcmp(m + n - dl - 3, delim, dl) == 0 &&
	      memcmp(m + n - 3, "--\n", 3) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const char *const statuses[] = {"5.1.1", "4.4.1", "2.0.0",
					       "5.7.1"};
	static const char *const actions[] = {"failed", "delayed", "delivered",
					      "relayed"};
	struct arena *a = arena_new();
	const char *p = (const char *)data + 1,
		   *end = (const char *)data + size;
	size_t len, nrcpt = 1 + ((data[0] >> 4) & 3);
	const char *s;

	s = next_line(&p, end, &len, a);
	const char *sender = addr_or(s, len, "");
	s = next_line(&p, end, &len, a);
	const char *envid = text_or_null(s, len, QUEUE_ENVID_MAX);
	struct qmgr_dsn_rcpt r[RCPTS_MAX];
	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < nrcpt; i++) {
		s = next_line(&p, end, &len, a);
		r[i].address = addr_or(s, len, "someone@example.test");
		s = next_line(&p, end, &len, a);
		r[i].orcpt = text_or_null(s, len, QUEUE_ADDR_MAX);
		s = next_line(&p, end, &len, a);
		r[i].reason =
			len ? qmgr_clean_text(a, s, len, DELIVER_REASON_MAX)
			    : NULL;
		s = next_line(&p, end, &len, a);
		r[i].relay =
			len ? qmgr_clean_text(a, s, len, QMGR_RELAY_MAX) : NULL;
		r[i].status = statuses[(data[0] + i) & 3];
		r[i].action = actions[(data[0] + i) & 3];
		r[i].last_attempt = i & 1 ? 1700000200 : 0;
	}
	struct qmgr_dsn d = {
		.kind = (enum qmgr_notice)(data[0] & 3),
		.queue_id = "ORIGINAL0000001",
		.report_id = "REPORT000000001",
		.hostname = "mx.example.test",
		.from = "MAILER-DAEMON@mx.example.test",
		.to = sender[0] ? sender : "postmaster@example.test",
		.sender = sender,
		.envid = envid,
		.arrival_s = 1700000000,
		.now_s = 1700000100,
		.retry_until_s = 1700432000,
		.orig = p,
		.orig_len = (size_t)(end - p),
		.full = (data[0] & 4) != 0,
	};
	struct buf out;
	buf_init(&out, 0);
	CHECK(qmgr_dsn_build(&d, r, nrcpt, &out) == 0);
	if (getenv("FUZZ_SHOW_DSN"))
		(void)fwrite(out.data, 1, out.len, stderr);
	check(out.data, out.len, nrcpt);
	buf_deinit(&out);
	arena_free(&a);
	return 0;
}
