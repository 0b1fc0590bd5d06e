/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MASTER_PROTO_H
#define POSTHORN_COMMON_MASTER_PROTO_H

#include <sys/types.h>

/*
 * The contract between master and the processes it forks (used by
 * master/ and by the service skeleton, common/service.c).
 *
 * File descriptors a child starts with:
 *   MASTER_STATUS_FD       write end of its service's status pipe
 *   MASTER_LISTEN_FD + i   the service's listening sockets, i < -s count
 * Command line (before the master.cf arguments):
 *   PROGRAM -c CONFIG_DIR -n SERVICE -t inet|unix -s COUNT
 *           [-u] [-r] [-v]... [-o name=value]... [--] [args...]
 *   -u: master.cf unpriv column was y; -r: chroot column was y.
 *
 * A child writes a struct master_status record (smaller than PIPE_BUF, so
 * each write is atomic) whenever it becomes busy or available. master
 * spawns another process for a service only when none is available and a
 * listening socket is readable, up to maxproc.
 *
 * Retirement: when master reloads or stops, it closes the read end of the
 * old status pipes. A child polls its status fd: POLLERR there means
 * "master no longer wants you": finish the current client, then exit.
 */
#define MASTER_STATUS_FD 3
#define MASTER_LISTEN_FD 4

enum master_status_kind {
	MASTER_STATUS_AVAIL = 1,
	MASTER_STATUS_BUSY = 2,
};

struct master_status {
	pid_t pid;
	int kind;
};

#endif
