/* SPDX-License-Identifier: MIT */
/*
 * sendmail.c - the Sendmail-compatible submission command, and mailq
 *
 *   sendmail [-t] [-i|-oi] [-f sender] [-F fullname] [-C dir]
 *            [-N dsn] [-R full|hdrs] [-V envid] [-bm|-bs|-bp] [--] rcpt...
 *   mailq    (or sendmail -bp): the queue listing of `posthorn queue list`
 *
 * Options are Postfix's; those that only matter to Sendmail's own daemon
 * (-oX other than -oi, -h, -L, -n, -U, -v ...) are accepted and ignored,
 * so existing scripts keep working. The message goes to the pickup service
 * (proto_pickup.h), so this program needs no privilege and never touches
 * the queue itself. Exit status follows sysexits.h: 0 only once the
 * message is durably queued.
 */
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/proto_qmgr.h"
#include "common/queue_env.h"
#include "common/str.h"
#include "common/xalloc.h"
#include "tools/posthorn_cmd.h"
#include "tools/sendmail.h"

#define EX_USAGE 64
#define EX_DATAERR 65
#define EX_UNAVAILABLE 69
#define EX_TEMPFAIL 75
#define EX_CONFIG 78

enum mode { MODE_DELIVER, MODE_SMTP, MODE_LIST };

struct args {
	enum mode mode;
	bool extract, dot_ends;
	const char *sender, *fullname, *config;
	struct sendmail_dsn dsn;
	int first_rcpt;
};

static _Noreturn void usage(void)
{
	fprintf(stderr,
	        "usage: sendmail [-t] [-i] [-f sender] [-F fullname] "
	        "[-C dir] [-N dsn] [-R full|hdrs] [-V envid] [-bm|-bs|-bp] "
	        "[--] recipient...\n");
	exit(EX_USAGE);
}

static unsigned parse_notify(const char *s)
{
	struct strv words;
	unsigned n = 0;
	strv_init(&words);
	strv_split(&words, s, ", ");
	for (size_t i = 0; i < words.n; i++) {
		if (str_eq_nocase(words.v[i], "never"))
			n |= QUEUE_NOTIFY_NEVER;
		else if (str_eq_nocase(words.v[i], "success"))
			n |= QUEUE_NOTIFY_SUCCESS;
		else if (str_eq_nocase(words.v[i], "failure"))
			n |= QUEUE_NOTIFY_FAILURE;
		else if (str_eq_nocase(words.v[i], "delay"))
			n |= QUEUE_NOTIFY_DELAY;
		else
			log_fatal("-N %s: use never or success,failure,delay",
			          s);
	}
	strv_deinit(&words);
	if ((n & QUEUE_NOTIFY_NEVER) && n != QUEUE_NOTIFY_NEVER)
		log_fatal("-N: never cannot be combined with others");
	return n;
}

static void parse_args(int argc, char **argv, struct args *a)
{
	int opt;
	a->dot_ends = true;
	while ((opt = getopt(argc, argv,
	                     "+B:b:C:F:f:GhIiL:N:nO:o:q::R:r:tUV:vX:")) != -1) {
		switch (opt) {
		case 'b':
			if (strcmp(optarg, "m") == 0)
				a->mode = MODE_DELIVER;
			else if (strcmp(optarg, "s") == 0)
				a->mode = MODE_SMTP;
			else if (strcmp(optarg, "p") == 0)
				a->mode = MODE_LIST;
			else
				log_fatal("-b%s is not supported (use -bm, -bs "
				          "or -bp)",
				          optarg);
			break;
		case 'C':
			a->config = optarg;
			break;
		case 'F':
			a->fullname = optarg;
			break;
		case 'f':
		case 'r':
			a->sender = optarg;
			break;
		case 'i':
			a->dot_ends = false;
			break;
		case 'I':
			log_fatal("newaliases: run `posthorn map build -a` "
			          "instead");
		case 'N':
			a->dsn.notify = parse_notify(optarg);
			break;
		case 'o':
			if (strcmp(optarg, "i") == 0)
				a->dot_ends = false;
			break;
		case 'q':
			log_fatal("-q: use `posthorn queue flush`");
		case 'R':
			if (!str_eq_nocase(optarg, "full") &&
			    !str_eq_nocase(optarg, "hdrs"))
				log_fatal("-R %s: use full or hdrs", optarg);
			a->dsn.ret =
			        str_eq_nocase(optarg, "full") ? "full" : "hdrs";
			break;
		case 't':
			a->extract = true;
			break;
		case 'V':
			a->dsn.envid = optarg;
			break;
		case 'B':
		case 'G':
		case 'h':
		case 'L':
		case 'n':
		case 'O':
		case 'U':
		case 'v':
		case 'X':
			break; /* Sendmail knobs with no meaning here */
		default:
			usage();
		}
	}
	a->first_rcpt = optind;
}

/* -C names main.cf or its directory. */
static const char *config_dir(const char *c)
{
	if (!c || !c[0]) {
		const char *env = getenv("POSTHORN_CONFIG");
		return env && env[0] ? env : POSTHORN_CONFIG_DIR;
	}
	size_t n = strlen(c);
	if (n > 8 && strcmp(c + n - 8, "/main.cf") == 0)
		return dirname(xstrdup(c));
	return c;
}

static int deliver(const struct args *a, int argc, char **argv,
                   const struct sendmail_opts *o)
{
	struct buf in, out;
	struct strv rcpts;
	struct err e;
	int status = 0;
	buf_init(&in, 0);
	buf_init(&out, 0);
	strv_init(&rcpts);
	for (int i = a->first_rcpt; i < argc; i++)
		sendmail_parse_addresses(argv[i], strlen(argv[i]), &rcpts);
	if (sendmail_read(stdin, a->dot_ends, o->max_size, &in, &e) < 0 ||
	    sendmail_rewrite(in.data ? in.data : "", in.len, o, &out, &rcpts,
	                     &e) < 0) {
		log_error("%s", e.msg);
		status = EX_DATAERR;
	} else if (rcpts.n == 0) {
		log_error("No recipient addresses found in %s",
		          a->extract ? "message header" : "the command line");
		status = EX_USAGE;
	} else {
		int rc = sendmail_submit(out.data, out.len, a->sender, &rcpts,
		                         &a->dsn, NULL, &e);
		if (rc < 0) {
			log_error("message not queued: %s", e.msg);
			status = rc == -2 ? EX_DATAERR : EX_TEMPFAIL;
		}
	}
	buf_deinit(&in);
	buf_deinit(&out);
	strv_deinit(&rcpts);
	return status;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	struct err e;
	const char *prog = strrchr(argv[0], '/');
	prog = prog ? prog + 1 : argv[0];
	log_set_ident(strcmp(prog, "mailq") == 0 ? "mailq" : "sendmail", NULL);
	log_to_terminal();
	log_set_fatal_status(EX_USAGE);
	parse_args(argc, argv, &a);
	if (strcmp(prog, "mailq") == 0)
		a.mode = MODE_LIST;
	if (params_load(config_dir(a.config), NULL, NULL, NULL, &e) < 0) {
		log_error("%s", e.msg);
		return EX_CONFIG;
	}
	log_set_fatal_status(EX_TEMPFAIL);
	if (a.mode == MODE_LIST)
		return posthorn_queue_list(stdout) == 0 ? 0 : EX_UNAVAILABLE;

	struct passwd *pw = getpwuid(getuid());
	char *login =
	        pw ? xstrdup(pw->pw_name) : xasprintf("%ld", (long)getuid());
	char *from_addr = xasprintf("%s@%s", login, params->myorigin);
	char *gecos = NULL;
	if (pw && pw->pw_gecos && pw->pw_gecos[0])
		gecos = xstrndup(pw->pw_gecos, strcspn(pw->pw_gecos, ","));
	if (!a.sender)
		a.sender = from_addr;
	struct sendmail_opts o = {
	        .extract = a.extract,
	        .dot_ends = a.dot_ends,
	        .from_addr = strchr(a.sender, '@') || !a.sender[0]
	                             ? (a.sender[0] ? a.sender : from_addr)
	                             : xasprintf("%s@%s", a.sender,
	                                         params->myorigin),
	        .fullname = a.fullname ? a.fullname : gecos,
	        .hostname = params->myhostname,
	        .max_size = params->message_size_limit,
	};
	int status = a.mode == MODE_SMTP ? sendmail_smtp(stdin, stdout, &o)
	                                 : deliver(&a, argc, argv, &o);
	free(login);
	free(from_addr);
	free(gecos);
	return status;
}
