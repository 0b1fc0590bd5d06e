/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_FDPASS_H
#define POSTHORN_COMMON_FDPASS_H

#include <sys/types.h>

#include "common/err.h"

/*
 * Passing one open file descriptor over a UNIX stream socket
 * (SCM_RIGHTS), for the protocols whose schema says so (proto_pickup.h).
 * The descriptor travels with one marker byte, sent before the IPC
 * request it belongs to, so the attribute codec never sees ancillary
 * data.
 */

/* Sends fd. 0, or -1 with e set. Blocks at most timeout_ms. */
int fdpass_send(int sock, int fd, int timeout_ms, struct err *e);
/* Receives one descriptor (close-on-exec). fd, or -1 with e set (also when
 * the marker byte arrives without a descriptor, or with more than one:
 * extra descriptors are closed). Blocks at most timeout_ms. */
int fdpass_recv(int sock, int timeout_ms, struct err *e);

/* The peer's credentials on a UNIX socket (SO_PEERCRED). 0 or -1. */
int fdpass_peer_cred(int sock, uid_t *uid, gid_t *gid, pid_t *pid);

#endif
