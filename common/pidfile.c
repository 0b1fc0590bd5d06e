/* SPDX-License-Identifier: MIT */
/*
 * pidfile.c - lock-backed pid files
 */
#include "common/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/str.h"

static pid_t read_pid(int fd)
{
	char b[32];
	ssize_t n = pread(fd, b, sizeof(b) - 1, 0);
	if (n <= 0)
		return 0;
	b[n] = 0;
	char *nl = strchr(b, '\n');
	if (nl)
		*nl = 0;
	uint64_t v;
	if (parse_uint(str_trim(b), 1, 0x7fffffff, &v) < 0)
		return 0;
	return (pid_t)v;
}

int pidfile_acquire(const char *path, struct err *e)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		err_set(e, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		pid_t other = read_pid(fd);
		err_set(e, "already running (pid %ld, %s)", (long)other, path);
		close(fd);
		return -1;
	}
	char b[32];
	int n = snprintf(b, sizeof(b), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, b, (size_t)n, 0) != n) {
		err_set(e, "write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int pidfile_update(int fd)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, b, (size_t)n, 0) != n)
		return -1;
	return 0;
}

void pidfile_release(const char *path, int fd)
{
	(void)unlink(path);
	if (fd >= 0)
		close(fd);
}

pid_t pidfile_owner(const char *path, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		err_set(e, "open %s: %s", path, strerror(errno));
		return -1;
	}
	pid_t pid = 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			pid = read_pid(fd);
	} else {
		(void)flock(fd, LOCK_UN);
	}
	close(fd);
	return pid;
}
