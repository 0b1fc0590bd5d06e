/* SPDX-License-Identifier: MIT */
/*
 * service.c - the skeleton every Posthorn daemon runs on
 *
 * Owns process start-up in one fixed order (parse, config, log, sockets,
 * privileged init, drop, init, serve) so no daemon can read network input
 * before dropping root, and owns the conversation with master: busy and
 * available reports on the status pipe, and retirement when master closes
 * that pipe. It knows nothing about any protocol.
 *
 * Invariant: a ONE_CLIENT process reports BUSY before it calls accept()
 * and AVAIL after, so master's count of available processes is never
 * higher than the truth (it would then fail to spawn when needed).
 */
#include "common/service.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/master_proto.h"
#include "common/params.h"
#include "common/privs.h"
#include "common/xalloc.h"

#define MAX_LISTEN 64

static const struct service_def *def;
static const char *svc_name;
static const char *svc_type = "unix";
static struct strv svc_args;
static int listen_fds[MAX_LISTEN];
static int nlisten;
static int status_fd = -1;
static struct event_loop *loop;
static volatile sig_atomic_t got_term;
static bool retired;

const char *service_name(void)
{
	return svc_name;
}

const struct strv *service_args(void)
{
	return &svc_args;
}

struct event_loop *service_loop(void)
{
	return loop;
}

bool service_stopping(void)
{
	return retired || got_term;
}

void service_stop(void)
{
	retired = true;
	if (loop)
		event_loop_stop(loop);
}

void service_open_log(const char *service)
{
	log_set_ident(params->syslog_name, service);
	if (params->maillog_file[0]) {
		if (log_to_file(params->maillog_file) < 0)
			log_fatal("cannot open maillog_file %s: %s",
				  params->maillog_file, strerror(errno));
	} else {
		log_to_syslog(params->syslog_facility);
	}
}

static void report(int kind)
{
	if (status_fd < 0)
		return;
	struct master_status st = {.pid = getpid(), .kind = kind};
	ssize_t n;
	do
		n = write(status_fd, &st, sizeof(st));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EPIPE)
		retired = true;
}

static void usage(const char *prog)
{
	log_fatal("usage: %s -c config_dir -n service -t inet|unix -s count "
		  "[-u] [-r] [-v] [-o name=value] [-- args]",
		  prog);
}

static void parse_args(int argc, char **argv, const char **config_dir,
		       struct strv *overrides, bool *chroot_flag)
{
	int opt;
	uint64_t n = 0;
	*config_dir = NULL;
	svc_name = def->name;
	/* '+': stop at the first non-option so master.cf arguments that
	 * look like options reach the program untouched after "--". */
	while ((opt = getopt(argc, argv, "+c:n:t:s:o:urv")) != -1) {
		switch (opt) {
		case 'c':
			*config_dir = optarg;
			break;
		case 'n':
			svc_name = optarg;
			break;
		case 't':
			svc_type = optarg;
			break;
		case 's':
			if (parse_uint(optarg, 0, MAX_LISTEN, &n) < 0)
				usage(argv[0]);
			nlisten = (int)n;
			break;
		case 'o':
			if (!strchr(optarg, '='))
				usage(argv[0]);
			strv_push(overrides, optarg);
			break;
		case 'u':
			break;
		case 'r':
			*chroot_flag = true;
			break;
		case 'v':
			log_set_verbose(log_get_verbose() + 1);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (!*config_dir)
		*config_dir = POSTHORN_CONFIG_DIR;
	strv_init(&svc_args);
	for (int i = optind; i < argc; i++)
		strv_push(&svc_args, argv[i]);
}

static void drop_privileges(void)
{
	struct err e;
	uid_t uid;
	gid_t gid, extra = (gid_t)-1;
	if (!privs_is_root())
		return;
	switch (def->user) {
	case SERVICE_USER_ROOT:
		return;
	case SERVICE_USER_MAIL_OWNER:
		if (privs_lookup_user(params->mail_owner, &uid, &gid, &e) < 0)
			log_fatal("mail_owner: %s", e.msg);
		break;
	case SERVICE_USER_VIRTUAL: {
		unsigned u, g;
		if (privs_lookup_static(params->virtual_uid_maps, false, &u,
					&e) < 0 ||
		    privs_lookup_static(params->virtual_gid_maps, true, &g,
					&e) < 0)
			log_fatal("virtual mailbox owner: %s", e.msg);
		uid = u;
		gid = g;
		/* The account map is readable by mail_owner's group
		 * (account_share_group); pop3d/imapd check passwords. */
		uid_t ou;
		if (privs_lookup_user(params->mail_owner, &ou, &extra, &e) < 0)
			log_fatal("mail_owner: %s", e.msg);
		break;
	}
	default:
		log_panic("bad service user %d", (int)def->user);
	}
	if (uid == 0)
		log_fatal("refusing to run %s as root: set mail_owner / "
			  "virtual_uid_maps to an unprivileged user",
			  def->name);
	if (privs_drop(uid, gid, extra, &e) < 0)
		log_fatal("%s", e.msg);
}

static bool take_client(int lfd, struct service_client *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		/* Another process won the race, or the client left. */
		if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != ECONNABORTED && errno != EINTR)
			log_warn("accept: %s", strerror(errno));
		return false;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->service = svc_name;
	c->inet = strcmp(svc_type, "inet") == 0;
	net_addr_from(&c->peer, (struct sockaddr *)&ss, len);
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		net_addr_from(&c->local, (struct sockaddr *)&ss, len);
	return true;
}

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* Serves one client at a time until idle, used up, or retired. */
static int run_one_client(void)
{
	struct pollfd pfd[MAX_LISTEN + 1];
	long uses = 0;
	for (int i = 0; i < nlisten; i++)
		pfd[i] = (struct pollfd){.fd = listen_fds[i], .events = POLLIN};
	/* events = 0: only POLLERR/POLLHUP, raised when master closes the
	 * read end (retirement or master gone). */
	pfd[nlisten] = (struct pollfd){.fd = status_fd, .events = 0};
	int nfds = nlisten + (status_fd >= 0 ? 1 : 0);

	for (;;) {
		if (service_stopping())
			return 0;
		report(MASTER_STATUS_AVAIL);
		int rc = poll(pfd, (nfds_t)nfds, (int)(params->max_idle * 1000));
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("poll: %s", strerror(errno));
		}
		if (rc == 0)
			return 0; /* max_idle passed */
		if (status_fd >= 0 && pfd[nlisten].revents)
			return 0; /* retired */
		for (int i = 0; i < nlisten; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			struct service_client c;
			if (!take_client(listen_fds[i], &c))
				continue;
			report(MASTER_STATUS_BUSY);
			def->accept(&c);
			if (c.fd >= 0)
				close(c.fd);
			if (++uses >= params->max_use)
				return 0;
			break;
		}
	}
}

static void on_listen(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	(void)ctx;
	struct service_client c;
	/* Drain the backlog: each wake-up may stand for many connects. */
	for (int i = 0; i < 64 && take_client(event_fd(ev), &c); i++)
		def->accept(&c);
}

static void on_retire(struct event *ev, unsigned what, void *ctx)
{
	(void)ctx;
	(void)what;
	(void)ev;
	log_debug(1, "retired by master");
	service_stop();
}

static void on_signal(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	(void)what;
	(void)ctx;
	got_term = 1;
	service_stop();
}

static int run_multiplex(void)
{
	for (int i = 0; i < nlisten; i++)
		(void)event_add_fd(loop, listen_fds[i], EVENT_READ, on_listen,
				   NULL);
	if (status_fd >= 0)
		(void)event_add_fd(loop, status_fd, 0, on_retire, NULL);
	(void)event_add_signal(loop, SIGTERM, on_signal, NULL);
	report(MASTER_STATUS_AVAIL);
	if (event_loop_run(loop) < 0)
		log_fatal("event loop: %s", strerror(errno));
	return 0;
}

int service_main(int argc, char **argv, const struct service_def *d)
{
	const char *config_dir;
	struct strv overrides;
	bool do_chroot = false;
	struct err e;

	def = d;
	signal(SIGPIPE, SIG_IGN);
	log_set_ident("posthorn", def->name);
	strv_init(&overrides);
	parse_args(argc, argv, &config_dir, &overrides, &do_chroot);
	if (params_load(config_dir, &overrides, NULL, NULL, &e) < 0)
		log_fatal("%s", e.msg);
	strv_deinit(&overrides);
	service_open_log(def->name);

	/* Only trust the descriptors master promised. */
	status_fd = fcntl(MASTER_STATUS_FD, F_GETFD) >= 0 ? MASTER_STATUS_FD
							   : -1;
	for (int i = 0; i < nlisten; i++) {
		listen_fds[i] = MASTER_LISTEN_FD + i;
		if (fcntl(listen_fds[i], F_SETFD, FD_CLOEXEC) < 0)
			log_fatal("listening socket %d missing: %s",
				  listen_fds[i], strerror(errno));
	}
	if (status_fd >= 0)
		(void)fcntl(status_fd, F_SETFD, FD_CLOEXEC);

	if (def->init_privileged)
		def->init_privileged();
	if (do_chroot)
		log_warn("chroot is not supported yet; %s runs unchrooted",
			 svc_name);
	drop_privileges();

	if (def->mode == SERVICE_MULTIPLEX)
		loop = event_loop_new();
	else {
		struct sigaction sa = {0};
		sa.sa_handler = on_term;
		/* SIGTERM only sets the flag service_stopping() reads. The
		 * stream layer retries its waits after EINTR, so a
		 * session notices the flag by waiting in short slices
		 * (smtpd, pop3d and imapd poll it at least once a second)
		 * and then says 421 / BYE and ends. */
		sigaction(SIGTERM, &sa, NULL);
	}
	if (def->init)
		def->init(loop);
	int rc = def->mode == SERVICE_MULTIPLEX ? run_multiplex()
						: run_one_client();
	if (def->exit_hook)
		def->exit_hook();
	event_loop_free(&loop);
	return rc;
}
