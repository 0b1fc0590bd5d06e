/* SPDX-License-Identifier: MIT */
/*
 * qmgr_showq.c - the showq service: the queue listing for any local user
 *
 * qmgr's second mode (master.cf: "showq unix n - n - - qmgr showq"). The
 * queue index belongs to mail_owner, mode 0700, so a user's mailq cannot
 * read it; it connects to public/showq instead and this process, running
 * as mail_owner, writes the listing (common/queue_list.h) and closes. It
 * reads nothing from the client, so a client can do no more than ask.
 * The index is opened read-only: qmgr stays its only writer. Like
 * Postfix's showq, every local user may see the whole queue.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <stdio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/queue_list.h"
#include "common/service.h"
#include "qmgr.h"

static void showq_accept(struct service_client *c)
{
	/* A client that stops reading must not hold this process forever. */
	struct timeval tv = {.tv_sec = params->ipc_timeout};
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int fd = dup(c->fd);
	FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!out) {
		if (fd >= 0)
			close(fd);
		log_warn("showq: cannot write to the client");
		return;
	}
	struct err e;
	int denied;
	if (queue_list_print(out, params->queue_directory, &denied, &e) < 0) {
		log_warn("%s", e.msg);
		fprintf(out, "mailq: the queue cannot be listed now\n");
	}
	if (fclose(out) != 0)
		log_info("showq: client went away before the end");
}

static void showq_init_privileged(void)
{
	service_open_log("showq");
}

static const struct service_def showq_def = {
        .name = "showq",
        .mode = SERVICE_ONE_CLIENT,
        .user = SERVICE_USER_MAIL_OWNER,
        .init_privileged = showq_init_privileged,
        .accept = showq_accept,
};

bool qmgr_showq_wanted(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return strcmp(argv[i + 1], "showq") == 0;
	return false;
}

int qmgr_showq_main(int argc, char **argv)
{
	return service_main(argc, argv, &showq_def);
}
