/* SPDX-License-Identifier: MIT */
/*
 * fuzz_qmgr_request.c - qmgr's commit request decoder on arbitrary bytes
 *
 * Decodes IPC messages from the input the way qmgr's commit service does
 * (common/ipc.c, then qmgr_proto_commit_add) until a commit completes or
 * the input is refused. A complete commit must satisfy what qmgr relies
 * on: a valid queue id, nrcpt recipients each with a safe address.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/proto_qmgr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qmgr_commit_req req = {0};
	struct ipc_msg m;
	struct err e;
	size_t off = 0;
	ipc_msg_init(&m);
	while (off < size) {
		size_t used = 0;
		int rc = ipc_msg_decode(&m, data + off, size - off, &used, &e);
		if (rc != 1)
			break;
		off += used;
		rc = qmgr_proto_commit_add(&req, &m, &e);
		if (rc < 0)
			break;
		if (rc == 1) {
			const struct queue_envelope *env = &req.env;
			if (!queue_id_valid(env->queue_id,
			                    strlen(env->queue_id)) ||
			    env->nrcpt == 0 || !env->sender)
				abort();
			for (size_t i = 0; i < env->nrcpt; i++) {
				const char *a = env->rcpts[i].address;
				if (!a || !a[0] ||
				    !queue_addr_safe(a, strlen(a)))
					abort();
			}
			qmgr_proto_commit_reset(&req);
		}
	}
	ipc_msg_deinit(&m);
	qmgr_proto_commit_free(&req);
	return 0;
}
