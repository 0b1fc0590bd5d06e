/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_reply.c - SMTP reply lines: single and multi-line replies,
 * enhanced status codes, malformed lines, bounds; EHLO keywords
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_reply.h"

/* Feeds lines until the reply completes; the last result. */
static int feed_all(struct smtp_reply *r, const char *const *lines,
                    struct err *e)
{
	int rc = -1;
	for (size_t i = 0; lines[i]; i++) {
		rc = smtp_reply_feed(r, lines[i], strlen(lines[i]), e);
		if (rc != 0)
			return rc;
	}
	return rc;
}

static void single_line_with_enhanced_code(void **state)
{
	(void)state;
	struct smtp_reply r;
	struct err e;
	smtp_reply_init(&r);
	const char *l = "550 5.1.1 <x@y>: Recipient address rejected";
	assert_int_equal(smtp_reply_feed(&r, l, strlen(l), &e), 1);
	assert_true(r.complete);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.dsn, "5.1.1");
	assert_string_equal(buf_cstr(&r.text), l);
	assert_string_equal(smtp_reply_line(&r, 0),
	                    "5.1.1 <x@y>: Recipient address rejected");
	assert_null(smtp_reply_line(&r, 1));
	smtp_reply_deinit(&r);
}

static void multiline_joins_lines_with_spaces(void **state)
{
	(void)state;
	struct smtp_reply r;
	struct err e;
	smtp_reply_init(&r);
	const char *lines[] = {"550-5.1.1 The email account does not exist.",
	                       "550-5.1.1 Please try again.",
	                       "550 5.1.1 https://support.example/", NULL};
	assert_int_equal(smtp_reply_feed(&r, lines[0], strlen(lines[0]), &e),
	                 0);
	assert_false(r.complete);
	assert_int_equal(smtp_reply_feed(&r, lines[1], strlen(lines[1]), &e),
	                 0);
	assert_int_equal(smtp_reply_feed(&r, lines[2], strlen(lines[2]), &e),
	                 1);
	assert_int_equal(r.code, 550);
	assert_int_equal(r.nlines, 3);
	assert_string_equal(r.dsn, "5.1.1");
	assert_string_equal(buf_cstr(&r.text),
	                    "550-5.1.1 The email account does not exist. "
	                    "550-5.1.1 Please try again. 550 5.1.1 "
	                    "https://support.example/");
	assert_string_equal(smtp_reply_line(&r, 2),
	                    "5.1.1 https://support.example/");
	/* A new line after a complete reply starts the next reply. */
	assert_int_equal(smtp_reply_feed(&r, "250 ok", 6, &e), 1);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.nlines, 1);
	assert_string_equal(r.dsn, "");
	smtp_reply_deinit(&r);
}

static void bare_code_and_no_text(void **state)
{
	(void)state;
	struct smtp_reply r;
	struct err e;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, "250", 3, &e), 1);
	assert_int_equal(r.code, 250);
	assert_string_equal(smtp_reply_line(&r, 0), "");
	const char *lines[] = {"220-", "220 ", NULL};
	assert_int_equal(feed_all(&r, lines, &e), 1);
	assert_int_equal(r.code, 220);
	assert_int_equal(r.nlines, 2);
	smtp_reply_deinit(&r);
}

static void malformed_lines(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",
	        "25",
	        "abc hello",
	        "199 too low",
	        "600 too high",
	        "2x0 x",
	        "260 x",
	        "250_x",
	        "250x",
	        "5",
	        "0 0",
	        "2500 four digits",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct smtp_reply r;
		struct err e;
		smtp_reply_init(&r);
		if (smtp_reply_feed(&r, bad[i], strlen(bad[i]), &e) != -1)
			fail_msg("got accepted, want rejected: \"%s\"", bad[i]);
		smtp_reply_deinit(&r);
	}
}

static void code_change_inside_a_reply_is_malformed(void **state)
{
	(void)state;
	struct smtp_reply r;
	struct err e;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, "250-first", 9, &e), 0);
	assert_int_equal(smtp_reply_feed(&r, "550 second", 10, &e), -1);
	assert_non_null(strstr(e.msg, "changed"));
	smtp_reply_deinit(&r);
}

static void endless_reply_is_cut_off(void **state)
{
	(void)state;
	struct smtp_reply r;
	struct err e;
	smtp_reply_init(&r);
	int rc = 0;
	size_t n = 0;
	while (rc == 0 && n < 10000) {
		rc = smtp_reply_feed(&r, "250-more", 8, &e);
		n++;
	}
	assert_int_equal(rc, -1);
	assert_int_equal(n, SMTP_REPLY_LINES_MAX + 1);
	smtp_reply_deinit(&r);
}

static void long_text_is_bounded(void **state)
{
	(void)state;
	struct smtp_reply r;
	struct err e;
	char line[3000];
	memset(line, 'x', sizeof(line));
	memcpy(line, "250-", 4);
	smtp_reply_init(&r);
	for (int i = 0; i < 10; i++)
		assert_int_equal(smtp_reply_feed(&r, line, sizeof(line), &e),
		                 0);
	line[3] = ' ';
	assert_int_equal(smtp_reply_feed(&r, line, sizeof(line), &e), 1);
	assert_true(r.text.len <= SMTP_REPLY_TEXT_MAX + 3);
	assert_memory_equal(r.text.data + r.text.len - 3, "...", 3);
	smtp_reply_deinit(&r);
}

static void enhanced_codes(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t want;
		const char *code;
	} cases[] = {
	        {"5.1.1 rest", 5, "5.1.1"},
	        {"4.7.0", 5, "4.7.0"},
	        {"2.0.0\tx", 5, "2.0.0"},
	        {"5.123.456 x", 9, "5.123.456"},
	        {"5.1234.1 x", 0, NULL},
	        {"3.1.1 x", 0, NULL},
	        {"5.1. x", 0, NULL},
	        {"5..1 x", 0, NULL},
	        {"5.1.1x", 0, NULL},
	        {"5.1", 0, NULL},
	        {"Ok", 0, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[12] = "";
		size_t got =
		        smtp_dsn_parse(cases[i].in, strlen(cases[i].in), out);
		if (got != cases[i].want)
			fail_msg("\"%s\": got %zu, want %zu", cases[i].in, got,
			         cases[i].want);
		if (cases[i].code)
			assert_string_equal(out, cases[i].code);
	}
	/* A code of another class than the reply is not the reply's. */
	struct smtp_reply r;
	struct err e;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, "550 2.0.0 odd", 13, &e), 1);
	assert_string_equal(r.dsn, "");
	char dsn[12];
	assert_string_equal(smtp_reply_status(&r, "4.0.0", dsn, sizeof(dsn)),
	                    "5.0.0");
	assert_int_equal(smtp_reply_feed(&r, "451 4.3.0 later", 15, &e), 1);
	assert_string_equal(smtp_reply_status(&r, "4.0.0", dsn, sizeof(dsn)),
	                    "4.3.0");
	smtp_reply_deinit(&r);
}

static void one_byte_lines_are_fed_whole(void **state)
{
	/* The parser works on whole lines; partial reads are the stream's
	 * job. What matters is that any prefix of a line is judged alone:
	 * "2", "25" are malformed, "250" is a complete reply. */
	(void)state;
	const char *full = "250 2.0.0 Ok";
	for (size_t n = 1; n <= strlen(full); n++) {
		struct smtp_reply r;
		struct err e;
		smtp_reply_init(&r);
		int rc = smtp_reply_feed(&r, full, n, &e);
		int want = n < 3 ? -1 : 1;
		if (rc != want)
			fail_msg("prefix %zu: got %d, want %d", n, rc, want);
		smtp_reply_deinit(&r);
	}
}

static void ehlo_keywords(void **state)
{
	(void)state;
	struct smtp_reply r;
	struct smtp_ehlo eh;
	struct err e;
	smtp_reply_init(&r);
	const char *lines[] = {"250-mx.example.org Hello client",
	                       "250-PIPELINING",
	                       "250-SIZE 10240000",
	                       "250-8bitmime",
	                       "250-STARTTLS",
	                       "250-AUTH=LOGIN",
	                       "250-AUTH CRAM-MD5 PLAIN LOGIN",
	                       "250-ENHANCEDSTATUSCODES",
	                       "250-DSN",
	                       "250-SMTPUTF8",
	                       "250-CHUNKING",
	                       "250-X-UNKNOWN stuff",
	                       "250 BINARYMIME",
	                       NULL};
	assert_int_equal(feed_all(&r, lines, &e), 1);
	smtp_ehlo_parse(&r, &eh);
	assert_string_equal(eh.name, "mx.example.org");
	unsigned want = SMTP_EXT_PIPELINING | SMTP_EXT_SIZE |
	                SMTP_EXT_8BITMIME | SMTP_EXT_STARTTLS | SMTP_EXT_AUTH |
	                SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_DSN |
	                SMTP_EXT_SMTPUTF8 | SMTP_EXT_CHUNKING |
	                SMTP_EXT_BINARYMIME;
	assert_int_equal(eh.ext, want);
	assert_int_equal(eh.auth, SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN);
	assert_int_equal(eh.size, 10240000);

	const char *bare[] = {"250-host", "250-SIZE", "250 SIZE abc", NULL};
	assert_int_equal(feed_all(&r, bare, &e), 1);
	smtp_ehlo_parse(&r, &eh);
	assert_int_equal(eh.ext, SMTP_EXT_SIZE);
	assert_int_equal(eh.size, 0);
	const char *only[] = {"250 host.example", NULL};
	assert_int_equal(feed_all(&r, only, &e), 1);
	smtp_ehlo_parse(&r, &eh);
	assert_int_equal(eh.ext, 0);
	assert_string_equal(eh.name, "host.example");
	smtp_reply_deinit(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(single_line_with_enhanced_code),
	        cmocka_unit_test(multiline_joins_lines_with_spaces),
	        cmocka_unit_test(bare_code_and_no_text),
	        cmocka_unit_test(malformed_lines),
	        cmocka_unit_test(code_change_inside_a_reply_is_malformed),
	        cmocka_unit_test(endless_reply_is_cut_off),
	        cmocka_unit_test(long_text_is_bounded),
	        cmocka_unit_test(enhanced_codes),
	        cmocka_unit_test(one_byte_lines_are_fed_whole),
	        cmocka_unit_test(ehlo_keywords),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
