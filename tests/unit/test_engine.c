/* Unit tests of the procedure engine's pieces (daemon/engine): the rounding helpers, typed
 * readings, run commands, how point results and faults make a position's verdict, whole runs of
 * operator judgements (no rig at all), and flow points, load points and the constant test on a
 * scripted rig.
 *
 * The scripted rig is a driver written here (struct metro_driver) behind the real device layer
 * and the real rig profiles (config/profiles/): it answers each channel from a small model
 * whose volumes, pulses and energies the test sets, so every error the engine computes is one
 * the test has computed by hand first (the comments show the arithmetic).  Waiting is the
 * engine's io->wait, answered here: it lets a millisecond of real time pass (the rig's clock is
 * real time × the batch's time scale) and answers any open prompt from the test's script. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "codec.h"
#include "device.h"
#include "engine.h"
#include "engine_int.h"
#include "error.h"
#include "evidence.h"
#include "log.h"
#include "procedure.h"
#include "profile.h"
#include "testutil.h"
#include "util.h"

/* ---- small helpers -------------------------------------------------------------------------- */

static struct metro_dec D(const char *s) {
	struct metro_dec d = metro_dec_invalid();
	if (metro_dec_parse(s, &d))
		fail_msg("cannot parse %s", s);
	return d;
}

static void
assert_dec(struct metro_dec d, const char *want)
{
	char buf[128];
	assert_true(metro_dec_valid(d));
	assert_int_equal(metro_dec_format_sig(d, 38, buf, sizeof buf), METRO_OK);
	if (strcmp(buf, want) != 0)
		fprintf(stderr, "got %s, want %s\n", buf, want);
	assert_string_equal(buf, want);
}

/* ---- the harness: an engine on a batch, its documents and results --------------------------- */

#define MAX_RESULTS 512
#define MAX_DOCS 512

struct harness {
	struct metro_engine *e;
	struct metro_batch *b;
	struct metro_profile *prof;
	struct metro_device *dev;
	struct metro_result results[MAX_RESULTS];
	size_t nresults;
	json_t *docs[MAX_DOCS];
	const char *kinds[MAX_DOCS];
	size_t ndocs;
	/* operator answers in order, each to the prompt open when it is given (JSON text, NULL:
	 * give no more); automated[i]: answer i is an automated one, from client "test-client" */
	const char *answers[16];
	int automated[16];
	size_t nanswers, answered;
	/* a run command to give at the first wait after `after_prompts` prompts were answered */
	const char *command;
	size_t after_prompts;
	unsigned waits;
};

/* Run events and prompts are kept as the documents the publisher encodes from them (with
 * "run" as it adds it); point results and verdicts as the typed results. */
static void emit_result(void *ctx, struct metro_result r)
{
	struct harness *h = ctx;
	if (r.kind == METRO_DOC_RUN || r.kind == METRO_DOC_PROMPT) {
		assert_true(h->ndocs < MAX_DOCS);
		int64_t run = r.kind == METRO_DOC_RUN ? r.u.run->run : r.u.prompt->run;
		json_t *doc = r.kind == METRO_DOC_RUN ? metro_run_event_doc(r.u.run)
						      : metro_prompt_event_doc(r.u.prompt);
		json_object_set_new(doc, "run", json_sprintf("%lld", (long long)run));
		h->kinds[h->ndocs] = metro_doc_kind_names[r.kind];
		h->docs[h->ndocs++] = doc;
		metro_result_free(&r);
		return;
	}
	assert_true(h->nresults < MAX_RESULTS);
	h->results[h->nresults++] = r;
}

static int wait_cb(void *ctx, double seconds)
{
	struct harness *h = ctx;
	(void)seconds;
	h->waits++;
	assert_true(h->waits < 200000); /* a run that never ends is a failure, not a hang */
	/* a millisecond of real time: the rig's clock moves by time_scale milliseconds */
	struct timespec ts = {0, 1000000};
	nanosleep(&ts, NULL);
	char err[256];
	if (h->command && h->answered >= h->after_prompts) {
		assert_int_equal(metro_engine_command(h->e, h->command, NULL, err, sizeof err), 0);
		h->command = NULL;
	}
	/* the open prompt, answered from the script */
	if (h->e->prompt_id[0] && h->e->prompt_left && h->answered < h->nanswers &&
	    h->answers[h->answered]) {
		json_error_t je;
		json_t *ans = json_loads(h->answers[h->answered], JSON_DECODE_ANY, &je);
		assert_non_null(ans);
		json_t *doc = json_pack("{ssssso}", "prompt", h->e->prompt_id, "operator", "tester",
					"answer", ans);
		if (h->automated[h->answered]) {
			json_object_set_new(doc, "operator", json_string("automated"));
			json_object_set_new(doc, "automated", json_true());
			json_object_set_new(doc, "client", json_string("test-client"));
		}
		int rc = metro_engine_command(h->e, "input", doc, err, sizeof err);
		if (rc)
			fail_msg("input %s: %s", h->answers[h->answered], err);
		json_decref(doc);
		h->answered++;
	}
	return 0;
}

static struct metro_procedure *load_proc(const char *yaml)
{
	struct metro_diag diag;
	struct metro_procedure *p = NULL;
	metro_diag_init(&diag);
	int rc = metro_procedure_load_buffer("test-procedure.yaml", yaml, strlen(yaml), &diag, &p);
	if (rc) {
		metro_diag_print(&diag, stderr);
		fail_msg("the test procedure does not load");
	}
	metro_diag_free(&diag);
	return p;
}

/* A batch of the procedure on a rig of `kind`; meters is the JSON array of the request. */
static void setup_batch(struct harness *h, const char *yaml, enum metro_rig_kind kind,
			const char *meters)
{
	memset(h, 0, sizeof *h);
	char err[256];
	json_error_t je;
	char *req_text = metro_asprintf("{\"operator\": \"tester\", \"meters\": %s}", meters);
	json_t *req = json_loads(req_text, 0, &je);
	if (!req)
		fail_msg("request: %s", je.text);
	free(req_text);
	struct metro_batch_rig rig = {"rig-t", kind, 8, 1, 1000.0};
	if (metro_batch_from_json(req, load_proc(yaml), &rig, &h->b, err, sizeof err))
		fail_msg("batch: %s", err);
	json_decref(req);
	h->b->run_id = metro_strdup("42");
}

static void start_engine(struct harness *h)
{
	struct metro_engine_io io = {.ctx = h,
				     .dev = h->dev,
				     .profile = h->prof,
				     .wait = wait_cb,
				     .emit_result = emit_result,
				     .poll_s = 0.05};
	h->e = metro_engine_new(h->b, &io);
}

static void teardown_harness(struct harness *h)
{
	metro_engine_destroy(&h->e);
	for (size_t i = 0; i < h->nresults; i++)
		metro_result_free(&h->results[i]);
	for (size_t i = 0; i < h->ndocs; i++)
		json_decref(h->docs[i]);
	metro_device_destroy(&h->dev);
	metro_profile_destroy(&h->prof);
	metro_batch_destroy(&h->b);
}

/* The results of one position, in order: its points (of item, or all when NULL) and verdict. */
static size_t points_of(struct harness *h, int pos, const char *item,
			const struct metro_point_result **out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < h->nresults; i++) {
		const struct metro_result *r = &h->results[i];
		if (r->kind != METRO_DOC_POINT || r->u.point->position != pos)
			continue;
		if (item && strcmp(r->u.point->item, item) != 0)
			continue;
		assert_true(n < cap);
		out[n++] = r->u.point;
	}
	return n;
}

static const struct metro_verdict_result *verdict_of(struct harness *h, int pos)
{
	const struct metro_verdict_result *v = NULL;
	for (size_t i = 0; i < h->nresults; i++)
		if (h->results[i].kind == METRO_DOC_VERDICT &&
		    h->results[i].u.verdict->position == pos) {
			assert_null(v); /* one verdict per position */
			v = h->results[i].u.verdict;
		}
	assert_non_null(v);
	return v;
}

static void assert_failed_items(const struct metro_verdict_result *v, const char *want)
{
	char *s = json_dumps(v->failed_items, JSON_COMPACT);
	if (strcmp(s, want) != 0)
		fprintf(stderr, "failed_items %s, want %s\n", s, want);
	assert_string_equal(s, want);
	free(s);
}

/* ---- the scripted rig --------------------------------------------------------------------- */

#define MAXCH 256
#define MAXPOS 8
#define MAXRUNS 8

struct model {
	const struct metro_profile *prof;
	double val[MAXCH]; /* what was written, by channel index */
	/* flow bench: the reference volume of every measurement, and each position's
	 * indicated volume in its k-th measurement */
	double ref_l;
	double ind_l[MAXPOS + 1][MAXRUNS];
	int k[MAXPOS + 1], read_after[MAXPOS + 1], collected;
	int reads[MAXPOS + 1]; /* indicated volumes read after a collection */
	/* electricity bench: the reference constant, the counted reference pulses of each
	 * position's k-th error calculator run, and the energy and meter pulses of one
	 * energised period */
	double c0;
	double ref_pulses[MAXPOS + 1][MAXRUNS];
	int calc_k[MAXPOS + 1];
	double e_run, pulses_run[MAXPOS + 1];
	double e_total, pulses_total[MAXPOS + 1];
	int energised;
	/* creep: the pulses each position gives while it has voltage and no current; they show
	 * from the second read of its counter in that state on (after the engine's base read) */
	double creep[MAXPOS + 1];
	int idle, idle_reads[MAXPOS + 1];
	/* register test: each register's reading before the test and what one energised
	 * period adds; timing test: each position's k-th clock reading (s/d), and positions
	 * whose clock calculator reports an error (status 3) */
	double reg0[MAXPOS + 1], reg_run[MAXPOS + 1], reg_total[MAXPOS + 1];
	double clock[MAXPOS + 1][MAXRUNS];
	int clk_k[MAXPOS + 1], clk_fail[MAXPOS + 1];
	unsigned writes;
};

static struct model *model; /* the driver's one device */

static double stored(const char *name)
{
	const struct metro_channel *c = metro_profile_channel(model->prof, name);
	assert_non_null(c);
	return model->val[c->index];
}

static double stored_pos(const char *base, int pos)
{
	const struct metro_channel *c = metro_profile_pos_channel(model->prof, base, pos);
	assert_non_null(c);
	return model->val[c->index];
}

static int drv_open(const struct metro_driver_conn *c, void **handle, char *err, size_t errlen)
{
	(void)c;
	(void)err;
	(void)errlen;
	*handle = model;
	return 0;
}

static void drv_close(void *handle)
{
	(void)handle;
}

static double model_read(const struct metro_channel *ch)
{
	struct model *m = model;
	int p = ch->position;
	if (ch->writable)
		return m->val[ch->index];
	/* flow bench */
	if (!strcmp(ch->name, "flow.actual"))
		return stored("flow.run") ? stored("flow.setpoint") : 0;
	if (!strcmp(ch->name, "ref.volume"))
		return m->collected || stored("collect") ? m->ref_l : 0;
	if (!strcmp(ch->name, "water.temp"))
		return 20.0;
	if (!strcmp(ch->name, "water.pressure"))
		return 300.0;
	if (p && !strcmp(ch->base, "volume")) {
		if (!m->collected)
			return 0;
		if (!m->read_after[p])
			m->reads[p]++;
		m->read_after[p] = 1;
		return m->ind_l[p][m->k[p]];
	}
	/* electricity bench */
	int on = stored("source.on") != 0;
	if (!strcmp(ch->name, "ref.voltage"))
		return on ? stored("source.voltage") : 0;
	if (!strcmp(ch->name, "ref.current"))
		return on ? stored("source.current") : 0;
	if (!strcmp(ch->name, "ref.constant"))
		return m->c0;
	if (!strcmp(ch->name, "ref.energy"))
		return m->e_total + (m->energised ? m->e_run : 0);
	if (p && !strcmp(ch->base, "status"))
		return stored_pos("start", p) == 1 ? 2 : 0;
	if (p && !strcmp(ch->base, "ref_pulses"))
		return m->ref_pulses[p][m->calc_k[p] - 1];
	if (p && !strcmp(ch->base, "register"))
		return m->reg0[p] + m->reg_total[p];
	if (p && !strcmp(ch->base, "clock_status"))
		return stored_pos("clock_start", p) == 1 ? (m->clk_fail[p] ? 3 : 2) : 0;
	if (p && !strcmp(ch->base, "clock_error"))
		return m->clock[p][m->clk_k[p] - 1];
	if (p && !strcmp(ch->base, "meter_pulses")) {
		if (m->idle && ++m->idle_reads[p] > 1)
			return m->pulses_total[p] + m->creep[p];
		return m->pulses_total[p];
	}
	return 0;
}

static int drv_read(void *handle, const struct metro_channel *const *chs, size_t n, double *values)
{
	(void)handle;
	for (size_t i = 0; i < n; i++)
		values[i] = model_read(chs[i]);
	return 0;
}

static int drv_write(void *handle, const struct metro_channel *ch, double value)
{
	(void)handle;
	struct model *m = model;
	double before = m->val[ch->index];
	/* the device holds what its register can: the codec's rounding (the device layer reads
	 * the value back and compares) */
	double held = value;
	if (ch->table != METRO_TABLE_COIL) {
		uint16_t regs[4] = {0};
		assert_int_equal(metro_codec_encode(&ch->codec, value, regs, ch->nregs), 0);
		assert_int_equal(metro_codec_decode(&ch->codec, regs, ch->nregs, &held), 0);
	}
	m->val[ch->index] = held;
	m->writes++;
	int p = ch->position;
	if (!strcmp(ch->name, "totals.reset") && held) {
		/* a new measurement: each position read after the last one moves on */
		for (int i = 1; i <= MAXPOS; i++)
			if (m->read_after[i]) {
				m->k[i]++;
				m->read_after[i] = 0;
			}
		m->collected = 0;
	}
	if (!strcmp(ch->name, "collect") && before && !held)
		m->collected = 1;
	if (p && !strcmp(ch->base, "start") && held == 1 && before != 1)
		m->calc_k[p]++;
	if (p && !strcmp(ch->base, "clock_start") && held == 1 && before != 1)
		m->clk_k[p]++;
	if (!strcmp(ch->name, "source.on") || !strcmp(ch->name, "source.current")) {
		int now = stored("source.on") && stored("source.current") > 0;
		if (m->energised && !now) {
			m->e_total += m->e_run;
			for (int i = 1; i <= MAXPOS; i++) {
				m->pulses_total[i] += m->pulses_run[i];
				m->reg_total[i] += m->reg_run[i];
			}
		}
		m->energised = now;
	}
	if (!strcmp(ch->name, "source.on") || !strcmp(ch->name, "source.current") ||
	    !strcmp(ch->name, "source.voltage")) {
		int idle = stored("source.on") && stored("source.voltage") > 0 &&
			   stored("source.current") == 0;
		if (m->idle && !idle)
			for (int i = 1; i <= MAXPOS; i++)
				if (m->idle_reads[i] > 1)
					m->pulses_total[i] += m->creep[i];
		if (idle && !m->idle)
			memset(m->idle_reads, 0, sizeof m->idle_reads);
		m->idle = idle;
	}
	return 0;
}

static void drv_describe(void *handle, char *buf, size_t len)
{
	(void)handle;
	snprintf(buf, len, "scripted rig");
}

static const char *drv_last_error(void *handle)
{
	(void)handle;
	return "";
}

static const struct metro_driver scripted = {
	.abi_version = METRO_DRIVER_ABI_VERSION,
	.name = "scripted",
	.summary = "the test's rig model",
	.transport = "modbus",
	.open = drv_open,
	.close = drv_close,
	.read = drv_read,
	.write = drv_write,
	.describe = drv_describe,
	.last_error = drv_last_error,
};

static struct metro_connection_conf conn_conf = {.timeout_ms = 100, .retries = 0};

/* The rig of a batch: the profile of its kind for the batch's positions, a device on the
 * scripted driver, the model m. */
static void attach_rig(struct harness *h, const char *profile, struct model *m)
{
	struct metro_diag diag;
	metro_diag_init(&diag);
	char *path = metro_asprintf("config/profiles/%s.yaml", profile);
	if (metro_profile_load(path, h->b->positions, &diag, &h->prof)) {
		metro_diag_print(&diag, stderr);
		fail_msg("profile %s", path);
	}
	free(path);
	metro_diag_free(&diag);
	assert_true(h->prof->nchannels <= MAXCH);
	m->prof = h->prof;
	model = m;
	struct metro_driver_conn c = {"rig-t", &conn_conf, h->prof};
	assert_int_equal(metro_device_new(&scripted, &c, &h->dev), 0);
}

/* ---- engine.h and engine_int.h helpers ------------------------------------------------------ */

static void test_state_names(void **state)
{
	(void)state;
	static const char *const names[] = {"idle",   "starting",  "running",  "pausing",
					    "paused", "suspended", "stopping", "aborting",
					    "done",   "safe"};
	for (int s = METRO_RUN_IDLE; s <= METRO_RUN_SAFE; s++)
		assert_string_equal(metro_run_state_name((enum metro_run_state)s), names[s]);
	assert_string_equal(metro_run_state_name((enum metro_run_state)(METRO_RUN_SAFE + 1)), "?");
}

static void test_rounding_helpers(void **state)
{
	(void)state;
	/* eng_rounded: the double's exact value rounded to `places` decimals, ties to even
	 * (these doubles are exact binary fractions, so the ties are real ties) */
	assert_dec(eng_rounded(0.125, 2), "0.12"); /* 0.125 -> 0.12|5: tie, 2 is even */
	assert_dec(eng_rounded(0.375, 2), "0.38"); /* 0.37|5: tie, to the even 8 */
	assert_dec(eng_rounded(-2.5, 0), "-2");	   /* tie, to the even 2 */
	assert_dec(eng_rounded(20.0, 3), "20");	   /* a temperature read as 20 */
	assert_dec(eng_rounded(1.0 / 3, 6), "0.333333");
	assert_dec(eng_rounded(-0.0000004, 6), "0"); /* -0.000000 is zero, no sign */
	assert_false(metro_dec_valid(eng_rounded(NAN, 3)));
	assert_false(metro_dec_valid(eng_rounded(INFINITY, 3)));
	assert_false(metro_dec_valid(eng_rounded(1e40, 0))); /* beyond 38 digits: refused */
	/* eng_litres: 1 µL steps.  1.5/1024 = 0.00146484375 L -> 0.001464|84375 -> 0.001465 */
	assert_dec(eng_litres(1.5 / 1024), "0.001465");
	/* a tank just tared reads 1.2345678901234567e-07 L: 0.000000|123... -> 0 */
	assert_dec(eng_litres(1.2345678901234567e-07), "0");
	assert_dec(eng_litres(1000.25), "1000.25");
	/* a volume difference of two readings stays a decimal of 6 places (denominator 10^6) */
	struct metro_dec v = metro_dec_sub(eng_litres(1051.0005), eng_litres(1000.0));
	assert_dec(v, "51.0005");
	assert_true(metro_dec_is_int(metro_dec_mul(v, metro_dec_e(1, 6))));

	/* eng_carry: an error carried into a repeat rule, rounded half to even to 1e-10 % */
	assert_dec(eng_carry(D("2")), "2");		/* on a limit: kept exactly */
	assert_dec(eng_carry(D("2.00000000005")), "2"); /* 2.0000000000|5: tie, 0 is even */
	assert_dec(eng_carry(D("2.00000000015")), "2.0000000002"); /* ...1|5: tie, up to 2 */
	assert_dec(eng_carry(D("-2.00000000015")), "-2.0000000002");
	assert_dec(eng_carry(D("2.000000000051")), "2.0000000001"); /* above the tie */
	assert_dec(eng_carry(metro_dec_div(D("1"), D("3"))), "0.3333333333");
	assert_dec(eng_carry(metro_dec_div(D("-2"), D("3"))), "-0.6666666667");
	/* what cannot be rounded is carried as it is (the repeat rule refuses it later) */
	assert_false(metro_dec_valid(eng_carry(metro_dec_invalid())));
	assert_dec(eng_carry(D("1e37")), "10000000000000000000000000000000000000");

	/* eng_runs_json: the runs as JSON numbers, in order */
	struct metro_dec runs[3] = {D("2.001"), D("-0.5"), D("0")};
	json_t *a = eng_runs_json(runs, 3);
	assert_int_equal(json_array_size(a), 3);
	assert_true(json_number_value(json_array_get(a, 0)) == 2.001);
	assert_true(json_number_value(json_array_get(a, 1)) == -0.5);
	assert_true(json_number_value(json_array_get(a, 2)) == 0);
	json_decref(a);
}

static void test_readings(void **state)
{
	(void)state;
	struct metro_dec d;
	struct {
		const char *json;
		int ok;
		const char *value;
	} one[] = {
		{"\"123.4567\"", 1, "123.4567"},
		{"\"0\"", 1, "0"},
		{"\"1e9\"", 1, "1000000000"}, /* the top of the range is a reading */
		{"\"1000000000.0001\"", 0, NULL},
		{"\"-0.001\"", 0, NULL},
		{"\"12,5\"", 0, NULL},
		{"\" 12.5\"", 0, NULL},
		{"\"\"", 0, NULL},
		{"7", 1, "7"},
		{"-1", 0, NULL},
		{"0.5", 1, "0.5"},
		{"1012.34567", 1, "1012.34567"}, /* a JSON number: its shortest decimal form */
		{"1e10", 0, NULL},
		{"null", 0, NULL},
		{"true", 0, NULL},
		{"[1]", 0, NULL},
		{"{\"v\": 1}", 0, NULL},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(one); i++) {
		json_error_t je;
		json_t *v = json_loads(one[i].json, JSON_DECODE_ANY, &je);
		assert_non_null(v);
		int rc = metro_engine_reading(v, &d);
		if ((rc == 0) != one[i].ok)
			fprintf(stderr, "reading %s: %d\n", one[i].json, rc);
		assert_int_equal(rc == 0, one[i].ok);
		if (one[i].ok)
			assert_dec(d, one[i].value);
		else
			assert_int_equal(rc, METRO_E_INVAL);
		json_decref(v);
	}

	/* a whole answer: keys among the prompt's positions, values readings */
	static const int positions[] = {1, 3, 10};
	struct {
		const char *json;
		const char *err; /* NULL: accepted */
	} ans[] = {
		{"{\"1\": \"100.5\", \"3\": 7, \"10\": \"0\"}", NULL},
		{"{\"3\": \"1\"}", NULL}, /* a position left out is put in error later */
		{"{}", NULL},
		{"\"100.5\"", "'answer' must be an object of readings by position, e.g. {\"1\": "
			      "\"123.4567\"}"},
		{"[\"100.5\"]", "'answer' must be an object of readings by position, e.g. {\"1\": "
				"\"123.4567\"}"},
		{"{\"2\": \"1\"}", "answer: '2' is not a position this prompt asks about"},
		{"{\"\": \"1\"}", "answer: '' is not a position this prompt asks about"},
		{"{\"1x\": \"1\"}", "answer: '1x' is not a position this prompt asks about"},
		/* the engine looks readings up by the position's own decimal name, so other
		 * spellings of a position are not that position */
		{"{\"01\": \"1\"}", "answer: '01' is not a position this prompt asks about"},
		{"{\"+3\": \"1\"}", "answer: '+3' is not a position this prompt asks about"},
		{"{\" 10\": \"1\"}", "answer: ' 10' is not a position this prompt asks about"},
		{"{\"3\": \"-1\"}",
		 "answer: position 3: not a meter reading (a decimal number in the prompt's "
		 "unit, m3 or kWh, 0 to 1e9, e.g. \"123.4567\")"},
		{"{\"10\": null}", "answer: position 10: not a meter reading (a decimal number in "
				   "the prompt's unit, m3 or kWh, 0 to 1e9, e.g. \"123.4567\")"},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(ans); i++) {
		json_error_t je;
		json_t *v = json_loads(ans[i].json, JSON_DECODE_ANY, &je);
		assert_non_null(v);
		char err[256] = "";
		int rc = metro_engine_check_readings(positions, 3, v, err, sizeof err);
		if (ans[i].err == NULL ? rc != 0 : strcmp(err, ans[i].err) != 0)
			fprintf(stderr, "answer %s: %d '%s'\n", ans[i].json, rc, err);
		if (!ans[i].err) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, METRO_E_INVAL);
			assert_string_equal(err, ans[i].err);
		}
		json_decref(v);
	}
	/* a judgement's answer: pass or fail, for every position still open or by position;
	 * decided: position 10 was decided by an earlier answer */
	json_t *decided = json_pack("{ss}", "10", "fail");
	struct {
		const char *json;
		const char *err;
		const char *decides; /* what it decides, with position 10 decided */
	} jud[] = {
		{"\"pass\"", NULL, "{\"1\":\"pass\",\"3\":\"pass\"}"},
		{"\"fail\"", NULL, "{\"1\":\"fail\",\"3\":\"fail\"}"},
		/* by position: exactly the positions named; the others stay open */
		{"{\"1\": \"pass\", \"3\": \"fail\"}", NULL, "{\"1\":\"pass\",\"3\":\"fail\"}"},
		{"{\"3\": \"fail\"}", NULL, "{\"3\":\"fail\"}"},
		{"{\"1\": \"pass\", \"10\": \"fail\"}",
		 "answer: position 10 is decided already, by an earlier answer", NULL},
		{"{}", "answer: an answer by position names at least one position", NULL},
		{"\"Pass\"",
		 "'answer' must be \"pass\", \"fail\" or an object of positions, e.g. "
		 "{\"3\": \"fail\", \"5\": \"pass\"}",
		 NULL},
		{"[\"pass\"]",
		 "'answer' must be \"pass\", \"fail\" or an object of positions, e.g. "
		 "{\"3\": \"fail\", \"5\": \"pass\"}",
		 NULL},
		{"{\"2\": \"pass\"}", "answer: '2' is not a position this prompt asks about", NULL},
		{"{\"010\": \"pass\"}", "answer: '010' is not a position this prompt asks about",
		 NULL},
		{"{\"3\": \"passed\"}", "answer: position 3: must be \"pass\" or \"fail\"", NULL},
		{"{\"3\": true}", "answer: position 3: must be \"pass\" or \"fail\"", NULL},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(jud); i++) {
		json_error_t je;
		json_t *v = json_loads(jud[i].json, JSON_DECODE_ANY, &je);
		assert_non_null(v);
		char err[256] = "";
		json_t *decides = NULL;
		int rc = metro_engine_check_judgements(positions, 3, decided, v, &decides, err,
						       sizeof err);
		if (jud[i].err == NULL ? rc != 0 : strcmp(err, jud[i].err) != 0)
			fprintf(stderr, "answer %s: %d '%s'\n", jud[i].json, rc, err);
		if (!jud[i].err) {
			assert_int_equal(rc, 0);
			char *t = json_dumps(decides, JSON_COMPACT | JSON_SORT_KEYS);
			assert_string_equal(t, jud[i].decides);
			free(t);
			json_decref(decides);
		} else {
			assert_int_equal(rc, METRO_E_INVAL);
			assert_string_equal(err, jud[i].err);
			assert_null(decides);
		}
		/* with nothing decided, every position is open: "pass" decides all three */
		if (i == 0) {
			assert_int_equal(metro_engine_check_judgements(positions, 3, NULL, v,
								       &decides, err, sizeof err),
					 0);
			assert_int_equal(json_object_size(decides), 3);
			json_decref(decides);
		}
		json_decref(v);
	}
	/* every position decided: nothing is left for a word for the whole prompt */
	json_t *all = json_pack("{ssssss}", "1", "pass", "3", "pass", "10", "fail");
	json_t *pass = json_string("pass");
	char err[256] = "";
	assert_int_equal(
		metro_engine_check_judgements(positions, 3, all, pass, NULL, err, sizeof err),
		METRO_E_INVAL);
	assert_string_equal(err, "answer: every position of this prompt is decided already");
	json_decref(all);
	json_decref(decided);

	/* who may answer: a person anywhere; an automated answer on a simulated rig, or for
	 * an item a sensor decides */
	struct metro_engine_prompt pr = {"leak", 0, positions, 3, NULL, 1, NULL};
	json_t *decides = NULL;
	assert_int_equal(metro_engine_check_answer(&pr, pass, 1, &decides, err, sizeof err), 0);
	assert_int_equal(json_object_size(decides), 3);
	json_decref(decides);
	pr.simulated = 0;
	assert_int_equal(metro_engine_check_answer(&pr, pass, 0, NULL, err, sizeof err), 0);
	decides = NULL;
	assert_int_equal(metro_engine_check_answer(&pr, pass, 1, &decides, err, sizeof err),
			 METRO_E_DENIED);
	assert_null(decides);
	assert_string_equal(err, "an automated answer is taken only on a simulated rig or for an "
				 "item a sensor decides: this rig is not simulated and leak "
				 "declares no sensor, so a person must answer (metroctl input ... "
				 "--operator NAME)");
	pr.sensor = "water.pressure";
	assert_int_equal(metro_engine_check_answer(&pr, pass, 1, NULL, err, sizeof err), 0);
	/* the answer is still checked */
	json_t *bad = json_string("maybe");
	assert_int_equal(metro_engine_check_answer(&pr, bad, 1, NULL, err, sizeof err),
			 METRO_E_INVAL);
	json_decref(bad);
	/* typed readings: the same rule; what they decide is the readings as given */
	pr.readings = 1;
	pr.sensor = NULL;
	json_t *rd = json_pack("{ss}", "3", "12.5");
	assert_int_equal(metro_engine_check_answer(&pr, rd, 1, NULL, err, sizeof err),
			 METRO_E_DENIED);
	assert_int_equal(metro_engine_check_answer(&pr, rd, 0, &decides, err, sizeof err), 0);
	assert_true(json_equal(decides, rd));
	json_decref(decides);
	json_decref(rd);
	json_decref(pass);
}

/* ---- operator judgements: no rig ------------------------------------------------------------ */

#define JUDGE_PROC                                                                              \
	"procedure: {id: test-judge, title: t, regulation: {id: JJG 162, edition: \"2019\"},\n" \
	"  meter: water, rig: flow-bench, verification: initial}\n"                             \
	"nameplate: {q3: {min: 0.4, max: 100}, r: {min: 40, max: 1000}, class: {values: "       \
	"[\"2\"]}}\n"                                                                           \
	"parameters: {uncertainty_ratio: 1 / 5, prompt_timeout_s: %s}\n"                        \
	"items:\n"                                                                              \
	"  - {id: visual, kind: judgement, prompt: Visual inspection acceptable?}\n"            \
	"  - {id: leak, kind: judgement, prompt: Leak tight?}\n"                                \
	"  - {id: seal, kind: judgement, prompt: Sealed?}\n"                                    \
	"teardown: safe-state\n"

#define THREE_METERS                                                                       \
	"[{\"position\": 1, \"serial\": \"W-1\", \"nameplate\": {\"q3\": \"2.5\", \"r\": " \
	"\"100\", \"class\": \"2\"}},"                                                     \
	" {\"position\": 2, \"serial\": \"W-2\", \"nameplate\": {\"q3\": \"2.5\", \"r\": " \
	"\"100\", \"class\": \"2\"}},"                                                     \
	" {\"position\": 3, \"serial\": \"W-3\", \"nameplate\": {\"q3\": \"2.5\", \"r\": " \
	"\"100\", \"class\": \"2\"}}]"

static void judge_batch(struct harness *h, const char *timeout)
{
	char *yaml = metro_asprintf(JUDGE_PROC, timeout);
	setup_batch(h, yaml, METRO_RIG_FLOW_BENCH, THREE_METERS);
	free(yaml);
	start_engine(h);
}

/* The state documents the engine emitted ("run" kind with a "state"), as "a,b,c". */
static void states_of(struct harness *h, char *out, size_t cap)
{
	out[0] = '\0';
	for (size_t i = 0; i < h->ndocs; i++) {
		if (strcmp(h->kinds[i], "run") != 0)
			continue;
		const char *s = json_string_value(json_object_get(h->docs[i], "state"));
		assert_non_null(s);
		assert_string_equal(json_string_value(json_object_get(h->docs[i], "run")), "42");
		size_t n = strlen(out);
		snprintf(out + n, cap - n, "%s%s", n ? "," : "", s);
	}
}

static void test_commands(void **state)
{
	(void)state;
	struct harness h;
	char err[256], states[256];
	judge_batch(&h, "600");
	assert_int_equal(metro_engine_state(h.e), METRO_RUN_IDLE);
	assert_int_equal(metro_engine_must_end(h.e), 0);
	/* pause, pause again, resume (cancels the pause), resume again */
	assert_int_equal(metro_engine_command(h.e, "pause", NULL, err, sizeof err), 0);
	assert_int_equal(metro_engine_state(h.e), METRO_RUN_PAUSING);
	assert_int_equal(metro_engine_command(h.e, "pause", NULL, err, sizeof err), METRO_E_STATE);
	assert_string_equal(err, "already pausing or paused");
	assert_int_equal(metro_engine_command(h.e, "resume", NULL, err, sizeof err), 0);
	assert_int_equal(metro_engine_state(h.e), METRO_RUN_RUNNING);
	assert_int_equal(metro_engine_command(h.e, "resume", NULL, err, sizeof err), METRO_E_STATE);
	assert_string_equal(err, "the run is not paused");
	states_of(&h, states, sizeof states);
	assert_string_equal(states, "pausing,running");
	assert_string_equal(json_string_value(json_object_get(h.docs[0], "reason")),
			    "at the next test-point boundary");
	assert_string_equal(json_string_value(json_object_get(h.docs[1], "reason")),
			    "pause cancelled");
	/* paused at a boundary with a resume not yet taken there: a pause is accepted (the
	 * main thread's copy of pause_req says none is requested, daemon/rig.c) and withdraws
	 * the resume; the run stays paused, no state document */
	h.e->state = METRO_RUN_PAUSED;
	h.e->pause_req = 1;
	assert_int_equal(metro_engine_command(h.e, "resume", NULL, err, sizeof err), 0);
	assert_int_equal(h.e->pause_req, 0);
	assert_int_equal(metro_engine_command(h.e, "pause", NULL, err, sizeof err), 0);
	assert_int_equal(h.e->pause_req, 1);
	assert_int_equal(metro_engine_state(h.e), METRO_RUN_PAUSED);
	assert_int_equal(metro_engine_command(h.e, "pause", NULL, err, sizeof err), METRO_E_STATE);
	states_of(&h, states, sizeof states);
	assert_string_equal(states, "pausing,running");
	h.e->state = METRO_RUN_RUNNING;
	h.e->pause_req = 0;
	/* stop ends at a boundary, abort and halt at once */
	assert_int_equal(metro_engine_command(h.e, "stop", NULL, err, sizeof err), 0);
	assert_int_equal(metro_engine_must_end(h.e), 0);
	assert_int_equal(metro_engine_command(h.e, "halt", NULL, err, sizeof err), 0);
	assert_int_equal(metro_engine_must_end(h.e), 1);
	assert_int_equal(metro_engine_command(h.e, "jump", NULL, err, sizeof err), METRO_E_INVAL);
	assert_string_equal(err, "unknown run command 'jump'");

	/* input: only to the open prompt, with an operator, with an answer of the prompt's
	 * kind */
	json_t *in =
		json_pack("{ssssss}", "prompt", "visual-1", "operator", "op", "answer", "pass");
	assert_int_equal(metro_engine_command(h.e, "input", in, err, sizeof err), METRO_E_STATE);
	assert_string_equal(err, "no open prompt 'visual-1'");
	snprintf(h.e->prompt_id, sizeof h.e->prompt_id, "visual-2"); /* as eng_ask opens it */
	h.e->nprompt_pos = 2;
	h.e->prompt_pos[0] = 1;
	h.e->prompt_pos[1] = 3;
	h.e->prompt_left = 2;
	h.e->decided = json_object();
	assert_int_equal(metro_engine_command(h.e, "input", in, err, sizeof err), METRO_E_STATE);
	assert_string_equal(err, "no open prompt 'visual-1'; the open prompt is visual-2");
	json_object_set_new(in, "prompt", json_string("visual-2"));
	json_object_set_new(in, "operator", json_string(""));
	assert_int_equal(metro_engine_command(h.e, "input", in, err, sizeof err), METRO_E_INVAL);
	assert_string_equal(err, "'operator' is required");
	json_object_set_new(in, "operator", json_string("op"));
	static const char *const bad[] = {"[\"pass\"]", "\"maybe\"", "\"PASS\"", "1", "null", "{}",
					  /* an object of positions: this prompt's, pass or fail */
					  "{\"2\": \"pass\"}", "{\"1\": \"passed\"}",
					  "{\"01\": \"pass\"}", "{\"3\": true}",
					  /* refused whole: position 1 is not decided by it */
					  "{\"1\": \"pass\", \"3\": \"maybe\"}"};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(bad); i++) {
		json_error_t je;
		json_object_set_new(in, "answer", json_loads(bad[i], JSON_DECODE_ANY, &je));
		int rc = metro_engine_command(h.e, "input", in, err, sizeof err);
		if (rc != METRO_E_INVAL)
			fprintf(stderr, "answer %s accepted\n", bad[i]);
		assert_int_equal(rc, METRO_E_INVAL);
		assert_int_equal(json_object_size(h.e->decided), 0);
		assert_int_equal(h.e->prompt_left, 2);
	}
	/* a partial answer decides position 3 only; the prompt stays open for position 1 */
	json_object_set_new(in, "answer", json_pack("{ss}", "3", "fail"));
	assert_int_equal(metro_engine_command(h.e, "input", in, err, sizeof err), 0);
	assert_int_equal(h.e->prompt_left, 1);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(h.e->decided, "3"), "answer")),
		"fail");
	assert_null(json_object_get(h.e->decided, "1"));
	/* position 3 again: refused whole, position 1 stays open */
	json_object_set_new(in, "answer", json_pack("{ssss}", "1", "pass", "3", "pass"));
	assert_int_equal(metro_engine_command(h.e, "input", in, err, sizeof err), METRO_E_INVAL);
	assert_string_equal(err, "answer: position 3 is decided already, by an earlier answer");
	assert_null(json_object_get(h.e->decided, "1"));
	/* an automated answer: refused on a rig that is not simulated, for an item no sensor
	 * decides; taken on a simulated one, recorded as automated with its client */
	json_t *au = json_pack("{sssssssbss}", "prompt", "visual-2", "answer", "pass", "operator",
			       "automated", "automated", 1, "client", "robot");
	h.e->b->simulated = 0;
	assert_int_equal(metro_engine_command(h.e, "input", au, err, sizeof err), METRO_E_DENIED);
	assert_int_equal(h.e->prompt_left, 1);
	h.e->b->simulated = 1;
	assert_int_equal(metro_engine_command(h.e, "input", au, err, sizeof err), 0);
	assert_int_equal(h.e->prompt_left, 0);
	json_t *d1 = json_object_get(h.e->decided, "1");
	assert_string_equal(json_string_value(json_object_get(d1, "answer")), "pass");
	assert_string_equal(json_string_value(json_object_get(d1, "operator")), "automated");
	assert_string_equal(json_string_value(json_object_get(d1, "by")), "automated");
	assert_string_equal(json_string_value(json_object_get(d1, "client")), "robot");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(h.e->decided, "3"), "operator")),
		"op");
	json_decref(au);
	/* every position decided: the prompt takes no more answers */
	json_object_set_new(in, "answer", json_string("fail"));
	assert_int_equal(metro_engine_command(h.e, "input", in, err, sizeof err), METRO_E_STATE);
	h.e->prompt_left = 1; /* (for the readings below) */
	/* a readings prompt takes readings only, and closes on the first one taken */
	h.e->prompt_readings = 1;
	json_object_set_new(in, "answer", json_pack("{ss}", "3", "pass"));
	assert_int_equal(metro_engine_command(h.e, "input", in, err, sizeof err), METRO_E_INVAL);
	assert_string_equal(err, "answer: position 3: not a meter reading (a decimal number in the "
				 "prompt's unit, m3 or kWh, 0 to 1e9, e.g. \"123.4567\")");
	assert_null(h.e->answer);
	json_object_set_new(in, "answer", json_pack("{ss}", "3", "12.5"));
	assert_int_equal(metro_engine_command(h.e, "input", in, err, sizeof err), 0);
	assert_string_equal(json_string_value(json_object_get(h.e->answer, "3")), "12.5");
	assert_string_equal(h.e->answer_operator, "op");
	assert_int_equal(h.e->prompt_left, 0);
	json_decref(in);
	teardown_harness(&h);
}

/* Point results decide a position's verdict: the worst so far, pass < conditional < fail <
 * aborted < error; fail and worse take it out of later points. */
static void test_point_aggregation(void **state)
{
	(void)state;
	struct harness h;
	judge_batch(&h, "600");
	struct metro_engine *e = h.e;
	const struct metro_proc_item *visual = &h.b->proc->items[0], *leak = &h.b->proc->items[1];
	struct pos *ps[MAX_POS];
	assert_int_equal(e->npos, 3);
	assert_int_equal(eng_active(e, ps), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(e->pos[i].verdict, METRO_VERDICT_PASS);

	struct metro_mx_judgement j;
	assert_int_equal(metro_mx_judge(D("2"), D("2"), METRO_MX_RULE_FULL, D("0"), &j), 0);
	eng_point_doc(e, &e->pos[0], visual, json_object(), &j, 0, METRO_VERDICT_PASS);
	eng_point_doc(e, &e->pos[0], leak, json_object(), NULL, 2, METRO_VERDICT_CONDITIONAL);
	eng_point_doc(e, &e->pos[1], visual, json_object(), NULL, 1, METRO_VERDICT_FAIL);
	eng_point_doc(e, &e->pos[1], leak, json_object(), NULL, 1, METRO_VERDICT_PASS);
	/* position 1: conditional, still active; 2: failed (a later pass does not undo it) */
	assert_int_equal(e->pos[0].verdict, METRO_VERDICT_CONDITIONAL);
	assert_int_equal(e->pos[0].active, 1);
	assert_int_equal(e->pos[1].verdict, METRO_VERDICT_FAIL);
	assert_int_equal(e->pos[1].active, 0);
	assert_int_equal(json_array_size(e->pos[1].failed_items), 1);
	assert_string_equal(json_string_value(json_array_get(e->pos[1].failed_items, 0)), "visual");
	assert_int_equal(eng_active(e, ps), 2);
	assert_ptr_equal(ps[0], &e->pos[0]);
	assert_ptr_equal(ps[1], &e->pos[2]);
	/* the typed results as handed up */
	assert_int_equal(h.nresults, 4);
	const struct metro_point_result *r = h.results[0].u.point;
	assert_int_equal(h.results[0].kind, METRO_DOC_POINT);
	assert_int_equal(r->run, 42);
	assert_int_equal(r->position, 1);
	assert_string_equal(r->serial, "W-1");
	assert_string_equal(r->item, "visual");
	assert_string_equal(r->item_kind, "judgement");
	assert_int_equal(r->attempt, 1); /* 0 is taken as the first attempt */
	assert_int_equal(r->pending, 0);
	assert_int_equal(r->judged, 1);
	assert_int_equal(metro_dec_cmp(r->judgement.mpe, D("2")), 0);
	assert_int_equal(r->verdict, METRO_VERDICT_PASS);
	assert_int_equal(h.results[1].u.point->attempt, 2);
	assert_int_equal(h.results[1].u.point->judged, 0);

	/* one position in error: the reason names the item */
	eng_pos_error(e, &e->pos[2], leak, "calculator %d gave no result", 3);
	assert_int_equal(e->pos[2].verdict, METRO_VERDICT_ERROR);
	assert_int_equal(e->pos[2].active, 0);
	assert_string_equal(e->pos[2].reason, "leak: calculator 3 gave no result");
	r = h.results[4].u.point;
	assert_int_equal(r->verdict, METRO_VERDICT_ERROR);
	assert_string_equal(json_string_value(json_object_get(r->values, "error")),
			    "calculator 3 gave no result");
	/* a rig fault: every active position ends in error, the others keep theirs */
	assert_int_equal(eng_fault(e, "reading %s: %s", "flow.actual", "timed out"), METRO_E_IO);
	assert_string_equal(e->fault, "reading flow.actual: timed out");
	assert_int_equal(e->pos[0].verdict, METRO_VERDICT_ERROR);
	assert_string_equal(e->pos[0].reason, "rig fault: reading flow.actual: timed out");
	assert_int_equal(e->pos[1].verdict, METRO_VERDICT_FAIL);
	assert_string_equal(e->pos[1].reason, "");
	assert_string_equal(e->pos[2].reason, "leak: calculator 3 gave no result");
	assert_int_equal(eng_active(e, ps), 0);
	/* a pending run has no verdict and changes nothing */
	eng_point_pending(e, &e->pos[0], leak, json_object(), 2);
	r = h.results[5].u.point;
	assert_int_equal(r->pending, 1);
	assert_int_equal(r->attempt, 2);
	assert_int_equal(e->pos[0].verdict, METRO_VERDICT_ERROR);
	teardown_harness(&h);
}

/* The limits a procedure's points are judged by: its verification type, which set of limits
 * a complaint verification uses, and its stricter internal factor. */
static void limits_case(const char *verification, const char *params, enum metro_mx_vtype type,
			enum metro_mx_complaint complaint, const char *factor)
{
	struct harness h;
	char *yaml = metro_asprintf(
		"procedure: {id: t, title: t, regulation: {id: JJG 162, edition: \"2019\"},\n"
		"  meter: water, rig: flow-bench, %s}\n"
		"nameplate: {q3: {min: 0.4, max: 100}, r: {min: 40, max: 1000}, class: {values: "
		"[\"2\"]}}\n"
		"parameters: {uncertainty_ratio: 1 / 5%s}\n"
		"items: [{id: visual, kind: judgement, prompt: ok?}]\n"
		"teardown: safe-state\n",
		verification, params);
	setup_batch(&h, yaml, METRO_RIG_FLOW_BENCH, THREE_METERS);
	free(yaml);
	start_engine(&h);
	struct metro_mx_limits l = eng_limits_of(h.e);
	assert_int_equal(l.type, type);
	assert_int_equal(l.complaint, complaint);
	assert_dec(l.mpe_factor, factor);
	teardown_harness(&h);
}

static void test_limits(void **state)
{
	(void)state;
	limits_case("verification: initial", "", METRO_MX_INITIAL, METRO_MX_COMPLAINT_NEW, "1");
	limits_case("verification: in-service", ", mpe_factor: 0.6", METRO_MX_IN_SERVICE,
		    METRO_MX_COMPLAINT_IN_SERVICE, "0.6");
	limits_case("verification: supervision-new", "", METRO_MX_SAMPLING_NEW,
		    METRO_MX_COMPLAINT_NEW, "1");
	limits_case("verification: supervision-in-use", "", METRO_MX_SAMPLING_IN_USE,
		    METRO_MX_COMPLAINT_IN_SERVICE, "1");
	limits_case("verification: complaint, limits: in-service", "", METRO_MX_COMPLAINT,
		    METRO_MX_COMPLAINT_IN_SERVICE, "1");
	limits_case("verification: complaint, limits: verification", ", mpe_factor: 1 / 2",
		    METRO_MX_COMPLAINT, METRO_MX_COMPLAINT_NEW, "0.5");
}

static void test_run_judgements(void **state)
{
	(void)state;
	struct harness h;
	char states[256];
	judge_batch(&h, "600");
	/* visual: position 2 fails; leak (asked of 1 and 3): 3 fails by an object answer; seal
	 * (asked of 1 only): pass */
	h.answers[0] = "{\"1\": \"pass\", \"2\": \"fail\", \"3\": \"pass\"}";
	h.answers[1] = "{\"1\": \"pass\", \"3\": \"fail\"}";
	h.answers[2] = "\"pass\"";
	h.nanswers = 3;
	assert_string_equal(metro_engine_run(h.e), "done");
	assert_int_equal(h.answered, 3);
	states_of(&h, states, sizeof states);
	assert_string_equal(states, "starting,running,done");
	assert_string_equal(json_string_value(json_object_get(h.docs[h.ndocs - 1], "result")),
			    "done");
	/* the prompts: asked of the active positions, closed with the operator */
	size_t np = 0;
	for (size_t i = 0; i < h.ndocs; i++) {
		if (strcmp(h.kinds[i], "prompt") != 0)
			continue;
		json_t *d = h.docs[i];
		static const char *const want_pos[] = {"[1,2,3]", "[1,2,3]", "[1,3]",
						       "[1,3]",	  "[1]",     "[1]"};
		char *p = json_dumps(json_object_get(d, "positions"), JSON_COMPACT);
		assert_string_equal(p, want_pos[np]);
		free(p);
		int closed = json_is_true(json_object_get(d, "closed"));
		assert_int_equal(closed, np % 2);
		if (closed) {
			assert_true(json_is_true(json_object_get(d, "answered")));
			assert_string_equal(json_string_value(json_object_get(d, "operator")),
					    "tester");
		}
		np++;
	}
	assert_int_equal(np, 6);
	const struct metro_verdict_result *v = verdict_of(&h, 1);
	assert_int_equal(v->verdict, METRO_VERDICT_PASS);
	assert_failed_items(v, "[]");
	assert_int_equal(v->run, 42);
	assert_string_equal(v->serial, "W-1");
	v = verdict_of(&h, 2);
	assert_int_equal(v->verdict, METRO_VERDICT_FAIL);
	assert_failed_items(v, "[\"visual\"]");
	v = verdict_of(&h, 3);
	assert_int_equal(v->verdict, METRO_VERDICT_FAIL);
	assert_failed_items(v, "[\"leak\"]");
	/* each point result says who answered */
	const struct metro_point_result *pts[8];
	assert_int_equal(points_of(&h, 1, NULL, pts, 8), 3);
	assert_int_equal(points_of(&h, 2, NULL, pts, 8), 1);
	assert_string_equal(json_string_value(json_object_get(pts[0]->values, "answer")), "fail");
	assert_string_equal(json_string_value(json_object_get(pts[0]->values, "operator")),
			    "tester");
	teardown_harness(&h);
}

/* Partial answers: each decides the positions it names, the prompt is published again with
 * the positions still open and closes once every position is decided; one left open at the
 * prompt timeout is in error, the decided ones keep their verdicts. */
static void test_run_partial(void **state)
{
	(void)state;
	struct harness h;
	judge_batch(&h, "600");
	/* visual: 2 fails, then the rest pass (an automated answer); leak (1 and 3): 3 fails,
	 * then 1 passes; seal (1): pass */
	h.answers[0] = "{\"2\": \"fail\"}";
	h.answers[1] = "\"pass\"";
	h.automated[1] = 1;
	h.answers[2] = "{\"3\": \"fail\"}";
	h.answers[3] = "{\"1\": \"pass\"}";
	h.answers[4] = "\"pass\"";
	h.nanswers = 5;
	assert_string_equal(metro_engine_run(h.e), "done");
	assert_int_equal(h.answered, 5);
	static const char *const want[][4] = {
		/* positions, open, decided, closed: operator */
		{"[1,2,3]", "[1,2,3]", NULL, NULL},
		{"[1,2,3]", "[1,3]", "{\"2\":\"fail\"}", NULL},
		{"[1,2,3]", "[]", "{\"1\":\"pass\",\"2\":\"fail\",\"3\":\"pass\"}",
		 "automated, tester"},
		{"[1,3]", "[1,3]", NULL, NULL},
		{"[1,3]", "[1]", "{\"3\":\"fail\"}", NULL},
		{"[1,3]", "[]", "{\"1\":\"pass\",\"3\":\"fail\"}", "tester"},
		{"[1]", "[1]", NULL, NULL},
		{"[1]", "[]", "{\"1\":\"pass\"}", "tester"},
	};
	size_t np = 0;
	for (size_t i = 0; i < h.ndocs; i++) {
		if (strcmp(h.kinds[i], "prompt") != 0)
			continue;
		assert_true(np < METRO_ARRAY_SIZE(want));
		json_t *d = h.docs[i];
		char *p = json_dumps(json_object_get(d, "positions"), JSON_COMPACT);
		char *o = json_dumps(json_object_get(d, "open"), JSON_COMPACT);
		char *dec = json_object_get(d, "decided")
				    ? json_dumps(json_object_get(d, "decided"),
						 JSON_COMPACT | JSON_SORT_KEYS)
				    : NULL;
		if (strcmp(p, want[np][0]) || strcmp(o, want[np][1]) ||
		    (want[np][2] ? !dec || strcmp(dec, want[np][2]) : dec != NULL))
			fprintf(stderr, "prompt %zu: %s %s %s\n", np, p, o, dec ? dec : "-");
		assert_string_equal(p, want[np][0]);
		assert_string_equal(o, want[np][1]);
		if (want[np][2])
			assert_string_equal(dec, want[np][2]);
		else
			assert_null(dec);
		free(p);
		free(o);
		free(dec);
		int closed = json_is_true(json_object_get(d, "closed"));
		assert_int_equal(closed, want[np][3] != NULL);
		if (closed)
			assert_string_equal(json_string_value(json_object_get(d, "operator")),
					    want[np][3]);
		np++;
	}
	assert_int_equal(np, METRO_ARRAY_SIZE(want));
	assert_int_equal(verdict_of(&h, 1)->verdict, METRO_VERDICT_PASS);
	assert_int_equal(verdict_of(&h, 2)->verdict, METRO_VERDICT_FAIL);
	assert_failed_items(verdict_of(&h, 2), "[\"visual\"]");
	assert_int_equal(verdict_of(&h, 3)->verdict, METRO_VERDICT_FAIL);
	assert_failed_items(verdict_of(&h, 3), "[\"leak\"]");
	/* each point says who decided it: position 1's visual by the automated answer */
	const struct metro_point_result *pts[8];
	assert_int_equal(points_of(&h, 1, "visual", pts, 8), 1);
	json_t *v = pts[0]->values;
	assert_string_equal(json_string_value(json_object_get(v, "operator")), "automated");
	assert_string_equal(json_string_value(json_object_get(v, "by")), "automated");
	assert_string_equal(json_string_value(json_object_get(v, "client")), "test-client");
	assert_string_equal(json_string_value(json_object_get(v, "rule")),
			    "automated answer on a simulated rig");
	assert_int_equal(points_of(&h, 2, "visual", pts, 8), 1);
	v = pts[0]->values;
	assert_string_equal(json_string_value(json_object_get(v, "operator")), "tester");
	assert_null(json_object_get(v, "by"));
	assert_string_equal(json_string_value(json_object_get(v, "rule")), "operator judgement");
	teardown_harness(&h);

	/* the prompt times out with position 1 decided: it keeps its fail, 2 and 3 are in
	 * error */
	judge_batch(&h, "1");
	h.answers[0] = "{\"1\": \"fail\"}";
	h.answers[1] = NULL;
	h.nanswers = 2;
	assert_string_equal(metro_engine_run(h.e), "done");
	assert_int_equal(verdict_of(&h, 1)->verdict, METRO_VERDICT_FAIL);
	for (int p = 2; p <= 3; p++) {
		const struct metro_verdict_result *vr = verdict_of(&h, p);
		assert_int_equal(vr->verdict, METRO_VERDICT_ERROR);
		assert_string_equal(
			vr->reason,
			"visual: no answer to prompt visual-1 within the prompt timeout");
	}
	json_t *last = NULL;
	for (size_t i = 0; i < h.ndocs; i++)
		if (!strcmp(h.kinds[i], "prompt"))
			last = h.docs[i];
	assert_true(json_is_true(json_object_get(last, "closed")));
	assert_true(json_is_false(json_object_get(last, "answered")));
	char *o = json_dumps(json_object_get(last, "open"), JSON_COMPACT);
	assert_string_equal(o, "[2,3]");
	free(o);
	teardown_harness(&h);
}

static void test_run_stop_and_abort(void **state)
{
	(void)state;
	struct harness h;
	/* stop while the second prompt waits: the run ends at the next item boundary, a failed
	 * meter keeps its fail, the others end aborted */
	judge_batch(&h, "600");
	h.answers[0] = "{\"1\": \"pass\", \"2\": \"fail\", \"3\": \"pass\"}";
	h.answers[1] = "\"pass\"";
	h.nanswers = 2;
	h.command = "stop";
	h.after_prompts = 1;
	assert_string_equal(metro_engine_run(h.e), "stopped");
	const struct metro_verdict_result *v = verdict_of(&h, 1);
	assert_int_equal(v->verdict, METRO_VERDICT_ABORTED);
	assert_string_equal(v->reason, "run stopped before its end");
	assert_failed_items(v, "[]");
	v = verdict_of(&h, 2);
	assert_int_equal(v->verdict, METRO_VERDICT_FAIL);
	assert_true(v->reason == NULL || v->reason[0] == '\0');
	v = verdict_of(&h, 3);
	assert_int_equal(v->verdict, METRO_VERDICT_ABORTED);
	const struct metro_point_result *pts[8];
	assert_int_equal(points_of(&h, 1, NULL, pts, 8), 2); /* visual, leak; not seal */
	char states[256];
	states_of(&h, states, sizeof states);
	assert_string_equal(states, "starting,running,stopping,done");
	teardown_harness(&h);

	/* abort while a prompt waits: at once */
	judge_batch(&h, "600");
	h.answers[0] = "\"pass\"";
	h.answers[1] = NULL; /* leak: not answered */
	h.nanswers = 2;
	h.command = "abort";
	h.after_prompts = 1;
	assert_string_equal(metro_engine_run(h.e), "aborted");
	for (int p = 1; p <= 3; p++) {
		v = verdict_of(&h, p);
		assert_int_equal(v->verdict, METRO_VERDICT_ABORTED);
		assert_string_equal(v->reason, "run aborted before its end");
		assert_int_equal(points_of(&h, p, NULL, pts, 8), 1);
	}
	states_of(&h, states, sizeof states);
	assert_string_equal(states, "starting,running,aborting,done");
	teardown_harness(&h);
}

static void test_run_unanswered(void **state)
{
	(void)state;
	struct harness h;
	/* the shortest prompt timeout a procedure may set (1 s): nobody answers */
	judge_batch(&h, "1");
	h.nanswers = 0;
	assert_string_equal(metro_engine_run(h.e), "done");
	for (int p = 1; p <= 3; p++) {
		const struct metro_verdict_result *v = verdict_of(&h, p);
		assert_int_equal(v->verdict, METRO_VERDICT_ERROR);
		assert_string_equal(
			v->reason,
			"visual: no answer to prompt visual-1 within the prompt timeout");
		assert_failed_items(v, "[\"visual\"]");
	}
	/* the closing prompt document says it was not answered */
	json_t *last_prompt = NULL;
	for (size_t i = 0; i < h.ndocs; i++)
		if (!strcmp(h.kinds[i], "prompt"))
			last_prompt = h.docs[i];
	assert_true(json_is_true(json_object_get(last_prompt, "closed")));
	assert_true(json_is_false(json_object_get(last_prompt, "answered")));
	assert_null(json_object_get(last_prompt, "operator"));
	teardown_harness(&h);
}

/* A resume-run: committed verdicts of the interrupted run are not run again. */
static void test_run_resumed(void **state)
{
	(void)state;
	struct harness h;
	judge_batch(&h, "600");
	json_error_t je;
	h.b->done = json_loads("{\"1\": {\"visual\": \"fail\"}, \"2\": {\"visual\": \"pass\", "
			       "\"leak\": \"pass\"}, \"3\": {\"visual\": \"conditional\"}}",
			       0, &je);
	assert_non_null(h.b->done);
	h.answers[0] = "\"pass\""; /* leak: asked of 3 only */
	h.answers[1] = "\"pass\""; /* seal: 2 and 3 */
	h.nanswers = 2;
	assert_string_equal(metro_engine_run(h.e), "done");
	/* position 1 failed there: fails here without a question */
	const struct metro_verdict_result *v = verdict_of(&h, 1);
	assert_int_equal(v->verdict, METRO_VERDICT_FAIL);
	assert_failed_items(v, "[\"visual\"]");
	v = verdict_of(&h, 2);
	assert_int_equal(v->verdict, METRO_VERDICT_PASS);
	v = verdict_of(&h, 3);
	assert_int_equal(v->verdict, METRO_VERDICT_CONDITIONAL);
	const struct metro_point_result *pts[8];
	assert_int_equal(points_of(&h, 1, NULL, pts, 8), 0);
	assert_int_equal(points_of(&h, 2, NULL, pts, 8), 1);
	assert_string_equal(pts[0]->item, "seal");
	assert_int_equal(points_of(&h, 3, NULL, pts, 8), 2);
	assert_string_equal(pts[0]->item, "leak");
	assert_string_equal(pts[1]->item, "seal");
	teardown_harness(&h);
}

/* ---- flow points: the water retest (JJG 162) ------------------------------------------------ */

/* The scripted rig hands fixed volumes, not the integral of a flow over time, so the
 * reference check of the plausibility gate is off here (test_plausibility.sh tries it on
 * real benches); the error bound stays on (10 x 2 % is far beyond these meters). */
#define WATER_PROC                                                                              \
	"procedure: {id: test-water, title: t, regulation: {id: JJG 162, edition: \"2019\"},\n" \
	"  meter: water, rig: flow-bench, verification: initial}\n"                             \
	"nameplate:\n"                                                                          \
	"  q3: {unit: m3/h, min: 0.4, max: 100}\n"                                              \
	"  r: {min: 40, max: 1000}\n"                                                           \
	"  class: {values: [\"1\", \"2\"]}\n"                                                   \
	"parameters: {uncertainty_ratio: 1 / 5, plausibility_reference_pct: 0}\n"               \
	"conditions:\n"                                                                         \
	"  - {channel: water.temp, min: 10, max: 30, unit: degC}\n"                             \
	"items:\n"                                                                              \
	"  - id: q3\n"                                                                          \
	"    kind: flow-point\n"                                                                \
	"    flow: q3 * 0.95\n"                                                                 \
	"    window: {min: 0.9 * q3, max: q3}\n"                                                \
	"    stabilise: {channel: flow.actual, band_pct: 5, seconds: 0}\n"                      \
	"    steady_pct: 5\n"                                                                   \
	"    max_temp_change: 5\n"                                                              \
	"    collect: {volume_l: 50, min_seconds: 0}\n"                                         \
	"    formula: volumetric\n"                                                             \
	"    repeat: water-retest\n"                                                            \
	"teardown: safe-state\n"

static void test_water_retest(void **state)
{
	(void)state;
	struct harness h;
	static struct model m;
	memset(&m, 0, sizeof m);
	char meters[1024] = "[";
	for (int p = 1; p <= 6; p++) {
		size_t n = strlen(meters);
		snprintf(meters + n, sizeof meters - n,
			 "%s{\"position\": %d, \"serial\": \"W-%d\", \"nameplate\": {\"q3\": "
			 "\"2.5\", \"r\": \"100\", \"class\": \"2\"}}",
			 p > 1 ? "," : "", p, p);
	}
	strcat(meters, "]");
	setup_batch(&h, WATER_PROC, METRO_RIG_FLOW_BENCH, meters);
	/* Q3 2.5 m3/h, test flow 0.95 Q3 = 2.375 m3/h: between Q2 = 1.6 × 2.5 / 100 = 0.04 and
	 * Q4, the upper zone, where a class 2 meter's MPE is 2 % (water at 20 °C).  Every run
	 * collects 50 L in the reference; E = (Vi - 50) / 50 × 100 %. */
	m.ref_l = 50.0;
	/* 1: 51 L -> E = 1/50 = 2 %: on the MPE, which passes: one run */
	m.ind_l[1][0] = 51.0;
	/* 2: 48.9995 L -> E = -1.0005/50 = -2.001 %: over, two more runs: 49.5 L (-1 %) and
	 *    50.75 L (+1.5 %); both within, mean (-2.001 - 1 + 1.5)/3 = -0.5003333... %: pass */
	m.ind_l[2][0] = 48.9995;
	m.ind_l[2][1] = 49.5;
	m.ind_l[2][2] = 50.75;
	/* 3: 51.0005 L (2.001 %), then 51 L (2 %) and 51 L (2 %): each extra run on the MPE,
	 *    but the mean (2.001 + 2 + 2)/3 = 2.000333... % is over it: fail */
	m.ind_l[3][0] = 51.0005;
	m.ind_l[3][1] = 51.0;
	m.ind_l[3][2] = 51.0;
	/* 4: 51.0005 L (2.001 %), then 50 L (0 %) and 51.0005 L (2.001 %): an extra run over
	 *    the MPE fails, whatever the mean (1.334 %) */
	m.ind_l[4][0] = 51.0005;
	m.ind_l[4][1] = 50.0;
	m.ind_l[4][2] = 51.0005;
	/* 5: 52.5 L -> E = 5 %: far over; two more runs, 50.5 (1 %) and 50.5 (1 %): mean
	 *    (5 + 1 + 1)/3 = 2.333... %: fail */
	m.ind_l[5][0] = 52.5;
	m.ind_l[5][1] = 50.5;
	m.ind_l[5][2] = 50.5;
	/* 6: 49 L -> E = -2 %: on the lower limit: pass at once */
	m.ind_l[6][0] = 49.0;
	attach_rig(&h, "flow-bench", &m);
	start_engine(&h);
	assert_string_equal(metro_engine_run(h.e), "done");

	/* the judgement of the point is that of the mean of the runs (sum / runs) */
	static const struct {
		int runs;
		enum metro_verdict v;
		const char *first, *sum;
	} want[7] = {
		[1] = {1, METRO_VERDICT_PASS, "2", "2"},
		[2] = {3, METRO_VERDICT_PASS, "-2.001", "-1.501"},
		[3] = {3, METRO_VERDICT_FAIL, "2.001", "6.001"},
		[4] = {3, METRO_VERDICT_FAIL, "2.001", "4.002"},
		[5] = {3, METRO_VERDICT_FAIL, "5", "7"},
		[6] = {1, METRO_VERDICT_PASS, "-2", "-2"},
	};
	for (int p = 1; p <= 6; p++) {
		const struct metro_point_result *pts[8];
		size_t n = points_of(&h, p, "q3", pts, 8);
		/* one result per run: the runs before the last are pending (no verdict) */
		assert_int_equal(n, (size_t)want[p].runs);
		for (size_t k = 0; k < n; k++) {
			assert_int_equal(pts[k]->attempt, (int)k + 1);
			assert_int_equal(pts[k]->pending, k + 1 < n);
		}
		const struct metro_point_result *last = pts[n - 1];
		assert_int_equal(last->verdict, want[p].v);
		assert_int_equal(last->judged, 1);
		assert_dec(last->judgement.mpe, "2");
		struct metro_dec mean = metro_dec_div(D(want[p].sum), metro_dec_e(want[p].runs, 0));
		assert_int_equal(metro_dec_cmp(last->judgement.value, mean), 0);
		assert_true(json_is_number(json_object_get(last->values, "mean")));
		assert_int_equal(json_array_size(json_object_get(last->values, "runs")), n);
		if (n > 1) {
			/* the first run asked for two more, and said so */
			assert_int_equal(
				json_integer_value(json_object_get(pts[0]->values, "needs_more")),
				2);
			assert_null(json_object_get(pts[1]->values, "needs_more"));
		}
		/* the first run's exact error and the volumes it came from */
		json_t *lr = json_object_get(pts[0]->values, "last_run");
		/* (JSON numbers written from the exact decimal text) */
		assert_true(json_number_value(json_object_get(lr, "error")) ==
			    strtod(want[p].first, NULL));
		assert_true(json_number_value(json_object_get(pts[0]->values, "reference_l")) ==
			    50);
		assert_string_equal(json_string_value(json_object_get(pts[0]->values, "zone")),
				    "upper");
		const struct metro_verdict_result *v = verdict_of(&h, p);
		assert_int_equal(v->verdict, want[p].v);
		assert_failed_items(v, want[p].v == METRO_VERDICT_FAIL ? "[\"q3\"]" : "[]");
	}
	/* the rig measured three times; the positions decided after one run were not read
	 * again */
	for (int p = 1; p <= 6; p++)
		assert_int_equal(m.reads[p], want[p].runs);
	teardown_harness(&h);
}

/* ---- electricity: load points (JJG 596 mean of two, 80-120 % band) and the constant test --- */

#define ELEC_PROC                                                                              \
	"procedure: {id: test-elec, title: t, regulation: {id: JJG 596, edition: \"2012\"},\n" \
	"  meter: electricity, rig: electricity-bench, verification: initial}\n"               \
	"nameplate:\n"                                                                         \
	"  un: {unit: V, min: 57.7, max: 480}\n"                                               \
	"  ib: {unit: A, min: 0.05, max: 100}\n"                                               \
	"  imax: {unit: A, min: 0.1, max: 200}\n"                                              \
	"  meter_constant: {unit: imp/kWh, min: 1, max: 1000000}\n"                            \
	"  class: {values: [\"0.2S\", \"0.5S\", \"1\", \"2\"]}\n"                              \
	"  connection: {values: [direct, ct]}\n"                                               \
	"  phases: {values: [\"1\", \"3\", \"3w\"]}\n"                                         \
	"  register_resolution: {unit: kWh, min: 0.0001, max: 1}\n"                            \
	"  clock: {values: [\"yes\", \"no\"]}\n"                                               \
	"parameters: {uncertainty_ratio: 1 / 3}\n"                                             \
	"items:\n"                                                                             \
	"%s"                                                                                   \
	"teardown: safe-state\n"

#define LOAD_ITEM                                                                                 \
	"  - {id: ib-1.0, kind: load-point, current: ib, voltage: un, pf: \"1.0\", min_seconds: " \
	"10,\n     settle_seconds: 0, formula: pulse, repeat: electricity-mean}\n"
#define CONSTANT_ITEM                                                                      \
	"  - {id: constant, kind: constant-test, current: ib, voltage: un, pf: \"1.0\",\n" \
	"     energy_kwh: 0.5, limit_pct: %s, settle_seconds: 0, register: %s,\n"          \
	"     resolution_kwh: register_resolution, resolution_ratio: 1 / 10}\n"
#define TIMING_ITEM                                                                       \
	"  - {id: timing, kind: timing-test, runs: 3, gate_seconds: 2, limit_s_per_day: " \
	"0.5}\n"

/* the class and the clock of the meters of elec_batch (position p has no clock when
 * no_clock[p]) */
static const char *elec_class = "1";
static int no_clock[MAXPOS + 1];

#define CREEP_ITEM "  - {id: creep, kind: creep-test%s}\n"

static void elec_batch(struct harness *h, const char *items, int npos, struct model *m)
{
	char *yaml = metro_asprintf(ELEC_PROC, items);
	char meters[2048] = "[";
	for (int p = 1; p <= npos; p++) {
		size_t n = strlen(meters);
		snprintf(meters + n, sizeof meters - n,
			 "%s{\"position\": %d, \"serial\": \"E-%d\", \"nameplate\": {\"un\": "
			 "\"220\", \"ib\": \"5\", \"imax\": \"60\", \"meter_constant\": \"1200\", "
			 "\"class\": \"%s\", \"connection\": \"direct\", \"phases\": \"1\", "
			 "\"register_resolution\": \"0.01\", \"clock\": \"%s\"}}",
			 p > 1 ? "," : "", p, p, elec_class, no_clock[p] ? "no" : "yes");
	}
	strcat(meters, "]");
	setup_batch(h, yaml, METRO_RIG_ELECTRICITY_BENCH, meters);
	free(yaml);
	attach_rig(h, "electricity-bench", m);
	start_engine(h);
}

static void test_load_point_band(void **state)
{
	(void)state;
	struct harness h;
	static struct model m;
	memset(&m, 0, sizeof m);
	/* Meter pulses N = ceil(t·U·I·cos φ·C / 3.6e6) = ceil(10 × 220 × 5 × 1 × 1200 / 3.6e6)
	 * = ceil(3.67) = 4.  With the reference constant C0 = 1,286,598,600 imp/kWh the computed
	 * reference pulses are m0 = C0·N/C = 1286598600 × 4 / 1200 = 4,288,662, and a calculator
	 * that counts m reference pulses gives γ = (m0 - m)/m × 100 %:
	 *   m = 4,288,662  ->  0 %
	 *   m = 4,254,625  ->  4288662/4254625 = 1.008     ->  0.8 %
	 *   m = 4,246,200  ->  4288662/4246200 = 1.01      ->  1.0 %
	 *   m = 4,242,000  ->  4288662/4242000 = 1.011     ->  1.1 %
	 * Class 1 at Ib, cos φ = 1: MPE 1.0 %, rounding interval 0.1 %, band 0.8 .. 1.2 %. */
	m.c0 = 1286598600.0;
	const double g0 = 4288662, g08 = 4254625, g10 = 4246200, g11 = 4242000;
	/* 1: 0, 0: mean 0, outside the band: two readings, pass */
	m.ref_pulses[1][0] = g0;
	m.ref_pulses[1][1] = g0;
	/* 2: 1.0, 1.0: mean 1.0 in the band: two more, 1.1 and 1.1; mean of four 1.05, rounded
	 *    half to even to 1.0 (10.5 intervals -> 10): on the MPE, pass */
	m.ref_pulses[2][0] = g10;
	m.ref_pulses[2][1] = g10;
	m.ref_pulses[2][2] = g11;
	m.ref_pulses[2][3] = g11;
	/* 3: 1.1 four times: mean 1.1, rounded 1.1 > 1.0: fail */
	for (int k = 0; k < 4; k++)
		m.ref_pulses[3][k] = g11;
	/* 4: 0.8, 0.8: mean 0.8, the band's lower edge (inclusive): two more, 0 and 0; mean
	 *    0.4: pass after four */
	m.ref_pulses[4][0] = g08;
	m.ref_pulses[4][1] = g08;
	m.ref_pulses[4][2] = g0;
	m.ref_pulses[4][3] = g0;
	/* 5: 1.1, 0.0: mean 0.55, below the band: two readings, pass */
	m.ref_pulses[5][0] = g11;
	m.ref_pulses[5][1] = g0;
	elec_batch(&h, LOAD_ITEM, 5, &m);
	assert_string_equal(metro_engine_run(h.e), "done");

	static const struct {
		int readings, band;
		enum metro_verdict v;
		const char *mean, *rounded;
	} want[6] = {
		[1] = {2, 0, METRO_VERDICT_PASS, "0", "0"},
		[2] = {4, 1, METRO_VERDICT_PASS, "1.05", "1"},
		[3] = {4, 1, METRO_VERDICT_FAIL, "1.1", "1.1"},
		[4] = {4, 1, METRO_VERDICT_PASS, "0.4", "0.4"},
		[5] = {2, 0, METRO_VERDICT_PASS, "0.55", "0.6"},
	};
	for (int p = 1; p <= 5; p++) {
		/* the calculator ran once per reading, with N = 4 and the meter's constant */
		assert_int_equal(m.calc_k[p], want[p].readings);
		assert_true(stored_pos("pulses_n", p) == 4);
		assert_true(stored_pos("meter_constant", p) == 1200);
		const struct metro_point_result *pts[8];
		assert_int_equal(points_of(&h, p, "ib-1.0", pts, 8), 1);
		const struct metro_point_result *r = pts[0];
		assert_int_equal(r->verdict, want[p].v);
		assert_int_equal(r->judged, 1);
		assert_int_equal(r->judgement.rule, METRO_MX_RULE_ROUNDED);
		assert_dec(r->judgement.mpe, "1");
		assert_dec(r->judgement.interval, "0.1");
		assert_dec(r->judgement.value, want[p].mean);
		assert_dec(r->judgement.rounded, want[p].rounded);
		assert_int_equal(json_array_size(json_object_get(r->values, "readings")),
				 (size_t)want[p].readings);
		assert_int_equal(json_is_true(json_object_get(r->values, "band_80_120")),
				 want[p].band);
		assert_int_equal(json_integer_value(json_object_get(r->values, "meter_pulses")), 4);
		assert_int_equal(verdict_of(&h, p)->verdict, want[p].v);
	}
	teardown_harness(&h);
}

/* The register test: start and stop readings of each register against the standard's energy,
 * with an energy run long enough for the register's step against the limit. */
static void test_constant_test(void **state)
{
	(void)state;
	struct harness h;
	static struct model m;
	memset(&m, 0, sizeof m);
	/* A 0.01 kWh register against 1 %, one step at most 1/10 of the limit: 10 kWh
	 * (energy_kwh 0.5 is only the floor).  The registers start at 1234.56 kWh and register:
	 *   10.00 kWh ->  0 %    pass
	 *   10.10     -> +1 %    pass (on the limit)
	 *   10.11     -> +1.1 %  fail
	 *    9.90     -> -1 %    pass
	 *    9.89     -> -1.1 %  fail */
	m.e_run = 10000.0;
	static const double reg[6] = {0, 10.00, 10.10, 10.11, 9.90, 9.89};
	for (int p = 1; p <= 5; p++) {
		m.reg0[p] = 1234.56;
		m.reg_run[p] = reg[p];
		m.pulses_run[p] = 12000;
	}
	char *item = metro_asprintf(CONSTANT_ITEM, "1", "rig");
	elec_batch(&h, item, 5, &m);
	free(item);
	assert_string_equal(metro_engine_run(h.e), "done");
	static const struct {
		enum metro_verdict v;
		const char *error;
	} want[6] = {
		[1] = {METRO_VERDICT_PASS, "0"},    [2] = {METRO_VERDICT_PASS, "1"},
		[3] = {METRO_VERDICT_FAIL, "1.1"},  [4] = {METRO_VERDICT_PASS, "-1"},
		[5] = {METRO_VERDICT_FAIL, "-1.1"},
	};
	for (int p = 1; p <= 5; p++) {
		const struct metro_point_result *pts[4];
		assert_int_equal(points_of(&h, p, "constant", pts, 4), 1);
		const struct metro_point_result *r = pts[0];
		assert_int_equal(r->verdict, want[p].v);
		assert_int_equal(r->judgement.rule, METRO_MX_RULE_FULL);
		assert_dec(r->judgement.mpe, "1");
		assert_dec(r->judgement.value, want[p].error);
		/* the evidence: both readings, the energies, the resolution, the limit */
		char *text = json_dumps(r->values,
					JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(12));
		assert_non_null(strstr(
			text, "\"energy_kwh\":10,\"limit_pct\":1,\"limit_source\":\"procedure\""));
		assert_non_null(strstr(text, "\"start_kwh\":1234.56,"));
		assert_non_null(strstr(text, "\"reference_kwh\":10,"));
		assert_non_null(strstr(text, "\"resolution_kwh\":0.01,"));
		assert_non_null(strstr(text, "\"readings\":\"rig\""));
		free(text);
	}
	teardown_harness(&h);
}

/* limit_pct: class takes the class MPE at the test's load (class 2 at Ib, PF 1: 2 %), and
 * with it the energy (0.01 kWh / (1/10 × 2 %) = 5 kWh); typed registers come from prompts. */
static void test_register_class_typed(void **state)
{
	(void)state;
	struct harness h;
	static struct model m;
	memset(&m, 0, sizeof m);
	m.e_run = 5000.0;
	elec_class = "2";
	char *item = metro_asprintf(CONSTANT_ITEM, "class", "operator");
	elec_batch(&h, item, 3, &m);
	free(item);
	elec_class = "1";
	/* start readings, then stop readings: +2 % passes, +2.2 % fails; position 3 gives no
	 * stop reading and is put in error, never passed */
	h.answers[0] = "{\"1\": \"100\", \"2\": \"200.00\", \"3\": \"7\"}";
	h.answers[1] = "{\"1\": \"105.10\", \"2\": \"205.11\"}";
	h.nanswers = 2;
	assert_string_equal(metro_engine_run(h.e), "done");
	assert_int_equal(h.answered, 2);
	const struct metro_point_result *pts[4];
	assert_int_equal(points_of(&h, 1, "constant", pts, 4), 1);
	assert_int_equal(pts[0]->verdict, METRO_VERDICT_PASS);
	assert_dec(pts[0]->judgement.mpe, "2");
	assert_dec(pts[0]->judgement.value, "2");
	char *text =
		json_dumps(pts[0]->values, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(12));
	assert_non_null(strstr(text, "\"energy_kwh\":5,"));
	assert_non_null(strstr(text, "\"limit_source\":\"class\""));
	assert_non_null(strstr(text, "\"readings\":\"operator\""));
	assert_non_null(strstr(text, "\"stop_typed_by\":\"tester\""));
	assert_non_null(strstr(text, "\"stop_kwh\":105.1,"));
	free(text);
	assert_int_equal(points_of(&h, 2, "constant", pts, 4), 1);
	assert_int_equal(pts[0]->verdict, METRO_VERDICT_FAIL);
	assert_dec(pts[0]->judgement.value, "2.2");
	assert_int_equal(points_of(&h, 3, "constant", pts, 4), 1);
	assert_int_equal(pts[0]->verdict, METRO_VERDICT_ERROR);
	assert_int_equal(verdict_of(&h, 3)->verdict, METRO_VERDICT_ERROR);
	teardown_harness(&h);
}

/* The daily timing error: `runs` readings of each clock calculator, the mean judged against
 * ±limit; a meter without a clock is not tested; a calculator error is an error. */
static void test_timing_test(void **state)
{
	(void)state;
	struct harness h;
	static struct model m;
	memset(&m, 0, sizeof m);
	static const double clk[6][3] = {
		[1] = {0.1, 0.2, 0.3},	  /* mean 0.2: pass */
		[2] = {0.5, 0.5, 0.5},	  /* 0.5: on the limit, pass */
		[3] = {0.5, 0.5, 0.5003}, /* 0.5001: fail */
		[4] = {-0.6, -0.5, -0.7}, /* -0.6: fail */
	};
	for (int p = 1; p <= 5; p++)
		for (int k = 0; k < 3; k++)
			m.clock[p][k] = clk[p][k];
	m.clk_fail[5] = 1;
	memset(no_clock, 0, sizeof no_clock);
	no_clock[6] = 1; /* position 6: no clock, no timing test */
	elec_batch(&h, TIMING_ITEM, 6, &m);
	memset(no_clock, 0, sizeof no_clock);
	assert_string_equal(metro_engine_run(h.e), "done");
	static const struct {
		enum metro_verdict v;
		const char *mean;
	} want[5] = {
		[1] = {METRO_VERDICT_PASS, "0.2"},
		[2] = {METRO_VERDICT_PASS, "0.5"},
		[3] = {METRO_VERDICT_FAIL, "0.5001"},
		[4] = {METRO_VERDICT_FAIL, "-0.6"},
	};
	for (int p = 1; p <= 4; p++) {
		const struct metro_point_result *pts[4];
		assert_int_equal(points_of(&h, p, "timing", pts, 4), 1);
		assert_int_equal(pts[0]->verdict, want[p].v);
		assert_dec(pts[0]->judgement.value, want[p].mean);
		assert_dec(pts[0]->judgement.mpe, "0.5");
		assert_int_equal(json_array_size(json_object_get(pts[0]->values, "readings")), 3);
		assert_int_equal(m.clk_k[p], 3); /* three gates, each armed once */
		assert_true(stored_pos("clock_gate", p) == 2);
	}
	const struct metro_point_result *pts[4];
	assert_int_equal(points_of(&h, 5, "timing", pts, 4), 1);
	assert_int_equal(pts[0]->verdict, METRO_VERDICT_ERROR);
	assert_int_equal(points_of(&h, 6, "timing", pts, 4), 0);
	assert_int_equal(m.clk_k[6], 0);
	assert_int_equal(verdict_of(&h, 6)->verdict, METRO_VERDICT_PASS);
	teardown_harness(&h);
}

/* The creep test allows the procedure's allowed_pulses (one when it does not say), counted
 * over the creep time at 115 % Un with no current, and records its evidence. */
static void creep_run(const char *allowance, long allowed, const enum metro_verdict want[4])
{
	struct harness h;
	static struct model m;
	memset(&m, 0, sizeof m);
	/* positions 1..3 give 0, 1 and 2 pulses in the creep time */
	for (int p = 1; p <= 3; p++)
		m.creep[p] = p - 1;
	char *item = metro_asprintf(CREEP_ITEM, allowance);
	elec_batch(&h, item, 3, &m);
	free(item);
	assert_string_equal(metro_engine_run(h.e), "done");
	/* class 1 direct, C = 1200 imp/kWh, Un = 220 V, Imax = 60 A, single-phase:
	 * Δt = 600 × 10^6 / (1200 × 1 × 220 × 60) = 37.878... min at 253 V */
	const double dt = 600e6 / (1200.0 * 220 * 60);
	for (int p = 1; p <= 3; p++) {
		const struct metro_point_result *pts[4];
		assert_int_equal(points_of(&h, p, "creep", pts, 4), 1);
		const struct metro_point_result *r = pts[0];
		assert_int_equal(r->verdict, want[p]);
		assert_int_equal(verdict_of(&h, p)->verdict, want[p]);
		json_t *v = r->values;
		assert_int_equal(json_integer_value(json_object_get(v, "pulses")), p - 1);
		assert_int_equal(json_integer_value(json_object_get(v, "allowed_pulses")), allowed);
		assert_true(fabs(json_real_value(json_object_get(v, "time_min")) - dt) < 1e-9);
		/* watched for the creep time, up to one look's jitter (poll 0.05 s × 1000) */
		double w = json_real_value(json_object_get(v, "watched_min"));
		assert_true(w >= dt && w < dt + 1.0);
		char *u = json_dumps(json_object_get(v, "applied_voltage_v"), JSON_ENCODE_ANY);
		char *i = json_dumps(json_object_get(v, "applied_current_a"), JSON_ENCODE_ANY);
		assert_int_equal(metro_dec_cmp(D(u), D("253")), 0);
		assert_int_equal(metro_dec_cmp(D(i), D("0")), 0);
		free(u);
		free(i);
	}
	teardown_harness(&h);
}

static void test_creep_allowance(void **state)
{
	(void)state;
	const enum metro_verdict one[4] = {0, METRO_VERDICT_PASS, METRO_VERDICT_PASS,
					   METRO_VERDICT_FAIL};
	const enum metro_verdict none[4] = {0, METRO_VERDICT_PASS, METRO_VERDICT_FAIL,
					    METRO_VERDICT_FAIL};
	creep_run(", allowed_pulses: 1", 1, one);
	creep_run(", allowed_pulses: 0", 0, none);
	creep_run("", 1, one); /* the default: one pulse */
}

/* ---- measurement items, item guards and guarded conditions (JJG 577 / JJG 162) ---------- */

/* A water procedure with a measurement of the bench's water.pressure (the scripted rig reads
 * 300 kPa) judged against a limit over each meter's Q3, or typed by the operator; a judgement
 * for meters of one kind only; and CONDITION as its one condition. */
static char *measure_proc(const char *items, const char *condition)
{
	return metro_asprintf(
		"procedure: {id: test-measure, title: t, regulation: {id: JJG 162, edition: "
		"\"2019\"},\n  meter: water, rig: flow-bench, verification: initial}\n"
		"nameplate:\n  q3: {unit: m3/h, min: 0.4, max: 100}\n  r: {min: 40, max: 1000}\n"
		"  class: {values: [\"1\", \"2\"]}\n  electronic: {values: [\"no\", \"yes\"]}\n"
		"parameters: {uncertainty_ratio: 1 / 5, prompt_timeout_s: 1}\n"
		"conditions:\n%s\nitems:\n%s\nteardown: safe-state\n",
		condition, items);
}

static const char measure_meters[] =
	"[{\"position\": 1, \"serial\": \"W-1\", \"nameplate\": {\"q3\": \"2.5\", \"r\": \"100\", "
	"\"class\": \"2\", \"electronic\": \"yes\"}},"
	" {\"position\": 2, \"serial\": \"W-2\", \"nameplate\": {\"q3\": \"4\", \"r\": \"100\", "
	"\"class\": \"2\", \"electronic\": \"no\"}}]";

static const char *str_of(json_t *v)
{
	static char buf[256];
	char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	snprintf(buf, sizeof buf, "%s", t ? t : "null");
	free(t);
	return buf;
}

static void test_measurement_channel(void **state)
{
	(void)state;
	struct harness h;
	static struct model m;
	memset(&m, 0, sizeof m);
	/* 300 kPa against q3 * 100: 250 for W-1 (fails), 400 for W-2 (passes); the function
	 * check asks W-1 only (electronic: yes) */
	char *yaml = measure_proc(
		"  - {id: function, kind: judgement, prompt: works?, only: {electronic: \"yes\"}}\n"
		"  - {id: press, kind: measurement, unit: kPa, channel: water.pressure, count: 3, "
		"interval_s: 0, limits: {min: 0, max: \"q3 * 100\"}}",
		"  - {channel: water.temp, min: 10, max: 30, unit: degC}");
	setup_batch(&h, yaml, METRO_RIG_FLOW_BENCH, measure_meters);
	free(yaml);
	attach_rig(&h, "flow-bench", &m);
	start_engine(&h);
	h.answers[0] = "\"pass\"";
	h.nanswers = 1;
	assert_string_equal(metro_engine_run(h.e), "done");
	const struct metro_point_result *pts[8];
	/* the function check: W-1 only, the prompt named position 1 only */
	assert_int_equal(points_of(&h, 1, "function", pts, 8), 1);
	assert_int_equal(points_of(&h, 2, "function", pts, 8), 0);
	for (size_t i = 0; i < h.ndocs; i++)
		if (!strcmp(h.kinds[i], "prompt"))
			assert_string_equal(str_of(json_object_get(h.docs[i], "positions")), "[1]");
	assert_int_equal(points_of(&h, 1, "press", pts, 8), 1);
	assert_string_equal(pts[0]->item_kind, "measurement");
	assert_int_equal(pts[0]->verdict, METRO_VERDICT_FAIL);
	assert_false(pts[0]->judged);
	assert_string_equal(str_of(json_object_get(pts[0]->values, "readings")), "[300,300,300]");
	assert_string_equal(str_of(json_object_get(pts[0]->values, "mean")), "300");
	assert_string_equal(str_of(json_object_get(pts[0]->values, "limits")),
			    "{\"min\":0,\"max\":250}");
	assert_string_equal(str_of(json_object_get(pts[0]->values, "unit")), "\"kPa\"");
	assert_string_equal(str_of(json_object_get(pts[0]->values, "channel")),
			    "\"water.pressure\"");
	assert_int_equal(points_of(&h, 2, "press", pts, 8), 1);
	assert_int_equal(pts[0]->verdict, METRO_VERDICT_PASS);
	assert_string_equal(str_of(json_object_get(pts[0]->values, "limits")),
			    "{\"min\":0,\"max\":400}");
	assert_int_equal(verdict_of(&h, 1)->verdict, METRO_VERDICT_FAIL);
	assert_failed_items(verdict_of(&h, 1), "[\"press\"]");
	assert_int_equal(verdict_of(&h, 2)->verdict, METRO_VERDICT_PASS);
	teardown_harness(&h);
}

static void test_measurement_typed(void **state)
{
	(void)state;
	struct harness h;
	static struct model m;
	memset(&m, 0, sizeof m);
	char *yaml = measure_proc("  - {id: dp, kind: measurement, unit: Pa, readings: operator, "
				  "prompt: Read the manometer, count: 2, interval_s: 0, "
				  "limits: {max: 200}}",
				  "  - {channel: water.temp, min: 10, max: 30, unit: degC}");
	setup_batch(&h, yaml, METRO_RIG_FLOW_BENCH, measure_meters);
	free(yaml);
	attach_rig(&h, "flow-bench", &m);
	start_engine(&h);
	/* W-1: 150 and 250.5, mean 200.25 > 200 fails; W-2: 199.5 and 200.5, mean 200 passes
	 * (the limit itself passes) */
	h.answers[0] = "{\"1\": \"150\", \"2\": \"199.5\"}";
	h.answers[1] = "{\"1\": \"250.5\", \"2\": 200.5}";
	h.nanswers = 2;
	assert_string_equal(metro_engine_run(h.e), "done");
	assert_int_equal(h.answered, 2);
	const struct metro_point_result *pts[8];
	assert_int_equal(points_of(&h, 1, "dp", pts, 8), 1);
	assert_int_equal(pts[0]->verdict, METRO_VERDICT_FAIL);
	assert_string_equal(str_of(json_object_get(pts[0]->values, "mean")), "200.25");
	assert_string_equal(str_of(json_object_get(pts[0]->values, "readings_typed_by")),
			    "[\"tester\",\"tester\"]");
	assert_int_equal(points_of(&h, 2, "dp", pts, 8), 1);
	assert_int_equal(pts[0]->verdict, METRO_VERDICT_PASS);
	assert_string_equal(str_of(json_object_get(pts[0]->values, "mean")), "200");
	/* the prompt asks for readings in the item's unit */
	int asked = 0;
	for (size_t i = 0; i < h.ndocs; i++)
		if (!strcmp(h.kinds[i], "prompt") &&
		    !json_is_true(json_object_get(h.docs[i], "closed"))) {
			assert_string_equal(str_of(json_object_get(h.docs[i], "kind")),
					    "\"readings\"");
			assert_string_equal(str_of(json_object_get(h.docs[i], "unit")), "\"Pa\"");
			asked++;
		}
	assert_int_equal(asked, 2);
	teardown_harness(&h);

	/* a position left out of an answer is in error, never judged */
	memset(&m, 0, sizeof m);
	yaml = measure_proc("  - {id: dp, kind: measurement, unit: Pa, readings: operator, "
			    "prompt: Read the manometer, limits: {max: 200}}",
			    "  - {channel: water.temp, min: 10, max: 30, unit: degC}");
	setup_batch(&h, yaml, METRO_RIG_FLOW_BENCH, measure_meters);
	free(yaml);
	attach_rig(&h, "flow-bench", &m);
	start_engine(&h);
	h.answers[0] = "{\"2\": \"120\"}";
	h.nanswers = 1;
	assert_string_equal(metro_engine_run(h.e), "done");
	assert_int_equal(verdict_of(&h, 1)->verdict, METRO_VERDICT_ERROR);
	assert_int_equal(verdict_of(&h, 2)->verdict, METRO_VERDICT_PASS);
	teardown_harness(&h);
}

/* A condition with a guard applies only when the guard holds for the batch: water.temp (20)
 * outside 25..30 suspends the run (and, never recovering, ends it in a fault) when q3 <= 10,
 * and is ignored when the guard asks for q3 >= 10. */
static void test_condition_guard(void **state)
{
	(void)state;
	static const char items[] = "  - {id: press, kind: measurement, unit: kPa, channel: "
				    "water.pressure, limits: {max: 1000}}";
	static const char meters[] =
		"[{\"position\": 1, \"serial\": \"W-1\", \"nameplate\": {\"q3\": \"2.5\", \"r\": "
		"\"100\", \"class\": \"2\", \"electronic\": \"no\"}}]";
	for (int applies = 0; applies < 2; applies++) {
		struct harness h;
		static struct model m;
		memset(&m, 0, sizeof m);
		char *yaml = measure_proc(
			items,
			applies ? "  - {channel: water.temp, min: 25, max: 30, when: {value: "
				  "q3, max: 10}}"
				: "  - {channel: water.temp, min: 25, max: 30, when: {value: "
				  "q3, min: 10}}");
		setup_batch(&h, yaml, METRO_RIG_FLOW_BENCH, meters);
		free(yaml);
		attach_rig(&h, "flow-bench", &m);
		start_engine(&h);
		const char *end = metro_engine_run(h.e);
		char states[256];
		states_of(&h, states, sizeof states);
		if (applies) {
			assert_string_equal(end, "error");
			assert_non_null(strstr(states, "suspended"));
			assert_non_null(strstr(h.e->fault, "water.temp = 20 outside 25..30"));
			assert_int_equal(verdict_of(&h, 1)->verdict, METRO_VERDICT_ERROR);
		} else {
			assert_string_equal(end, "done");
			assert_null(strstr(states, "suspended"));
			assert_int_equal(verdict_of(&h, 1)->verdict, METRO_VERDICT_PASS);
		}
		teardown_harness(&h);
	}
}

int main(void)
{
	tu_srcdir();
	metro_log_set_level(METRO_LOG_ERR - 1); /* rig faults are provoked on purpose */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_rounding_helpers),
		cmocka_unit_test(test_readings),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_point_aggregation),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_run_judgements),
		cmocka_unit_test(test_run_partial),
		cmocka_unit_test(test_run_stop_and_abort),
		cmocka_unit_test(test_run_unanswered),
		cmocka_unit_test(test_run_resumed),
		cmocka_unit_test(test_water_retest),
		cmocka_unit_test(test_load_point_band),
		cmocka_unit_test(test_constant_test),
		cmocka_unit_test(test_register_class_typed),
		cmocka_unit_test(test_timing_test),
		cmocka_unit_test(test_creep_allowance),
		cmocka_unit_test(test_measurement_channel),
		cmocka_unit_test(test_measurement_typed),
		cmocka_unit_test(test_condition_guard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
