/* SPDX-License-Identifier: MIT */
/*
 * test_sendmail_msg.c - sendmail's message handling: input reading (-i,
 * CRLF), header fix-ups, Bcc removal, -t address extraction
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tools/sendmail.h"

static void addresses(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *want; /* addresses joined by '|' */
	} cases[] = {
	        {"a@b", "a@b"},
	        {" a@b , c@d ", "a@b|c@d"},
	        {"Name <a@b>", "a@b"},
	        {"\"Last, First\" <a@b>, c@d", "a@b|c@d"},
	        {"a@b (Comment, with comma)", "a@b"},
	        {"(lead) a@b (nested (x) y)", "a@b"},
	        {"friends: a@b, C <c@d>;, e@f", "a@b|c@d|e@f"},
	        {"undisclosed-recipients:;", ""},
	        {"<@relay.example,@r2:user@example.test>", "user@example.test"},
	        {"\"quoted local\"@example.test",
	         "\"quoted local\"@example.test"},
	        {"a@b,\n\tc@d", "a@b|c@d"},
	        /* A folded quoted string unfolds (found by fuzz_sendmail). */
	        {"\"a\r\n b\"@c", "\"a b\"@c"},
	        {"\"a\\\n b\"@c", "\"a\\ b\"@c"},
	        {"<>", ""},
	        {"", ""},
	        {",,,", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strv sv;
		char got[512] = "";
		strv_init(&sv);
		sendmail_parse_addresses(cases[i].in, strlen(cases[i].in), &sv);
		for (size_t k = 0; k < sv.n; k++) {
			if (k)
				strncat(got, "|",
				        sizeof(got) - strlen(got) - 1);
			strncat(got, sv.v[k], sizeof(got) - strlen(got) - 1);
		}
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("addresses of \"%s\": got \"%s\", want \"%s\"",
			         cases[i].in, got, cases[i].want);
		strv_deinit(&sv);
	}
}

static char *read_str(const char *in, bool dot_ends, uint64_t max, int *rc)
{
	FILE *f = fmemopen((void *)in, strlen(in), "r");
	struct buf b;
	struct err e;
	buf_init(&b, 0);
	*rc = sendmail_read(f, dot_ends, max, &b, &e);
	fclose(f);
	char *s = strdup(buf_cstr(&b));
	buf_deinit(&b);
	return s;
}

static void reading(void **state)
{
	(void)state;
	int rc;
	char *s = read_str("a\r\nb\n.\r\nc\n", true, 1000, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(s, "a\nb\n");
	free(s);
	s = read_str("a\r\n.\nc", false, 1000, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(s, "a\n.\nc\n");
	free(s);
	/* A dot with more on the line is text. */
	s = read_str("..\n. \n.x\n", true, 1000, &rc);
	assert_string_equal(s, "..\n. \n.x\n");
	free(s);
	s = read_str("0123456789\n0123456789\n", true, 15, &rc);
	assert_int_equal(rc, -1);
	free(s);
}

static char *rewrite(const char *in, bool extract, struct strv *rcpts)
{
	struct sendmail_opts o = {.extract = extract,
	                          .from_addr = "u@origin.example",
	                          .fullname = "A. User",
	                          .hostname = "host.example",
	                          .max_size = 100000};
	struct buf out;
	struct err e;
	buf_init(&out, 0);
	if (sendmail_rewrite(in, strlen(in), &o, &out, rcpts, &e) < 0)
		fail_msg("rewrite: %s", e.msg);
	char *s = strdup(buf_cstr(&out));
	buf_deinit(&out);
	return s;
}

static void header_fixups(void **state)
{
	(void)state;
	struct strv r;
	strv_init(&r);
	/* Complete headers stay as they are. */
	const char *full = "From: x@y\nDate: Sat, 21 Nov 2026 10:00:00 +0000\n"
	                   "Message-ID: <1@y>\nSubject: s\n\nbody\n";
	char *s = rewrite(full, false, &r);
	assert_string_equal(s, full);
	free(s);
	/* Missing ones are added at the end of the header; the display
	 * name is quoted because it holds a dot. */
	s = rewrite("Subject: s\n\nbody\n", false, &r);
	assert_non_null(strstr(s, "Subject: s\nDate: "));
	assert_non_null(strstr(s, "\nMessage-ID: <"));
	assert_non_null(strstr(s, "@host.example>\n"));
	assert_non_null(strstr(s, "\nFrom: \"A. User\" <u@origin.example>\n\n"
	                          "body\n"));
	free(s);
	/* mbox From_ line dropped; header names are case-insensitive. */
	s = rewrite("From someone Sat Nov 21 10:00:00 2026\nfrom: a@b\n"
	            "DATE: x\nmessage-id: <m@b>\n\nb\n",
	            false, &r);
	assert_string_equal(s, "from: a@b\nDATE: x\nmessage-id: <m@b>\n\nb\n");
	free(s);
	/* No header at all: ours, then a separator, then the text. */
	s = rewrite("just text\n", false, &r);
	assert_non_null(strstr(s, "\n\njust text\n"));
	assert_true(strncmp(s, "Date: ", 6) == 0);
	free(s);
	assert_int_equal(r.n, 0);
	strv_deinit(&r);
}

static void extract_and_bcc(void **state)
{
	(void)state;
	struct strv r;
	strv_init(&r);
	strv_push(&r, "cmdline@x");
	char *s = rewrite("To: A <a@x>,\n b@x\nCc: c@x\nBcc: secret@x,\n"
	                  "\tsecret2@x\nX-To: not@x\nResent-To: no@x\n"
	                  "Subject: s\n\nTo: body@x\n",
	                  true, &r);
	assert_int_equal(r.n, 6);
	assert_string_equal(r.v[0], "cmdline@x");
	assert_string_equal(r.v[1], "a@x");
	assert_string_equal(r.v[2], "b@x");
	assert_string_equal(r.v[3], "c@x");
	assert_string_equal(r.v[4], "secret@x");
	assert_string_equal(r.v[5], "secret2@x");
	assert_null(strstr(s, "secret"));
	assert_non_null(strstr(s, "To: A <a@x>,\n b@x\nCc: c@x\nX-To: not@x"));
	assert_non_null(strstr(s, "\n\nTo: body@x\n"));
	free(s);
	/* Without -t, Bcc is still removed and nothing is extracted. */
	strv_deinit(&r);
	strv_init(&r);
	s = rewrite("Bcc: secret@x\nTo: a@x\n\nb\n", false, &r);
	assert_int_equal(r.n, 0);
	assert_null(strstr(s, "secret"));
	free(s);
	/* A last Bcc: without LF leaves no empty line behind it, which
	 * would end the header before the fields we add (found by
	 * fuzz_sendmail). */
	s = rewrite("To: a@x\nBcc: c@x", false, &r);
	assert_true(strncmp(s, "To: a@x\nDate: ", 14) == 0);
	assert_non_null(strstr(s, "\nFrom: \"A. User\" <u@origin.example>\n"));
	assert_null(strstr(s, "\n\n"));
	free(s);
	strv_deinit(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(addresses),
	        cmocka_unit_test(reading),
	        cmocka_unit_test(header_fixups),
	        cmocka_unit_test(extract_and_bcc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
