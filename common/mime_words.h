/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MIME_WORDS_H
#define POSTHORN_COMMON_MIME_WORDS_H

#include <stddef.h>

#include "common/buf.h"

/*
 * Header text to UTF-8: RFC 2047 encoded words, RFC 2231 extended
 * parameter values, and the few character sets converted in-process.
 *
 * Character sets converted: UTF-8 (validated), US-ASCII, ISO-8859-1,
 * ISO-8859-15 and Windows-1252, under their common names. Others are not
 * converted (no iconv: its converters are large, locale-dependent, absent
 * in a chroot and have had memory-safety bugs); see each function for
 * what happens to them. In all output, invalid sequences become U+FFFD
 * and the controls NUL, CR and LF become a space, so decoded text can
 * never split a header line or end a C string early.
 *
 * Every function appends to out and returns 0, or -1 when out's maximum
 * would be exceeded (out may then hold part of the result).
 */

/*
 * Converts in[0..len) from the character set named cs[0..cslen) (ASCII
 * case-insensitive; an RFC 2231 "*language" suffix is ignored) to UTF-8.
 * Returns 1 when converted, 0 when the set is unknown (nothing appended),
 * -1 when out is full.
 */
int mime_charset_to_utf8(const char *cs, size_t cslen, const char *in,
                         size_t len, struct buf *out);

/*
 * Appends bytes of unknown or undeclared encoding as UTF-8: kept when they
 * are valid UTF-8, else read as Windows-1252 (what mail in the wild that
 * is not UTF-8 nearly always is).
 */
int mime_text_to_utf8(const char *in, size_t len, struct buf *out);

/*
 * Decodes an unstructured header value (raw, folded or not) to UTF-8:
 * folding line ends are removed, encoded words =?charset?B|Q?text?= are
 * decoded, white space between two adjacent encoded words is dropped
 * (RFC 2047 6.2), and other text goes through mime_text_to_utf8(). An
 * encoded word is recognised even when glued to other text, as most
 * readers do. A word in an unknown character set, or that is malformed,
 * is kept as it was, undecoded.
 */
int mime_words_decode(const char *in, size_t len, struct buf *out);

/*
 * Decodes an RFC 2231 extended parameter value, charset'language'%XX...,
 * to UTF-8. Without the two quotes the whole value is %-encoded data of
 * no declared set; an unknown or missing set is treated as by
 * mime_text_to_utf8(). Bad %-escapes are kept literally.
 */
int mime_words_decode_2231(const char *in, size_t len, struct buf *out);

#endif
