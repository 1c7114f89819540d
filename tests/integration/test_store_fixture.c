/* test_store_fixture — builds realistic record stores through the store API, for the tamper
 * test (tests/integration/test_tamper.sh) and by hand.
 *
 *   test_store_fixture                    self-test: build a store, verify it (run.sh runs this)
 *   test_store_fixture build DIR          DIR/records.db (+ records.key, records.pub): water and
 *                                         electricity runs, a manager change of a standard, a
 *                                         verdict correction, a run interrupted by a crash and
 *                                         its resume-run, an aborted run, certificates,
 *                                         people, a certificate voided and reissued through
 *                                         the signed steps, documents and checkpoints
 *   test_store_fixture extend DIR         one more run and checkpoint on DIR/records.db, its
 *                                         rig's profile edited since (a profile.changed event)
 *   test_store_fixture draft DIR          on a built DIR: run 4 position 1 numbered again under
 *                                         the signed workflow, only its `verified` step signed
 *                                         (a certificate that is not issued)
 *   test_store_fixture build-v2 DIR       a schema-2 store (before rig profiles were recorded):
 *                                         a water run and a checkpoint; `extend` migrates it
 *   test_store_fixture forge DB PUBFILE   what a forger with write access but without the
 *                                         station key does after editing rows: recompute every
 *                                         row hash and chain link, re-sign every checkpoint
 *                                         with a new key (public key written to PUBFILE)
 *
 * Standards' due dates are relative to today, so the fixture never expires.
 */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "audit_int.h"
#include "cert_statement.h"
#include "error.h"
#include "log.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

#define STATION "demo-lab"

static void die(const char *what, struct metro_store *s, int err)
{
	fprintf(stderr, "fixture: %s: %s (%s)\n", what, metro_strerror(err),
		s ? metro_store_errmsg(s) : "");
	exit(1);
}

#define CHECK(s, call)                     \
	do {                               \
		int e_ = (call);           \
		if (e_)                    \
			die(#call, s, e_); \
	} while (0)

static struct metro_store *open_store_at(const char *dir, int max_schema)
{
	char err[512];
	char *path = metro_asprintf("%s/records.db", dir);
	struct metro_store_opts o = {.path = path, .station = STATION, .max_schema = max_schema};
	struct metro_store *s;
	int rc = metro_store_open(&o, &s, err, sizeof err);
	if (rc) {
		fprintf(stderr, "fixture: open %s: %s\n", path, err);
		exit(1);
	}
	free(path);
	return s;
}

static struct metro_store *open_store(const char *dir)
{
	return open_store_at(dir, 0);
}

static void standards(struct metro_standard_conf std[3])
{
	memset(std, 0, 3 * sizeof *std);
	std[0] = (struct metro_standard_conf){
		.id = "ws-flow-01",
		.description = "Water meter verification bench, static weighing, DN15-DN25",
		.serial = "WB-2023-117",
		.certificate = "JL-2026-W-00117",
		.issuer = "Example Provincial Institute of Metrology",
		.calibrated = tu_days_from_now(-100),
		.due = tu_days_from_now(265),
		.uncertainty_pct = 0.2,
		.k = 2,
		.assessment_certificate = "[2024]国量标E证字第0117号",
		.assessment_due = tu_days_from_now(700),
		.measuring_range = "(0.025-8) m³/h, DN15-DN25",
	};
	std[1] = (struct metro_standard_conf){
		.id = "es-ref-01",
		.description = "Three-phase reference standard meter, class 0.05",
		.serial = "RS-0501-2209",
		.certificate = "JL-2026-E-00452",
		.issuer = "Example Provincial Institute of Metrology",
		.calibrated = tu_days_from_now(-20),
		.due = tu_days_from_now(345),
		.accuracy_class = "0.05",
		.assessment_certificate = "[2023]国量标E证字第0452号",
		.assessment_due = tu_days_from_now(400),
	};
	std[2] = (struct metro_standard_conf){
		.id = "gs-bell-01",
		.description = "Bell prover 200 L",
		.serial = "BP-200-0931",
		.certificate = "JL-2026-G-00093",
		.issuer = "Example Provincial Institute of Metrology",
		.calibrated = tu_days_from_now(-300),
		.due = tu_days_from_now(20),
		.uncertainty_pct = 0.2,
		.k = 2,
	};
}

static int64_t procedure(struct metro_store *s, const char *file)
{
	char *text = NULL;
	size_t len = 0;
	char *path = metro_asprintf("procedures/%s", file);
	if (metro_read_file(path, 1 << 20, &text, &len)) {
		/* Outside the source tree: a stand-in with the same role. */
		text = metro_asprintf("regulation: {id: %s}\n# stand-in procedure text\n", file);
		len = strlen(text);
	}
	int64_t id;
	CHECK(s, metro_store_procedure(s, file, text, len, NULL, &id));
	free(text);
	free(path);
	return id;
}

/* The water bench's rig profile (the repository's flow-bench profile, with `extra` appended:
 * an edit made between two runs). */
static int64_t profile(struct metro_store *s, const char *extra)
{
	char *text = NULL;
	size_t len = 0;
	const char *path = "config/profiles/flow-bench.yaml";
	if (metro_read_file(path, 1 << 20, &text, &len)) {
		text = metro_strdup("kind: flow-bench\n# stand-in profile text\n");
		len = strlen(text);
	}
	char *all = metro_asprintf("%.*s%s", (int)len, text, extra);
	int64_t id;
	CHECK(s, metro_store_profile(s, "flow-bench.yaml", "/etc/metrod/profiles/flow-bench.yaml",
				     all, strlen(all), NULL, &id));
	free(all);
	free(text);
	return id;
}

/* One water point: raw readings with their times, every intermediate, the error. */
static void water_point(struct metro_store *s, int64_t run, int pos, const char *tp, int attempt,
			const char *error, const char *mpe, const char *verdict)
{
	json_t *readings =
		json_pack("{s[{ss sf sf} {ss sf sf}] sf sf}", "samples", "t",
			  "2026-11-28T09:00:00.000Z", "meter_m3", 1234.5670 + pos, "scale_kg", 0.0,
			  "t", "2026-11-28T09:01:12.500Z", "meter_m3", 1234.6672 + pos, "scale_kg",
			  99.871, "water_temp_c", 19.8 + pos * 0.1, "flow_m3h", 2.49);
	json_t *inter =
		json_pack("{sf sf sf sf ss}", "rho_kg_m3", 998.2, "C", 1.0011, "Va_l", 100.158,
			  "Vi_l", 100.2 + pos * 0.01, "formula", "E = (Vi - Va) / Va * 100");
	json_t *env = json_pack("{sf sf}", "ambient_c", 21.5, "humidity_pct", 48.0);
	struct metro_store_point p = {run, pos,	  tp,	attempt, readings, inter,
				      env, error, NULL, mpe,	 verdict,  "JJG162-2019 6.3.2"};
	CHECK(s, metro_store_point(s, &p, NULL));
	json_decref(readings);
	json_decref(inter);
	json_decref(env);
}

/* A verdict and the document that publishes it, in one transaction. */
static int64_t verdict(struct metro_store *s, int64_t run, int pos, const char *v, int64_t corrects,
		       const char *actor, const char *why)
{
	int64_t id;
	json_t *failed = strcmp(v, "pass") ? json_pack("[s]", "Q1") : NULL;
	struct metro_store_verdict vd = {run,	   pos,	  v,  failed, "JJG162-2019 7.1",
					 corrects, actor, why};
	CHECK(s, metro_store_tx_begin(s));
	CHECK(s, metro_store_verdict(s, &vd, &id));
	json_t *doc = json_pack("{ss ss sI si ss}", "schema", "metrod.verdict/1", "station",
				STATION, "run", (json_int_t)run, "position", pos, "verdict", v);
	CHECK(s, metro_store_document(s, "verdict.water-1", doc, NULL));
	CHECK(s, metro_store_tx_commit(s));
	json_decref(doc);
	json_decref(failed);
	return id;
}

static void certificate(struct metro_store *s, int64_t run, int pos)
{
	char num[METRO_STORE_CERT_MAX];
	CHECK(s, metro_store_certificate(s, run, pos, num));
	printf("certificate %s run %lld position %d\n", num, (long long)run, pos);
}

static void checkpoint(struct metro_store *s)
{
	json_t *doc;
	CHECK(s, metro_store_checkpoint(s, &doc));
	json_decref(doc);
}

static int64_t water_run(struct metro_store *s, int64_t proc, int64_t prof, const char *serial_base,
			 int positions, int64_t resumed_from)
{
	static const char *const std_ids[] = {"ws-flow-01"};
	struct metro_store_meter m[8];
	json_t *np[8];
	char serials[8][32];
	for (int i = 0; i < positions; i++) {
		snprintf(serials[i], sizeof serials[i], "%s%d", serial_base, i + 1);
		np[i] = json_pack("{ss ss ss ss ss}", "q3", "2.5", "r", "100", "class", "2",
				  "scale_interval_l", "0.05", "dn", "15");
		m[i] = (struct metro_store_meter){
			i + 1,		 serials[i], "LXS-15E", "Ningbo Water Meter Co.",
			"CPA-2019-W123", "2",	     np[i]};
	}
	json_t *env = json_pack("{sf}", "water_temp_c", 19.9);
	json_t *params = json_pack("{si sf}", "sample_hz", 20, "time_scale", 1.0);
	struct metro_store_run r = {
		.rig = "water-1",
		.procedure = proc,
		.profile = prof,
		.software_version = "0.1.0",
		.software_sha256 =
			"6f1c0c9d0f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4",
		.verification_type = "initial",
		.operator_id = "zhang.wei",
		.client = "City Water Supply Co.",
		.simulated = 1,
		.environment = env,
		.parameters = params,
		.standards = std_ids,
		.nstandards = 1,
		.meters = m,
		.nmeters = (size_t)positions,
		.resumed_from = resumed_from,
	};
	int64_t run;
	CHECK(s, metro_store_run_begin(s, &r, &run));
	for (int i = 0; i < positions; i++)
		json_decref(np[i]);
	json_decref(env);
	json_decref(params);
	return run;
}

/* The people of the fixture (keys from fixed seeds) and a certificate's workflow: run 1's
 * first certificate (issued when numbered) voided and reissued, the reissue verified, checked,
 * approved and issued, each step signed. */
static void people_and_steps(struct metro_store *s, int64_t run)
{
	static const char *const ids[] = {"zhang.wei", "wang.fang", "li.manager"};
	static const char *const names[] = {"张伟", "王芳", "李经理"};
	static const unsigned roles[] = {METRO_PERSON_OPERATOR | METRO_PERSON_VERIFIER,
					 METRO_PERSON_VERIFIER | METRO_PERSON_CHECKER,
					 METRO_PERSON_APPROVER | METRO_PERSON_MANAGER};
	static char *procs[] = {"jjg162-*", "jjg596-electricity-initial.yaml"};
	unsigned char sk[3][64];
	struct metro_person p[3];
	memset(p, 0, sizeof p);
	for (int i = 0; i < 3; i++) {
		unsigned char seed[32];
		memset(seed, 0x30 + i, sizeof seed);
		crypto_sign_seed_keypair(p[i].sign_pk, sk[i], seed);
		p[i].id = (char *)ids[i];
		p[i].name = (char *)names[i];
		p[i].roles = roles[i];
		p[i].qualification = i < 2 ? (char *)(i ? "JDY-2026-0452" : "JDY-2026-0451") : NULL;
		p[i].qualification_due =
			i < 2 ? tu_days_from_now(365) : (struct metro_date){0, 0, 0};
		p[i].procedures = procs;
		p[i].nprocedures = i < 2 ? 2 : 0;
		p[i].unix_user = i == 2 ? "limgr" : NULL;
		p[i].line = (unsigned)(i + 1);
	}
	CHECK(s, metro_store_sync_people(s, p, 3));
	char old[METRO_STORE_CERT_MAX], num[METRO_STORE_CERT_MAX] = "", code[METRO_STORE_CODE_MAX];
	json_t *r;
	CHECK(s, metro_store_run(s, run, &r));
	snprintf(old, sizeof old, "%s",
		 json_string_value(json_object_get(
			 json_array_get(json_object_get(r, "certificates"), 0), "number")));
	json_decref(r);
	static const struct {
		int who;
		const char *step, *why;
		int reissue;
	} steps[] = {
		{2, "voided", "nameplate Q3 recorded as 2.5 instead of 4", 0},
		{0, "verified", NULL, 1},
		{1, "checked", NULL, 1},
		{2, "approved", NULL, 1},
		{2, "issued", NULL, 1},
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if (i == 1) /* after the void: the reissue */
			CHECK(s, metro_store_cert_reissue(s, old, "li.manager",
							  "replaces the voided certificate", num,
							  code));
		char t[32], sig[METRO_CERT_SIG_HEX];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
		const char *n = steps[i].reissue ? num : old;
		const char *rep = i == 1 ? old : NULL;
		char *st = metro_cert_statement(STATION, n, steps[i].step, ids[steps[i].who], t,
						steps[i].why, rep);
		if (!st || metro_cert_sign(st, sk[steps[i].who], sig))
			die("statement", s, METRO_E_INVAL);
		free(st);
		struct metro_cert_step q = {
			n, steps[i].step, ids[steps[i].who], t, steps[i].why, rep, sig};
		int e = metro_store_cert_step(s, &q, code);
		if (e) {
			fprintf(stderr, "fixture: step %s refused (%s)\n", steps[i].step, code);
			die("metro_store_cert_step", s, e);
		}
	}
	printf("certificate %s voided, reissued as %s\n", old, num);
}

static void build(const char *dir)
{
	struct metro_store *s = open_store(dir);
	struct metro_standard_conf std[3];
	standards(std);
	struct metro_store_station st = {STATION,
					 "Demonstration verification station",
					 "Example Institute of Metrology",
					 "(Demo) 法计(2026)00-000",
					 "1 Example Road",
					 "0000-1234567",
					 "000000"};
	CHECK(s, metro_store_station(s, &st, "config", "configuration load"));
	CHECK(s, metro_store_sync_standards(s, std, 3));
	char *rig_std[] = {"ws-flow-01"};
	struct metro_store_rig rig = {.id = "water-1",
				      .kind = METRO_RIG_FLOW_BENCH,
				      .driver = "modbus-tcp",
				      .positions = 10,
				      .standards = rig_std,
				      .nstandards = 1,
				      .simulated = 1};
	CHECK(s, metro_store_rig(s, &rig, "config", "configuration load"));
	int64_t water = procedure(s, "jjg162-water-initial.yaml");
	int64_t elec = procedure(s, "jjg596-electricity-initial.yaml");
	int64_t prof = profile(s, ""); /* the electricity run records none (a NULL profile) */

	/* Run 1: three water meters, the third fails at Q1. */
	int64_t r1 = water_run(s, water, prof, "WM-2026-A", 3, 0);
	struct metro_store_input in = {r1, 0, "leak-test", "no leak at 1.6 MPa for 60 s",
				       "zhang.wei"};
	CHECK(s, metro_store_input(s, &in, NULL));
	for (int pos = 1; pos <= 3; pos++) {
		water_point(s, r1, pos, "Q3", 1, "0.42", "2", "pass");
		water_point(s, r1, pos, "Q2", 1, "-0.87", "2", "pass");
		if (pos == 3) {
			water_point(s, r1, pos, "Q1", 1, "-5.80", "5", "fail");
			water_point(s, r1, pos, "Q1", 2, "-5.35", "5", "fail");
			water_point(s, r1, pos, "Q1", 3, "-5.12", "5", "fail");
		} else {
			water_point(s, r1, pos, "Q1", 1, "1.93", "5", "pass");
		}
		verdict(s, r1, pos, pos == 3 ? "fail" : "pass", 0, "metrod", NULL);
	}
	CHECK(s, metro_store_run_end(s, r1, "done", NULL));
	for (int pos = 1; pos <= 3; pos++)
		certificate(s, r1, pos);
	checkpoint(s);

	/* The manager records the renewed certificate of the bell prover. */
	std[2].certificate = "JL-2026-G-00193";
	std[2].calibrated = tu_days_from_now(-1);
	std[2].due = tu_days_from_now(364);
	CHECK(s, metro_store_standard_change(s, &std[2], "li.manager",
					     "recalibrated; certificate JL-2026-G-00193 received"));

	/* Run 2: electricity, position 2 is later corrected from pass to fail. */
	static const char *const es[] = {"es-ref-01"};
	json_t *np = json_pack("{ss ss ss ss ss ss ss}", "un", "220", "ib", "5", "imax", "60",
			       "meter_constant", "1200", "class", "1", "connection", "direct",
			       "phases", "1");
	struct metro_store_meter em[2] = {
		{1, "EM-2026-0001", "DDZY-71", "Hangzhou Meter Works", "CPA-2020-E77", "1", np},
		{2, "EM-2026-0002", "DDZY-71", "Hangzhou Meter Works", "CPA-2020-E77", "1", np},
	};
	struct metro_store_run er = {
		.rig = "elec-1",
		.procedure = elec,
		.software_version = "0.1.0",
		.software_sha256 =
			"6f1c0c9d0f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4",
		.verification_type = "subsequent",
		.operator_id = "wang.fang",
		.standards = es,
		.nstandards = 1,
		.meters = em,
		.nmeters = 2,
	};
	int64_t r2;
	CHECK(s, metro_store_run_begin(s, &er, &r2));
	json_decref(np);
	for (int pos = 1; pos <= 2; pos++) {
		json_t *rd = json_pack("{s[ii] s[ss] si}", "std_pulses", 120031, 120044, "t",
				       "2026-11-28T10:00:00.000Z", "2026-11-28T10:00:06.010Z",
				       "meter_pulses", 10);
		json_t *im = json_pack("{si sf}", "m0", 120000, "gamma_pct", -0.026);
		struct metro_store_point p = {r2,    pos,   "Ib-PF1", 1,
					      rd,    im,    NULL,     "-0.026",
					      "0.0", "1.0", "pass",   "JJG596-2012 7.2"};
		CHECK(s, metro_store_point(s, &p, NULL));
		json_decref(rd);
		json_decref(im);
	}
	verdict(s, r2, 1, "pass", 0, "metrod", NULL);
	int64_t v22 = verdict(s, r2, 2, "pass", 0, "metrod", NULL);
	CHECK(s, metro_store_run_end(s, r2, "done", NULL));
	verdict(s, r2, 2, "fail", v22, "li.manager",
		"meter constant transcribed as 1200 instead of 1600 imp/kWh; error recomputed");
	certificate(s, r2, 1);
	certificate(s, r2, 2);
	checkpoint(s);
	metro_store_close(&s);

	/* Run 3 is interrupted by a crash: the child records two points and dies. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct metro_store *c = open_store(dir);
		int64_t r3 = water_run(c, water, prof, "WM-2026-B", 2, 0);
		water_point(c, r3, 1, "Q3", 1, "0.11", "2", "pass");
		water_point(c, r3, 2, "Q3", 1, "0.35", "2", "pass");
		_exit(0); /* no close: like kill -9 after the last commit */
	}
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		die("crashing child", NULL, METRO_E_IO);

	/* The daemon restarts: run 3 is found incomplete, and is resumed explicitly. */
	s = open_store(dir);
	const int64_t *rec;
	if (metro_store_recovered(s, &rec) != 1)
		die("recovery", s, METRO_E_STATE);
	int64_t r3 = rec[0];
	json_t *done;
	CHECK(s, metro_store_committed_points(s, r3, &done));
	if (json_array_size(done) != 2)
		die("committed points", s, METRO_E_STATE);
	json_decref(done);
	int64_t r4 = water_run(s, water, prof, "WM-2026-B", 2, r3);
	for (int pos = 1; pos <= 2; pos++) {
		water_point(s, r4, pos, "Q2", 1, "0.66", "2", "pass");
		water_point(s, r4, pos, "Q1", 1, "2.10", "5", "pass");
		verdict(s, r4, pos, "pass", 0, "metrod", NULL);
	}
	CHECK(s, metro_store_run_end(s, r4, "done", NULL));
	certificate(s, r4, 1);
	certificate(s, r4, 2);
	checkpoint(s);

	people_and_steps(s, r1);

	/* Run 5 is aborted by the operator. */
	int64_t r5 = water_run(s, water, prof, "WM-2026-C", 1, 0);
	water_point(s, r5, 1, "Q3", 1, "0.20", "2", "pass");
	struct metro_store_input ab = {r5, 1, "abort-confirm", "yes: bench valve leaking",
				       "zhang.wei"};
	CHECK(s, metro_store_input(s, &ab, NULL));
	CHECK(s, metro_store_run_end(s, r5, "aborted", "operator abort: bench valve leaking"));
	json_t *o = json_pack("{ss}", "due_warning_days", "30");
	json_t *n = json_pack("{ss}", "due_warning_days", "45");
	CHECK(s, metro_store_audit(s, "li.manager", "config.change", "due_warning_days", o, n,
				   "earlier warning requested by the quality manager", NULL));
	json_decref(o);
	json_decref(n);
	metro_store_close(&s); /* signs the tail */
}

static void draft(const char *dir)
{
	struct metro_store *s = open_store(dir);
	char num[METRO_STORE_CERT_MAX], code[METRO_STORE_CODE_MAX], t[32], sig[METRO_CERT_SIG_HEX];
	unsigned char seed[32], pk[32], sk[64];
	memset(seed, 0x30, sizeof seed); /* zhang.wei's key (people_and_steps) */
	crypto_sign_seed_keypair(pk, sk, seed);
	CHECK(s, metro_store_certificate_draft(s, 4, 1, num));
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
	char *st = metro_cert_statement(STATION, num, "verified", "zhang.wei", t, NULL, NULL);
	if (!st || metro_cert_sign(st, sk, sig))
		die("statement", s, METRO_E_INVAL);
	free(st);
	struct metro_cert_step q = {num, "verified", "zhang.wei", t, NULL, NULL, sig};
	CHECK(s, metro_store_cert_step(s, &q, code));
	printf("draft %s\n", num);
	metro_store_close(&s);
}

static void extend(const char *dir)
{
	struct metro_store *s = open_store(dir);
	int64_t water = procedure(s, "jjg162-water-initial.yaml");
	int64_t prof = profile(s, "# pos[2].volume scale corrected after the bench service\n");
	int64_t r = water_run(s, water, prof, "WM-2026-D", 2, 0);
	for (int pos = 1; pos <= 2; pos++) {
		water_point(s, r, pos, "Q3", 1, "0.05", "2", "pass");
		verdict(s, r, pos, "pass", 0, "metrod", NULL);
	}
	CHECK(s, metro_store_run_end(s, r, "done", NULL));
	certificate(s, r, 1);
	checkpoint(s);
	metro_store_close(&s);
}

/* A schema-2 store, as metrod wrote before rig profiles were recorded. */
static void build_v2(const char *dir)
{
	struct metro_store *s = open_store_at(dir, 2);
	struct metro_standard_conf std[3];
	standards(std);
	CHECK(s, metro_store_sync_standards(s, std, 3));
	int64_t water = procedure(s, "jjg162-water-initial.yaml");
	int64_t r = water_run(s, water, 0, "WM-2025-V", 2, 0);
	for (int pos = 1; pos <= 2; pos++) {
		water_point(s, r, pos, "Q3", 1, "0.31", "2", "pass");
		verdict(s, r, pos, "pass", 0, "metrod", NULL);
	}
	CHECK(s, metro_store_run_end(s, r, "done", NULL));
	certificate(s, r, 1);
	checkpoint(s);
	metro_store_close(&s);
}

/* ---- the forger ---------------------------------------------------------------------------- */

static int sql(sqlite3 *db, const char *q)
{
	char *e = NULL;
	if (sqlite3_exec(db, q, NULL, NULL, &e) != SQLITE_OK) {
		fprintf(stderr, "forge: %s: %s\n", q, e);
		sqlite3_free(e);
		return -1;
	}
	return 0;
}

static int forge(const char *path, const char *pubfile)
{
	sqlite3 *db;
	unsigned char pk[32], sk[64];
	if (sodium_init() < 0 || sqlite3_open(path, &db) != SQLITE_OK)
		return 1;
	crypto_sign_keypair(pk, sk);
	sql(db, "BEGIN");
	/* Triggers refuse updates; a forger simply drops them. */
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'trigger'", -1, &st,
			   NULL);
	char **trg = NULL;
	size_t nt = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		trg = metro_realloc(trg, (nt + 1) * sizeof *trg);
		trg[nt++] = metro_strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < nt; i++) {
		char *q = metro_asprintf("DROP TRIGGER \"%s\"", trg[i]);
		sql(db, q);
		free(q);
		free(trg[i]);
	}
	free(trg);
	/* Walk the chain in order, recomputing each link; the latest record of each row gets
	 * the row's current hash; each checkpoint is re-signed when its record is reached. */
	sqlite3_prepare_v2(db,
			   "SELECT c.seq, c.tbl, c.row_id, c.op, c.row_hash, NOT EXISTS (SELECT 1 "
			   "FROM chain d WHERE d.tbl = c.tbl AND d.row_id = c.row_id AND d.seq > "
			   "c.seq) FROM chain c ORDER BY c.seq",
			   -1, &st, NULL);
	struct rec {
		int64_t seq, row_id;
		char tbl[64];
		int op, latest;
		unsigned char rh[32];
	} *recs = NULL;
	size_t n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		recs = metro_realloc(recs, (n + 1) * sizeof *recs);
		struct rec *r = &recs[n++];
		r->seq = sqlite3_column_int64(st, 0);
		metro_strlcpy(r->tbl, (const char *)sqlite3_column_text(st, 1), sizeof r->tbl);
		r->row_id = sqlite3_column_int64(st, 2);
		r->op = strcmp((const char *)sqlite3_column_text(st, 3), "insert") ? 2 : 1;
		const char *h = (const char *)sqlite3_column_text(st, 4);
		metro_audit_unhex(h, strlen(h), r->rh, 32);
		r->latest = sqlite3_column_int(st, 5);
	}
	sqlite3_finalize(st);
	unsigned char prev[32] = {0}, *hashes = metro_calloc(n + 1, 32);
	for (size_t i = 0; i < n; i++) {
		struct rec *r = &recs[i];
		const struct metro_audit_table *t = metro_audit_table(r->tbl);
		if (r->latest && t && !strcmp(r->tbl, "checkpoints")) {
			struct metro_audit_checkpoint cp;
			char *q = metro_asprintf("SELECT epoch FROM checkpoints WHERE id = %lld",
						 (long long)r->row_id);
			sqlite3_prepare_v2(db, q, -1, &st, NULL);
			free(q);
			sqlite3_step(st);
			int64_t epoch = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
			metro_audit_checkpoint_load(db, epoch, &cp);
			if (cp.head_seq >= 1 && (size_t)cp.head_seq <= i)
				memcpy(cp.head_hash, hashes + 32 * (size_t)cp.head_seq, 32);
			metro_audit_checkpoint_sign(&cp, sk);
			char hh[65], pkh[65], sig[129];
			metro_audit_hex(cp.head_hash, 32, hh);
			metro_audit_hex(cp.pubkey, 32, pkh);
			metro_audit_hex(cp.signature, 64, sig);
			q = metro_asprintf(
				"UPDATE checkpoints SET head_hash = '%s', pubkey = '%s', "
				"signature = '%s', short_id = '%s' WHERE id = %lld",
				hh, pkh, sig, cp.short_id, (long long)r->row_id);
			sql(db, q);
			free(q);
		}
		if (r->latest && t) {
			char *q = metro_asprintf("SELECT * FROM %s WHERE %s = %lld", t->name,
						 t->key, (long long)r->row_id);
			sqlite3_prepare_v2(db, q, -1, &st, NULL);
			free(q);
			if (sqlite3_step(st) == SQLITE_ROW)
				metro_audit_hash_row(st, t->name, t->key, r->rh, NULL);
			sqlite3_finalize(st);
		}
		unsigned char h[32];
		metro_audit_link_hash(r->seq, r->op, r->tbl, r->row_id, r->rh, prev, h);
		memcpy(hashes + 32 * (i + 1), h, 32);
		char rhx[65], px[65], hx[65];
		metro_audit_hex(r->rh, 32, rhx);
		metro_audit_hex(prev, 32, px);
		metro_audit_hex(h, 32, hx);
		char *q =
			metro_asprintf("UPDATE chain SET row_hash = '%s', prev = '%s', hash = '%s' "
				       "WHERE seq = %lld",
				       rhx, px, hx, (long long)r->seq);
		sql(db, q);
		free(q);
		memcpy(prev, h, 32);
	}
	int rc = sql(db, "COMMIT");
	sqlite3_close(db);
	free(recs);
	free(hashes);
	FILE *f = fopen(pubfile, "w");
	char pkh[65];
	metro_audit_hex(pk, 32, pkh);
	if (!f || fprintf(f, "%s\n", pkh) < 0 || fclose(f))
		return 1;
	return rc ? 1 : 0;
}

/* Self-test: build, then verify with the station's public key. */
static int selftest(void)
{
	char *dir = tu_tmpdir();
	int saved = dup(1);
	/* The certificate lines are for the shell test; keep the log short. */
	if (!freopen("/dev/null", "w", stdout))
		return 1;
	build(dir);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	struct metro_audit_opts o = {0};
	char *db = metro_asprintf("%s/records.db", dir);
	char *pub = metro_asprintf("%s/records.pub", dir);
	o.db_path = db;
	o.npubkeys = 1;
	o.strict = 1;
	int rc = metro_audit_read_pubkey(pub, o.pubkeys[0]);
	struct metro_audit_report r = {0};
	if (!rc)
		rc = metro_audit_verify(&o, &r);
	fprintf(stderr, "fixture self-test: %s, %lld records, %lld rows, %lld checkpoints\n",
		rc ? "FAILED" : "verified", (long long)r.records, (long long)r.rows,
		(long long)r.checkpoints);
	for (size_t i = 0; i < r.nfailures; i++)
		fprintf(stderr, "  %s\n", r.failures[i].message);
	metro_audit_report_free(&r);
	free(db);
	free(pub);
	tu_rmtree(dir);
	free(dir);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	metro_log_set_level(METRO_LOG_WARNING);
	if (argc == 1)
		return selftest();
	if (argc == 3 && !strcmp(argv[1], "build")) {
		build(argv[2]);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "draft")) {
		draft(argv[2]);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "extend")) {
		extend(argv[2]);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "build-v2")) {
		build_v2(argv[2]);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "forge"))
		return forge(argv[2], argv[3]);
	fprintf(stderr, "usage: test_store_fixture [build DIR | extend DIR | build-v2 DIR | forge "
			"DB PUBFILE]\n");
	return 2;
}
