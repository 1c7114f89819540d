/* judge.c — judgement items: a question to the operator per position (visual, leak, ...). */
#include "engine.h"
#include "engine_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "metrology.h"
#include "util.h"

/* ---- judgement items --------------------------------------------------------------------- */

/* Publish a prompt to the positions ps[0..n) and wait (real time, prompt_timeout_s) for its
 * answer.  extra (consumed, may be NULL) adds fields to the prompt document.  When the prompt
 * closes it is published again with closed: true, answered and the answering operator.
 * Returns METRO_OK with e->answer and e->answer_operator set, NO_ANSWER on timeout, or an
 * error when the run must end. */
int eng_ask(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps, size_t n,
	    int readings, const char *question, json_t *extra)
{
	snprintf(e->prompt_id, sizeof e->prompt_id, "%s-%u", it->id, ++e->prompts);
	json_decref(e->answer);
	e->answer = NULL;
	e->prompt_readings = readings;
	e->nprompt_pos = n;
	double timeout =
		eng_dd(metro_procedure_param(e->b->proc, "prompt_timeout_s", metro_dec_e(600, 0)));
	for (size_t i = 0; i < n; i++)
		e->prompt_pos[i] = ps[i]->m->position;
	struct metro_prompt_event *open = metro_prompt_event_new(
		eng_run(e), e->prompt_id, it->id, question, e->prompt_pos, n, timeout, extra);
	struct metro_prompt_event *closed = metro_prompt_event_closed(open, NULL);
	e->io.emit_result(e->io.ctx,
			  (struct metro_result){.kind = METRO_DOC_PROMPT, .u.prompt = open});
	uint64_t t0 = metro_now_ns(); /* a prompt waits in real time */
	int rc = METRO_OK;
	while (!e->answer) {
		if (eng_real_seconds(t0) >= timeout) {
			rc = NO_ANSWER;
			break;
		}
		if (eng_wait_real(e, e->io.poll_s)) {
			rc = METRO_E_STATE;
			break;
		}
	}
	e->prompt_id[0] = '\0';
	if (rc == METRO_OK) {
		closed->answered = 1;
		closed->operator_name = metro_strdup(e->answer_operator);
	}
	e->io.emit_result(e->io.ctx,
			  (struct metro_result){.kind = METRO_DOC_PROMPT, .u.prompt = closed});
	return rc;
}

int eng_judgement(struct metro_engine *e, const struct metro_proc_item *it)
{
	struct pos *ps[MAX_POS];
	size_t n = eng_active(e, ps);
	if (!n)
		return METRO_OK;
	int rc = eng_ask(e, it, ps, n, 0, it->prompt,
			 json_pack("{s[ss]}", "answers", "pass", "fail"));
	if (rc == NO_ANSWER) {
		for (size_t i = 0; i < n; i++)
			eng_pos_error(e, ps[i], it,
				      "no answer to prompt %s-%u within the prompt timeout", it->id,
				      e->prompts);
		return METRO_OK;
	}
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const char *ans = json_string_value(e->answer);
		if (!ans) {
			char key[16];
			snprintf(key, sizeof key, "%d", ps[i]->m->position);
			ans = json_string_value(json_object_get(e->answer, key));
		}
		int pass = ans && !strcmp(ans, "pass");
		eng_point_doc(e, ps[i], it,
			      json_pack("{ssssss}", "answer", pass ? "pass" : "fail", "operator",
					e->answer_operator, "rule", "operator judgement"),
			      NULL, 1, pass ? METRO_VERDICT_PASS : METRO_VERDICT_FAIL);
	}
	return METRO_OK;
}

int metro_engine_reading(json_t *v, struct metro_dec *out)
{
	if (json_is_string(v)) {
		if (metro_dec_parse(json_string_value(v), out))
			return METRO_E_INVAL;
	} else if (json_is_integer(v)) {
		*out = metro_dec_e(json_integer_value(v), 0);
	} else if (json_is_real(v)) {
		*out = metro_dec_from_double(json_real_value(v));
	} else {
		return METRO_E_INVAL;
	}
	if (!metro_dec_valid(*out) || metro_dec_sign(*out) < 0 ||
	    metro_dec_cmp(*out, metro_dec_e(1, 9)) > 0)
		return METRO_E_INVAL;
	return METRO_OK;
}

/* Round a measured double to `places` decimals, exactly, for use in a judgement input. */
struct metro_dec eng_rounded(double v, int places)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%.*f", places, v);
	struct metro_dec d;
	return metro_dec_parse(buf, &d) ? metro_dec_invalid() : d;
}

/* A volume read from the rig (L) as an exact decimal of 1 µL, far below any bench's or
 * meter's resolution.  Without it a double read near zero (a reference tank just tared
 * reads 1.2345678901234567e-07) becomes a fraction whose denominator leaves no room for the
 * error formula and the mean of three runs. */
struct metro_dec eng_litres(double v)
{
	return eng_rounded(v, 6);
}
