/* SPDX-License-Identifier: MIT */
/*
 * imapd_date.c - IMAP and RFC 5322 dates
 *
 * Calendar arithmetic is done here (days from a civil date and back), not
 * with mktime()/localtime(): those depend on the process's TZ, which a
 * daemon should not, and on a locale for month names.
 */
#include "imapd/imapd_date.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/str.h"

static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int64_t imapd_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's days_from_civil, shifted so March is month 0. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

int64_t imapd_day_of(int64_t t, int tz_minutes)
{
	return floor_div(t + (int64_t)tz_minutes * 60, 86400);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned dm[12] = {31, 28, 31, 30, 31, 30,
	                                31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

static int month_of(const char *s, size_t len)
{
	if (len != 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (str_prefix_nocase(s, 3, months[i]))
			return i + 1;
	return -1;
}

/* Digits s[*i..] (at most max of them, at least 1): value or -1. */
static long digits(const char *s, size_t len, size_t *i, size_t max)
{
	size_t start = *i;
	long v = 0;
	while (*i < len && *i - start < max && s[*i] >= '0' && s[*i] <= '9')
		v = v * 10 + (s[(*i)++] - '0');
	return *i == start ? -1 : v;
}

static bool valid_date(int64_t y, unsigned m, unsigned d)
{
	return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
	       d <= days_in_month(y, m);
}

int imapd_date_parse(const char *s, size_t len, int64_t *day_out)
{
	size_t i = 0;
	long d = digits(s, len, &i, 2);
	if (d < 0 || i >= len || s[i] != '-' || len - i < 5)
		return -1;
	int m = month_of(s + i + 1, 3);
	i += 4;
	if (m < 0 || s[i] != '-')
		return -1;
	i++;
	size_t ys = i;
	long y = digits(s, len, &i, 4);
	if (y < 0 || i - ys != 4 || i != len ||
	    !valid_date(y, (unsigned)m, (unsigned)d))
		return -1;
	*day_out = imapd_days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

int imapd_datetime_parse(const char *s, size_t len, int64_t *t_out, int *tz_out)
{
	size_t i = 0;
	if (i < len && s[i] == ' ')
		i++;
	size_t ds = i;
	long d = digits(s, len, &i, 2);
	if (d < 0 || i - ds < 1 || i >= len || s[i] != '-' || len - i < 5)
		return -1;
	int m = month_of(s + i + 1, 3);
	i += 4;
	if (m < 0 || i >= len || s[i] != '-')
		return -1;
	i++;
	size_t ys = i;
	long y = digits(s, len, &i, 4);
	if (y < 0 || i - ys != 4 || !valid_date(y, (unsigned)m, (unsigned)d))
		return -1;
	long hh, mm, ss;
	if (i >= len || s[i++] != ' ')
		return -1;
	size_t ts = i;
	hh = digits(s, len, &i, 2);
	if (hh < 0 || i - ts != 2 || i >= len || s[i++] != ':')
		return -1;
	ts = i;
	mm = digits(s, len, &i, 2);
	if (mm < 0 || i - ts != 2 || i >= len || s[i++] != ':')
		return -1;
	ts = i;
	ss = digits(s, len, &i, 2);
	if (ss < 0 || i - ts != 2 || hh > 23 || mm > 59 || ss > 60)
		return -1;
	if (i >= len || s[i++] != ' ' || i >= len ||
	    (s[i] != '+' && s[i] != '-'))
		return -1;
	int sign = s[i++] == '-' ? -1 : 1;
	ts = i;
	long z = digits(s, len, &i, 4);
	if (z < 0 || i - ts != 4 || i != len || z % 100 > 59)
		return -1;
	int tz = sign * (int)((z / 100) * 60 + z % 100);
	int64_t day = imapd_days_from_civil(y, (unsigned)m, (unsigned)d);
	*t_out = day * 86400 + hh * 3600 + mm * 60 + ss - (int64_t)tz * 60;
	*tz_out = tz;
	return 0;
}

void imapd_datetime_format(int64_t t, int tz_minutes,
                           char out[IMAPD_DATETIME_LEN + 1])
{
	int64_t local = t + (int64_t)tz_minutes * 60;
	int64_t day = floor_div(local, 86400);
	int64_t sec = local - day * 86400;
	int64_t y;
	unsigned m, d;
	civil_from_days(day, &y, &m, &d);
	if (y < 0 || y > 9999) {
		y = 1970;
		m = 1;
		d = 1;
	}
	int tz = tz_minutes < 0 ? -tz_minutes : tz_minutes;
	char tmp[80];
	snprintf(tmp, sizeof(tmp), "%2u-%.3s-%04d %02d:%02d:%02d %c%02d%02d", d,
	         months[m - 1], (int)y, (int)(sec / 3600), (int)(sec / 60 % 60),
	         (int)(sec % 60), tz_minutes < 0 ? '-' : '+', tz / 60 % 100,
	         tz % 60);
	memcpy(out, tmp, IMAPD_DATETIME_LEN);
	out[IMAPD_DATETIME_LEN] = '\0';
}

/* ---- RFC 5322 3.3 (and 4.3 obsolete forms) --------------------------- */

struct lexer {
	const char *s;
	size_t len, i;
};

/* Skips white space, folding and (nested) comments. */
static void skip_cfws(struct lexer *x)
{
	unsigned depth = 0;
	while (x->i < x->len) {
		char c = x->s[x->i];
		if (depth > 0 && c == '\\' && x->i + 1 < x->len) {
			x->i += 2;
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' &&
		         c != '\n')
			return;
		x->i++;
	}
}

/* A run of letters, digits or sign characters. */
static size_t word(struct lexer *x, const char **w)
{
	skip_cfws(x);
	size_t start = x->i;
	while (x->i < x->len) {
		char c = x->s[x->i];
		bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		             (c >= 'A' && c <= 'Z');
		if (!alnum && !(x->i == start && (c == '+' || c == '-')))
			break;
		x->i++;
	}
	*w = x->s + start;
	return x->i - start;
}

static bool all_digits(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (w[i] < '0' || w[i] > '9')
			return false;
	return n > 0;
}

static long num(const char *w, size_t n)
{
	long v = 0;
	for (size_t i = 0; i < n && i < 9; i++)
		v = v * 10 + (w[i] - '0');
	return v;
}

/* Obsolete zone names (RFC 5322 4.3); military zones count as +0000, as
 * the RFC advises. 1 found, 0 not. */
static int zone_name(const char *w, size_t n, int *tz)
{
	static const struct {
		const char *name;
		int tz;
	} z[] = {{"UT", 0},     {"UTC", 0},    {"GMT", 0},    {"Z", 0},
	         {"EST", -300}, {"EDT", -240}, {"CST", -360}, {"CDT", -300},
	         {"MST", -420}, {"MDT", -360}, {"PST", -480}, {"PDT", -420}};
	for (size_t i = 0; i < sizeof(z) / sizeof(z[0]); i++)
		if (strn_eq_nocase(w, n, z[i].name)) {
			*tz = z[i].tz;
			return 1;
		}
	if (n == 1 &&
	    ((w[0] >= 'a' && w[0] <= 'z') || (w[0] >= 'A' && w[0] <= 'Z'))) {
		*tz = 0;
		return 1;
	}
	return 0;
}

int imapd_rfc5322_date_parse(const char *s, size_t len, int64_t *t_out,
                             int *tz_out)
{
	struct lexer x = {s, len, 0};
	const char *w;
	size_t n = word(&x, &w);
	/* Optional day of week, then ",". */
	if (n > 0 && !all_digits(w, n)) {
		skip_cfws(&x);
		if (x.i < x.len && x.s[x.i] == ',')
			x.i++;
		n = word(&x, &w);
	}
	if (!all_digits(w, n) || n > 2)
		return -1;
	long d = num(w, n);
	n = word(&x, &w);
	int m = month_of(w, n);
	if (m < 0)
		return -1;
	n = word(&x, &w);
	if (!all_digits(w, n) || n < 2 || n > 4)
		return -1;
	long y = num(w, n);
	if (n == 2)
		y += y < 50 ? 2000 : 1900; /* RFC 5322 4.3 */
	else if (n == 3)
		y += 1900;
	if (!valid_date(y, (unsigned)m, (unsigned)d))
		return -1;
	long hms[3] = {0, 0, 0};
	for (int k = 0; k < 3; k++) {
		n = word(&x, &w);
		if (!all_digits(w, n) || n > 2)
			return -1;
		hms[k] = num(w, n);
		skip_cfws(&x);
		if (k < 2 && !(x.i < x.len && x.s[x.i] == ':')) {
			if (k == 1)
				break; /* seconds are optional */
			return -1;
		}
		if (k < 2)
			x.i++;
	}
	if (hms[0] > 23 || hms[1] > 59 || hms[2] > 60)
		return -1;
	int tz = 0;
	n = word(&x, &w);
	if (n == 5 && (w[0] == '+' || w[0] == '-') && all_digits(w + 1, 4)) {
		long z = num(w + 1, 4);
		if (z % 100 > 59)
			return -1;
		tz = (w[0] == '-' ? -1 : 1) * (int)((z / 100) * 60 + z % 100);
	} else if (n > 0 && !zone_name(w, n, &tz)) {
		tz = 0; /* an unknown zone is +0000 (RFC 5322 4.3) */
	}
	int64_t day = imapd_days_from_civil(y, (unsigned)m, (unsigned)d);
	*t_out = day * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2] -
	         (int64_t)tz * 60;
	*tz_out = tz;
	return 0;
}
