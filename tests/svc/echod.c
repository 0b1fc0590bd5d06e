/* SPDX-License-Identifier: MIT */
/*
 * echod.c - the trivial service that proves the skeleton (tests only)
 *
 * A ONE_CLIENT service: greets with "echod PID SERVICE", then echoes each
 * line back prefixed with its pid until "quit" or EOF. The e2e tests use
 * the pid to see which process served them (maxproc, restarts, reload)
 * and the -o override "echod_greeting" to see that master.cf -o works.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/service.h"

static void echo_client(struct service_client *c)
{
	char line[1024];
	FILE *f = fdopen(dup(c->fd), "r+");
	if (!f)
		return;
	const char *extra = service_args()->n ? service_args()->v[0] : "";
	fprintf(f, "echod %ld %s %s %s\n", (long)getpid(), c->service,
		params->myhostname, extra);
	fflush(f);
	log_info("connect from %s[%s]", "unknown", c->peer.addr);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "quit", 4) == 0)
			break;
		fprintf(f, "%ld %s", (long)getpid(), line);
		fflush(f);
	}
	fclose(f);
	log_info("disconnect from %s[%s]", "unknown", c->peer.addr);
}

static const struct service_def echod_def = {
	.name = "echod",
	.mode = SERVICE_ONE_CLIENT,
	.user = SERVICE_USER_MAIL_OWNER,
	.accept = echo_client,
};

int main(int argc, char **argv)
{
	return service_main(argc, argv, &echod_def);
}
