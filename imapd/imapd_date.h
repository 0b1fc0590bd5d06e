/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_DATE_H
#define POSTHORN_IMAPD_IMAPD_DATE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Dates as IMAP writes them (RFC 3501 9: date, date-time) and as message
 * headers do (RFC 5322 3.3 Date:, obsolete forms included), for APPEND,
 * INTERNALDATE and the date keys of SEARCH. Times are seconds since the
 * epoch (UTC) plus the zone they were written in, in minutes east.
 * Calendar dates for SEARCH are day numbers (days since 1970-01-01).
 */

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t imapd_days_from_civil(int64_t y, unsigned m, unsigned d);

/* The day number of time t seen in zone tz (minutes east). */
int64_t imapd_day_of(int64_t t, int tz_minutes);

/* date-text "1-Feb-1994" / "01-Feb-1994" (month case-insensitive): 0 and
 * *day_out, or -1. */
int imapd_date_parse(const char *s, size_t len, int64_t *day_out);

/* date-time without its quotes, "17-Jul-1996 02:44:25 -0700" (day may be
 * " 7" or "7" or "07"): 0 with *t_out and *tz_out, or -1. */
int imapd_datetime_parse(const char *s, size_t len, int64_t *t_out,
                         int *tz_out);

#define IMAPD_DATETIME_LEN 26 /* "17-Jul-1996 02:44:25 -0700" */

/* Writes the date-time of t in zone tz (day space-padded, as
 * date-day-fixed), NUL-terminated, into out[IMAPD_DATETIME_LEN + 1]. */
void imapd_datetime_format(int64_t t, int tz_minutes,
                           char out[IMAPD_DATETIME_LEN + 1]);

/* An RFC 5322 Date: value (comments and folding allowed, obsolete zone
 * names, two- and three-digit years): 0 with *t_out, *tz_out, or -1. */
int imapd_rfc5322_date_parse(const char *s, size_t len, int64_t *t_out,
                             int *tz_out);

#endif
