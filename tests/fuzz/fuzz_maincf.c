/* SPDX-License-Identifier: MIT */
/*
 * fuzz_maincf.c - main.cf and master.cf parsers, expansion, value checks
 *
 * The same bytes go to both parsers (strict and collecting). Each main.cf
 * value is then $-expanded against the file's own entries and, for a known
 * parameter, checked against its type, which drives the expansion engine,
 * the brace-aware splitter and the number parsers with hostile text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/maincf.h"
#include "common/mastercf.h"
#include "common/params.h"

static void ignore(void *ctx, const char *file, int line, const char *msg)
{
	(void)ctx;
	(void)file;
	(void)line;
	(void)msg;
}

static int cf_lookup(void *ctx, const char *name, size_t len,
		     const char **text_out, struct err *e)
{
	const struct maincf *cf = ctx;
	(void)e;
	for (size_t i = 0; i < cf->n; i++)
		if (strncmp(cf->v[i].name, name, len) == 0 &&
		    cf->v[i].name[len] == 0) {
			*text_out = cf->v[i].value;
			return 1;
		}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct maincf cf;
	struct mastercf m;
	struct err e;

	if (maincf_parse("f", text, size, &cf, &e) == 0)
		maincf_free(&cf);
	if (mastercf_parse("f", text, size, &m, &e) == 0)
		mastercf_free(&m);
	(void)mastercf_parse_all("f", text, size, &m, ignore, NULL, &e);
	mastercf_free(&m);

	if (maincf_parse_all("f", text, size, &cf, ignore, NULL, &e) < 0) {
		maincf_free(&cf);
		return 0;
	}
	for (size_t i = 0; i < cf.n; i++) {
		struct buf out;
		buf_init(&out, 65536);
		const char *v = cf.v[i].value;
		if (params_expand_with(v, strlen(v), cf_lookup, &cf, &out,
				       &e) == 0) {
			const struct param_info *pi =
				param_lookup(cf.v[i].name);
			if (pi)
				(void)param_check_value(pi, buf_cstr(&out),
							&e);
		}
		buf_deinit(&out);
	}
	maincf_free(&cf);
	return 0;
}
