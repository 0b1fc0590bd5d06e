/* SPDX-License-Identifier: MIT */
/*
 * imapd_limits.c - per-user and per-address session counts via locks
 *
 * A slot is byte i of the key's file, locked with F_OFD_SETLK. Removing a
 * file is only done by a process that could lock all max bytes (so nobody
 * holds a slot); a process that locked a slot in a file that was removed
 * meanwhile notices (the path names another inode, or none) and starts
 * over. A process that finds every slot busy looks once more after a
 * short pause, in case it raced with such a removal.
 */
#include "imapd/imapd_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"

struct imapd_limit {
	int fd;
	unsigned max;
	char *path;
};

/* dir/kind-key with bytes outside [A-Za-z0-9.@_-] written as %XX. */
static char *key_path(const char *dir, const char *kind, const char *key)
{
	struct buf b;
	buf_init(&b, 4096);
	buf_printf(&b, "%s/%s-", dir, kind);
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		bool safe = (*p >= 'a' && *p <= 'z') ||
		            (*p >= 'A' && *p <= 'Z') ||
		            (*p >= '0' && *p <= '9') || strchr(".@_-", *p);
		if (safe)
			buf_append_char(&b, (char)*p);
		else
			buf_printf(&b, "%%%02X", *p);
	}
	return buf_take(&b);
}

static int lock_range(int fd, short type, off_t start, off_t len)
{
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	return fcntl(fd, F_OFD_SETLK, &fl);
}

/* Is fd still the file at path? */
static bool still_there(int fd, const char *path)
{
	struct stat a, b;
	if (fstat(fd, &a) < 0 || stat(path, &b) < 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* One attempt: 1 taken, 0 full, 2 raced with a removal, -1 error. */
static int attempt(const char *path, unsigned max, int *fd_out, struct err *e)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err_set(e, "open %s: %s", path, strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < max; i++) {
		if (lock_range(fd, F_WRLCK, (off_t)i, 1) < 0) {
			if (errno == EAGAIN || errno == EACCES)
				continue;
			err_set(e, "lock %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (!still_there(fd, path)) {
			close(fd);
			return 2;
		}
		*fd_out = fd;
		return 1;
	}
	bool there = still_there(fd, path);
	close(fd);
	return there ? 0 : 2;
}

int imapd_limit_take(const char *dir, const char *kind, const char *key,
                     unsigned max, struct imapd_limit **out, struct err *e)
{
	*out = NULL;
	if (!dir)
		return 1;
	char *path = key_path(dir, kind, key);
	int rc = 0, fd = -1;
	for (int tries = 0; tries < 20; tries++) {
		rc = attempt(path, max, &fd, e);
		if (rc == 1 || rc < 0)
			break;
		if (rc == 0 && tries >= 1)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (rc != 1) {
		free(path);
		return rc == 2 ? 0 : rc;
	}
	struct imapd_limit *l = xmalloc(sizeof(*l));
	l->fd = fd;
	l->max = max;
	l->path = path;
	*out = l;
	return 1;
}

void imapd_limit_release(struct imapd_limit **lp)
{
	struct imapd_limit *l = *lp;
	if (!l)
		return;
	/* Ours plus every other slot: nobody else holds one, the file can
	 * go. Slots past max (after a lowered limit) count too. */
	if (lock_range(l->fd, F_WRLCK, 0, 0) == 0 &&
	    still_there(l->fd, l->path))
		(void)unlink(l->path);
	close(l->fd);
	free(l->path);
	free(l);
	*lp = NULL;
}
