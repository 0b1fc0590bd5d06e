/* SPDX-License-Identifier: MIT */
/*
 * posthorn.c - the operator command: option parsing and dispatch
 *
 *   posthorn [-c DIR] [-v] COMMAND [args]
 *
 * DIR is -c, else $POSTHORN_CONFIG, else the compiled-in /etc/posthorn.
 * Each command lives in its own tools/posthorn_*.c file; this file only
 * finds it, loads the configuration for those that need it, and maps
 * usage errors to exit status 2.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/version.h"
#include "tools/posthorn_cmd.h"

struct command {
	const char *name;
	int (*fn)(struct posthorn_ctx *, int, char **);
	bool needs_params;
	const char *help;
};

static const struct command commands[] = {
	{"init", cmd_init, false, "create a complete instance in DIR"},
	{"start", cmd_start, true, "start the mail system in the background"},
	{"start-fg", cmd_start_fg, true,
	 "run the mail system in the foreground, logging to the terminal"},
	{"stop", cmd_stop, true, "stop the mail system"},
	{"reload", cmd_reload, true, "re-read main.cf and master.cf"},
	{"status", cmd_status, true, "say whether the mail system runs"},
	{"check", cmd_check, false, "validate configuration and permissions"},
	{"config", cmd_config, false, "show or change main.cf parameters"},
	{"map", cmd_map, true, "build or query lookup tables"},
	{"user", cmd_user, true, "add, delete, list accounts; set passwords"},
	{"queue", cmd_queue, true,
	 "list, show, flush, delete, hold, release, requeue"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: posthorn [-c DIR] [-v] COMMAND [args]\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nDIR defaults to $POSTHORN_CONFIG, else %s.\n",
		POSTHORN_CONFIG_DIR);
}

int main(int argc, char **argv)
{
	struct posthorn_ctx ctx = {0};
	int opt;

	log_set_ident("posthorn", NULL);
	log_to_terminal();
	log_set_fatal_status(1);
	ctx.config_dir = getenv("POSTHORN_CONFIG");
	while ((opt = getopt(argc, argv, "+c:vhV")) != -1) {
		switch (opt) {
		case 'c':
			ctx.config_dir = optarg;
			break;
		case 'v':
			ctx.verbose++;
			log_set_verbose(ctx.verbose);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("posthorn %s\n", POSTHORN_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!ctx.config_dir || !ctx.config_dir[0])
		ctx.config_dir = POSTHORN_CONFIG_DIR;
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *name = argv[optind];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name) != 0)
			continue;
		if (commands[i].needs_params) {
			struct err e;
			if (params_load(ctx.config_dir, NULL, NULL, NULL, &e) <
			    0) {
				log_error("%s", e.msg);
				return 1;
			}
		}
		return commands[i].fn(&ctx, argc - optind, argv + optind);
	}
	log_error("unknown command \"%s\"", name);
	usage(stderr);
	return 2;
}
