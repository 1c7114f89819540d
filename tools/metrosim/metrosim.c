/* metrosim — the rig simulator.
 *
 * Serves a simulated flow bench, electricity-meter bench or bell prover over Modbus TCP, Modbus
 * RTU on a pty, or the serial line protocol on a pty, from the same profile files metrod uses,
 * with physical models, meters under test with error curves (--meters) and seeded fault
 * injection (--faults).  The command line is stable (scripts depend on it); docs/simulator.md
 * is the reference.
 *
 * Exit status: 0 after SIGTERM/SIGINT or --help/--describe, 2 for a usage or configuration
 * error (bad option, profile, meters file, fault spec, transport mismatch), 1 when the
 * transport cannot be opened or fails.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "error.h"
#include "log.h"
#include "profile.h"
#include "sim_fault.h"
#include "sim_image.h"
#include "sim_line.h"
#include "sim_meters.h"
#include "sim_model.h"
#include "sim_server.h"
#include "util.h"

#ifndef METRO_VERSION
#define METRO_VERSION "dev"
#endif
#ifndef METRO_DATADIR
#define METRO_DATADIR "/usr/local/share/metrod"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"usage: metrosim --rig flow-bench|electricity-bench|bell-prover [--profile FILE]\n"
		"                (--modbus-tcp HOST:PORT | --modbus-rtu | --serial-line)\n"
		"                [--unit N] [--positions N] [--meters FILE] [--faults SPEC]\n"
		"                [--fault-log FILE] [--seed N] [--time-scale X] [--pty-link PATH]\n"
		"                [--baud N] [--verbose]\n"
		"       metrosim --rig KIND [--profile FILE] [--positions N] --describe [--json]\n"
		"\n"
		"Simulates a calibration rig with physical models and serves it like the real "
		"one.\n"
		"\n"
		"  --rig KIND          flow-bench, electricity-bench or bell-prover\n"
		"  --profile FILE      rig profile (the register map metrod uses); default\n"
		"                      config/profiles/KIND.yaml under the executable's ../,\n"
		"                      then under the current directory, then in\n"
		"                      " METRO_DATADIR "/profiles\n"
		"  --modbus-tcp H:P    serve Modbus TCP on host H, port P (0: pick a free port);\n"
		"                      first line of stdout: \"listening H:PORT\"\n"
		"  --modbus-rtu        serve Modbus RTU on a new pty; first line of stdout: its "
		"path\n"
		"  --serial-line       serve the profile's ASCII protocol on a new pty (ditto)\n"
		"  --unit N            Modbus unit id, 1..247 (default 1)\n"
		"  --positions N       meter positions (default: flow-bench 10, electricity-bench "
		"24,\n"
		"                      bell-prover 6)\n"
		"  --meters FILE       meters under test, error curves, bench parameters (YAML)\n"
		"  --faults SPEC       fault injection, comma-separated:\n"
		"                        noreply=P  late=P:MS  exception=P:CODE  crc=P  "
		"wrongunit=P\n"
		"                        lostpulses=P  stuck=CHANNEL[:AFTER_S]\n"
		"                        disconnect=AFTER_S:DOWN_S[:COUNT]\n"
		"                        ignorewrites=CHANNEL|*[:AFTER_S]\n"
		"  --fault-log FILE    write the injected-fault counts as JSON at exit\n"
		"  --seed N            seed of the fault streams and of the meters' individual\n"
		"                      deviations (default 1)\n"
		"  --time-scale X      simulated seconds per real second (default 1)\n"
		"  --pty-link PATH     also make PATH a symlink to the pty (replaces an old link)\n"
		"  --baud N            emulate a line at N baud on the pty: replies take the wire\n"
		"                      time (default: no pacing; 115200 for the termios setting)\n"
		"  --describe          print the rig's channel map and exit (--json: as JSON)\n"
		"  -v, --verbose       trace requests, replies and faults on stderr\n"
		"  -h, --help          this text;  --version  the version\n"
		"\n"
		"SIGTERM or SIGINT: clean exit 0, after \"faults injected: ...\" on stderr.\n"
		"See docs/simulator.md.\n");
}

struct opts {
	const char *rig, *profile, *meters, *faults, *fault_log, *pty_link;
	const char *tcp;
	int rtu, line, describe, json, verbose;
	long unit, positions, baud;
	unsigned long long seed;
	double scale;
};

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int bad(const char *opt, const char *val, const char *what)
{
	fprintf(stderr, "metrosim: %s %s: expected %s\n", opt, val, what);
	return 2;
}

enum {
	O_RIG = 256,
	O_PROFILE,
	O_TCP,
	O_RTU,
	O_LINE,
	O_UNIT,
	O_POSITIONS,
	O_METERS,
	O_FAULTS,
	O_FAULT_LOG,
	O_SEED,
	O_SCALE,
	O_PTY_LINK,
	O_BAUD,
	O_DESCRIBE,
	O_JSON,
	O_VERSION
};

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"rig", required_argument, NULL, O_RIG},
		{"profile", required_argument, NULL, O_PROFILE},
		{"modbus-tcp", required_argument, NULL, O_TCP},
		{"modbus-rtu", no_argument, NULL, O_RTU},
		{"serial-line", no_argument, NULL, O_LINE},
		{"unit", required_argument, NULL, O_UNIT},
		{"positions", required_argument, NULL, O_POSITIONS},
		{"meters", required_argument, NULL, O_METERS},
		{"faults", required_argument, NULL, O_FAULTS},
		{"fault-log", required_argument, NULL, O_FAULT_LOG},
		{"seed", required_argument, NULL, O_SEED},
		{"time-scale", required_argument, NULL, O_SCALE},
		{"pty-link", required_argument, NULL, O_PTY_LINK},
		{"baud", required_argument, NULL, O_BAUD},
		{"describe", no_argument, NULL, O_DESCRIBE},
		{"json", no_argument, NULL, O_JSON},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof *o);
	o->unit = 1;
	o->seed = 1;
	o->scale = 1.0;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hv", lo, NULL)) != -1) {
		char *end;
		switch (c) {
		case O_RIG:
			o->rig = optarg;
			break;
		case O_PROFILE:
			o->profile = optarg;
			break;
		case O_TCP:
			o->tcp = optarg;
			break;
		case O_RTU:
			o->rtu = 1;
			break;
		case O_LINE:
			o->line = 1;
			break;
		case O_UNIT:
			if (parse_long(optarg, 1, 247, &o->unit))
				return bad("--unit", optarg, "1..247");
			break;
		case O_POSITIONS:
			if (parse_long(optarg, 1, 1000, &o->positions))
				return bad("--positions", optarg, "1..1000");
			break;
		case O_METERS:
			o->meters = optarg;
			break;
		case O_FAULTS:
			o->faults = optarg;
			break;
		case O_FAULT_LOG:
			o->fault_log = optarg;
			break;
		case O_SEED:
			errno = 0;
			o->seed = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' ||
			    o->seed > (unsigned long long)INT64_MAX)
				return bad("--seed", optarg, "an integer 0..2^63-1");
			break;
		case O_SCALE:
			errno = 0;
			o->scale = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(o->scale) ||
			    o->scale <= 0 || o->scale > 1e6)
				return bad("--time-scale", optarg, "a number above 0, at most 1e6");
			break;
		case O_PTY_LINK:
			o->pty_link = optarg;
			break;
		case O_BAUD:
			if (parse_long(optarg, 50, 4000000, &o->baud))
				return bad("--baud", optarg, "50..4000000");
			break;
		case O_DESCRIBE:
			o->describe = 1;
			break;
		case O_JSON:
			o->json = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case O_VERSION:
			printf("metrosim %s\n", METRO_VERSION);
			return 0;
		default:
			if (optopt && optopt < 256)
				fprintf(stderr, "metrosim: unknown option '-%c'\n", optopt);
			else
				fprintf(stderr,
					"metrosim: unknown option or missing argument: %s\n",
					argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "metrosim: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!o->rig) {
		fprintf(stderr, "metrosim: --rig is required\n");
		usage(stderr);
		return 2;
	}
	int modes = !!o->tcp + o->rtu + o->line;
	if (!o->describe && modes != 1) {
		fprintf(stderr,
			"metrosim: give exactly one of --modbus-tcp HOST:PORT, --modbus-rtu, "
			"--serial-line\n");
		return 2;
	}
	if (o->json && !o->describe) {
		fprintf(stderr, "metrosim: --json goes with --describe\n");
		return 2;
	}
	return -1;
}

/* HOST:PORT or [V6HOST]:PORT. */
static int split_hostport(const char *s, char **host, long *port)
{
	const char *colon;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		*host = metro_strndup(s + 1, (size_t)(close - s - 1));
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		*host = metro_strndup(s, (size_t)(colon - s));
	}
	if (parse_long(colon + 1, 0, 65535, port)) {
		free(*host);
		*host = NULL;
		return -1;
	}
	return 0;
}

static int readable(const char *path)
{
	return access(path, R_OK) == 0;
}

/* The default profile of a rig: beside the executable (../config/profiles), in the current
 * directory (config/profiles), then where `make install` puts profiles. */
static char *find_profile(const char *rig)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *dir = metro_dirname(exe);
		char *p = metro_asprintf("%s/../config/profiles/%s.yaml", dir, rig);
		free(dir);
		char real[PATH_MAX];
		if (readable(p) && realpath(p, real)) {
			free(p);
			return metro_strdup(real);
		}
		free(p);
	}
	char *p = metro_asprintf("config/profiles/%s.yaml", rig);
	if (readable(p))
		return p;
	free(p);
	p = metro_asprintf("%s/profiles/%s.yaml", METRO_DATADIR, rig);
	if (readable(p))
		return p;
	free(p);
	return NULL;
}

/* ---- --describe -------------------------------------------------------------------------- */

static json_t *describe_channel(const struct metro_profile *p, const struct metro_channel *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "channel", json_string(c->name));
	if (p->transport == METRO_TRANSPORT_MODBUS) {
		int bit = c->table == METRO_TABLE_COIL || c->table == METRO_TABLE_DISCRETE;
		json_object_set_new(o, "table", json_string(metro_table_name(c->table)));
		json_object_set_new(o, "address", json_integer(c->address));
		json_object_set_new(
			o, "type", json_string(bit ? "bit" : metro_codec_type_name(c->codec.type)));
		json_object_set_new(o, "order",
				    bit ? json_null()
					: json_string(metro_codec_order_name(c->codec.order)));
		json_object_set_new(o, "registers", json_integer(bit ? 0 : c->nregs));
		if (!bit && c->codec.type != METRO_CODEC_STRING) {
			json_object_set_new(o, "scale", json_real(c->codec.scale));
			json_object_set_new(o, "offset", json_real(c->codec.offset));
		}
		if (!bit && c->codec.type == METRO_CODEC_BITS) {
			json_object_set_new(o, "bit", json_integer(c->codec.bit_offset));
			json_object_set_new(o, "bits", json_integer(c->codec.bit_width));
		}
		if (!bit && c->codec.type == METRO_CODEC_STRING)
			json_object_set_new(o, "length", json_integer(c->codec.str_len));
	}
	json_object_set_new(o, "unit", c->unit ? json_string(c->unit) : json_null());
	json_object_set_new(o, "writable", json_boolean(c->writable));
	if (p->transport == METRO_TRANSPORT_SERIAL_LINE) {
		json_object_set_new(
			o, "read",
			json_pack("{s:s?, s:s?}", "command", c->read_cmd, "reply", c->read_reply));
		json_object_set_new(o, "write",
				    c->write_cmd ? json_pack("{s:s?, s:s?}", "command",
							     c->write_cmd, "reply", c->write_reply)
						 : json_null());
	}
	return o;
}

static void describe_json(const struct metro_profile *p)
{
	json_t *chs = json_array();
	for (size_t i = 0; i < p->nchannels; i++)
		json_array_append_new(chs, describe_channel(p, &p->channels[i]));
	json_t *doc = json_pack("{s:s, s:s?, s:s, s:s, s:i, s:o}", "rig", p->kind, "model",
				p->model, "profile", p->path, "transport",
				p->transport == METRO_TRANSPORT_MODBUS ? "modbus" : "serial-line",
				"positions", p->positions, "channels", chs);
	if (p->transport == METRO_TRANSPORT_SERIAL_LINE)
		json_object_set_new(doc, "terminators",
				    json_pack("{s:s?, s:s?}", "command", p->out_terminator, "reply",
					      p->in_terminator));
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(doc);
}

static void describe_text(const struct metro_profile *p)
{
	printf("%s (%s), profile %s, %d positions\n", p->kind, p->model ? p->model : "-", p->path,
	       p->positions);
	for (size_t i = 0; i < p->nchannels; i++) {
		const struct metro_channel *c = &p->channels[i];
		if (p->transport == METRO_TRANSPORT_MODBUS) {
			int bit = c->table == METRO_TABLE_COIL || c->table == METRO_TABLE_DISCRETE;
			printf("  %-24s %-8s %5u  %-6s %-4s %-8s%s\n", c->name,
			       metro_table_name(c->table), c->address,
			       bit ? "bit" : metro_codec_type_name(c->codec.type),
			       bit ? "-" : metro_codec_order_name(c->codec.order),
			       c->unit ? c->unit : "-", c->writable ? " writable" : "");
		} else {
			printf("  %-24s %-8s read '%s' -> '%s'", c->name, c->unit ? c->unit : "-",
			       c->read_cmd ? c->read_cmd : "", c->read_reply ? c->read_reply : "");
			if (c->write_cmd)
				printf("  write '%s' -> '%s'", c->write_cmd,
				       c->write_reply ? c->write_reply : "");
			putchar('\n');
		}
	}
}

/* ---- serving ----------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct sim {
	struct opts o;
	enum metro_rig_kind kind;
	char *profile_path;
	struct metro_profile *profile;
	struct sim_meters *meters;
	struct sim_fault fault;
	int have_fault;
	struct sim_image *img;
	struct sim_rig rig;
	int have_rig;
	struct sim_line *line;
	struct sim_server *server;
	char *host;
};

static void sim_cleanup(struct sim *S)
{
	sim_server_close(&S->server);
	sim_line_destroy(&S->line);
	if (S->have_rig)
		sim_rig_fini(&S->rig);
	sim_image_destroy(&S->img);
	if (S->have_fault)
		sim_fault_free(&S->fault);
	sim_meters_destroy(&S->meters);
	metro_profile_destroy(&S->profile);
	free(S->profile_path);
	free(S->host);
}

static int load_profile(struct sim *S)
{
	const struct opts *o = &S->o;
	S->profile_path = o->profile ? metro_strdup(o->profile) : find_profile(o->rig);
	if (!S->profile_path) {
		fprintf(stderr,
			"metrosim: no profile for %s: looked for config/profiles/%s.yaml beside "
			"the "
			"executable, in the current directory and in %s/profiles; use --profile\n",
			o->rig, o->rig, METRO_DATADIR);
		return 2;
	}
	int positions =
		(int)(o->positions ? o->positions : sim_model_ops(S->kind)->default_positions);
	struct metro_diag d;
	metro_diag_init(&d);
	if (metro_profile_load(S->profile_path, positions, &d, &S->profile)) {
		metro_diag_print(&d, stderr);
		if (!metro_diag_count(&d))
			fprintf(stderr, "metrosim: %s: cannot load the profile\n", S->profile_path);
		metro_diag_free(&d);
		return 2;
	}
	metro_diag_free(&d);
	if (strcmp(S->profile->kind, o->rig) != 0) {
		fprintf(stderr, "metrosim: %s is a %s profile, not a %s one\n", S->profile_path,
			S->profile->kind, o->rig);
		return 2;
	}
	return -1;
}

static int check_transport(struct sim *S)
{
	const struct opts *o = &S->o;
	int serial = S->profile->transport == METRO_TRANSPORT_SERIAL_LINE;
	if (serial && !o->line) {
		fprintf(stderr,
			"metrosim: %s is a serial-line profile: serve it with --serial-line, not "
			"%s\n",
			S->profile_path, o->tcp ? "--modbus-tcp" : "--modbus-rtu");
		return 2;
	}
	if (!serial && o->line) {
		fprintf(stderr,
			"metrosim: %s is a Modbus profile: serve it with --modbus-tcp or "
			"--modbus-rtu, not --serial-line\n",
			S->profile_path);
		return 2;
	}
	if (o->tcp && (o->pty_link || o->baud)) {
		fprintf(stderr, "metrosim: --pty-link and --baud are for the pty modes "
				"(--modbus-rtu, --serial-line)\n");
		return 2;
	}
	return -1;
}

static int setup_faults(struct sim *S)
{
	char err[300];
	if (sim_fault_parse(&S->fault, S->o.faults, S->o.seed, err, sizeof err)) {
		fprintf(stderr, "metrosim: --faults: %s\n", err);
		return 2;
	}
	S->have_fault = 1;
	for (size_t i = 0; i < S->fault.nstuck; i++)
		if (!metro_profile_channel(S->profile, S->fault.stuck[i].channel)) {
			fprintf(stderr, "metrosim: --faults: stuck=%s: no such channel in %s\n",
				S->fault.stuck[i].channel, S->profile_path);
			return 2;
		}
	for (size_t i = 0; i < S->fault.nignore; i++) {
		const char *name = S->fault.ignore[i].channel;
		const struct metro_channel *ch = metro_profile_channel(S->profile, name);
		if (strcmp(name, "*") != 0 && (!ch || !ch->writable)) {
			fprintf(stderr, "metrosim: --faults: ignorewrites=%s: %s in %s\n", name,
				ch ? "not a writable channel" : "no such channel", S->profile_path);
			return 2;
		}
	}
	const char *tr = S->o.tcp ? "Modbus TCP" : S->o.line ? "the serial line" : NULL;
	if (S->o.tcp && S->fault.configured[SIM_F_CRC])
		fprintf(stderr, "metrosim: --faults: crc has no effect over %s (no checksum)\n",
			tr);
	if (S->o.line && S->fault.configured[SIM_F_WRONGUNIT])
		fprintf(stderr,
			"metrosim: --faults: wrongunit has no effect over %s (no unit id)\n", tr);
	return -1;
}

static int serve(struct sim *S)
{
	const struct opts *o = &S->o;
	struct sim_server_conf conf = {
		.unit = (int)o->unit,
		.baud = o->baud ? o->baud : 115200,
		.pace = o->baud != 0,
		.pty_link = o->pty_link,
		.verbose = o->verbose,
	};
	char err[400];
	if (o->tcp) {
		conf.mode = SIM_MODE_TCP;
		if (split_hostport(o->tcp, &S->host, &conf.port)) {
			fprintf(stderr,
				"metrosim: --modbus-tcp %s: expected HOST:PORT (port 0..65535)\n",
				o->tcp);
			return 2;
		}
		conf.host = S->host;
	} else {
		conf.mode = o->rtu ? SIM_MODE_RTU : SIM_MODE_LINE;
	}
	char ident[64];
	snprintf(ident, sizeof ident, "metrosim %s %s", S->profile->kind, METRO_VERSION);
	conf.ident = ident;

	S->img = sim_image_new(S->profile);
	if (conf.mode == SIM_MODE_LINE &&
	    sim_line_new(S->profile, S->img, &S->line, err, sizeof err)) {
		fprintf(stderr, "metrosim: %s: %s\n", S->profile_path, err);
		return 2;
	}
	sim_rig_init(&S->rig, S->kind, S->profile, S->img, S->meters, &S->fault, o->scale,
		     metro_now_ns());
	S->have_rig = 1;

	/* Block the stop signals except while waiting in ppoll: a signal can then only arrive
	 * where the loop looks at the flag next. */
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int rc = sim_server_open(&conf, &S->rig, S->img, &S->fault, S->line, &S->server, err,
				 sizeof err);
	if (rc) {
		fprintf(stderr, "metrosim: %s\n", err);
		return rc == METRO_E_INVAL ? 2 : 1;
	}
	fprintf(stderr, "metrosim: %s, profile %s, %d positions, time scale %g, seed %llu%s%s\n",
		S->profile->kind, S->profile_path, S->profile->positions, o->scale, o->seed,
		o->faults ? ", faults " : "", o->faults ? o->faults : "");
	rc = sim_server_run(S->server, &waitmask, &stop_flag);
	sim_fault_summary(&S->fault, stderr);
	if (o->fault_log && sim_fault_write_log(&S->fault, o->fault_log)) {
		fprintf(stderr, "metrosim: --fault-log %s: cannot write: %s\n", o->fault_log,
			strerror(errno));
		return 1;
	}
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct sim S;
	memset(&S, 0, sizeof S);
	int rc = parse_args(argc, argv, &S.o);
	if (rc >= 0)
		return rc;
	if (sim_rig_kind_parse(S.o.rig, &S.kind)) {
		fprintf(stderr,
			"metrosim: --rig %s: expected flow-bench, electricity-bench or "
			"bell-prover\n",
			S.o.rig);
		return 2;
	}
	rc = load_profile(&S);
	if (rc < 0 && S.o.describe) {
		if (S.o.json)
			describe_json(S.profile);
		else
			describe_text(S.profile);
		rc = 0;
	}
	if (rc < 0)
		rc = check_transport(&S);
	if (rc < 0)
		rc = setup_faults(&S);
	if (rc < 0) {
		struct metro_diag d;
		metro_diag_init(&d);
		if (sim_meters_load(S.o.meters, S.kind, S.profile->positions, &d, &S.meters)) {
			metro_diag_print(&d, stderr);
			if (!metro_diag_count(&d))
				fprintf(stderr, "metrosim: --meters %s: cannot read it\n",
					S.o.meters);
			rc = 2;
		} else {
			sim_meters_deviate(S.meters, S.o.seed);
		}
		metro_diag_free(&d);
	}
	if (rc < 0)
		rc = serve(&S);
	sim_cleanup(&S);
	return rc;
}
