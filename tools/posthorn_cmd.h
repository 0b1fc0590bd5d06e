/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TOOLS_POSTHORN_CMD_H
#define POSTHORN_TOOLS_POSTHORN_CMD_H

/*
 * The `posthorn` subcommands. tools/posthorn.c parses the global options,
 * loads the parameters (params_load) and calls one of these with argv[0]
 * being the subcommand's name. Each returns the exit status: 0 success,
 * 1 failure, 2 usage error.
 */
struct posthorn_ctx {
	const char *config_dir;
	int verbose;
};

/* posthorn user add|del|passwd|list|disable|enable [ADDRESS|DOMAIN] */
int cmd_user(struct posthorn_ctx *ctx, int argc, char **argv);

#endif
