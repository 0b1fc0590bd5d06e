/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_MASTER_MASTER_SVC_H
#define POSTHORN_MASTER_MASTER_SVC_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/event.h"
#include "common/mastercf.h"
#include "common/str.h"

/*
 * master's service table: the listening sockets of each master.cf
 * service, the processes running it, and the rules for starting more
 * (on demand up to maxproc, or always for services with a wakeup time),
 * restarting after a crash (with back-off), and replacing everything on
 * reload without closing sockets that are still configured.
 */

/* Global settings the table needs from master.c. */
struct master_opts {
	const char *config_dir;
	const struct strv *overrides; /* master's own -o, passed to all */
	int verbose;
};

void master_svc_setup(struct event_loop *loop, const struct master_opts *o);

/*
 * Makes the running set match cf: keeps the sockets of services whose
 * type and name are unchanged, opens sockets of new ones, closes those of
 * removed ones, retires every running process (each finishes its current
 * client, then exits) and starts the always-on services anew. On the first
 * call nothing is running. 0, or -1 with e set and nothing changed (e.g. a
 * port cannot be bound).
 */
int master_svc_apply(const struct mastercf *cf, struct err *e);

/* Called for SIGCHLD: reaps every exited child, logs abnormal exits and
 * schedules restarts with back-off. */
void master_svc_reap(void);

/* Stop: closes every socket and status pipe and sends SIGTERM to every
 * child. Returns the number of children still running. */
int master_svc_stop_all(void);
/* SIGKILLs what is left after the stop grace time. */
void master_svc_kill_all(void);
/* Children still running (all generations). */
int master_svc_nchildren(void);

#endif
