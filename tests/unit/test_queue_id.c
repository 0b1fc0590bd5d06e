/* SPDX-License-Identifier: MIT */
/*
 * test_queue_id.c - queue ids: form, uniqueness, time order, validation
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "common/queue_id.h"

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void new_ids_are_valid_unique_and_ordered(void **state)
{
	(void)state;
	enum { N = 20000 };
	char(*ids)[QUEUE_ID_SIZE] = calloc(N, QUEUE_ID_SIZE);
	for (int i = 0; i < N; i++) {
		queue_id_new(ids[i]);
		assert_int_equal(strlen(ids[i]), QUEUE_ID_LEN);
		assert_true(queue_id_valid(ids[i], QUEUE_ID_LEN));
		/* Generated in order: bytewise order is creation order. */
		if (i > 0 && strcmp(ids[i - 1], ids[i]) >= 0)
			fail_msg("id %d (%s) not after %s", i, ids[i],
			         ids[i - 1]);
	}
	qsort(ids, N, QUEUE_ID_SIZE, cmp_id);
	for (int i = 1; i < N; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	free(ids);
}

static void processes_do_not_collide(void **state)
{
	(void)state;
	enum { PROCS = 4, PER = 2000 };
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			char id[QUEUE_ID_SIZE];
			for (int i = 0; i < PER; i++) {
				queue_id_new(id);
				if (write(fds[1], id, QUEUE_ID_LEN) !=
				    QUEUE_ID_LEN)
					_exit(1);
			}
			_exit(0);
		}
	}
	close(fds[1]);
	char(*ids)[QUEUE_ID_SIZE] = calloc(PROCS * PER, QUEUE_ID_SIZE);
	size_t n = 0;
	char buf[QUEUE_ID_LEN];
	size_t have = 0;
	ssize_t r;
	while ((r = read(fds[0], buf + have, QUEUE_ID_LEN - have)) > 0) {
		have += (size_t)r;
		if (have == QUEUE_ID_LEN) {
			memcpy(ids[n++], buf, QUEUE_ID_LEN);
			have = 0;
		}
	}
	close(fds[0]);
	for (int p = 0; p < PROCS; p++)
		(void)wait(NULL);
	assert_int_equal(n, PROCS * PER);
	qsort(ids, n, QUEUE_ID_SIZE, cmp_id);
	for (size_t i = 1; i < n; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			fail_msg("duplicate id %s", ids[i]);
	free(ids);
}

static void layout_and_time(void **state)
{
	(void)state;
	char a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE];
	queue_id_make(a, 0, 0, 0);
	assert_string_equal(a, "000000000000000");
	uint64_t t = UINT64_C(1763771234567890);
	queue_id_make(a, t, 4194303, 3843);
	assert_true(queue_id_valid(a, strlen(a)));
	assert_int_equal(queue_id_time_us(a), t);
	assert_string_equal(a + 13, "zz");
	/* Later time sorts later whatever the pid. */
	queue_id_make(b, t + 1, 1, 0);
	assert_true(strcmp(a, b) < 0);
}

static void validation(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
	        {"4Xb2kQ0z7Lz9aB0", true},
	        {"4Xb2kQ0z7Lz9aB", false},   /* short */
	        {"4Xb2kQ0z7Lz9aB01", false}, /* long */
	        {"4Xb2kQ0z7Lz9a/0", false},  /* path separator */
	        {"../../etc/passw", false},
	        {"4Xb2kQ0z7Lz9a 0", false},
	        {"", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (queue_id_valid(cases[i].s, strlen(cases[i].s)) !=
		    cases[i].ok)
			fail_msg("queue_id_valid(\"%s\"): got %d, want %d",
			         cases[i].s, !cases[i].ok, cases[i].ok);
	/* An embedded NUL within the length is not a valid id. */
	assert_false(queue_id_valid("4Xb2kQ0z7Lz9a\0"
	                            "0",
	                            QUEUE_ID_LEN));
	assert_false(queue_id_valid(NULL, QUEUE_ID_LEN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(new_ids_are_valid_unique_and_ordered),
	        cmocka_unit_test(processes_do_not_collide),
	        cmocka_unit_test(layout_and_time),
	        cmocka_unit_test(validation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
