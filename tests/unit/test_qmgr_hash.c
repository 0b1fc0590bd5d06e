/* SPDX-License-Identifier: MIT */
/*
 * test_qmgr_hash.c - qmgr's intrusive string-keyed hash table: find, add,
 * remove, growth, walk
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "qmgr/qmgr.h"

struct item {
	struct qmgr_hash_entry h;
	char key[16];
	int seen;
};

static void count(struct qmgr_hash_entry *e, void *ctx)
{
	((struct item *)e)->seen++;
	(*(int *)ctx)++;
}

static void test_hash(void **state)
{
	(void)state;
	enum { N = 5000 };
	static struct item items[N];
	struct qmgr_hash h;
	qmgr_hash_init(&h);
	for (int i = 0; i < N; i++) {
		(void)snprintf(items[i].key, sizeof(items[i].key), "k%d", i);
		items[i].h.key = items[i].key;
		qmgr_hash_add(&h, &items[i].h);
	}
	assert_int_equal(h.count, N);
	assert_true(h.nslots >= N); /* grew */
	for (int i = 0; i < N; i++)
		assert_ptr_equal(qmgr_hash_find(&h, items[i].key), &items[i].h);
	assert_null(qmgr_hash_find(&h, "missing"));
	for (int i = 0; i < N; i += 2)
		qmgr_hash_remove(&h, &items[i].h);
	assert_int_equal(h.count, N / 2);
	for (int i = 0; i < N; i++)
		assert_true((qmgr_hash_find(&h, items[i].key) != NULL) ==
		            (i % 2 == 1));
	int n = 0;
	qmgr_hash_walk(&h, count, &n);
	assert_int_equal(n, N / 2);
	for (int i = 1; i < N; i += 2)
		assert_int_equal(items[i].seen, 1);
	qmgr_hash_deinit(&h);
	assert_null(qmgr_hash_find(&h, "k1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
