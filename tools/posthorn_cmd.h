/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TOOLS_POSTHORN_CMD_H
#define POSTHORN_TOOLS_POSTHORN_CMD_H

/*
 * The subcommands of the posthorn tool. Each takes the global options and
 * its own argv (argv[0] is the subcommand name) and returns the exit
 * status; a usage error is 2.
 */
struct posthorn_ctx {
	const char *config_dir;
	int verbose;
};

/* posthorn map build [-a] FILE | map get SPEC KEY (tools/posthorn_map.c) */
int cmd_map(struct posthorn_ctx *ctx, int argc, char **argv);

#endif
