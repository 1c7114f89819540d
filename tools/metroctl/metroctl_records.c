/* metroctl standards / trace — read a record store offline (a copy, opened read-only).
 *
 *   metroctl standards --db FILE [--date YYYY-MM-DD] [--warn-days N] [--json]
 *       the reference standards with days left until each due date (and until the assessment
 *       certificate's); exit 1 when an active standard is past due
 *   metroctl trace --db FILE [--pubkey FILE] [--no-verify] [--json] CERTIFICATE-OR-SERIAL
 *       the whole chain of evidence behind one meter's result: run, standards and their
 *       certificates as of the run, procedure and rig profile and their hashes, software,
 *       operator, meter, raw readings and intermediate values, verdicts and corrections,
 *       inputs, certificates, and the checkpoint that signs them.  The database is verified first
 * (as `metroctl audit verify`); evidence from a database that fails is printed under a warning and
 * exit 1.
 *
 *   metroctl records run --db FILE [--json] RUN
 *       one run as recorded: positions, verdicts, and each certificate or notice with where it
 *       stands and its signed steps (who, in what role and qualification, when, signature)
 *
 * Exit codes: 0 ok, 1 expired standard / nothing found / not verified, 2 usage, 5 cannot open
 * or read the database.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "error.h"
#include "metroctl_records.h"
#include "store.h"
#include "util.h"
#include "yfile.h"

enum { EXIT_UNREADABLE = 5 };

static void usage(FILE *out)
{
	fprintf(out,
		"usage: metroctl standards --db FILE [--date YYYY-MM-DD] [--warn-days N] [--json]\n"
		"       metroctl trace --db FILE [--pubkey FILE] [--no-verify] [--json]\n"
		"                      CERTIFICATE-OR-SERIAL\n"
		"       metroctl records run --db FILE [--json] RUN\n"
		"exit codes: 0 ok, 1 expired / not found / not verified, 2 usage, 5 cannot read\n");
}

static int open_ro(const char *path, struct metro_store **s)
{
	char err[512];
	struct metro_store_opts so = {.path = path, .readonly = 1};
	if (metro_store_open(&so, s, err, sizeof err)) {
		fprintf(stderr, "metroctl: %s\n", err);
		return -1;
	}
	return 0;
}

static void print_json(json_t *j, int compact)
{
	char *t = json_dumps(j, compact ? JSON_COMPACT : JSON_INDENT(2));
	puts(t);
	free(t);
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

/* ---- standards ----------------------------------------------------------------------------- */

static const char *standing(json_t *row, long warn)
{
	json_t *d = json_object_get(row, "days_left"),
	       *a = json_object_get(row, "assessment_days_left");
	if (!json_integer_value(json_object_get(row, "active")))
		return "retired";
	if ((json_is_integer(d) && json_integer_value(d) < 0) ||
	    (json_is_integer(a) && json_integer_value(a) < 0))
		return "EXPIRED";
	if ((json_is_integer(d) && json_integer_value(d) <= warn) ||
	    (json_is_integer(a) && json_integer_value(a) <= warn))
		return "due soon";
	return "ok";
}

static int standards(int argc, char **argv, const struct metroctl_opts *g)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"date", required_argument, NULL, 't'},
		{"warn-days", required_argument, NULL, 'w'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *db = NULL;
	long warn = 30;
	int json = g->json, c;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	struct metro_date day = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 't':
			if (metro_date_parse(optarg, &day)) {
				fprintf(stderr,
					"metroctl standards: --date: '%s' is not YYYY-MM-DD\n",
					optarg);
				return METROCTL_EXIT_USAGE;
			}
			break;
		case 'w': {
			char *end;
			warn = strtol(optarg, &end, 10);
			if (*end || warn < 0 || warn > 3650) {
				fprintf(stderr,
					"metroctl standards: --warn-days: '%s' is not 0..3650\n",
					optarg);
				return METROCTL_EXIT_USAGE;
			}
			break;
		}
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return METROCTL_EXIT_OK;
		default:
			usage(stderr);
			return METROCTL_EXIT_USAGE;
		}
	}
	if (!db || optind != argc) {
		usage(stderr);
		return METROCTL_EXIT_USAGE;
	}
	struct metro_store *s;
	if (open_ro(db, &s))
		return EXIT_UNREADABLE;
	json_t *list;
	int err = metro_store_standards(s, &day, &list);
	if (err) {
		fprintf(stderr, "metroctl standards: %s\n", metro_store_errmsg(s));
		metro_store_close(&s);
		return EXIT_UNREADABLE;
	}
	metro_store_close(&s);
	int expired = 0;
	size_t i;
	json_t *row;
	json_array_foreach (list, i, row) {
		const char *st = standing(row, warn);
		expired |= !strcmp(st, "EXPIRED");
		json_object_set_new(row, "standing", json_string(st));
	}
	char date[16];
	snprintf(date, sizeof date, "%04d-%02d-%02d", day.year % 10000, day.month % 100,
		 day.day % 100);
	if (json) {
		json_t *j = json_pack("{ss sO}", "date", date, "standards", list);
		print_json(j, 1);
		json_decref(j);
	} else {
		printf("standards as of %s (warning %ld days before a due date)\n", date, warn);
		printf("%-14s %-20s %-10s %5s  %-10s %5s  %s\n", "ID", "CERTIFICATE", "DUE", "DAYS",
		       "ASSESSMENT", "DAYS", "STANDING");
		json_array_foreach (list, i, row) {
			json_t *d = json_object_get(row, "days_left");
			json_t *a = json_object_get(row, "assessment_days_left");
			char dd[24] = "-", ad[24] = "-";
			if (json_is_integer(d))
				snprintf(dd, sizeof dd, "%lld", (long long)json_integer_value(d));
			if (json_is_integer(a))
				snprintf(ad, sizeof ad, "%lld", (long long)json_integer_value(a));
			printf("%-14s %-20s %-10s %5s  %-10s %5s  %s\n", str(row, "std_id"),
			       str(row, "certificate"), str(row, "due"), dd,
			       str(row, "assessment_due"), ad, str(row, "standing"));
		}
	}
	json_decref(list);
	return expired ? METROCTL_EXIT_FAIL : METROCTL_EXIT_OK;
}

/* ---- trace --------------------------------------------------------------------------------- */

static void print_compact(const char *indent, const char *label, json_t *v)
{
	if (!v || json_is_null(v))
		return;
	char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	printf("%s%s %s\n", indent, label, t);
	free(t);
}

/* One recorded answer as it bears on position `position`: what it decided for it and who
 * gave it — a person by name, or an automated answer as automated, with the client that sent
 * it (and the sensor that decides the item).  An answer that decided other positions only is
 * left out.  A record from before answers were recorded as documents shows its text. */
static void print_input(json_t *x, json_int_t position)
{
	json_t *doc = json_loads(str(x, "answer"), JSON_DECODE_ANY, NULL);
	json_t *decided = json_object_get(doc, "decided");
	if (!json_is_object(decided)) {
		printf("  %s: \"%s\" by %s at %s\n", str(x, "prompt"), str(x, "answer"),
		       str(x, "operator"), str(x, "answered"));
		json_decref(doc);
		return;
	}
	char key[24];
	snprintf(key, sizeof key, "%lld", (long long)position);
	json_t *v = json_object_get(decided, key);
	if (v) {
		char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		if (!strcmp(str(doc, "by"), "automated"))
			printf("  %s: %s AUTOMATED (not a person's answer%s%s; client %s) at %s\n",
			       str(x, "prompt"), t,
			       json_is_string(json_object_get(doc, "sensor")) ? ": sensor " : "",
			       json_is_string(json_object_get(doc, "sensor")) ? str(doc, "sensor")
									      : "",
			       str(doc, "client"), str(x, "answered"));
		else
			printf("  %s: %s by %s (client %s) at %s\n", str(x, "prompt"), t,
			       str(x, "operator"), str(doc, "client"), str(x, "answered"));
		free(t);
	}
	json_decref(doc);
}

/* Each certificate or notice with where it stands and its signed steps (schema 4). */
static void print_certificates(json_t *certs)
{
	size_t i, k;
	json_t *x, *st;
	json_array_foreach (certs, i, x) {
		json_t *w = json_object_get(x, "workflow");
		printf("  %s (%s) for verdict #%lld, numbered %s: %s%s%s%s\n", str(x, "number"),
		       str(x, "kind"), (long long)json_integer_value(json_object_get(x, "verdict")),
		       str(x, "issued"), str(x, "state"),
		       json_integer_value(w) == 1 ? "" : " (issued when numbered, no signed steps)",
		       json_is_string(json_object_get(x, "replaces")) ? ", replaces " : "",
		       json_is_string(json_object_get(x, "replaces")) ? str(x, "replaces") : "");
		if (json_is_string(json_object_get(x, "replaced_by")))
			printf("    replaced by %s\n", str(x, "replaced_by"));
		json_array_foreach (json_object_get(x, "steps"), k, st) {
			printf("    %-8s %s (%s) as %s, qualification %s valid until %s, signed "
			       "%s, "
			       "recorded %s, signature %.16s…%s%s%s\n",
			       str(st, "step"), str(st, "person_name"), str(st, "person"),
			       str(st, "role"), str(st, "qualification"),
			       str(st, "qualification_due"), str(st, "time"), str(st, "recorded"),
			       str(st, "signature"),
			       json_is_string(json_object_get(st, "why")) ? ": " : "",
			       json_is_string(json_object_get(st, "why")) ? str(st, "why") : "",
			       json_is_string(json_object_get(st, "replaces"))
				       ? " (replaces a voided "
					 "certificate)"
				       : "");
		}
	}
}

static void print_evidence(json_t *e)
{
	json_t *run = json_object_get(e, "run"), *proc = json_object_get(run, "procedure");
	json_t *sw = json_object_get(run, "software"), *m = json_object_get(e, "meter");
	size_t i;
	json_t *x;
	printf("\nrun %lld, position %lld: rig %s, %s verification, state %s%s\n",
	       (long long)json_integer_value(json_object_get(run, "id")),
	       (long long)json_integer_value(json_object_get(e, "position")), str(run, "rig"),
	       str(run, "verification_type"), str(run, "state"),
	       json_integer_value(json_object_get(run, "simulated")) ? ", SIMULATED" : "");
	printf("  station %s, operator %s, client %s\n", str(run, "station"), str(run, "operator"),
	       str(run, "client"));
	printf("  started %s, ended %s%s%s\n", str(run, "started"), str(run, "ended"),
	       json_is_string(json_object_get(run, "end_reason")) ? ": " : "",
	       json_is_string(json_object_get(run, "end_reason")) ? str(run, "end_reason") : "");
	if (json_is_integer(json_object_get(run, "resumed_from")))
		printf("  resumes incomplete run %lld\n",
		       (long long)json_integer_value(json_object_get(run, "resumed_from")));
	print_compact("  ", "environment", json_object_get(run, "environment"));
	printf("procedure %s\n  sha256 %s (%s)\n", str(proc, "name"), str(proc, "sha256"),
	       json_is_true(json_object_get(proc, "content_matches_sha256"))
		       ? "the stored content has this digest"
		       : "THE STORED CONTENT DOES NOT HAVE THIS DIGEST");
	json_t *pf = json_object_get(run, "profile");
	if (json_is_object(pf))
		printf("rig profile %s (%s)\n  sha256 %s (%s)\n", str(pf, "name"), str(pf, "path"),
		       str(pf, "sha256"),
		       json_is_true(json_object_get(pf, "content_matches_sha256"))
			       ? "the stored content has this digest"
			       : "THE STORED CONTENT DOES NOT HAVE THIS DIGEST");
	else
		printf("rig profile not recorded (a run recorded before schema version 3)\n");
	printf("software %s %s, executable sha256 %s\n", str(sw, "name"), str(sw, "version"),
	       str(sw, "exe_sha256"));
	printf("meter %s: model %s, manufacturer %s, pattern approval %s, class %s\n",
	       str(m, "serial"), str(m, "model"), str(m, "manufacturer"),
	       str(m, "pattern_approval"), str(m, "accuracy_class"));
	print_compact("  ", "nameplate", json_object_get(m, "nameplate"));
	printf("standards as of the run:\n");
	json_array_foreach (json_object_get(e, "standards"), i, x) {
		char u[64] = "";
		if (json_is_number(json_object_get(x, "uncertainty_pct")))
			snprintf(u, sizeof u, "U = %g %% (k = %g)",
				 json_number_value(json_object_get(x, "uncertainty_pct")),
				 json_number_value(json_object_get(x, "k")));
		else
			snprintf(u, sizeof u, "class %s", str(x, "accuracy_class"));
		printf("  %s %s (serial %s): certificate %s by %s, calibrated %s, valid until %s, "
		       "%s\n",
		       str(x, "std_id"), str(x, "description"), str(x, "serial"),
		       str(x, "certificate"), str(x, "issuer"), str(x, "calibrated"), str(x, "due"),
		       u);
		if (json_is_string(json_object_get(x, "assessment_certificate")))
			printf("    assessment certificate %s, valid until %s\n",
			       str(x, "assessment_certificate"), str(x, "assessment_due"));
	}
	printf("points:\n");
	json_array_foreach (json_object_get(e, "points"), i, x) {
		printf("  %s #%lld (run %lld): error %s %%, rounded %s, MPE ±%s %%, %s [%s] at "
		       "%s\n",
		       str(x, "test_point"),
		       (long long)json_integer_value(json_object_get(x, "attempt")),
		       (long long)json_integer_value(json_object_get(x, "run")), str(x, "error"),
		       str(x, "rounded"), str(x, "mpe"), str(x, "verdict"), str(x, "rule"),
		       str(x, "recorded"));
		print_compact("      ", "readings", json_object_get(x, "readings"));
		print_compact("      ", "intermediates", json_object_get(x, "intermediates"));
		print_compact("      ", "environment", json_object_get(x, "environment"));
	}
	printf("verdicts:\n");
	json_array_foreach (json_object_get(e, "verdicts"), i, x) {
		printf("  #%lld %s by %s at %s",
		       (long long)json_integer_value(json_object_get(x, "id")), str(x, "verdict"),
		       str(x, "actor"), str(x, "decided"));
		if (json_is_integer(json_object_get(x, "corrects")))
			printf(", corrects #%lld: %s",
			       (long long)json_integer_value(json_object_get(x, "corrects")),
			       str(x, "why"));
		printf("\n");
		print_compact("      ", "failed items", json_object_get(x, "failed_items"));
	}
	if (json_array_size(json_object_get(e, "inputs")))
		printf("operator inputs:\n");
	json_array_foreach (json_object_get(e, "inputs"), i, x) {
		print_input(x, json_integer_value(json_object_get(e, "position")));
	}
	printf("certificates:\n");
	print_certificates(json_object_get(e, "certificates"));
	json_t *cp = json_object_get(e, "signed_by");
	if (json_is_object(cp))
		printf("signed by checkpoint epoch %lld (id %s) of %s, covering chain records up "
		       "to "
		       "%lld\n",
		       (long long)json_integer_value(json_object_get(cp, "epoch")), str(cp, "id"),
		       str(cp, "time"),
		       (long long)json_integer_value(json_object_get(cp, "head_seq")));
	else
		printf("NOT YET SIGNED: no checkpoint covers these records\n");
}

static int trace(int argc, char **argv, const struct metroctl_opts *g)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},  {"pubkey", required_argument, NULL, 'k'},
		{"no-verify", no_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},      {0, 0, 0, 0},
	};
	struct metro_audit_opts ao;
	int json = g->json, noverify = 0, c;
	memset(&ao, 0, sizeof ao);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			ao.db_path = optarg;
			break;
		case 'k':
			if (ao.npubkeys == METRO_AUDIT_MAX_PUBKEYS ||
			    metro_audit_read_pubkey(optarg, ao.pubkeys[ao.npubkeys])) {
				fprintf(stderr,
					"metroctl trace: --pubkey %s: cannot read a public key\n",
					optarg);
				return METROCTL_EXIT_USAGE;
			}
			ao.npubkeys++;
			break;
		case 'n':
			noverify = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return METROCTL_EXIT_OK;
		default:
			usage(stderr);
			return METROCTL_EXIT_USAGE;
		}
	}
	if (!ao.db_path || optind + 1 != argc) {
		usage(stderr);
		return METROCTL_EXIT_USAGE;
	}
	const char *what = argv[optind];
	struct metro_audit_report r;
	int verr = METRO_OK;
	memset(&r, 0, sizeof r);
	if (!noverify) {
		verr = metro_audit_verify(&ao, &r);
		if (verr && verr != METRO_E_CORRUPT) {
			fprintf(stderr, "metroctl trace: %s\n",
				r.nfailures ? r.failures[0].message : metro_strerror(verr));
			metro_audit_report_free(&r);
			return EXIT_UNREADABLE;
		}
	}
	struct metro_store *s;
	if (open_ro(ao.db_path, &s)) {
		metro_audit_report_free(&r);
		return EXIT_UNREADABLE;
	}
	json_t *res;
	int err = metro_store_trace(s, what, &res);
	if (err) {
		fprintf(stderr, "metroctl trace: %s\n", metro_store_errmsg(s));
		metro_store_close(&s);
		metro_audit_report_free(&r);
		return err == METRO_E_NOTFOUND ? METROCTL_EXIT_FAIL : EXIT_UNREADABLE;
	}
	metro_store_close(&s);
	json_t *v;
	if (noverify)
		v = json_pack("{ss}", "result", "not checked");
	else
		v = metro_audit_report_json(&r, verr);
	if (json) {
		json_object_set_new(res, "verification", v);
		print_json(res, 1);
	} else {
		if (noverify)
			printf("records NOT verified (--no-verify)\n");
		else if (verr)
			printf("WARNING: THIS DATABASE FAILS VERIFICATION; the records below "
			       "cannot "
			       "be relied on.\nfirst failure: %s\n",
			       r.failures[0].message);
		else
			printf("records verified: %lld chain records, %lld checkpoints, signatures "
			       "checked with %s\n",
			       (long long)r.records, (long long)r.checkpoints,
			       r.trusted_key
				       ? "the given --pubkey"
				       : "the key stored in the database only (give --pubkey)");
		printf("%s matched by %s\n", what, str(res, "matched_by"));
		size_t i;
		json_t *e;
		json_array_foreach (json_object_get(res, "results"), i, e) {
			print_evidence(e);
		}
		json_decref(v);
	}
	json_decref(res);
	metro_audit_report_free(&r);
	return verr ? METROCTL_EXIT_FAIL : METROCTL_EXIT_OK;
}

/* ---- records run -------------------------------------------------------------------------- */

/* metroctl records run --db FILE [--json] RUN: the run as recorded, its positions and
 * verdicts, and each certificate or notice with its signed steps. */
static int records_run(int argc, char **argv, const struct metroctl_opts *g)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *db = NULL;
	int json = g->json, c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return METROCTL_EXIT_OK;
		default:
			usage(stderr);
			return METROCTL_EXIT_USAGE;
		}
	}
	char *end = NULL;
	long long id = optind + 1 == argc ? strtoll(argv[optind], &end, 10) : 0;
	if (!db || id <= 0 || !end || *end) {
		fprintf(stderr, "metroctl records run: give --db FILE and one run id (a positive "
				"integer)\n");
		return METROCTL_EXIT_USAGE;
	}
	struct metro_store *s;
	if (open_ro(db, &s))
		return EXIT_UNREADABLE;
	json_t *r;
	int err = metro_store_run(s, (int64_t)id, &r);
	if (err) {
		fprintf(stderr, "metroctl records run: %s\n", metro_store_errmsg(s));
		metro_store_close(&s);
		return err == METRO_E_NOTFOUND ? METROCTL_EXIT_FAIL : EXIT_UNREADABLE;
	}
	metro_store_close(&s);
	if (json) {
		print_json(r, 1);
	} else {
		printf("run %lld: rig %s, %s, operator %s, %s (%s .. %s)%s\n", id, str(r, "rig"),
		       str(r, "verification_type"), str(r, "operator"), str(r, "state"),
		       str(r, "started"), str(r, "ended"),
		       json_integer_value(json_object_get(r, "simulated")) ? ", SIMULATED" : "");
		size_t i;
		json_t *x;
		json_array_foreach (json_object_get(r, "positions"), i, x) {
			printf("  position %lld: %s, verdict %s\n",
			       (long long)json_integer_value(json_object_get(x, "position")),
			       str(x, "serial"), str(x, "verdict"));
		}
		printf("certificates:\n");
		print_certificates(json_object_get(r, "certificates"));
	}
	json_decref(r);
	return METROCTL_EXIT_OK;
}

int metroctl_records(int argc, char **argv, const struct metroctl_opts *o)
{
	optind = 1;
	if (argc >= 2 && !strcmp(argv[0], "records") && !strcmp(argv[1], "run")) {
		optind = 2;
		return records_run(argc, argv, o);
	}
	if (argc >= 1 && !strcmp(argv[0], "standards"))
		return standards(argc, argv, o);
	if (argc >= 1 && !strcmp(argv[0], "trace"))
		return trace(argc, argv, o);
	usage(stderr);
	return METROCTL_EXIT_USAGE;
}
