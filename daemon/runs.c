#include "runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct metro_runs {
	json_t *runs; /* array of run objects, oldest first */
	size_t keep;
	/* by run id: the last prompt the answers taken here closed; a document the engine
	 * published before it took them (a partial answer's) does not open it again */
	json_t *answered;
};

struct metro_runs *metro_runs_new(size_t keep)
{
	struct metro_runs *r = metro_calloc(1, sizeof *r);
	r->runs = json_array();
	r->answered = json_object();
	r->keep = keep ? keep : 100;
	return r;
}

void metro_runs_destroy(struct metro_runs **pr)
{
	struct metro_runs *r = *pr;
	if (!r)
		return;
	json_decref(r->runs);
	json_decref(r->answered);
	free(r);
	*pr = NULL;
}

static json_t *find(const struct metro_runs *r, const char *id)
{
	size_t i;
	json_t *run;
	json_array_foreach (r->runs, i, run) {
		const char *rid = json_string_value(json_object_get(run, "run"));
		if (rid && !strcmp(rid, id))
			return run;
	}
	return NULL;
}

/* Finished runs beyond the newest METRO_RUNS_FULL keep their summary and verdicts but not
 * their point documents: those are in the record store (metroctl trace, replay), and a
 * daemon that ran for months must not hold every point it ever published. */
#define METRO_RUNS_FULL 16

static void trim_points(struct metro_runs *r)
{
	size_t full = 0;
	for (size_t i = json_array_size(r->runs); i-- > 0;) {
		json_t *run = json_array_get(r->runs, i);
		json_t *points = json_object_get(run, "points");
		if (!json_object_get(run, "result") || !json_is_array(points))
			continue;
		if (++full <= METRO_RUNS_FULL)
			continue;
		json_object_set_new(run, "points_in_store",
				    json_integer((json_int_t)json_array_size(points)));
		json_object_del(run, "points");
	}
}

static json_t *create(struct metro_runs *r, const char *rig, const char *id)
{
	json_t *run = json_pack("{sssssss[]s[]}", "run", id, "rig", rig, "state", "submitted",
				"points", "verdicts");
	json_array_append_new(r->runs, run);
	trim_points(r);
	while (json_array_size(r->runs) > r->keep) {
		/* Drop the oldest finished run; never an active one. */
		size_t i;
		json_t *old;
		int dropped = 0;
		json_array_foreach (r->runs, i, old) {
			if (json_object_get(old, "result")) {
				json_object_del(r->answered,
						json_string_value(json_object_get(old, "run"))
							?: "");
				json_array_remove(r->runs, i);
				dropped = 1;
				break;
			}
		}
		if (!dropped)
			break;
	}
	return run;
}

void metro_runs_submitted(struct metro_runs *r, const char *rig, const char *run_id)
{
	if (!find(r, run_id))
		create(r, rig, run_id);
}

/* The positions of prompt document p (a copy of the view's own) not in its "decided", as its
 * "open"; 0 when none is left. */
static size_t set_open(json_t *p)
{
	json_t *open = json_array(), *decided = json_object_get(p, "decided");
	size_t i;
	json_t *v;
	json_array_foreach (json_object_get(p, "positions"), i, v) {
		char key[24];
		snprintf(key, sizeof key, "%lld", (long long)json_integer_value(v));
		if (!json_object_get(decided, key))
			json_array_append(open, v);
	}
	size_t n = json_array_size(open);
	json_object_set_new(p, "open", open);
	return n;
}

/* The view's prompt of a run closed by the answers taken here. */
static void prompt_closed_here(struct metro_runs *r, json_t *run)
{
	const char *id = json_string_value(json_object_get(run, "run"));
	json_t *pid = json_object_get(json_object_get(run, "prompt"), "prompt");
	if (id && pid)
		json_object_set(r->answered, id, pid);
	json_object_del(run, "prompt");
}

/* An open prompt document from the engine.  The view may be ahead of it: answers taken here
 * and not yet taken by the engine when it published (a partial answer's document arriving
 * after the next answer) stay decided, and a prompt they closed stays closed. */
static void prompt_published(struct metro_runs *r, json_t *run, const char *id, json_t *doc)
{
	const char *pid = json_string_value(json_object_get(doc, "prompt"));
	const char *closed = json_string_value(json_object_get(r->answered, id));
	if (pid && closed && !strcmp(pid, closed))
		return;
	json_t *old = json_object_get(run, "prompt");
	const char *oid = json_string_value(json_object_get(old, "prompt"));
	json_t *mine = json_object_get(old, "decided");
	if (!pid || !oid || strcmp(pid, oid) != 0 || !json_object_size(mine)) {
		json_object_set(run, "prompt", doc);
		return;
	}
	json_t *p = json_deep_copy(doc);
	json_t *decided = json_object_get(p, "decided");
	if (!json_is_object(decided))
		json_object_set_new(p, "decided", decided = json_object());
	json_object_update_missing(decided, mine);
	set_open(p);
	json_object_set_new(run, "prompt", p);
}

void metro_runs_update(struct metro_runs *r, const char *rig, const char *kind, json_t *doc)
{
	const char *id = json_string_value(json_object_get(doc, "run"));
	if (!id)
		return;
	json_t *run = find(r, id);
	if (!run)
		run = create(r, rig, id);
	if (!strcmp(kind, "run")) {
		const char *key;
		json_t *v;
		json_object_foreach (doc, key, v) {
			if (strcmp(key, "seq") != 0 && strcmp(key, "schema") != 0 &&
			    strcmp(key, "station") != 0)
				json_object_set(run, key, v);
		}
		if (json_object_get(doc, "procedure"))
			json_object_set(run, "started", json_object_get(doc, "time"));
		const char *st = json_string_value(json_object_get(doc, "state"));
		if (st && !strcmp(st, "done"))
			json_object_set(run, "ended", json_object_get(doc, "time"));
	} else if (!strcmp(kind, "point")) {
		json_array_append(json_object_get(run, "points"), doc);
	} else if (!strcmp(kind, "verdict")) {
		json_array_append(json_object_get(run, "verdicts"), doc);
		json_object_del(run, "prompt");
	} else if (!strcmp(kind, "prompt")) {
		if (json_is_true(json_object_get(doc, "closed")))
			json_object_del(run, "prompt");
		else
			prompt_published(r, run, id, doc);
	}
	/* A point after a prompt means the prompt was answered. */
	if (!strcmp(kind, "point")) {
		json_t *pr = json_object_get(run, "prompt");
		const char *item = json_string_value(json_object_get(doc, "item"));
		const char *pitem = json_string_value(json_object_get(pr, "item"));
		if (pr && item && pitem && !strcmp(item, pitem))
			json_object_del(run, "prompt");
	}
}

json_t *metro_runs_list(const struct metro_runs *r)
{
	json_t *out = json_array();
	for (size_t i = json_array_size(r->runs); i-- > 0;) {
		json_t *run = json_array_get(r->runs, i);
		json_t *s = json_object();
		static const char *const keys[] = {"run",     "rig",   "state",	   "result",
						   "started", "ended", "operator", "simulated"};
		for (size_t k = 0; k < METRO_ARRAY_SIZE(keys); k++)
			if (json_object_get(run, keys[k]))
				json_object_set(s, keys[k], json_object_get(run, keys[k]));
		json_t *proc = json_object_get(run, "procedure");
		if (proc)
			json_object_set(s, "procedure", json_object_get(proc, "id"));
		/* Count verdicts by name. */
		json_t *counts = json_object();
		size_t j;
		json_t *v;
		json_array_foreach (json_object_get(run, "verdicts"), j, v) {
			const char *name = json_string_value(json_object_get(v, "verdict"));
			if (!name)
				continue;
			json_int_t c = json_integer_value(json_object_get(counts, name));
			json_object_set_new(counts, name, json_integer(c + 1));
		}
		json_object_set_new(s, "verdicts", counts);
		json_array_append_new(out, s);
	}
	return out;
}

json_t *metro_runs_get(const struct metro_runs *r, const char *id)
{
	json_t *run = find(r, id);
	return run ? json_deep_copy(run) : NULL;
}

const char *metro_runs_active(const struct metro_runs *r, const char *rig)
{
	size_t i;
	json_t *run;
	json_array_foreach (r->runs, i, run) {
		const char *rr = json_string_value(json_object_get(run, "rig"));
		if (rr && !strcmp(rr, rig) && !json_object_get(run, "ended"))
			return json_string_value(json_object_get(run, "run"));
	}
	return NULL;
}

json_t *metro_runs_prompt_doc(const struct metro_runs *r, const char *rig)
{
	const char *id = metro_runs_active(r, rig);
	json_t *run = id ? find(r, id) : NULL;
	return json_object_get(run, "prompt");
}

const char *metro_runs_prompt(const struct metro_runs *r, const char *rig)
{
	return json_string_value(json_object_get(metro_runs_prompt_doc(r, rig), "prompt"));
}

json_t *metro_runs_active_run(const struct metro_runs *r, const char *rig)
{
	const char *id = metro_runs_active(r, rig);
	return id ? find(r, id) : NULL;
}

void metro_runs_prompt_answered(struct metro_runs *r, const char *rig)
{
	metro_runs_prompt_decided(r, rig, NULL);
}

void metro_runs_prompt_decided(struct metro_runs *r, const char *rig, json_t *decides)
{
	json_t *run = metro_runs_active_run(r, rig);
	json_t *pr = json_object_get(run, "prompt");
	if (!pr)
		return;
	if (!decides) {
		prompt_closed_here(r, run);
		return;
	}
	json_t *p = json_deep_copy(pr); /* the published document is not changed */
	json_t *decided = json_object_get(p, "decided");
	if (!json_is_object(decided))
		json_object_set_new(p, "decided", decided = json_object());
	json_object_update(decided, decides);
	if (set_open(p)) {
		json_object_set_new(run, "prompt", p);
	} else {
		json_decref(p);
		prompt_closed_here(r, run);
	}
}
