/* metroctl report / export — documents and tables from a verified record store.
 *
 *   metroctl report certificate --db FILE (--number N | --serial S | --run ID --position N)
 *                               -o FILE.pdf [--checker NAME] [--approver NAME] [--pubkey FILE]
 *   metroctl report run --db FILE --run ID -o FILE.pdf [--certificates DIR] [...]
 *   metroctl report stats --db FILE --from DATE --to DATE [--extra FILE.yaml]
 *                         --format xlsx|csv -o FILE [--include-simulated] [--household RULE]
 *   metroctl report summary --db FILE --from DATE --to DATE [--format text|csv|xlsx]
 *                           [-o FILE] [--include-simulated] [--household RULE]
 *   metroctl export results --db FILE --from DATE --to DATE --format csv|json [-o FILE]
 *   metroctl export inventory --db FILE --from DATE --to DATE [-o FILE]
 *
 * A certificate under the signed workflow prints only once issued and never once voided, with
 * the people who signed its steps (printable(); docs/reports.md "Who signs").
 * Every command verifies the store first (metro_audit_verify) and refuses one that fails;
 * certificates and batch reports are refused for records no signed checkpoint covers, and
 * the tables leave such records out and say how many.  docs/reports.md is the reference.
 * The records are read through lib/records only (store.h, store_report.h): no SQL here.
 * Files are written whole or not at all (metroctl_report_out.h), and every output directory
 * is checked before anything is read or written.
 */
#include "metroctl_report.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "diag.h"
#include "error.h"
#include "metroctl_cmd.h"
#include "metroctl_report_model.h"
#include "metroctl_report_out.h"
#include "metroctl_report_pdf.h"
#include "metroctl_report_household.h"
#include "metroctl_report_stats.h"
#include "metroctl_report_summary.h"
#include "kinds.h"
#include "procedure.h"
#include "store.h"
#include "store_report.h"
#include "util.h"

enum { EXIT_UNREADABLE = 5 };

static void usage(FILE *out)
{
	fprintf(out,
		"usage: metroctl report certificate --db FILE (--number CERT | --serial S |\n"
		"                           --run ID --position N) -o FILE.pdf\n"
		"       metroctl report run --db FILE --run ID -o FILE.pdf [--certificates DIR]\n"
		"       metroctl report stats --db FILE --from DATE --to DATE [--extra FILE.yaml]\n"
		"                           --format xlsx|csv -o FILE [--household RULE.yaml]\n"
		"       metroctl report summary --db FILE --from DATE --to DATE\n"
		"                           [--format text|csv|xlsx] [-o FILE] [--household RULE]\n"
		"       metroctl export results --db FILE --from DATE --to DATE --format csv|json\n"
		"                           [-o FILE]\n"
		"       metroctl export inventory --db FILE --from DATE --to DATE [-o FILE]\n"
		"options: --pubkey FILE (trusted station key, repeatable), --checker NAME,\n"
		"         --approver NAME (only for certificates without signed steps),\n"
		"         --include-simulated (tables; certificates always mark simulated data)\n"
		"a certificate with signed steps prints only once issued, never once voided\n"
		"dates are local (YYYY-MM-DD, inclusive); docs/reports.md describes every field\n"
		"exit codes: 0 ok, 1 refused (not verified, not signed, nothing found), 2 usage,\n"
		"            5 cannot read the store or write the output\n");
}

/* ---- options ------------------------------------------------------------------------------- */

struct ropts {
	struct metro_audit_opts ao;
	const char *out, *number, *serial, *from, *to, *extra, *format, *certdir;
	const char *checker, *approver, *household;
	long long run;
	long position;
	int include_simulated;
};

enum {
	O_DB = 256,
	O_PUB,
	O_NUM,
	O_SER,
	O_RUN,
	O_POS,
	O_FROM,
	O_TO,
	O_EXTRA,
	O_FMT,
	O_CERTS,
	O_CHECK,
	O_APPR,
	O_SIM,
	O_HH
};

/* Where an option that takes text keeps it. */
static const char **text_option(struct ropts *r, int c)
{
	switch (c) {
	case O_NUM:
		return &r->number;
	case O_SER:
		return &r->serial;
	case O_EXTRA:
		return &r->extra;
	case O_FMT:
		return &r->format;
	case O_CERTS:
		return &r->certdir;
	case O_CHECK:
		return &r->checker;
	case O_APPR:
		return &r->approver;
	case O_HH:
		return &r->household;
	default:
		return &r->out;
	}
}

static int parse(int argc, char **argv, struct ropts *r)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, O_DB},
		{"pubkey", required_argument, NULL, O_PUB},
		{"number", required_argument, NULL, O_NUM},
		{"serial", required_argument, NULL, O_SER},
		{"run", required_argument, NULL, O_RUN},
		{"position", required_argument, NULL, O_POS},
		{"from", required_argument, NULL, O_FROM},
		{"to", required_argument, NULL, O_TO},
		{"extra", required_argument, NULL, O_EXTRA},
		{"format", required_argument, NULL, O_FMT},
		{"certificates", required_argument, NULL, O_CERTS},
		{"checker", required_argument, NULL, O_CHECK},
		{"approver", required_argument, NULL, O_APPR},
		{"include-simulated", no_argument, NULL, O_SIM},
		{"household", required_argument, NULL, O_HH},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	int c;
	char *end;
	memset(r, 0, sizeof *r);
	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case O_DB:
			r->ao.db_path = optarg;
			break;
		case O_PUB:
			if (r->ao.npubkeys == METRO_AUDIT_MAX_PUBKEYS ||
			    metro_audit_read_pubkey(optarg, r->ao.pubkeys[r->ao.npubkeys])) {
				fprintf(stderr, "metroctl: --pubkey %s: cannot read a public key\n",
					optarg);
				return -1;
			}
			r->ao.npubkeys++;
			break;
		case O_RUN:
			errno = 0;
			r->run = strtoll(optarg, &end, 10);
			if (errno || *end || r->run < 1) {
				fprintf(stderr, "metroctl: --run '%s': not a run id\n", optarg);
				return -1;
			}
			break;
		case O_POS:
			errno = 0;
			r->position = strtol(optarg, &end, 10);
			if (errno || *end || r->position < 1 || r->position > 10000) {
				fprintf(stderr, "metroctl: --position '%s': not a position\n",
					optarg);
				return -1;
			}
			break;
		case O_FROM:
		case O_TO: {
			struct metro_date d;
			if (metro_date_parse(optarg, &d)) {
				fprintf(stderr, "metroctl: --%s '%s': not a date YYYY-MM-DD\n",
					c == O_FROM ? "from" : "to", optarg);
				return -1;
			}
			*(c == O_FROM ? &r->from : &r->to) = optarg;
			break;
		}
		case O_EXTRA:
		case O_FMT:
		case O_CERTS:
		case O_CHECK:
		case O_APPR:
		case O_HH:
		case O_NUM:
		case O_SER:
		case 'o':
			*text_option(r, c) = optarg;
			break;
		case O_SIM:
			r->include_simulated = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "metroctl: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!r->ao.db_path) {
		fprintf(stderr, "metroctl: --db FILE is required\n");
		return -1;
	}
	return 0;
}

/* ---- the verified store -------------------------------------------------------------------- */

struct vstore {
	struct metro_store *s;
	struct rpt_ctx ctx;
	int64_t signed_head; /* chain records up to here are covered by a checkpoint */
};

static void vstore_close(struct vstore *v)
{
	metro_store_close(&v->s);
	metro_store_station_info_free(&v->ctx.station);
	memset(v, 0, sizeof *v);
}

/* Verify the store (refusing one that fails) and open it read-only.  Returns an exit code. */
static int vstore_open(struct ropts *r, struct vstore *v)
{
	struct metro_audit_report rep;
	memset(&rep, 0, sizeof rep);
	memset(v, 0, sizeof *v);
	int err = metro_audit_verify(&r->ao, &rep);
	if (err && err != METRO_E_CORRUPT) {
		fprintf(stderr, "metroctl: %s: %s\n", r->ao.db_path,
			rep.nfailures ? rep.failures[0].message : metro_strerror(err));
		metro_audit_report_free(&rep);
		return EXIT_UNREADABLE;
	}
	if (err) {
		fprintf(stderr,
			"metroctl: refused: %s fails verification (%zu problem%s); first: %s\n"
			"  nothing is reported from records that cannot be relied on; run "
			"`metroctl audit verify --db %s` for the whole report\n",
			r->ao.db_path, rep.total_failures, rep.total_failures == 1 ? "" : "s",
			rep.failures[0].message, r->ao.db_path);
		metro_audit_report_free(&rep);
		return METROCTL_EXIT_FAIL;
	}
	v->signed_head = rep.checkpoints ? rep.last.head_seq : 0;
	snprintf(v->ctx.verification, sizeof v->ctx.verification,
		 "记录已验证 Records verified: %lld chain records, %lld signed checkpoints, "
		 "signatures checked against %s.",
		 (long long)rep.records, (long long)rep.checkpoints,
		 rep.trusted_key ? "the station's trusted public key"
				 : "the key stored in the database (no --pubkey given)");
	metro_audit_report_free(&rep);

	char msg[512];
	struct metro_store_opts so = {.path = r->ao.db_path, .readonly = 1};
	if (metro_store_open(&so, &v->s, msg, sizeof msg)) {
		fprintf(stderr, "metroctl: %s\n", msg);
		vstore_close(v);
		return EXIT_UNREADABLE;
	}
	/* A store without a station row gives documents whose station lines are blank. */
	(void)metro_store_station_info(v->s, &v->ctx.station);
	time_t now = time(NULL);
	struct tm lt;
	localtime_r(&now, &lt);
	strftime(v->ctx.generated, sizeof v->ctx.generated, "%Y-%m-%d %H:%M", &lt);
	v->ctx.checker = r->checker;
	v->ctx.approver = r->approver;
	return METROCTL_EXIT_OK;
}

/* ---- one meter's evidence ------------------------------------------------------------------ */

struct evidence {
	json_t *trace; /* owns */
	struct rpt_meter m;
	struct metro_procedure *proc;
};

static void evidence_free(struct evidence *ev)
{
	json_decref(ev->trace);
	metro_procedure_destroy(&ev->proc);
	memset(ev, 0, sizeof *ev);
}

/* The evidence behind a certificate number: refused when unsigned or when the stored
 * procedure does not parse.  Returns an exit code. */
static int evidence_load(struct vstore *v, const char *number, struct evidence *ev)
{
	memset(ev, 0, sizeof *ev);
	int err = metro_store_trace(v->s, number, &ev->trace);
	if (err) {
		fprintf(stderr, "metroctl: %s\n", metro_store_errmsg(v->s));
		return err == METRO_E_NOTFOUND ? METROCTL_EXIT_FAIL : EXIT_UNREADABLE;
	}
	json_t *e = json_array_get(json_object_get(ev->trace, "results"), 0);
	if (!json_is_object(json_object_get(e, "signed_by"))) {
		fprintf(stderr,
			"metroctl: refused: the records of %s are not yet covered by a signed "
			"checkpoint (metrod signs at the end of every run and every 10 minutes; a "
			"cleanly stopped daemon signs on exit)\n",
			number);
		evidence_free(ev);
		return METROCTL_EXIT_FAIL;
	}
	json_t *pj = json_object_get(json_object_get(e, "run"), "procedure");
	const char *content = json_string_value(json_object_get(pj, "content"));
	struct metro_diag d;
	metro_diag_init(&d);
	if (!content || metro_procedure_load_buffer(json_string_value(json_object_get(pj, "name")),
						    content, strlen(content), &d, &ev->proc)) {
		fprintf(stderr, "metroctl: the procedure stored with %s does not load:\n", number);
		metro_diag_print(&d, stderr);
		metro_diag_free(&d);
		evidence_free(ev);
		return METROCTL_EXIT_FAIL;
	}
	metro_diag_free(&d);
	ev->m.e = e;
	ev->m.proc = ev->proc;
	ev->m.rule =
		rpt_cert_rule(ev->proc, json_object_get(json_object_get(e, "meter"), "nameplate"));
	size_t i;
	json_t *c;
	json_array_foreach (json_object_get(e, "certificates"), i, c) {
		if (!strcmp(json_string_value(json_object_get(c, "number")), number))
			ev->m.cert = c;
	}
	return METROCTL_EXIT_OK;
}

/* A certificate prints only once issued and never once voided (docs/reports.md); names given
 * by hand (--checker, --approver) only for one without signed steps.  Returns an exit code. */
static int printable(const struct vstore *v, const char *number, json_t *cert)
{
	json_t *steps = json_object_get(cert, "steps");
	if (json_array_size(steps) && (v->ctx.checker || v->ctx.approver)) {
		fprintf(stderr,
			"metroctl: %s carries signed steps: the certificate prints the people who "
			"signed them; --checker and --approver are only for certificates issued "
			"without steps\n",
			number);
		return METROCTL_EXIT_USAGE;
	}
	if (json_is_true(json_object_get(cert, "printable")))
		return METROCTL_EXIT_OK;
	char done[1024];
	size_t n = 0, i;
	json_t *st, *voided = NULL;
	done[0] = '\0';
	json_array_foreach (steps, i, st) {
		const char *step = json_string_value(json_object_get(st, "step"));
		if (step && !strcmp(step, "voided"))
			voided = st;
		if (n < sizeof done)
			n += (size_t)snprintf(done + n, sizeof done - n, "%s%s by %s at %s",
					      n ? ", " : "", step,
					      json_string_value(json_object_get(st, "person")),
					      json_string_value(json_object_get(st, "time")));
	}
	if (voided) {
		json_t *by = json_object_get(cert, "replaced_by");
		fprintf(stderr,
			"metroctl: refused: %s was voided by %s at %s (%s)%s%s; a voided "
			"certificate is not printed (metroctl trace %s shows its record)\n",
			number, json_string_value(json_object_get(voided, "person")),
			json_string_value(json_object_get(voided, "time")),
			json_string_value(json_object_get(voided, "why")),
			json_is_string(by) ? "; it is replaced by " : "",
			json_is_string(by) ? json_string_value(by) : "", number);
	} else {
		fprintf(stderr,
			"metroctl: refused: %s is not issued (%s): it prints once its steps "
			"verified, "
			"checked, approved and issued are signed\n",
			number, n ? done : "no step signed yet");
	}
	return METROCTL_EXIT_FAIL;
}

/* The certificate number of a run's position (the latest issued), or NULL. */
static const char *position_number(json_t *run, long long position)
{
	const char *num = NULL;
	size_t i;
	json_t *c;
	json_array_foreach (json_object_get(run, "certificates"), i, c) {
		if (json_integer_value(json_object_get(c, "position")) == position)
			num = json_string_value(json_object_get(c, "number"));
	}
	return num;
}

static int load_run(struct vstore *v, long long id, json_t **run)
{
	int err = metro_store_run(v->s, id, run);
	if (err) {
		fprintf(stderr, "metroctl: %s\n", metro_store_errmsg(v->s));
		return err == METRO_E_NOTFOUND ? METROCTL_EXIT_FAIL : EXIT_UNREADABLE;
	}
	return METROCTL_EXIT_OK;
}

/* Render the certificate or notice `number` into out (not yet in place); *said gets the line
 * to print once it is (the caller frees it).  Returns an exit code. */
static int render_certificate(struct vstore *v, const char *number, struct rpt_out *out,
			      char **said)
{
	struct evidence ev;
	int rc = evidence_load(v, number, &ev);
	if (rc)
		return rc;
	if ((rc = printable(v, number, ev.m.cert))) {
		evidence_free(&ev);
		return rc;
	}
	/* A certificate of a pass states its validity: a meter that no rule of its procedure
	 * covers gets no certificate rather than one without a date (docs/reports.md). */
	if (ev.proc->ncert_rules && !ev.m.rule &&
	    !strcmp(json_string_value(json_object_get(ev.m.cert, "kind")), "certificate")) {
		fprintf(stderr,
			"metroctl: refused: %s: no certificate validity rule of procedure %s "
			"applies "
			"to meter %s (its nameplate as recorded): the certificate could state "
			"neither "
			"a valid-until date nor a service life\n",
			number, ev.proc->id,
			json_string_value(
				json_object_get(json_object_get(ev.m.e, "meter"), "serial")));
		evidence_free(&ev);
		return METROCTL_EXIT_FAIL;
	}
	char err[512];
	FILE *f = rpt_out_stream(out);
	if (!f) {
		rc = EXIT_UNREADABLE;
	} else if (rpt_pdf_certificate(f, out->target, &v->ctx, &ev.m, err, sizeof err)) {
		fprintf(stderr, "metroctl: %s\n", err);
		rc = EXIT_UNREADABLE;
	} else {
		json_t *c = ev.m.cert;
		*said = metro_asprintf(
			"%s: %s %s (%s)", out->target,
			strcmp(json_string_value(json_object_get(c, "kind")), "certificate")
				? "notice of nonconformity"
				: "verification certificate",
			number,
			json_string_value(
				json_object_get(json_object_get(ev.m.e, "meter"), "serial")));
	}
	evidence_free(&ev);
	return rc;
}

static int write_certificate(struct vstore *v, const char *number, const char *path)
{
	struct rpt_out out;
	char *said = NULL;
	if (rpt_out_open(&out, path))
		return EXIT_UNREADABLE;
	int rc = render_certificate(v, number, &out, &said);
	if (rc)
		rpt_out_discard(&out);
	else if (rpt_out_commit(&out))
		rc = EXIT_UNREADABLE;
	else
		puts(said);
	free(said);
	return rc;
}

/* The outputs named on the command line can be written: checked before anything is read or
 * written.  Returns an exit code. */
static int outputs_ok(const struct ropts *r)
{
	if (r->out && strcmp(r->out, "-") != 0 && rpt_out_check(r->out))
		return EXIT_UNREADABLE;
	if (r->certdir && rpt_out_check_dir(r->certdir))
		return EXIT_UNREADABLE;
	return METROCTL_EXIT_OK;
}

static int report_certificate(struct ropts *r)
{
	int ways = !!r->number + !!r->serial + !!(r->run || r->position);
	if (ways != 1 || !!r->run != !!r->position || !r->out) {
		fprintf(stderr, "metroctl report certificate: give -o FILE.pdf and one of "
				"--number, --serial, or --run with --position\n");
		return METROCTL_EXIT_USAGE;
	}
	struct vstore v;
	int rc = outputs_ok(r);
	if (rc || (rc = vstore_open(r, &v)))
		return rc;
	json_t *run = NULL, *tr = NULL;
	const char *number = r->number;
	if (r->run) {
		if (!(rc = load_run(&v, r->run, &run)) &&
		    !(number = position_number(run, r->position))) {
			fprintf(stderr,
				"metroctl: run %lld has no certificate number for position %ld "
				"(no meter there, or no verdict yet)\n",
				r->run, r->position);
			rc = METROCTL_EXIT_FAIL;
		}
	} else if (r->serial) {
		/* The latest verification of the meter. */
		int err = metro_store_trace(v.s, r->serial, &tr);
		size_t i, n = 0;
		json_t *e;
		json_array_foreach (json_object_get(tr, "results"), i, e) {
			json_t *cs = json_object_get(e, "certificates");
			json_t *c = json_array_get(cs, json_array_size(cs) - 1);
			if (c) {
				number = json_string_value(json_object_get(c, "number"));
				n++;
			}
		}
		if (err || !number) {
			fprintf(stderr, "metroctl: no certificate or notice for serial %s\n",
				r->serial);
			rc = METROCTL_EXIT_FAIL;
		} else if (n > 1) {
			fprintf(stderr,
				"metroctl: %s was verified %zu times; reporting the latest (%s); "
				"use --number for another\n",
				r->serial, n, number);
		}
	}
	if (!rc)
		rc = write_certificate(&v, number, r->out);
	json_decref(run);
	json_decref(tr);
	vstore_close(&v);
	return rc;
}

/* report run's files: the batch report (files[0]) and with --certificates one certificate or
 * notice per meter, all rendered first and put in place only when every one is complete. */
struct run_files {
	size_t n;
	struct rpt_out *out; /* n */
	char **said;	     /* n: the line to print once in place */
};

static void run_files_free(struct run_files *rf)
{
	for (size_t k = 0; k < rf->n; k++) {
		rpt_out_discard(&rf->out[k]);
		free(rf->said[k]);
	}
	free(rf->out);
	free(rf->said);
	memset(rf, 0, sizeof *rf);
}

/* The certificate number of meter k (its latest). */
static const char *meter_number(const struct rpt_meter *m)
{
	json_t *cs = json_object_get(m->e, "certificates");
	return json_string_value(
		json_object_get(json_array_get(cs, json_array_size(cs) - 1), "number"));
}

/* Render the batch report and the certificates into rf.  Every target is checked before the
 * first is written.  Returns an exit code. */
static int run_render(struct ropts *r, struct vstore *v, json_t *run, const struct rpt_meter *m,
		      size_t n, struct run_files *rf)
{
	size_t files = 1 + (r->certdir ? n : 0);
	rf->out = metro_calloc(files, sizeof *rf->out);
	rf->said = metro_calloc(files, sizeof *rf->said);
	char **paths = metro_calloc(files, sizeof *paths);
	int rc = METROCTL_EXIT_OK;
	paths[0] = metro_strdup(r->out);
	for (size_t k = 1; k < files; k++)
		paths[k] = metro_asprintf("%s/%s.pdf", r->certdir, meter_number(&m[k - 1]));
	for (size_t k = 1; k < files && !rc; k++)
		if (rpt_out_check(paths[k]))
			rc = EXIT_UNREADABLE;
	for (size_t k = 0; k < files && !rc; k++) {
		if (rpt_out_open(&rf->out[k], paths[k])) {
			rc = EXIT_UNREADABLE;
			break;
		}
		rf->n = k + 1;
		if (k > 0) {
			rc = render_certificate(v, meter_number(&m[k - 1]), &rf->out[k],
						&rf->said[k]);
			continue;
		}
		char err[512];
		FILE *f = rpt_out_stream(&rf->out[0]);
		if (!f || rpt_pdf_run(f, r->out, &v->ctx, run, m, n, err, sizeof err)) {
			if (f)
				fprintf(stderr, "metroctl: %s\n", err);
			rc = EXIT_UNREADABLE;
		} else {
			rf->said[0] = metro_asprintf("%s: batch report of run %lld (%zu meters)",
						     r->out, r->run, n);
		}
	}
	for (size_t k = 0; k < files; k++)
		free(paths[k]);
	free(paths);
	return rc;
}

static int report_run(struct ropts *r)
{
	if (!r->run || !r->out) {
		fprintf(stderr, "metroctl report run: give --run ID and -o FILE.pdf\n");
		return METROCTL_EXIT_USAGE;
	}
	struct vstore v;
	int rc = outputs_ok(r);
	if (rc || (rc = vstore_open(r, &v)))
		return rc;
	json_t *run = NULL;
	struct evidence *ev = NULL;
	struct rpt_meter *m = NULL;
	struct run_files rf = {0};
	size_t n = 0;
	if ((rc = load_run(&v, r->run, &run)))
		goto out;
	json_t *positions = json_object_get(run, "positions");
	ev = metro_calloc(json_array_size(positions) + 1, sizeof *ev);
	m = metro_calloc(json_array_size(positions) + 1, sizeof *m);
	size_t i;
	json_t *pos;
	json_array_foreach (positions, i, pos) {
		long long p = json_integer_value(json_object_get(pos, "position"));
		const char *num = position_number(run, p);
		if (!num) {
			fprintf(stderr,
				"metroctl: refused: run %lld position %lld has no verdict yet "
				"(state "
				"%s)\n",
				r->run, p, json_string_value(json_object_get(run, "state")));
			rc = METROCTL_EXIT_FAIL;
			goto out;
		}
		if ((rc = evidence_load(&v, num, &ev[n])))
			goto out;
		m[n] = ev[n].m;
		n++;
	}
	if ((rc = run_render(r, &v, run, m, n, &rf)))
		goto out;
	/* Every file is complete: put them in place, the batch report first. */
	for (size_t k = 0; k < rf.n && !rc; k++) {
		if (rpt_out_commit(&rf.out[k]))
			rc = EXIT_UNREADABLE;
		else
			puts(rf.said[k]);
	}
out:
	run_files_free(&rf);
	for (size_t k = 0; ev && k < n; k++)
		evidence_free(&ev[k]);
	free(ev);
	free(m);
	json_decref(run);
	vstore_close(&v);
	return rc;
}

/* ---- period queries ------------------------------------------------------------------------ */

/* "water", "electricity" or "gas" for a rig kind as the registry records it. */
static const char *meter_kind(const char *rig_kind)
{
	static const char *const meters[METRO_RIG_KINDS] = {
		[METRO_RIG_FLOW_BENCH] = "water",
		[METRO_RIG_ELECTRICITY_BENCH] = "electricity",
		[METRO_RIG_BELL_PROVER] = "gas",
	};
	for (int k = 0; rig_kind && k < METRO_RIG_KINDS; k++)
		if (!strcmp(rig_kind, metro_rig_kind_names[k]))
			return meters[k];
	return "unknown";
}

/* Does the run's local start date fall in [from, to]? */
static int in_period(const char *started, const char *from, const char *to)
{
	char d[32];
	rpt_local_time(started, 0, d, sizeof d);
	return strcmp(d, from) >= 0 && strcmp(d, to) <= 0;
}

/* Which rows a table counts, and why the others are left out. */
struct tally {
	long long counted, simulated, unsigned_, outside, not_household;
	long long unknown_kind; /* the statistics table: a rig of no known kind, or no serial */
};

/* Does a table count a meter verified in a run started then, on a simulated rig or not,
 * whose verdict is chain record chain_seq? */
static int row_counts(const struct vstore *v, const struct ropts *r, const char *started,
		      int simulated, int64_t chain_seq, struct tally *t)
{
	if (!in_period(started, r->from, r->to)) {
		t->outside++;
		return 0;
	}
	if (simulated && !r->include_simulated) {
		t->simulated++;
		return 0;
	}
	if (chain_seq > v->signed_head) {
		t->unsigned_++;
		return 0;
	}
	t->counted++;
	return 1;
}

static void tally_note(const struct tally *t, const char *what)
{
	fprintf(stderr, "metroctl: %s: %lld verified meter%s counted", what, t->counted,
		t->counted == 1 ? "" : "s");
	if (t->simulated)
		fprintf(stderr, ", %lld from simulated rigs left out (--include-simulated)",
			t->simulated);
	if (t->unsigned_)
		fprintf(stderr, ", %lld not yet covered by a signed checkpoint left out",
			t->unsigned_);
	if (t->not_household)
		fprintf(stderr, ", %lld not household meters by the rule left out",
			t->not_household);
	if (t->unknown_kind)
		fprintf(stderr,
			", %lld NOT COUNTED: verified on a rig of no known meter kind (not "
			"registered) or without a serial",
			t->unknown_kind);
	fprintf(stderr, "\n");
}

static int need_period(const struct ropts *r, const char *cmd)
{
	if (!r->from || !r->to) {
		fprintf(stderr, "metroctl %s: --from DATE and --to DATE are required\n", cmd);
		return -1;
	}
	if (strcmp(r->from, r->to) > 0) {
		fprintf(stderr, "metroctl %s: --from %s is after --to %s\n", cmd, r->from, r->to);
		return -1;
	}
	return 0;
}

/* A table's or an export's output: a file written whole or not at all, or stdout ("-" or no
 * -o). */
struct output {
	struct rpt_out file;
	FILE *f;
};

static int output_open(const char *path, struct output *o)
{
	memset(o, 0, sizeof *o);
	if (!path || !strcmp(path, "-")) {
		o->f = stdout;
		return METROCTL_EXIT_OK;
	}
	if (rpt_out_open(&o->file, path))
		return EXIT_UNREADABLE;
	if (!(o->f = rpt_out_stream(&o->file))) {
		rpt_out_discard(&o->file);
		return EXIT_UNREADABLE;
	}
	return METROCTL_EXIT_OK;
}

/* Put the output in place (a file) or flush it (stdout).  Returns an exit code. */
static int output_commit(struct output *o)
{
	if (o->f != stdout)
		return rpt_out_commit(&o->file) ? EXIT_UNREADABLE : METROCTL_EXIT_OK;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "metroctl: stdout: write failed\n");
		return EXIT_UNREADABLE;
	}
	return METROCTL_EXIT_OK;
}

/* Drop a file output; what went to stdout is gone already. */
static void output_discard(struct output *o)
{
	if (o->f != stdout)
		rpt_out_discard(&o->file);
	else
		fflush(stdout);
}

/* A walk over the store failed: say why.  Returns the exit code. */
static int walk_failed(const struct vstore *v, const struct ropts *r)
{
	fprintf(stderr, "metroctl: %s: %s\n", r->ao.db_path, metro_store_errmsg(v->s));
	return EXIT_UNREADABLE;
}

/* Check the output, verify and open the store, and open the output when out is not NULL.
 * Returns an exit code; on success the caller closes *v and the output. */
static int query_open(struct ropts *r, struct vstore *v, struct output *out)
{
	int rc = outputs_ok(r);
	if (rc || (rc = vstore_open(r, v)))
		return rc;
	if (out && (rc = output_open(r->out, out))) {
		vstore_close(v);
		return rc;
	}
	return METROCTL_EXIT_OK;
}

/* --household: does the rule count the meter of a row?  1 yes, 0 no (tallied), -1 the rule
 * cannot place it (said on stderr: the table is refused rather than guessed). */
static int household_row(const struct rpt_household *hh, const struct metro_store_verdict_row *row,
			 struct tally *t)
{
	if (!hh)
		return 1;
	char why[160];
	int m = rpt_household_match(hh, meter_kind(row->rig_kind), row->nameplate, why, sizeof why);
	if (m < 0)
		fprintf(stderr,
			"metroctl: refused: --household %s cannot place run %lld position %d "
			"(serial %s): %s\n",
			hh->path, (long long)row->run, row->position,
			row->serial ? row->serial : "?", why);
	else if (!m)
		t->not_household++;
	return m;
}

/* Load the --household rule when given.  Returns an exit code. */
static int household_load(const struct ropts *r, struct rpt_household *hh, int *use)
{
	*use = 0;
	memset(hh, 0, sizeof *hh);
	if (!r->household)
		return METROCTL_EXIT_OK;
	if (rpt_household_load(hh, r->household))
		return METROCTL_EXIT_FAIL;
	*use = 1;
	return METROCTL_EXIT_OK;
}

struct stats_walk {
	const struct vstore *v;
	const struct ropts *r;
	struct rpt_stats *stats;
	const struct rpt_household *hh; /* NULL: every meter */
	struct tally t;
};

/* One position with a verdict: counted when it is a sampling or complaint verification
 * with a conclusion, in the period, signed and (--household) a household meter. */
static int stats_row(void *arg, const struct metro_store_verdict_row *row)
{
	struct stats_walk *w = arg;
	const char *vt = row->verification_type, *verdict = row->verdict;
	if (!vt || (strcmp(vt, "sampling-new") != 0 && strcmp(vt, "sampling-in-use") != 0 &&
		    strcmp(vt, "complaint") != 0))
		return 0;
	if (!strcmp(verdict, "aborted") || !strcmp(verdict, "error"))
		return 0; /* not verified: no conclusion to count */
	if (!in_period(row->started, w->r->from, w->r->to))
		return 0;
	int hh = household_row(w->hh, row, &w->t);
	if (hh < 0)
		return 1;
	if (!hh || !row_counts(w->v, w->r, row->started, row->simulated, row->chain_seq, &w->t))
		return 0;
	w->stats->simulated |= row->simulated;
	if (rpt_stats_count(w->stats, meter_kind(row->rig_kind), vt, row->serial,
			    !strcmp(verdict, "fail"))) {
		w->t.counted--; /* no row of the form takes it: said, not counted */
		w->t.unknown_kind++;
	}
	return 0;
}

/* The table as XLSX in the file target (libxlsxwriter writes by name: the unfinished
 * file's).  Returns an exit code. */
static int stats_xlsx_file(const struct rpt_stats *stats, const char *target)
{
	struct rpt_out out;
	char err[512];
	if (rpt_out_open(&out, target))
		return EXIT_UNREADABLE;
	if (rpt_stats_xlsx(stats, out.path, target, err, sizeof err)) {
		fprintf(stderr, "metroctl: %s\n", err);
		rpt_out_discard(&out);
		return EXIT_UNREADABLE;
	}
	return rpt_out_commit(&out) ? EXIT_UNREADABLE : METROCTL_EXIT_OK;
}

static int report_stats(struct ropts *r)
{
	if (need_period(r, "report stats"))
		return METROCTL_EXIT_USAGE;
	int xlsx = r->format && !strcmp(r->format, "xlsx");
	if (!r->format || (!xlsx && strcmp(r->format, "csv") != 0) || !r->out) {
		fprintf(stderr, "metroctl report stats: give --format xlsx|csv and -o FILE\n");
		return METROCTL_EXIT_USAGE;
	}
	struct rpt_stats stats;
	struct rpt_household hh;
	int use_hh, rc;
	rpt_stats_init(&stats, r->from, r->to);
	if ((r->extra && rpt_stats_extra(&stats, r->extra)) || household_load(r, &hh, &use_hh)) {
		rpt_stats_free(&stats);
		return METROCTL_EXIT_FAIL;
	}
	stats.household = use_hh ? hh.path : NULL;
	struct vstore v;
	if ((rc = query_open(r, &v, NULL))) {
		rpt_stats_free(&stats);
		rpt_household_free(&hh);
		return rc;
	}
	struct stats_walk w = {&v, r, &stats, use_hh ? &hh : NULL, {0}};
	int walk = metro_store_each_verdict(v.s, stats_row, &w);
	if (walk) {
		rc = walk > 0 ? METROCTL_EXIT_FAIL : walk_failed(&v, r);
		vstore_close(&v);
		rpt_stats_free(&stats);
		rpt_household_free(&hh);
		return rc;
	}
	vstore_close(&v);
	tally_note(&w.t, "report stats");
	struct output out;
	if (xlsx)
		rc = stats_xlsx_file(&stats, r->out);
	else if (!(rc = output_open(r->out, &out))) {
		rpt_stats_csv(&stats, out.f);
		rc = output_commit(&out);
	}
	if (!rc && strcmp(r->out, "-") != 0)
		printf("%s: statistics %s to %s\n", r->out, r->from, r->to);
	rpt_stats_free(&stats);
	rpt_household_free(&hh);
	return rc;
}

struct summary_walk {
	const struct vstore *v;
	const struct ropts *r;
	struct rpt_summary *sum;
	const struct rpt_household *hh; /* NULL: every meter */
	struct tally t;
};

/* One position with a verdict: counted when in the period, signed and (--household) a
 * household meter; aborted and error verdicts are counted as not verified. */
static int summary_row(void *arg, const struct metro_store_verdict_row *row)
{
	struct summary_walk *w = arg;
	if (!in_period(row->started, w->r->from, w->r->to))
		return 0;
	/* a commissioning run proves a rig, it verifies no meter (docs/operations.md) */
	if (row->verification_type && !strcmp(row->verification_type, "commissioning"))
		return 0;
	int hh = household_row(w->hh, row, &w->t);
	if (hh < 0)
		return 1;
	if (!hh || !row_counts(w->v, w->r, row->started, row->simulated, row->chain_seq, &w->t))
		return 0;
	w->sum->simulated |= row->simulated;
	rpt_summary_count(w->sum, meter_kind(row->rig_kind), row->verification_type, row->verdict);
	return 0;
}

static int summary_xlsx_file(struct rpt_summary *sum, const char *target)
{
	struct rpt_out out;
	char err[512];
	if (rpt_out_open(&out, target))
		return EXIT_UNREADABLE;
	if (rpt_summary_xlsx(sum, out.path, target, err, sizeof err)) {
		fprintf(stderr, "metroctl: %s\n", err);
		rpt_out_discard(&out);
		return EXIT_UNREADABLE;
	}
	return rpt_out_commit(&out) ? EXIT_UNREADABLE : METROCTL_EXIT_OK;
}

static int report_summary(struct ropts *r)
{
	if (need_period(r, "report summary"))
		return METROCTL_EXIT_USAGE;
	const char *fmt = r->format ? r->format : "text";
	int xlsx = !strcmp(fmt, "xlsx"), csvf = !strcmp(fmt, "csv");
	if ((!xlsx && !csvf && strcmp(fmt, "text") != 0) ||
	    (xlsx && (!r->out || !strcmp(r->out, "-")))) {
		fprintf(stderr, "metroctl report summary: give --format text|csv|xlsx (xlsx with "
				"-o FILE)\n");
		return METROCTL_EXIT_USAGE;
	}
	struct rpt_summary sum;
	struct rpt_household hh;
	int use_hh, rc;
	if (household_load(r, &hh, &use_hh))
		return METROCTL_EXIT_FAIL;
	rpt_summary_init(&sum, r->from, r->to);
	sum.household = use_hh ? hh.path : NULL;
	struct vstore v;
	if ((rc = query_open(r, &v, NULL))) {
		rpt_household_free(&hh);
		return rc;
	}
	struct summary_walk w = {&v, r, &sum, use_hh ? &hh : NULL, {0}};
	int walk = metro_store_each_verdict(v.s, summary_row, &w);
	if (walk) {
		rc = walk > 0 ? METROCTL_EXIT_FAIL : walk_failed(&v, r);
	} else {
		tally_note(&w.t, "report summary");
		struct output out;
		if (xlsx)
			rc = summary_xlsx_file(&sum, r->out);
		else if (!(rc = output_open(r->out, &out))) {
			(csvf ? rpt_summary_csv : rpt_summary_text)(&sum, out.f);
			rc = output_commit(&out);
		}
		if (!rc && r->out && strcmp(r->out, "-") != 0)
			printf("%s: summary %s to %s\n", r->out, r->from, r->to);
	}
	vstore_close(&v);
	rpt_summary_free(&sum);
	rpt_household_free(&hh);
	return rc;
}

/* ---- exports ------------------------------------------------------------------------------- */

static void csv(FILE *f, const char *s, int last)
{
	rpt_csv_field(f, s ? s : "");
	fputc(last ? '\n' : ',', f);
}

enum { RC_RUN, RC_STARTED, RC_SIMULATED = 5, RC_POSITION = 6, RC_ATTEMPT = 12, RC_NCOLS = 20 };
static const char *const result_cols[RC_NCOLS] = {
	"run",	     "started",	      "rig",	       "meter_kind",  "verification_type",
	"simulated", "position",      "serial",	       "model",	      "manufacturer",
	"class",     "test_point",    "attempt",       "error_pct",   "rounded_pct",
	"mpe_pct",   "point_verdict", "meter_verdict", "certificate", "recorded",
};

struct results_walk {
	const struct vstore *v;
	const struct ropts *r;
	int json;
	FILE *f;     /* CSV */
	json_t *arr; /* JSON */
	long long rows, simulated, unsigned_;
};

/* One recorded point: a row of the export when it is in the period and signed. */
static int result_row(void *arg, const struct metro_store_point_row *p)
{
	struct results_walk *w = arg;
	if (!in_period(p->started, w->r->from, w->r->to))
		return 0;
	if (p->simulated && !w->r->include_simulated) {
		w->simulated++;
		return 0;
	}
	if (p->chain_seq > w->v->signed_head) {
		w->unsigned_++;
		return 0;
	}
	w->rows++;
	char run[24], started[32], simulated[4], position[16], attempt[16];
	snprintf(run, sizeof run, "%lld", (long long)p->run);
	rpt_local_time(p->started, 1, started, sizeof started);
	snprintf(simulated, sizeof simulated, "%d", p->simulated);
	snprintf(position, sizeof position, "%d", p->position);
	snprintf(attempt, sizeof attempt, "%d", p->attempt);
	const char *const cell[RC_NCOLS] = {
		run,
		started,
		p->rig,
		meter_kind(p->rig_kind),
		p->verification_type,
		simulated,
		position,
		p->serial,
		p->model,
		p->manufacturer,
		p->accuracy_class,
		p->test_point,
		attempt,
		p->error,
		p->rounded,
		p->mpe,
		p->verdict,
		p->meter_verdict,
		p->certificate,
		p->recorded,
	};
	if (!w->json) {
		for (size_t i = 0; i < RC_NCOLS; i++)
			csv(w->f, cell[i], i + 1 == RC_NCOLS);
		return 0;
	}
	json_t *o = json_object();
	for (size_t i = 0; i < RC_NCOLS; i++) {
		json_t *val = i == RC_RUN	  ? json_integer(p->run)
			      : i == RC_POSITION  ? json_integer(p->position)
			      : i == RC_ATTEMPT	  ? json_integer(p->attempt)
			      : i == RC_SIMULATED ? json_boolean(p->simulated)
			      : cell[i]		  ? json_string(cell[i])
						  : json_null();
		json_object_set_new(o, result_cols[i], val);
	}
	json_array_append_new(w->arr, o);
	return 0;
}

static int export_results(struct ropts *r)
{
	if (need_period(r, "export results"))
		return METROCTL_EXIT_USAGE;
	int json = r->format && !strcmp(r->format, "json");
	if (!r->format || (!json && strcmp(r->format, "csv") != 0)) {
		fprintf(stderr, "metroctl export results: give --format csv|json\n");
		return METROCTL_EXIT_USAGE;
	}
	struct vstore v;
	struct output out;
	int rc = query_open(r, &v, &out);
	if (rc)
		return rc;
	FILE *f = out.f;
	struct results_walk w = {&v, r, json, f, json_array(), 0, 0, 0};
	if (!json)
		for (size_t i = 0; i < RC_NCOLS; i++)
			csv(f, result_cols[i], i + 1 == RC_NCOLS);
	if (metro_store_each_point(v.s, result_row, &w)) {
		rc = walk_failed(&v, r);
		vstore_close(&v);
		json_decref(w.arr);
		output_discard(&out);
		return rc;
	}
	vstore_close(&v);
	if (json) {
		json_t *doc = json_pack("{ss ss ss sb sO}", "schema", "metrod.export.results/1",
					"from", r->from, "to", r->to, "includes_simulated",
					r->include_simulated, "results", w.arr);
		json_dumpf(doc, f, JSON_INDENT(1));
		fputc('\n', f);
		json_decref(doc);
	}
	json_decref(w.arr);
	fprintf(stderr, "metroctl: export results: %lld results", w.rows);
	if (w.simulated)
		fprintf(stderr, ", %lld from simulated rigs left out (--include-simulated)",
			w.simulated);
	if (w.unsigned_)
		fprintf(stderr, ", %lld not yet signed left out", w.unsigned_);
	fprintf(stderr, "\n");
	return output_commit(&out);
}

/* "Q3 2.5 m³/h, R 100" and the like from a nameplate, for the inventory's range column. */
static void range_text(const char *kind, const char *nameplate, char *out, size_t cap)
{
	json_t *np = nameplate ? json_loads(nameplate, 0, NULL) : NULL;
#define NP(k) json_string_value(json_object_get(np, k))
	out[0] = '\0';
	if (!strcmp(kind, "water") && NP("q3"))
		snprintf(out, cap, "Q3 %s m³/h, R%s", NP("q3"), NP("r") ? NP("r") : "?");
	else if (!strcmp(kind, "gas") && NP("qmax"))
		snprintf(out, cap, "(%s–%s) m³/h", NP("qmin") ? NP("qmin") : "?", NP("qmax"));
	else if (!strcmp(kind, "electricity") && NP("ib"))
		snprintf(out, cap, "%s V, %s(%s) A", NP("un") ? NP("un") : "?", NP("ib"),
			 NP("imax") ? NP("imax") : "?");
#undef NP
	json_decref(np);
}

struct inventory_walk {
	const struct vstore *v;
	const struct ropts *r;
	FILE *f;
	struct tally t;
};

/* One position with a verdict: a row of the inventory when it is in the period and signed. */
static int inventory_row(void *arg, const struct metro_store_verdict_row *row)
{
	static const struct {
		const char *kind, *name, *category;
	} names[] = {
		{"water", "水表", "流量"},
		{"electricity", "电能表", "电磁"},
		{"gas", "燃气表", "流量"},
	};
	struct inventory_walk *w = arg;
	if (!row_counts(w->v, w->r, row->started, row->simulated, row->chain_seq, &w->t))
		return 0;
	const char *kind = meter_kind(row->rig_kind);
	size_t k = 0;
	while (k < METRO_ARRAY_SIZE(names) && strcmp(names[k].kind, kind) != 0)
		k++;
	char range[128];
	range_text(kind, row->nameplate, range, sizeof range);
	const char *cells[] = {
		k < METRO_ARRAY_SIZE(names) ? names[k].name : kind,
		k < METRO_ARRAY_SIZE(names) ? names[k].category : "",
		row->model,
		range,
		row->accuracy_class,
		row->serial,
		row->manufacturer,
		"", /* origin: not recorded */
		row->client,
		"1",
		"贸易结算",
		"强制检定",
		row->verdict,
		row->certificate,
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(cells); i++)
		csv(w->f, cells[i], i + 1 == METRO_ARRAY_SIZE(cells));
	return 0;
}

static int export_inventory(struct ropts *r)
{
	static const char *const head[] = {"名称 name",
					   "类别 category",
					   "型号 model",
					   "测量范围 range",
					   "准确度等级 class",
					   "出厂编号 serial",
					   "制造单位 manufacturer",
					   "产地 origin",
					   "使用地点 location",
					   "数量 quantity",
					   "用途 purpose",
					   "检定方式 mode",
					   "检定结论 verdict",
					   "证书编号 certificate"};
	if (need_period(r, "export inventory"))
		return METROCTL_EXIT_USAGE;
	struct vstore v;
	struct output out;
	int rc = query_open(r, &v, &out);
	if (rc)
		return rc;
	FILE *f = out.f;
	for (size_t i = 0; i < METRO_ARRAY_SIZE(head); i++)
		csv(f, head[i], i + 1 == METRO_ARRAY_SIZE(head));
	struct inventory_walk w = {&v, r, f, {0}};
	if (metro_store_each_verdict(v.s, inventory_row, &w)) {
		rc = walk_failed(&v, r);
		vstore_close(&v);
		output_discard(&out);
		return rc;
	}
	vstore_close(&v);
	tally_note(&w.t, "export inventory");
	return output_commit(&out);
}

/* ---- entry points -------------------------------------------------------------------------- */

struct subcommand {
	const char *name;
	int (*fn)(struct ropts *r);
	int pdf; /* release the PDF libraries' caches afterwards */
};

static int dispatch(int argc, char **argv, const char *group, const struct subcommand *subs,
		    size_t n)
{
	if (argc < 2) {
		usage(stderr);
		return METROCTL_EXIT_USAGE;
	}
	struct ropts r;
	int p = parse(argc - 1, argv + 1, &r);
	if (p)
		return p > 0 ? METROCTL_EXIT_OK : METROCTL_EXIT_USAGE;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(subs[i].name, argv[1]) != 0)
			continue;
		int rc = subs[i].fn(&r);
		if (subs[i].pdf)
			rpt_pdf_shutdown();
		return rc;
	}
	fprintf(stderr, "metroctl %s: unknown subcommand '%s'\n", group, argv[1]);
	usage(stderr);
	return METROCTL_EXIT_USAGE;
}

int metroctl_report(int argc, char **argv, const struct metroctl_opts *o)
{
	static const struct subcommand subs[] = {
		{"certificate", report_certificate, 1},
		{"run", report_run, 1},
		{"stats", report_stats, 0},
		{"summary", report_summary, 0},
	};
	(void)o;
	return dispatch(argc, argv, "report", subs, METRO_ARRAY_SIZE(subs));
}

int metroctl_export(int argc, char **argv, const struct metroctl_opts *o)
{
	static const struct subcommand subs[] = {
		{"results", export_results, 0},
		{"inventory", export_inventory, 0},
	};
	(void)o;
	return dispatch(argc, argv, "export", subs, METRO_ARRAY_SIZE(subs));
}
