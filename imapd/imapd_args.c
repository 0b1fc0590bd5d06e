/* SPDX-License-Identifier: MIT */
/*
 * imapd_args.c - tokens of the IMAP command grammar (RFC 3501 9)
 *
 * Reads the assembled command (imapd_reader.c) left to right. Each
 * function either consumes exactly its token and returns 0, or consumes
 * nothing useful and returns -1 with a reason in err; the first reason
 * wins, so the client learns about the first problem. Literals appear as
 * "{n}\r\n" + n bytes; n was checked by the reader, and is checked again
 * against the bytes actually present.
 */
#include "imapd/imapd_args.h"

#include <string.h>

#include "common/arena.h"
#include "common/str.h"

bool imapd_is_atom_char(unsigned char c)
{
	if (c <= 0x1f || c >= 0x7f)
		return false;
	return strchr("(){ %*\"\\]", c) == NULL;
}

bool imapd_is_astring_char(unsigned char c)
{
	return imapd_is_atom_char(c) || c == ']';
}

bool imapd_is_tag_char(unsigned char c)
{
	return imapd_is_astring_char(c) && c != '+';
}

bool imapd_is_list_char(unsigned char c)
{
	return imapd_is_atom_char(c) || c == '%' || c == '*' || c == ']';
}

void imapd_upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

void imapd_args_init(struct imapd_args *a, const char *cmd, size_t len,
                     struct arena *arena, unsigned max_depth)
{
	memset(a, 0, sizeof(*a));
	a->p = cmd;
	a->len = len;
	a->a = arena;
	a->max_depth = max_depth;
}

int imapd_args_fail(struct imapd_args *a, const char *why)
{
	if (!a->err)
		a->err = why;
	return -1;
}

bool imapd_args_end(const struct imapd_args *a)
{
	return a->pos >= a->len;
}

bool imapd_args_peek(const struct imapd_args *a, char c)
{
	return a->pos < a->len && a->p[a->pos] == c;
}

bool imapd_args_take(struct imapd_args *a, char c)
{
	if (!imapd_args_peek(a, c))
		return false;
	a->pos++;
	return true;
}

int imapd_args_sp(struct imapd_args *a)
{
	if (!imapd_args_take(a, ' '))
		return imapd_args_fail(a, "Missing argument");
	return 0;
}

int imapd_args_done(struct imapd_args *a)
{
	if (a->err)
		return -1;
	if (!imapd_args_end(a))
		return imapd_args_fail(a, "Unexpected extra arguments");
	return 0;
}

/* A run of bytes accepted by ok, copied. */
static int run(struct imapd_args *a, bool (*ok)(unsigned char),
               const char *extra, struct imapd_str *out, const char *why)
{
	size_t start = a->pos;
	while (a->pos < a->len) {
		unsigned char c = (unsigned char)a->p[a->pos];
		if (!ok(c) && !(extra && c && strchr(extra, c)))
			break;
		a->pos++;
	}
	if (a->pos == start)
		return imapd_args_fail(a, why);
	out->len = a->pos - start;
	out->p = arena_memdup(a->a, a->p + start, out->len);
	return 0;
}

int imapd_args_tag(struct imapd_args *a, struct imapd_str *out)
{
	return run(a, imapd_is_tag_char, NULL, out, "Invalid tag");
}

int imapd_args_atom(struct imapd_args *a, struct imapd_str *out)
{
	return run(a, imapd_is_atom_char, NULL, out, "Invalid atom");
}

int imapd_args_word(struct imapd_args *a, const char *extra,
                    struct imapd_str *out)
{
	return run(a, imapd_is_atom_char, extra, out, "Invalid argument");
}

static int quoted(struct imapd_args *a, struct imapd_str *out)
{
	/* a->p[a->pos] is the opening quote */
	size_t i = a->pos + 1;
	char *dst = arena_alloc(a->a, a->len - a->pos);
	size_t n = 0;
	while (i < a->len) {
		char c = a->p[i];
		if (c == '"') {
			dst[n] = '\0';
			out->p = dst;
			out->len = n;
			a->pos = i + 1;
			return 0;
		}
		if (c == '\\') {
			if (i + 1 >= a->len ||
			    (a->p[i + 1] != '"' && a->p[i + 1] != '\\'))
				return imapd_args_fail(a,
				                       "Invalid quoted string");
			c = a->p[++i];
		} else if (c == '\r' || c == '\n' || c == '\0') {
			return imapd_args_fail(a, "Invalid quoted string");
		}
		dst[n++] = c;
		i++;
	}
	return imapd_args_fail(a, "Unterminated quoted string");
}

int imapd_args_literal_ref(struct imapd_args *a, struct imapd_str *out)
{
	if (!imapd_args_peek(a, '{'))
		return imapd_args_fail(a, "Literal expected");
	size_t i = a->pos + 1;
	uint64_t n = 0;
	size_t digits = 0;
	while (i < a->len && a->p[i] >= '0' && a->p[i] <= '9' && digits < 11) {
		n = n * 10 + (uint64_t)(a->p[i] - '0');
		i++;
		digits++;
	}
	if (digits == 0 || digits > 10 || i + 3 > a->len || a->p[i] != '}' ||
	    a->p[i + 1] != '\r' || a->p[i + 2] != '\n')
		return imapd_args_fail(a, "Invalid literal");
	i += 3;
	if (n > a->len - i)
		return imapd_args_fail(a, "Literal shorter than announced");
	out->p = a->p + i;
	out->len = (size_t)n;
	a->pos = i + (size_t)n;
	return 0;
}

int imapd_args_string(struct imapd_args *a, struct imapd_str *out)
{
	if (imapd_args_peek(a, '"'))
		return quoted(a, out);
	if (imapd_args_peek(a, '{')) {
		struct imapd_str ref;
		if (imapd_args_literal_ref(a, &ref) < 0)
			return -1;
		out->p = arena_memdup(a->a, ref.p, ref.len);
		out->len = ref.len;
		return 0;
	}
	return imapd_args_fail(a, "String expected");
}

int imapd_args_astring(struct imapd_args *a, struct imapd_str *out)
{
	if (imapd_args_peek(a, '"') || imapd_args_peek(a, '{'))
		return imapd_args_string(a, out);
	return run(a, imapd_is_astring_char, NULL, out, "Invalid argument");
}

static bool is_nil(const struct imapd_args *a)
{
	if (!str_prefix_nocase(a->p + a->pos, a->len - a->pos, "NIL"))
		return false;
	return a->pos + 3 == a->len ||
	       !imapd_is_atom_char((unsigned char)a->p[a->pos + 3]);
}

int imapd_args_nstring(struct imapd_args *a, struct imapd_str *out)
{
	if (is_nil(a)) {
		a->pos += 3;
		out->p = NULL;
		out->len = 0;
		return 0;
	}
	return imapd_args_string(a, out);
}

int imapd_args_list_mailbox(struct imapd_args *a, struct imapd_str *out)
{
	if (imapd_args_peek(a, '"') || imapd_args_peek(a, '{'))
		return imapd_args_string(a, out);
	return run(a, imapd_is_list_char, NULL, out, "Invalid mailbox pattern");
}

int imapd_args_number64(struct imapd_args *a, uint64_t *out)
{
	size_t start = a->pos;
	uint64_t v = 0;
	while (a->pos < a->len && a->p[a->pos] >= '0' && a->p[a->pos] <= '9') {
		v = v * 10 + (uint64_t)(a->p[a->pos] - '0');
		if (v > INT64_MAX)
			return imapd_args_fail(a, "Number too large");
		a->pos++;
	}
	if (a->pos == start)
		return imapd_args_fail(a, "Number expected");
	*out = v;
	return 0;
}

int imapd_args_number(struct imapd_args *a, uint32_t *out)
{
	uint64_t v;
	if (imapd_args_number64(a, &v) < 0)
		return -1;
	if (v > UINT32_MAX)
		return imapd_args_fail(a, "Number too large");
	*out = (uint32_t)v;
	return 0;
}

int imapd_args_nz_number(struct imapd_args *a, uint32_t *out)
{
	if (imapd_args_number(a, out) < 0)
		return -1;
	if (*out == 0)
		return imapd_args_fail(a, "Zero is not allowed here");
	return 0;
}

int imapd_args_open(struct imapd_args *a)
{
	if (!imapd_args_take(a, '('))
		return imapd_args_fail(a, "'(' expected");
	if (++a->depth > a->max_depth)
		return imapd_args_fail(a, "Too deeply nested");
	return 0;
}

int imapd_args_close(struct imapd_args *a)
{
	if (!imapd_args_take(a, ')'))
		return imapd_args_fail(a, "')' expected");
	if (a->depth > 0)
		a->depth--;
	return 0;
}

int imapd_args_flag(struct imapd_args *a, bool allow_star,
                    struct imapd_str *out)
{
	if (imapd_args_peek(a, '\\')) {
		if (allow_star && a->pos + 1 < a->len &&
		    a->p[a->pos + 1] == '*') {
			a->pos += 2;
			out->p = "\\*";
			out->len = 2;
			return 0;
		}
		size_t start = a->pos++;
		struct imapd_str atom;
		if (imapd_args_atom(a, &atom) < 0)
			return -1;
		out->len = a->pos - start;
		out->p = arena_memdup(a->a, a->p + start, out->len);
		return 0;
	}
	return imapd_args_atom(a, out);
}
