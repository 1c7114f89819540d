/* metroctl — the client and offline tool of metrod: the global options and the one command
 * table (tools/metroctl/README.md).
 *
 * Global options come first, then a subcommand:  metroctl [--json] [-e ENDPOINT] CMD ...
 * Exit codes: 0 ok, 1 a check failed, 2 usage or bad input, 3 daemon unreachable, 4 refused,
 * 5 a record store cannot be read (offline commands), 6 the daemon's record store failed while
 * waiting on a run, 7 a run waited on ended without completing (metroctl_cmd.h).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "metroctl_audit.h"
#include "metroctl_calc.h"
#include "metroctl_client.h"
#include "metroctl_cmd.h"
#include "metroctl_certify.h"
#include "metroctl_keygen.h"
#include "metroctl_probe.h"
#include "metroctl_records.h"
#include "metroctl_report.h"
#include "metroctl_run.h"
#include "util.h"

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:7710"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: metroctl [--json] [-e ENDPOINT] [--timeout MS] COMMAND [ARGS]\n"
		"commands:\n"
		"  ping                    check that the daemon answers\n"
		"  status                  station, configuration generation, rigs and their "
		"states\n"
		"  rigs                    rigs, their state, connection and run\n"
		"  procedures              the procedure library\n"
		"  standards               reference standards and days until due\n"
		"  resume-run RUN [--operator NAME] [--wait]\n"
		"                          continue a run a crash left incomplete\n"
		"  clock-accept --why TEXT (manager) accept the clock after it was set back\n"
		"  person-set FILE.yaml --why TEXT\n"
		"                          (manager) change a person of the registry\n"
		"  standard-set FILE.yaml --why TEXT\n"
		"                          (manager) change a reference standard\n"
		"  start BATCH.yaml [--wait] [--auto-answer pass|fail]\n"
		"                          submit a batch (format: docs/protocol.md); "
		"--auto-answer:\n"
		"                          judgements answered automatically, recorded as such\n"
		"                          (simulated rigs, or items a sensor decides)\n"
		"  pause|resume|stop|abort|halt RIG\n"
		"                          run control (pause and stop act at the next point)\n"
		"  input RIG PROMPT pass|fail|POSITION=pass|fail...|POSITION=READING...\n"
		"        [--operator NAME] answer an operator prompt as a person (by position:\n"
		"                          decides those positions, the others stay open)\n"
		"  runs | run ID           recent runs, one run in full\n"
		"  follow RUN... [--auto-answer pass|fail]\n"
		"                          progress of runs, then their verdict tables\n"
		"  watch [TOPIC...]        print published documents as they come\n"
		"  replay FROM-SEQ         stored result documents from a seq on\n"
		"  audit-head              sign and show the head of the audit chain\n"
		"  keygen NAME [--dir DIR] [--person]\n"
		"                          a CURVE key pair: NAME.key (secret) and NAME.pub;\n"
		"                          --person: a person's Ed25519 key (signs, and CURVE)\n"
		"  certify NUMBER verified|checked|approved|issued|voided [--why TEXT]\n"
		"          [--replaces NUMBER]  sign a certificate's step as the person of --key\n"
		"  reissue NUMBER --why TEXT  a voided certificate's replacement (a new draft)\n"
		"  calc ...                the verifier's calculator (metroctl calc --help)\n"
		"  audit verify --db FILE [--pubkey FILE] [--checkpoint FILE]\n"
		"                          check a record store offline (docs/records.md)\n"
		"  audit checkpoint --db FILE   the latest signed checkpoint\n"
		"  standards --db FILE     standards with days left, from a record store\n"
		"  trace --db FILE CERTIFICATE-OR-SERIAL\n"
		"                          the whole evidence behind one meter's result\n"
		"  records run --db FILE RUN\n"
		"                          one run from a record store, with each certificate's\n"
		"                          signed steps\n"
		"  report certificate|run|stats ...\n"
		"                          certificates, notices, batch reports (PDF) and the\n"
		"                          statistics table (XLSX, CSV) from a record store\n"
		"  export results|inventory ...\n"
		"                          results and the instrument inventory (CSV, JSON)\n"
		"  probe ...               read/write a rig's channels through the drivers, "
		"without\n"
		"                          the daemon (metroctl probe --help)\n"
		"options:\n"
		"  -j, --json              machine-readable output (one JSON document)\n"
		"  -e, --endpoint EP       control endpoint (default %s, or $METRO_ENDPOINT)\n"
		"  -t, --timeout MS        reply timeout (default 3000)\n"
		"  --key FILE              CURVE: this client's key pair (or $METRO_KEY)\n"
		"  --server-key FILE       CURVE: the daemon's public key (or $METRO_SERVER_KEY)\n"
		"exit codes: 0 ok, 1 check failed, 2 usage, 3 daemon unreachable, 4 refused,\n"
		"            5 cannot read the record store (offline commands)\n"
		"  follow, start --wait, resume-run --wait, by how the run ended:\n"
		"            0 done, every meter conforms; 1 done, a meter does not conform;\n"
		"            7 stopped, aborted, error or incomplete; 6 the record store failed\n",
		DEFAULT_ENDPOINT);
}

/* Run a simple command: send {"id":1,"cmd":name}, print the reply. */
static int simple(const struct metroctl_opts *o, const char *name, void (*print)(json_t *reply))
{
	return metroctl_call(o, json_pack("{siss}", "id", 1, "cmd", name), print, NULL);
}

static void print_ping(json_t *r)
{
	printf("metrod %s answers\n", json_string_value(json_object_get(r, "version")));
}

static void print_status(json_t *r)
{
	printf("station %s, metrod %s, up %.0f s, config %s (generation %lld",
	       json_string_value(json_object_get(r, "station")),
	       json_string_value(json_object_get(r, "version")),
	       json_number_value(json_object_get(r, "uptime_s")),
	       json_string_value(json_object_get(r, "config")),
	       (long long)json_integer_value(json_object_get(r, "config_generation")));
	long long failed = (long long)json_integer_value(json_object_get(r, "reloads_failed"));
	if (failed)
		printf(", %lld failed reloads", failed);
	printf(")\n");
	const char *lre = json_string_value(json_object_get(r, "last_reload_error"));
	if (lre)
		printf("last reload error: %s\n", lre);
	json_t *rigs = json_object_get(r, "rigs");
	size_t i;
	json_t *rig;
	printf("%-16s %-18s %-12s %9s  %s\n", "RIG", "KIND", "DRIVER", "POSITIONS", "STATE");
	json_array_foreach (rigs, i, rig) {
		printf("%-16s %-18s %-12s %9lld  %s\n",
		       json_string_value(json_object_get(rig, "id")),
		       json_string_value(json_object_get(rig, "kind")),
		       json_string_value(json_object_get(rig, "driver")),
		       (long long)json_integer_value(json_object_get(rig, "positions")),
		       json_string_value(json_object_get(rig, "state")));
	}
}

static int ping(int argc, char **argv, const struct metroctl_opts *o)
{
	(void)argc;
	(void)argv;
	return simple(o, "ping", print_ping);
}

static int status(int argc, char **argv, const struct metroctl_opts *o)
{
	(void)argc;
	(void)argv;
	return simple(o, "status", print_status);
}

/* `standards --db FILE` reads a record store offline; without --db it asks the daemon. */
static int standards(int argc, char **argv, const struct metroctl_opts *o)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--db") || !strncmp(argv[i], "--db=", 5))
			return metroctl_records(argc, argv, o);
	return metroctl_run(argc, argv, o);
}

/* Every command and the function that runs it. */
static const struct {
	const char *name;
	metroctl_cmd_fn *fn;
} commands[] = {
	{"ping", ping},
	{"status", status},
	{"calc", metroctl_calc},
	{"probe", metroctl_probe},
	{"keygen", metroctl_keygen},
	{"certify", metroctl_certify},
	{"reissue", metroctl_certify},
	{"audit", metroctl_audit},
	{"trace", metroctl_records},
	{"records", metroctl_records},
	{"report", metroctl_report},
	{"export", metroctl_export},
	{"standards", standards},
	/* the daemon's commands for rigs and runs */
	{"rigs", metroctl_run},
	{"procedures", metroctl_run},
	{"start", metroctl_run},
	{"pause", metroctl_run},
	{"resume", metroctl_run},
	{"stop", metroctl_run},
	{"abort", metroctl_run},
	{"halt", metroctl_run},
	{"input", metroctl_run},
	{"runs", metroctl_run},
	{"run", metroctl_run},
	{"watch", metroctl_run},
	{"follow", metroctl_run},
	{"replay", metroctl_run},
	{"audit-head", metroctl_run},
	{"standard-set", metroctl_run},
	{"person-set", metroctl_run},
	{"clock-accept", metroctl_run},
	{"resume-run", metroctl_run},
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"endpoint", required_argument, NULL, 'e'},
		{"timeout", required_argument, NULL, 't'},
		{"key", required_argument, NULL, 'k'},
		{"server-key", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	struct metroctl_opts o = {0, NULL, 3000, "", "", "", NULL};
	const char *keyfile = getenv("METRO_KEY"), *serverkey = getenv("METRO_SERVER_KEY");
	o.endpoint = getenv("METRO_ENDPOINT") ? getenv("METRO_ENDPOINT") : DEFAULT_ENDPOINT;
	int c;
	/* "+" stops at the first non-option: the subcommand parses its own options. */
	while ((c = getopt_long(argc, argv, "+je:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = 1;
			break;
		case 'e':
			o.endpoint = optarg;
			break;
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 600000) {
				fprintf(stderr, "metroctl: --timeout: '%s' is not 1..600000 ms\n",
					optarg);
				return METROCTL_EXIT_USAGE;
			}
			o.timeout_ms = (int)v;
			break;
		}
		case 'k':
			keyfile = optarg;
			break;
		case 'K':
			serverkey = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return METROCTL_EXIT_USAGE;
		}
	}
	if ((keyfile && *keyfile) != (serverkey && *serverkey)) {
		fprintf(stderr, "metroctl: --key and --server-key go together (CURVE)\n");
		return METROCTL_EXIT_USAGE;
	}
	o.key_file = keyfile && *keyfile ? keyfile : NULL;
	if (keyfile && *keyfile &&
	    (metroctl_read_key(keyfile, o.curve_public, o.curve_secret) ||
	     metroctl_read_key(serverkey, o.curve_server, NULL)))
		return METROCTL_EXIT_USAGE;
	if (optind >= argc) {
		usage(stderr);
		return METROCTL_EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0; /* reinitialise getopt (glibc) for the subcommand's argv */
	for (size_t i = 0; i < METRO_ARRAY_SIZE(commands); i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].fn(sub_argc, sub_argv, &o);
	fprintf(stderr, "metroctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return METROCTL_EXIT_USAGE;
}
