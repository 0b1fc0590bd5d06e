/* SPDX-License-Identifier: MIT */
/*
 * smtpd_pickup_req.c - the submit request of a local user's sendmail
 *
 * The requester is any local user, so the request is checked like any
 * untrusted input: bounded, safe addresses only, counts that add up. The
 * recipients use the same encoding as qmgr's commit (queue_env.c).
 */
#include "smtpd_pickup.h"

#include <string.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/proto_pickup.h"
#include "common/proto_qmgr.h"

int smtpd_pickup_req_add(struct smtpd_pickup_req *req, const struct ipc_msg *m,
                   struct err *e)
{
	const char *type = ipc_type(m);
	bool submit = strcmp(type, PICKUP_REQ_SUBMIT) == 0;
	if (!submit && strcmp(type, QMGR_REQ_RCPT) != 0) {
		err_set(e, "unexpected request type \"%.32s\"", type);
		return -1;
	}
	if (queue_rcpts_decode(m, req->arena, &req->rcpts, &req->nrcpt,
	                       &req->cap, QUEUE_RCPT_MAX, false, e) < 0)
		return -1;
	if (!submit)
		return 0;

	const char *v, *s;
	size_t len;
	uint64_t nrcpt;
	int rc = ipc_get_bytes(m, QMGR_ATTR_SENDER, &v, &len);
	if (rc != 1 || !queue_addr_safe(v, len)) {
		err_set(e, "attribute sender %s",
		        rc == 0 ? "missing" : "invalid");
		return -1;
	}
	req->sender = arena_memdup(req->arena, v, len);
	rc = ipc_get_str(m, QMGR_ATTR_ENVID, &s);
	if (rc < 0 || (rc == 1 && (strlen(s) > QUEUE_ENVID_MAX ||
	                           !queue_addr_safe(s, strlen(s))))) {
		err_set(e, "attribute envid invalid");
		return -1;
	}
	req->envid = rc == 1 ? arena_strdup(req->arena, s) : NULL;
	req->ret = QUEUE_RET_DEFAULT;
	rc = ipc_get_str(m, QMGR_ATTR_RET, &s);
	if (rc < 0 || (rc == 1 && queue_ret_parse(s, &req->ret) < 0)) {
		err_set(e, "attribute ret invalid");
		return -1;
	}
	rc = ipc_get_u64(m, QMGR_ATTR_NRCPT, 1, QUEUE_RCPT_MAX, &nrcpt);
	if (rc != 1 || nrcpt != req->nrcpt) {
		err_set(e, "nrcpt %s",
		        rc == 1 ? "does not match the recipients"
		                : "missing or invalid");
		return -1;
	}
	return 1;
}
