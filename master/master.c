/* SPDX-License-Identifier: MIT */
/*
 * master.c - the supervisor: start-up, signals, reload and stop
 *
 *   master -c CONFIG_DIR [-f] [-v] [-o name=value]...
 *
 * Loads main.cf and master.cf, takes the pid-file lock, opens every
 * listening socket (as root, before forking anything), then runs the
 * service table (master_svc.c) in an event loop. -f keeps it in the
 * foreground; otherwise it detaches only after everything above worked,
 * so `posthorn start` can report a failure with its reason.
 *
 * Signals: SIGHUP reloads both files (a bad file keeps the old
 * configuration and logs why); SIGTERM/SIGINT stop every child, close the
 * sockets, remove the pid file and exit; SIGCHLD reaps.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/event.h"
#include "common/log.h"
#include "common/mastercf.h"
#include "common/params.h"
#include "common/pidfile.h"
#include "common/privs.h"
#include "common/service.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "master/master_svc.h"

#define STOP_GRACE_MS 10000

static struct master_opts opts;
static struct strv overrides;
static struct event_loop *loop;
static char *pid_path;
static int pid_fd = -1;
static bool stopping;
static struct event *stop_timer;
static int term_fd = -1; /* the starting command's stderr, until detached */
static bool log_opened;  /* logging goes where main.cf says, not stderr */

static void usage(void)
{
	fprintf(stderr, "usage: master -c config_dir [-f] [-v] "
			"[-o name=value]...\n");
	exit(2);
}

/* Start-up errors go to the log and to the terminal of whoever ran
 * `posthorn start`, which is still our stderr until we detach. */
static _Noreturn void startup_fail(const char *msg)
{
	if (term_fd >= 0)
		dprintf(term_fd, "posthorn/master: fatal: %s\n", msg);
	else if (log_opened && params->maillog_file[0] &&
		 strcmp(params->maillog_file, "/dev/stderr") != 0)
		fprintf(stderr, "posthorn/master: fatal: %s\n", msg);
	log_fatal("%s", msg);
}

static int load_config(struct mastercf *cf, struct err *e)
{
	if (params_load(opts.config_dir, &overrides, NULL, NULL, e) < 0)
		return -1;
	char *path = xasprintf("%s/master.cf", opts.config_dir);
	int rc = mastercf_read(path, cf, e);
	free(path);
	return rc;
}

static void finish_stop(void)
{
	log_info("terminating");
	pidfile_release(pid_path, pid_fd);
	event_loop_stop(loop);
}

static void on_stop_timeout(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	(void)ctx;
	event_del(&ev);
	stop_timer = NULL;
	master_svc_kill_all();
}

static void begin_stop(void)
{
	if (stopping)
		return;
	stopping = true;
	log_info("stopping on request");
	if (master_svc_stop_all() == 0) {
		finish_stop();
		return;
	}
	stop_timer = event_add_timer(loop, STOP_GRACE_MS, on_stop_timeout,
				     NULL);
}

static void reload(void)
{
	struct mastercf cf = {0};
	struct err e;
	if (load_config(&cf, &e) < 0) {
		log_error("reload failed, keeping the running configuration: "
			  "%s",
			  e.msg);
		mastercf_free(&cf);
		return;
	}
	service_open_log("master");
	if (master_svc_apply(&cf, &e) < 0)
		log_error("reload failed, keeping the running services: %s",
			  e.msg);
	else
		log_info("reload -- version %s, configuration %s", POSTHORN_VERSION,
			 opts.config_dir);
	mastercf_free(&cf);
}

static void on_signal(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	(void)ctx;
	switch (event_fd(ev)) {
	case SIGHUP:
		if (!stopping)
			reload();
		break;
	case SIGTERM:
	case SIGINT:
		begin_stop();
		break;
	case SIGCHLD:
		master_svc_reap();
		if (stopping && master_svc_nchildren() == 0) {
			event_del(&stop_timer);
			finish_stop();
		}
		break;
	}
}

static void redirect_stdio(void)
{
	int null = open("/dev/null", O_RDWR);
	if (null < 0)
		return;
	(void)dup2(null, 0);
	(void)dup2(null, 1);
	/* Early errors of children (before they read main.cf) go to
	 * stderr: keep it pointing at the log when there is one. */
	int logfd = -1;
	if (params->maillog_file[0] &&
	    strncmp(params->maillog_file, "/dev/", 5) != 0)
		logfd = open(params->maillog_file,
			     O_WRONLY | O_APPEND | O_CREAT, 0640);
	(void)dup2(logfd >= 0 ? logfd : null, 2);
	if (logfd >= 0)
		close(logfd);
	if (null > 2)
		close(null);
}

/*
 * Forks into the background before any service starts, so the children
 * belong to the process that stays. The parent waits on a pipe until the
 * child has finished set-up: "ok" means started (exit 0); EOF without it
 * means set-up failed and the child already said why on stderr.
 */
static int detach_begin(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		log_fatal("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		log_fatal("fork: %s", strerror(errno));
	if (pid > 0) {
		char b[2];
		close(p[1]);
		ssize_t n;
		do
			n = read(p[0], b, sizeof(b));
		while (n < 0 && errno == EINTR);
		_exit(n == 2 && memcmp(b, "ok", 2) == 0 ? 0 : 1);
	}
	close(p[0]);
	(void)setsid();
	/* Children must not hold the starting command's terminal or pipes:
	 * it waits for EOF on them. Keep one private copy for errors. */
	term_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
	redirect_stdio();
	if (pidfile_update(pid_fd) < 0)
		startup_fail("cannot update the pid file");
	return p[1];
}

static void detach_end(int fd)
{
	if (write(fd, "ok", 2) != 2)
		log_warn("cannot tell the starting command we are up");
	close(fd);
	if (term_fd >= 0)
		close(term_fd);
	term_fd = -1;
}

int main(int argc, char **argv)
{
	bool foreground = false;
	struct err e;
	int opt;

	log_set_ident("posthorn", "master");
	/* Descriptors inherited from whoever started us would leak into
	 * every service. */
	close_range(3, ~0U, 0);
	strv_init(&overrides);
	opts.config_dir = POSTHORN_CONFIG_DIR;
	while ((opt = getopt(argc, argv, "c:fvo:")) != -1) {
		switch (opt) {
		case 'c':
			opts.config_dir = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'v':
			opts.verbose++;
			log_set_verbose(opts.verbose);
			break;
		case 'o':
			if (!strchr(optarg, '='))
				usage();
			strv_push(&overrides, optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	opts.overrides = &overrides;
	log_set_fatal_status(1);

	struct mastercf cf = {0};
	if (load_config(&cf, &e) < 0)
		startup_fail(e.msg);
	service_open_log("master");
	log_opened = true;
	umask(022);

	pid_path = xasprintf("%s/pid/master.pid", params->queue_directory);
	pid_fd = pidfile_acquire(pid_path, &e);
	if (pid_fd < 0)
		startup_fail(e.msg);

	if (!privs_is_root())
		log_warn("not running as root: every service runs as uid %ld "
			 "and privileges are not separated",
			 (long)getuid());

	int ready_fd = foreground ? -1 : detach_begin();
	/* Signals arrive through the loop; block them before any child
	 * exists so no SIGCHLD is lost. The loop is made after detaching:
	 * an epoll set watching a signalfd wakes only the process that
	 * registered it, not a forked child. */
	loop = event_loop_new();
	(void)event_add_signal(loop, SIGCHLD, on_signal, NULL);
	(void)event_add_signal(loop, SIGHUP, on_signal, NULL);
	(void)event_add_signal(loop, SIGTERM, on_signal, NULL);
	(void)event_add_signal(loop, SIGINT, on_signal, NULL);
	signal(SIGPIPE, SIG_IGN);
	master_svc_setup(loop, &opts);
	if (master_svc_apply(&cf, &e) < 0) {
		pidfile_release(pid_path, pid_fd);
		startup_fail(e.msg);
	}
	mastercf_free(&cf);
	if (ready_fd >= 0)
		detach_end(ready_fd);
	log_info("daemon started -- version %s, configuration %s", POSTHORN_VERSION,
		 opts.config_dir);
	if (event_loop_run(loop) < 0)
		log_fatal("event loop: %s", strerror(errno));
	event_loop_free(&loop);
	return 0;
}
