/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_PROTO_QMGR_H
#define POSTHORN_COMMON_PROTO_QMGR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/queue_env.h"

struct arena;
struct ipc_client;
struct ipc_msg;

/*
 * The qmgr protocol (CONVENTIONS.md section 5), spoken on
 * queue_directory/private/qmgr by the producers (smtpd, pickup) and, later,
 * by `posthorn queue` for administration.
 *
 * Greeting: proto=qmgr, version=QMGR_PROTO_VERSION.
 *
 * commit (a producer hands over a finished incoming/ file):
 *   type=commit
 *   queue_id     required  the file incoming/<queue_id> (queue_id.h form)
 *   size         required  its size in bytes (checked against the file)
 *   arrival_us   required  arrival time, microseconds since 1970
 *   sender       required  envelope sender, "" for <>
 *   client_name, client_addr, helo, protocol, sasl_username, envid
 *                optional  text
 *   ret          optional  full | hdrs
 *   body         optional  7bit (default) | 8bitmime | binarymime
 *   smtputf8, hold, bounce  optional  0 | 1
 *   nrcpt        required  total number of recipients, 1..QUEUE_RCPT_MAX
 *   rcpt, orcpt, notify     repeated, one value per recipient, in the same
 *                order; orcpt "" when not given; notify a decimal
 *                QUEUE_NOTIFY_* mask ("0" when not given).
 *   A message with more recipients than fit in one IPC message
 *   (QMGR_RCPT_PER_MSG) sends them first in type=rcpt messages (only the
 *   three per-recipient attributes, no reply), then type=commit with the
 *   rest; nrcpt counts them all.
 *   Reply: status=ok + queue_id once the file and the index entry are
 *   durable; status=defer + reason (try again later: the producer answers
 *   4xx); status=fail + reason (this request can never succeed, e.g. the
 *   file is missing; the producer answers 4xx too, since nothing was
 *   queued). A malformed request is logged and the connection closed
 *   without a reply.
 *
 * Queue administration (`posthorn queue`), one request per message:
 *   type=flush                      every deferred message due now
 *   type=hold|release|delete|requeue, queue_id=<id> or queue_id=ALL
 *   Reply: status=ok, count=<messages changed>, found=<messages seen>;
 *   status=fail + reason for a single id that is not queued (or not a
 *   queue id); status=error for a request without queue_id.
 */
#define QMGR_PROTO "qmgr"
#define QMGR_PROTO_VERSION 1u
#define QMGR_SOCKET "private/qmgr"

#define QMGR_REQ_COMMIT "commit"
#define QMGR_REQ_RCPT "rcpt"
#define QMGR_REQ_FLUSH "flush"
#define QMGR_REQ_HOLD "hold"
#define QMGR_REQ_RELEASE "release"
#define QMGR_REQ_DELETE "delete"
#define QMGR_REQ_REQUEUE "requeue"

#define QMGR_ATTR_QUEUE_ID "queue_id"
#define QMGR_ATTR_SIZE "size"
#define QMGR_ATTR_ARRIVAL "arrival_us"
#define QMGR_ATTR_SENDER "sender"
#define QMGR_ATTR_CLIENT_NAME "client_name"
#define QMGR_ATTR_CLIENT_ADDR "client_addr"
#define QMGR_ATTR_HELO "helo"
#define QMGR_ATTR_PROTOCOL "protocol"
#define QMGR_ATTR_SASL_USER "sasl_username"
#define QMGR_ATTR_ENVID "envid"
#define QMGR_ATTR_RET "ret"
#define QMGR_ATTR_BODY "body"
#define QMGR_ATTR_SMTPUTF8 "smtputf8"
#define QMGR_ATTR_HOLD "hold"
#define QMGR_ATTR_BOUNCE "bounce"
#define QMGR_ATTR_NRCPT "nrcpt"
#define QMGR_ATTR_RCPT "rcpt"
#define QMGR_ATTR_ORCPT "orcpt"
#define QMGR_ATTR_NOTIFY "notify"
#define QMGR_ATTR_COUNT "count"
#define QMGR_ATTR_FOUND "found"
/* Index records only (queue_index.c), never accepted from a producer. */
#define QMGR_ATTR_NEXT_ATTEMPT "next_attempt"
#define QMGR_ATTR_RCPT_STATUS "rcpt_status"
#define QMGR_ATTR_ATTEMPTS "attempts"
#define QMGR_ATTR_LAST_ATTEMPT "last_attempt"
#define QMGR_ATTR_DSN "dsn"
#define QMGR_ATTR_REASON_TEXT "last_reason"
#define QMGR_ATTR_DELIVERED_TO "delivered_to" /* queue_rcpt.delivered_to */

/* Recipients per IPC message: 3 attributes each stays far below
 * IPC_ATTR_MAX with the envelope beside them. */
#define QMGR_RCPT_PER_MSG 128

/*
 * Client side: the recipients r[0..nrcpt) spread over type=rcpt messages
 * and a last message of type final_verb (to which the caller adds the
 * envelope), in msgs[0..*n) (ipc_msg_init()ed here; free them with
 * qmgr_proto_msgs_free()). 0, or -1 with e set (a value over an IPC
 * limit). Also used for pickup's submit (proto_pickup.h).
 */
int qmgr_proto_build_rcpts(const struct queue_rcpt *r, size_t nrcpt,
                           const char *final_verb, struct ipc_msg **msgs,
                           size_t *n, struct err *e);
/* The whole commit request for env, as above with final_verb commit. */
int qmgr_proto_build_commit(const struct queue_envelope *env,
                            struct ipc_msg **msgs, size_t *n, struct err *e);
void qmgr_proto_msgs_free(struct ipc_msg **msgs, size_t n);
/* Sends msgs[0..n) on c and receives the one reply. 0, or -1 with e. */
int qmgr_proto_exchange(struct ipc_client *c, const struct ipc_msg *msgs,
                        size_t n, struct ipc_msg *reply, struct err *e);

/*
 * Server side: one commit being received. Feed each decoded message of a
 * connection to qmgr_proto_commit_add() until it returns 1.
 */
struct qmgr_commit_req {
	struct arena *arena; /* owns env strings and the rcpt array */
	struct queue_envelope env;
	size_t rcpt_cap;
};

/* Empties req (creating or resetting its arena). */
void qmgr_proto_commit_reset(struct qmgr_commit_req *req);
void qmgr_proto_commit_free(struct qmgr_commit_req *req);
/*
 * Adds a decoded request message: 0 it was a type=rcpt message (more must
 * follow), 1 the commit is complete and req->env holds it, -1 with e set
 * when the message is malformed (wrong type, missing or repeated required
 * attribute, bad number, nrcpt not matching the recipients received,
 * unsafe address, over a bound). After -1 the connection must be closed.
 */
int qmgr_proto_commit_add(struct qmgr_commit_req *req, const struct ipc_msg *m,
                          struct err *e);

#endif
