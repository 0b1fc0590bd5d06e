/* SPDX-License-Identifier: MIT */
/*
 * test_imapd_search.c - SEARCH programs: parsing every key, nesting
 * bounds, charsets, and matching flags, sets, dates, sizes, headers
 * (encoded words), bodies (quoted-printable, base64, charsets) and
 * case folding
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/mbox.h"
#include "imapd/imapd_date.h"
#include "imapd/imapd_search.h"

static struct arena *A;

struct tmsg {
	const char *data;
	const char *keywords; /* space-separated */
};

static bool has_kw(void *ctx, const char *kw)
{
	const struct tmsg *t = ctx;
	const char *p = t->keywords;
	size_t n = strlen(kw);
	while (p && *p) {
		size_t w = strcspn(p, " ");
		if (w == n && strncasecmp(p, kw, n) == 0)
			return true;
		p += w;
		while (*p == ' ')
			p++;
	}
	return false;
}

static int content(void *ctx, const char **data, size_t *len)
{
	const struct tmsg *t = ctx;
	if (!t->data)
		return 0;
	*data = t->data;
	*len = strlen(t->data);
	return 1;
}

static const char *const msgs[] = {
        /* 1 */
        "From: Alice Example <alice@example.org>\r\n"
        "To: bob@example.net\r\n"
        "Subject: Quarterly report\r\n"
        "Date: Tue, 02 Jan 2024 10:00:00 +0100\r\n"
        "X-Tag: red\r\n"
        "\r\n"
        "Numbers are UP this quarter.\r\n",
        /* 2: encoded words, quoted-printable Latin-1 body */
        "From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <jm@example.de>\n"
        "To: team@example.de\n"
        "Cc: carol@example.com\n"
        "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\n"
        "Date: 5 Mar 2024 08:00 -0500\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "Sch=F6ne Gr=FC=DFe und STRA=DFE\n",
        /* 3: multipart with a base64 UTF-8 part and a binary attachment */
        "From: dave@example.com\n"
        "Subject: files\n"
        "Content-Type: multipart/mixed; boundary=XX\n"
        "\n"
        "--XX\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "0J/RgNC40LLQtdGCINC80LjRgCE=\n"
        "--XX\n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "c2VjcmV0bmVlZGxl\n"
        "--XX\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "From: inner@example.com\n"
        "Subject: inner subject\n"
        "\n"
        "inner body text\n"
        "--XX--\n",
        /* 4: no content available (expunged meanwhile) */
        NULL,
};

static struct tmsg tm[4] = {
        {NULL, "$Important work"},
        {NULL, ""},
        {NULL, "work"},
        {NULL, ""},
};

static void fill(struct imapd_search_msg *m, size_t i)
{
	static const unsigned flags[] = {MBOX_F_SEEN | MBOX_F_ANSWERED, 0,
	                                 MBOX_F_FLAGGED | MBOX_F_DELETED,
	                                 MBOX_F_DRAFT};
	static const uint64_t sizes[] = {1000, 2500, 40000, 10};
	memset(m, 0, sizeof(*m));
	tm[i].data = msgs[i];
	m->seq = (uint32_t)i + 1;
	m->uid = (uint32_t)(i + 1) * 10;
	m->flags = flags[i];
	m->recent = i >= 2;
	/* internal dates: 2024-01-01 .. 2024-01-04 12:00 UTC */
	m->idate =
	        imapd_days_from_civil(2024, 1, (unsigned)i + 1) * 86400 + 43200;
	m->size = sizes[i];
	m->modseq = 100 + i;
	m->has_keyword = has_kw;
	m->content = content;
	m->ctx = &tm[i];
}

/* Runs a program over the four messages: "1 3" etc, or "ERR", or
 * "BADCHARSET". */
static void run(const char *prog, struct buf *out)
{
	struct imapd_args a;
	struct imapd_snode *root;
	imapd_args_init(&a, prog, strlen(prog), A, 6);
	int rc = imapd_search_parse(&a, &root);
	if (rc == 0) {
		buf_append_str(out, "BADCHARSET");
		return;
	}
	if (rc < 0 || !imapd_args_end(&a)) {
		buf_append_str(out, "ERR");
		return;
	}
	imapd_search_prepare(root, 4, 40, A);
	for (size_t i = 0; i < 4; i++) {
		struct imapd_search_msg m;
		fill(&m, i);
		int r = imapd_search_match(root, &m);
		if (r == 1)
			buf_printf(out, "%s%zu", out->len ? " " : "", i + 1);
		if (r < 0)
			buf_printf(out, "%s!%zu", out->len ? " " : "", i + 1);
		imapd_search_msg_release(&m);
	}
}

static void programs(void **state)
{
	(void)state;
	static const struct {
		const char *prog, *want;
	} cases[] = {
	        {"ALL", "1 2 3 4"},
	        {"SEEN", "1"},
	        {"UNSEEN", "2 3 4"},
	        {"ANSWERED", "1"},
	        {"UNANSWERED DELETED", "3"},
	        {"UNDELETED", "1 2 4"},
	        {"DRAFT", "4"},
	        {"UNDRAFT FLAGGED", "3"},
	        {"UNFLAGGED", "1 2 4"},
	        {"RECENT", "3 4"},
	        {"NEW", "3 4"},
	        {"OLD", "1 2"},
	        {"KEYWORD work", "1 3"},
	        {"KEYWORD $important", "1"},
	        {"UNKEYWORD work", "2 4"},
	        {"1,3:*", "1 3 4"},
	        {"*", "4"},
	        {"UID 20:30", "2 3"},
	        {"UID *", "4"},
	        {"LARGER 1000", "2 3"},
	        {"SMALLER 1000", "4"},
	        {"BEFORE 2-Jan-2024", "1"},
	        {"ON 2-Jan-2024", "2"},
	        {"SINCE 3-Jan-2024", "3 4"},
	        {"SINCE \"3-Jan-2024\"", "3 4"},
	        {"MODSEQ 102", "3 4"},
	        {"NOT SEEN", "2 3 4"},
	        {"OR SEEN DRAFT", "1 4"},
	        {"OR (SEEN ANSWERED) (FLAGGED RECENT)", "1 3"},
	        {"NOT (OR 1 2)", "3 4"},
	        {"(1:2) (2:3)", "2"},
	        /* Content keys: decoded, case-insensitive; message 4 has no
	         * content left (reported, not matched). */
	        {"SUBJECT report", "1 !4"},
	        {"SUBJECT REPORT", "1 !4"},
	        {"SUBJECT \"gr\xc3\x9c\xc3\x9f\"", "2 !4"},
	        {"SUBJECT \"m\xc3\xbcnchen\"", "2 !4"},
	        {"SUBJECT m\xc3\xbcnchen", "ERR"}, /* 8-bit atom */
	        {"FROM \"m\xc3\x9cller\"", "2 !4"},
	        {"FROM alice@EXAMPLE.org", "1 !4"},
	        {"TO bob", "1 !4"},
	        {"CC carol", "2 !4"},
	        {"BCC x", "!4"},
	        {"HEADER X-Tag \"\"", "1 !4"},
	        {"HEADER x-tag RED", "1 !4"},
	        {"HEADER X-Other \"\"", "!4"},
	        {"BODY \"sch\xc3\xb6ne gr\xc3\xbc\xc3\x9f\"", "2 !4"},
	        {"BODY \"stra\xc3\x9f"
	         "e\"",
	         "2 !4"},
	        {"BODY up", "1 !4"},
	        {"BODY \"\xd0\xbf\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2\"",
	         "3 !4"},
	        {"BODY secretneedle", "!4"},
	        {"BODY \"inner body\"", "3 !4"},
	        {"BODY \"inner subject\"", "3 !4"},
	        {"BODY quarterly", "!4"},
	        {"TEXT quarterly", "1 !4"},
	        {"TEXT numbers", "1 !4"},
	        {"SENTBEFORE 3-Jan-2024", "1 !4"},
	        {"SENTON 5-Mar-2024", "2 !4"},
	        {"SENTSINCE 1-Feb-2024", "2 !4"},
	        /* A cheap key first spares the content: no "!4". */
	        {"SUBJECT report SEEN", "1"},
	        {"UNDRAFT SUBJECT report", "1"},
	        {"CHARSET UTF-8 SUBJECT report", "1 !4"},
	        {"CHARSET us-ascii ALL", "1 2 3 4"},
	        {"CHARSET KOI8-R ALL", "BADCHARSET"},
	        {"BOGUS", "ERR"},
	        {"SUBJECT", "ERR"},
	        {"BEFORE 32-Jan-2024", "ERR"},
	        {"OR SEEN", "ERR"},
	        {"NOT", "ERR"},
	        {"(SEEN", "ERR"},
	        {"((((((((ALL))))))))", "ERR"},
	        {"NOT NOT NOT NOT NOT NOT NOT ALL", "ERR"},
	        {"NOT NOT NOT NOT ALL", "1 2 3 4"},
	        {"LARGER x", "ERR"},
	        {"", "ERR"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;
		buf_init(&out, 0);
		run(cases[i].prog, &out);
		if (strcmp(buf_cstr(&out), cases[i].want) != 0)
			fail_msg("case %zu (%s): got \"%s\", want \"%s\"", i,
			         cases[i].prog, buf_cstr(&out), cases[i].want);
		buf_deinit(&out);
		arena_reset(A);
	}
}

static void folding(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"ABCxyz", "abcxyz"},
	        {"\xc3\x84\xc3\x96\xc3\x9c\xc3\x97",
	         "\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x97"},
	        {"\xc4\x80\xc5\x81\xc5\xb8", "\xc4\x81\xc5\x82\xc3\xbf"},
	        {"\xce\x91\xce\xa9", "\xce\xb1\xcf\x89"},
	        {"\xd0\x90\xd0\xaf\xd0\x81", "\xd0\xb0\xd1\x8f\xd1\x91"},
	        {"\xff\xc3", "\xff\xc3"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b, 0);
		assert_int_equal(
		        imapd_fold(cases[i].in, strlen(cases[i].in), &b), 0);
		if (strcmp(buf_cstr(&b), cases[i].want) != 0)
			fail_msg("case %zu: wrong fold", i);
		buf_deinit(&b);
	}
}

static int setup(void **state)
{
	(void)state;
	A = arena_new();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_free(&A);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(programs),
	        cmocka_unit_test(folding),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
