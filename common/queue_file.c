/* SPDX-License-Identifier: MIT */
/*
 * queue_file.c - writing a new message into incoming/
 *
 * The producer's half of the queue hand-off (DESIGN.md "A message's way
 * through", step 2): a private file named by a fresh queue id, written
 * through a buffer so a message costs a few large write(2)s. Durability is
 * deliberately not done here: qmgr's group commit syncs many files at once
 * (DESIGN.md "The performance budget"), which is why finish never fsyncs.
 */
#include "common/queue_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

#define QF_BUFSIZE (64 * 1024)

struct queue_file {
	char id[QUEUE_ID_SIZE];
	char *path;
	int fd;
	uint64_t size;
	size_t blen;
	bool finished;
	bool failed;
	char buf[QF_BUFSIZE];
};

int queue_file_create(struct queue_file **out, const char *queue_dir,
                      struct err *e)
{
	struct queue_file *qf = xcalloc(1, sizeof(*qf));
	for (int tries = 0; tries < 5; tries++) {
		queue_id_new(qf->id);
		free(qf->path);
		qf->path = xasprintf("%s/incoming/%s", queue_dir, qf->id);
		qf->fd = open(qf->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		              0600);
		if (qf->fd >= 0) {
			*out = qf;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	err_set(e, "create %s: %s", qf->path, strerror(errno));
	free(qf->path);
	free(qf);
	*out = NULL;
	return -1;
}

const char *queue_file_id(const struct queue_file *qf)
{
	return qf->id;
}

uint64_t queue_file_size(const struct queue_file *qf)
{
	return qf->size;
}

static int write_all(struct queue_file *qf, const char *p, size_t n,
                     struct err *e)
{
	while (n > 0) {
		ssize_t w = write(qf->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err_set(e, "write %s: %s", qf->path,
			        w < 0 ? strerror(errno) : "no progress");
			qf->failed = true;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int flush_buf(struct queue_file *qf, struct err *e)
{
	int rc = write_all(qf, qf->buf, qf->blen, e);
	qf->blen = 0;
	return rc;
}

int queue_file_write(struct queue_file *qf, const void *p, size_t n,
                     struct err *e)
{
	if (qf->failed || qf->finished || qf->fd < 0) {
		err_set(e, "%s: write after failure or finish", qf->id);
		return -1;
	}
	qf->size += n;
	if (qf->blen + n <= QF_BUFSIZE) {
		memcpy(qf->buf + qf->blen, p, n);
		qf->blen += n;
		return 0;
	}
	if (flush_buf(qf, e) < 0)
		return -1;
	/* Large pieces go straight to the file. */
	if (n >= QF_BUFSIZE)
		return write_all(qf, p, n, e);
	memcpy(qf->buf, p, n);
	qf->blen = n;
	return 0;
}

int queue_file_finish(struct queue_file *qf, struct err *e)
{
	if (qf->failed || qf->fd < 0 || flush_buf(qf, e) < 0)
		return -1;
	int rc = close(qf->fd);
	qf->fd = -1;
	if (rc < 0) {
		/* close() reports delayed write errors (quota, NFS). */
		err_set(e, "close %s: %s", qf->path, strerror(errno));
		qf->failed = true;
		return -1;
	}
	qf->finished = true;
	return 0;
}

static void release(struct queue_file **qfp, bool unlink_it)
{
	struct queue_file *qf = *qfp;
	if (!qf)
		return;
	if (qf->fd >= 0)
		close(qf->fd);
	if (unlink_it)
		(void)unlink(qf->path);
	free(qf->path);
	free(qf);
	*qfp = NULL;
}

void queue_file_abort(struct queue_file **qfp)
{
	release(qfp, true);
}

void queue_file_free(struct queue_file **qfp)
{
	release(qfp, *qfp && !(*qfp)->finished);
}
