/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TOOLS_POSTHORN_CMD_H
#define POSTHORN_TOOLS_POSTHORN_CMD_H

#include <stdio.h>

/*
 * The subcommands of `posthorn`. Each takes argv with argv[0] = the
 * subcommand name and returns the process exit status: 0 success, 1
 * failure (a message was printed), 2 bad usage (usage was printed).
 * Commands marked "params loaded" in tools/posthorn.c run after
 * params_load() succeeded for ctx->config_dir.
 */
struct posthorn_ctx {
	const char *config_dir;
	int verbose;
};

int cmd_init(struct posthorn_ctx *ctx, int argc, char **argv);
int cmd_start(struct posthorn_ctx *ctx, int argc, char **argv);
int cmd_start_fg(struct posthorn_ctx *ctx, int argc, char **argv);
int cmd_stop(struct posthorn_ctx *ctx, int argc, char **argv);
int cmd_reload(struct posthorn_ctx *ctx, int argc, char **argv);
int cmd_status(struct posthorn_ctx *ctx, int argc, char **argv);
int cmd_check(struct posthorn_ctx *ctx, int argc, char **argv);
int cmd_config(struct posthorn_ctx *ctx, int argc, char **argv);
int cmd_map(struct posthorn_ctx *ctx, int argc, char **argv);
int cmd_user(struct posthorn_ctx *ctx, int argc, char **argv);
int cmd_queue(struct posthorn_ctx *ctx, int argc, char **argv);

/* The queue listing shared by `posthorn queue list` and mailq
 * (tools/posthorn_queue.c): Postfix's mailq layout on out, "Mail queue is
 * empty" when it is. Params must be loaded. 0, or -1 (error printed). */
int posthorn_queue_list(FILE *out);

#endif
