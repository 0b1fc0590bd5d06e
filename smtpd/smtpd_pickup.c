/* SPDX-License-Identifier: MIT */
/*
 * smtpd_pickup.c - local submission: a user's sendmail -> the queue
 *
 * smtpd's second mode (master.cf: "pickup unix n - n - - smtpd pickup"):
 * serves queue_directory/public/pickup, one client per process (master
 * starts more on demand), and logs as "pickup" like Postfix's daemon. A local user cannot write the queue (incoming/
 * belongs to mail_owner), so sendmail writes the message into a sealed
 * memfd and passes the descriptor here (proto_pickup.h). pickup, running
 * as mail_owner, learns the user's uid from the socket (SO_PEERCRED),
 * copies the message into incoming/ behind a Received: header naming that
 * uid, and commits it through qmgr like smtpd does (qmgr_client.h). It
 * answers only after qmgr's acknowledgement, so sendmail's exit status 0
 * means "durably queued".
 *
 * Why not SMTP over a UNIX socket to smtpd: this works without smtpd,
 * imposes no SMTP line-length or dot-stuffing rules on local mail, and the
 * process that reads user input is a small disposable one, not qmgr.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/fdpass.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/params.h"
#include "common/proto_pickup.h"
#include "common/proto_qmgr.h"
#include "common/qmgr_client.h"
#include "common/queue_file.h"
#include "common/service.h"
#include "smtpd_pickup.h"

struct session {
	struct ipc_conn conn;
	int timeout_ms;
	uid_t uid;
	pid_t pid;
};

/* Writes everything queued on the connection. 0 or -1. */
static int flush_out(struct session *s)
{
	for (;;) {
		int rc = ipc_conn_flush(&s->conn);
		if (rc != 0)
			return rc > 0 ? 0 : -1;
		struct pollfd p = {.fd = s->conn.fd, .events = POLLOUT};
		if (poll(&p, 1, s->timeout_ms) <= 0)
			return -1;
	}
}

/* Reads the next whole message. 1, or -1 with e set. */
static int read_msg(struct session *s, struct ipc_msg *m, struct err *e)
{
	for (;;) {
		int rc = ipc_conn_next(&s->conn, m, e);
		if (rc != 0)
			return rc;
		struct pollfd p = {.fd = s->conn.fd, .events = POLLIN};
		rc = poll(&p, 1, s->timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			err_set(e, "timeout waiting for the request");
			return -1;
		}
		rc = ipc_conn_fill(&s->conn);
		if (rc <= 0) {
			err_set(e, rc == 0 ? "client closed the connection"
			                   : "read error");
			return -1;
		}
	}
}

static void reply(struct session *s, const char *status, const char *qid,
                  const char *reason)
{
	struct ipc_msg m;
	ipc_msg_init(&m);
	ipc_msg_begin_reply(&m, status);
	if (qid)
		(void)ipc_put_str(&m, QMGR_ATTR_QUEUE_ID, qid);
	if (reason)
		(void)ipc_put_str(&m, "reason", reason);
	if (ipc_conn_queue(&s->conn, &m) == 0)
		(void)flush_out(s);
	ipc_msg_deinit(&m);
}

/* sender/recipient without a domain get @$myorigin (Postfix's
 * append_at_myorigin). */
static const char *qualify(struct arena *a, const char *addr)
{
	if (!addr[0] || strchr(addr, '@'))
		return addr;
	return arena_printf(a, "%s@%s", addr, params->myorigin);
}

/* Copies the message and commits it. 0 with qid set, or -1 with e. */
static int queue_message(struct session *s, int fd, struct smtpd_pickup_req *req,
                         char qid[QUEUE_ID_SIZE], struct err *e)
{
	struct queue_file *qf = NULL;
	uint64_t size;
	bool eightbit;
	struct timeval tv;
	if (smtpd_pickup_check_fd(fd, params->message_size_limit, &size, e) < 0)
		return -1;
	if (queue_file_create(&qf, params->queue_directory, e) < 0)
		return -1;
	if (smtpd_pickup_copy(qf, fd, size, s->uid, &eightbit, e) < 0 ||
	    queue_file_finish(qf, e) < 0) {
		queue_file_abort(&qf);
		return -1;
	}
	struct queue_envelope env = {0};
	memcpy(env.queue_id, queue_file_id(qf), QUEUE_ID_SIZE);
	gettimeofday(&tv, NULL);
	env.arrival_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	env.size = queue_file_size(qf);
	env.sender = qualify(req->arena, req->sender);
	env.protocol = "local";
	env.envid = req->envid;
	env.ret = req->ret;
	env.body = eightbit ? QUEUE_BODY_8BITMIME : QUEUE_BODY_7BIT;
	for (size_t i = 0; i < req->nrcpt; i++)
		req->rcpts[i].address =
		        qualify(req->arena, req->rcpts[i].address);
	env.rcpts = req->rcpts;
	env.nrcpt = req->nrcpt;
	char quoted[QUEUE_ADDR_MAX + 1];
	log_info("%s: uid=%ld from=<%s>", env.queue_id, (long)s->uid,
	         log_quote(quoted, sizeof(quoted), env.sender,
	                   strlen(env.sender)));
	if (qmgr_commit(&env, e) < 0) {
		queue_file_abort(&qf);
		return -1;
	}
	memcpy(qid, env.queue_id, QUEUE_ID_SIZE);
	queue_file_free(&qf);
	return 0;
}

void smtpd_pickup_session(struct service_client *c)
{
	struct session s = {
	        .timeout_ms = (int)(params->ipc_timeout > 600
	                                    ? 600000
	                                    : params->ipc_timeout * 1000)};
	struct smtpd_pickup_req req = {.arena = arena_new()};
	struct ipc_msg m;
	struct err e;
	char qid[QUEUE_ID_SIZE];
	int fd = -1;
	gid_t gid;
	if (fdpass_peer_cred(c->fd, &s.uid, &gid, &s.pid) < 0) {
		log_warn("pickup: no peer credentials: %s", strerror(errno));
		arena_free(&req.arena);
		return;
	}
	char peer[64];
	snprintf(peer, sizeof(peer), "pid=%ld uid=%ld", (long)s.pid,
	         (long)s.uid);
	ipc_conn_init(&s.conn, c->fd, peer);
	c->fd = -1;
	ipc_msg_init(&m);
	if (ipc_conn_greet(&s.conn, PICKUP_PROTO, PICKUP_PROTO_VERSION) < 0 ||
	    flush_out(&s) < 0)
		goto out;
	fd = fdpass_recv(s.conn.fd, s.timeout_ms, &e);
	if (fd < 0) {
		log_warn("malformed request from %s on %s: %s", peer,
		         service_name(), e.msg);
		goto out;
	}
	int rc;
	do {
		if (read_msg(&s, &m, &e) < 0)
			rc = -1;
		else
			rc = smtpd_pickup_req_add(&req, &m, &e);
	} while (rc == 0);
	if (rc < 0) {
		log_warn("malformed request from %s on %s: %s", peer,
		         service_name(), e.msg);
		goto out;
	}
	if (queue_message(&s, fd, &req, qid, &e) < 0) {
		log_warn("submission from %s not queued: %s", peer, e.msg);
		reply(&s, "defer", NULL, e.msg);
		goto out;
	}
	reply(&s, "ok", qid, NULL);
out:
	if (fd >= 0)
		close(fd);
	ipc_msg_deinit(&m);
	ipc_conn_deinit(&s.conn);
	arena_free(&req.arena);
}
