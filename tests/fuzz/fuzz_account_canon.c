/* SPDX-License-Identifier: MIT */
/*
 * fuzz_account_canon.c - address syntax, as it arrives in AUTH, LOGIN and
 * USER: never reads past len, and an accepted address is canonical (lower
 * case, accepted again unchanged, no '/' and no "..": it names a maildir).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/account.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[ACCOUNT_ADDR_MAX + 1], again[ACCOUNT_ADDR_MAX + 1];
	struct err e;
	if (account_canon((const char *)data, size, out, sizeof(out), &e) < 0)
		return 0;
	if (strlen(out) != size || strchr(out, '/') || strstr(out, "..") ||
	    !strchr(out, '@'))
		abort();
	for (const char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			abort();
	if (account_canon(out, size, again, sizeof(again), &e) < 0 ||
	    strcmp(out, again) != 0)
		abort();
	return 0;
}
