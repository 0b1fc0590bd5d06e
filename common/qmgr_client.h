/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_QMGR_CLIENT_H
#define POSTHORN_COMMON_QMGR_CLIENT_H

#include "common/err.h"
#include "common/queue_env.h"

/*
 * The producer's side of the queue hand-off (DESIGN.md "A message's way
 * through", step 3), for smtpd and pickup:
 *
 *   1. write the message with common/queue_file.h, finish it;
 *   2. fill a struct queue_envelope: queue_id = queue_file_id(),
 *      size = queue_file_size(), arrival_us, sender, client and protocol
 *      fields, DSN fields, recipients (address, orcpt, notify);
 *   3. qmgr_commit(&env, &e): 0 means the file and its index entry are
 *      durable and the client may be told "250 2.0.0 Ok: queued as ID";
 *      -1 means nothing was queued (e says why, for the log): answer
 *      451 4.3.0 and queue_file_abort() the file.
 *
 * Connects to queue_directory/private/qmgr (so the caller must be
 * mail_owner or root), sends the commit and waits for the reply, all
 * within smtpd_commit_timeout. Blocks; meant for one-client processes.
 * Reads params (params_load() must have run).
 */
int qmgr_commit(const struct queue_envelope *env, struct err *e);

/* The same against an explicit socket path and timeout (tests, bench). */
int qmgr_commit_to(const char *socket_path, int timeout_ms,
                   const struct queue_envelope *env, struct err *e);

#endif
