/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_PROTO_DELIVER_H
#define POSTHORN_COMMON_PROTO_DELIVER_H

/*
 * The delivery-agent protocol: qmgr asks `local` (private/local) or `smtp`
 * (private/smtp) to deliver one queued message to some of its recipients,
 * and gets one result per recipient. Both agents speak exactly this, so
 * qmgr treats transports alike (CONVENTIONS.md section 5 for the codec).
 *
 * Greeting: proto=deliver, version=DELIVER_PROTO_VERSION, and optionally
 * group=N: the agent delivers up to N requests together (see Groups).
 * A connection may carry many requests one after another (the agent keeps
 * a connection to a destination open for reuse between them).
 *
 * Groups (pipelining): to an agent that said group=N, qmgr may send up to
 * N requests (and at most DELIVER_GROUP_MAX, DELIVER_GROUP_BYTES_MAX
 * bytes of them) without waiting, each but the last with more=1:
 * "another request follows at once, and the agent may make it durable
 * together with this one". To an agent that did not (smtp: requests for
 * different destinations should not wait for each other), one request
 * at a time. The agent answers every request with exactly one reply, in
 * the order of the requests. local reads requests while more=1, up to
 * its own bound (local_batch_size requests, LOCAL_GROUP_BYTES of their
 * messages; a request past the bound simply starts the next group),
 * delivers them together (one sync round for all), and only then replies
 * to each, so nothing of a group is reported delivered before all of it
 * is durable. An agent may also answer a group one by one, which is
 * correct too, and qmgr must not rely on more than the order. more is a
 * hint, never a promise: an agent does not wait for an announced request
 * beyond its usual read timeout, and a connection that ends within a
 * group ends it.
 * A connection lost before a request's reply means that request (and
 * every later one of the group) may or may not have been delivered:
 * qmgr defers all of them (a retry may duplicate, never lose).
 *
 * Request type=deliver:
 *   queue_id     required  the message
 *   queue_file   required  path of the message file relative to
 *                          queue_directory ("queue/<id>"); LF line ends
 *   sender       required  envelope sender, "" for the null sender
 *   arrival      required  arrival time, seconds since the epoch
 *   size         required  bytes in queue_file
 *   body         optional  7BIT (default), 8BITMIME, BINARYMIME
 *   smtputf8     optional  "1" when the message needs SMTPUTF8
 *   envid        optional  RFC 3461 ENVID (decoded text)
 *   ret          optional  FULL or HDRS
 *   nexthop      required  smtp: what to deliver to: "domain" (MX
 *                          lookup), "[host]:port" or "[addr]" (no MX),
 *                          "host:port"; local: the recipient domain
 *   transport    optional  the master.cf/transport_maps name used
 *   delivered_to optional  the recipients' delivered-to chain
 *                          (queue_env.h, queue_dlvto_safe): addresses
 *                          whose expansion produced them, newest
 *                          first, LF-separated. Every recipient of the
 *                          request has this same chain (qmgr groups by
 *                          it); the agent puts "Delivered-To: <addr>"
 *                          for each, in this order, on top of the copy
 *                          it delivers (smtp: before the message;
 *                          local: below its own Return-Path and
 *                          Delivered-To), and local bounces 5.4.6 a
 *                          message that already has a Delivered-To for
 *                          one of them. Absent: no chain.
 *   more         optional  "1": another request of the same group
 *                          follows (see Groups); "0" or absent: this
 *                          ends the group
 *   nrcpt        required  number of recipients that follow
 *   then nrcpt times, in this order, one of each (repeated attributes):
 *   rcpt_id      required  qmgr's handle for the recipient (opaque)
 *   rcpt         required  the recipient address
 *   orcpt        required  RFC 3461 ORCPT ("" when none), "type;addr"
 *   notify       required  RFC 3461 NOTIFY ("" = default, else e.g.
 *                          "SUCCESS,FAILURE" or "NEVER")
 *
 * Reply status=ok, then nrcpt times, in the request's order:
 *   rcpt_id      the handle given
 *   result       sent | defer | bounce | forward
 *   dsn          RFC 3463 status, e.g. 2.0.0, 4.4.1, 5.1.1
 *   reason       text for the log and DSN: the remote server's reply
 *                ("host mx[1.2.3.4] said: 550 5.1.1 ...") or local's
 *                explanation ("delivered to maildir")
 *   relay        where it went: "mx.example[192.0.2.1]:25", "local",
 *                "none"
 *   forward_to   for result=forward only (else ""): newline-separated
 *                addresses the recipient expands to (aliases, .forward,
 *                virtual aliases handled by local) that local did not
 *                deliver itself; qmgr adds them to the same message as
 *                new recipients with this one as their ORCPT origin and
 *                marks this one "sent (forwarded)".
 *   delivered_to for result=forward only, optional: the delivered-to
 *                chain the new recipients get (local: the recipient
 *                it expanded, then the request's chain, at most
 *                QUEUE_DLVTO_MAX). Absent: none. An agent that
 *                cannot fit it in its reply defers the recipient
 *                rather than drop it.
 * status=defer/error (+ reason) means the agent could not work on the
 * request at all: every recipient is deferred with that reason.
 */
#define DELIVER_PROTO "deliver"
#define DELIVER_PROTO_VERSION 1u

#define DELIVER_REQ_DELIVER "deliver"

#define DELIVER_ATTR_GROUP "group" /* greeting */

#define DELIVER_ATTR_QUEUE_ID "queue_id"
#define DELIVER_ATTR_QUEUE_FILE "queue_file"
#define DELIVER_ATTR_SENDER "sender"
#define DELIVER_ATTR_ARRIVAL "arrival"
#define DELIVER_ATTR_SIZE "size"
#define DELIVER_ATTR_BODY "body"
#define DELIVER_ATTR_SMTPUTF8 "smtputf8"
#define DELIVER_ATTR_ENVID "envid"
#define DELIVER_ATTR_RET "ret"
#define DELIVER_ATTR_NEXTHOP "nexthop"
#define DELIVER_ATTR_TRANSPORT "transport"
#define DELIVER_ATTR_MORE "more"
#define DELIVER_ATTR_DELIVERED_TO "delivered_to" /* request; forward reply */
#define DELIVER_ATTR_NRCPT "nrcpt"
#define DELIVER_ATTR_RCPT_ID "rcpt_id"
#define DELIVER_ATTR_RCPT "rcpt"
#define DELIVER_ATTR_ORCPT "orcpt"
#define DELIVER_ATTR_NOTIFY "notify"

#define DELIVER_ATTR_RESULT "result"
#define DELIVER_ATTR_DSN "dsn"
#define DELIVER_ATTR_REASON "reason"
#define DELIVER_ATTR_RELAY "relay"
#define DELIVER_ATTR_FORWARD_TO "forward_to"

#define DELIVER_RESULT_SENT "sent"
#define DELIVER_RESULT_DEFER "defer"
#define DELIVER_RESULT_BOUNCE "bounce"
#define DELIVER_RESULT_FORWARD "forward"

/* Bounds a reader enforces. */
/* Recipients per request: a reply carries six attributes per recipient
 * and must stay within IPC_ATTR_MAX (512), so 80 with room to spare
 * (the spare 31 hold delivered_to of forwarded ones; a reply that runs
 * out defers the rest, see delivered_to above). qmgr never sends more
 * (default_destination_recipient_limit <= this). */
#define DELIVER_RCPT_MAX 80
#define DELIVER_REASON_MAX 1000     /* bytes of reason text kept */
#define DELIVER_FORWARD_MAX 1000    /* addresses one forward may add */
/* Requests one group may hold, whatever local_batch_size says (a sender
 * bounds its groups by this too, and by DELIVER_GROUP_BYTES_MAX of
 * encoded requests, so a group fits the peer's buffers). */
#define DELIVER_GROUP_MAX 1000
#define DELIVER_GROUP_BYTES_MAX (1024 * 1024)

#endif
