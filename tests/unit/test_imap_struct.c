/* SPDX-License-Identifier: MIT */
/*
 * test_imap_struct.c - ENVELOPE, BODYSTRUCTURE, BODY and the cache blob
 *
 * Expected strings were checked field by field against RFC 3501 section 9
 * and the sizes recounted from the corpus bytes (CRLF-normalised); every
 * output is also run through the independent grammar checker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/imap_struct.h"

#include "imap_grammar.h"
#include "mime_corpus.h"

struct golden {
	const char *name;
	const char *msg;
	size_t len;
	size_t size; /* RFC822.SIZE */
	const char *envelope, *bodystructure, *body;
};

#define MSG(m) #m, m, sizeof(m) - 1

static const struct golden goldens[] = {
        {MSG(msg_simple), 425,
         "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" "
         "\"=?utf-8?q?Gr=C3=BC=C3=9Fe?= from Alice\" "
         "((\"Alice Q. Example\" NIL \"alice\" \"example.org\")) "
         "((NIL NIL \"alice-list\" \"example.org\")) "
         "((\"Alice Q. Example\" NIL \"alice\" \"example.org\")) "
         "((\"Bob\" NIL \"bob\" \"example.net\")"
         "(NIL NIL \"carol\" \"example.com\")) "
         "((NIL NIL \"friends\" NIL)(NIL NIL \"dave\" \"example.com\")"
         "(\"Eve E.\" NIL \"eve\" \"example.com\")(NIL NIL NIL NIL)) "
         "NIL \"<1234@local.example>\" \"<B27397-0100000@example.org>\")",
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 33 2 "
         "NIL NIL NIL NIL)",
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 33 "
         "2)"},
        {MSG(msg_mixed_crlf), 544,
         "(NIL \"mixed\" ((NIL NIL \"a\" \"example.org\")) "
         "((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) "
         "((NIL NIL \"b\" \"example.org\")) NIL NIL NIL NIL)",
         "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL "
         "\"QUOTED-PRINTABLE\" 15 1 NIL NIL NIL NIL)"
         "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 24 NIL "
         "(\"ATTACHMENT\" (\"FILENAME\" \"data.bin\")) NIL NIL)"
         "(\"APPLICATION\" \"X-RAW\" NIL NIL NIL \"BINARY\" 5 NIL NIL NIL NIL) "
         "\"MIXED\" (\"BOUNDARY\" \"=_b1\") NIL NIL NIL)",
         "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL "
         "\"QUOTED-PRINTABLE\" 15 1)"
         "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 24)"
         "(\"APPLICATION\" \"X-RAW\" NIL NIL NIL \"BINARY\" 5) \"MIXED\")"},
        {MSG(msg_alternative), 626,
         "(\"Tue, 1 Oct 2024 10:00:00 +0000\" \"Offer\" "
         "((\"Shop\" NIL \"shop\" \"example.com\")) "
         "((\"Shop\" NIL \"shop\" \"example.com\")) "
         "((\"Shop\" NIL \"shop\" \"example.com\")) "
         "((NIL NIL \"you\" \"example.net\")) NIL NIL NIL "
         "\"<alt-1@example.com>\")",
         "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 13 "
         "1 "
         "NIL NIL \"en\" NIL)"
         "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") \"<html@example.com>\" "
         "\"HTML version\" \"8BIT\" 28 2 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" NIL "
         "(\"en\" \"de\") \"http://example.com/offer.html\") "
         "\"ALTERNATIVE\" (\"BOUNDARY\" \"alt-boundary\") NIL NIL NIL)",
         "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 13 "
         "1)"
         "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") \"<html@example.com>\" "
         "\"HTML version\" \"8BIT\" 28 2) \"ALTERNATIVE\")"},
        {MSG(msg_nested), 839,
         "(NIL \"Fwd: hello\" ((NIL NIL \"outer\" \"example.org\")) "
         "((NIL NIL \"outer\" \"example.org\")) "
         "((NIL NIL \"outer\" \"example.org\")) "
         "((NIL NIL \"inner\" \"example.org\")) NIL NIL NIL NIL)",
         "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 "
         "1 "
         "NIL NIL NIL NIL)"
         "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 387 "
         "(\"Wed, 2 Oct 2024 08:00:00 +0200\" \"hello\" "
         "((\"=?iso-8859-1?q?J=F6rg?=\" NIL \"joerg\" \"example.de\")) "
         "((\"=?iso-8859-1?q?J=F6rg?=\" NIL \"joerg\" \"example.de\")) "
         "((\"=?iso-8859-1?q?J=F6rg?=\" NIL \"joerg\" \"example.de\")) "
         "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
         "NIL NIL NIL NIL) "
         "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"iso-8859-1\") NIL NIL "
         "\"QUOTED-PRINTABLE\" 11 1 NIL NIL NIL NIL)"
         "(\"TEXT\" \"HTML\" (\"CHARSET\" \"iso-8859-1\") NIL NIL \"7BIT\" 12 "
         "1 "
         "NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"inner\") NIL NIL "
         "NIL) 16 NIL (\"INLINE\" NIL) NIL NIL)"
         "(\"IMAGE\" \"PNG\" (\"NAME*\" \"utf-8''%E2%82%AC.png\") NIL NIL "
         "\"BASE64\" 12 NIL (\"ATTACHMENT\" (\"FILENAME*\" "
         "\"utf-8''%E2%82%AC.png\")) NIL NIL) "
         "\"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL)",
         "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 "
         "1)"
         "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 387 "
         "(\"Wed, 2 Oct 2024 08:00:00 +0200\" \"hello\" "
         "((\"=?iso-8859-1?q?J=F6rg?=\" NIL \"joerg\" \"example.de\")) "
         "((\"=?iso-8859-1?q?J=F6rg?=\" NIL \"joerg\" \"example.de\")) "
         "((\"=?iso-8859-1?q?J=F6rg?=\" NIL \"joerg\" \"example.de\")) "
         "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
         "NIL NIL NIL NIL) "
         "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"iso-8859-1\") NIL NIL "
         "\"QUOTED-PRINTABLE\" 11 1)"
         "(\"TEXT\" \"HTML\" (\"CHARSET\" \"iso-8859-1\") NIL NIL \"7BIT\" 12 "
         "1) "
         "\"ALTERNATIVE\") 16)"
         "(\"IMAGE\" \"PNG\" (\"NAME*\" \"utf-8''%E2%82%AC.png\") NIL NIL "
         "\"BASE64\" 12) \"MIXED\")"},
        {MSG(msg_8bit_header), 88,
         /* 8-bit, quotes and NUL force literals; NUL is sent as 0x80. */
         "(NIL {25}\r\ncaf\xc3\xa9 \"quoted\" back\\slash "
         "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"example.de\")) "
         "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"example.de\")) "
         "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"example.de\")) "
         "NIL NIL NIL NIL {7}\r\n<a\x80"
         "b@x>)",
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1 "
         "NIL NIL NIL NIL)",
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 "
         "1)"},
        {MSG(msg_no_close), 83, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
         "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1 "
         "NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)",
         "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 "
         "1) "
         "\"MIXED\")"},
        {MSG(msg_no_boundary), 44, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 1 "
         "NIL NIL NIL NIL)",
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 "
         "1)"},
        {MSG(msg_prefix_boundary), 148,
         "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
         "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 "
         "1 "
         "NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"abcdef\") NIL NIL "
         "NIL) \"MIXED\" (\"BOUNDARY\" \"abc\") NIL NIL NIL)",
         "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 "
         "1) "
         "\"ALTERNATIVE\") \"MIXED\")"},
        {MSG(msg_digest), 214, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
         "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 21 "
         "(NIL \"first\" NIL NIL NIL NIL NIL NIL NIL NIL) "
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 "
         "NIL NIL NIL NIL) 3 NIL NIL NIL NIL)"
         "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 20 NIL NIL "
         "NIL NIL)"
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 1 "
         "NIL NIL NIL NIL) \"DIGEST\" (\"BOUNDARY\" \"d\") NIL NIL NIL)",
         "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 21 "
         "(NIL \"first\" NIL NIL NIL NIL NIL NIL NIL NIL) "
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1) "
         "3)(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 20)"
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 1) "
         "\"DIGEST\")"},
        {"empty", "", 0, 0, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 "
         "NIL NIL NIL NIL)",
         "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 "
         "0)"},
};

static void expect_str(const char *what, const char *name, const struct buf *b,
                       const char *want)
{
	size_t wl = strlen(want);
	if (b->len != wl || memcmp(buf_cstr(b), want, wl) != 0)
		fail_msg("%s %s:\n got  %s\n want %s", name, what, buf_cstr(b),
		         want);
}

static void golden_strings(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		struct mime_msg *m = mime_parse(g->msg, g->len);
		struct buf b;
		buf_init(&b, 0);
		if (mime_msg_size(m) != g->size)
			fail_msg("%s: size %zu, want %zu", g->name,
			         mime_msg_size(m), g->size);
		assert_int_equal(
		        imap_struct_envelope(&b, g->msg, m->root->hdr_len), 0);
		expect_str("ENVELOPE", g->name, &b, g->envelope);
		assert_true(imap_grammar_envelope(b.data, b.len));
		buf_reset(&b);
		assert_int_equal(imap_struct_body(&b, m, IMAP_STRUCT_EXTENDED),
		                 0);
		expect_str("BODYSTRUCTURE", g->name, &b, g->bodystructure);
		assert_true(imap_grammar_body(b.data, b.len, true, false));
		buf_reset(&b);
		assert_int_equal(imap_struct_body(&b, m, 0), 0);
		expect_str("BODY", g->name, &b, g->body);
		assert_true(imap_grammar_body(b.data, b.len, false, false));
		buf_deinit(&b);
		mime_free(&m);
	}
}

/* Stored with CRLF or with LF, a message is described identically. */
static void crlf_and_lf_agree(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		struct buf crlf, b;
		buf_init(&crlf, 0);
		buf_init(&b, 0);
		for (size_t k = 0; k < g->len; k++) {
			if (g->msg[k] == '\n' &&
			    (k == 0 || g->msg[k - 1] != '\r'))
				(void)buf_append_char(&crlf, '\r');
			(void)buf_append_char(&crlf, g->msg[k]);
		}
		struct mime_msg *m = mime_parse(crlf.data, crlf.len);
		assert_int_equal(mime_msg_size(m), g->size);
		assert_int_equal(mime_msg_size(m), crlf.len);
		assert_int_equal(imap_struct_body(&b, m, IMAP_STRUCT_EXTENDED),
		                 0);
		expect_str("BODYSTRUCTURE (CRLF)", g->name, &b,
		           g->bodystructure);
		mime_free(&m);
		buf_deinit(&b);
		buf_deinit(&crlf);
	}
}

static void nstring_forms(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
	        {NULL, 0, "NIL"},
	        {"", 0, "\"\""},
	        {"plain", 5, "\"plain\""},
	        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
	        {"tab\there", 8, "\"tab\there\""},
	        {"line\r\nbreak", 11, "{11}\r\nline\r\nbreak"},
	        {"caf\xc3\xa9", 5, "{5}\r\ncaf\xc3\xa9"},
	        {"n\0l", 3, "{3}\r\nn\x80l"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b, 0);
		struct rfc822_str s = {cases[i].in, cases[i].len};
		assert_int_equal(imap_struct_nstring(&b, &s), 0);
		expect_str("nstring", "case", &b, cases[i].want);
		buf_deinit(&b);
	}
}

static void message_global(void **state)
{
	(void)state;
	static const char msg[] = "Content-Type: message/global\n"
	                          "\n"
	                          "Subject: \xc3\xbc\n"
	                          "\n"
	                          "x\n";
	struct mime_msg *m = mime_parse(msg, sizeof(msg) - 1);
	struct buf b;
	buf_init(&b, 0);
	/* IMAP4rev1 has no message/global: a basic part, no line count. */
	assert_int_equal(imap_struct_body(&b, m, IMAP_STRUCT_EXTENDED), 0);
	expect_str(
	        "rev1", "global", &b,
	        "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 18 NIL NIL NIL "
	        "NIL)");
	assert_true(imap_grammar_body(b.data, b.len, true, false));
	buf_reset(&b);
	assert_int_equal(imap_struct_body(&b, m, IMAP_STRUCT_GLOBAL), 0);
	expect_str("rev2", "global", &b,
	           "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 18 "
	           "(NIL {2}\r\n\xc3\xbc NIL NIL NIL NIL NIL NIL NIL NIL) "
	           "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	           "\"7BIT\" 3 1) 3)");
	assert_true(imap_grammar_body(b.data, b.len, false, true));
	buf_deinit(&b);
	mime_free(&m);
}

static void output_bounded_by_buf_max(void **state)
{
	(void)state;
	struct mime_msg *m = mime_parse(msg_nested, sizeof(msg_nested) - 1);
	for (size_t max = 1; max < 1200; max += 37) {
		struct buf b;
		buf_init(&b, max);
		int r = imap_struct_body(&b, m, IMAP_STRUCT_EXTENDED);
		assert_true(b.len <= max);
		if (r == 0)
			assert_true(
			        imap_grammar_body(b.data, b.len, true, false));
		buf_reset(&b);
		(void)imap_struct_envelope(&b, m->data, m->root->hdr_len);
		assert_true(b.len <= max);
		buf_reset(&b);
		(void)imap_struct_cache_build(&b, m);
		assert_true(b.len <= max);
		buf_deinit(&b);
	}
	mime_free(&m);
}

static void cache_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		struct mime_msg *m = mime_parse(g->msg, g->len);
		struct buf blob;
		struct imap_struct_cache c;
		buf_init(&blob, 0);
		assert_int_equal(imap_struct_cache_build(&blob, m), 0);
		assert_int_equal(
		        imap_struct_cache_parse(blob.data, blob.len, &c), 0);
		assert_int_equal(c.size, g->size);
		assert_int_equal(c.lines, m->root->body_lines);
		assert_int_equal(c.envelope_len, strlen(g->envelope));
		assert_memory_equal(c.envelope, g->envelope, c.envelope_len);
		assert_int_equal(c.bodystructure_len, strlen(g->bodystructure));
		assert_memory_equal(c.bodystructure, g->bodystructure,
		                    c.bodystructure_len);
		assert_int_equal(c.body_len, strlen(g->body));
		assert_memory_equal(c.body, g->body, c.body_len);
		/* Every truncation and any trailing byte is rejected. */
		for (size_t n = 0; n < blob.len; n++)
			assert_int_equal(
			        imap_struct_cache_parse(blob.data, n, &c), -1);
		(void)buf_append_char(&blob, 0);
		assert_int_equal(
		        imap_struct_cache_parse(blob.data, blob.len, &c), -1);
		buf_deinit(&blob);
		mime_free(&m);
	}
}

static void cache_rejects_bad_blobs(void **state)
{
	(void)state;
	struct mime_msg *m = mime_parse(msg_simple, sizeof(msg_simple) - 1);
	struct buf blob;
	struct imap_struct_cache c;
	buf_init(&blob, 0);
	assert_int_equal(imap_struct_cache_build(&blob, m), 0);
	/* Header: "PHS", version 1, size 425 = 0x1a9, two body lines. */
	assert_memory_equal(blob.data, "PHS\x01\0\0\0\0\0\0\x01\xa9", 12);
	blob.data[3] = 2; /* a version from the future: a miss */
	assert_int_equal(imap_struct_cache_parse(blob.data, blob.len, &c), -1);
	blob.data[3] = 1;
	blob.data[0] = 'X';
	assert_int_equal(imap_struct_cache_parse(blob.data, blob.len, &c), -1);
	blob.data[0] = 'P';
	blob.data[20] = (char)0xff; /* envelope length past the end */
	assert_int_equal(imap_struct_cache_parse(blob.data, blob.len, &c), -1);
	assert_int_equal(imap_struct_cache_parse(NULL, 0, &c), -1);
	buf_deinit(&blob);
	mime_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(golden_strings),
	        cmocka_unit_test(crlf_and_lf_agree),
	        cmocka_unit_test(nstring_forms),
	        cmocka_unit_test(message_global),
	        cmocka_unit_test(output_bounded_by_buf_max),
	        cmocka_unit_test(cache_round_trip),
	        cmocka_unit_test(cache_rejects_bad_blobs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
