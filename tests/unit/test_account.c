/* SPDX-License-Identifier: MIT */
/*
 * test_account.c - the account map: address syntax, add/passwd/del,
 * password checks (bad, unknown, disabled), listing, read-only handles on
 * a file that appears later, damaged records
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/account.h"
#include "common/db.h"
#include "common/passwd_hash.h"
#include "common/str.h"

struct fixture {
	char dir[64];
	char path[128];
	struct account_db *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_account.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/accounts.lmdb", f->dir);
	struct err e;
	if (account_open(&f->db, f->path, ACCOUNT_CREATE, &e) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	account_close(&f->db);
	char lock[160];
	snprintf(lock, sizeof(lock), "%s-lock", f->path);
	unlink(f->path);
	unlink(lock);
	rmdir(f->dir);
	free(f);
	return 0;
}

static const struct account_secret *pw(const char *p)
{
	static struct account_secret s;
	s.password = p;
	s.len = strlen(p);
	s.scram_iterations = 0;
	return &s;
}

static void canon_table(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want; /* want NULL: invalid */
	} cases[] = {
		{"alice@example.test", "alice@example.test"},
		{"Alice@Example.TEST", "alice@example.test"},
		{"a.b+c_d-e@sub.example-1.test", "a.b+c_d-e@sub.example-1.test"},
		{"o'brien@example.test", "o'brien@example.test"},
		{"x@localhost", "x@localhost"},
		{"", NULL},
		{"alice", NULL},
		{"@example.test", NULL},
		{"alice@", NULL},
		{"a@b@example.test", NULL},
		{".alice@example.test", NULL},
		{"alice.@example.test", NULL},
		{"al..ice@example.test", NULL},
		{"a/b@example.test", NULL},
		{"../x@example.test", NULL},
		{"a%b@example.test", NULL},
		{"a b@example.test", NULL},
		{"\"a\"@example.test", NULL},
		{"alice@-example.test", NULL},
		{"alice@example-.test", NULL},
		{"alice@example..test", NULL},
		{"alice@.example.test", NULL},
		{"alice@example.test.", NULL},
		{"alice@[127.0.0.1]", NULL},
		{"alice@exa_mple.test", NULL},
		{"al\xc3\xaf" "ce@example.test", NULL},
		{"alice@example.test\n", NULL},
		{"12345678901234567890123456789012345678901234567890123456789012345"
		 "@example.test",
		 NULL},
		{"1234567890123456789012345678901234567890123456789012345678901234"
		 "@example.test",
		 "1234567890123456789012345678901234567890123456789012345678901234"
		 "@example.test"},
		{"a@1234567890123456789012345678901234567890123456789012345678901234"
		 ".test",
		 NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[ACCOUNT_ADDR_MAX + 1];
		struct err e = {{0}};
		int rc = account_canon(cases[i].in, strlen(cases[i].in), out,
				       sizeof(out), &e);
		if (cases[i].want == NULL) {
			if (rc != -1)
				fail_msg("case %zu '%s': accepted as '%s'", i,
					 cases[i].in, out);
			assert_true(e.msg[0] != '\0');
		} else if (rc != 0 || strcmp(out, cases[i].want) != 0) {
			fail_msg("case %zu '%s': got %d '%s' (%s), want '%s'",
				 i, cases[i].in, rc, rc == 0 ? out : "",
				 e.msg, cases[i].want);
		}
	}
	/* Length limits: 254 characters in all. */
	char big[300];
	memset(big, 'a', sizeof(big));
	memcpy(big + 200, "@x.test", 7);
	char out[ACCOUNT_ADDR_MAX + 1];
	assert_int_equal(account_canon(big, 207, out, sizeof(out), NULL), -1);
}

static void add_check_del(void **state)
{
	struct fixture *f = *state;
	struct err e;
	assert_int_equal(account_add(f->db, "Alice@Example.test", pw("s3cret"),
				     &e),
			 1);
	/* Exists in any case spelling; a second add is refused. */
	assert_int_equal(account_exists(f->db, "alice@example.test", &e), 1);
	assert_int_equal(account_exists(f->db, "ALICE@EXAMPLE.TEST", &e), 1);
	assert_int_equal(account_exists(f->db, "bob@example.test", &e), 0);
	assert_int_equal(account_exists(f->db, "not an address", &e), 0);
	assert_int_equal(account_add(f->db, "alice@example.test", pw("other"),
				     &e),
			 0);
	assert_non_null(strstr(e.msg, "exists"));

	char canon[ACCOUNT_ADDR_MAX + 1] = "";
	assert_int_equal(account_check_password(f->db, "ALICE@example.test",
						"s3cret", 6, canon,
						sizeof(canon), &e),
			 1);
	assert_string_equal(canon, "alice@example.test");
	assert_int_equal(account_check_password(f->db, "alice@example.test",
						"other", 5, NULL, 0, &e),
			 0);
	assert_int_equal(account_check_password(f->db, "alice@example.test",
						"s3cre", 5, NULL, 0, &e),
			 0);
	assert_int_equal(account_check_password(f->db, "bob@example.test",
						"s3cret", 6, NULL, 0, &e),
			 0);
	assert_int_equal(account_check_password(f->db, "garbage", "s3cret", 6,
						NULL, 0, &e),
			 0);

	struct account_info info;
	assert_int_equal(account_get(f->db, "alice@EXAMPLE.test", &info, &e),
			 1);
	assert_string_equal(info.address, "alice@example.test");
	assert_string_equal(info.maildir, "example.test/alice/");
	assert_true(info.created > 1600000000);
	assert_int_equal(info.created, info.changed);
	assert_false(info.disabled);
	assert_false(info.has_scram);

	assert_int_equal(account_del(f->db, "alice@example.test", &e), 1);
	assert_int_equal(account_del(f->db, "alice@example.test", &e), 0);
	assert_int_equal(account_exists(f->db, "alice@example.test", &e), 0);
	assert_int_equal(account_check_password(f->db, "alice@example.test",
						"s3cret", 6, NULL, 0, &e),
			 0);
}

static void bad_input_refused(void **state)
{
	struct fixture *f = *state;
	struct err e;
	assert_int_equal(account_add(f->db, "bad/addr@example.test",
				     pw("x"), &e),
			 -1);
	assert_int_equal(account_add(f->db, "a@example.test", pw(""), &e), -1);
	struct account_secret s = {.password = "a\0b", .len = 3};
	assert_int_equal(account_add(f->db, "a@example.test", &s, &e), -1);
	assert_int_equal(account_add(f->db, "a@example.test", pw("a\nb"), &e),
			 -1);
	assert_int_equal(account_exists(f->db, "a@example.test", &e), 0);
	assert_int_equal(account_set_password(f->db, "nobody@example.test",
					      pw("x"), &e),
			 0);
	assert_int_equal(account_set_disabled(f->db, "nobody@example.test",
					      true, &e),
			 0);
}

static void passwd_and_disable(void **state)
{
	struct fixture *f = *state;
	struct err e;
	assert_int_equal(account_add(f->db, "carol@example.test", pw("one"),
				     &e),
			 1);
	struct account_secret s = {.password = "two", .len = 3,
				   .scram_iterations = 4096};
	assert_int_equal(account_set_password(f->db, "carol@example.test", &s,
					      &e),
			 1);
	assert_int_equal(account_check_password(f->db, "carol@example.test",
						"one", 3, NULL, 0, &e),
			 0);
	assert_int_equal(account_check_password(f->db, "carol@example.test",
						"two", 3, NULL, 0, &e),
			 1);
	char scram[PASSWD_SCRAM_MAX];
	assert_int_equal(account_get_scram(f->db, "carol@example.test", scram,
					   sizeof(scram), &e),
			 1);
	assert_true(strncmp(scram, "SCRAM-SHA-256$4096:", 19) == 0);

	assert_int_equal(account_set_disabled(f->db, "carol@example.test",
					      true, &e),
			 1);
	struct account_info info;
	assert_int_equal(account_get(f->db, "carol@example.test", &info, &e),
			 1);
	assert_true(info.disabled);
	assert_true(info.has_scram);
	/* Disabled: still a mailbox, but no login by any route. */
	assert_int_equal(account_exists(f->db, "carol@example.test", &e), 1);
	assert_int_equal(account_check_password(f->db, "carol@example.test",
						"two", 3, NULL, 0, &e),
			 0);
	assert_int_equal(account_get_scram(f->db, "carol@example.test", scram,
					   sizeof(scram), &e),
			 0);
	assert_int_equal(account_set_disabled(f->db, "carol@example.test",
					      false, &e),
			 1);
	assert_int_equal(account_check_password(f->db, "carol@example.test",
						"two", 3, NULL, 0, &e),
			 1);
	/* A password change without SCRAM drops the old verifier. */
	assert_int_equal(account_set_password(f->db, "carol@example.test",
					      pw("three"), &e),
			 1);
	assert_int_equal(account_get_scram(f->db, "carol@example.test", scram,
					   sizeof(scram), &e),
			 0);
}

struct collect {
	char names[8][ACCOUNT_ADDR_MAX + 1];
	size_t n;
	int stop_after;
};

static int collect_fn(void *ctx, const struct account_info *info)
{
	struct collect *c = ctx;
	if (c->n < 8)
		snprintf(c->names[c->n], sizeof(c->names[0]), "%s",
			 info->address);
	c->n++;
	return c->stop_after && (int)c->n >= c->stop_after ? 7 : 0;
}

static void listing(void **state)
{
	struct fixture *f = *state;
	struct err e;
	const char *const addrs[] = {"zed@b.test", "amy@b.test", "bob@a.test"};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(account_add(f->db, addrs[i], pw("x"), &e), 1);
	struct collect c = {0};
	assert_int_equal(account_list(f->db, NULL, collect_fn, &c, &e), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.names[0], "amy@b.test");
	assert_string_equal(c.names[1], "bob@a.test");
	assert_string_equal(c.names[2], "zed@b.test");
	memset(&c, 0, sizeof(c));
	assert_int_equal(account_list(f->db, "B.test", collect_fn, &c, &e), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.names[1], "zed@b.test");
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(account_list(f->db, NULL, collect_fn, &c, &e), 7);
	assert_int_equal(c.n, 1);
}

static void readonly_handles(void **state)
{
	struct fixture *f = *state;
	struct err e;
	char later[160];
	snprintf(later, sizeof(later), "%s/later.lmdb", f->dir);
	/* Read-only on a missing file: finds nobody, does not fail. */
	struct account_db *ro;
	assert_int_equal(account_open(&ro, later, ACCOUNT_RDONLY, &e), 0);
	assert_int_equal(account_exists(ro, "dan@example.test", &e), 0);
	assert_int_equal(account_check_password(ro, "dan@example.test", "x", 1,
						NULL, 0, &e),
			 0);
	struct collect c = {0};
	assert_int_equal(account_list(ro, NULL, collect_fn, &c, &e), 0);
	assert_int_equal(c.n, 0);
	/* Writable without ACCOUNT_CREATE: a missing file is an error. */
	struct account_db *rw;
	assert_int_equal(account_open(&rw, later, 0, &e), -1);
	/* The file appears; the read-only handle sees the new account. */
	assert_int_equal(account_open(&rw, later, ACCOUNT_CREATE, &e), 0);
	assert_int_equal(account_add(rw, "dan@example.test", pw("pw"), &e), 1);
	assert_int_equal(account_check_password(ro, "dan@example.test", "pw",
						2, NULL, 0, &e),
			 1);
	/* And later changes too, without reopening. */
	assert_int_equal(account_del(rw, "dan@example.test", &e), 1);
	assert_int_equal(account_exists(ro, "dan@example.test", &e), 0);
	/* A read-only handle refuses changes. */
	assert_int_equal(account_add(ro, "eve@example.test", pw("pw"), &e), -1);
	assert_non_null(strstr(e.msg, "read-only"));
	account_close(&ro);
	account_close(&rw);
	account_close(&ro); /* NULL is accepted */
	char lock[200];
	snprintf(lock, sizeof(lock), "%s-lock", later);
	unlink(later);
	unlink(lock);
}

struct raw {
	const char *key, *val;
};

static int raw_put(struct db_txn *txn, void *ctx, struct err *e)
{
	const struct raw *r = ctx;
	return db_put(txn, "accounts", r->key, strlen(r->key), r->val,
		      strlen(r->val), e);
}

static void damaged_records(void **state)
{
	struct fixture *f = *state;
	struct err e;
	char good[PASSWD_HASH_MAX];
	static const struct passwd_cost cheap = {.ln = 4, .r = 1, .p = 1};
	assert_int_equal(passwd_hash_new("pw", 2, &cheap, good, sizeof(good),
					 &e),
			 0);
	char rec[512];
	static const struct {
		const char *fmt; /* %s: a valid hash */
		int want;        /* account_check_password result for "pw" */
	} cases[] = {
		{"v=1\nhash=%s\ncreated=1\nchanged=1\n", 1},
		{"v=1\nhash=%s\nfuture=field\n", 1}, /* unknown names ok */
		{"v=1\nhash=%s\nmaildir=x/y/\n", 1},
		{"v=1\nhash=%s\ndisabled=yes\n", 0},
		{"v=2\nhash=%s\n", -1},
		{"hash=%s\n", -1},
		{"v=1\nhash=%s", -1},               /* no final newline */
		{"v=1\nhash=%s\nhash=%s\n", -1},    /* repeated */
		{"v=1\nhash=%s\ncreated=-1\n", -1},
		{"v=1\nhash=%s\nmaildir=/etc/\n", -1},
		{"v=1\nhash=%s\nmaildir=a/../b/\n", -1},
		{"v=1\nhash=%s\nmaildir=a/b\n", -1},
		{"v=1\nhash=%s\ndisabled=maybe\n", -1},
		{"v=1\nhash=%s\nscram=junk\n", -1},
		{"v=1\ncreated=1\n", -1},           /* no hash */
		{"v=1\nhash=$scrypt$junk\n", -1},   /* unparsable hash */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(rec, sizeof(rec), cases[i].fmt, good, good);
#pragma GCC diagnostic pop
		/* LMDB forbids two handles on one file in a process. */
		account_close(&f->db);
		struct db_env *env;
		struct raw r = {"hurt@example.test", rec};
		assert_int_equal(db_open(&env, f->path, DB_NOSUBDIR, 4, &e), 0);
		assert_int_equal(db_write(env, raw_put, &r, &e), 0);
		db_close(&env);
		assert_int_equal(account_open(&f->db, f->path, 0, &e), 0);

		int got = account_check_password(f->db, "hurt@example.test",
						 "pw", 2, NULL, 0, &e);
		if (got != cases[i].want)
			fail_msg("case %zu: got %d, want %d", i, got,
				 cases[i].want);
		struct account_info info;
		got = account_get(f->db, "hurt@example.test", &info, &e);
		if (got != (cases[i].want < 0 ? -1 : 1))
			fail_msg("case %zu: account_get got %d", i, got);
		/* A damaged record is skipped by list, never fatal. */
		struct collect c = {0};
		assert_int_equal(account_list(f->db, NULL, collect_fn, &c, &e),
				 0);
		assert_int_equal(c.n, cases[i].want < 0 ? 0 : 1);
	}
	/* A key that is not a canonical address is skipped too. */
	account_close(&f->db);
	struct db_env *env;
	struct raw r = {"Not Canonical", "v=1\n"};
	assert_int_equal(db_open(&env, f->path, DB_NOSUBDIR, 4, &e), 0);
	assert_int_equal(db_write(env, raw_put, &r, &e), 0);
	db_close(&env);
	assert_int_equal(account_open(&f->db, f->path, 0, &e), 0);
	struct collect c = {0};
	assert_int_equal(account_list(f->db, NULL, collect_fn, &c, &e), 0);
	assert_int_equal(c.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(canon_table),
		cmocka_unit_test_setup_teardown(add_check_del, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_input_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(passwd_and_disable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(listing, setup, teardown),
		cmocka_unit_test_setup_teardown(readonly_handles, setup,
						teardown),
		cmocka_unit_test_setup_teardown(damaged_records, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
