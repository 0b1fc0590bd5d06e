/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_PIDFILE_H
#define POSTHORN_COMMON_PIDFILE_H

#include <sys/types.h>

#include "common/err.h"

/*
 * A pid file that is also a lock: the owner holds an exclusive flock for
 * its whole life, so "is it running?" never trusts a stale number left by
 * a crash.
 */

/* Creates/locks path and writes our pid. Returns the open fd (keep it open;
 * it is close-on-exec), or -1 with e set; if another live process holds
 * the lock, -1 with e naming its pid. */
int pidfile_acquire(const char *path, struct err *e);
/* Rewrites our pid into a file we hold (after daemonising). 0 or -1. */
int pidfile_update(int fd);
/* Removes the file (before exit). */
void pidfile_release(const char *path, int fd);
/* The pid of the live owner of path: > 0 running, 0 not running (no file,
 * or a stale one), -1 error with e set. */
pid_t pidfile_owner(const char *path, struct err *e);

#endif
