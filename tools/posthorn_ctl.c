/* SPDX-License-Identifier: MIT */
/*
 * posthorn_ctl.c - start, start-fg, stop, reload, status
 *
 * The pid file (queue_directory/pid/master.pid) is a lock held by master
 * for its whole life, so "running" always means a live master, never a
 * stale number. start runs master, which detaches only once every socket
 * is open: its exit status is the answer to "did it start?".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/pidfile.h"
#include "common/xalloc.h"
#include "tools/posthorn_cmd.h"

#define STOP_WAIT_MS 30000

static char *pid_path(void)
{
	return xasprintf("%s/pid/master.pid", params->queue_directory);
}

static pid_t running_pid(void)
{
	struct err e;
	char *path = pid_path();
	pid_t pid = pidfile_owner(path, &e);
	free(path);
	if (pid < 0)
		log_error("%s", e.msg);
	return pid;
}

static char *master_path(void)
{
	return xasprintf("%s/master", params->daemon_directory);
}

static int no_args(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "usage: posthorn [-c DIR] %s\n", argv[0]);
		return 2;
	}
	return 0;
}

static void build_master_argv(struct posthorn_ctx *ctx, struct strv *av,
			      bool foreground)
{
	strv_push(av, "master");
	strv_push(av, "-c");
	strv_push(av, ctx->config_dir);
	if (foreground) {
		strv_push(av, "-f");
		strv_push(av, "-o");
		strv_push(av, "maillog_file=/dev/stderr");
	}
	for (int i = 0; i < ctx->verbose; i++)
		strv_push(av, "-v");
}

/* Checks usage and that nothing runs yet; fills av with master's command
 * line. 0, or the exit status to return. */
static int prepare_start(struct posthorn_ctx *ctx, int argc, char **argv,
			 bool foreground, struct strv *av)
{
	int rc = no_args(argc, argv);
	if (rc)
		return rc;
	pid_t pid = running_pid();
	if (pid > 0) {
		log_error("the mail system is already running (pid %ld)",
			  (long)pid);
		return 1;
	}
	strv_init(av);
	build_master_argv(ctx, av, foreground);
	return 0;
}

int cmd_start(struct posthorn_ctx *ctx, int argc, char **argv)
{
	struct strv av;
	int rc = prepare_start(ctx, argc, argv, false, &av);
	if (rc)
		return rc;
	char *path = master_path();
	pid_t child = fork();
	if (child < 0)
		log_fatal("fork: %s", strerror(errno));
	if (child == 0) {
		execv(path, av.v);
		fprintf(stderr, "posthorn: cannot run %s: %s\n", path,
			strerror(errno));
		_exit(127);
	}
	int status;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	free(path);
	strv_deinit(&av);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("posthorn: the mail system is started\n");
		return 0;
	}
	log_error("the mail system did not start");
	return 1;
}

int cmd_start_fg(struct posthorn_ctx *ctx, int argc, char **argv)
{
	struct strv av;
	int rc = prepare_start(ctx, argc, argv, true, &av);
	if (rc)
		return rc;
	char *path = master_path();
	/* master replaces us, so Ctrl-C and the terminal reach it directly. */
	execv(path, av.v);
	log_error("cannot run %s: %s", path, strerror(errno));
	return 1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cmd_stop(struct posthorn_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	int rc = no_args(argc, argv);
	if (rc)
		return rc;
	pid_t pid = running_pid();
	if (pid <= 0) {
		log_error("the mail system is not running");
		return 1;
	}
	if (kill(pid, SIGTERM) < 0) {
		log_error("cannot signal master (pid %ld): %s", (long)pid,
			  strerror(errno));
		return 1;
	}
	for (long waited = 0; waited < STOP_WAIT_MS; waited += 50) {
		if (running_pid() == 0) {
			printf("posthorn: the mail system is stopped\n");
			return 0;
		}
		sleep_ms(50);
	}
	log_error("master (pid %ld) did not stop within %d seconds", (long)pid,
		  STOP_WAIT_MS / 1000);
	return 1;
}

int cmd_reload(struct posthorn_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	int rc = no_args(argc, argv);
	if (rc)
		return rc;
	pid_t pid = running_pid();
	if (pid <= 0) {
		log_error("the mail system is not running");
		return 1;
	}
	if (kill(pid, SIGHUP) < 0) {
		log_error("cannot signal master (pid %ld): %s", (long)pid,
			  strerror(errno));
		return 1;
	}
	printf("posthorn: refreshing the mail system\n");
	return 0;
}

int cmd_status(struct posthorn_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	int rc = no_args(argc, argv);
	if (rc)
		return rc;
	pid_t pid = running_pid();
	if (pid > 0) {
		printf("posthorn: the mail system is running: PID: %ld\n",
		       (long)pid);
		return 0;
	}
	printf("posthorn: the mail system is not running\n");
	return 1;
}
