/* metrod — the verification daemon's entry point: options, then the server (server.c). */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "log.h"
#include "server.h"
#include "swid.h"
#include "util.h"

#define DEFAULT_CONFIG METRO_SYSCONFDIR "/metrod.yaml"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: metrod [-c FILE]            run in the foreground (systemd manages it)\n"
		"       metrod --check-config FILE  validate a configuration and exit (0 valid, 1 "
		"not)\n"
		"       metrod --version [-c FILE]  print the version and the software "
		"identification\n"
		"                                   (executable, procedures, rig profiles)\n"
		"options:\n"
		"  -c, --config FILE   configuration file (default %s)\n"
		"  -v, --verbose       log debug messages\n"
		"  --init-store        start a new, empty record store where the last one is "
		"missing\n"
		"                      (its state file remembers it; the new store records what "
		"it\n"
		"                      replaces: docs/records.md)\n"
		"  -h, --help          this text\n",
		DEFAULT_CONFIG);
}

static int check_config(const char *path)
{
	struct metro_diag diag;
	struct metro_config *c;
	metro_diag_init(&diag);
	int err = metro_config_load(path, &diag, &c);
	metro_diag_print(&diag, stderr);
	if (err) {
		fprintf(stderr, "%s: %zu problem(s); configuration not valid\n", path,
			metro_diag_count(&diag));
		metro_diag_free(&diag);
		return 1;
	}
	size_t positions = 0;
	for (size_t i = 0; i < c->nrigs; i++)
		positions += (size_t)c->rigs[i].positions;
	printf("%s: valid: station %s, %zu rigs, %zu positions, %zu standards, %zu procedures\n",
	       path, c->station.id, c->nrigs, positions, c->nstandards, c->nprocedures);
	metro_config_destroy(&c);
	metro_diag_free(&diag);
	return 0;
}

static int version(const char *path, int explicit_path)
{
	struct metro_swid id;
	struct metro_config *c = NULL;
	char *dflt = metro_strdup(METRO_DATADIR "/procedures");
	char **dirs = &dflt;
	size_t ndirs = 1;
	if (explicit_path || access(path, R_OK) == 0) {
		struct metro_diag diag;
		metro_diag_init(&diag);
		if (metro_config_load(path, &diag, &c)) {
			metro_diag_print(&diag, stderr);
			fprintf(stderr, "metrod: cannot identify the procedures of an invalid "
					"configuration\n");
			metro_diag_free(&diag);
			free(dflt);
			return 1;
		}
		metro_diag_free(&diag);
		dirs = c->procedure_dirs;
		ndirs = c->nprocedure_dirs;
	}
	metro_swid_collect(&id, dirs, ndirs);
	if (c)
		metro_swid_profiles(&id, c);
	printf("metrod %s\n", METRO_VERSION);
	printf("software identification (SHA-256):\n");
	printf("  executable %s  %s\n", id.exe_sha256, id.exe_path);
	for (size_t i = 0; i < id.nprocedures; i++)
		printf("  procedure  %s  %s\n", id.procedures[i].sha256, id.procedures[i].path);
	if (!id.nprocedures)
		printf("  (no procedure files found)\n");
	for (size_t i = 0; i < id.nprofiles; i++)
		printf("  profile    %s  %s  (rig%s %s)\n", id.profiles[i].sha256,
		       id.profiles[i].path, strchr(id.profiles[i].rigs, ',') ? "s" : "",
		       id.profiles[i].rigs);
	if (!c)
		printf("  (no configuration: no rig profiles)\n");
	metro_swid_free(&id);
	metro_config_destroy(&c);
	free(dflt);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", required_argument, NULL, 'C'},
		{"version", no_argument, NULL, 'V'},
		{"verbose", no_argument, NULL, 'v'},
		{"init-store", no_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *path = DEFAULT_CONFIG;
	const char *check = NULL;
	int want_version = 0, explicit_path = 0, verbose = 0, init_store = 0, c;
	if (sodium_init() < 0) {
		fprintf(stderr, "<2>metrod: libsodium failed to initialise\n");
		return 1;
	}
	while ((c = getopt_long(argc, argv, "c:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			explicit_path = 1;
			break;
		case 'C':
			check = optarg;
			break;
		case 'V':
			want_version = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'I':
			init_store = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "metrod: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check)
		return check_config(check);
	if (want_version)
		return version(path, explicit_path);

	struct metro_diag diag;
	struct metro_config *cfg;
	metro_diag_init(&diag);
	if (metro_config_load(path, &diag, &cfg)) {
		for (size_t i = 0; i < diag.n; i++)
			metro_err("%s", diag.msgs[i]);
		metro_err("configuration %s is not valid (%zu problems); not starting", path,
			  metro_diag_count(&diag));
		metro_diag_free(&diag);
		return 1;
	}
	metro_diag_free(&diag);
	if (verbose)
		cfg->log_level = METRO_LOG_DEBUG;
	struct metro_server *s;
	if (metro_server_new(cfg, init_store, &s))
		return 1;
	int rc = metro_server_run(s);
	metro_server_destroy(&s);
	return rc;
}
