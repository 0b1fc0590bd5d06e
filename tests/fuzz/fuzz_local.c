/* SPDX-License-Identifier: MIT */
/*
 * fuzz_local.c - local's parsers of what arrives from outside: the header
 * of a queued message (Delivered-To lines; the message came from the
 * network) and a delivery request as qmgr would send it (decoded by the
 * IPC codec, then checked by local_request_decode).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ipc.h"
#include "local/local.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct local_msg m;
	local_msg_set(&m, (const char *)data, size);
	if (m.header_len > m.len)
		abort();
	for (size_t i = 0; i < m.delivered_to.n; i++)
		if (!local_msg_delivered_to(&m, m.delivered_to.v[i]))
			abort();
	local_msg_deinit(&m);

	struct ipc_msg msg;
	struct err e;
	size_t used;
	ipc_msg_init(&msg);
	if (ipc_msg_decode(&msg, data, size, &used, &e) == 1) {
		struct local_request r;
		if (local_request_decode(&msg, &r, &e) == 0) {
			for (size_t i = 0; i < r.nrcpt; i++)
				if (!r.rcpts[i].addr || !r.rcpts[i].id)
					abort();
			local_request_deinit(&r);
		}
	}
	ipc_msg_deinit(&msg);
	return 0;
}
