/* metroctl — the client and offline tool of metrod.
 *
 * Global options come first, then a subcommand:  metroctl [--json] [-e ENDPOINT] CMD ...
 * Exit codes: 0 ok, 1 a check failed, 2 usage or bad input, 3 daemon unreachable, 4 refused.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "metroctl.h"
#include "metroctl_report.h"
#include "metroctl_store.h"
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
		"  resume-run RUN --operator NAME [--wait]\n"
		"                          continue a run a crash left incomplete\n"
		"  standard-set FILE.yaml --why TEXT\n"
		"                          (manager) change a reference standard\n"
		"  start BATCH.yaml [--wait] [--auto-answer pass|fail]\n"
		"                          submit a batch (format: docs/protocol.md)\n"
		"  pause|resume|stop|abort|halt RIG\n"
		"                          run control (pause and stop act at the next point)\n"
		"  input RIG PROMPT pass|fail|POSITION=READING... --operator NAME\n"
		"                          answer an operator prompt\n"
		"  runs | run ID           recent runs, one run in full\n"
		"  follow RUN... [--auto-answer pass|fail --operator NAME]\n"
		"                          progress of runs, then their verdict tables\n"
		"  watch [TOPIC...]        print published documents as they come\n"
		"  replay FROM-SEQ         stored result documents from a seq on\n"
		"  audit-head              sign and show the head of the audit chain\n"
		"  keygen NAME [--dir DIR] a CURVE key pair: NAME.key (secret) and NAME.pub\n"
		"  calc ...                the verifier's calculator (metroctl calc --help)\n"
		"  audit verify --db FILE [--pubkey FILE] [--checkpoint FILE]\n"
		"                          check a record store offline (docs/records.md)\n"
		"  audit checkpoint --db FILE   the latest signed checkpoint\n"
		"  standards --db FILE     standards with days left, from a record store\n"
		"  trace --db FILE CERTIFICATE-OR-SERIAL\n"
		"                          the whole evidence behind one meter's result\n"
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
		"exit codes: 0 ok, 1 check failed, 2 usage, 3 daemon unreachable, 4 refused\n",
		DEFAULT_ENDPOINT);
}

json_t *metroctl_request(const struct metroctl_opts *o, json_t *req)
{
	void *ctx = zmq_ctx_new();
	void *sock = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 0;
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	json_t *reply = NULL;
	if (!req) {
		fprintf(stderr, "metroctl: internal error building the request\n");
		goto out;
	}
	if (metroctl_curve_client(o, sock))
		goto out;
	if (zmq_connect(sock, o->endpoint)) {
		fprintf(stderr, "metroctl: cannot connect to %s: %s\n", o->endpoint,
			zmq_strerror(zmq_errno()));
		goto out;
	}
	/* Every request gets its own id: the daemon answers a repeated id (with the same
	 * request) from its first reply instead of executing it again, so ids must not be
	 * reused by accident across invocations. */
	static unsigned counter;
	char idbuf[64];
	snprintf(idbuf, sizeof idbuf, "metroctl-%ld-%llx-%u", (long)getpid(),
		 (unsigned long long)metro_now_ns(), ++counter);
	json_object_set_new(req, "id", json_string(idbuf));
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	req = NULL;
	zmq_send(sock, text, strlen(text), 0);
	free(text);
	zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
	if (zmq_poll(&it, 1, o->timeout_ms) <= 0) {
		fprintf(stderr, "metroctl: no reply from %s within %d ms\n", o->endpoint,
			o->timeout_ms);
		goto out;
	}
	zmq_msg_t m;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, sock, 0) >= 0) {
		json_error_t e;
		reply = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &e);
		if (!reply)
			fprintf(stderr, "metroctl: malformed reply: %s\n", e.text);
	}
	zmq_msg_close(&m);
out:
	json_decref(req);
	zmq_close(sock);
	zmq_ctx_term(ctx);
	return reply;
}

/* Run a simple command: send {"id":1,"cmd":name}, print the reply. */
static int simple(const struct metroctl_opts *o, const char *name, void (*print)(json_t *reply))
{
	json_t *req = json_pack("{siss}", "id", 1, "cmd", name);
	json_t *reply = metroctl_request(o, req);
	if (!reply)
		return METROCTL_EXIT_UNREACHABLE;
	int ok = json_is_true(json_object_get(reply, "ok"));
	if (o->json) {
		char *t = json_dumps(reply, JSON_COMPACT);
		puts(t);
		free(t);
	} else if (!ok) {
		json_t *e = json_object_get(reply, "error");
		fprintf(stderr, "metroctl: %s refused: %s (%s)\n", name,
			json_string_value(json_object_get(e, "message")),
			json_string_value(json_object_get(e, "code")));
	} else {
		print(reply);
	}
	json_decref(reply);
	return ok ? METROCTL_EXIT_OK : METROCTL_EXIT_REFUSED;
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
	struct metroctl_opts o = {0, NULL, 3000, "", "", ""};
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
	if (!strcmp(cmd, "ping"))
		return simple(&o, "ping", print_ping);
	if (!strcmp(cmd, "status"))
		return simple(&o, "status", print_status);
	if (!strcmp(cmd, "calc"))
		return metroctl_calc(sub_argc, sub_argv, &o);
	if (!strcmp(cmd, "probe"))
		return metroctl_probe(sub_argc, sub_argv, &o);
	if (!strcmp(cmd, "keygen"))
		return metroctl_keygen(sub_argc, sub_argv, &o);
	if (!strcmp(cmd, "audit"))
		return metroctl_audit(sub_argc, sub_argv, &o);
	if (!strcmp(cmd, "trace"))
		return metroctl_records(sub_argc, sub_argv, &o);
	if (!strcmp(cmd, "report"))
		return metroctl_report(sub_argc, sub_argv, &o);
	if (!strcmp(cmd, "export"))
		return metroctl_export(sub_argc, sub_argv, &o);
	/* `standards --db FILE` reads a record store offline; without --db it asks the daemon. */
	if (!strcmp(cmd, "standards"))
		for (int i = 1; i < sub_argc; i++)
			if (!strcmp(sub_argv[i], "--db") || !strncmp(sub_argv[i], "--db=", 5))
				return metroctl_records(sub_argc, sub_argv, &o);
	if (metroctl_is_run_command(cmd))
		return metroctl_run(sub_argc, sub_argv, &o);
	fprintf(stderr, "metroctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return METROCTL_EXIT_USAGE;
}
