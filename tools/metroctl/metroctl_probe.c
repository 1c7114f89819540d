/* metroctl probe — read (and optionally write) a rig's channels through metrod's own driver
 * stack, without the daemon: for commissioning a rig, checking a profile against a device, or
 * diagnosing a line.  The same drivers, profile loader, device layer (retries, read-back of
 * writes) and error texts as the daemon's.
 *
 *   metroctl probe --driver modbus-tcp --host H --port P --profile FILE [--positions N]
 *                  [--unit N] [--timeout MS] [--retries N] [--write CHANNEL=VALUE]...
 *                  [--count N] [--interval MS] [--raw] [CHANNEL...]
 *   metroctl probe --driver modbus-rtu|serial-line --device PATH [--baud B] [--parity P] ...
 *
 * Without channel names every channel is read; string channels show their text.  --raw
 * (Modbus) shows the registers behind each value, to check word order and scale by eye.
 * Exit 1 when a read or write fails.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "driver.h"
#include "error.h"
#include "metroctl_probe.h"
#include "util.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: metroctl probe --driver NAME --profile FILE (--host H --port P | --device "
		"PATH)\n"
		"                      [--positions N] [--unit N] [--baud B] [--parity "
		"none|even|odd]\n"
		"                      [--timeout MS] [--retries N] [--plugin FILE.so]\n"
		"                      [--write CHANNEL=VALUE]... [--count N] [--interval MS]\n"
		"                      [--raw]\n"
		"                      [CHANNEL...]\n");
}

static int parse_long(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < min || v > max) {
		fprintf(stderr, "metroctl probe: %s: '%s' is not an integer in [%ld, %ld]\n", opt,
			s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* What the command line asks for. */
struct probe_args {
	struct metro_connection_conf cc;
	const char *driver, *profile;
	long positions, count, interval;
	int raw; /* --raw: the registers behind each value */
	char *writes[32];
	int nwrites;
	const struct metro_driver *drv;
};

/* Parse and check the command line into a.  Returns -1 to go on, or the exit status (a usage
 * error, or 0 after --help). */
static int parse_probe_args(int argc, char **argv, struct probe_args *a)
{
	static const struct option opts[] = {
		{"driver", required_argument, NULL, 'd'},
		{"profile", required_argument, NULL, 'f'},
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"device", required_argument, NULL, 'D'},
		{"baud", required_argument, NULL, 'b'},
		{"parity", required_argument, NULL, 'P'},
		{"unit", required_argument, NULL, 'u'},
		{"timeout", required_argument, NULL, 't'},
		{"retries", required_argument, NULL, 'r'},
		{"positions", required_argument, NULL, 'n'},
		{"write", required_argument, NULL, 'w'},
		{"count", required_argument, NULL, 'c'},
		{"interval", required_argument, NULL, 'i'},
		{"plugin", required_argument, NULL, 'L'},
		{"raw", no_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	*a = (struct probe_args){.cc = {.baud = 9600,
					.parity = 'N',
					.data_bits = 8,
					.stop_bits = 1,
					.unit = 1,
					.timeout_ms = 500,
					.retries = 2},
				 .positions = 1,
				 .count = 1,
				 .interval = 1000};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			a->driver = optarg;
			break;
		case 'R':
			a->raw = 1;
			break;
		case 'f':
			a->profile = optarg;
			break;
		case 'H':
			a->cc.host = optarg;
			break;
		case 'p':
			if (parse_long("--port", optarg, 1, 65535, &a->cc.port))
				return METROCTL_EXIT_USAGE;
			break;
		case 'D':
			a->cc.device = optarg;
			break;
		case 'b':
			if (parse_long("--baud", optarg, 1200, 4000000, &a->cc.baud))
				return METROCTL_EXIT_USAGE;
			break;
		case 'P':
			if (strcmp(optarg, "none") != 0 && strcmp(optarg, "even") != 0 &&
			    strcmp(optarg, "odd") != 0) {
				fprintf(stderr,
					"metroctl probe: --parity: '%s' is not none, even or "
					"odd\n",
					optarg);
				return METROCTL_EXIT_USAGE;
			}
			a->cc.parity = optarg[0] == 'n' ? 'N' : optarg[0] == 'e' ? 'E' : 'O';
			break;
		case 'u':
			if (parse_long("--unit", optarg, 0, 247, &a->cc.unit))
				return METROCTL_EXIT_USAGE;
			break;
		case 't':
			if (parse_long("--timeout", optarg, 10, 60000, &a->cc.timeout_ms))
				return METROCTL_EXIT_USAGE;
			break;
		case 'r':
			if (parse_long("--retries", optarg, 0, 10, &a->cc.retries))
				return METROCTL_EXIT_USAGE;
			break;
		case 'n':
			if (parse_long("--positions", optarg, 1, 256, &a->positions))
				return METROCTL_EXIT_USAGE;
			break;
		case 'c':
			if (parse_long("--count", optarg, 1, 1000000, &a->count))
				return METROCTL_EXIT_USAGE;
			break;
		case 'i':
			if (parse_long("--interval", optarg, 0, 3600000, &a->interval))
				return METROCTL_EXIT_USAGE;
			break;
		case 'w':
			if (a->nwrites == 32) {
				fprintf(stderr, "metroctl probe: at most 32 --write options\n");
				return METROCTL_EXIT_USAGE;
			}
			a->writes[a->nwrites++] = optarg;
			break;
		case 'L': {
			char why[300];
			if (metro_driver_load_plugin(optarg, why, sizeof why)) {
				fprintf(stderr, "metroctl probe: --plugin %s: %s\n", optarg, why);
				return METROCTL_EXIT_USAGE;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return METROCTL_EXIT_OK;
		default:
			usage(stderr);
			return METROCTL_EXIT_USAGE;
		}
	}
	if (!a->driver || !a->profile) {
		fprintf(stderr, "metroctl probe: %s is required\n",
			!a->driver ? "--driver" : "--profile");
		return METROCTL_EXIT_USAGE;
	}
	a->drv = metro_driver_find(a->driver);
	if (!a->drv) {
		char names[256];
		metro_driver_names(names, sizeof names);
		fprintf(stderr, "metroctl probe: --driver: unknown driver '%s' (known: %s)\n",
			a->driver, names);
		return METROCTL_EXIT_USAGE;
	}
	if (!strcmp(a->drv->transport, "modbus") &&
	    !strcmp(a->driver + strlen(a->driver) - 4, "-tcp") && (!a->cc.host || !a->cc.port)) {
		fprintf(stderr, "metroctl probe: --host and --port are required for %s\n",
			a->driver);
		return METROCTL_EXIT_USAGE;
	}
	if (strcmp(a->driver + strlen(a->driver) - 4, "-tcp") != 0 && !a->cc.device) {
		fprintf(stderr, "metroctl probe: --device is required for %s\n", a->driver);
		return METROCTL_EXIT_USAGE;
	}
	return -1;
}

/* Write every --write CHANNEL=NUMBER (each read back by the device layer).  Returns 0 or the
 * exit status. */
static int probe_writes(struct metro_device *dev, const struct metro_profile *p,
			const struct probe_args *a, const struct metroctl_opts *o)
{
	for (int i = 0; i < a->nwrites; i++) {
		char *eq = strchr(a->writes[i], '=');
		char *end = NULL;
		double v = eq ? strtod(eq + 1, &end) : 0;
		if (!eq || !*(eq + 1) || *end) {
			fprintf(stderr, "metroctl probe: --write '%s': expected CHANNEL=NUMBER\n",
				a->writes[i]);
			return METROCTL_EXIT_USAGE;
		}
		*eq = '\0';
		const struct metro_channel *ch = metro_profile_channel(p, a->writes[i]);
		if (!ch) {
			fprintf(stderr, "metroctl probe: no channel '%s' in %s\n", a->writes[i],
				a->profile);
			return METROCTL_EXIT_USAGE;
		}
		if (metro_device_write(dev, ch, v)) {
			fprintf(stderr, "metroctl probe: write %s: %s\n", ch->name,
				metro_device_last_error(dev));
			return METROCTL_EXIT_FAIL;
		}
		if (!o->json)
			printf("wrote %s = %.9g (%s)\n", ch->name, v,
			       ch->readback == METRO_READBACK_NONE
				       ? "not read back: readback: false"
			       : ch->readback == METRO_READBACK_EXPECT ? "confirmed by expect:"
								       : "read back");
	}
	return METROCTL_EXIT_OK;
}

static int is_string(const struct metro_channel *c)
{
	return c->codec.type == METRO_CODEC_STRING && c->table != METRO_TABLE_COIL &&
	       c->table != METRO_TABLE_DISCRETE && !c->read_cmd;
}

/* The text of a string channel, decoded from its raw registers. */
static int read_text(struct metro_device *dev, const struct metro_channel *c, char *text,
		     size_t cap)
{
	uint16_t regs[METRO_CODEC_STR_MAX / 2 + 1];
	size_t nr;
	int err = metro_device_raw(dev, c, regs, METRO_ARRAY_SIZE(regs), &nr);
	if (!err && metro_codec_decode_str(&c->codec, regs, nr, text, cap))
		err = METRO_E_RANGE;
	return err;
}

/* One reading of every channel asked for: numbers in one request (the driver coalesces
 * them), strings as text, and with --raw the registers behind each.  Printed as lines, or
 * returned as an object ({channel: value} or {"values": {...}, "raw": {...}} with --raw).
 * NULL after a failure (said on stderr). */
static json_t *probe_once(struct metro_device *dev, const struct metro_channel **chs, size_t n,
			  double *vals, const struct probe_args *a, const struct metroctl_opts *o)
{
	const struct metro_channel **num = metro_calloc(n ? n : 1, sizeof *num);
	size_t nn = 0;
	for (size_t i = 0; i < n; i++)
		if (!is_string(chs[i]))
			num[nn++] = chs[i];
	int err = nn ? metro_device_read(dev, num, nn, vals) : 0;
	free(num);
	if (err) {
		fprintf(stderr, "metroctl probe: read: %s\n", metro_device_last_error(dev));
		return NULL;
	}
	json_t *values = json_object(), *raw = a->raw ? json_object() : NULL;
	for (size_t i = 0, k = 0; i < n; i++) {
		const struct metro_channel *c = chs[i];
		char text[METRO_CODEC_STR_MAX + 1], shown[METRO_CODEC_STR_MAX + 64];
		if (is_string(c)) {
			if (read_text(dev, c, text, sizeof text)) {
				fprintf(stderr, "metroctl probe: read %s: %s\n", c->name,
					metro_device_last_error(dev));
				json_decref(values);
				json_decref(raw);
				return NULL;
			}
			json_object_set_new(values, c->name, json_string(text));
			snprintf(shown, sizeof shown, "\"%s\"", text);
		} else {
			double v = vals[k++];
			json_object_set_new(values, c->name, json_real(v));
			snprintf(shown, sizeof shown, "%.9g%s%s", v, c->unit ? " " : "",
				 c->unit ? c->unit : "");
		}
		char words[256] = "";
		if (raw) {
			uint16_t regs[METRO_CODEC_STR_MAX / 2 + 1];
			size_t nr = 0;
			if (metro_device_raw(dev, c, regs, METRO_ARRAY_SIZE(regs), &nr)) {
				fprintf(stderr, "metroctl probe: raw %s: %s\n", c->name,
					metro_device_last_error(dev));
				json_decref(values);
				json_decref(raw);
				return NULL;
			}
			json_t *arr = json_array();
			size_t w =
				(size_t)snprintf(words, sizeof words,
						 "%s %u:", metro_table_name(c->table), c->address);
			for (size_t r = 0; r < nr; r++) {
				json_array_append_new(arr, json_integer(regs[r]));
				if (w < sizeof words)
					w += (size_t)snprintf(words + w, sizeof words - w, " %04x",
							      regs[r]);
			}
			json_object_set_new(raw, c->name, arr);
		}
		if (!o->json)
			printf(raw ? "%-24s %-24s %s\n" : "%-24s %s%s\n", c->name, shown, words);
	}
	if (!raw)
		return values;
	return json_pack("{s:o, s:o}", "values", values, "raw", raw);
}

int metroctl_probe(int argc, char **argv, const struct metroctl_opts *o)
{
	struct probe_args a;
	int rc = parse_probe_args(argc, argv, &a);
	if (rc >= 0)
		return rc;
	rc = METROCTL_EXIT_USAGE;
	struct metro_diag diag;
	struct metro_profile *p = NULL;
	struct metro_device *dev = NULL;
	const struct metro_channel **chs = NULL;
	double *vals = NULL;
	json_t *out = NULL;
	metro_diag_init(&diag);
	if (metro_profile_load(a.profile, (int)a.positions, &diag, &p)) {
		metro_diag_print(&diag, stderr);
		goto done;
	}
	size_t n = 0;
	chs = metro_calloc(p->nchannels, sizeof *chs);
	for (int i = optind; i < argc; i++) {
		const struct metro_channel *ch = metro_profile_channel(p, argv[i]);
		if (!ch) {
			fprintf(stderr, "metroctl probe: no channel '%s' in %s\n", argv[i],
				a.profile);
			goto done;
		}
		chs[n++] = ch;
	}
	if (optind == argc)
		for (size_t i = 0; i < p->nchannels; i++)
			chs[n++] = &p->channels[i];
	struct metro_driver_conn conn = {"probe", &a.cc, p};
	if (metro_device_new(a.drv, &conn, &dev)) {
		fprintf(stderr, "metroctl probe: driver %s does not serve %s profiles\n", a.driver,
			p->transport == METRO_TRANSPORT_MODBUS ? "modbus" : "serial-line");
		goto done;
	}
	rc = METROCTL_EXIT_FAIL;
	if (metro_device_connect(dev)) {
		fprintf(stderr, "metroctl probe: %s\n", metro_device_last_error(dev));
		goto done;
	}
	rc = probe_writes(dev, p, &a, o);
	if (rc)
		goto done;
	rc = METROCTL_EXIT_FAIL;
	vals = metro_calloc(n ? n : 1, sizeof *vals);
	if (o->json)
		out = json_array();
	for (long k = 0; k < a.count; k++) {
		if (k && a.interval) {
			struct timespec ts = {a.interval / 1000, (a.interval % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
		json_t *obj = probe_once(dev, chs, n, vals, &a, o);
		if (!obj)
			goto done;
		if (out)
			json_array_append_new(out, obj);
		else
			json_decref(obj);
	}
	if (out) {
		char *t = json_dumps(a.count == 1 ? json_array_get(out, 0) : out,
				     JSON_COMPACT | JSON_REAL_PRECISION(15));
		puts(t);
		free(t);
	}
	rc = METROCTL_EXIT_OK;
done:
	json_decref(out);
	free(vals);
	free(chs);
	metro_device_destroy(&dev);
	metro_profile_destroy(&p);
	metro_diag_free(&diag);
	return rc;
}
