/* SPDX-License-Identifier: MIT */
/*
 * qmgr_client.c - commit a finished queue file through qmgr
 *
 * One connection per commit: connect, check the greeting, send the
 * request messages, wait for one reply. Connecting is cheap next to the
 * sync the commit waits for, and a fresh connection per message keeps a
 * producer free of reconnect logic when qmgr restarts. Not responsible
 * for the file (queue_file.c) or for what the producer tells its client.
 */
#include "common/qmgr_client.h"

#include <stdlib.h>
#include <string.h>

#include "common/ipc.h"
#include "common/params.h"
#include "common/proto_qmgr.h"
#include "common/xalloc.h"

int qmgr_commit_to(const char *socket_path, int timeout_ms,
                   const struct queue_envelope *env, struct err *e)
{
	struct ipc_client c;
	struct ipc_msg *msgs = NULL, reply;
	size_t n = 0;
	int rc = -1;

	if (qmgr_proto_build_commit(env, &msgs, &n, e) < 0)
		goto out;
	if (ipc_client_connect(&c, socket_path, QMGR_PROTO, QMGR_PROTO_VERSION,
	                       timeout_ms, e) < 0)
		goto out;
	ipc_msg_init(&reply);
	if (qmgr_proto_exchange(&c, msgs, n, &reply, e) == 0) {
		const char *qid;
		if (!ipc_status_ok(&reply)) {
			err_set(e, "qmgr: %s: %.200s", ipc_status(&reply),
			        ipc_reason(&reply));
		} else if (ipc_get_str(&reply, QMGR_ATTR_QUEUE_ID, &qid) != 1 ||
		           strcmp(qid, env->queue_id) != 0) {
			err_set(e, "qmgr: reply for another queue id");
		} else {
			rc = 0;
		}
	}
	ipc_msg_deinit(&reply);
	ipc_client_close(&c);
out:
	qmgr_proto_msgs_free(&msgs, n);
	return rc;
}

int qmgr_commit(const struct queue_envelope *env, struct err *e)
{
	char *path = xasprintf("%s/%s", params->queue_directory, QMGR_SOCKET);
	long ms = params->smtpd_commit_timeout * 1000;
	int rc = qmgr_commit_to(path, ms > 0x7fffffff ? 0x7fffffff : (int)ms,
	                        env, e);
	free(path);
	return rc;
}
