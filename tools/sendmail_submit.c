/* SPDX-License-Identifier: MIT */
/*
 * sendmail_submit.c - hand a message to pickup (proto_pickup.h)
 *
 * The message goes into a memfd that is sealed before it is passed, so
 * pickup can trust its size and never block reading it. The request
 * carries only the envelope; pickup learns who we are from the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/ipc.h"
#include "common/params.h"
#include "common/proto_pickup.h"
#include "common/proto_qmgr.h"
#include "common/queue_id.h"
#include "common/xalloc.h"
#include "tools/sendmail.h"

static int make_memfd(const char *msg, size_t len, struct err *e)
{
	int fd = memfd_create("posthorn-sendmail",
	                      MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		err_set(e, "memfd_create: %s", strerror(errno));
		return -1;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, msg + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_set(e, "write memfd: %s", strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS,
	          F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
	    0) {
		err_set(e, "seal memfd: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Builds the request messages: rcpt batches, then submit. */
static int build(struct ipc_msg **out, size_t *n, const char *sender,
                 const struct strv *rcpts, const struct sendmail_dsn *dsn,
                 struct err *e)
{
	struct queue_rcpt *r = xcalloc(rcpts->n ? rcpts->n : 1, sizeof(*r));
	for (size_t i = 0; i < rcpts->n; i++)
		r[i] = (struct queue_rcpt){.address = rcpts->v[i],
		                           .notify = dsn ? dsn->notify : 0};
	int rc = qmgr_proto_build_rcpts(r, rcpts->n, PICKUP_REQ_SUBMIT, out, n,
	                                e);
	free(r);
	if (rc < 0)
		return -1;
	struct ipc_msg *last = &(*out)[*n - 1];
	rc = ipc_put_str(last, QMGR_ATTR_SENDER, sender);
	rc |= ipc_put_u64(last, QMGR_ATTR_NRCPT, rcpts->n);
	if (dsn && dsn->ret)
		rc |= ipc_put_str(last, QMGR_ATTR_RET, dsn->ret);
	if (dsn && dsn->envid)
		rc |= ipc_put_str(last, QMGR_ATTR_ENVID, dsn->envid);
	if (rc) {
		err_set(e, "request over IPC limits");
		return -1;
	}
	return 0;
}

int sendmail_submit(const char *msg, size_t len, const char *sender,
                    const struct strv *rcpts, const struct sendmail_dsn *dsn,
                    char *qid_out, struct err *e)
{
	for (size_t i = 0; i < rcpts->n; i++)
		if (!rcpts->v[i][0] ||
		    !queue_addr_safe(rcpts->v[i], strlen(rcpts->v[i]))) {
			err_set(e, "bad recipient address \"%.100s\"",
			        rcpts->v[i]);
			return -2;
		}
	if (!queue_addr_safe(sender, strlen(sender))) {
		err_set(e, "bad sender address \"%.100s\"", sender);
		return -2;
	}
	int fd = make_memfd(msg, len, e);
	if (fd < 0)
		return -1;
	char *path = xasprintf("%s/%s", params->queue_directory, PICKUP_SOCKET);
	long ms = params->ipc_timeout * 1000;
	int timeout = ms > 0x7fffffff ? 0x7fffffff : (int)ms;
	struct ipc_client c;
	struct ipc_msg *msgs = NULL, reply;
	size_t n = 0;
	int rc = -1;
	ipc_msg_init(&reply);
	if (ipc_client_connect(&c, path, PICKUP_PROTO, PICKUP_PROTO_VERSION,
	                       timeout, e) < 0)
		goto out;
	if (fdpass_send(c.conn.fd, fd, timeout, e) < 0) {
		ipc_client_close(&c);
		goto out;
	}
	if (build(&msgs, &n, sender, rcpts, dsn, e) == 0 &&
	    qmgr_proto_exchange(&c, msgs, n, &reply, e) == 0) {
		const char *qid;
		if (ipc_status_ok(&reply) &&
		    ipc_get_str(&reply, QMGR_ATTR_QUEUE_ID, &qid) == 1) {
			if (qid_out)
				snprintf(qid_out, QUEUE_ID_SIZE, "%s", qid);
			rc = 0;
		} else {
			err_set(e, "%.400s",
			        ipc_reason(&reply)[0]
			                ? ipc_reason(&reply)
			                : "the mail system refused");
			rc = strcmp(ipc_status(&reply), "fail") == 0 ? -2 : -1;
		}
	}
	ipc_client_close(&c);
out:
	qmgr_proto_msgs_free(&msgs, n);
	ipc_msg_deinit(&reply);
	free(path);
	close(fd);
	return rc;
}
