/* SPDX-License-Identifier: MIT */
/*
 * queue_commit.c - commits/s into the queue, beside the disk's floor
 *
 *   queue_commit floor DIR SECONDS
 *       fsync'd 1 KB file creates/s of one writer in DIR, and files/s
 *       when 64 new files share one syncfs (the two figures DESIGN.md's
 *       performance budget starts from)
 *   queue_commit commit CONFIG_DIR PRODUCERS SECONDS
 *       PRODUCERS processes each loop: write a 1 KB message into
 *       incoming/ (common/queue_file.h) and commit it through qmgr
 *       (common/qmgr_client.h), as smtpd does; prints commits/s
 *
 * A benchmark reports, it never fails a build (bench/run.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/privs.h"
#include "common/qmgr_client.h"
#include "common/queue_file.h"
#include "common/str.h"
#include "common/xalloc.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char kbyte[1024];

static int floor_bench(const char *dir, double secs)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		perror(dir);
		return 1;
	}
	long n = 0;
	double t0 = now_s();
	while (now_s() - t0 < secs) {
		char name[64];
		snprintf(name, sizeof(name), "floor.%ld", n);
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || write(fd, kbyte, sizeof(kbyte)) < 0 ||
		    fsync(fd) < 0) {
			perror("floor");
			return 1;
		}
		close(fd);
		n++;
	}
	double one = (double)n / (now_s() - t0);
	for (long i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "floor.%ld", i);
		(void)unlinkat(dfd, name, 0);
	}
	(void)syncfs(dfd);
	long m = 0;
	t0 = now_s();
	while (now_s() - t0 < secs) {
		for (int k = 0; k < 64; k++, m++) {
			char name[64];
			snprintf(name, sizeof(name), "batch.%ld", m);
			int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL,
			                0600);
			if (fd < 0 || write(fd, kbyte, sizeof(kbyte)) < 0) {
				perror("batch");
				return 1;
			}
			close(fd);
		}
		(void)syncfs(dfd);
	}
	double batch = (double)m / (now_s() - t0);
	for (long i = 0; i < m; i++) {
		char name[64];
		snprintf(name, sizeof(name), "batch.%ld", i);
		(void)unlinkat(dfd, name, 0);
	}
	printf("floor: %.0f fsync'd file creates/s (one writer), "
	       "%.0f files/s with one syncfs per 64\n",
	       one, batch);
	return 0;
}

static long producer(double secs)
{
	struct err e;
	struct queue_rcpt r = {.address = "bench@example.test"};
	long n = 0;
	double t0 = now_s();
	while (now_s() - t0 < secs) {
		struct queue_file *qf;
		if (queue_file_create(&qf, params->queue_directory, &e) < 0 ||
		    queue_file_write(qf, kbyte, sizeof(kbyte), &e) < 0 ||
		    queue_file_finish(qf, &e) < 0) {
			fprintf(stderr, "bench: %s\n", e.msg);
			queue_file_abort(&qf);
			return -1;
		}
		struct queue_envelope env = {
		        .sender = "sender@example.test",
		        .arrival_us = (int64_t)(now_s() * 1e6),
		        .size = queue_file_size(qf),
		        .protocol = "ESMTP",
		        .rcpts = &r,
		        .nrcpt = 1,
		};
		memcpy(env.queue_id, queue_file_id(qf), QUEUE_ID_SIZE);
		if (qmgr_commit(&env, &e) < 0) {
			fprintf(stderr, "bench: commit: %s\n", e.msg);
			queue_file_abort(&qf);
			return -1;
		}
		queue_file_free(&qf);
		n++;
	}
	return n;
}

static int commit_bench(const char *config, long procs, double secs)
{
	struct err e;
	if (params_load(config, NULL, NULL, NULL, &e) < 0) {
		fprintf(stderr, "bench: %s\n", e.msg);
		return 1;
	}
	if (privs_is_root()) {
		uid_t uid;
		gid_t gid;
		if (privs_lookup_user(params->mail_owner, &uid, &gid, &e) < 0 ||
		    privs_drop(uid, gid, (gid_t)-1, &e) < 0) {
			fprintf(stderr, "bench: %s\n", e.msg);
			return 1;
		}
	}
	int fds[2];
	if (pipe(fds) < 0)
		return 1;
	double t0 = now_s();
	for (long i = 0; i < procs; i++) {
		if (fork() == 0) {
			long n = producer(secs);
			if (write(fds[1], &n, sizeof(n)) != sizeof(n))
				_exit(1);
			_exit(0);
		}
	}
	close(fds[1]);
	long total = 0, n;
	bool failed = false;
	while (read(fds[0], &n, sizeof(n)) == sizeof(n)) {
		if (n < 0)
			failed = true;
		else
			total += n;
	}
	while (wait(NULL) > 0)
		;
	double el = now_s() - t0;
	printf("commit: %ld producer(s): %.0f commits/s (%ld in %.1fs)%s\n",
	       procs, (double)total / el, total, el,
	       failed ? " [some producers failed]" : "");
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t v;
	memset(kbyte, 'x', sizeof(kbyte));
	for (size_t i = 71; i < sizeof(kbyte); i += 72)
		kbyte[i] = '\n';
	log_to_terminal();
	if (argc == 4 && strcmp(argv[1], "floor") == 0 &&
	    parse_uint(argv[3], 1, 600, &v) == 0)
		return floor_bench(argv[2], (double)v);
	uint64_t p;
	if (argc == 5 && strcmp(argv[1], "commit") == 0 &&
	    parse_uint(argv[3], 1, 1000, &p) == 0 &&
	    parse_uint(argv[4], 1, 600, &v) == 0)
		return commit_bench(argv[2], (long)p, (double)v);
	fprintf(stderr, "usage: queue_commit floor DIR SECONDS | "
	                "commit CONFIG_DIR PRODUCERS SECONDS\n");
	return 2;
}
