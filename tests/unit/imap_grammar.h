/* SPDX-License-Identifier: MIT */
/*
 * imap_grammar.h - a strict checker of RFC 3501 section 9 "envelope" and
 * "body", for tests and the fuzz target (test code, not linked into
 * daemons). Independent of imap_struct.c on purpose: it reads the text
 * back the way a client parser does and fails on anything the grammar
 * does not allow, including a missing or extra field. It also checks what
 * imap_struct promises beyond the grammar: BODYSTRUCTURE always carries
 * the four extension fields, BODY never does.
 */
#ifndef POSTHORN_TESTS_IMAP_GRAMMAR_H
#define POSTHORN_TESTS_IMAP_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct igram {
	const char *s;
	size_t n, i;
	unsigned depth;
	bool ext;    /* BODYSTRUCTURE (extension data) rather than BODY */
	bool global; /* IMAP4rev2: MESSAGE/GLOBAL is a message */
};

static bool ig_lit(struct igram *g, const char *w)
{
	size_t l = strlen(w);
	if (g->n - g->i < l || memcmp(g->s + g->i, w, l) != 0)
		return false;
	g->i += l;
	return true;
}

static bool ig_number(struct igram *g, unsigned long long *out)
{
	size_t j = g->i;
	unsigned long long v = 0;
	while (j < g->n && g->s[j] >= '0' && g->s[j] <= '9' && j - g->i < 19)
		v = v * 10 + (unsigned)(g->s[j++] - '0');
	if (j == g->i)
		return false;
	g->i = j;
	if (out)
		*out = v;
	return true;
}

/* string: quoted (7-bit TEXT-CHARs, \" and \\ escaped) or a literal of
 * CHAR8; *val gets the unescaped text's first bytes for keyword checks. */
static bool ig_string(struct igram *g, char *val, size_t vsz)
{
	size_t k = 0;
	if (g->i < g->n && g->s[g->i] == '{') {
		unsigned long long len;
		g->i++;
		if (!ig_number(g, &len) || !ig_lit(g, "}\r\n") ||
		    len > g->n - g->i)
			return false;
		for (size_t j = 0; j < len; j++) {
			if (g->s[g->i + j] == 0)
				return false;
			if (val && k + 1 < vsz)
				val[k++] = g->s[g->i + j];
		}
		g->i += len;
	} else {
		if (!ig_lit(g, "\""))
			return false;
		for (;;) {
			if (g->i >= g->n)
				return false;
			unsigned char c = (unsigned char)g->s[g->i++];
			if (c == '"')
				break;
			if (c == '\\') {
				if (g->i >= g->n ||
				    (g->s[g->i] != '"' && g->s[g->i] != '\\'))
					return false;
				c = (unsigned char)g->s[g->i++];
			} else if (c == 0 || c == '\r' || c == '\n' ||
			           c >= 0x80) {
				return false;
			}
			if (val && k + 1 < vsz)
				val[k++] = (char)c;
		}
	}
	if (val)
		val[k] = 0;
	return true;
}

static bool ig_nstring(struct igram *g)
{
	return ig_lit(g, "NIL") || ig_string(g, NULL, 0);
}

static bool ig_address(struct igram *g)
{
	return ig_lit(g, "(") && ig_nstring(g) && ig_lit(g, " ") &&
	       ig_nstring(g) && ig_lit(g, " ") && ig_nstring(g) &&
	       ig_lit(g, " ") && ig_nstring(g) && ig_lit(g, ")");
}

static bool ig_addrlist(struct igram *g)
{
	if (ig_lit(g, "NIL"))
		return true;
	if (!ig_lit(g, "(") || !ig_address(g))
		return false;
	while (g->i < g->n && g->s[g->i] == '(')
		if (!ig_address(g))
			return false;
	return ig_lit(g, ")");
}

static bool ig_envelope(struct igram *g)
{
	if (!ig_lit(g, "(") || !ig_nstring(g) || !ig_lit(g, " ") ||
	    !ig_nstring(g))
		return false;
	for (int k = 0; k < 6; k++)
		if (!ig_lit(g, " ") || !ig_addrlist(g))
			return false;
	return ig_lit(g, " ") && ig_nstring(g) && ig_lit(g, " ") &&
	       ig_nstring(g) && ig_lit(g, ")");
}

static bool ig_params(struct igram *g)
{
	if (ig_lit(g, "NIL"))
		return true;
	if (!ig_lit(g, "(") || !ig_string(g, NULL, 0) || !ig_lit(g, " ") ||
	    !ig_string(g, NULL, 0))
		return false;
	while (ig_lit(g, " "))
		if (!ig_string(g, NULL, 0) || !ig_lit(g, " ") ||
		    !ig_string(g, NULL, 0))
			return false;
	return ig_lit(g, ")");
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static bool ig_ext_tail(struct igram *g)
{
	if (!ig_lit(g, "NIL") &&
	    !(ig_lit(g, "(") && ig_string(g, NULL, 0) && ig_lit(g, " ") &&
	      ig_params(g) && ig_lit(g, ")")))
		return false;
	if (!ig_lit(g, " "))
		return false;
	if (ig_lit(g, "(")) {
		if (!ig_string(g, NULL, 0))
			return false;
		while (ig_lit(g, " "))
			if (!ig_string(g, NULL, 0))
				return false;
		if (!ig_lit(g, ")"))
			return false;
	} else if (!ig_nstring(g)) {
		return false;
	}
	return ig_lit(g, " ") && ig_nstring(g);
}

static bool ig_upper_eq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a >= 'a' && *a <= 'z' ? (char)(*a - 32) : *a;
		if (x != *b)
			return false;
	}
	return *a == *b;
}

static bool ig_body(struct igram *g)
{
	char type[32], sub[32];
	if (++g->depth > 200 || !ig_lit(g, "("))
		return false;
	if (g->i < g->n && g->s[g->i] == '(') { /* body-type-mpart */
		while (g->i < g->n && g->s[g->i] == '(')
			if (!ig_body(g))
				return false;
		if (!ig_lit(g, " ") || !ig_string(g, NULL, 0))
			return false;
		if (g->ext && !(ig_lit(g, " ") && ig_params(g) &&
		                ig_lit(g, " ") && ig_ext_tail(g)))
			return false;
		g->depth--;
		return ig_lit(g, ")");
	}
	if (!ig_string(g, type, sizeof(type)) || !ig_lit(g, " ") ||
	    !ig_string(g, sub, sizeof(sub)) || !ig_lit(g, " ") ||
	    !ig_params(g) || !ig_lit(g, " ") || !ig_nstring(g) ||
	    !ig_lit(g, " ") || !ig_nstring(g) || !ig_lit(g, " ") ||
	    !ig_string(g, NULL, 0) || !ig_lit(g, " ") || !ig_number(g, NULL))
		return false;
	bool msg = ig_upper_eq(type, "MESSAGE") &&
	           (ig_upper_eq(sub, "RFC822") ||
	            (g->global && ig_upper_eq(sub, "GLOBAL")));
	if (msg &&
	    !(ig_lit(g, " ") && ig_envelope(g) && ig_lit(g, " ") && ig_body(g)))
		return false;
	if ((msg || ig_upper_eq(type, "TEXT")) &&
	    !(ig_lit(g, " ") && ig_number(g, NULL)))
		return false;
	if (g->ext && !(ig_lit(g, " ") && ig_nstring(g) && ig_lit(g, " ") &&
	                ig_ext_tail(g)))
		return false;
	g->depth--;
	return ig_lit(g, ")");
}

/* True when s[0..n) is exactly one body (ext: BODYSTRUCTURE form). */
static inline bool imap_grammar_body(const char *s, size_t n, bool ext,
                                     bool global)
{
	struct igram g = {s, n, 0, 0, ext, global};
	return ig_body(&g) && g.i == n;
}

/* True when s[0..n) is exactly one envelope. */
static inline bool imap_grammar_envelope(const char *s, size_t n)
{
	struct igram g = {s, n, 0, 0, false, false};
	return ig_envelope(&g) && g.i == n;
}

#endif
