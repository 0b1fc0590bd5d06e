/* SPDX-License-Identifier: MIT */
/*
 * test_smtpd_pickup.c - pickup: which descriptors it accepts, the copy into the
 * queue file (Received:, CRLF to LF, final newline, 8-bit detection), and
 * the submit request parser
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/params.h"
#include "common/proto_pickup.h"
#include "common/proto_qmgr.h"
#include "common/queue_file.h"
#include "common/xalloc.h"
#include "smtpd/smtpd_pickup.h"
#include "unit_tmpdir.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	struct err e;
	if (unit_tmpdir_make(dir, sizeof(dir), "test_smtpd_pickup") < 0)
		return -1;
	char *p = xasprintf("%s/main.cf", dir);
	FILE *f = fopen(p, "w");
	fprintf(f, "queue_directory = %s\nmyhostname = mx.example.test\n", dir);
	fclose(f);
	free(p);
	p = xasprintf("%s/incoming", dir);
	mkdir(p, 0700);
	free(p);
	return params_load(dir, NULL, NULL, NULL, &e);
}

static int teardown(void **state)
{
	(void)state;
	unit_tmpdir_remove(dir);
	return 0;
}

static int memfd_with(const char *data, size_t len, int seals)
{
	int fd = memfd_create("t", MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

#define ALL_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

static void descriptors(void **state)
{
	(void)state;
	struct err e;
	uint64_t size;
	int fd = memfd_with("abc", 3, ALL_SEALS);
	assert_int_equal(smtpd_pickup_check_fd(fd, 100, &size, &e), 0);
	assert_int_equal(size, 3);
	assert_int_equal(smtpd_pickup_check_fd(fd, 2, &size, &e), -1);
	assert_non_null(strstr(e.msg, "too large"));
	close(fd);
	/* Unsealed, or sealed against writes only: refused. */
	fd = memfd_with("abc", 3, 0);
	assert_int_equal(smtpd_pickup_check_fd(fd, 100, &size, &e), -1);
	close(fd);
	fd = memfd_with("abc", 3, F_SEAL_WRITE);
	assert_int_equal(smtpd_pickup_check_fd(fd, 100, &size, &e), -1);
	close(fd);
	/* A pipe or an ordinary file: refused. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(smtpd_pickup_check_fd(p[0], 100, &size, &e), -1);
	close(p[0]);
	close(p[1]);
	fd = open("/etc/hostname", O_RDONLY);
	if (fd >= 0) {
		assert_int_equal(smtpd_pickup_check_fd(fd, 100000, &size, &e), -1);
		close(fd);
	}
}

static char *copy(const char *in, size_t len, bool *eightbit)
{
	struct err e;
	struct queue_file *qf;
	int fd = memfd_with(in, len, ALL_SEALS);
	assert_int_equal(queue_file_create(&qf, dir, &e), 0);
	assert_int_equal(smtpd_pickup_copy(qf, fd, len, 1234, eightbit, &e), 0);
	assert_int_equal(queue_file_finish(qf, &e), 0);
	char *path = xasprintf("%s/incoming/%s", dir, queue_file_id(qf));
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *out = xcalloc(1, 1 << 20);
	size_t n = fread(out, 1, (1 << 20) - 1, f);
	fclose(f);
	out[n] = 0;
	assert_int_equal(n, queue_file_size(qf));
	/* The header names uid and queue id. */
	char *want = xasprintf("Received: by mx.example.test (Posthorn, from "
	                       "userid 1234)\n\tid %s; ",
	                       queue_file_id(qf));
	assert_true(strncmp(out, want, strlen(want)) == 0);
	free(want);
	queue_file_abort(&qf);
	free(path);
	close(fd);
	/* Return what follows the Received: header. */
	char *body = strchr(strchr(out, '\n') + 1, '\n') + 1;
	char *r = xstrdup(body);
	free(out);
	return r;
}

static void copying(void **state)
{
	(void)state;
	bool eight;
	char *s = copy("A: b\r\n\r\nline\r\nbare\rcr\r\n", 24, &eight);
	assert_string_equal(s, "A: b\n\nline\nbare\rcr\n");
	assert_false(eight);
	free(s);
	s = copy("no newline", 10, &eight);
	assert_string_equal(s, "no newline\n");
	free(s);
	s = copy("caf\xc3\xa9\n", 6, &eight);
	assert_true(eight);
	free(s);
	s = copy("ends in CR\r", 11, &eight);
	assert_string_equal(s, "ends in CR\r\n");
	free(s);
	/* CRLF split over the 64 KiB read boundary. */
	size_t n = 64 * 1024 + 2;
	char *big = xmalloc(n);
	memset(big, 'x', n);
	big[64 * 1024 - 1] = '\r';
	big[64 * 1024] = '\n';
	big[n - 1] = '\n';
	s = copy(big, n, &eight);
	assert_int_equal(strlen(s), n - 1);
	assert_null(strchr(s, '\r'));
	free(s);
	free(big);
	/* A CR held back from the first read, then a second read whose
	 * output reaches the end of the copy buffer with "\r\rx": the CR
	 * and the x once went one byte past it (found by fuzz_pickup). */
	n = 2 * 64 * 1024;
	big = xmalloc(n);
	memset(big, 'a', n);
	big[64 * 1024 - 1] = '\r';
	memcpy(big + n - 3, "\r\rx", 3);
	s = copy(big, n, &eight);
	assert_int_equal(strlen(s), n + 1);
	assert_memory_equal(s + 64 * 1024 - 1, "\ra", 2);
	assert_string_equal(s + n - 3, "\r\rx\n");
	free(s);
	free(big);
}

static int feed(const char *const *attrs, struct smtpd_pickup_req *req, struct err *e)
{
	struct ipc_msg m;
	ipc_msg_init(&m);
	for (size_t i = 0; attrs[i]; i++) {
		const char *eq = strchr(attrs[i], '=');
		char name[40];
		snprintf(name, sizeof(name), "%.*s", (int)(eq - attrs[i]),
		         attrs[i]);
		assert_int_equal(ipc_put(&m, name, eq + 1, strlen(eq + 1)), 0);
	}
	int rc = smtpd_pickup_req_add(req, &m, e);
	ipc_msg_deinit(&m);
	return rc;
}

static void requests(void **state)
{
	(void)state;
	static const struct {
		const char *attrs[8];
		int want;
	} cases[] = {
	        {{"type=submit", "sender=u", "nrcpt=1", "rcpt=a"}, 1},
	        {{"type=submit", "sender=", "nrcpt=1", "rcpt=a@b", "ret=hdrs",
	          "envid=x"},
	         1},
	        {{"type=rcpt", "rcpt=a"}, 0},
	        {{"type=commit", "sender=u", "nrcpt=1", "rcpt=a"}, -1},
	        {{"type=submit", "nrcpt=1", "rcpt=a"}, -1},
	        {{"type=submit", "sender=u", "nrcpt=2", "rcpt=a"}, -1},
	        {{"type=submit", "sender=u", "rcpt=a"}, -1},
	        {{"type=submit", "sender=u\nX: y", "nrcpt=1", "rcpt=a"}, -1},
	        {{"type=submit", "sender=u", "nrcpt=1", "rcpt=a", "ret=all"},
	         -1},
	        {{"type=submit", "sender=u", "nrcpt=1", "rcpt=a b"}, -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpd_pickup_req req = {.arena = arena_new()};
		struct err e = {{0}};
		int rc = feed(cases[i].attrs, &req, &e);
		if (rc != cases[i].want)
			fail_msg("case %zu: got %d (%s), want %d", i, rc, e.msg,
			         cases[i].want);
		arena_free(&req.arena);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(descriptors),
	        cmocka_unit_test(copying),
	        cmocka_unit_test(requests),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
