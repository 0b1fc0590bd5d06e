/* SPDX-License-Identifier: MIT */
/*
 * test_db.c - the LMDB wrapper: get/put/del, tables, cursors, aborts,
 * map growth, maps grown by another process, use after fork
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/db.h"
#include "common/xalloc.h"
#include "unit_tmpdir.h"

struct fx {
	char dir[64];
	char *path; /* dir/env: an environment directory */
	struct db_env *env;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	if (unit_tmpdir_make(f->dir, sizeof(f->dir), "test_db") < 0)
		return -1;
	f->path = xasprintf("%s/env", f->dir);
	db_set_initial_map_size(0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	db_close(&f->env);
	unit_tmpdir_remove(f->dir);
	free(f->path);
	free(f);
	db_set_initial_map_size(0);
	return 0;
}

static void open_env(struct fx *f, unsigned max_tables)
{
	struct err e = {{0}};
	int r = db_open(&f->env, f->path, DB_CREATE, max_tables, &e);
	if (r != 0)
		fail_msg("db_open: %s", e.msg);
}

/* Reads key from table in a fresh read transaction into a new string, or
 * NULL when absent. */
static char *get_str(struct db_env *env, const char *table, const char *key)
{
	struct err e = {{0}};
	struct db_txn *txn;
	assert_int_equal(db_read_begin(env, &txn, &e), 0);
	const void *v;
	size_t vlen;
	int r = db_get(txn, table, key, strlen(key), &v, &vlen, &e);
	if (r < 0)
		fail_msg("db_get: %s", e.msg);
	char *out = r ? xmemdup(v, vlen) : NULL;
	db_txn_end(&txn);
	assert_null(txn);
	return out;
}

struct kv {
	const char *table, *key, *val; /* val NULL: delete */
};

struct kv_batch {
	const struct kv *v;
	size_t n;
	int calls;
};

static int put_batch(struct db_txn *txn, void *ctx, struct err *e)
{
	struct kv_batch *b = ctx;
	b->calls++;
	for (size_t i = 0; i < b->n; i++) {
		const struct kv *p = &b->v[i];
		int r = p->val ? db_put(txn, p->table, p->key, strlen(p->key),
		                        p->val, strlen(p->val), e)
		               : db_del(txn, p->table, p->key, strlen(p->key),
		                        e);
		if (r < 0)
			return -1;
	}
	return 0;
}

static void write_kv(struct db_env *env, const struct kv *v, size_t n)
{
	struct err e = {{0}};
	struct kv_batch b = {v, n, 0};
	if (db_write(env, put_batch, &b, &e) != 0)
		fail_msg("db_write: %s", e.msg);
}

static void assert_value(struct db_env *env, const char *table, const char *key,
                         const char *want)
{
	char *got = get_str(env, table, key);
	if (!want && got)
		fail_msg("%s/%s: got %s, want nothing", table ? table : "-",
		         key, got);
	if (want && (!got || strcmp(got, want) != 0))
		fail_msg("%s/%s: got %s, want %s", table ? table : "-", key,
		         got ? got : "nothing", want);
	free(got);
}

static void put_get_del(void **state)
{
	struct fx *f = *state;
	open_env(f, 0);
	const struct kv v[] = {
	        {NULL, "alpha", "1"},
	        {NULL, "beta", "2"},
	        {NULL, "empty", ""},
	};
	write_kv(f->env, v, 3);
	assert_value(f->env, NULL, "alpha", "1");
	assert_value(f->env, NULL, "beta", "2");
	assert_value(f->env, NULL, "empty", "");
	assert_value(f->env, NULL, "gamma", NULL);
	const struct kv d[] = {
	        {NULL, "alpha", NULL},
	        {NULL, "never-there", NULL}, /* deleting nothing is ok */
	        {NULL, "beta", "3"},
	};
	write_kv(f->env, d, 3);
	assert_value(f->env, NULL, "alpha", NULL);
	assert_value(f->env, NULL, "beta", "3");
	/* Survives close and reopen (every commit is durable). */
	db_close(&f->env);
	assert_null(f->env);
	db_close(&f->env); /* NULL is accepted */
	open_env(f, 0);
	assert_value(f->env, NULL, "beta", "3");
	assert_true(db_reader_check(f->env) >= 0);
	struct err e = {{0}};
	assert_int_equal(db_sync(f->env, &e), 0);
}

static void key_limits(void **state)
{
	struct fx *f = *state;
	open_env(f, 0);
	size_t max = db_key_max(f->env);
	assert_true(max >= 511);
	char *key = xmalloc(max + 2);
	memset(key, 'k', max + 1);
	key[max + 1] = 0;
	const struct kv too_long[] = {{NULL, key, "v"}};
	struct kv_batch b = {too_long, 1, 0};
	struct err e = {{0}};
	assert_int_equal(db_write(f->env, put_batch, &b, &e), -1);
	assert_non_null(strstr(e.msg, "key of"));
	assert_value(f->env, NULL, key, NULL);
	key[max] = 0; /* exactly the maximum works */
	write_kv(f->env, too_long, 1);
	assert_value(f->env, NULL, key, "v");
	const struct kv empty[] = {{NULL, "", "v"}};
	b = (struct kv_batch){empty, 1, 0};
	assert_int_equal(db_write(f->env, put_batch, &b, &e), -1);
	assert_value(f->env, NULL, "", NULL);
	free(key);
}

static void named_tables(void **state)
{
	struct fx *f = *state;
	open_env(f, 4);
	assert_value(f->env, "users", "bob", NULL); /* missing table */
	const struct kv v[] = {
	        {"users", "bob", "u-bob"},
	        {"domains", "bob", "d-bob"},
	        {"users", "amy", "u-amy"},
	};
	write_kv(f->env, v, 3);
	assert_value(f->env, "users", "bob", "u-bob");
	assert_value(f->env, "domains", "bob", "d-bob");
	assert_value(f->env, "users", "amy", "u-amy");
	assert_value(f->env, "domains", "amy", NULL);
	/* Reopened: the tables are found again. */
	db_close(&f->env);
	open_env(f, 4);
	assert_value(f->env, "users", "amy", "u-amy");
	/* Clearing one table leaves the other alone. */
	struct err e = {{0}};
	struct db_txn *txn;
	assert_int_equal(db_read_begin(f->env, &txn, &e), 0);
	assert_int_equal(db_clear(txn, "users", &e), -1); /* read-only */
	db_txn_end(&txn);
	/* An empty write transaction commits. */
	write_kv(f->env, NULL, 0);
	assert_value(f->env, "users", "amy", "u-amy");
}

static int clear_users(struct db_txn *txn, void *ctx, struct err *e)
{
	(void)ctx;
	if (db_clear(txn, "users", e) < 0)
		return -1;
	/* Clearing a missing table is fine; the main table is refused
	 * because it holds the table names. */
	if (db_clear(txn, "nosuch", e) < 0)
		return -1;
	assert_int_equal(db_clear(txn, NULL, e), -1);
	return 0;
}

static void clear_table(void **state)
{
	struct fx *f = *state;
	open_env(f, 4);
	const struct kv v[] = {
	        {"users", "bob", "1"},
	        {"users", "amy", "2"},
	        {"other", "bob", "3"},
	};
	write_kv(f->env, v, 3);
	struct err e = {{0}};
	assert_int_equal(db_write(f->env, clear_users, NULL, &e), 0);
	assert_value(f->env, "users", "bob", NULL);
	assert_value(f->env, "users", "amy", NULL);
	assert_value(f->env, "other", "bob", "3");
	/* The table still exists and takes new records. */
	const struct kv w[] = {{"users", "cy", "4"}};
	write_kv(f->env, w, 1);
	assert_value(f->env, "users", "cy", "4");
}

static int create_then_fail(struct db_txn *txn, void *ctx, struct err *e)
{
	int *calls = ctx;
	(*calls)++;
	if (db_put(txn, "fresh", "k", 1, "v", 1, e) < 0)
		return -1;
	err_set(e, "changed my mind");
	return -1;
}

/* A table created in a transaction that aborts must not leave a dead
 * handle behind (LMDB closes it on abort). */
static void aborted_write(void **state)
{
	struct fx *f = *state;
	open_env(f, 4);
	int calls = 0;
	struct err e = {{0}};
	assert_int_equal(db_write(f->env, create_then_fail, &calls, &e), -1);
	assert_string_equal(e.msg, "changed my mind");
	assert_int_equal(calls, 1);
	assert_value(f->env, "fresh", "k", NULL);
	const struct kv v[] = {{"fresh", "k", "v2"}, {"fresh", "j", "w"}};
	write_kv(f->env, v, 2);
	assert_value(f->env, "fresh", "k", "v2");
	assert_value(f->env, "fresh", "j", "w");
	/* The same after a read transaction found the table missing. */
	assert_value(f->env, "later", "k", NULL);
	const struct kv w[] = {{"later", "k", "x"}};
	write_kv(f->env, w, 1);
	assert_value(f->env, "later", "k", "x");
}

static void cursors(void **state)
{
	struct fx *f = *state;
	open_env(f, 2);
	const struct kv v[] = {
	        {"t", "b", "2"}, {"t", "d", "4"},  {"t", "a", "1"},
	        {"t", "c", "3"}, {"u", "z", "26"},
	};
	write_kv(f->env, v, 5);
	struct err e = {{0}};
	struct db_txn *txn;
	struct db_cursor *c;
	assert_int_equal(db_read_begin(f->env, &txn, &e), 0);
	assert_int_equal(db_cursor_open(txn, "t", &c, &e), 0);
	const void *k, *val;
	size_t klen, vlen;
	char got[16] = "";
	size_t n = 0;
	for (enum db_seek op = DB_FIRST;
	     db_cursor_get(c, op, &k, &klen, &val, &vlen, &e) == 1;
	     op = DB_NEXT) {
		assert_int_equal(klen, 1);
		got[n++] = *(const char *)k;
	}
	assert_string_equal(got, "abcd");
	n = 0;
	for (enum db_seek op = DB_LAST;
	     db_cursor_get(c, op, &k, &klen, &val, &vlen, &e) == 1;
	     op = DB_PREV)
		got[n++] = *(const char *)k;
	assert_string_equal(got, "dcba");
	k = "bb";
	klen = 2;
	assert_int_equal(
	        db_cursor_get(c, DB_SET_RANGE, &k, &klen, &val, &vlen, &e), 1);
	assert_memory_equal(k, "c", 1);
	assert_memory_equal(val, "3", 1);
	k = "e";
	klen = 1;
	assert_int_equal(
	        db_cursor_get(c, DB_SET_RANGE, &k, &klen, &val, &vlen, &e), 0);
	klen = 0;
	assert_int_equal(
	        db_cursor_get(c, DB_SET_RANGE, &k, &klen, &val, &vlen, &e), 1);
	assert_memory_equal(k, "a", 1);
	assert_int_equal(db_cursor_del(c, &e), -1); /* read-only */

	/* A cursor on a missing table finds nothing. */
	struct db_cursor *m;
	assert_int_equal(db_cursor_open(txn, "missing", &m, &e), 0);
	assert_int_equal(db_cursor_get(m, DB_FIRST, &k, &klen, &val, &vlen, &e),
	                 0);
	db_cursor_close(&m);
	assert_null(m);
	db_cursor_close(&m);

	/* Outliving its transaction makes the cursor fail, not crash. */
	db_txn_end(&txn);
	assert_int_equal(db_cursor_get(c, DB_FIRST, &k, &klen, &val, &vlen, &e),
	                 -1);
	db_cursor_close(&c);
}

/* Deletes every record of table "t" whose value is odd. */
static int del_odd(struct db_txn *txn, void *ctx, struct err *e)
{
	(void)ctx;
	struct db_cursor *c;
	if (db_cursor_open(txn, "t", &c, e) < 0)
		return -1;
	const void *k, *v;
	size_t klen, vlen;
	int r;
	for (enum db_seek op = DB_FIRST;
	     (r = db_cursor_get(c, op, &k, &klen, &v, &vlen, e)) == 1;) {
		op = DB_NEXT;
		if ((*(const char *)v - '0') % 2 == 0)
			continue;
		if (db_cursor_del(c, e) < 0) {
			db_cursor_close(&c);
			return -1;
		}
	}
	db_cursor_close(&c);
	return r;
}

static void cursor_delete(void **state)
{
	struct fx *f = *state;
	open_env(f, 2);
	const struct kv v[] = {
	        {"t", "a", "1"}, {"t", "b", "2"}, {"t", "c", "3"},
	        {"t", "d", "4"}, {"t", "e", "5"},
	};
	write_kv(f->env, v, 5);
	struct err e = {{0}};
	assert_int_equal(db_write(f->env, del_odd, NULL, &e), 0);
	assert_value(f->env, "t", "a", NULL);
	assert_value(f->env, "t", "b", "2");
	assert_value(f->env, "t", "c", NULL);
	assert_value(f->env, "t", "d", "4");
	assert_value(f->env, "t", "e", NULL);
}

struct fill {
	int records;
	size_t vsize;
	int calls;
};

static int fill_fn(struct db_txn *txn, void *ctx, struct err *e)
{
	struct fill *fl = ctx;
	fl->calls++;
	char *val = xmalloc(fl->vsize);
	memset(val, 'v', fl->vsize);
	for (int i = 0; i < fl->records; i++) {
		char key[32];
		int n = snprintf(key, sizeof(key), "key%06d", i);
		if (db_put(txn, "fill", key, (size_t)n, val, fl->vsize, e) <
		    0) {
			free(val);
			return -1;
		}
	}
	free(val);
	return 0;
}

/* One transaction bigger than the map: db_write grows the map and runs
 * the whole function again, losing nothing. */
static void map_full_grows(void **state)
{
	struct fx *f = *state;
	db_set_initial_map_size(64 * 1024);
	open_env(f, 2);
	size_t before = db_map_size(f->env);
	assert_true(before <= 128 * 1024);
	struct fill fl = {.records = 2000, .vsize = 300};
	struct err e = {{0}};
	if (db_write(f->env, fill_fn, &fl, &e) != 0)
		fail_msg("db_write: %s", e.msg);
	assert_true(fl.calls > 1);
	assert_true(db_map_size(f->env) > before);
	char *got = get_str(f->env, "fill", "key001999");
	assert_non_null(got);
	assert_int_equal(strlen(got), 300);
	free(got);
	/* Many small transactions, some of which must grow the map. */
	size_t mid = db_map_size(f->env);
	for (int i = 0; i < 200; i++) {
		struct fill more = {.records = 20 + i, .vsize = 2000};
		if (db_write(f->env, fill_fn, &more, &e) != 0)
			fail_msg("db_write %d: %s", i, e.msg);
	}
	assert_true(db_map_size(f->env) > mid);
	got = get_str(f->env, "fill", "key000218");
	assert_non_null(got);
	assert_int_equal(strlen(got), 2000);
	free(got);
}

/* Growing the map while this process holds a read transaction would
 * leave the reader's pointers dangling: db_write must fail instead. */
static void map_full_with_reader(void **state)
{
	struct fx *f = *state;
	db_set_initial_map_size(64 * 1024);
	open_env(f, 2);
	struct err e = {{0}};
	struct db_txn *rd;
	assert_int_equal(db_read_begin(f->env, &rd, &e), 0);
	/* A table never seen before cannot get its handle now. */
	struct fill fl = {.records = 2000, .vsize = 300};
	assert_int_equal(db_write(f->env, fill_fn, &fl, &e), -1);
	assert_non_null(strstr(e.msg, "first used while another"));
	db_txn_end(&rd);
	struct fill one = {.records = 1, .vsize = 1};
	assert_int_equal(db_write(f->env, fill_fn, &one, &e), 0);
	assert_int_equal(db_read_begin(f->env, &rd, &e), 0);
	assert_int_equal(db_write(f->env, fill_fn, &fl, &e), -1);
	assert_non_null(strstr(e.msg, "cannot grow"));
	db_txn_end(&rd);
	assert_int_equal(db_write(f->env, fill_fn, &fl, &e), 0);
}

static int wait_child(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		;
	return st;
}

/* Another process grows the map past ours and creates a table: our next
 * transaction adopts the new size and finds the table. */
static void other_process_grows(void **state)
{
	struct fx *f = *state;
	db_set_initial_map_size(64 * 1024);
	open_env(f, 4);
	const struct kv v[] = {{"mine", "k", "v"}};
	write_kv(f->env, v, 1);
	size_t before = db_map_size(f->env);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct db_env *env;
		struct err e;
		if (db_open(&env, f->path, 0, 4, &e) < 0)
			_exit(1);
		struct fill fl = {.records = 3000, .vsize = 400};
		int r = db_write(env, fill_fn, &fl, &e);
		db_close(&env);
		_exit(r == 0 ? 0 : 2);
	}
	int st = wait_child(pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	char *got = get_str(f->env, "fill", "key002999");
	assert_non_null(got);
	assert_int_equal(strlen(got), 400);
	free(got);
	assert_true(db_map_size(f->env) > before);
	assert_value(f->env, "mine", "k", "v");
	write_kv(f->env, v, 1);
}

/* An environment used in a forked child panics (abort); closing it there
 * is allowed and leaves the parent's state alone. */
static void use_after_fork(void **state)
{
	struct fx *f = *state;
	open_env(f, 0);
	const struct kv v[] = {{NULL, "k", "v"}};
	write_kv(f->env, v, 1);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Keep the expected panic message out of the test output. */
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		struct db_txn *txn;
		struct err e;
		(void)db_read_begin(f->env, &txn, &e);
		_exit(0);
	}
	int st = wait_child(pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		db_close(&f->env);
		_exit(f->env == NULL ? 0 : 1);
	}
	st = wait_child(pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_value(f->env, NULL, "k", "v");
}

static void open_errors(void **state)
{
	struct fx *f = *state;
	struct err e = {{0}};
	/* Without DB_CREATE a missing environment is an error. */
	assert_int_equal(db_open(&f->env, f->path, 0, 0, &e), -1);
	assert_null(f->env);
	assert_non_null(strstr(e.msg, "No such file"));
	char *file = xasprintf("%s/file.mdb", f->dir);
	assert_int_equal(db_open(&f->env, file, DB_NOSUBDIR | DB_RDONLY, 0, &e),
	                 -1);
	/* A single-file environment, then read-only without a lock file. */
	assert_int_equal(db_open(&f->env, file,
	                         DB_NOSUBDIR | DB_CREATE | DB_NOLOCK, 0, &e),
	                 0);
	const struct kv v[] = {{NULL, "k", "v"}};
	write_kv(f->env, v, 1);
	db_close(&f->env);
	assert_int_equal(db_open(&f->env, file,
	                         DB_NOSUBDIR | DB_RDONLY | DB_NOLOCK, 0, &e),
	                 0);
	assert_value(f->env, NULL, "k", "v");
	struct kv_batch b = {v, 1, 0};
	assert_int_equal(db_write(f->env, put_batch, &b, &e), -1);
	assert_non_null(strstr(e.msg, "read-only"));
	char *lock = xasprintf("%s-lock", file);
	assert_int_equal(access(lock, F_OK), -1);
	free(lock);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(put_get_del, setup, teardown),
	        cmocka_unit_test_setup_teardown(key_limits, setup, teardown),
	        cmocka_unit_test_setup_teardown(named_tables, setup, teardown),
	        cmocka_unit_test_setup_teardown(clear_table, setup, teardown),
	        cmocka_unit_test_setup_teardown(aborted_write, setup, teardown),
	        cmocka_unit_test_setup_teardown(cursors, setup, teardown),
	        cmocka_unit_test_setup_teardown(cursor_delete, setup, teardown),
	        cmocka_unit_test_setup_teardown(map_full_grows, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(map_full_with_reader, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(other_process_grows, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(use_after_fork, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(open_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
