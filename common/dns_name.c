/* SPDX-License-Identifier: MIT */
/*
 * dns_name.c - the parts of dns.h that need no resolver: host name and
 * address syntax, MX ordering, result bookkeeping
 *
 * Kept apart from dns.c so that file holds only what touches c-ares, and
 * so qmgr and smtpd can check names without a resolver. Pure functions;
 * nothing here blocks or allocates except dns_result_deinit()'s frees.
 */
#include "common/dns.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

const char *dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "OK";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_NODATA:
		return "NODATA";
	case DNS_NULLMX:
		return "NULLMX";
	case DNS_TEMPFAIL:
		return "TEMPFAIL";
	case DNS_BADNAME:
		return "BADNAME";
	}
	return "?";
}

void dns_result_init(struct dns_result *res)
{
	memset(res, 0, sizeof(*res));
}

void dns_result_deinit(struct dns_result *res)
{
	free(res->mx);
	free(res->addr);
	for (size_t i = 0; i < res->nnames; i++)
		free(res->names[i]);
	free(res->names);
	dns_result_init(res);
}

bool dns_valid_hostname(const char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' ||
		          (c == '-' && label > 0);
		if (!ok || ++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

bool dns_parse_addr(const char *s, struct dns_addr *out)
{
	struct dns_addr a;
	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, &a.a.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a.a.v6) == 1)
		a.family = AF_INET6;
	else
		return false;
	(void)inet_ntop(a.family, &a.a, a.text, sizeof(a.text));
	if (out)
		*out = a;
	return true;
}

static uint32_t default_rnd(void *ctx)
{
	(void)ctx;
	return arc4random();
}

void dns_mx_sort(struct dns_mx *mx, size_t n, uint32_t (*rnd)(void *),
                 void *rnd_ctx)
{
	if (!rnd)
		rnd = default_rnd;
	/* Insertion sort: n is at most DNS_MX_MAX and usually tiny. */
	for (size_t i = 1; i < n; i++) {
		struct dns_mx t = mx[i];
		size_t j = i;
		while (j > 0 && mx[j - 1].pref > t.pref) {
			mx[j] = mx[j - 1];
			j--;
		}
		mx[j] = t;
	}
	/* RFC 5321 5.1: hosts of equal preference are tried in random
	 * order, spreading the load; Fisher-Yates within each run. */
	for (size_t lo = 0; lo < n;) {
		size_t hi = lo + 1;
		while (hi < n && mx[hi].pref == mx[lo].pref)
			hi++;
		for (size_t k = hi - lo; k > 1; k--) {
			size_t j = rnd(rnd_ctx) % k;
			struct dns_mx t = mx[lo + k - 1];
			mx[lo + k - 1] = mx[lo + j];
			mx[lo + j] = t;
		}
		lo = hi;
	}
}
