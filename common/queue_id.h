/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_QUEUE_ID_H
#define POSTHORN_COMMON_QUEUE_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Queue ids: 15 characters from [0-9A-Za-z], unique across processes and
 * restarts without any coordination, and ordered by creation time when
 * compared bytewise (the alphabet is in ASCII order and the length fixed).
 *
 *   TTTTTTTTT PPPP RR
 *   9 base-62 digits of the wall clock in microseconds (until year 2399),
 *   4 of the process id (Linux pids are < 2^22 < 62^4),
 *   2 of a per-process random start plus a counter.
 *
 * A process never hands out the same microsecond twice (it borrows the
 * next one when asked twice within a microsecond), and two processes differ
 * in pid; the random part covers a pid reused after the clock stepped back.
 */
#define QUEUE_ID_LEN 15
#define QUEUE_ID_SIZE (QUEUE_ID_LEN + 1)

/* Writes a new NUL-terminated id into out. Never fails. Not thread-safe. */
void queue_id_new(char out[QUEUE_ID_SIZE]);
/* The same for a given time and pid (tests). */
void queue_id_make(char out[QUEUE_ID_SIZE], uint64_t time_us, uint32_t pid,
                   unsigned seq);
/* True when s[0..len) is a well-formed id (so it is safe as a file name). */
bool queue_id_valid(const char *s, size_t len);
/* The creation time encoded in a valid id, in microseconds since 1970. */
uint64_t queue_id_time_us(const char *id);

#endif
