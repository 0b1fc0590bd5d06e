/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_STR_H
#define POSTHORN_COMMON_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Small string helpers. Anything that parses network input takes
 * (pointer, length) and never relies on a terminating NUL.
 */

/* Parses a decimal unsigned number that fills all of s[0..len) and lies in
 * [min, max]. No sign, no spaces, no leading '+'. 0 ok, -1 otherwise. */
int parse_uintn(const char *s, size_t len, uint64_t min, uint64_t max,
		uint64_t *out);
/* The same for a NUL-terminated string. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* ASCII case-insensitive comparisons (locale-independent). */
bool str_eq_nocase(const char *a, const char *b);
bool strn_eq_nocase(const char *a, size_t alen, const char *b);
/* True when s[0..len) starts with prefix, ignoring ASCII case. */
bool str_prefix_nocase(const char *s, size_t len, const char *prefix);
/* Lower-cases ASCII letters in place. */
void str_lower(char *s);

/* Strips leading and trailing ASCII white space in place; returns s. */
char *str_trim(char *s);

/* A growable vector of owned strings; NULL-terminated for execv(). */
struct strv {
	char **v;
	size_t n;
	size_t cap;
};

void strv_init(struct strv *sv);
/* Appends a copy of s. */
void strv_push(struct strv *sv, const char *s);
void strv_pushn(struct strv *sv, const char *s, size_t len);
/* Frees the strings and the vector; leaves it empty and reusable. */
void strv_deinit(struct strv *sv);
/* Splits s at any character in seps, skipping empty fields, appending the
 * pieces to sv. With seps ", \t\r\n" this reads main.cf lists. */
void strv_split(struct strv *sv, const char *s, const char *seps);
/* True when some element equals s ignoring ASCII case. */
bool strv_contains_nocase(const struct strv *sv, const char *s);

#endif
