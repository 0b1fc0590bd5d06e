/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MASTERCF_H
#define POSTHORN_COMMON_MASTERCF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/maincf.h"
#include "common/str.h"

/*
 * master.cf: one service per logical line, Postfix's columns
 *
 *   service type private unpriv chroot wakeup maxproc command + args
 *
 * type is "inet" or "unix". '-' in a column means its default (private y,
 * unpriv y, chroot n, wakeup 0, maxproc default_process_limit, which is
 * stored here as 0). An inet service name is "port", "host:port" or
 * "[v6addr]:port"; port may be a number or a services(5) name. Continuation
 * lines start with white space; '#' lines are comments. "-o name=value"
 * arguments are per-service parameter overrides ("-o name=value",
 * "-oname=value", or "-o { name = value }" for a value with spaces); other
 * arguments go to the program. Words are split at white space, except
 * inside braces. Bounds as for main.cf; at most MASTERCF_SERVICES_MAX
 * services.
 */
#define MASTERCF_SERVICES_MAX 256
#define MASTERCF_MAXPROC_MAX 100000
#define MASTERCF_WAKEUP_MAX 86400
struct mastercf_service {
	char *name;       /* column 1 as written */
	char *type;       /* "inet" or "unix" */
	bool private_;    /* unix socket under private/ (else public/) */
	bool unpriv;      /* drop to mail_owner */
	bool chroot;      /* chroot to queue_directory */
	int wakeup;       /* seconds, 0 = none */
	int maxproc;      /* 0 = default_process_limit */
	char *command;    /* program name in daemon_directory (no '/') */
	struct strv args;      /* program arguments other than -o */
	struct strv overrides; /* "name=value" from -o */
	int line;
	/* inet only, split from name: host ("" = inet_interfaces; an IPv6
	 * address without its brackets) and port (always a decimal number,
	 * a services(5) name resolved). NULL for unix services. */
	char *host;
	char *port;
};

struct mastercf {
	char *path;
	struct mastercf_service *v;
	size_t n;
};

/* Parses path. 0, or -1 with e = "path:line: reason". cf is always
 * initialised: free it with mastercf_free() in both cases. Checks column
 * count, type, y/n/- flags, numbers, -o syntax, and that no two services
 * share name and type (for inet: the same host and port). */
int mastercf_read(const char *path, struct mastercf *cf, struct err *e);
int mastercf_parse(const char *path, const char *text, size_t len,
		   struct mastercf *cf, struct err *e);

/* Called for each bad line by the _all readers: msg is the reason alone. */
typedef maincf_problem_fn mastercf_problem_fn;
/* Like mastercf_read()/mastercf_parse(), but a bad line is reported through
 * problem and skipped, and the good services are kept in cf. Returns the
 * number of bad lines reported (0: all good), or -1 with e set when the
 * read stopped (open error, a bound), which is not reported. */
int mastercf_read_all(const char *path, struct mastercf *cf,
		      mastercf_problem_fn problem, void *ctx, struct err *e);
int mastercf_parse_all(const char *path, const char *text, size_t len,
		       struct mastercf *cf, mastercf_problem_fn problem,
		       void *ctx, struct err *e);
/* Frees everything cf holds and empties it; accepts an empty cf. */
void mastercf_free(struct mastercf *cf);

/* True when a and b would run identically (same columns, command, args and
 * overrides): master keeps such a service across reload. */
bool mastercf_service_same(const struct mastercf_service *a,
			   const struct mastercf_service *b);

#endif
