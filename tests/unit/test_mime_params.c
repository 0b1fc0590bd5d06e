/* SPDX-License-Identifier: MIT */
/*
 * test_mime_params.c - Content-Type/-Disposition values, RFC 2231 merging
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/mime_params.h"

/* "token" then " name=value" per parameter, name* when extended. */
static void show(struct buf *b, const struct mime_field *f)
{
	(void)buf_append(b, f->token.p, f->token.len);
	for (size_t i = 0; i < f->nparams; i++) {
		(void)buf_append_char(b, ' ');
		(void)buf_append(b, f->params[i].name.p, f->params[i].name.len);
		if (f->params[i].extended)
			(void)buf_append_char(b, '*');
		(void)buf_append_char(b, '=');
		(void)buf_append(b, f->params[i].value.p,
		                 f->params[i].value.len);
	}
}

static const struct {
	const char *in, *want;
} cases[] = {
        {"text/plain", "text/plain"},
        {"text/plain; charset=us-ascii", "text/plain charset=us-ascii"},
        /* RFC 2045 5.1 example: a comment after the value. */
        {"text/plain; charset=us-ascii (Plain text)",
         "text/plain charset=us-ascii"},
        {" TEXT / HTML ;CHARSET = \"UTF-8\" ", "TEXT/HTML CHARSET=UTF-8"},
        {"multipart/mixed; boundary=\"foo\r\n bar\"",
         "multipart/mixed boundary=foo bar"},
        {"a/b; q=\"x\\\"y\\\\z\"", "a/b q=x\"y\\z"},
        {"a/b; name=my file.pdf; x=1", "a/b name=my file.pdf x=1"},
        {"a/b;;; junk; =novalue; n=\"unterminated", "a/b n=unterminated"},
        {"a/b; x=1; X=2", "a/b x=1"}, /* first of a repeated name */
        {"(comment) attachment (c2); filename=a.txt",
         "attachment filename=a.txt"},
        {"", ""},
        /* RFC 2231 3: continuations. */
        {"message/external-body; access-type=URL;\r\n"
         " URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/"
         "bulk-mailer.tar\"",
         "message/external-body access-type=URL "
         "URL=ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"},
        /* RFC 2231 4: charset and language. */
        {"application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2A"
         "fun%2A%2A%2A",
         "application/x-stuff title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun"
         "%2A%2A%2A"},
        /* RFC 2231 4.1: both, out of order, a plain section encoded. */
        {"a/b; title*2=\"isn't it!\"; title*1*=%2A%2A%2Afun%2A%2A%2A%20; "
         "title*0*=us-ascii'en'This%20is%20even%20more%20",
         "a/b title*=us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A"
         "%2A%20isn%27t%20it!"},
        {"a/b; n*0=\"plain \"; n*1*=%41", "a/b n*=''plain%20%41"},
        {"a/b; filename=\"a.pdf\"; filename*=utf-8''%E2%82%AC.pdf",
         "a/b filename=a.pdf filename*=utf-8''%E2%82%AC.pdf"},
        {"a/b; n*x=1; n*99999=2", "a/b n=1"},
};

static void parse_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct arena *a = arena_new();
		struct mime_field f;
		struct buf b;
		buf_init(&b, 0);
		mime_field_parse(a, cases[i].in, strlen(cases[i].in), &f);
		show(&b, &f);
		if (strcmp(buf_cstr(&b), cases[i].want) != 0)
			fail_msg("case %zu: got [%s], want [%s]", i,
			         buf_cstr(&b), cases[i].want);
		buf_deinit(&b);
		arena_free(&a);
	}
}

static void ctype_split(void **state)
{
	(void)state;
	static const struct {
		const char *tok;
		bool ok;
	} tokens[] = {
	        {"text/plain", true},   {"a/b", true},       {"text", false},
	        {"/plain", false},      {"text/", false},    {"te xt/p", false},
	        {"text/pl/ain", false}, {"x-a.b/c+d", true}, {"t\xe9/p", false},
	};
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		struct rfc822_str tok = {tokens[i].tok, strlen(tokens[i].tok)};
		struct rfc822_str t, s;
		if (mime_ctype_split(&tok, &t, &s) != tokens[i].ok)
			fail_msg("case %zu [%s]", i, tokens[i].tok);
	}
	struct rfc822_str none = {NULL, 0}, t, s;
	assert_false(mime_ctype_split(&none, &t, &s));
}

static void display_values(void **state)
{
	(void)state;
	struct arena *a = arena_new();
	struct mime_field f;
	struct buf b;
	buf_init(&b, 0);
	const char *v = "attachment; filename=\"fallback.pdf\";\r\n"
	                " filename*0*=utf-8''%E2%82%AC%20;\r\n"
	                " filename*1=rates.pdf; name=\"=?utf-8?q?J=C3=BC?=\"";
	mime_field_parse(a, v, strlen(v), &f);
	assert_int_equal(mime_param_value_utf8(&f, "FILENAME", &b), 1);
	assert_string_equal(buf_cstr(&b), "\xe2\x82\xac rates.pdf");
	buf_reset(&b);
	assert_int_equal(mime_param_value_utf8(&f, "name", &b), 1);
	assert_string_equal(buf_cstr(&b), "J\xc3\xbc");
	assert_int_equal(mime_param_value_utf8(&f, "size", &b), 0);
	assert_non_null(mime_param_find(&f, "filename", false));
	assert_null(mime_param_find(&f, "name", true));
	buf_deinit(&b);
	arena_free(&a);
}

static void bounded(void **state)
{
	(void)state;
	struct buf in;
	buf_init(&in, 0);
	(void)buf_append_str(&in, "a/b");
	for (int i = 0; i < 1000; i++)
		(void)buf_printf(&in, "; p%d*%d=v", i % 3, i);
	struct arena *a = arena_new();
	struct mime_field f;
	mime_field_parse(a, in.data, in.len, &f);
	assert_true(f.nparams <= MIME_MAX_PARAMS);
	assert_int_equal(f.nparams, 3);
	arena_free(&a);
	buf_deinit(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(parse_cases),
	        cmocka_unit_test(ctype_split),
	        cmocka_unit_test(display_values),
	        cmocka_unit_test(bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
