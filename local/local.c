/* SPDX-License-Identifier: MIT */
/*
 * local.c - the local delivery agent: private/local, speaking the
 * delivery protocol (common/proto_deliver.h) with qmgr
 *
 * One client at a time (qmgr opens several connections for parallel
 * deliveries, so master runs several local processes); a connection
 * carries requests one after another. Runs as root (SERVICE_USER_ROOT)
 * and acts as each recipient's owner only while touching its files;
 * without root everything runs as the invoking user.
 *
 * Logging: qmgr writes the delivery log lines from the reply; local logs
 * only problems, starting with the queue id.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/imap_struct.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/mbox.h"
#include "common/mime.h"
#include "common/params.h"
#include "common/proto_deliver.h"
#include "common/service.h"
#include "local.h"

static struct local_resolver resolver;

/* The mailbox index caches what IMAP FETCH asks most (ENVELOPE,
 * BODYSTRUCTURE): computed here, while the copy is in memory, so imapd
 * never parses a message it has not opened yet. */
static int cache_build(const void *msg, size_t len, struct buf *out)
{
	struct mime_msg *m = mime_parse(msg, len);
	int rc = imap_struct_cache_build(out, m);
	mime_free(&m);
	return rc;
}

static void local_init(struct event_loop *loop)
{
	(void)loop;
	struct err e = {{0}};
	if (local_resolver_init(&resolver, &e) < 0)
		log_fatal("%s", e.msg);
	mbox_set_cache_builder(cache_build, IMAP_STRUCT_CACHE_VERSION);
}

static void local_exit(void)
{
	local_resolver_deinit(&resolver);
}

/* Answers a request that cannot be worked on at all. */
static int reply_status(struct ipc_client *cl, const char *status,
			const char *reason, struct err *e)
{
	struct ipc_msg m;
	ipc_msg_init(&m);
	ipc_msg_begin_reply(&m, status);
	(void)ipc_put_str(&m, "reason", reason);
	int rc = ipc_client_send(cl, &m, e);
	ipc_msg_deinit(&m);
	return rc;
}

/* One request: 0 answered, -1 the connection must close. */
static int serve_request(struct ipc_client *cl, const struct ipc_msg *req)
{
	struct local_request r;
	struct err e = {{0}};
	int rc = local_request_decode(req, &r, &e);
	if (rc == -1) {
		log_warn("%s: bad request: %s", cl->conn.peer, e.msg);
		return -1;
	}
	if (rc == -2)
		return reply_status(cl, "error", e.msg, &e);
	struct local_msg msg;
	/* The queue file holds headers and body; allow for what smtpd's
	 * Received: adds beyond message_size_limit. */
	uint64_t max = params->message_size_limit + 1024 * 1024;
	if (local_msg_load(&msg, params->queue_directory, r.queue_file, max,
			   &e) < 0) {
		log_warn("%s: %s", r.queue_id, e.msg);
		local_request_deinit(&r);
		return reply_status(cl, "defer", "cannot read queued message",
				    &e);
	}
	local_deliver(&resolver, &r, &msg);
	local_msg_deinit(&msg);
	struct ipc_msg reply;
	ipc_msg_init(&reply);
	local_reply_build(&r, &reply);
	rc = ipc_client_send(cl, &reply, &e);
	if (rc < 0)
		log_warn("%s: cannot reply to qmgr: %s", r.queue_id, e.msg);
	ipc_msg_deinit(&reply);
	local_request_deinit(&r);
	return rc;
}

static void local_accept(struct service_client *c)
{
	struct ipc_client cl = {.timeout_ms = (int)(params->ipc_timeout * 1000)};
	struct ipc_msg m;
	struct err e = {{0}};
	ipc_conn_init(&cl.conn, c->fd, "qmgr");
	c->fd = -1; /* the connection owns it now */
	ipc_msg_init(&m);
	(void)ipc_put_str(&m, "proto", DELIVER_PROTO);
	(void)ipc_put_u64(&m, "version", DELIVER_PROTO_VERSION);
	int rc = ipc_client_send(&cl, &m, &e);
	while (rc == 0 && !service_stopping()) {
		if (ipc_client_recv(&cl, &m, &e) < 0) {
			/* The usual end: qmgr closed the connection. */
			if (!strstr(e.msg, "closed by peer"))
				log_warn("%s", e.msg);
			break;
		}
		rc = serve_request(&cl, &m);
	}
	ipc_msg_deinit(&m);
	ipc_client_close(&cl);
}

static const struct service_def local_def = {
	.name = "local",
	.mode = SERVICE_ONE_CLIENT,
	.user = SERVICE_USER_ROOT,
	.init = local_init,
	.accept = local_accept,
	.exit_hook = local_exit,
};

int main(int argc, char **argv)
{
	return service_main(argc, argv, &local_def);
}
