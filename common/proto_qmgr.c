/* SPDX-License-Identifier: MIT */
/*
 * proto_qmgr.c - building and checking qmgr commit requests
 *
 * Both ends of the commit request in one place: the producer side splits
 * a message's recipients over as many IPC messages as the codec limits
 * need, the qmgr side reassembles them and refuses anything malformed
 * before qmgr acts on it (CONVENTIONS.md 5: never partially acted on).
 * The schema itself is in proto_qmgr.h.
 */
#include "common/proto_qmgr.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/xalloc.h"

int qmgr_proto_build_rcpts(const struct queue_rcpt *r, size_t nrcpt,
                           const char *final_verb, struct ipc_msg **msgs,
                           size_t *n, struct err *e)
{
	size_t nmsg = nrcpt / QMGR_RCPT_PER_MSG + 1, done = 0;
	struct ipc_msg *v = xcalloc(nmsg, sizeof(*v));
	*msgs = v;
	*n = nmsg;
	for (size_t i = 0; i < nmsg; i++)
		ipc_msg_init(&v[i]);
	for (size_t i = 0; i < nmsg; i++) {
		bool last = i + 1 == nmsg;
		size_t k = last ? nrcpt - done : QMGR_RCPT_PER_MSG;
		ipc_msg_begin(&v[i], last ? final_verb : QMGR_REQ_RCPT);
		if (queue_rcpts_encode(&v[i], r + done, k, false) < 0) {
			err_set(e, "recipients over IPC limits");
			return -1;
		}
		done += k;
	}
	return 0;
}

int qmgr_proto_build_commit(const struct queue_envelope *env,
                            struct ipc_msg **msgs, size_t *n, struct err *e)
{
	if (qmgr_proto_build_rcpts(env->rcpts, env->nrcpt, QMGR_REQ_COMMIT,
	                           msgs, n, e) < 0)
		return -1;
	struct ipc_msg *last = &(*msgs)[*n - 1];
	if (ipc_put_str(last, QMGR_ATTR_QUEUE_ID, env->queue_id) < 0 ||
	    queue_env_encode(last, env) < 0 ||
	    ipc_put_u64(last, QMGR_ATTR_NRCPT, env->nrcpt) < 0) {
		err_set(e, "commit request for %s over IPC limits",
		        env->queue_id);
		return -1;
	}
	return 0;
}

void qmgr_proto_msgs_free(struct ipc_msg **msgs, size_t n)
{
	if (!*msgs)
		return;
	for (size_t i = 0; i < n; i++)
		ipc_msg_deinit(&(*msgs)[i]);
	free(*msgs);
	*msgs = NULL;
}

int qmgr_proto_exchange(struct ipc_client *c, const struct ipc_msg *msgs,
                        size_t n, struct ipc_msg *reply, struct err *e)
{
	for (size_t i = 0; i < n; i++)
		if (ipc_client_send(c, &msgs[i], e) < 0)
			return -1;
	return ipc_client_recv(c, reply, e);
}

void qmgr_proto_commit_reset(struct qmgr_commit_req *req)
{
	if (req->arena)
		arena_reset(req->arena);
	else
		req->arena = arena_new();
	memset(&req->env, 0, sizeof(req->env));
	req->rcpt_cap = 0;
}

void qmgr_proto_commit_free(struct qmgr_commit_req *req)
{
	arena_free(&req->arena);
	memset(req, 0, sizeof(*req));
}

static int add_rcpts(struct qmgr_commit_req *req, const struct ipc_msg *m,
                     struct err *e)
{
	return queue_rcpts_decode(m, req->arena, &req->env.rcpts,
	                          &req->env.nrcpt, &req->rcpt_cap,
	                          QUEUE_RCPT_MAX, false, e);
}

int qmgr_proto_commit_add(struct qmgr_commit_req *req, const struct ipc_msg *m,
                          struct err *e)
{
	const char *type = ipc_type(m);
	if (!req->arena)
		qmgr_proto_commit_reset(req);
	if (strcmp(type, QMGR_REQ_RCPT) == 0) {
		if (ipc_count(m, QMGR_ATTR_RCPT) == 0) {
			err_set(e, "rcpt request without recipients");
			return -1;
		}
		return add_rcpts(req, m, e) < 0 ? -1 : 0;
	}
	if (strcmp(type, QMGR_REQ_COMMIT) != 0) {
		err_set(e, "unexpected request type \"%.32s\"", type);
		return -1;
	}
	const char *id;
	uint64_t nrcpt;
	int rc = ipc_get_str(m, QMGR_ATTR_QUEUE_ID, &id);
	if (rc != 1 || !queue_id_valid(id, strlen(id))) {
		err_set(e, rc == 0 ? "attribute queue_id missing"
		                   : "attribute queue_id invalid");
		return -1;
	}
	memcpy(req->env.queue_id, id, QUEUE_ID_SIZE);
	rc = ipc_get_u64(m, QMGR_ATTR_NRCPT, 1, QUEUE_RCPT_MAX, &nrcpt);
	if (rc != 1) {
		err_set(e, rc == 0 ? "attribute nrcpt missing"
		                   : "attribute nrcpt invalid");
		return -1;
	}
	if (queue_env_decode(m, req->arena, &req->env, e) < 0 ||
	    add_rcpts(req, m, e) < 0)
		return -1;
	if (req->env.nrcpt != nrcpt) {
		err_set(e, "nrcpt=%llu but %zu recipients received",
		        (unsigned long long)nrcpt, req->env.nrcpt);
		return -1;
	}
	return 1;
}
