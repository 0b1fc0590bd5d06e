/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_PARAMS_IMPL_H
#define POSTHORN_COMMON_PARAMS_IMPL_H

/*
 * Shared between params.c and params_value.c only; everyone else uses
 * common/params.h.
 */
#include "common/params.h"

/* Converts text for pi (type, bounds) and, when field is not NULL, stores
 * the result there: STR stores text itself (not a copy), LIST/MAP a new
 * strv the caller owns. 0, or -1 with e set to the reason. */
int param_convert(const struct param_info *pi, const char *text,
		  void *field, struct err *e);
/* gethostname(), with ".localdomain" appended to a name without a dot.
 * Caller frees. */
char *param_hostname(void);
/* host without its first label, or "localdomain". Caller frees. */
char *param_domain_of(const char *host);

#endif
