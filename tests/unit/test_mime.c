/* SPDX-License-Identifier: MIT */
/*
 * test_mime.c - the part tree: ranges, sizes, repairs, limits, sections
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/imap_struct.h"
#include "common/mime.h"
#include "common/mime_codec.h"

#include "imap_grammar.h"
#include "mime_corpus.h"

#define PARSE(msg) mime_parse(msg, sizeof(msg) - 1)

static void expect_range(const struct mime_msg *m, size_t off, size_t len,
                         const char *want, size_t wlen)
{
	if (len != wlen || memcmp(m->data + off, want, wlen) != 0)
		fail_msg("got [%.*s], want [%.*s]", (int)len, m->data + off,
		         (int)wlen, want);
}

#define BODY_IS(m, p, lit)                                                     \
	expect_range((m), (p)->body_off, (p)->body_len, (lit), sizeof(lit) - 1)

static void tree_of_mixed(void **state)
{
	(void)state;
	struct mime_msg *m = PARSE(msg_mixed_crlf);
	const struct mime_part *r = m->root;
	assert_int_equal(m->nparts, 4);
	assert_int_equal(m->flags, 0);
	assert_int_equal(r->kind, MIME_MULTIPART);
	assert_int_equal(r->nchildren, 3);
	assert_int_equal(r->off, 0);
	assert_int_equal(r->hdr_len + r->body_len, sizeof(msg_mixed_crlf) - 1);
	assert_true(mime_part_is(r, "MULTIPART", "mixed"));
	const struct mime_part *p1 = r->children, *p2 = p1->next,
	                       *p3 = p2->next;
	assert_null(p3->next);
	BODY_IS(m, p1, "Gr=C3=BC=C3=9Fe");
	BODY_IS(m, p2, "AAECAwQFBgcICQoLDA0ODw==");
	BODY_IS(m, p3, "\x00\x01\x02\xff\xfe");
	static const char h1[] = "Content-Type: text/plain; charset=utf-8\r\n"
	                         "Content-Transfer-Encoding: quoted-printable"
	                         "\r\n\r\n";
	expect_range(m, p1->off, p1->hdr_len, h1, sizeof(h1) - 1);
	assert_int_equal(p1->depth, 1);
	assert_ptr_equal(p1->parent, r);
	assert_int_equal(p1->body_size, 15);
	assert_int_equal(p1->body_lines, 1);
	assert_memory_equal(p2->encoding.p, "base64", 6);
	assert_memory_equal(p2->disposition.p, "attachment", 10);
	assert_int_equal(p2->ndisp_params, 1);
	assert_null(p3->id.p);
	mime_free(&m);
	assert_null(m);
	mime_free(&m);
}

static void tree_of_nested(void **state)
{
	(void)state;
	struct mime_msg *m = PARSE(msg_nested);
	const struct mime_part *msgp = m->root->children->next;
	assert_int_equal(m->nparts, 7);
	assert_int_equal(msgp->kind, MIME_MESSAGE);
	assert_int_equal(msgp->nchildren, 1);
	const struct mime_part *inner = msgp->children;
	assert_int_equal(inner->off, msgp->body_off);
	assert_int_equal(inner->off + inner->hdr_len + inner->body_len,
	                 msgp->body_off + msgp->body_len);
	assert_int_equal(inner->depth, 2);
	assert_int_equal(inner->kind, MIME_MULTIPART);
	BODY_IS(m, inner->children, "Hall=F6chen");
	BODY_IS(m, inner->children->next, "<b>Hallo</b>");
	assert_int_equal(inner->children->next->depth, 3);
	/* Measures add up: the whole is header plus body. */
	assert_int_equal(mime_msg_size(m),
	                 mime_crlf_size(msg_nested, sizeof(msg_nested) - 1));
	assert_int_equal(msgp->body_size, inner->hdr_size + inner->body_size);
	mime_free(&m);
}

static void repairs_are_flagged(void **state)
{
	(void)state;
	struct mime_msg *m = PARSE(msg_no_close);
	assert_true(m->root->flags & MIME_PF_NO_CLOSE);
	BODY_IS(m, m->root->children, "abc\n");
	mime_free(&m);

	m = PARSE(msg_no_boundary);
	assert_int_equal(m->root->kind, MIME_LEAF);
	assert_true(m->root->flags & MIME_PF_DOWNGRADED);
	assert_true(mime_part_is(m->root, "text", "plain"));
	mime_free(&m);

	m = PARSE(msg_digest);
	const struct mime_part *d1 = m->root->children;
	assert_true(mime_part_is(d1, "message", "rfc822"));
	assert_false(d1->flags & MIME_PF_DEFAULT_TYPE);
	assert_true(mime_part_is(d1->next, "application", "octet-stream"));
	assert_true(d1->next->flags & MIME_PF_DOWNGRADED);
	assert_true(mime_part_is(d1->next->next, "text", "plain"));
	assert_true(d1->next->next->flags & MIME_PF_DEFAULT_TYPE);
	mime_free(&m);

	/* A boundary that never occurs; a header without its empty line. */
	static const char never[] =
	        "Content-Type: multipart/mixed; boundary=x\n"
	        "\n--y\n";
	m = PARSE(never);
	assert_true(m->root->flags & MIME_PF_DOWNGRADED);
	mime_free(&m);
	static const char hdr_only[] = "Subject: no body\nX: y";
	m = PARSE(hdr_only);
	assert_true(m->root->flags & MIME_PF_NO_BLANK);
	assert_int_equal(m->root->hdr_len, sizeof(hdr_only) - 1);
	assert_int_equal(m->root->body_len, 0);
	mime_free(&m);
}

/* Checks BODYSTRUCTURE and BODY of m against the grammar. */
static void grammar_ok(const struct mime_msg *m)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(imap_struct_body(&b, m, IMAP_STRUCT_EXTENDED), 0);
	assert_true(imap_grammar_body(b.data, b.len, true, false));
	buf_reset(&b);
	assert_int_equal(imap_struct_body(&b, m, 0), 0);
	assert_true(imap_grammar_body(b.data, b.len, false, false));
	buf_deinit(&b);
}

static unsigned max_depth(const struct mime_part *p)
{
	unsigned d = p->depth;
	for (const struct mime_part *c = p->children; c; c = c->next) {
		unsigned cd = max_depth(c);
		if (cd > d)
			d = cd;
	}
	return d;
}

static void deep_multipart_nesting(void **state)
{
	(void)state;
	struct buf msg;
	buf_init(&msg, 0);
	for (int i = 0; i < 1000; i++)
		(void)buf_printf(&msg,
		                 "Content-Type: multipart/mixed; boundary=b%d\n"
		                 "\n--b%d\n",
		                 i, i);
	(void)buf_append_str(&msg, "\ninnermost\n");
	for (int i = 999; i >= 0; i--)
		(void)buf_printf(&msg, "--b%d--\n", i);
	struct mime_msg *m = mime_parse(msg.data, msg.len);
	assert_true(max_depth(m->root) < MIME_MAX_DEPTH);
	assert_true(m->nparts <= MIME_MAX_DEPTH);
	assert_true(m->flags & MIME_PF_DOWNGRADED);
	assert_int_equal(mime_msg_size(m), mime_crlf_size(msg.data, msg.len));
	grammar_ok(m);
	mime_free(&m);
	buf_deinit(&msg);
}

static void deep_message_nesting(void **state)
{
	(void)state;
	struct buf msg;
	buf_init(&msg, 0);
	for (int i = 0; i < 1000; i++)
		(void)buf_append_str(&msg, "Content-Type: message/rfc822\n\n");
	(void)buf_append_str(&msg, "Subject: bottom\n\nx\n");
	struct mime_msg *m = mime_parse(msg.data, msg.len);
	const struct mime_part *p = m->root;
	while (p->kind == MIME_MESSAGE)
		p = p->children;
	assert_int_equal(p->depth, MIME_MAX_DEPTH - 1);
	assert_true(mime_part_is(p, "application", "octet-stream"));
	grammar_ok(m);
	mime_free(&m);
	buf_deinit(&msg);
}

static void part_count_limit(void **state)
{
	(void)state;
	struct buf msg;
	buf_init(&msg, 0);
	(void)buf_append_str(&msg, "Content-Type: multipart/mixed; boundary=p\n"
	                           "\n");
	for (int i = 0; i < MIME_MAX_PARTS + 500; i++)
		(void)buf_append_str(&msg, "--p\n\nx\n");
	(void)buf_append_str(&msg, "--p--\n");
	struct mime_msg *m = mime_parse(msg.data, msg.len);
	assert_int_equal(m->nparts, MIME_MAX_PARTS);
	assert_int_equal(m->root->nchildren, MIME_MAX_PARTS - 1);
	assert_true(m->root->flags & MIME_PF_LIMIT);
	grammar_ok(m);
	mime_free(&m);
	buf_deinit(&msg);
}

static void huge_header(void **state)
{
	(void)state;
	struct buf msg;
	buf_init(&msg, 0);
	/* 2 MB of folded Subject, then a 1 MB Content-Type value whose
	 * charset sits past MIME_MAX_FIELD, so only its start is read. */
	(void)buf_append_str(&msg, "Subject: start");
	for (int i = 0; i < 100000; i++)
		(void)buf_append_str(&msg, "\n continued line of text");
	(void)buf_append_str(&msg, "\nContent-Type: text/plain; x=\"");
	for (int i = 0; i < 1 << 20; i++)
		(void)buf_append_char(&msg, 'a');
	(void)buf_append_str(&msg, "\"; charset=utf-8\n\nbody\n");
	struct mime_msg *m = mime_parse(msg.data, msg.len);
	assert_true(mime_part_is(m->root, "text", "plain"));
	assert_int_equal(m->root->nparams, 1);
	assert_int_equal(m->root->params[0].value.len,
	                 MIME_MAX_FIELD - strlen(" text/plain; x=\""));
	BODY_IS(m, m->root, "body\n");
	grammar_ok(m);
	mime_free(&m);
	buf_deinit(&msg);
}

static const struct {
	const char *spec;
	int ok;
	size_t npath;
	enum mime_section_text text;
	size_t used;
} specs[] = {
        {"", 0, 0, MIME_SEC_NONE, 0},
        {"1", 0, 1, MIME_SEC_NONE, 1},
        {"1.2.3", 0, 3, MIME_SEC_NONE, 5},
        {"HEADER", 0, 0, MIME_SEC_HEADER, 6},
        {"text", 0, 0, MIME_SEC_TEXT, 4},
        {"1.MIME", 0, 1, MIME_SEC_MIME, 6},
        {"2.HEADER.FIELDS (From)", 0, 1, MIME_SEC_FIELDS, 15},
        {"HEADER.FIELDS.NOT (X)", 0, 0, MIME_SEC_FIELDS_NOT, 17},
        {"1.2.TEXT", 0, 2, MIME_SEC_TEXT, 8},
        {"MIME", -1, 0, MIME_SEC_NONE, 0},
        {"0", -1, 0, MIME_SEC_NONE, 0},
        {"1.0", -1, 0, MIME_SEC_NONE, 0},
        {"01", -1, 0, MIME_SEC_NONE, 0},
        {"1.", -1, 0, MIME_SEC_NONE, 0},
        {"1.BOGUS", -1, 0, MIME_SEC_NONE, 0},
        {"4294967296", -1, 0, MIME_SEC_NONE, 0},
        {"4294967295", 0, 1, MIME_SEC_NONE, 10},
};

static void section_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct mime_section sec;
		size_t used = 99;
		int r = mime_section_parse(specs[i].spec, strlen(specs[i].spec),
		                           &sec, &used);
		if (r != specs[i].ok)
			fail_msg("[%s]: got %d", specs[i].spec, r);
		if (r < 0)
			continue;
		if (sec.npath != specs[i].npath || sec.text != specs[i].text ||
		    used != specs[i].used)
			fail_msg("[%s]: npath %zu text %d used %zu",
			         specs[i].spec, sec.npath, sec.text, used);
	}
	struct buf deep;
	buf_init(&deep, 0);
	for (int i = 0; i < MIME_SECTION_MAX_PATH + 1; i++)
		(void)buf_append_str(&deep, i ? ".1" : "1");
	struct mime_section sec;
	size_t used;
	assert_int_equal(mime_section_parse(deep.data, deep.len, &sec, &used),
	                 -1);
	buf_deinit(&deep);
}

/* Resolves spec in m; NULL when there is no such section. */
static const char *section_text(const struct mime_msg *m, const char *spec,
                                struct buf *b)
{
	struct mime_section sec;
	size_t used, off, len;
	buf_reset(b);
	assert_int_equal(mime_section_parse(spec, strlen(spec), &sec, &used),
	                 0);
	assert_int_equal(used, strlen(spec));
	if (mime_section_find(m, &sec, &off, &len, NULL) != 1)
		return NULL;
	assert_true(off <= m->len && len <= m->len - off);
	(void)buf_append(b, m->data + off, len);
	return buf_cstr(b);
}

static void sections_of_nested(void **state)
{
	(void)state;
	static const struct {
		const char *spec, *want; /* want NULL: no such section */
	} cases[] = {
	        {"1", "See attached."},
	        {"1.MIME", "Content-Type: text/plain\n\n"},
	        {"2.1", "Hall=F6chen"},
	        {"2.2", "<b>Hallo</b>"},
	        {"2.2.MIME", "Content-Type: text/html; charset=iso-8859-1\n\n"},
	        {"2.MIME", "Content-Type: message/rfc822\n"
	                   "Content-Disposition: inline\n\n"},
	        {"3", "iVBORw0KGgo="},
	        {"2.TEXT", "--inner\nContent-Type: text/plain; charset=iso-"
	                   "8859-1\nContent-Transfer-Encoding: quoted-printable"
	                   "\n\nHall=F6chen\n--inner\nContent-Type: text/html; "
	                   "charset=iso-8859-1\n\n<b>Hallo</b>\n--inner--\n"},
	        {"1.HEADER", NULL}, /* not a message */
	        {"1.1", NULL},
	        {"2.3", NULL},
	        {"2.1.1", NULL},
	        {"4", NULL},
	        {"3.TEXT", NULL},
	};
	struct mime_msg *m = PARSE(msg_nested);
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = section_text(m, cases[i].spec, &b);
		if (!cases[i].want != !got ||
		    (got && strcmp(got, cases[i].want) != 0))
			fail_msg("[%s]: got [%s], want [%s]", cases[i].spec,
			         got ? got : "(none)",
			         cases[i].want ? cases[i].want : "(none)");
	}
	/* 2 is the whole encapsulated message; 2.HEADER its header. */
	const char *whole = section_text(m, "2", &b);
	assert_non_null(whole);
	assert_true(strncmp(whole, "From: =?iso", 11) == 0);
	assert_true(b.len > 20 &&
	            strcmp(whole + b.len - 10, "--inner--\n") == 0);
	const char *hdr = section_text(m, "2.HEADER", &b);
	assert_true(strncmp(hdr, "From: =?iso", 11) == 0);
	assert_string_equal(hdr + b.len - 9, "\"inner\"\n\n");
	const char *all = section_text(m, "", &b);
	assert_int_equal(b.len, sizeof(msg_nested) - 1);
	assert_memory_equal(all, msg_nested, b.len);
	const char *text = section_text(m, "TEXT", &b);
	assert_true(strncmp(text, "--outer\n", 8) == 0);
	const char *top = section_text(m, "HEADER.FIELDS", &b);
	assert_true(strncmp(top, "From: outer", 11) == 0);
	assert_int_equal(b.len, m->root->hdr_len);
	buf_deinit(&b);
	mime_free(&m);
}

static void sections_of_single_part(void **state)
{
	(void)state;
	struct mime_msg *m = PARSE(msg_simple);
	struct buf b;
	buf_init(&b, 0);
	/* A non-multipart message has exactly one part, its body. */
	assert_string_equal(section_text(m, "1", &b),
	                    "Hello Bob,\nthis is plain text.\n");
	assert_string_equal(section_text(m, "TEXT", &b),
	                    "Hello Bob,\nthis is plain text.\n");
	assert_non_null(section_text(m, "1.MIME", &b));
	assert_int_equal(b.len, m->root->hdr_len);
	assert_null(section_text(m, "2", &b));
	assert_null(section_text(m, "1.1", &b));
	assert_null(section_text(m, "1.TEXT", &b));
	const uint32_t path[] = {1};
	assert_ptr_equal(mime_part_find(m, path, 1), m->root);
	buf_deinit(&b);
	mime_free(&m);

	/* A top-level message/rfc822: 1 is the inner message, 1.1 its
	 * body, 1.HEADER its header. */
	static const char fwd[] = "Content-Type: message/rfc822\n"
	                          "\n"
	                          "Subject: in\n"
	                          "\n"
	                          "inner body\n";
	m = PARSE(fwd);
	buf_init(&b, 0);
	assert_string_equal(section_text(m, "1", &b),
	                    "Subject: in\n\ninner body\n");
	assert_string_equal(section_text(m, "1.1", &b), "inner body\n");
	assert_string_equal(section_text(m, "1.HEADER", &b), "Subject: in\n\n");
	assert_string_equal(section_text(m, "1.TEXT", &b), "inner body\n");
	assert_null(section_text(m, "1.2", &b));
	buf_deinit(&b);
	mime_free(&m);
}

static void every_prefix_parses(void **state)
{
	(void)state;
	/* Cut anywhere, a message still gives a tree that covers it and
	 * output that clients can parse. */
	const char *msgs[] = {msg_nested, msg_mixed_crlf, msg_digest};
	const size_t lens[] = {sizeof(msg_nested) - 1,
	                       sizeof(msg_mixed_crlf) - 1,
	                       sizeof(msg_digest) - 1};
	for (size_t k = 0; k < 3; k++)
		for (size_t n = 0; n <= lens[k]; n++) {
			struct mime_msg *m = mime_parse(msgs[k], n);
			assert_int_equal(m->root->hdr_len + m->root->body_len,
			                 n);
			grammar_ok(m);
			mime_free(&m);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(tree_of_mixed),
	        cmocka_unit_test(tree_of_nested),
	        cmocka_unit_test(repairs_are_flagged),
	        cmocka_unit_test(deep_multipart_nesting),
	        cmocka_unit_test(deep_message_nesting),
	        cmocka_unit_test(part_count_limit),
	        cmocka_unit_test(huge_header),
	        cmocka_unit_test(section_parse),
	        cmocka_unit_test(sections_of_nested),
	        cmocka_unit_test(sections_of_single_part),
	        cmocka_unit_test(every_prefix_parses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
