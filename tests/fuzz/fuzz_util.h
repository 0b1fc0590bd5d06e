/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TESTS_FUZZ_FUZZ_UTIL_H
#define POSTHORN_TESTS_FUZZ_FUZZ_UTIL_H

/*
 * fuzz_util.h - what several fuzz targets share. Header-only: each
 * target is one program.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/ipc.h"

/* A broken promise: abort, so libFuzzer keeps the input. */
#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

/* Decodes data[0..size) as a stream of IPC messages, the way a service
 * reads its socket, and hands each to fn until one does not decode or
 * fn returns nonzero. */
static inline void fuzz_ipc_each(const uint8_t *data, size_t size,
				 int (*fn)(const struct ipc_msg *m, void *ctx),
				 void *ctx)
{
	struct ipc_msg m;
	struct err e;
	size_t off = 0;
	ipc_msg_init(&m);
	while (off < size) {
		size_t used = 0;
		if (ipc_msg_decode(&m, data + off, size - off, &used, &e) != 1)
			break;
		off += used;
		if (fn(&m, ctx) != 0)
			break;
	}
	ipc_msg_deinit(&m);
}

#endif
