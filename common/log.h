/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_LOG_H
#define POSTHORN_COMMON_LOG_H

#include <stddef.h>

/*
 * Logging in Postfix's shape, so its log tools read ours:
 *   "Nov 22 00:29:43 host posthorn/smtpd[1234]: 4Xb2kQ0z7Lz9: client=..."
 * Levels other than info get a "warning: ", "error: ", "fatal: ", "panic: "
 * prefix as in Postfix. Destinations: syslog (facility mail), a file named
 * by maillog_file (one write(2) per line with O_APPEND, so concurrent
 * processes never interleave inside a line; "/dev/stderr" means fd 2), or
 * the terminal for command-line tools ("posthorn: error: ...").
 * Until a destination is chosen, lines go to the terminal form on stderr.
 */

/* Sets the tag: "<syslog_name>/<service>" (e.g. "posthorn/smtpd"); a NULL
 * service gives just syslog_name (used by command-line tools). */
void log_set_ident(const char *syslog_name, const char *service);
/* Appends to path (created 0640) in syslog format; 0, or -1 with errno. */
int log_to_file(const char *path);
/* Sends lines to syslog with the named facility ("mail", "local0" ...). */
void log_to_syslog(const char *facility);
/* Short "ident: level: text" lines on stderr, for command-line tools. */
void log_to_terminal(void);
/* Debug lines with level <= v are written (log_debug); default 0. */
void log_set_verbose(int v);
int log_get_verbose(void);
/* Exit status of log_fatal (default 75, EX_TEMPFAIL, so master restarts the
 * service with backoff; tools set 1). */
void log_set_fatal_status(int status);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Cannot continue (configuration, resources): logs and exits. */
_Noreturn void log_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* A broken invariant, i.e. a bug: logs and aborts for a core dump. */
_Noreturn void log_panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/*
 * Makes network text safe to log: printable ASCII is kept, anything else
 * becomes '?', and the result is cut at outsz - 1 bytes (ending in "..."
 * when cut). Returns out. For use as a "%s" argument.
 */
const char *log_quote(char *out, size_t outsz, const void *s, size_t len);

#define ASSERT(cond)                                                          \
	do {                                                                  \
		if (!(cond))                                                  \
			log_panic("%s:%d: assertion failed: %s", __FILE__,    \
				  __LINE__, #cond);                           \
	} while (0)

#endif
