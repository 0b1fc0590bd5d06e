/* SPDX-License-Identifier: MIT */
/*
 * log.c - Postfix-shaped log lines to syslog, a file, or the terminal
 *
 * Each line is formatted in full into a stack buffer and written with one
 * write(2), so lines from many processes appending to one maillog_file
 * never interleave. errno is preserved across every call so callers can
 * log first and inspect errno after.
 */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum dest { DEST_TERMINAL, DEST_FILE, DEST_SYSLOG };

static enum dest dest = DEST_TERMINAL;
static int file_fd = -1;
static char ident[128] = "posthorn";
static char host[64];
static int verbose;
static int fatal_status = 75;

void log_set_ident(const char *syslog_name, const char *service)
{
	if (service)
		(void)snprintf(ident, sizeof(ident), "%s/%s", syslog_name,
			       service);
	else
		(void)snprintf(ident, sizeof(ident), "%s", syslog_name);
	if (dest == DEST_SYSLOG) {
		closelog();
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
}

int log_to_file(const char *path)
{
	int fd;
	if (strcmp(path, "/dev/stderr") == 0)
		fd = dup(2);
	else if (strcmp(path, "/dev/stdout") == 0)
		fd = dup(1);
	else
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			  0640);
	if (fd < 0)
		return -1;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (file_fd >= 0)
		close(file_fd);
	file_fd = fd;
	dest = DEST_FILE;
	if (gethostname(host, sizeof(host) - 1) < 0)
		(void)snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = 0;
	char *dot = strchr(host, '.');
	if (dot)
		*dot = 0;
	return 0;
}

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
	{"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
	{"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
	{"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

void log_to_syslog(const char *facility)
{
	int fac = LOG_MAIL;
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcmp(facilities[i].name, facility) == 0)
			fac = facilities[i].value;
	if (file_fd >= 0)
		close(file_fd);
	file_fd = -1;
	dest = DEST_SYSLOG;
	openlog(ident, LOG_PID | LOG_NDELAY, fac);
}

void log_to_terminal(void)
{
	dest = DEST_TERMINAL;
}

void log_set_verbose(int v)
{
	verbose = v;
}

int log_get_verbose(void)
{
	return verbose;
}

void log_set_fatal_status(int status)
{
	fatal_status = status;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void vlog(int prio, const char *level, const char *fmt, va_list ap)
{
	int saved = errno;
	char msg[4096];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		(void)snprintf(msg, sizeof(msg), "(unformattable log line)");
	if (dest == DEST_SYSLOG) {
		syslog(prio, "%s%s", level, msg);
		errno = saved;
		return;
	}
	char line[4400];
	int len;
	if (dest == DEST_FILE) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;
		(void)localtime_r(&now, &tm);
		if (strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm) == 0)
			stamp[0] = 0;
		len = snprintf(line, sizeof(line), "%s %s %s[%ld]: %s%s\n",
			       stamp, host, ident, (long)getpid(), level, msg);
	} else {
		len = snprintf(line, sizeof(line), "%s: %s%s\n", ident, level,
			       msg);
	}
	if (len < 0)
		len = 0;
	if ((size_t)len >= sizeof(line)) {
		len = sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	write_all(dest == DEST_FILE ? file_fd : 2, line, (size_t)len);
	errno = saved;
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_WARNING, "warning: ", fmt, ap);
	va_end(ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_ERR, "error: ", fmt, ap);
	va_end(ap);
}

void log_debug(int level, const char *fmt, ...)
{
	if (level > verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, "", fmt, ap);
	va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	exit(fatal_status);
}

void log_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_CRIT, "panic: ", fmt, ap);
	va_end(ap);
	abort();
}

const char *log_quote(char *out, size_t outsz, const void *s, size_t len)
{
	const unsigned char *p = s;
	size_t o = 0;
	if (outsz == 0)
		return out;
	for (size_t i = 0; i < len; i++) {
		if (o + 1 >= outsz) {
			if (outsz > 4)
				memcpy(out + outsz - 4, "...", 3),
					o = outsz - 1;
			break;
		}
		out[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	}
	out[o] = 0;
	return out;
}
