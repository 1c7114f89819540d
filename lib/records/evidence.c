/* evidence.c — the typed evidence path (evidence.h). */
#include "evidence.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

const char *const metro_verdict_names[METRO_VERDICTS] = {
	[METRO_VERDICT_PASS] = "pass",	 [METRO_VERDICT_CONDITIONAL] = "conditional",
	[METRO_VERDICT_FAIL] = "fail",	 [METRO_VERDICT_ABORTED] = "aborted",
	[METRO_VERDICT_ERROR] = "error",
};

const char *metro_verdict_name(enum metro_verdict v)
{
	return (unsigned)v < METRO_VERDICTS ? metro_verdict_names[v] : "?";
}

const char *const metro_doc_kind_names[METRO_DOC_KINDS] = {
	[METRO_DOC_READING] = "reading", [METRO_DOC_HEALTH] = "health",
	[METRO_DOC_ALARM] = "alarm",	 [METRO_DOC_RUN] = "run",
	[METRO_DOC_POINT] = "point",	 [METRO_DOC_VERDICT] = "verdict",
	[METRO_DOC_PROMPT] = "prompt",	 [METRO_DOC_AUDIT] = "audit",
};

int metro_doc_kind_parse(const char *name, size_t len, enum metro_doc_kind *out)
{
	for (int k = 0; k < METRO_DOC_KINDS; k++)
		if (strlen(metro_doc_kind_names[k]) == len &&
		    !memcmp(name, metro_doc_kind_names[k], len)) {
			*out = (enum metro_doc_kind)k;
			return 0;
		}
	return -1;
}

struct metro_point_result *metro_point_result_new(int64_t run, int position, const char *serial,
						  const char *item, const char *title,
						  const char *item_kind, json_t *values)
{
	struct metro_point_result *r = metro_calloc(1, sizeof *r);
	r->run = run;
	r->position = position;
	r->serial = metro_strdup(serial ? serial : "");
	r->item = metro_strdup(item ? item : "");
	r->title = title ? metro_strdup(title) : NULL;
	r->item_kind = item_kind;
	r->attempt = 1;
	r->values = values ? values : json_object();
	return r;
}

void metro_point_result_free(struct metro_point_result **pr)
{
	struct metro_point_result *r = *pr;
	if (!r)
		return;
	free(r->serial);
	free(r->item);
	free(r->title);
	json_decref(r->values);
	free(r);
	*pr = NULL;
}

json_t *metro_dec_json(struct metro_dec d)
{
	char buf[64];
	if (!metro_dec_valid(d) || metro_dec_format_sig(d, 15, buf, sizeof buf))
		return json_null();
	/* Decimal text as a JSON number: exact as written, parsed by any client. */
	json_t *j = json_loads(buf, JSON_DECODE_ANY, NULL);
	return j ? j : json_string(buf);
}

json_t *metro_mx_judgement_json(const struct metro_mx_judgement *j)
{
	json_t *o = json_pack("{sosososs}", "error", metro_dec_json(j->value), "mpe",
			      metro_dec_json(j->mpe), "judged", metro_dec_json(j->judged), "rule",
			      metro_mx_rule_name(j->rule));
	if (j->rule == METRO_MX_RULE_ROUNDED) {
		json_object_set_new(o, "rounded", metro_dec_json(j->rounded));
		json_object_set_new(o, "interval", metro_dec_json(j->interval));
	}
	return o;
}

json_t *metro_point_result_doc(const struct metro_point_result *r)
{
	json_t *values = json_deep_copy(r->values);
	if (r->judged)
		json_object_set_new(values, "judgement", metro_mx_judgement_json(&r->judgement));
	json_t *doc = json_pack("{sisssssssssO}", "position", r->position, "serial", r->serial,
				"item", r->item, "kind", r->item_kind, "verdict",
				r->pending ? "pending" : metro_verdict_name(r->verdict), "values",
				values);
	json_decref(values);
	if (r->title)
		json_object_set_new(doc, "title", json_string(r->title));
	return doc;
}

int metro_evidence_text(struct metro_dec d, char *buf, size_t cap)
{
	if (!metro_dec_valid(d))
		return METRO_E_INVAL;
	return metro_dec_format_sig(d, METRO_EVIDENCE_DIGITS, buf, cap) ? METRO_E_INVAL : METRO_OK;
}

struct metro_verdict_result *metro_verdict_result_new(int64_t run, int position, const char *serial,
						      enum metro_verdict v, json_t *failed_items,
						      const char *reason)
{
	struct metro_verdict_result *r = metro_calloc(1, sizeof *r);
	r->run = run;
	r->position = position;
	r->serial = metro_strdup(serial ? serial : "");
	r->verdict = v;
	r->failed_items = failed_items ? failed_items : json_array();
	r->reason = reason && *reason ? metro_strdup(reason) : NULL;
	return r;
}

void metro_verdict_result_free(struct metro_verdict_result **pr)
{
	struct metro_verdict_result *r = *pr;
	if (!r)
		return;
	free(r->serial);
	free(r->reason);
	json_decref(r->failed_items);
	free(r);
	*pr = NULL;
}

json_t *metro_verdict_result_doc(const struct metro_verdict_result *r)
{
	json_t *doc =
		json_pack("{sisssssO}", "position", r->position, "serial", r->serial, "verdict",
			  metro_verdict_name(r->verdict), "failed_items", r->failed_items);
	if (r->reason)
		json_object_set_new(doc, "reason", json_string(r->reason));
	return doc;
}

const char *const metro_run_state_names[METRO_RUN_STATES] = {
	[METRO_RUN_IDLE] = "idle",	   [METRO_RUN_STARTING] = "starting",
	[METRO_RUN_RUNNING] = "running",   [METRO_RUN_PAUSING] = "pausing",
	[METRO_RUN_PAUSED] = "paused",	   [METRO_RUN_SUSPENDED] = "suspended",
	[METRO_RUN_STOPPING] = "stopping", [METRO_RUN_ABORTING] = "aborting",
	[METRO_RUN_DONE] = "done",	   [METRO_RUN_SAFE] = "safe",
};

const char *metro_run_state_name(enum metro_run_state s)
{
	return (unsigned)s < METRO_RUN_STATES ? metro_run_state_names[s] : "?";
}

const char *const metro_run_end_names[METRO_RUN_ENDS] = {
	[METRO_END_DONE] = "done",
	[METRO_END_STOPPED] = "stopped",
	[METRO_END_ABORTED] = "aborted",
	[METRO_END_ERROR] = "error",
};

const char *metro_run_end_name(enum metro_run_end e)
{
	return (unsigned)e < METRO_RUN_ENDS ? metro_run_end_names[e] : "?";
}

static char *dup_or_null(const char *s)
{
	return s && *s ? metro_strdup(s) : NULL;
}

struct metro_run_event *metro_run_event_new(int64_t run, enum metro_run_state state,
					    const char *reason)
{
	struct metro_run_event *e = metro_calloc(1, sizeof *e);
	e->run = run;
	e->state = state;
	e->reason = dup_or_null(reason);
	return e;
}

void metro_run_event_free(struct metro_run_event **pe)
{
	struct metro_run_event *e = *pe;
	if (!e)
		return;
	free(e->reason);
	free(e->fault);
	json_decref(e->context);
	free(e);
	*pe = NULL;
}

json_t *metro_run_event_doc(const struct metro_run_event *e)
{
	json_t *doc = json_pack("{ss}", "state", metro_run_state_name(e->state));
	if (e->state == METRO_RUN_STARTING && e->context)
		json_object_update(doc, e->context);
	if (e->reason)
		json_object_set_new(doc, "reason", json_string(e->reason));
	if (e->state == METRO_RUN_DONE) {
		json_object_set_new(doc, "result", json_string(metro_run_end_name(e->end)));
		if (e->fault)
			json_object_set_new(doc, "fault", json_string(e->fault));
	}
	if (e->state == METRO_RUN_SAFE)
		json_object_set_new(doc, "safe_state_verified", json_boolean(e->safe_verified));
	return doc;
}

struct metro_prompt_event *metro_prompt_event_new(int64_t run, const char *id, const char *item,
						  const char *question, const int *positions,
						  size_t npositions, double timeout_s,
						  json_t *extra)
{
	struct metro_prompt_event *p = metro_calloc(1, sizeof *p);
	p->run = run;
	p->id = metro_strdup(id ? id : "");
	p->item = metro_strdup(item ? item : "");
	p->question = metro_strdup(question ? question : "");
	p->positions = metro_calloc(npositions ? npositions : 1, sizeof *p->positions);
	if (npositions)
		memcpy(p->positions, positions, npositions * sizeof *positions);
	p->npositions = npositions;
	p->timeout_s = timeout_s;
	p->extra = extra;
	return p;
}

struct metro_prompt_event *metro_prompt_event_closed(const struct metro_prompt_event *p,
						     const char *operator_name)
{
	struct metro_prompt_event *c =
		metro_prompt_event_new(p->run, p->id, p->item, p->question, p->positions,
				       p->npositions, p->timeout_s, json_deep_copy(p->extra));
	c->closed = 1;
	c->answered = operator_name != NULL;
	c->operator_name = dup_or_null(operator_name);
	return c;
}

void metro_prompt_event_free(struct metro_prompt_event **pp)
{
	struct metro_prompt_event *p = *pp;
	if (!p)
		return;
	free(p->id);
	free(p->item);
	free(p->question);
	free(p->positions);
	free(p->operator_name);
	json_decref(p->extra);
	free(p);
	*pp = NULL;
}

json_t *metro_prompt_event_doc(const struct metro_prompt_event *p)
{
	json_t *positions = json_array();
	for (size_t i = 0; i < p->npositions; i++)
		json_array_append_new(positions, json_integer(p->positions[i]));
	json_t *doc = json_pack("{sssssssosf}", "prompt", p->id, "item", p->item, "question",
				p->question, "positions", positions, "timeout_s", p->timeout_s);
	if (p->extra)
		json_object_update(doc, p->extra);
	if (p->closed) {
		json_object_set_new(doc, "closed", json_true());
		json_object_set_new(doc, "answered", json_boolean(p->answered));
		if (p->operator_name)
			json_object_set_new(doc, "operator", json_string(p->operator_name));
	}
	return doc;
}

void metro_result_free(struct metro_result *r)
{
	switch (r->kind) {
	case METRO_DOC_POINT:
		metro_point_result_free(&r->u.point);
		break;
	case METRO_DOC_VERDICT:
		metro_verdict_result_free(&r->u.verdict);
		break;
	case METRO_DOC_RUN:
		metro_run_event_free(&r->u.run);
		break;
	case METRO_DOC_PROMPT:
		metro_prompt_event_free(&r->u.prompt);
		break;
	default:
		break;
	}
	r->kind = METRO_DOC_KINDS;
}
