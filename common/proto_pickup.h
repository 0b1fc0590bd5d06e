/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_PROTO_PICKUP_H
#define POSTHORN_COMMON_PROTO_PICKUP_H

/*
 * The pickup protocol: how a local user's `sendmail` hands a message to
 * the mail system without write access to the queue. Spoken on
 * queue_directory/public/pickup (master.cf private=n).
 *
 * Greeting: proto=pickup, version=PICKUP_PROTO_VERSION.
 * The client then
 *   1. passes ONE file descriptor (common/fdpass.h): a memfd holding the
 *      message (headers and body, LF or CRLF line ends), sealed against
 *      writing, shrinking and growing (F_SEAL_WRITE | F_SEAL_SHRINK |
 *      F_SEAL_GROW), so pickup reads exactly what was sealed, can never
 *      block on it, and nothing changes while it copies;
 *   2. sends zero or more type=rcpt messages and one type=submit message,
 *      as the qmgr commit (proto_qmgr.h) but with only:
 *        sender   required  envelope sender ("" for <>; without '@' it
 *                           gets @$myorigin)
 *        envid, ret          optional  DSN (RFC 3461) as for qmgr
 *        nrcpt    required
 *        rcpt, orcpt, notify repeated as for qmgr (unqualified rcpt
 *                           get @$myorigin)
 * Reply: status=ok + queue_id once qmgr committed the message; defer or
 * fail + reason otherwise. pickup learns the user from SO_PEERCRED and
 * records it in the Received: header it adds; nothing the client says
 * about itself is trusted.
 */
#define PICKUP_PROTO "pickup"
#define PICKUP_PROTO_VERSION 1u
#define PICKUP_SOCKET "public/pickup"
#define PICKUP_REQ_SUBMIT "submit"

#endif
