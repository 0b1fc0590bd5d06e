/* SPDX-License-Identifier: MIT */
/*
 * test_qmgr_bounce.c - the text of delivery status notifications
 * (qmgr_bounce.c): RFC 3464/6522 structure, per-message and
 * per-recipient fields, the original part, folding of long values,
 * 8-bit marking, each kind of notice
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "qmgr/qmgr.h"

static const char ORIG[] = "Received: by mx.example.test\n"
                           "Subject: hello\n"
                           "From: a@example.test\n"
                           "\n"
                           "body line\n";

static struct qmgr_dsn base(enum qmgr_notice kind)
{
	struct qmgr_dsn d = {
	        .kind = kind,
	        .queue_id = "ORIGINAL0000001",
	        .report_id = "REPORT000000001",
	        .hostname = "mx.example.test",
	        .from = "MAILER-DAEMON@mx.example.test",
	        .to = "a@example.test",
	        .sender = "a@example.test",
	        .arrival_s = 1700000000,
	        .now_s = 1700000100,
	        .retry_until_s = 1700432000,
	        .orig = ORIG,
	};
	d.orig_len = (size_t)(strstr(ORIG, "\n\n") - ORIG) + 2; /* header */
	return d;
}

static char *build(const struct qmgr_dsn *d, const struct qmgr_dsn_rcpt *r,
                   size_t n)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(qmgr_dsn_build(d, r, n, &b), 0);
	return buf_take(&b);
}

/* No line longer than RFC 5322's 998, LF ends only. */
static void check_lines(const char *s)
{
	size_t len = 0;
	for (const char *p = s; *p; p++) {
		assert_true(*p != '\r');
		if (*p == '\n') {
			assert_true(len <= 998);
			len = 0;
		} else {
			len++;
		}
	}
}

static void test_failure_report_structure(void **state)
{
	(void)state;
	struct qmgr_dsn d = base(QMGR_NOTICE_FAIL);
	d.envid = "env+2Bid";
	struct qmgr_dsn_rcpt r[] = {
	        {.address = "x@example.test",
	         .orcpt = "rfc822;first+2Bext@example.test",
	         .action = "failed",
	         .status = "5.1.1",
	         .reason = "unknown user: \"x@example.test\"",
	         .relay = "local",
	         .last_attempt = 1700000050},
	        {.address = "y@remote.test",
	         .action = "failed",
	         .status = "5.7.1",
	         .reason = "host mx.remote.test[192.0.2.1] said: 550 5.7.1 "
	                   "no thanks (in reply to RCPT TO command)",
	         .relay = "mx.remote.test[192.0.2.1]:25"},
	};
	char *s = build(&d, r, 2);
	check_lines(s);
	assert_non_null(strstr(s, "Subject: Undelivered Mail Returned to "
	                          "Sender\n"));
	assert_non_null(strstr(s, "To: <a@example.test>\n"));
	assert_non_null(strstr(s, "Auto-Submitted: auto-replied\n"));
	assert_non_null(strstr(s, "Content-Type: multipart/report; "
	                          "report-type=delivery-status;\n\tboundary="
	                          "\"REPORT000000001.1700000100/"
	                          "mx.example.test\"\n"));
	const char *bnd = "--REPORT000000001.1700000100/mx.example.test\n";
	const char *p1 = strstr(s, bnd);
	assert_non_null(p1);
	const char *p2 = strstr(p1 + 1, bnd);
	assert_non_null(p2);
	const char *p3 = strstr(p2 + 1, bnd);
	assert_non_null(p3);
	assert_non_null(strstr(s, "\n--REPORT000000001.1700000100/"
	                          "mx.example.test--\n"));
	/* Part 1: text; part 2: delivery-status; part 3: headers. */
	assert_non_null(strstr(p1, "Content-Type: text/plain; "
	                           "charset=us-ascii\n"));
	assert_non_null(strstr(p1, "<x@example.test>: unknown user"));
	assert_non_null(strstr(p2, "Content-Type: message/delivery-status\n"
	                           "\nReporting-MTA: dns; mx.example.test\n"));
	assert_non_null(strstr(p2, "Original-Envelope-Id: env+id\n"));
	assert_non_null(strstr(p2, "Arrival-Date: "));
	assert_non_null(strstr(p2, "\n\nFinal-Recipient: rfc822; "
	                           "x@example.test\n"
	                           "Original-Recipient: rfc822; "
	                           "first+ext@example.test\n"
	                           "Action: failed\nStatus: 5.1.1\n"
	                           "Diagnostic-Code: x-unix; unknown user: "
	                           "\"x@example.test\"\n"
	                           "Last-Attempt-Date: "));
	assert_non_null(strstr(p2, "\n\nFinal-Recipient: rfc822; "
	                           "y@remote.test\n"
	                           "Action: failed\nStatus: 5.7.1\n"
	                           "Remote-MTA: dns; mx.remote.test\n"
	                           "Diagnostic-Code: smtp; 550 5.7.1 no "
	                           "thanks (in reply to RCPT TO command)\n"));
	assert_null(strstr(p2, "Will-Retry-Until"));
	assert_non_null(strstr(p3, "Content-Type: text/rfc822-headers\n\n"
	                           "Received: by mx.example.test\n"
	                           "Subject: hello\n"));
	assert_null(strstr(p3, "body line"));
	assert_null(strstr(s, "Content-Transfer-Encoding"));
	free(s);
}

static void test_full_original_and_8bit(void **state)
{
	(void)state;
	struct qmgr_dsn d = base(QMGR_NOTICE_FAIL);
	static const char eight[] = "Subject: caf\xc3\xa9\n\nno newline at end";
	d.orig = eight;
	d.orig_len = sizeof(eight) - 1;
	d.full = true;
	struct qmgr_dsn_rcpt r = {.address = "x@example.test",
	                          .action = "failed",
	                          .status = "5.0.0",
	                          .reason = "no"};
	char *s = build(&d, &r, 1);
	assert_non_null(strstr(s, "Content-Transfer-Encoding: 8bit\n"));
	assert_non_null(strstr(s, "Content-Type: message/rfc822\n"
	                          "Content-Transfer-Encoding: 8bit\n\n"
	                          "Subject: caf\xc3\xa9\n\nno newline at "
	                          "end\n\n--"));
	free(s);
}

static void test_long_reason_is_folded(void **state)
{
	(void)state;
	struct qmgr_dsn d = base(QMGR_NOTICE_FAIL);
	char reason[1001];
	for (size_t i = 0; i < 1000; i++)
		reason[i] = i % 9 == 8 ? ' ' : 'w';
	reason[1000] = 0;
	char solid[1001];
	memset(solid, 'z', 1000);
	solid[1000] = 0;
	struct qmgr_dsn_rcpt r[] = {
	        {.address = "x@example.test",
	         .action = "failed",
	         .status = "5.0.0",
	         .reason = reason},
	        {.address = "y@example.test",
	         .action = "failed",
	         .status = "5.0.0",
	         .reason = solid},
	};
	char *s = build(&d, r, 2);
	check_lines(s);
	/* Folded, not cut: every word is still there. */
	size_t words = 0;
	for (const char *p = strstr(s, "Diagnostic-Code: x-unix; w");
	     p && *p && strncmp(p, "\nLast", 5) != 0 && strncmp(p, "\n\n", 2);
	     p++)
		words += *p == 'w' && (p[-1] == ' ' || p[-1] == '\t');
	assert_true(words >= 100);
	free(s);
}

static void test_delay_success_and_double_bounce(void **state)
{
	(void)state;
	struct qmgr_dsn_rcpt r = {.address = "x@example.test",
	                          .action = "delayed",
	                          .status = "4.4.1",
	                          .reason = "connection timed out",
	                          .relay = "none"};
	struct qmgr_dsn d = base(QMGR_NOTICE_DELAY);
	char *s = build(&d, &r, 1);
	assert_non_null(strstr(s, "Subject: Delayed Mail (still being "
	                          "retried)\n"));
	assert_non_null(strstr(s, "Action: delayed\nStatus: 4.4.1\n"));
	assert_non_null(strstr(s, "Will-Retry-Until: "));
	assert_non_null(strstr(s, "Content-Type: text/rfc822-headers"));
	free(s);

	d = base(QMGR_NOTICE_SUCCESS);
	r.action = "delivered";
	r.status = "2.0.0";
	r.reason = "delivered to maildir";
	s = build(&d, &r, 1);
	assert_non_null(strstr(s, "Subject: Successful Mail Delivery "
	                          "Report\n"));
	assert_non_null(strstr(s, "Action: delivered\nStatus: 2.0.0\n"));
	free(s);

	d = base(QMGR_NOTICE_2BOUNCE);
	d.to = "postmaster@example.test";
	d.sender = "";
	r.action = "failed";
	r.status = "5.1.1";
	s = build(&d, &r, 1);
	assert_non_null(strstr(s, "Subject: Postmaster Copy: Undelivered "
	                          "Mail\n"));
	assert_non_null(strstr(s, "To: <postmaster@example.test>\n"));
	assert_non_null(strstr(s, "X-Posthorn-Sender: rfc822; \n"));
	assert_non_null(strstr(s, "Undelivered Notification Headers"));
	free(s);
}

/* What a sender may put in ENVID and ORCPT, and how long an address the
 * queue takes, cannot break the report's lines (found by fuzz_dsn). */
static void test_hostile_values(void **state)
{
	(void)state;
	struct qmgr_dsn d = base(QMGR_NOTICE_FAIL);
	d.envid = "x+0AAction:+20delivered";
	char addr[QUEUE_ADDR_MAX + 1];
	memset(addr, 'a', sizeof(addr) - 1);
	memcpy(addr + sizeof(addr) - 12, "@example.te", 11);
	addr[sizeof(addr) - 1] = 0;
	struct qmgr_dsn_rcpt r[] = {
	        {.address = "x@example.test",
	         .orcpt = "rfc822;x+0D+0AFinal-Recipient:+20rfc822;+20y@z",
	         .action = "failed",
	         .status = "5.1.1",
	         .reason = "unknown"},
	        {.address = addr,
	         .action = "failed",
	         .status = "5.1.1",
	         .reason = "unknown"},
	};
	char *s = build(&d, r, 2);
	check_lines(s);
	/* Decoded, they would be line breaks: shown as xtext instead. */
	assert_non_null(
	        strstr(s, "Original-Envelope-Id: x+0AAction:+20delivered\n"));
	assert_non_null(strstr(s, "Original-Recipient: rfc822; "
	                          "x+0D+0AFinal-Recipient:+20rfc822;+20y@z\n"));
	assert_null(strstr(s, "\nAction: delivered"));
	assert_null(strstr(s, "Final-Recipient: rfc822; y@z"));
	/* Ordinary xtext is still decoded. */
	d.envid = "env+2Bid";
	free(s);
	s = build(&d, r, 1);
	assert_non_null(strstr(s, "Original-Envelope-Id: env+id\n"));
	free(s);
}

static void test_buffer_limit(void **state)
{
	(void)state;
	struct qmgr_dsn d = base(QMGR_NOTICE_FAIL);
	struct qmgr_dsn_rcpt r = {.address = "x@example.test",
	                          .action = "failed",
	                          .status = "5.0.0",
	                          .reason = "no"};
	struct buf b;
	buf_init(&b, 200);
	assert_int_equal(qmgr_dsn_build(&d, &r, 1, &b), -1);
	buf_deinit(&b);
}

static void test_date(void **state)
{
	(void)state;
	char out[64];
	setenv("TZ", "UTC", 1);
	assert_string_equal(qmgr_rfc822_date(0, out, sizeof(out)),
	                    "Thu, 01 Jan 1970 00:00:00 +0000");
	assert_string_equal(qmgr_rfc822_date(1700000000, out, sizeof(out)),
	                    "Tue, 14 Nov 2023 22:13:20 +0000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_failure_report_structure),
	        cmocka_unit_test(test_full_original_and_8bit),
	        cmocka_unit_test(test_long_reason_is_folded),
	        cmocka_unit_test(test_delay_success_and_double_bounce),
	        cmocka_unit_test(test_hostile_values),
	        cmocka_unit_test(test_buffer_limit),
	        cmocka_unit_test(test_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
