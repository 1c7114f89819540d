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

/* Who decided: "automated" for the automated answers, else the operators who answered, in the
 * order of the prompt's positions, each once ("Li, Wang"). */
static char *deciders(const struct metro_engine *e)
{
	char out[512] = "";
	size_t len = 0;
	char key[16];
	for (size_t k = 0; k < e->nprompt_pos; k++) {
		snprintf(key, sizeof key, "%d", e->prompt_pos[k]);
		const char *op = json_string_value(
			json_object_get(json_object_get(e->decided, key), "operator"));
		if (!op)
			continue;
		int seen = 0;
		for (size_t j = 0; j < k && !seen; j++) {
			snprintf(key, sizeof key, "%d", e->prompt_pos[j]);
			const char *o = json_string_value(
				json_object_get(json_object_get(e->decided, key), "operator"));
			seen = o && !strcmp(o, op);
		}
		if (!seen && len < sizeof out - 1)
			len += (size_t)snprintf(out + len, sizeof out - len, "%s%s",
						len ? ", " : "", op);
	}
	return len ? metro_strdup(out) : NULL;
}

/* Publish a prompt to the positions ps[0..n) and wait (real time, prompt_timeout_s) until it
 * is answered: typed readings by one answer, a judgement once every position is decided
 * (answers may decide some positions each; after each that leaves some open the prompt is
 * published again, engine.c).  extra (consumed, may be NULL) adds fields to the prompt
 * document.  When the prompt closes it is published again with closed: true, answered and
 * the answering operator(s).  Returns METRO_OK with e->answer / e->decided set, NO_ANSWER on
 * timeout (a judgement's positions decided by then are in e->decided), or an error when the
 * run must end. */
int eng_ask(struct metro_engine *e, const struct metro_proc_item *it, struct pos **ps, size_t n,
	    int readings, const char *question, json_t *extra)
{
	snprintf(e->prompt_id, sizeof e->prompt_id, "%s-%u", it->id, ++e->prompts);
	json_decref(e->answer);
	e->answer = NULL;
	json_decref(e->decided);
	e->decided = json_object();
	e->prompt_readings = readings;
	e->prompt_item = it;
	e->nprompt_pos = n;
	e->prompt_left = n;
	double timeout =
		eng_dd(metro_procedure_param(e->b->proc, "prompt_timeout_s", metro_dec_e(600, 0)));
	for (size_t i = 0; i < n; i++)
		e->prompt_pos[i] = ps[i]->m->position;
	if (!extra)
		extra = json_object();
	if (it->sensor)
		json_object_set_new(extra, "sensor", json_string(it->sensor));
	if (!readings) {
		json_t *open = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(open, json_integer(e->prompt_pos[i]));
		json_object_set_new(extra, "open", open);
	}
	struct metro_prompt_event *open = metro_prompt_event_new(
		eng_run(e), e->prompt_id, it->id, question, e->prompt_pos, n, timeout, extra);
	metro_prompt_event_free(&e->prompt_ev);
	e->prompt_ev = metro_prompt_event_closed(open, NULL);
	e->prompt_ev->closed = 0;
	e->io.emit_result(e->io.ctx,
			  (struct metro_result){.kind = METRO_DOC_PROMPT, .u.prompt = open});
	uint64_t t0 = metro_now_ns(); /* a prompt waits in real time */
	int rc = METRO_OK;
	while (e->prompt_left) {
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
	e->prompt_left = 0;
	struct metro_prompt_event *closed = metro_prompt_event_closed(e->prompt_ev, NULL);
	metro_prompt_event_free(&e->prompt_ev);
	if (rc == METRO_OK) {
		closed->answered = 1;
		closed->operator_name = readings ? metro_strdup(e->answer_operator) : deciders(e);
	}
	if (!readings) {
		/* what was decided, and by the closing what was not (a timeout, the run's end) */
		json_t *left = json_array(), *decided = json_object();
		char key[16];
		for (size_t k = 0; k < n; k++) {
			snprintf(key, sizeof key, "%d", e->prompt_pos[k]);
			json_t *d = json_object_get(e->decided, key);
			if (d)
				json_object_set(decided, key, json_object_get(d, "answer"));
			else
				json_array_append_new(left, json_integer(e->prompt_pos[k]));
		}
		json_object_set_new(closed->extra, "open", left);
		json_object_set_new(closed->extra, "decided", decided);
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
	if (rc && rc != NO_ANSWER)
		return rc;
	/* Each position as it was decided, by whom; one nobody decided within the prompt
	 * timeout is in error (a meter is never failed for want of a word). */
	for (size_t i = 0; i < n; i++) {
		char key[16];
		snprintf(key, sizeof key, "%d", ps[i]->m->position);
		json_t *d = json_object_get(e->decided, key);
		if (!d) {
			eng_pos_error(e, ps[i], it,
				      "no answer to prompt %s-%u within the prompt timeout", it->id,
				      e->prompts);
			continue;
		}
		int pass = !strcmp(json_string_value(json_object_get(d, "answer")), "pass");
		json_t *details = json_deep_copy(d);
		const char *sensor = json_string_value(json_object_get(d, "sensor"));
		const char *rule = !json_object_get(d, "by") ? "operator judgement"
				   : sensor ? "automated answer, decided by a sensor"
					    : "automated answer on a simulated rig";
		json_object_set_new(details, "rule", json_string(rule));
		eng_point_doc(e, ps[i], it, details, NULL, 1,
			      pass ? METRO_VERDICT_PASS : METRO_VERDICT_FAIL);
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
