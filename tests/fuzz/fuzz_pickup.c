/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pickup.c - what a local user hands the pickup service: the submit
 * request and the message in a sealed memfd
 *
 * Byte 0 picks the part. Odd: the rest is IPC messages, fed to
 * smtpd_pickup_req_add() until a request is complete or refused; a
 * complete one has a safe sender, a safe or no ENVID, and exactly nrcpt
 * safe recipients. Even: the rest, run-length expanded (0xff c hi lo is
 * (hi * 256 + lo + 1) copies of c, so a small input can reach the 64 KiB
 * read boundaries of the copy loop), becomes a sealed memfd that goes
 * through smtpd_pickup_check_fd() and smtpd_pickup_copy() into a real
 * queue file. The file must hold our two-line Received: header and then
 * exactly the message with CRLF turned into LF and a final LF added
 * when missing; the 8-bit flag must say whether any byte has the high
 * bit set.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/params.h"
#include "common/queue_env.h"
#include "common/queue_file.h"
#include "common/xalloc.h"
#include "smtpd/smtpd_pickup.h"
#include "../unit/unit_tmpdir.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EXPANDED_MAX (256u << 10) /* four reads of the copy loop */
#define SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static char dir[64];

static void cleanup(void)
{
	unit_tmpdir_remove(dir);
}

static void setup(void)
{
	struct err e;
	CHECK(unit_tmpdir_make(dir, sizeof(dir), "fuzz_pickup") == 0);
	atexit(cleanup);
	char *p = xasprintf("%s/main.cf", dir);
	FILE *f = fopen(p, "w");
	CHECK(f);
	fprintf(f, "queue_directory = %s\nmyhostname = mx.example.test\n", dir);
	CHECK(fclose(f) == 0);
	free(p);
	p = xasprintf("%s/incoming", dir);
	CHECK(mkdir(p, 0700) == 0);
	free(p);
	CHECK(params_load(dir, NULL, NULL, NULL, &e) == 0);
	(void)log_to_file("/dev/null");
}

static int request_add(const struct ipc_msg *m, void *ctx)
{
	struct smtpd_pickup_req *req = ctx;
	struct err e;
	int rc = smtpd_pickup_req_add(req, m, &e);
	if (rc != 1)
		return rc < 0;
	CHECK(req->sender && queue_addr_safe(req->sender, strlen(req->sender)));
	CHECK(!req->envid || (strlen(req->envid) <= QUEUE_ENVID_MAX &&
			      queue_addr_safe(req->envid, strlen(req->envid))));
	CHECK(req->nrcpt >= 1 && req->nrcpt <= QUEUE_RCPT_MAX);
	for (size_t i = 0; i < req->nrcpt; i++) {
		const char *a = req->rcpts[i].address;
		CHECK(a && a[0] && queue_addr_safe(a, strlen(a)));
	}
	return 1;
}

static void request(const uint8_t *data, size_t size)
{
	struct smtpd_pickup_req req = {.arena = arena_new()};
	fuzz_ipc_each(data, size, request_add, &req);
	arena_free(&req.arena);
}

/* The run-length expansion described at the top. */
static void expand(const uint8_t *d, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n && out->len < EXPANDED_MAX; i++) {
		if (d[i] != 0xff || i + 3 >= n) {
			(void)buf_append_char(out, (char)d[i]);
			continue;
		}
		size_t count = ((size_t)d[i + 2] << 8 | d[i + 3]) + 1;
		char run[256];
		memset(run, d[i + 1], sizeof(run));
		while (count > 0 && out->len < EXPANDED_MAX) {
			size_t k = count < sizeof(run) ? count : sizeof(run);
			if (k > EXPANDED_MAX - out->len)
				k = EXPANDED_MAX - out->len;
			(void)buf_append(out, run, k);
			count -= k;
		}
		i += 3;
	}
}

/* What the queue file must hold after the Received: header (*len bytes;
 * the caller frees). */
static char *model(const char *m, size_t n, size_t *len, bool *eight)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;
	*eight = false;
	for (size_t i = 0; i < n; i++) {
		if (m[i] == '\r' && i + 1 < n && m[i + 1] == '\n')
			continue;
		if ((unsigned char)m[i] & 0x80)
			*eight = true;
		out[o++] = m[i];
	}
	if (o && out[o - 1] != '\n')
		out[o++] = '\n';
	*len = o;
	return out;
}

static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	char *p = xmalloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
		CHECK(r > 0);
		got += (size_t)r;
	}
	close(fd);
	p[got] = 0;
	*len = got;
	return p;
}

static void copy(const uint8_t *data, size_t size)
{
	struct buf msg;
	struct err e;
	buf_init(&msg, 0);
	expand(data, size, &msg);
	int fd = memfd_create("fuzz", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(msg.len == 0 || write(fd, msg.data, msg.len) == (ssize_t)msg.len);
	CHECK(fcntl(fd, F_ADD_SEALS, SEALS) == 0);
	uint64_t fsize;
	CHECK(smtpd_pickup_check_fd(fd, EXPANDED_MAX, &fsize, &e) == 0);
	CHECK(fsize == msg.len);

	struct queue_file *qf;
	bool eight, want_eight;
	CHECK(queue_file_create(&qf, dir, &e) == 0);
	CHECK(smtpd_pickup_copy(qf, fd, fsize, 1234, &eight, &e) == 0);
	CHECK(queue_file_finish(qf, &e) == 0);
	close(fd);
	char *path = xasprintf("%s/incoming/%s", dir, queue_file_id(qf));
	size_t len;
	char *got = read_file(path, &len);
	CHECK(len == queue_file_size(qf));
	char *head = xasprintf("Received: by mx.example.test (Posthorn, "
			       "from userid 1234)\n\tid %s; ",
			       queue_file_id(qf));
	CHECK(strncmp(got, head, strlen(head)) == 0);
	const char *nl = memchr(got + strlen(head), '\n', len - strlen(head));
	CHECK(nl);
	size_t body = (size_t)(nl + 1 - got);
	size_t want_len;
	char *want = model(msg.data, msg.len, &want_len, &want_eight);
	CHECK(eight == want_eight);
	CHECK(len - body == want_len);
	CHECK(memcmp(got + body, want, want_len) == 0);
	queue_file_abort(&qf);
	free(head);
	free(got);
	free(path);
	free(want);
	buf_deinit(&msg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	setup();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		request(data + 1, size - 1);
	else
		copy(data + 1, size - 1);
	return 0;
}
