/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MIME_PARAMS_H
#define POSTHORN_COMMON_MIME_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/rfc822.h"

/*
 * Structured MIME fields of the form  value *(";" name "=" value):
 * Content-Type (RFC 2045 5.1), Content-Disposition (RFC 2183), with
 * RFC 2231 parameter continuations merged.
 *
 * A merged parameter keeps its RFC 2231 encoding: an extended one is
 * reported with extended = true and the value charset'language'%XX... of
 * all its sections joined. That is what BODYSTRUCTURE sends (as name "*"),
 * keeping the list 7-bit and leaving the decoding to the client, as the
 * widely deployed servers do; mime_param_value_utf8() decodes for display.
 */

/* At most this many parameters per field are looked at, and a
 * continuation has at most MIME_MAX_SECTIONS sections (hostile input
 * cannot make the parser sort or allocate without bound). */
#define MIME_MAX_PARAMS 64
#define MIME_MAX_SECTIONS 1000

struct mime_param {
	struct rfc822_str name;  /* without RFC 2231 '*' or section suffix */
	struct rfc822_str value; /* unquoted; see above when extended */
	bool extended;
};

struct mime_field {
	struct rfc822_str token; /* "type/subtype" or disposition, as written
	                            with white space and comments removed */
	struct mime_param *params;
	size_t nparams;
};

/*
 * Parses a raw (possibly folded) field value into *out; strings are copied
 * into arena a. Never fails: malformed parameters are skipped, a missing
 * value gives an empty token, duplicate names keep the first.
 */
void mime_field_parse(struct arena *a, const char *v, size_t len,
                      struct mime_field *out);

/*
 * Splits a Content-Type token into type and subtype, each a non-empty RFC
 * 2045 token. false when the token is not "type/subtype" (the caller then
 * uses the default text/plain, RFC 2045 5.2).
 */
bool mime_ctype_split(const struct rfc822_str *token, struct rfc822_str *type,
                      struct rfc822_str *subtype);

/* True when token[0..] is a syntactically valid RFC 2045 token. */
bool mime_is_token(const char *s, size_t len);

/* The parameter called name (ASCII case-insensitive) with the given
 * extended flag, or NULL. */
const struct mime_param *mime_param_find(const struct mime_field *f,
                                         const char *name, bool extended);

/*
 * The display value of parameter name as UTF-8, appended to out: the
 * extended form decoded (RFC 2231) when present, else the plain value with
 * any RFC 2047 encoded words decoded (non-standard in parameters, yet what
 * many mailers send for file names). 1 found, 0 absent, -1 out full.
 */
int mime_param_value_utf8(const struct mime_field *f, const char *name,
                          struct buf *out);

#endif
