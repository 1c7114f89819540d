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

/* ---- the run ------------------------------------------------------------------------------ */

static int run_item(struct metro_engine *e, const struct metro_proc_item *it)
{
	for (int tries = 0;; tries++) {
		int rc;
		switch (it->kind) {
		case METRO_ITEM_JUDGEMENT:
			rc = eng_judgement(e, it);
			break;
		case METRO_ITEM_FLOW_POINT:
			rc = eng_flow_point(e, it);
			break;
		case METRO_ITEM_LOAD_POINT:
			rc = eng_load_point(e, it);
			break;
		case METRO_ITEM_START_TEST:
		case METRO_ITEM_CREEP_TEST:
			rc = eng_start_or_creep(e, it);
			break;
		case METRO_ITEM_POSITION_CHECK:
			rc = eng_position_check(e, it);
			break;
		case METRO_ITEM_MEASUREMENT:
			rc = eng_measurement(e, it);
			break;
		case METRO_ITEM_TIMING_TEST:
			rc = eng_timing_test(e, it);
			break;
		default:
			rc = eng_constant_test(e, it);
			break;
		}
		if (rc != RERUN)
			return rc;
		if (tries >= MAX_RERUNS)
			return eng_fault(e, "%s interrupted %d times", it->id, tries + 1);
	}
}

static void run_start_doc(struct metro_engine *e)
{
	const struct metro_batch *b = e->b;
	const struct metro_procedure *p = b->proc;
	json_t *meters = json_array();
	for (size_t i = 0; i < b->nmeters; i++) {
		const struct metro_batch_meter *m = &b->meters[i];
		json_t *o = json_pack("{sisssO}", "position", m->position, "serial", m->serial,
				      "nameplate", m->nameplate);
		if (m->model)
			json_object_set_new(o, "model", json_string(m->model));
		if (m->manufacturer)
			json_object_set_new(o, "manufacturer", json_string(m->manufacturer));
		if (m->approval)
			json_object_set_new(o, "approval", json_string(m->approval));
		json_array_append_new(meters, o);
	}
	json_t *doc = json_pack("{s{ssssssssssss}sssssbsfso}", "procedure", "id", p->id, "sha256",
				p->sha256, "regulation", p->regulation, "edition", p->edition,
				"verification", p->verification, "limits", p->limits, "operator",
				b->operator_name, "rig_kind", p->rig, "simulated", b->simulated,
				"time_scale", b->time_scale, "meters", meters);
	if (b->submitter)
		json_object_set_new(doc, "submitter", json_string(b->submitter));
	if (b->verification_type)
		json_object_set_new(doc, "verification_type", json_string(b->verification_type));
	if (b->resumed_from)
		json_object_set_new(doc, "resumes",
				    json_sprintf("%lld", (long long)b->resumed_from));
	json_t *items = json_array();
	for (size_t i = 0; i < p->nitems; i++)
		json_array_append_new(items, json_string(p->items[i].id));
	json_object_set_new(doc, "items", items);
	struct metro_run_event *ev = metro_run_event_new(eng_run(e), METRO_RUN_STARTING, NULL);
	ev->context = doc;
	eng_emit_run(e, ev);
}

struct metro_engine *metro_engine_new(struct metro_batch *b, const struct metro_engine_io *io)
{
	struct metro_engine *e = metro_calloc(1, sizeof *e);
	e->b = b;
	e->io = *io;
	if (e->io.poll_s <= 0)
		e->io.poll_s = 0.1;
	e->state = METRO_RUN_IDLE;
	for (size_t i = 0; i < b->nmeters && i < MAX_POS; i++) {
		e->pos[i].m = &b->meters[i];
		e->pos[i].active = 1;
		e->pos[i].verdict = METRO_VERDICT_PASS;
		e->pos[i].failed_items = json_array();
	}
	e->npos = b->nmeters < MAX_POS ? b->nmeters : MAX_POS;
	return e;
}

void metro_engine_destroy(struct metro_engine **pe)
{
	struct metro_engine *e = *pe;
	if (!e)
		return;
	for (size_t i = 0; i < e->npos; i++)
		json_decref(e->pos[i].failed_items);
	json_decref(e->answer);
	json_decref(e->decided);
	metro_prompt_event_free(&e->prompt_ev);
	free(e);
	*pe = NULL;
}

/* Checks that need the rig: the profile has every channel the procedure names. */
static int preflight(struct metro_engine *e)
{
	const struct metro_procedure *p = e->b->proc;
	for (size_t i = 0; i < p->nconditions; i++) {
		const char *chs[2] = {p->conditions[i].channel, p->conditions[i].minus};
		for (size_t k = 0; k < 2; k++)
			if (chs[k] && !eng_has_channel(e, chs[k]))
				return eng_fault(
					e,
					"procedure condition on %s: the rig profile has no "
					"such channel",
					chs[k]);
	}
	for (size_t i = 0; i < p->nitems; i++)
		if (p->items[i].channel && !eng_has_channel(e, p->items[i].channel))
			return eng_fault(e, "%s: the rig profile has no channel %s", p->items[i].id,
					 p->items[i].channel);
	for (size_t i = 0; i < p->nitems; i++)
		if (p->items[i].stab_channel && !eng_chan(e, p->items[i].stab_channel))
			return eng_fault(e, "%s: the rig profile has no channel %s", p->items[i].id,
					 p->items[i].stab_channel);
	/* A sensor that decides a judgement (and lets an automated answer decide it on a rig
	 * that is not simulated) is one the rig has, for every position it would judge. */
	for (size_t i = 0; i < p->nitems; i++) {
		const char *s = p->items[i].sensor;
		if (!s)
			continue;
		if (strncmp(s, "pos[N].", 7) != 0) {
			if (!eng_chan(e, s))
				return eng_fault(
					e, "%s: sensor %s: the rig profile has no such channel",
					p->items[i].id, s);
			continue;
		}
		for (size_t k = 0; k < e->npos; k++)
			if (!metro_profile_pos_channel(e->io.profile, s + 7, e->pos[k].m->position))
				return eng_fault(e,
						 "%s: sensor %s: the rig profile has no channel "
						 "pos[%d].%s",
						 p->items[i].id, s, e->pos[k].m->position, s + 7);
	}
	/* The device's own start sequence (remote enable, ...): a device that does not take
	 * it is a rig fault before anything is measured. */
	if (e->io.profile && e->io.profile->seq[METRO_SEQ_BEFORE_RUN].n &&
	    metro_device_sequence(e->io.dev, METRO_SEQ_BEFORE_RUN))
		return eng_fault(e, "%s", metro_device_last_error(e->io.dev));
	return METRO_OK;
}

/* A resume-run: the verdict committed for this position's item in the interrupted run, or
 * NULL when the point has to be run. */
static const char *committed(const struct metro_engine *e, const struct pos *p,
			     const struct metro_proc_item *it)
{
	char key[16];
	snprintf(key, sizeof key, "%d", p->m->position);
	return json_string_value(json_object_get(json_object_get(e->b->done, key), it->id));
}

/* A resume-run starts where the interrupted run stood: a position that failed an item there
 * has failed (and takes no further part); the others run only the items they lack. */
static void apply_committed(struct metro_engine *e)
{
	const struct metro_procedure *p = e->b->proc;
	for (size_t i = 0; e->b->done && i < e->npos; i++)
		for (size_t k = 0; k < p->nitems; k++) {
			const char *v = committed(e, &e->pos[i], &p->items[k]);
			if (v && !strcmp(v, "fail")) {
				e->pos[i].active = 0;
				e->pos[i].verdict = METRO_VERDICT_FAIL;
				json_array_append_new(e->pos[i].failed_items,
						      json_string(p->items[k].id));
			} else if (v && !strcmp(v, "conditional") &&
				   e->pos[i].verdict < METRO_VERDICT_CONDITIONAL) {
				e->pos[i].verdict = METRO_VERDICT_CONDITIONAL;
			}
		}
}

const char *metro_engine_run(struct metro_engine *e)
{
	const struct metro_procedure *p = e->b->proc;
	run_start_doc(e);
	apply_committed(e);
	e->state = METRO_RUN_STARTING;
	int rc = preflight(e);
	if (!rc)
		eng_set_state(e, METRO_RUN_RUNNING, NULL);
	for (size_t i = 0; !rc && i < p->nitems; i++) {
		/* Test-point boundary: pause and stop take effect here. */
		if (e->stop_req) {
			eng_set_state(e, METRO_RUN_STOPPING, "stop requested");
			break;
		}
		if (e->pause_req) {
			eng_set_state(e, METRO_RUN_PAUSED, "at the boundary before item");
			while (e->pause_req && !e->stop_req && !e->abort_req && !e->halt_req)
				if (eng_wait_real(e, e->io.poll_s))
					break;
			if (metro_engine_must_end(e))
				break;
			if (e->stop_req) {
				eng_set_state(e, METRO_RUN_STOPPING, "stop requested");
				break;
			}
			eng_set_state(e, METRO_RUN_RUNNING, "resumed");
		}
		const struct metro_proc_item *it = &p->items[i];
		struct pos *ps[MAX_POS];
		size_t n = eng_active(e, ps);
		if (!n)
			break; /* every meter has failed or is in error */
		/* resume-run: positions with this item committed sit it out */
		struct pos *out[MAX_POS];
		size_t nout = 0;
		for (size_t k = 0; k < n; k++)
			if (committed(e, ps[k], it) || !eng_item_applies(e, ps[k], it)) {
				ps[k]->active = 0;
				out[nout++] = ps[k];
			}
		if (nout < n)
			rc = run_item(e, it);
		for (size_t k = 0; k < nout; k++) /* unless the recorder failed it meanwhile */
			out[k]->active = out[k]->verdict != METRO_VERDICT_ERROR;
	}
	enum metro_run_end end;
	enum metro_verdict unfinished;
	if (e->store_failed) {
		eng_set_state(e, METRO_RUN_ABORTING, e->fault);
		end = METRO_END_ERROR;
		unfinished = METRO_VERDICT_ERROR;
	} else if (e->abort_req || e->halt_req) {
		eng_set_state(e, METRO_RUN_ABORTING, e->halt_req ? "halt" : "abort");
		end = METRO_END_ABORTED;
		unfinished = METRO_VERDICT_ABORTED;
	} else if (rc) {
		end = METRO_END_ERROR;
		unfinished = METRO_VERDICT_ERROR;
	} else if (e->stop_req) {
		end = METRO_END_STOPPED;
		unfinished = METRO_VERDICT_ABORTED;
	} else {
		end = METRO_END_DONE;
		unfinished = METRO_VERDICT_PASS;
	}
	/* A meter still active did not fail anything; it passes only if the run completed. */
	int completed = end == METRO_END_DONE;
	for (size_t i = 0; i < e->npos; i++) {
		struct pos *ps = &e->pos[i];
		if (ps->active && !completed) {
			ps->verdict = unfinished > ps->verdict ? unfinished : ps->verdict;
			if (!ps->reason[0])
				snprintf(ps->reason, sizeof ps->reason, "run %s before its end",
					 metro_run_end_name(end));
		}
		struct metro_verdict_result *v = metro_verdict_result_new(
			eng_run(e), ps->m->position, ps->m->serial, ps->verdict,
			json_incref(ps->failed_items), ps->reason);
		e->io.emit_result(e->io.ctx,
				  (struct metro_result){.kind = METRO_DOC_VERDICT, .u.verdict = v});
	}
	e->state = METRO_RUN_DONE;
	struct metro_run_event *ev = metro_run_event_new(eng_run(e), METRO_RUN_DONE, NULL);
	ev->end = end;
	ev->fault = e->fault[0] ? metro_strdup(e->fault) : NULL;
	eng_emit_run(e, ev);
	e->end_state = metro_run_end_name(end);
	return e->end_state;
}

/* The recorder could not commit a result: for one position (a value refused) that position
 * ends in error; for the whole store, every position does and the run ends at once. */
static int record_failed(struct metro_engine *e, json_t *doc, char *err, size_t errlen)
{
	const char *why = json_string_value(json_object_get(doc, "reason"));
	json_t *jp = json_object_get(doc, "position");
	json_t *run = json_object_get(doc, "run");
	if (!why) {
		snprintf(err, errlen, "'reason' must be a string");
		return METRO_E_INVAL;
	}
	if (run && json_integer_value(run) != eng_run(e)) {
		snprintf(err, errlen, "run %lld has ended", (long long)json_integer_value(run));
		return METRO_E_STATE;
	}
	for (size_t i = 0; i < e->npos; i++) {
		struct pos *p = &e->pos[i];
		if (jp && json_integer_value(jp) != p->m->position)
			continue;
		if (p->verdict < METRO_VERDICT_ERROR || !p->reason[0])
			snprintf(p->reason, sizeof p->reason, "%s", why);
		p->verdict = METRO_VERDICT_ERROR;
		p->active = 0;
		p->unrecorded = 1;
		if (jp)
			return METRO_OK;
	}
	if (jp) {
		snprintf(err, errlen, "no position %lld in this run",
			 (long long)json_integer_value(jp));
		return METRO_E_INVAL;
	}
	snprintf(e->fault, sizeof e->fault, "%s", why);
	e->store_failed = 1;
	return METRO_OK;
}

/* The open prompt published again after an answer that left positions open: the same id,
 * with "open" (the positions still to decide) and "decided" ({"3": "fail"}). */
static void republish(struct metro_engine *e)
{
	const struct metro_prompt_event *t = e->prompt_ev;
	if (!t)
		return;
	json_t *extra = t->extra ? json_deep_copy(t->extra) : json_object();
	json_t *open = json_array(), *decided = json_object();
	char key[16];
	for (size_t k = 0; k < e->nprompt_pos; k++) {
		snprintf(key, sizeof key, "%d", e->prompt_pos[k]);
		json_t *d = json_object_get(e->decided, key);
		if (d)
			json_object_set(decided, key, json_object_get(d, "answer"));
		else
			json_array_append_new(open, json_integer(e->prompt_pos[k]));
	}
	json_object_set_new(extra, "open", open);
	json_object_set_new(extra, "decided", decided);
	struct metro_prompt_event *ev =
		metro_prompt_event_new(t->run, t->id, t->item, t->question, t->positions,
				       t->npositions, t->timeout_s, extra);
	e->io.emit_result(e->io.ctx,
			  (struct metro_result){.kind = METRO_DOC_PROMPT, .u.prompt = ev});
}

/* An answer to the open prompt (checked as the control API checked it before recording it):
 * typed readings close the prompt; a judgement decides the positions it names, or every
 * position still open, and the prompt closes when none is left. */
static int input(struct metro_engine *e, json_t *doc, char *err, size_t errlen)
{
	const char *id = json_string_value(json_object_get(doc, "prompt"));
	json_t *ans = json_object_get(doc, "answer");
	const char *op = json_string_value(json_object_get(doc, "operator"));
	const char *client = json_string_value(json_object_get(doc, "client"));
	int automated = json_is_true(json_object_get(doc, "automated"));
	if (!e->prompt_id[0] || !id || strcmp(id, e->prompt_id) != 0 || !e->prompt_left) {
		snprintf(err, errlen, "no open prompt '%s'%s%s", id ? id : "",
			 e->prompt_id[0] ? "; the open prompt is " : "", e->prompt_id);
		return METRO_E_STATE;
	}
	if (!automated && (!op || !op[0])) {
		snprintf(err, errlen, "'operator' is required");
		return METRO_E_INVAL;
	}
	const char *sensor = e->prompt_item ? e->prompt_item->sensor : NULL;
	struct metro_engine_prompt p = {e->prompt_item ? e->prompt_item->id : "",
					e->prompt_readings,
					e->prompt_pos,
					e->nprompt_pos,
					e->decided,
					e->b->simulated,
					sensor};
	json_t *decides = NULL;
	int rc = metro_engine_check_answer(&p, ans, automated, &decides, err, errlen);
	if (rc)
		return rc;
	const char *who = automated ? "automated" : op;
	if (e->prompt_readings) {
		json_decref(e->answer);
		e->answer = decides;
		metro_strlcpy(e->answer_operator, who, sizeof e->answer_operator);
		e->prompt_left = 0;
		return METRO_OK;
	}
	const char *key;
	json_t *v;
	json_object_foreach (decides, key, v) {
		json_t *d = json_pack("{sOss}", "answer", v, "operator", who);
		if (automated) {
			json_object_set_new(d, "by", json_string("automated"));
			if (client)
				json_object_set_new(d, "client", json_string(client));
			if (sensor)
				json_object_set_new(d, "sensor", json_string(sensor));
		}
		json_object_set_new(e->decided, key, d);
		e->prompt_left--;
	}
	json_decref(decides);
	if (e->prompt_left)
		republish(e);
	return METRO_OK;
}

int metro_engine_command(struct metro_engine *e, const char *verb, json_t *doc, char *err,
			 size_t errlen)
{
	/* Whether a pause is accepted depends on pause_req alone, which the main thread keeps a
	 * copy of to answer the client (daemon/rig.c): paused with a resume not yet taken at the
	 * boundary, a pause withdraws the resume and the run stays paused. */
	if (!strcmp(verb, "pause")) {
		if (e->pause_req) {
			snprintf(err, errlen, "already pausing or paused");
			return METRO_E_STATE;
		}
		e->pause_req = 1;
		if (e->state != METRO_RUN_PAUSED)
			eng_set_state(e, METRO_RUN_PAUSING, "at the next test-point boundary");
		return METRO_OK;
	}
	if (!strcmp(verb, "resume")) {
		if (!e->pause_req) {
			snprintf(err, errlen, "the run is not paused");
			return METRO_E_STATE;
		}
		e->pause_req = 0;
		if (e->state == METRO_RUN_PAUSING)
			eng_set_state(e, METRO_RUN_RUNNING, "pause cancelled");
		return METRO_OK;
	}
	if (!strcmp(verb, "stop")) {
		e->stop_req = 1;
		return METRO_OK;
	}
	if (!strcmp(verb, "abort") || !strcmp(verb, "halt")) {
		if (!strcmp(verb, "halt"))
			e->halt_req = 1;
		else
			e->abort_req = 1;
		return METRO_OK;
	}
	if (!strcmp(verb, "record-failed"))
		return record_failed(e, doc, err, errlen);
	if (!strcmp(verb, "input"))
		return input(e, doc, err, errlen);
	snprintf(err, errlen, "unknown run command '%s'", verb);
	return METRO_E_INVAL;
}

/* Whether key names one of positions[0..n): the position's number as the prompt lists it
 * ("3"), the key the engine looks the answer up by; "03", "+3" or " 3" name no position. */
static const char *position_key(int position, char name[16])
{
	snprintf(name, 16, "%d", position);
	return name;
}

static int is_prompt_position(const int *positions, size_t n, const char *key)
{
	char name[16];
	for (size_t k = 0; k < n; k++)
		if (!strcmp(key, position_key(positions[k], name)))
			return 1;
	return 0;
}

int metro_engine_check_readings(const int *positions, size_t n, json_t *ans, char *err,
				size_t errlen)
{
	if (!json_is_object(ans)) {
		snprintf(err, errlen,
			 "'answer' must be an object of readings by position, e.g. {\"1\": "
			 "\"123.4567\"}");
		return METRO_E_INVAL;
	}
	const char *key;
	json_t *v;
	json_object_foreach (ans, key, v) {
		struct metro_dec d;
		if (!is_prompt_position(positions, n, key)) {
			snprintf(err, errlen,
				 "answer: '%s' is not a position this prompt asks about", key);
			return METRO_E_INVAL;
		}
		if (metro_engine_reading(v, &d)) {
			snprintf(err, errlen,
				 "answer: position %s: not a meter reading (a decimal number in "
				 "the prompt's unit, m3 or kWh, 0 to 1e9, e.g. \"123.4567\")",
				 key);
			return METRO_E_INVAL;
		}
	}
	return METRO_OK;
}

int metro_engine_check_judgements(const int *positions, size_t n, json_t *decided, json_t *ans,
				  json_t **decides, char *err, size_t errlen)
{
	const char *a = json_string_value(ans);
	if (a ? strcmp(a, "pass") != 0 && strcmp(a, "fail") != 0 : !json_is_object(ans)) {
		snprintf(err, errlen,
			 "'answer' must be \"pass\", \"fail\" or an object of positions, e.g. "
			 "{\"3\": \"fail\", \"5\": \"pass\"}");
		return METRO_E_INVAL;
	}
	if (!a && json_object_size(ans) == 0) {
		snprintf(err, errlen, "answer: an answer by position names at least one position");
		return METRO_E_INVAL;
	}
	const char *key;
	json_t *v;
	json_object_foreach (ans, key, v) {
		const char *s = json_string_value(v);
		if (!is_prompt_position(positions, n, key)) {
			snprintf(err, errlen,
				 "answer: '%s' is not a position this prompt asks about", key);
			return METRO_E_INVAL;
		}
		if (!s || (strcmp(s, "pass") != 0 && strcmp(s, "fail") != 0)) {
			snprintf(err, errlen, "answer: position %s: must be \"pass\" or \"fail\"",
				 key);
			return METRO_E_INVAL;
		}
		if (json_object_get(decided, key)) {
			snprintf(err, errlen,
				 "answer: position %s is decided already, by an earlier answer",
				 key);
			return METRO_E_INVAL;
		}
	}
	/* A word for the whole prompt decides every position still open, and nothing else. */
	json_t *out = a ? json_object() : json_deep_copy(ans);
	char name[16];
	for (size_t k = 0; a && k < n; k++)
		if (!json_object_get(decided, position_key(positions[k], name)))
			json_object_set_new(out, name, json_string(a));
	if (!json_object_size(out)) {
		json_decref(out);
		snprintf(err, errlen, "answer: every position of this prompt is decided already");
		return METRO_E_INVAL;
	}
	if (decides)
		*decides = out;
	else
		json_decref(out);
	return METRO_OK;
}

int metro_engine_check_answer(const struct metro_engine_prompt *p, json_t *ans, int automated,
			      json_t **decides, char *err, size_t errlen)
{
	/* Who may answer comes before what they say: a program answers only where nothing a
	 * person would have seen is at stake (a simulated rig) or where a sensor decides. */
	if (automated && !p->simulated && !p->sensor) {
		snprintf(
			err, errlen,
			"an automated answer is taken only on a simulated rig or for an item a "
			"sensor decides: this rig is not simulated and %s declares no sensor, so a "
			"person must answer (metroctl input ... --operator NAME)",
			p->item && p->item[0] ? p->item : "the item");
		return METRO_E_DENIED;
	}
	if (p->readings) {
		int rc = metro_engine_check_readings(p->positions, p->npositions, ans, err, errlen);
		if (!rc && decides)
			*decides = json_deep_copy(ans);
		return rc;
	}
	return metro_engine_check_judgements(p->positions, p->npositions, p->decided, ans, decides,
					     err, errlen);
}

int metro_engine_must_end(const struct metro_engine *e)
{
	return e->abort_req || e->halt_req || e->store_failed;
}

enum metro_run_state metro_engine_state(const struct metro_engine *e)
{
	return e->state;
}
