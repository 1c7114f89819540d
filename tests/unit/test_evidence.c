/* Unit tests of the typed evidence path (lib/records/evidence.c): the name tables, and the
 * documents encoded from each result struct — the published `run`, `prompt`, `point` and
 * `verdict` bodies.  The expected documents are written out here key by key, so a renamed key,
 * a lost field or a wrong name in a table fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "evidence.h"

/* doc must equal the JSON text want exactly (same keys, same values). */
static void assert_doc(json_t *doc, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	assert_non_null(w);
	if (!json_equal(doc, w)) {
		char *got = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
		print_error("got  %s\nwant %s\n", got, want);
		free(got);
		fail();
	}
	json_decref(w);
}

static void test_name_tables(void **state)
{
	(void)state;
	/* Every entry is named, names are distinct, and a name parses back to its kind. */
	for (int k = 0; k < METRO_DOC_KINDS; k++) {
		const char *n = metro_doc_kind_names[k];
		assert_non_null(n);
		enum metro_doc_kind got;
		assert_int_equal(metro_doc_kind_parse(n, strlen(n), &got), 0);
		assert_int_equal(got, k);
	}
	enum metro_doc_kind got;
	assert_int_equal(metro_doc_kind_parse("points", 6, &got), -1);
	assert_int_equal(metro_doc_kind_parse("poin", 4, &got), -1);
	assert_int_equal(metro_doc_kind_parse("point.rig1", 5, &got), 0); /* a topic's prefix */
	assert_int_equal(got, METRO_DOC_POINT);

	for (int s = 0; s < METRO_RUN_STATES; s++) {
		assert_non_null(metro_run_state_names[s]);
		for (int t = 0; t < s; t++)
			assert_string_not_equal(metro_run_state_names[s], metro_run_state_names[t]);
	}
	assert_string_equal(metro_run_state_name(METRO_RUN_PAUSED), "paused");
	assert_string_equal(metro_run_state_name(METRO_RUN_SAFE), "safe");
	assert_string_equal(metro_run_state_name(METRO_RUN_STATES), "?");
	assert_string_equal(metro_run_end_name(METRO_END_DONE), "done");
	assert_string_equal(metro_run_end_name(METRO_END_STOPPED), "stopped");
	assert_string_equal(metro_run_end_name(METRO_END_ABORTED), "aborted");
	assert_string_equal(metro_run_end_name(METRO_END_ERROR), "error");
	assert_string_equal(metro_run_end_name(METRO_RUN_ENDS), "?");
	assert_string_equal(metro_verdict_name(METRO_VERDICT_CONDITIONAL), "conditional");
	assert_string_equal(metro_verdict_name(METRO_VERDICTS), "?");
}

static void test_run_events(void **state)
{
	(void)state;
	struct metro_run_event *e = metro_run_event_new(7, METRO_RUN_PAUSED, "at the boundary");
	json_t *d = metro_run_event_doc(e);
	assert_doc(d, "{\"state\":\"paused\",\"reason\":\"at the boundary\"}");
	json_decref(d);
	metro_run_event_free(&e);
	assert_null(e);

	/* An empty reason is no reason. */
	e = metro_run_event_new(7, METRO_RUN_RUNNING, "");
	d = metro_run_event_doc(e);
	assert_doc(d, "{\"state\":\"running\"}");
	json_decref(d);
	metro_run_event_free(&e);

	e = metro_run_event_new(7, METRO_RUN_DONE, NULL);
	e->end = METRO_END_ERROR;
	e->fault = strdup("device lost");
	d = metro_run_event_doc(e);
	assert_doc(d, "{\"state\":\"done\",\"result\":\"error\",\"fault\":\"device lost\"}");
	json_decref(d);
	metro_run_event_free(&e);

	e = metro_run_event_new(7, METRO_RUN_DONE, NULL);
	e->end = METRO_END_DONE;
	d = metro_run_event_doc(e);
	assert_doc(d, "{\"state\":\"done\",\"result\":\"done\"}");
	json_decref(d);
	metro_run_event_free(&e);

	e = metro_run_event_new(7, METRO_RUN_SAFE, NULL);
	d = metro_run_event_doc(e);
	assert_doc(d, "{\"state\":\"safe\",\"safe_state_verified\":false}");
	json_decref(d);
	e->safe_verified = 1;
	d = metro_run_event_doc(e);
	assert_doc(d, "{\"state\":\"safe\",\"safe_state_verified\":true}");
	json_decref(d);
	metro_run_event_free(&e);

	/* The starting context is published as it is, beside the state. */
	e = metro_run_event_new(7, METRO_RUN_STARTING, NULL);
	e->context = json_pack("{s{ss}s[s]}", "procedure", "id", "jjg162", "items", "Q3");
	d = metro_run_event_doc(e);
	assert_doc(d, "{\"state\":\"starting\",\"procedure\":{\"id\":\"jjg162\"},"
		      "\"items\":[\"Q3\"]}");
	json_decref(d);
	struct metro_result r = {.kind = METRO_DOC_RUN, .u.run = e};
	metro_result_free(&r); /* frees the context too (ASan would see a leak) */
	assert_int_equal(r.kind, METRO_DOC_KINDS);
}

static void test_prompt_events(void **state)
{
	(void)state;
	int pos[] = {2, 5};
	struct metro_prompt_event *p =
		metro_prompt_event_new(9, "Q3-1", "Q3", "Read the dials", pos, 2, 600.0,
				       json_pack("{ssss}", "kind", "readings", "phase", "start"));
	struct metro_prompt_event *c = metro_prompt_event_closed(p, NULL);
	pos[0] = 99; /* the event owns a copy */
	json_t *d = metro_prompt_event_doc(p);
	assert_doc(d, "{\"prompt\":\"Q3-1\",\"item\":\"Q3\",\"question\":\"Read the dials\","
		      "\"positions\":[2,5],\"timeout_s\":600.0,\"kind\":\"readings\","
		      "\"phase\":\"start\"}");
	json_decref(d);
	d = metro_prompt_event_doc(c);
	assert_doc(d, "{\"prompt\":\"Q3-1\",\"item\":\"Q3\",\"question\":\"Read the dials\","
		      "\"positions\":[2,5],\"timeout_s\":600.0,\"kind\":\"readings\","
		      "\"phase\":\"start\",\"closed\":true,\"answered\":false}");
	json_decref(d);
	metro_prompt_event_free(&c);

	c = metro_prompt_event_closed(p, "ann");
	d = metro_prompt_event_doc(c);
	assert_true(json_is_true(json_object_get(d, "answered")));
	assert_string_equal(json_string_value(json_object_get(d, "operator")), "ann");
	assert_true(json_is_true(json_object_get(d, "closed")));
	json_decref(d);
	metro_prompt_event_free(&c);
	struct metro_result r = {.kind = METRO_DOC_PROMPT, .u.prompt = p};
	metro_result_free(&r);
	assert_null(r.u.prompt);
}

static void test_point_and_verdict(void **state)
{
	(void)state;
	struct metro_point_result *p = metro_point_result_new(
		3, 4, "W-004", "Q3", NULL, "flow_point", json_pack("{sf}", "volume_l", 100.0));
	p->verdict = METRO_VERDICT_PASS;
	json_t *d = metro_point_result_doc(p);
	assert_doc(d,
		   "{\"position\":4,\"serial\":\"W-004\",\"item\":\"Q3\","
		   "\"kind\":\"flow_point\",\"verdict\":\"pass\",\"values\":{\"volume_l\":100.0}}");
	json_decref(d);
	p->pending = 1; /* an intermediate run has no verdict yet */
	d = metro_point_result_doc(p);
	assert_string_equal(json_string_value(json_object_get(d, "verdict")), "pending");
	json_decref(d);
	/* A judgement from the exact numbers: -0.37 % against 2 %, rounded to 0.1. */
	p->pending = 0;
	assert_int_equal(metro_mx_judge(metro_dec_e(-37, -2), metro_dec_e(2, 0),
					METRO_MX_RULE_ROUNDED, metro_dec_e(1, -1), &p->judgement),
			 0);
	p->judged = 1;
	d = metro_point_result_doc(p);
	assert_doc(json_object_get(json_object_get(d, "values"), "judgement"),
		   "{\"error\":-0.37,\"mpe\":2,\"judged\":-0.4,\"rule\":\"rounded\","
		   "\"rounded\":-0.4,\"interval\":0.1}");
	json_decref(d);
	metro_point_result_free(&p);

	struct metro_verdict_result *v = metro_verdict_result_new(3, 4, "W-004", METRO_VERDICT_FAIL,
								  json_pack("[s]", "Q2"), "");
	d = metro_verdict_result_doc(v);
	assert_doc(d, "{\"position\":4,\"serial\":\"W-004\",\"verdict\":\"fail\","
		      "\"failed_items\":[\"Q2\"]}");
	json_decref(d);
	metro_verdict_result_free(&v);
	v = metro_verdict_result_new(3, 4, "W-004", METRO_VERDICT_ERROR, NULL, "rig fault: x");
	d = metro_verdict_result_doc(v);
	assert_doc(d, "{\"position\":4,\"serial\":\"W-004\",\"verdict\":\"error\","
		      "\"failed_items\":[],\"reason\":\"rig fault: x\"}");
	json_decref(d);
	metro_verdict_result_free(&v);
}

static void test_evidence_text(void **state)
{
	(void)state;
	char buf[64];
	/* The near-perfect meter of issue 16: stored exactly, no exponent. */
	assert_int_equal(metro_evidence_text(metro_dec_e(-23696, -10), buf, sizeof buf), 0);
	assert_string_equal(buf, "-0.0000023696");
	assert_int_equal(metro_evidence_text(metro_dec_e(125, -2), buf, sizeof buf), 0);
	assert_string_equal(buf, "1.25");
	assert_int_not_equal(metro_evidence_text(metro_dec_invalid(), buf, sizeof buf), 0);
	json_t *j = metro_dec_json(metro_dec_invalid());
	assert_true(json_is_null(j));
	json_decref(j);
	j = metro_dec_json(metro_dec_e(-37, -2));
	assert_true(json_is_real(j));
	assert_true(json_real_value(j) == -0.37);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_tables),   cmocka_unit_test(test_run_events),
		cmocka_unit_test(test_prompt_events), cmocka_unit_test(test_point_and_verdict),
		cmocka_unit_test(test_evidence_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
