/* SPDX-License-Identifier: MIT */
/*
 * qmgr_sync.c - making one batch of queue files durable
 *
 * Two ways, chosen by qmgr_sync_method (DESIGN.md "The performance
 * budget" asks to measure both; bench/ does):
 *   syncfs     one syncfs(2) on the queue filesystem: every dirty page and
 *              the journal in one go. Cheapest per file when the queue
 *              filesystem carries little else; it also flushes unrelated
 *              dirty data on that filesystem.
 *   fdatasync  start write-back of every file first (sync_file_range), so
 *              the first fdatasync's journal commit carries the whole
 *              batch and the others find their data already stable; then
 *              fsync the queue/ directory for the rename entries. Its
 *              cost depends only on the batch, but each call still
 *              flushes the disk cache, so it grows with the batch.
 *   auto       fdatasync below QMGR_SYNC_AUTO_SYNCFS_FROM files, syncfs
 *              from there on (bench/run.sh shows why).
 * Either way, when this returns 0 the files' data and names survive a
 * crash; only then may the index entries be written (qmgr_commit.c).
 */
#include "qmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

int qmgr_sync_parse(const char *name, enum qmgr_sync_method *out)
{
	if (strcmp(name, "syncfs") == 0)
		*out = QMGR_SYNC_SYNCFS;
	else if (strcmp(name, "fdatasync") == 0)
		*out = QMGR_SYNC_FDATASYNC;
	else if (strcmp(name, "auto") == 0)
		*out = QMGR_SYNC_AUTO;
	else
		return -1;
	return 0;
}

static int sync_each(const struct qmgr_queue *q, char *const *ids, size_t n,
                     struct err *e)
{
	int *fds = xcalloc(n ? n : 1, sizeof(int));
	int rc = 0;
	size_t opened = 0;
	for (; opened < n; opened++) {
		fds[opened] =
		        openat(q->queue_fd, ids[opened], O_RDONLY | O_CLOEXEC);
		if (fds[opened] < 0) {
			err_set(e, "open queue/%s: %s", ids[opened],
			        strerror(errno));
			rc = -1;
			break;
		}
		/* Start write-back now; failure here is only lost speed. */
		(void)sync_file_range(fds[opened], 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	for (size_t i = 0; rc == 0 && i < opened; i++) {
		if (fdatasync(fds[i]) < 0) {
			err_set(e, "fdatasync queue/%s: %s", ids[i],
			        strerror(errno));
			rc = -1;
		}
	}
	for (size_t i = 0; i < opened; i++)
		close(fds[i]);
	free(fds);
	if (rc == 0 && fsync(q->queue_fd) < 0) {
		err_set(e, "fsync queue/: %s", strerror(errno));
		rc = -1;
	}
	return rc;
}

int qmgr_sync_files(const struct qmgr_queue *q, enum qmgr_sync_method m,
                    char *const *ids, size_t n, struct err *e)
{
	if (n == 0)
		return 0;
	if (m == QMGR_SYNC_AUTO)
		m = n >= QMGR_SYNC_AUTO_SYNCFS_FROM ? QMGR_SYNC_SYNCFS
		                                    : QMGR_SYNC_FDATASYNC;
	if (m == QMGR_SYNC_FDATASYNC)
		return sync_each(q, ids, n, e);
	if (syncfs(q->queue_fd) < 0) {
		err_set(e, "syncfs %s: %s", q->dir, strerror(errno));
		return -1;
	}
	return 0;
}
