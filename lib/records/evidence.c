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

void metro_result_free(struct metro_result *r)
{
	if (r->kind == METRO_DOC_POINT)
		metro_point_result_free(&r->u.point);
	else if (r->kind == METRO_DOC_VERDICT)
		metro_verdict_result_free(&r->u.verdict);
	r->kind = METRO_DOC_KINDS;
}
