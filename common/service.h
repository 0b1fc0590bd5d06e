/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_SERVICE_H
#define POSTHORN_COMMON_SERVICE_H

#include <stdbool.h>

#include "common/event.h"
#include "common/net.h"
#include "common/str.h"

/*
 * The daemon skeleton: every service's main() describes itself in a
 * struct service_def and calls service_main(), which does, in this order
 * and nowhere else: parse the command line master gives (master_proto.h);
 * load main.cf with the service's -o overrides; open logging; take the
 * inherited listening sockets; call init_privileged; drop privileges to
 * the service's user (when root) and check they cannot be regained; call
 * init; then serve:
 *
 *  SERVICE_ONE_CLIENT  one client at a time, synchronously: accept,
 *      report busy, call accept(), close, report available. Exits after
 *      max_idle seconds without a client, after max_use clients, or when
 *      master retires it (after the current client).
 *  SERVICE_MULTIPLEX   one event loop (service_loop()) serving many
 *      clients; accept() takes ownership of the fd. Runs until master
 *      retires or stops it; then exit_hook runs and the process exits.
 *
 * SIGPIPE is ignored everywhere (writes report EPIPE instead).
 */
enum service_mode {
	SERVICE_ONE_CLIENT,
	SERVICE_MULTIPLEX,
};

enum service_user {
	SERVICE_USER_MAIL_OWNER, /* mail_owner (default) */
	SERVICE_USER_ROOT,       /* stays root: local, which switches per
				    recipient */
	SERVICE_USER_VIRTUAL,    /* virtual_uid_maps/virtual_gid_maps owner */
};

struct service_client {
	int fd;
	struct net_addr peer;  /* client address; "local" for UNIX sockets */
	struct net_addr local; /* our end of the connection */
	const char *service;   /* master.cf service name, e.g. "2525" */
	bool inet;
};

struct service_def {
	const char *name;
	enum service_mode mode;
	enum service_user user;
	/* As root, before the drop: read keys, open privileged files. */
	void (*init_privileged)(void);
	/* After the drop; loop is NULL for SERVICE_ONE_CLIENT. */
	void (*init)(struct event_loop *loop);
	/* A new client. ONE_CLIENT: serve it and return; the skeleton closes
	 * c->fd unless the handler set it to -1. MULTIPLEX: own c->fd. */
	void (*accept)(struct service_client *c);
	/* Before an orderly exit. */
	void (*exit_hook)(void);
};

/* Runs the service; returns the process exit status. */
int service_main(int argc, char **argv, const struct service_def *def);

/* The master.cf service name ("smtpd" in standalone use). */
const char *service_name(void);
/* Program arguments from master.cf other than -o. */
const struct strv *service_args(void);
/* The event loop of a MULTIPLEX service (NULL for ONE_CLIENT). */
struct event_loop *service_loop(void);
/* True once master has retired this process (reload/stop) or SIGTERM
 * arrived; a ONE_CLIENT handler may check it between commands to end its
 * session early. */
bool service_stopping(void);
/* MULTIPLEX: leave the loop and exit after exit_hook. */
void service_stop(void);

/*
 * Opens logging as main.cf says: maillog_file if set, else syslog with
 * syslog_facility; the tag is "<syslog_name>/<service>". Used by master
 * and every service after params_load().
 */
void service_open_log(const char *service);

#endif
