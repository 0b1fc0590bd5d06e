/* SPDX-License-Identifier: MIT */
/*
 * test_maildir.c - maildir names: file names with flags and sizes, unique
 * names, folder names to Maildir++ directories and back, CRLF sizes
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/maildir.h"
#include "common/mbox.h"

struct name_case {
	const char *name;
	int rc;
	const char *base;
	bool has_info;
	unsigned flags;
	const char *extra;
	int64_t size, vsize; /* -1: absent */
};

static void name_parse(void **state)
{
	(void)state;
	static const struct name_case cases[] = {
		{"1.M2P3.h,S=10,W=12:2,FS", 0, "1.M2P3.h,S=10,W=12", true,
		 MBOX_F_FLAGGED | MBOX_F_SEEN, "", 10, 12},
		{"1.M2P3.h", 0, "1.M2P3.h", false, 0, "", -1, -1},
		{"1.h:2,", 0, "1.h", true, 0, "", -1, -1},
		{"1.h:2,DFPRST", 0, "1.h", true, MBOX_F_ALL, "", -1, -1},
		{"1.h:2,Sba", 0, "1.h", true, MBOX_F_SEEN, "ab", -1, -1},
		{"1.h:2,SSaa", 0, "1.h", true, MBOX_F_SEEN, "a", -1, -1},
		{"1.h:1,xyz", 0, "1.h:1,xyz", false, 0, "", -1, -1},
		{"a:b:2,T", 0, "a:b", true, MBOX_F_DELETED, "", -1, -1},
		{"1.h,S=abc:2,S", 0, "1.h,S=abc", true, MBOX_F_SEEN, "", -1,
		 -1},
		{"1.h,S=5,W=x", 0, "1.h,S=5,W=x", false, 0, "", 5, -1},
		{"1.h,S=99999999999999999999999", 0, NULL, false, 0, "", -1,
		 -1},
		{":2,S", 0, ":2,S", false, 0, "", -1, -1},
		{".hidden", -1, NULL, false, 0, "", -1, -1},
		{"", -1, NULL, false, 0, "", -1, -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct name_case *c = &cases[i];
		struct maildir_name mn;
		int rc = maildir_name_parse(c->name, strlen(c->name), &mn);
		if (rc != c->rc)
			fail_msg("%s: got %d, want %d", c->name, rc, c->rc);
		if (rc < 0)
			continue;
		const char *base = c->base ? c->base : c->name;
		if (mn.base_len != strlen(base) ||
		    memcmp(mn.base, base, mn.base_len) != 0)
			fail_msg("%s: base %.*s, want %s", c->name,
				 (int)mn.base_len, mn.base, base);
		if (mn.has_info != c->has_info || mn.flags != c->flags ||
		    strcmp(mn.extra, c->extra) != 0)
			fail_msg("%s: info %d flags %x extra %s", c->name,
				 mn.has_info, mn.flags, mn.extra);
		if (mn.has_size != (c->size >= 0) ||
		    (c->size >= 0 && mn.size != (uint64_t)c->size) ||
		    mn.has_vsize != (c->vsize >= 0) ||
		    (c->vsize >= 0 && mn.vsize != (uint64_t)c->vsize))
			fail_msg("%s: sizes wrong", c->name);
	}
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	struct maildir_name mn;
	assert_int_equal(maildir_name_parse(longname, 256, &mn), -1);
	assert_int_equal(maildir_name_parse(longname, 255, &mn), 0);
	assert_int_equal(maildir_name_parse("a/b", 3, &mn), -1);
	assert_int_equal(maildir_name_parse("a\0b", 3, &mn), -1);
}

static void letters_and_build(void **state)
{
	(void)state;
	char l[40], out[300];
	assert_string_equal(maildir_letters(MBOX_F_ALL, "", l, sizeof(l)),
			    "DFPRST");
	assert_string_equal(maildir_letters(MBOX_F_SEEN | MBOX_F_DRAFT, "ab",
					    l, sizeof(l)),
			    "DSab");
	assert_string_equal(maildir_letters(0, NULL, l, sizeof(l)), "");
	assert_string_equal(maildir_letters(MBOX_F_ANSWERED, "Z", l, sizeof(l)),
			    "RZ");
	int n = maildir_name_build(out, sizeof(out), "b,S=1", 5, true,
				   MBOX_F_SEEN | MBOX_F_FLAGGED, "x");
	assert_int_equal(n, 11);
	assert_string_equal(out, "b,S=1:2,FSx");
	assert_int_equal(maildir_name_build(out, sizeof(out), "b", 1, false,
					    MBOX_F_SEEN, ""),
			 1);
	assert_string_equal(out, "b");
	char base[300];
	memset(base, 'x', sizeof(base));
	assert_int_equal(maildir_name_build(out, sizeof(out), base, 254, true,
					    0, ""),
			 -1);
	/* Round trip through the parser. */
	struct maildir_name mn;
	n = maildir_name_build(out, sizeof(out), "q", 1, true, MBOX_F_ALL,
			       "cz");
	assert_true(n > 0);
	assert_int_equal(maildir_name_parse(out, (size_t)n, &mn), 0);
	assert_int_equal(mn.flags, MBOX_F_ALL);
	assert_string_equal(mn.extra, "cz");
}

static void unique_names(void **state)
{
	(void)state;
	char a[256], b[256];
	assert_true(maildir_unique(a, sizeof(a), 1234, 1300) > 0);
	assert_true(maildir_unique(b, sizeof(b), 1234, 1300) > 0);
	assert_string_not_equal(a, b);
	struct maildir_name mn;
	assert_int_equal(maildir_name_parse(a, strlen(a), &mn), 0);
	assert_false(mn.has_info);
	assert_true(mn.has_size && mn.size == 1234);
	assert_true(mn.has_vsize && mn.vsize == 1300);
	assert_null(strchr(a, '/'));
	assert_null(strchr(a, ':'));
	assert_int_equal(maildir_unique(a, 10, 1, 1), -1);
}

struct folder_case {
	const char *name;
	const char *dir; /* NULL: refused */
};

static void folder_dirs(void **state)
{
	(void)state;
	char deep[64], big[300];
	/* "a/a/.../a": 17 levels */
	for (int i = 0; i < 17; i++)
		memcpy(deep + 2 * i, "a/", 2);
	deep[33] = '\0';
	memset(big, 'b', 201);
	big[201] = '\0';
	const struct folder_case cases[] = {
		{"INBOX", ""},	     {"inbox", ""},
		{"Sent", ".Sent"},   {"A/B", ".A.B"},
		{"&AOQ-rger", ".&AOQ-rger"},
		{"INBOX/x", ".INBOX.x"},
		{"", NULL},	     {"A.B", NULL},
		{"A//B", NULL},	     {"/A", NULL},
		{"A/", NULL},	     {"A\tB", NULL},
		{"A\x7f", NULL},     {deep, NULL},
		{big, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[300];
		struct err e = {{0}};
		int n = maildir_folder_dir(cases[i].name, out, sizeof(out), &e);
		if (!cases[i].dir) {
			if (n >= 0)
				fail_msg("%s: accepted as %s", cases[i].name,
					 out);
			assert_true(e.msg[0] != '\0');
			continue;
		}
		if (n < 0 || strcmp(out, cases[i].dir) != 0)
			fail_msg("%s: got %s (%s), want %s", cases[i].name,
				 n < 0 ? "error" : out, e.msg, cases[i].dir);
		if (out[0] == '\0')
			continue;
		char back[300];
		assert_int_equal(maildir_folder_from_dir(out, strlen(out), back,
							 sizeof(back)),
				 (int)strlen(cases[i].name));
		assert_string_equal(back, cases[i].name);
	}
	static const char *const not_folders[] = {".", "..", "..trash.1.2",
						  ".A..B", ".A.", ".INBOX",
						  "A"};
	for (size_t i = 0; i < sizeof(not_folders) / sizeof(not_folders[0]);
	     i++) {
		char back[300];
		if (maildir_folder_from_dir(not_folders[i],
					    strlen(not_folders[i]), back,
					    sizeof(back)) >= 0)
			fail_msg("%s taken for a folder", not_folders[i]);
	}
}

static void crlf_sizes(void **state)
{
	(void)state;
	bool cr = false;
	assert_int_equal(mbox_crlf_size("a\nb\n", 4, &cr), 6);
	cr = false;
	assert_int_equal(mbox_crlf_size("a\r\nb", 4, &cr), 4);
	cr = false;
	assert_int_equal(mbox_crlf_size("\n\n\n", 3, &cr), 6);
	/* Split between CR and LF. */
	cr = false;
	uint64_t n = mbox_crlf_size("a\r", 2, &cr);
	assert_true(cr);
	n += mbox_crlf_size("\nb", 2, &cr);
	assert_int_equal(n, 4);
	assert_false(cr);
	cr = false;
	assert_int_equal(mbox_crlf_size("", 0, &cr), 0);
	/* Byte by byte equals all at once. */
	const char *msg = "H: v\r\n\nbody\nline\r\r\n\n";
	cr = false;
	uint64_t whole = mbox_crlf_size(msg, strlen(msg), &cr);
	uint64_t parts = 0;
	cr = false;
	for (size_t i = 0; i < strlen(msg); i++)
		parts += mbox_crlf_size(msg + i, 1, &cr);
	assert_int_equal(whole, parts);
	assert_int_equal(whole, strlen(msg) + 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(name_parse),
		cmocka_unit_test(letters_and_build),
		cmocka_unit_test(unique_names),
		cmocka_unit_test(folder_dirs),
		cmocka_unit_test(crlf_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
