/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTPD_SMTPD_PICKUP_H
#define POSTHORN_SMTPD_SMTPD_PICKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/queue_env.h"

struct arena;
struct ipc_msg;
struct queue_file;

/*
 * smtpd's pickup mode (local submission, proto_pickup.h):
 *   smtpd_pickup.c       the session (greeting, descriptor, request,
 *                        commit, reply)
 *   smtpd_pickup_copy.c  checks the passed descriptor and copies the
 *                        message into the queue file with our Received:
 *   smtpd_pickup_req.c   parses the submit request
 */

struct service_client;

/* Serves one sendmail client on public/pickup (the accept hook in
 * pickup mode). */
void smtpd_pickup_session(struct service_client *c);

/* A submit request being received (proto_pickup.h). */
struct smtpd_pickup_req {
	struct arena *arena;
	const char *sender;
	const char *envid;
	enum queue_ret ret;
	struct queue_rcpt *rcpts;
	size_t nrcpt, cap;
};

/* Adds a decoded message: 0 more to come (type=rcpt), 1 complete, -1
 * malformed (e set). req->arena must exist. */
int smtpd_pickup_req_add(struct smtpd_pickup_req *req, const struct ipc_msg *m,
                   struct err *e);

/* Checks that fd is a sealed memfd no larger than max and returns its
 * size. 0, or -1 with e set. */
int smtpd_pickup_check_fd(int fd, uint64_t max, uint64_t *size, struct err *e);

/*
 * Writes our Received: header for uid, then the message from fd (size
 * bytes) with CRLF turned into LF and a final newline added if missing.
 * Sets *eightbit when any byte has the high bit set. 0, or -1 with e set.
 */
int smtpd_pickup_copy(struct queue_file *qf, int fd, uint64_t size, uid_t uid,
                bool *eightbit, struct err *e);

#endif
