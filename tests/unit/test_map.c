/* SPDX-License-Identifier: MIT */
/*
 * test_map.c - lookup tables: lmdb builds from postmap and aliases text,
 * inline, static, unix, case folding, errors with file:line, rebuilds seen
 * by an open table, map lists, spec splitting, alias_split
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/db.h"
#include "common/log.h"
#include "common/map.h"
#include "common/xalloc.h"
#include "unit_tmpdir.h"

struct fx {
	char dir[64];
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	if (unit_tmpdir_make(f->dir, sizeof(f->dir), "test_map") < 0)
		return -1;
	map_set_recheck_interval(1000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	unit_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Writes len bytes of text to dir/name; returns the path (caller frees). */
static char *write_filen(struct fx *f, const char *name, const char *text,
                         size_t len)
{
	char *path = xasprintf("%s/%s", f->dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return path;
}

static char *write_file(struct fx *f, const char *name, const char *text)
{
	return write_filen(f, name, text, strlen(text));
}

static void build_ok(const char *path, enum map_format fmt)
{
	struct err e = {{0}};
	if (map_build(path, fmt, &e) != 0)
		fail_msg("map_build %s: %s", path, e.msg);
}

static struct map *open_ok(const char *spec)
{
	struct err e = {{0}};
	struct map *m = map_open(spec, &e);
	if (!m)
		fail_msg("map_open %s: %s", spec, e.msg);
	return m;
}

/* Opens "lmdb:path". */
static struct map *open_lmdb(const char *path)
{
	char *spec = xasprintf("lmdb:%s", path);
	struct map *m = open_ok(spec);
	free(spec);
	return m;
}

/* Looks key up in m and compares with want (NULL: not found). */
static void expect(struct map *m, const char *key, const char *want)
{
	struct err e = {{0}};
	char *got = (char *)1;
	int r = map_lookup(m, key, &got, &e);
	if (r < 0)
		fail_msg("%s: lookup %s: %s", map_spec(m), key, e.msg);
	if (r == 0) {
		assert_null(got);
		if (want)
			fail_msg("%s: %s: got nothing, want \"%s\"",
			         map_spec(m), key, want);
		return;
	}
	if (!want || strcmp(got, want) != 0)
		fail_msg("%s: %s: got \"%s\", want %s%s%s", map_spec(m), key,
		         got, want ? "\"" : "", want ? want : "nothing",
		         want ? "\"" : "");
	free(got);
}

static void kv_build_and_fold(void **state)
{
	struct fx *f = *state;
	char *path = write_file(f, "virtual",
	                        "# a comment\n"
	                        "User@Example.COM   smtp:[relay.example]:25\n"
	                        "\n"
	                        "   # an indented comment\n"
	                        "example.net\tOK\n"
	                        "multi  one\n"
	                        "   two\n"
	                        "\tthree   \n"
	                        "crlf value\r\n"
	                        "dup first\n"
	                        "DUP second\n"
	                        "last no-newline");
	build_ok(path, MAP_FORMAT_KV);
	struct map *m = open_lmdb(path);
	expect(m, "user@example.com", "smtp:[relay.example]:25");
	expect(m, "USER@EXAMPLE.COM", "smtp:[relay.example]:25");
	expect(m, "example.net", "OK");
	expect(m, "multi", "one two three");
	expect(m, "crlf", "value");
	expect(m, "dup", "first");
	expect(m, "last", "no-newline");
	expect(m, "missing", NULL);
	expect(m, "", NULL);
	expect(m, "#", NULL);
	map_close(&m);
	assert_null(m);
	map_close(&m);
	/* hash: and btree: are the same tables. */
	static const char *const types[] = {"hash", "BTREE"};
	for (size_t i = 0; i < 2; i++) {
		char *spec = xasprintf("%s:%s", types[i], path);
		m = open_ok(spec);
		expect(m, "example.net", "OK");
		map_close(&m);
		free(spec);
	}
	free(path);
}

static void aliases_build(void **state)
{
	struct fx *f = *state;
	char *path = write_file(f, "aliases",
	                        "# /etc/aliases\n"
	                        "postmaster: root\n"
	                        "Staff:\ta, b@example.com,\n"
	                        "   \"|/usr/bin/prog x, y\",\n"
	                        "   # not this one\n"
	                        "   /var/log/staff\n"
	                        "\"john doe\" : john\n"
	                        "\"q\\\"uote\": q\n"
	                        "list: :include:/etc/list\n"
	                        "colon: a:b\n");
	build_ok(path, MAP_FORMAT_ALIASES);
	struct map *m = open_lmdb(path);
	expect(m, "postmaster", "root");
	expect(m, "staff",
	       "a, b@example.com, \"|/usr/bin/prog x, y\", /var/log/staff");
	expect(m, "John Doe", "john");
	expect(m, "q\"uote", "q");
	expect(m, "list", ":include:/etc/list");
	expect(m, "colon", "a:b");
	expect(m, "root", NULL);
	map_close(&m);
	free(path);
}

/* Keys longer than LMDB's own limit (511) up to MAP_KEY_MAX. */
static void long_keys(void **state)
{
	struct fx *f = *state;
	struct buf text;
	buf_init(&text, 0);
	char key[MAP_KEY_MAX + 2];
	for (int i = 0; i < 4; i++) {
		size_t len = i == 3 ? MAP_KEY_MAX : 500 + (size_t)i;
		memset(key, 'k', len);
		key[len - 1] = (char)('0' + i);
		key[len] = 0;
		assert_int_equal(buf_printf(&text, "%s value%d\n", key, i), 0);
	}
	char *path = write_filen(f, "long", text.data, text.len);
	build_ok(path, MAP_FORMAT_KV);
	struct map *m = open_lmdb(path);
	for (int i = 0; i < 4; i++) {
		size_t len = i == 3 ? MAP_KEY_MAX : 500 + (size_t)i;
		memset(key, 'K', len);
		key[len - 1] = (char)('0' + i);
		key[len] = 0;
		char want[16];
		(void)snprintf(want, sizeof(want), "value%d", i);
		expect(m, key, want);
		/* Same prefix and length, different end: not found. */
		key[len - 1] = 'x';
		expect(m, key, NULL);
	}
	memset(key, 'k', MAP_KEY_MAX + 1);
	key[MAP_KEY_MAX + 1] = 0;
	expect(m, key, NULL);
	map_close(&m);
	free(path);
	buf_deinit(&text);
}

/* Fails unless got starts with path followed by suffix ("path:N: ..."). */
static void expect_error_at(const char *path, const char *suffix,
                            const char *got, size_t i)
{
	char *want = xasprintf("%s%s", path, suffix);
	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("case %zu: got \"%s\", want \"%s...\"", i, got, want);
	free(want);
}

struct bad_case {
	enum map_format fmt;
	const char *text;
	const char *want; /* substring of the error, after "file:" */
};

static void build_errors(void **state)
{
	struct fx *f = *state;
	static const struct bad_case cases[] = {
	        {MAP_FORMAT_KV, "a b\nkeyonly\n", ":2: missing value"},
	        {MAP_FORMAT_KV, "  indented first\n", ":1: continuation"},
	        {MAP_FORMAT_KV, "# c\n\n  x\n", ":3: continuation"},
	        {MAP_FORMAT_ALIASES, "a: b\nnocolon\n", ":2: expected"},
	        {MAP_FORMAT_ALIASES, "a b: c\n", ":1: white space in a name"},
	        {MAP_FORMAT_ALIASES, "\"open: x\n", ":1: unterminated"},
	        {MAP_FORMAT_ALIASES, "\"q\" x: y\n", ":1: expected ':'"},
	        {MAP_FORMAT_ALIASES, "x:\n", ":1: missing value"},
	        {MAP_FORMAT_ALIASES, ": y\n", ":1: empty key"},
	        {MAP_FORMAT_ALIASES, "ok: 1\nempty:   \n  \n", ":2: missing"},
	};
	char *path = NULL;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		free(path);
		path = write_file(f, "bad", cases[i].text);
		struct err e = {{0}};
		assert_int_equal(map_build(path, cases[i].fmt, &e), -1);
		expect_error_at(path, cases[i].want, e.msg, i);
	}
	free(path);
}

/* Size limits, a NUL byte; a failed build keeps the old table and leaves
 * no temporary file. */
static void build_limits(void **state)
{
	struct fx *f = *state;
	char *path = write_file(f, "t", "k old\n");
	build_ok(path, MAP_FORMAT_KV);
	struct {
		size_t keylen, vallen;
		const char *want;
	} cases[] = {
	        {MAP_KEY_MAX + 1, 1, ":2: key longer"},
	        {1, MAP_VALUE_MAX + 1, ":2: line longer"},
	        {1, MAP_LINE_MAX - 2, NULL}, /* exactly a full line */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = 2 + cases[i].keylen + 1 + cases[i].vallen + 1;
		char *text = xmalloc(len);
		memcpy(text, "#\n", 2);
		memset(text + 2, 'k', cases[i].keylen);
		text[2 + cases[i].keylen] = ' ';
		memset(text + 3 + cases[i].keylen, 'v', cases[i].vallen);
		text[len - 1] = '\n';
		free(write_filen(f, "t", text, len));
		free(text);
		struct err e = {{0}};
		int r = map_build(path, MAP_FORMAT_KV, &e);
		if (!cases[i].want) {
			assert_int_equal(r, 0);
			continue;
		}
		assert_int_equal(r, -1);
		expect_error_at(path, cases[i].want, e.msg, i);
	}
	/* A value that grows past the limit through continuation lines. */
	struct buf text;
	buf_init(&text, 0);
	assert_int_equal(buf_append_str(&text, "k x\n"), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(buf_append_char(&text, ' '), 0);
		for (int j = 0; j < 30000; j++)
			assert_int_equal(buf_append_char(&text, 'v'), 0);
		assert_int_equal(buf_append_char(&text, '\n'), 0);
	}
	free(write_filen(f, "t", text.data, text.len));
	buf_deinit(&text);
	struct err e = {{0}};
	assert_int_equal(map_build(path, MAP_FORMAT_KV, &e), -1);
	assert_non_null(strstr(e.msg, ":1: "));

	free(write_filen(f, "t", "a b\nn\0ul c\n", 11));
	assert_int_equal(map_build(path, MAP_FORMAT_KV, &e), -1);
	expect_error_at(path, ":2: NUL byte", e.msg, 0);

	/* The last good table is still there: the full line of 'v's. */
	struct map *m = open_lmdb(path);
	char *got;
	assert_int_equal(map_lookup(m, "k", &got, &e), 1);
	assert_int_equal(strlen(got), MAP_LINE_MAX - 2);
	free(got);
	map_close(&m);
	/* Only the text and the table remain in the directory. */
	DIR *d = opendir(f->dir);
	assert_non_null(d);
	int files = 0;
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] == '.')
			continue;
		files++;
		if (strcmp(de->d_name, "t") && strcmp(de->d_name, "t.lmdb"))
			fail_msg("unexpected file %s", de->d_name);
	}
	closedir(d);
	assert_int_equal(files, 2);
	free(path);
}

static void build_misc(void **state)
{
	struct fx *f = *state;
	/* An empty source gives an empty table. */
	char *path = write_file(f, "empty", "# nothing\n");
	build_ok(path, MAP_FORMAT_ALIASES);
	struct map *m = open_lmdb(path);
	expect(m, "anything", NULL);
	map_close(&m);
	/* The table takes the source's permission bits. */
	assert_int_equal(chmod(path, 0640), 0);
	build_ok(path, MAP_FORMAT_KV);
	char *out = xasprintf("%s.lmdb", path);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	free(out);
	free(path);
	/* A missing source. */
	struct err e = {{0}};
	path = xasprintf("%s/none", f->dir);
	assert_int_equal(map_build(path, MAP_FORMAT_KV, &e), -1);
	assert_non_null(strstr(e.msg, "No such file"));
	free(path);
}

static int put_plain(struct db_txn *txn, void *ctx, struct err *e)
{
	(void)ctx;
	return db_put(txn, NULL, "k", 1, "v", 1, e);
}

static void open_errors(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *spec, *want;
	} cases[] = {
	        {"nocolon", "expected type:name"},
	        {":x", "expected type:name"},
	        {"cdb:/etc/x", "unsupported type \"cdb\""},
	        {"lmdb:", "missing file name"},
	        {"lmdb:/nonexistent/x", "No such file"},
	        {"inline:a=b", "expected inline:{"},
	        {"inline:{ a=b", "expected inline:{"},
	        {"inline:{ a=b, c }", "\" c \" is not key=value"},
	        {"inline:{ =b }", "empty key"},
	        {"static:", "empty value"},
	        {"static:{ }", "empty value"},
	        {"unix:group.byname", "only passwd.byname"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e = {{0}};
		struct map *m = map_open(cases[i].spec, &e);
		if (m)
			fail_msg("%s: opened", cases[i].spec);
		if (!strstr(e.msg, cases[i].want))
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].spec,
			         e.msg, cases[i].want);
	}
	/* An LMDB file not made by map_build is refused. */
	char *path = xasprintf("%s/foreign.lmdb", f->dir);
	struct db_env *env;
	struct err e = {{0}};
	assert_int_equal(db_open(&env, path, DB_NOSUBDIR | DB_CREATE, 0, &e),
	                 0);
	assert_int_equal(db_write(env, put_plain, NULL, &e), 0);
	db_close(&env);
	char *spec = xasprintf("lmdb:%s/foreign", f->dir);
	assert_null(map_open(spec, &e));
	assert_non_null(strstr(e.msg, "not built by posthorn map build"));
	free(spec);
	free(path);
}

static void inline_static_unix(void **state)
{
	(void)state;
	struct map *m = open_ok("inline:{ Key1=v1, key2 = two words ,, "
	                        "k3=a=b, empty= }");
	expect(m, "key1", "v1");
	expect(m, "KEY2", "two words");
	expect(m, "k3", "a=b");
	expect(m, "empty", "");
	expect(m, "v1", NULL);
	map_close(&m);
	m = open_ok("inline:{}");
	expect(m, "x", NULL);
	map_close(&m);

	m = open_ok("static:vmail");
	expect(m, "anything", "vmail");
	expect(m, "Other", "vmail");
	map_close(&m);
	m = open_ok("static:{ two words }");
	expect(m, "x", "two words");
	map_close(&m);

	m = open_ok("unix:passwd.byname");
	struct err e = {{0}};
	char *got;
	assert_int_equal(map_lookup(m, "ROOT", &got, &e), 1);
	assert_true(strncmp(got, "root:0:0:", 9) == 0);
	free(got);
	expect(m, "no-such-user-posthorn", NULL);
	map_close(&m);
}

static uint64_t ms_now(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A daemon's open table sees a rebuild without being reopened. */
static void rebuild_noticed(void **state)
{
	struct fx *f = *state;
	char *path = write_file(f, "t", "k v1\n");
	build_ok(path, MAP_FORMAT_KV);
	uint64_t start = ms_now();
	struct map *m = open_lmdb(path);
	expect(m, "k", "v1");
	free(write_file(f, "t", "k v2\nnew yes\n"));
	build_ok(path, MAP_FORMAT_KV);
	/* Within the recheck interval the open file is trusted. */
	char *got;
	struct err e = {{0}};
	assert_int_equal(map_lookup(m, "k", &got, &e), 1);
	if (ms_now() - start < 900)
		assert_string_equal(got, "v1");
	free(got);
	map_set_recheck_interval(0);
	expect(m, "k", "v2");
	expect(m, "new", "yes");
	/* Again, with the old file's inode free for reuse. */
	free(write_file(f, "t", "k v3\n"));
	build_ok(path, MAP_FORMAT_KV);
	expect(m, "k", "v3");
	expect(m, "new", NULL);
	/* A vanished file is an error (defer), not "not found". */
	char *out = xasprintf("%s.lmdb", path);
	assert_int_equal(unlink(out), 0);
	assert_int_equal(map_lookup(m, "k", &got, &e), -1);
	assert_non_null(strstr(e.msg, "No such file"));
	free(out);
	map_close(&m);
	free(path);
}

static void maplist(void **state)
{
	struct fx *f = *state;
	char *path = write_file(f, "t", "a from-lmdb\nb from-lmdb\n");
	build_ok(path, MAP_FORMAT_KV);
	char *specs_text = xasprintf(
	        "inline:{ a=from-inline }, lmdb:%s static:dflt", path);
	struct strv specs;
	strv_init(&specs);
	struct err e = {{0}};
	assert_int_equal(map_spec_split(specs_text, &specs, &e), 0);
	assert_int_equal(specs.n, 3);
	struct maplist *ml = maplist_open(&specs, &e);
	assert_non_null(ml);
	char *got;
	assert_int_equal(maplist_lookup(ml, "A", &got, &e), 1);
	assert_string_equal(got, "from-inline");
	free(got);
	assert_int_equal(maplist_lookup(ml, "b", &got, &e), 1);
	assert_string_equal(got, "from-lmdb");
	free(got);
	assert_int_equal(maplist_lookup(ml, "c", &got, &e), 1);
	assert_string_equal(got, "dflt");
	free(got);
	maplist_close(&ml);
	assert_null(ml);
	maplist_close(&ml);

	/* One table that cannot open fails the list. */
	strv_push(&specs, "lmdb:/nonexistent/x");
	assert_null(maplist_open(&specs, &e));
	strv_deinit(&specs);

	/* An empty list finds nothing. */
	ml = maplist_open(&specs, &e);
	assert_non_null(ml);
	assert_int_equal(maplist_lookup(ml, "a", &got, &e), 0);
	assert_null(got);
	maplist_close(&ml);

	/* An error in one table stops the search. */
	strv_push(&specs, "inline:{ x=1 }");
	char *spec = xasprintf("lmdb:%s", path);
	strv_push(&specs, spec);
	strv_push(&specs, "static:never");
	ml = maplist_open(&specs, &e);
	assert_non_null(ml);
	char *out = xasprintf("%s.lmdb", path);
	assert_int_equal(unlink(out), 0);
	map_set_recheck_interval(0);
	assert_int_equal(maplist_lookup(ml, "x", &got, &e), 1);
	free(got);
	assert_int_equal(maplist_lookup(ml, "y", &got, &e), -1);
	assert_null(got);
	maplist_close(&ml);
	strv_deinit(&specs);
	free(out);
	free(spec);
	free(specs_text);
	free(path);
}

struct split_case {
	const char *in, *want; /* want NULL: an error */
};

typedef int (*split_fn)(const char *s, struct strv *out, struct err *e);

/* Runs split on each case; the pieces are compared as "[a] [b]". */
static void check_splits(split_fn split, const struct split_case *cases,
                         size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct strv sv;
		strv_init(&sv);
		struct err e = {{0}};
		int r = split(cases[i].in, &sv, &e);
		struct buf got;
		buf_init(&got, 0);
		for (size_t j = 0; j < sv.n; j++)
			assert_int_equal(buf_printf(&got, "%s[%s]",
			                            j ? " " : "", sv.v[j]),
			                 0);
		if (!cases[i].want && r != -1)
			fail_msg("\"%s\": no error", cases[i].in);
		if (cases[i].want &&
		    (r != 0 || strcmp(buf_cstr(&got), cases[i].want) != 0))
			fail_msg("\"%s\": got %d %s, want %s", cases[i].in, r,
			         buf_cstr(&got), cases[i].want);
		buf_deinit(&got);
		strv_deinit(&sv);
	}
}

static void spec_split(void **state)
{
	(void)state;
	static const struct split_case cases[] = {
	        {"", ""},
	        {"  , ,", ""},
	        {"lmdb:/a", "[lmdb:/a]"},
	        {"lmdb:/a, hash:/b\tbtree:/c",
	         "[lmdb:/a] [hash:/b] [btree:/c]"},
	        {"inline:{ a=b, c=d }, lmdb:/x",
	         "[inline:{ a=b, c=d }] [lmdb:/x]"},
	        {"static:{ two words },inline:{}",
	         "[static:{ two words }] [inline:{}]"},
	        {"inline:{ a=b", NULL},
	        {"inline:a=b }", NULL},
	};
	check_splits(map_spec_split, cases, sizeof(cases) / sizeof(cases[0]));
}

static int alias_split_str(const char *s, struct strv *out, struct err *e)
{
	int r = alias_split(s, strlen(s), out, e);
	if (r < 0)
		assert_non_null(strstr(e->msg, "unterminated"));
	return r;
}

static void alias_splitting(void **state)
{
	(void)state;
	static const struct split_case cases[] = {
	        {"root", "[root]"},
	        {"a, b@example.com,c", "[a] [b@example.com] [c]"},
	        {" a ,, , b ", "[a] [b]"},
	        {"", ""},
	        {"\"|/bin/prog a, b\", x", "[|/bin/prog a, b] [x]"},
	        {"\"/var/mail/x y\"", "[/var/mail/x y]"},
	        {"\"john doe\"@example.com, y",
	         "[\"john doe\"@example.com] [y]"},
	        {"\"a\\\"b, c\"", "[a\"b, c]"},
	        {"\"a\\\\\"", "[a\\]"},
	        {":include:/etc/list, /file", "[:include:/etc/list] [/file]"},
	        {"\"unterminated, x", NULL},
	        {"x, \"bad\\\"", NULL},
	};
	check_splits(alias_split_str, cases, sizeof(cases) / sizeof(cases[0]));
	/* Only len bytes are read. */
	struct strv sv;
	strv_init(&sv);
	struct err e = {{0}};
	assert_int_equal(alias_split("a, b, c", 4, &sv, &e), 0);
	assert_int_equal(sv.n, 2);
	assert_string_equal(sv.v[1], "b");
	strv_deinit(&sv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(kv_build_and_fold, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(aliases_build, setup, teardown),
	        cmocka_unit_test_setup_teardown(long_keys, setup, teardown),
	        cmocka_unit_test_setup_teardown(build_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(build_limits, setup, teardown),
	        cmocka_unit_test_setup_teardown(build_misc, setup, teardown),
	        cmocka_unit_test_setup_teardown(open_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(inline_static_unix, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(rebuild_noticed, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(maplist, setup, teardown),
	        cmocka_unit_test(spec_split),
	        cmocka_unit_test(alias_splitting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
