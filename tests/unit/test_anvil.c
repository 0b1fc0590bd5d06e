/* SPDX-License-Identifier: MIT */
/*
 * test_anvil.c - the shared per-client table: keys, session counts and
 * limits across handles (each handle stands for a process), a process
 * killed with SIGKILL giving its slot back, failure counts that decay on
 * an injected clock, a full slot table and a full failure table, a file
 * with another layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/anvil.h"
#include "unit_tmpdir.h"

struct fx {
	char dir[64];
	char path[128];
};

static time_t fake_now;

static time_t fake_clock(void)
{
	return fake_now;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || unit_tmpdir_make(f->dir, sizeof(f->dir), "test_anvil") < 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/clients", f->dir);
	fake_now = 1000000;
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

static struct anvil *open_table(const struct fx *f, unsigned slots,
                                unsigned fails)
{
	struct anvil_opts o = {.slots = slots,
	                       .fails = fails,
	                       .fail_decay = 600,
	                       .clock = fake_clock};
	struct anvil *t;
	struct err e;
	if (anvil_open(f->path, &o, &t, &e) < 0)
		fail_msg("anvil_open: %s", e.msg);
	return t;
}

static struct anvil_key addr(const char *a)
{
	struct anvil_key k;
	assert_int_equal(anvil_key_addr(&k, a), 0);
	return k;
}

static void keys(void **state)
{
	(void)state;
	struct anvil_key a, b;
	assert_int_equal(anvil_key_addr(&a, "192.0.2.1"), 0);
	assert_int_equal(anvil_key_addr(&b, "::ffff:192.0.2.1"), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(anvil_key_addr(&b, "2001:db8::1"), 0);
	assert_memory_not_equal(a.data, b.data, 16);
	assert_int_equal(anvil_key_addr(&b, "local"), -1);
	assert_int_equal(anvil_key_addr(&b, "192.0.2.1x"), -1);
	char big[ANVIL_KEY_MAX + 1];
	memset(big, 'x', sizeof(big));
	assert_int_equal(anvil_key_name(&b, big, ANVIL_KEY_MAX), 0);
	assert_int_equal(b.len, ANVIL_KEY_MAX);
	assert_int_equal(anvil_key_name(&b, big, sizeof(big)), -1);
}

/* Two handles on one file behave like two processes. */
static void counts_and_limits(void **state)
{
	struct fx *f = *state;
	struct anvil *p1 = open_table(f, 0, 0), *p2 = open_table(f, 0, 0);
	struct anvil_key k = addr("192.0.2.7"), other = addr("192.0.2.8");
	struct anvil_key user;
	assert_int_equal(anvil_key_name(&user, "192.0.2.7", 9), 0);
	int s[4];
	assert_int_equal(anvil_enter(p1, &k, 2, &s[0]), 1);
	assert_true(s[0] >= 0);
	assert_int_equal(anvil_enter(p2, &k, 2, &s[1]), 2);
	assert_true(s[1] >= 0 && s[1] != s[0]);
	/* Over the limit: counted, but no slot taken. */
	assert_int_equal(anvil_enter(p1, &k, 2, &s[2]), 3);
	assert_int_equal(s[2], -1);
	assert_int_equal(anvil_sessions(p1, &k), 2);
	assert_int_equal(anvil_sessions(p2, &k), 2);
	/* Other addresses and other kinds of key count apart. */
	assert_int_equal(anvil_enter(p2, &other, 1, &s[2]), 1);
	assert_int_equal(anvil_enter(p1, &user, 1, &s[3]), 1);
	assert_int_equal(anvil_sessions(p1, &k), 2);
	/* No limit: always taken. */
	int extra;
	assert_int_equal(anvil_enter(p1, &k, 0, &extra), 3);
	assert_true(extra >= 0);
	anvil_leave(p1, &extra);
	assert_int_equal(extra, -1);
	anvil_leave(p1, &extra); /* a second leave does nothing */
	/* A slot given back is free again. */
	anvil_leave(p1, &s[0]);
	assert_int_equal(anvil_sessions(p2, &k), 1);
	assert_int_equal(anvil_enter(p1, &k, 2, &s[0]), 2);
	assert_true(s[0] >= 0);
	/* Closing a handle gives back all its slots. */
	anvil_close(&p2);
	assert_null(p2);
	assert_int_equal(anvil_sessions(p1, &k), 1);
	assert_int_equal(anvil_sessions(p1, &other), 0);
	anvil_close(&p1);
	anvil_close(&p1);
}

static void no_table(void **state)
{
	(void)state;
	struct anvil_key k = addr("192.0.2.1");
	int s = 5;
	assert_int_equal(anvil_enter(NULL, &k, 1, &s), 0);
	assert_int_equal(s, -1);
	anvil_leave(NULL, &s);
	assert_int_equal(anvil_sessions(NULL, &k), 0);
	assert_int_equal(anvil_fail(NULL, &k), 0);
	assert_int_equal(anvil_failures(NULL, &k), 0);
	anvil_fail_clear(NULL, &k);
	struct anvil *t;
	struct err e;
	/* A key that is no address counts nothing, even with a table. */
	char dir[64], path[128];
	assert_int_equal(unit_tmpdir_make(dir, sizeof(dir), "test_anvil"), 0);
	snprintf(path, sizeof(path), "%s/clients", dir);
	assert_int_equal(anvil_open(path, NULL, &t, &e), 0);
	assert_int_equal(anvil_key_addr(&k, "local"), -1);
	assert_int_equal(anvil_enter(t, &k, 1, &s), 0);
	assert_int_equal(s, -1);
	assert_int_equal(anvil_fail(t, &k), 0);
	assert_int_equal(anvil_failures(t, &k), 0);
	assert_int_equal(anvil_sessions(t, &k), 0);
	anvil_close(&t);
	unit_tmpdir_remove(dir);
	assert_int_equal(anvil_open("/nonexistent/dir/clients", NULL, &t, &e),
	                 -1);
	assert_null(t);
	assert_non_null(strstr(e.msg, "/nonexistent/dir/clients"));
}

static void wait_byte(int fd)
{
	char c;
	assert_int_equal(read(fd, &c, 1), 1);
}

/* A process that dies without leaving (SIGKILL) holds nothing. */
static void killed_process_releases(void **state)
{
	struct fx *f = *state;
	struct anvil *t = open_table(f, 0, 0);
	struct anvil_key k = addr("198.51.100.9");
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child opens its own handle (never an inherited one),
		 * enters, records a failure, and waits to be killed. */
		struct anvil *c;
		struct err e;
		int s;
		if (anvil_open(f->path, NULL, &c, &e) < 0 ||
		    anvil_enter(c, &k, 1, &s) != 1 || s < 0 ||
		    anvil_fail(c, &k) != 1)
			_exit(1);
		(void)write(ready[1], "x", 1);
		for (;;)
			pause();
	}
	close(ready[1]);
	wait_byte(ready[0]);
	close(ready[0]);
	int s;
	assert_int_equal(anvil_sessions(t, &k), 1);
	assert_int_equal(anvil_enter(t, &k, 1, &s), 2);
	assert_int_equal(s, -1);
	kill(pid, SIGKILL);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	/* Its slot is free (the key it left there is checked before it
	 * could cause a refusal); its failure is remembered. */
	assert_int_equal(anvil_enter(t, &k, 1, &s), 1);
	assert_true(s >= 0);
	assert_int_equal(anvil_sessions(t, &k), 1);
	assert_int_equal(anvil_failures(t, &k), 1);
	anvil_leave(t, &s);
	anvil_close(&t);
}

static void failures_decay(void **state)
{
	struct fx *f = *state;
	struct anvil *p1 = open_table(f, 0, 0), *p2 = open_table(f, 0, 0);
	struct anvil_key k = addr("203.0.113.5"), o = addr("203.0.113.6");
	assert_int_equal(anvil_failures(p1, &k), 0);
	/* Counted across processes. */
	assert_int_equal(anvil_fail(p1, &k), 1);
	assert_int_equal(anvil_fail(p2, &k), 2);
	assert_int_equal(anvil_fail(p1, &k), 3);
	assert_int_equal(anvil_fail(p2, &o), 1);
	/* One forgotten per full 600 s since the last failure. */
	fake_now += 599;
	assert_int_equal(anvil_failures(p2, &k), 3);
	fake_now += 1;
	assert_int_equal(anvil_failures(p2, &k), 2);
	fake_now += 1199;
	assert_int_equal(anvil_failures(p1, &k), 1);
	/* A new failure counts on from there and restarts the clock. */
	assert_int_equal(anvil_fail(p1, &k), 2);
	fake_now += 1199;
	assert_int_equal(anvil_failures(p1, &k), 1);
	fake_now += 1;
	assert_int_equal(anvil_failures(p1, &k), 0);
	assert_int_equal(anvil_fail(p1, &k), 1);
	/* A clock that goes back forgets nothing. */
	fake_now -= 5000;
	assert_int_equal(anvil_failures(p1, &k), 1);
	/* A successful login forgets. */
	anvil_fail_clear(p2, &k);
	assert_int_equal(anvil_failures(p1, &k), 0);
	anvil_fail_clear(p2, &k);
	assert_int_equal(anvil_fail(p1, &k), 1);
	anvil_close(&p1);
	anvil_close(&p2);
}

static void full_slot_table(void **state)
{
	struct fx *f = *state;
	struct anvil *p1 = open_table(f, 4, 8), *p2 = open_table(f, 4, 8);
	int s[5];
	char a[32];
	for (int i = 0; i < 4; i++) {
		snprintf(a, sizeof(a), "10.0.0.%d", i);
		struct anvil_key k = addr(a);
		assert_int_equal(anvil_enter(i % 2 ? p2 : p1, &k, 0, &s[i]), 1);
	}
	struct anvil_key k = addr("10.0.0.9");
	assert_int_equal(anvil_enter(p1, &k, 0, &s[4]), -1);
	assert_int_equal(s[4], -1);
	anvil_leave(p2, &s[1]);
	assert_int_equal(anvil_enter(p1, &k, 0, &s[4]), 1);
	assert_true(s[4] >= 0);
	anvil_close(&p2);
	/* The slots p2 held are free with it. */
	assert_int_equal(anvil_enter(p1, &k, 0, &s[1]), 2);
	assert_true(s[1] >= 0);
	anvil_close(&p1);
}

/* With 8 entries probed 8 at a time every key meets every other: the
 * 9th key recycles the one whose last failure is oldest. */
static void full_failure_table(void **state)
{
	struct fx *f = *state;
	struct anvil *t = open_table(f, 4, 8);
	char a[32];
	for (int i = 0; i < 8; i++) {
		snprintf(a, sizeof(a), "10.1.0.%d", i);
		struct anvil_key k = addr(a);
		fake_now++;
		assert_int_equal(anvil_fail(t, &k), 1);
		assert_int_equal(anvil_fail(t, &k), 2);
	}
	struct anvil_key first = addr("10.1.0.0"), second = addr("10.1.0.1");
	fake_now++;
	assert_int_equal(anvil_fail(t, &first), 3); /* now the newest */
	struct anvil_key n = addr("10.1.0.99");
	fake_now++;
	assert_int_equal(anvil_fail(t, &n), 1);
	assert_int_equal(anvil_failures(t, &second), 0); /* recycled */
	assert_int_equal(anvil_failures(t, &first), 3);
	for (int i = 2; i < 8; i++) {
		snprintf(a, sizeof(a), "10.1.0.%d", i);
		struct anvil_key k = addr(a);
		assert_int_equal(anvil_failures(t, &k), 2);
	}
	anvil_close(&t);
}

/* A file with another layout (or garbage) is reset, not trusted. */
static void other_layout_reset(void **state)
{
	struct fx *f = *state;
	int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	char junk[4096];
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	close(fd);
	struct anvil *t = open_table(f, 4, 8);
	struct anvil_key k = addr("10.2.0.1");
	assert_int_equal(anvil_sessions(t, &k), 0);
	assert_int_equal(anvil_failures(t, &k), 0);
	assert_int_equal(anvil_fail(t, &k), 1);
	anvil_close(&t);
	/* Same layout: kept. */
	t = open_table(f, 4, 8);
	assert_int_equal(anvil_failures(t, &k), 1);
	anvil_close(&t);
	/* Another geometry: reset. */
	t = open_table(f, 8, 8);
	assert_int_equal(anvil_failures(t, &k), 0);
	anvil_close(&t);
}

static void delay_policy(void **state)
{
	(void)state;
	assert_int_equal(anvil_fail_delay(0, 2, 30), 0);
	assert_int_equal(anvil_fail_delay(3, 0, 30), 0);
	assert_int_equal(anvil_fail_delay(1, 2, 30), 2);
	assert_int_equal(anvil_fail_delay(15, 2, 30), 30);
	assert_int_equal(anvil_fail_delay(16, 2, 30), 30);
	assert_int_equal(anvil_fail_delay(5, 7, 30), 30);
	assert_int_equal(anvil_fail_delay(4, 7, 30), 28);
	assert_int_equal(anvil_fail_delay(UINT32_MAX, 60, 30), 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(keys),
	        cmocka_unit_test_setup_teardown(counts_and_limits, setup,
	                                        teardown),
	        cmocka_unit_test(no_table),
	        cmocka_unit_test_setup_teardown(killed_process_releases, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(failures_decay, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(full_slot_table, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(full_failure_table, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(other_layout_reset, setup,
	                                        teardown),
	        cmocka_unit_test(delay_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
