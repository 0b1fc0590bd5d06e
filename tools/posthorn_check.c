/* SPDX-License-Identifier: MIT */
/*
 * posthorn_check.c - `posthorn check`: find every configuration problem
 *
 * Collects all problems before printing any: main.cf (unknown names, bad
 * values), master.cf (syntax, missing programs, each service's -o values
 * checked by loading main.cf with them), the TLS files smtpd will read, and
 * the queue layout (queue_directory/{incoming,queue,private,public,pid},
 * owned by mail_owner when run as root except pid/, which is root's;
 * incoming/queue/private mode 0700).
 *
 * Output, sorted by file and line, on stderr as Postfix's `postfix check`:
 *   FILE:LINE: error: text      (a problem in a configuration file)
 *   error: text                 (anything else)
 * Nothing is printed when all is well. Exit 1 if any error, else 0.
 * It changes nothing: fixing the spool is `posthorn init`'s job.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mastercf.h"
#include "common/params.h"
#include "common/xalloc.h"
#include "posthorn_cmd.h"

#ifndef POSTHORN_CONFIG_DIR
#define POSTHORN_CONFIG_DIR "/etc/posthorn"
#endif

struct problem {
	char *file; /* NULL: not about a configuration file */
	int line;
	bool is_error;
	char *msg;
	size_t seq;
};

struct report {
	struct problem *v;
	size_t n;
	const char *maincf; /* sort main.cf before master.cf */
};

__attribute__((format(printf, 5, 6))) static void
add(struct report *r, const char *file, int line, bool is_error,
    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = xstrdup("out of memory");
	va_end(ap);
	for (size_t i = 0; i < r->n; i++) {
		struct problem *p = &r->v[i];
		if (p->line == line && p->is_error == is_error &&
		    strcmp(p->msg, msg) == 0 &&
		    (p->file && file ? strcmp(p->file, file) == 0
				     : p->file == file)) {
			free(msg);
			return;
		}
	}
	r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	r->v[r->n] = (struct problem){file ? xstrdup(file) : NULL, line,
				      is_error, msg, r->n};
	r->n++;
}

static void on_param_problem(void *ctx, const char *file, int line,
			     bool is_error, const char *msg)
{
	struct report *r = ctx;
	add(r, file, line, is_error, "%s", msg);
}

/* Problems of a load with a service's -o overrides: those in main.cf were
 * reported by the base load (and the rest are deduplicated by add()). */
static void on_service_problem(void *ctx, const char *file, int line,
			       bool is_error, const char *msg)
{
	(void)line;
	if (!file)
		add(ctx, NULL, 0, is_error, "%s", msg);
}

static void on_master_problem(void *ctx, const char *file, int line,
			      const char *msg)
{
	add(ctx, file, line, true, "%s", msg);
}

static int rank(const struct report *r, const struct problem *p)
{
	if (!p->file)
		return 2;
	return strcmp(p->file, r->maincf) == 0 ? 0 : 1;
}

static const struct report *sort_report;

static int cmp_problem(const void *a, const void *b)
{
	const struct problem *x = a, *y = b;
	int rx = rank(sort_report, x), ry = rank(sort_report, y);
	if (rx != ry)
		return rx - ry;
	if (rx < 2 && x->line != y->line)
		return x->line - y->line;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A file smtpd must be able to open; a key should not be world-readable. */
static void check_tls_file(struct report *r, const char *param,
			   const char *path, bool secret)
{
	struct stat st;
	if (!path || !*path)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		add(r, NULL, 0, true, "%s %s: %s", param, path,
		    strerror(errno));
		return;
	}
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		add(r, NULL, 0, true, "%s %s: not a regular file", param, path);
	else if (secret && (st.st_mode & 0004))
		add(r, NULL, 0, false, "%s %s: readable by every user", param,
		    path);
	close(fd);
}

static void check_tls(struct report *r)
{
	check_tls_file(r, "smtpd_tls_cert_file", params->smtpd_tls_cert_file,
		       false);
	/* The key defaults to the cert file: one message is enough. */
	if (strcmp(params->smtpd_tls_key_file, params->smtpd_tls_cert_file))
		check_tls_file(r, "smtpd_tls_key_file",
			       params->smtpd_tls_key_file, true);
}

/* The queue layout: every subdirectory present; as root (owner != NULL)
 * incoming/queue/private/public owned by mail_owner and pid/ by root
 * (master writes it before anything drops privileges); the private ones
 * mode 0700. */
static void check_queue(struct report *r, const struct passwd *owner)
{
	static const struct {
		const char *name;
		bool private_;
		bool root_owned;
	} sub[] = {{"incoming", true, false},
		   {"queue", true, false},
		   {"private", true, false},
		   {"public", false, false},
		   {"pid", false, true}};
	const char *q = params->queue_directory;
	struct stat st;

	if (stat(q, &st) < 0) {
		add(r, NULL, 0, true, "queue_directory %s: %s", q,
		    strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		add(r, NULL, 0, true, "queue_directory %s: not a directory", q);
		return;
	}
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		char *d = xasprintf("%s/%s", q, sub[i].name);
		if (lstat(d, &st) < 0)
			add(r, NULL, 0, true, "%s: %s", d, strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			add(r, NULL, 0, true, "%s: not a directory", d);
		else if (owner && sub[i].root_owned && st.st_uid != 0)
			add(r, NULL, 0, true, "%s: owned by uid %u, want root",
			    d, (unsigned)st.st_uid);
		else if (owner && !sub[i].root_owned &&
			 st.st_uid != owner->pw_uid)
			add(r, NULL, 0, true,
			    "%s: owned by uid %u, want mail_owner %s (uid %u)",
			    d, (unsigned)st.st_uid, owner->pw_name,
			    (unsigned)owner->pw_uid);
		else if (!owner && geteuid() != 0 && access(d, W_OK) < 0)
			add(r, NULL, 0, true, "%s: not writable: %s", d,
			    strerror(errno));
		else if (sub[i].private_ && (st.st_mode & 07777) != 0700)
			add(r, NULL, 0, true, "%s: mode %04o, want 0700", d,
			    (unsigned)(st.st_mode & 07777));
		free(d);
	}
}

static void check_services(struct report *r, const char *dir,
			   const struct mastercf *m)
{
	const char *dd = params->daemon_directory;
	struct err e;
	for (size_t i = 0; i < m->n; i++) {
		char *prog = xasprintf("%s/%s", dd, m->v[i].command);
		if (access(prog, X_OK) < 0)
			add(r, m->path, m->v[i].line, true,
			    "service %s/%s: command %s not found in %s: %s",
			    m->v[i].name, m->v[i].type, m->v[i].command, dd,
			    strerror(errno));
		free(prog);
	}
	/* Last: each load replaces `params`. */
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].overrides.n == 0)
			continue;
		const struct mastercf_service *sv = &m->v[i];
		size_t before = r->n;
		if (params_load_lenient(dir, &m->v[i].overrides,
					on_service_problem, r, &e) >= 0)
			check_tls(r);
		/* What this service's load found belongs to its line. */
		for (size_t k = before; k < r->n; k++) {
			struct problem *p = &r->v[k];
			if (p->file)
				continue;
			char *msg = xasprintf("service %s/%s: %s", sv->name,
					      sv->type, p->msg);
			free(p->msg);
			p->msg = msg;
			p->file = xstrdup(m->path);
			p->line = sv->line;
		}
	}
}

/* Runs every check, adding to r. */
static void check_all(struct report *r, const char *dir)
{
	struct mastercf m;
	struct err e;
	char *mpath = xasprintf("%s/master.cf", dir);

	if (params_load_lenient(dir, NULL, on_param_problem, r, &e) < 0) {
		add(r, NULL, 0, true, "%s", e.msg);
		(void)mastercf_read_all(mpath, &m, on_master_problem, r, &e);
		mastercf_free(&m);
		free(mpath);
		return;
	}
	struct passwd *pw = NULL;
	if (geteuid() == 0) {
		pw = getpwnam(params->mail_owner);
		if (!pw)
			add(r, NULL, 0, true, "mail_owner %s: no such user",
			    params->mail_owner);
		else if (pw->pw_uid == 0)
			add(r, NULL, 0, true, "mail_owner %s must not be root",
			    params->mail_owner);
	}
	struct passwd owner;
	if (pw)
		owner = *pw;
	check_queue(r, pw ? &owner : NULL);
	check_tls(r);
	if (mastercf_read_all(mpath, &m, on_master_problem, r, &e) < 0)
		add(r, NULL, 0, true, "%s", e.msg);
	check_services(r, dir, &m);
	mastercf_free(&m);
	free(mpath);
}

int cmd_check(struct posthorn_ctx *ctx, int argc, char **argv)
{
	const char *dir = ctx && ctx->config_dir ? ctx->config_dir
						 : POSTHORN_CONFIG_DIR;
	struct report r;
	int errors = 0;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: posthorn [-c DIR] check\n");
		return 2;
	}
	memset(&r, 0, sizeof(r));
	char *maincf = xasprintf("%s/main.cf", dir);
	r.maincf = maincf;
	check_all(&r, dir);
	sort_report = &r;
	if (r.n)
		qsort(r.v, r.n, sizeof(*r.v), cmp_problem);
	for (size_t i = 0; i < r.n; i++) {
		struct problem *p = &r.v[i];
		const char *level = p->is_error ? "error" : "warning";
		if (p->file)
			fprintf(stderr, "%s:%d: %s: %s\n", p->file, p->line,
				level, p->msg);
		else
			fprintf(stderr, "%s: %s\n", level, p->msg);
		errors += p->is_error;
		free(p->file);
		free(p->msg);
	}
	free(r.v);
	free(maincf);
	return errors ? 1 : 0;
}
