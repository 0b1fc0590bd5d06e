/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_BUF_H
#define POSTHORN_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growable byte buffer with a hard maximum. data is always followed by a
 * NUL byte (not counted in len) so text can be handed to C APIs, but the
 * contents may hold NULs: use len, never strlen.
 *
 * Appending past max fails with -1 and leaves the buffer unchanged; the
 * caller turns that into a protocol error (line too long, literal too big).
 * Every buffer fed from the network gets a max from the parameter table.
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

/* Initialises an embedded buffer; max 0 means SIZE_MAX. Never fails. */
void buf_init(struct buf *b, size_t max);
/* Releases an embedded buffer's storage; it can be buf_init()ed again. */
void buf_deinit(struct buf *b);
/* A new heap buffer; free with buf_free(). */
struct buf *buf_new(size_t max);
/* Frees *bp and sets it to NULL; accepts NULL. */
void buf_free(struct buf **bp);

/* Appends n bytes; 0, or -1 if the result would exceed max. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Makes room for n more bytes without changing len; 0 or -1 over max. */
int buf_reserve(struct buf *b, size_t n);

/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);
/* Removes the first n bytes (all if n >= len). */
void buf_consume(struct buf *b, size_t n);
/* Shortens to n bytes (no-op if n >= len). */
void buf_truncate(struct buf *b, size_t n);
/* Returns the contents as a NUL-terminated string ("" when empty). */
const char *buf_cstr(const struct buf *b);
/* Hands the storage to the caller (free() it) and empties the buffer. */
char *buf_take(struct buf *b);

#endif
