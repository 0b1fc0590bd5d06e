/* SPDX-License-Identifier: MIT */
/*
 * local.c - the local delivery agent: private/local, speaking the
 * delivery protocol (common/proto_deliver.h) with qmgr
 *
 * One client at a time (qmgr opens several connections for parallel
 * deliveries, so master runs several local processes); a connection
 * carries requests one after another, in groups (proto_deliver.h): the
 * requests of a group are delivered together (local_deliver.c) and
 * answered in order only once all of them are durable. Runs as root
 * (SERVICE_USER_ROOT) and acts as each recipient's owner only while
 * touching its files; without root everything runs as the invoking
 * user.
 *
 * Logging: qmgr writes the delivery log lines from the reply; local logs
 * only problems, starting with the queue id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
#include "common/xalloc.h"
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
	local_boxes_close();
	local_resolver_deinit(&resolver);
}

/* One request of a group, from its arrival to its reply. */
struct item {
	struct ipc_msg req; /* owns the strings r points to */
	struct local_request r;
	struct local_msg msg;
	bool deliver;       /* decoded and loaded: deliver it */
	const char *status; /* else the whole request's answer */
	char reason[LOCAL_TEXT_MAX];
};

/* Reads the next request into it. 1 read (it->deliver, or it->status
 * set); 0 the connection ended (EOF, timeout, error); -1 a malformed
 * request, logged (nothing of it is done; the connection must close). */
static int read_request(struct ipc_client *cl, struct item *it,
			uint64_t *bytes)
{
	struct err e = {{0}};
	ipc_msg_init(&it->req);
	memset(&it->r, 0, sizeof(it->r));
	memset(&it->msg, 0, sizeof(it->msg));
	it->deliver = false;
	it->status = NULL;
	if (ipc_client_recv(cl, &it->req, &e) < 0) {
		/* The usual end: qmgr closed the connection. */
		if (!strstr(e.msg, "closed by peer"))
			log_warn("%s", e.msg);
		return 0;
	}
	int rc = local_request_decode(&it->req, &it->r, &e);
	if (rc == -1) {
		log_warn("%s: bad request: %s", cl->conn.peer, e.msg);
		return -1;
	}
	if (rc == -2) {
		it->status = "error";
		(void)snprintf(it->reason, sizeof(it->reason), "%s", e.msg);
		return 1;
	}
	/* The queue file holds headers and body; allow for what smtpd's
	 * Received: adds beyond message_size_limit. */
	uint64_t max = params->message_size_limit + 1024 * 1024;
	if (local_msg_load(&it->msg, params->queue_directory, it->r.queue_file,
			   max, &e) < 0) {
		log_warn("%s: %s", it->r.queue_id, e.msg);
		it->status = "defer";
		(void)snprintf(it->reason, sizeof(it->reason),
			       "cannot read queued message");
		return 1;
	}
	*bytes += it->msg.len;
	it->deliver = true;
	return 1;
}

static void item_deinit(struct item *it)
{
	local_msg_deinit(&it->msg);
	local_request_deinit(&it->r);
	ipc_msg_deinit(&it->req);
}

/* Answers one request. 0, or -1 when the connection must close. */
static int reply_item(struct ipc_client *cl, const struct item *it)
{
	struct ipc_msg m;
	struct err e = {{0}};
	ipc_msg_init(&m);
	if (it->deliver) {
		local_reply_build(&it->r, &m);
	} else {
		ipc_msg_begin_reply(&m, it->status);
		(void)ipc_put_str(&m, "reason", it->reason);
	}
	int rc = ipc_client_send(cl, &m, &e);
	if (rc < 0)
		log_warn("%s: cannot reply to qmgr: %s",
			 it->r.queue_id ? it->r.queue_id : "-", e.msg);
	ipc_msg_deinit(&m);
	return rc;
}

/* Requests one group may hold. */
static size_t group_max(void)
{
	size_t max = (size_t)params->local_batch_size;
	return max < DELIVER_GROUP_MAX ? max : DELIVER_GROUP_MAX;
}

/*
 * One group: requests read while each says more=1, up to
 * local_batch_size of them and LOCAL_GROUP_BYTES of messages, delivered
 * together, then answered in order. A connection that ends within a
 * group gets nothing delivered (qmgr defers the whole group, so that
 * would only make duplicates); a malformed request ends the group
 * before it, and the connection after the replies. 0, or -1 when the
 * connection must close.
 */
static int serve_group(struct ipc_client *cl)
{
	size_t max = group_max();
	struct item *v = xcalloc(max, sizeof(*v));
	struct local_delivery *d = xcalloc(max, sizeof(*d));
	size_t n = 0, nd = 0;
	uint64_t bytes = 0;
	enum { G_DONE, G_GONE, G_BAD } how = G_DONE;
	while (n < max) {
		int rc = read_request(cl, &v[n], &bytes);
		if (rc <= 0) {
			item_deinit(&v[n]);
			how = rc == 0 ? G_GONE : G_BAD;
			break;
		}
		struct item *it = &v[n++];
		if (it->deliver)
			d[nd++] = (struct local_delivery){&it->r, &it->msg};
		if (!it->r.more || bytes >= LOCAL_GROUP_BYTES ||
		    service_stopping())
			break;
	}
	if (nd > 0 && how != G_GONE)
		local_deliver_group(&resolver, d, nd);
	for (size_t i = 0; i < n; i++) {
		if (how != G_GONE && reply_item(cl, &v[i]) < 0)
			how = G_GONE;
		item_deinit(&v[i]);
	}
	free(d);
	free(v);
	return how == G_DONE ? 0 : -1;
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
	(void)ipc_put_u64(&m, DELIVER_ATTR_GROUP, group_max());
	int rc = ipc_client_send(&cl, &m, &e);
	ipc_msg_deinit(&m);
	while (rc == 0 && !service_stopping())
		rc = serve_group(&cl);
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
