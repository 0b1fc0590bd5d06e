/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_ERR_H
#define POSTHORN_COMMON_ERR_H

/*
 * A reason for a failure, filled by the callee for the caller to print or
 * log. Fixed size so filling it never allocates and never fails.
 */
struct err {
	char msg[512];
};

/* Sets e->msg (truncated to fit). e may be NULL: then it does nothing. */
void err_set(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
