/* Unit tests of the certificate validity rules (procedure `certificate.validity`): the shipped
 * procedures decide by nominal diameter and Q3 (water), by accuracy class (electricity) and by
 * gas medium (gas), at and beside every boundary; the first matching rule wins; a meter no
 * rule matches gets no rule, and a batch with such a meter is refused, naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "error.h"
#include "procedure.h"
#include "testutil.h"
#include "util.h"

static struct metro_procedure *load(const char *path)
{
	struct metro_procedure *p = NULL;
	struct metro_diag d;
	metro_diag_init(&d);
	int err = metro_procedure_load(path, &d, &p);
	metro_diag_print(&d, stderr);
	metro_diag_free(&d);
	assert_int_equal(err, 0);
	return p;
}

/* Nameplate "k=v,k=v" for the rule lookup. */
struct np {
	char text[8][2][32];
	int n;
};

static const char *np_value(const char *field, void *arg)
{
	struct np *np = arg;
	for (int i = 0; i < np->n; i++)
		if (!strcmp(np->text[i][0], field))
			return np->text[i][1];
	return NULL;
}

static const struct metro_cert_rule *rule_for(const struct metro_procedure *p, const char *spec)
{
	struct np np = {.n = 0};
	char buf[256];
	snprintf(buf, sizeof buf, "%s", spec);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		assert_non_null(eq);
		*eq = '\0';
		snprintf(np.text[np.n][0], sizeof np.text[0][0], "%s", tok);
		snprintf(np.text[np.n][1], sizeof np.text[0][1], "%s", eq + 1);
		np.n++;
	}
	return metro_procedure_cert_rule(p, np_value, &np);
}

/* "life 6", "months 24" or "none": what a rule gives. */
static const char *said(const struct metro_cert_rule *r)
{
	static char buf[32];
	if (!r)
		return "none";
	if (r->service_life_years)
		snprintf(buf, sizeof buf, "life %ld", r->service_life_years);
	else
		snprintf(buf, sizeof buf, "months %ld", r->valid_months);
	return buf;
}

static void test_water_by_diameter(void **state)
{
	(void)state;
	static const char *const files[] = {"procedures/jjg162-water-initial.yaml",
					    "procedures/jjg162-water-initial-typed.yaml"};
	for (size_t f = 0; f < METRO_ARRAY_SIZE(files); f++) {
		struct metro_procedure *p = load(files[f]);
		assert_non_null(metro_procedure_field(p, "dn"));
		assert_int_equal(p->cert_valid_months, 0);
		assert_int_equal(p->ncert_rules, 3);
		assert_string_equal(said(rule_for(p, "dn=15,q3=2.5")), "life 6");
		assert_string_equal(said(rule_for(p, "dn=25,q3=16")), "life 6");
		assert_string_equal(said(rule_for(p, "dn=25.5,q3=16")), "life 4");
		assert_string_equal(said(rule_for(p, "dn=32,q3=6.3")), "life 4");
		assert_string_equal(said(rule_for(p, "dn=50,q3=16")), "life 4");
		/* periodic: larger than DN 50 or Q3 above 16 */
		assert_string_equal(said(rule_for(p, "dn=51,q3=16")), "months 24");
		assert_string_equal(said(rule_for(p, "dn=25,q3=16.01")), "months 24");
		assert_string_equal(said(rule_for(p, "dn=80,q3=40")), "months 24");
		/* the rule's own note replaces the certificate's */
		assert_non_null(rule_for(p, "dn=15,q3=2.5")->note);
		assert_non_null(strstr(rule_for(p, "dn=80,q3=40")->note, "Periodic"));
		/* a diameter that is not a number matches no condition on it */
		assert_string_equal(said(rule_for(p, "dn=abc,q3=2.5")), "months 24");
		metro_procedure_destroy(&p);
	}
	/* in service: no new validity, the nameplate still carries dn */
	struct metro_procedure *p = load("procedures/jjg162-water-in-service.yaml");
	assert_non_null(metro_procedure_field(p, "dn"));
	assert_int_equal(p->ncert_rules, 0);
	assert_int_equal(p->cert_valid_months, 0);
	metro_procedure_destroy(&p);
}

static void test_electricity_by_class(void **state)
{
	(void)state;
	struct metro_procedure *p = load("procedures/jjg596-electricity-initial.yaml");
	assert_string_equal(said(rule_for(p, "class=1")), "months 96");
	assert_string_equal(said(rule_for(p, "class=2")), "months 96");
	/* 0.2S / 0.5S meters are outside this procedure (direct connection, classes 1 and 2):
	 * no rule gives them a period, so a certificate for one is refused, not guessed */
	assert_string_equal(said(rule_for(p, "class=0.5S")), "none");
	assert_string_equal(said(rule_for(p, "class=0.2S")), "none");
	assert_string_equal(said(rule_for(p, "class=0.5")), "none");
	metro_procedure_destroy(&p);
	/* in service: the same periods by class */
	p = load("procedures/jjg596-electricity-in-service.yaml");
	assert_string_equal(said(rule_for(p, "class=1")), "months 96");
	assert_string_equal(said(rule_for(p, "class=2")), "months 96");
	assert_string_equal(said(rule_for(p, "un=220")), "none"); /* no class recorded */
	metro_procedure_destroy(&p);
}

static void test_gas_by_medium(void **state)
{
	(void)state;
	struct metro_procedure *p = load("procedures/jjg577-gas-initial.yaml");
	const struct metro_proc_field *m = metro_procedure_field(p, "medium");
	assert_non_null(m);
	assert_true(m->is_text);
	assert_string_equal(said(rule_for(p, "medium=natural-gas")), "life 10");
	assert_string_equal(said(rule_for(p, "medium=manufactured-gas")), "life 6");
	assert_string_equal(said(rule_for(p, "medium=lpg")), "life 6");
	assert_string_equal(said(rule_for(p, "medium=biogas")), "none");
	metro_procedure_destroy(&p);
	p = load("procedures/jjg577-gas-in-service.yaml");
	assert_non_null(metro_procedure_field(p, "medium"));
	metro_procedure_destroy(&p);
}

/* A procedure whose rules cover only DN ≤ 25: a DN 40 meter is refused by the batch. */
static const char partial[] =
	"procedure: {id: t, title: T, regulation: {id: JJG 162, edition: \"2019\"}, meter: water, "
	"rig: flow-bench, verification: initial}\n"
	"nameplate: {q3: {min: 0.4, max: 100}, r: {min: 40, max: 1000}, class: {values: [\"1\", "
	"\"2\"]}, dn: {min: 8, max: 1000}}\n"
	"parameters: {uncertainty_ratio: 1 / 5}\n"
	"items:\n"
	"  - {id: visual, kind: judgement, title: V, prompt: ok?}\n"
	"teardown: safe-state\n"
	"certificate:\n"
	"  validity:\n"
	"    - when: {dn: {min: 10, max: 25}}\n"
	"      service_life_years: 6\n";

static int batch(const char *meters, char *err, size_t cap)
{
	struct metro_procedure *p = NULL;
	struct metro_diag d;
	metro_diag_init(&d);
	int rc = metro_procedure_load_buffer("t.yaml", partial, strlen(partial), &d, &p);
	metro_diag_print(&d, stderr);
	metro_diag_free(&d);
	assert_int_equal(rc, 0);
	char *text = metro_asprintf("{\"operator\": \"t\", \"meters\": %s}", meters);
	json_t *req = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(req);
	struct metro_batch_rig rig = {"rig-t", METRO_RIG_FLOW_BENCH, 8, 1, 1.0};
	struct metro_batch *b = NULL;
	rc = metro_batch_from_json(req, p, &rig, &b, err, cap);
	metro_batch_destroy(&b);
	json_decref(req);
	return rc;
}

static void test_batch_refuses_unmatched_meter(void **state)
{
	(void)state;
	char err[512] = "";
	assert_int_equal(batch("[{\"position\": 1, \"serial\": \"A\", \"nameplate\": {\"q3\": "
			       "\"2.5\", \"r\": \"100\", \"class\": \"2\", \"dn\": \"15\"}}]",
			       err, sizeof err),
			 0);
	/* a JSON number is judged through its exact decimal form */
	assert_int_equal(batch("[{\"position\": 1, \"serial\": \"A\", \"nameplate\": {\"q3\": "
			       "2.5, \"r\": 100, \"class\": \"2\", \"dn\": 25}}]",
			       err, sizeof err),
			 0);
	assert_int_equal(batch("[{\"position\": 1, \"serial\": \"A\", \"nameplate\": {\"q3\": "
			       "\"2.5\", \"r\": \"100\", \"class\": \"2\", \"dn\": \"15\"}}, "
			       "{\"position\": 2, \"serial\": \"B\", \"nameplate\": {\"q3\": "
			       "\"2.5\", \"r\": \"100\", \"class\": \"2\", \"dn\": \"40\"}}]",
			       err, sizeof err),
			 METRO_E_INVAL);
	assert_non_null(strstr(err, "meters[1].nameplate: no certificate validity rule"));
	/* below the rule's min too */
	assert_int_equal(batch("[{\"position\": 1, \"serial\": \"A\", \"nameplate\": {\"q3\": "
			       "\"2.5\", \"r\": \"100\", \"class\": \"2\", \"dn\": \"8\"}}]",
			       err, sizeof err),
			 METRO_E_INVAL);
	assert_non_null(strstr(err, "meters[0].nameplate: no certificate validity rule"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_water_by_diameter),
		cmocka_unit_test(test_electricity_by_class),
		cmocka_unit_test(test_gas_by_medium),
		cmocka_unit_test(test_batch_refuses_unmatched_meter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
