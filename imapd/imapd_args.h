/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_ARGS_H
#define POSTHORN_IMAPD_IMAPD_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

/*
 * The token level of the IMAP command grammar (RFC 3501 section 9) over a
 * command assembled by imapd_reader.h: atoms, numbers, quoted strings,
 * literals, parenthesised lists (with a nesting bound), flags, sequence
 * sets, dates. Command handlers call these in the order their grammar
 * says; the first error stops the parse with a reason in err, which
 * becomes the text of a tagged BAD.
 *
 * Strings come back NUL-terminated in the per-command arena (a literal may
 * hold a NUL: use len), except imapd_args_literal_ref(), which points into
 * the command itself (APPEND's message, no copy). 8-bit bytes are accepted
 * in quoted strings as many clients send them; atoms are strict.
 */

struct imapd_args {
	const char *p; /* the command */
	size_t len;
	size_t pos;
	struct arena *a;    /* where strings are copied */
	unsigned depth;     /* open parentheses */
	unsigned max_depth; /* imapd_max_nesting */
	const char *err;    /* why the parse failed (static text) */
};

struct imapd_str {
	const char *p; /* NUL-terminated unless from imapd_args_literal_ref */
	size_t len;
};

/* RFC 3501 9 character classes. */
bool imapd_is_atom_char(unsigned char c);
bool imapd_is_astring_char(unsigned char c);
bool imapd_is_tag_char(unsigned char c);
bool imapd_is_list_char(unsigned char c);

/* Upper-cases ASCII letters of s in place. */
void imapd_upper(char *s);

/* Starts parsing cmd[0..len). */
void imapd_args_init(struct imapd_args *a, const char *cmd, size_t len,
                     struct arena *arena, unsigned max_depth);

/* True at the end of the command. */
bool imapd_args_end(const struct imapd_args *a);
/* True when the next byte is c (not consumed). */
bool imapd_args_peek(const struct imapd_args *a, char c);
/* Consumes c when it is next: true; else false (no error). */
bool imapd_args_take(struct imapd_args *a, char c);
/* Exactly one space; -1 otherwise. */
int imapd_args_sp(struct imapd_args *a);
/* The end of the command; -1 when anything is left. */
int imapd_args_done(struct imapd_args *a);

/* tag: 1*<ASTRING-CHAR except "+">. */
int imapd_args_tag(struct imapd_args *a, struct imapd_str *out);
/* atom: 1*ATOM-CHAR. */
int imapd_args_atom(struct imapd_args *a, struct imapd_str *out);
/* Bytes up to the next space, ')' or end that are ATOM-CHARs or any of
 * extra (e.g. "[]<>." for FETCH items). */
int imapd_args_word(struct imapd_args *a, const char *extra,
                    struct imapd_str *out);
/* astring: 1*ASTRING-CHAR / string. */
int imapd_args_astring(struct imapd_args *a, struct imapd_str *out);
/* string: quoted / literal. */
int imapd_args_string(struct imapd_args *a, struct imapd_str *out);
/* nstring: string / NIL (out->p NULL for NIL). */
int imapd_args_nstring(struct imapd_args *a, struct imapd_str *out);
/* list-mailbox: 1*list-char / string (LIST patterns). */
int imapd_args_list_mailbox(struct imapd_args *a, struct imapd_str *out);
/* A literal, pointing into the command (no copy, not NUL-terminated). */
int imapd_args_literal_ref(struct imapd_args *a, struct imapd_str *out);

/* number (32 bits), nz-number, number64 (RFC 7162, 63 bits). */
int imapd_args_number(struct imapd_args *a, uint32_t *out);
int imapd_args_nz_number(struct imapd_args *a, uint32_t *out);
int imapd_args_number64(struct imapd_args *a, uint64_t *out);

/* "(" and ")": open counts against max_depth. */
int imapd_args_open(struct imapd_args *a);
int imapd_args_close(struct imapd_args *a);

/* A flag ("\Seen", "\*" when allow_star, or a keyword atom). */
int imapd_args_flag(struct imapd_args *a, bool allow_star,
                    struct imapd_str *out);

/* Sets err (if not set yet) and returns -1: for handlers' own checks. */
int imapd_args_fail(struct imapd_args *a, const char *why);

#endif
