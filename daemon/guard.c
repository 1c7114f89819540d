/* guard.c — the repeat cache and the bounded audit of refusals (guard.h). */
#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sha256.h"
#include "util.h"

struct metro_guard {
	/* repeat cache: key -> {"reply": ..., "t": monotonic ns}; keys oldest first */
	json_t *repeats, *repeat_order;
	/* refusal windows: client name -> {"start": ns, "stored": ["cmd code", ...],
	 * "counts": {"cmd code": n}, "n": total counted, "from": wall, "to": wall} */
	json_t *windows;
};

static void wall_iso(char out[40])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%06ldZ", ts.tv_nsec / 1000);
}

struct metro_guard *metro_guard_new(void)
{
	struct metro_guard *g = metro_calloc(1, sizeof *g);
	g->repeats = json_object();
	g->repeat_order = json_array();
	g->windows = json_object();
	return g;
}

void metro_guard_destroy(struct metro_guard **pg, struct metro_store *store)
{
	struct metro_guard *g = *pg;
	if (!g)
		return;
	if (store)
		metro_guard_flush(g, store, NULL, 0, 1);
	json_decref(g->repeats);
	json_decref(g->repeat_order);
	json_decref(g->windows);
	free(g);
	*pg = NULL;
}

/* ---- the repeat cache ---------------------------------------------------------------------- */

static char *repeat_key(const char *conn, const char *canon)
{
	char hex[METRO_SHA256_HEX];
	metro_sha256_hex(canon, strlen(canon), hex);
	return metro_asprintf("%s\x1f%s", conn, hex);
}

/* Drop what expired (the order is the order of insertion, so of age) and what exceeds the
 * bound. */
static void repeat_expire(struct metro_guard *g, uint64_t now_ns)
{
	const uint64_t ttl = (uint64_t)METRO_REPEAT_TTL_S * 1000000000ull;
	while (json_array_size(g->repeat_order) > 0) {
		const char *k = json_string_value(json_array_get(g->repeat_order, 0));
		json_t *e = json_object_get(g->repeats, k);
		uint64_t t = (uint64_t)json_integer_value(json_object_get(e, "t"));
		if (e && json_array_size(g->repeat_order) <= METRO_REPEAT_MAX && now_ns - t < ttl)
			break;
		json_object_del(g->repeats, k);
		json_array_remove(g->repeat_order, 0);
	}
}

json_t *metro_guard_repeat_get(struct metro_guard *g, const char *conn, const char *canon,
			       uint64_t now_ns)
{
	repeat_expire(g, now_ns);
	char *key = repeat_key(conn, canon);
	json_t *e = json_object_get(g->repeats, key);
	free(key);
	return e ? json_deep_copy(json_object_get(e, "reply")) : NULL;
}

void metro_guard_repeat_put(struct metro_guard *g, const char *conn, const char *canon,
			    json_t *reply, uint64_t now_ns)
{
	char *key = repeat_key(conn, canon);
	if (!json_object_get(g->repeats, key)) {
		json_object_set_new(g->repeats, key,
				    json_pack("{sOsI}", "reply", reply, "t", (json_int_t)now_ns));
		json_array_append_new(g->repeat_order, json_string(key));
	}
	free(key);
	repeat_expire(g, now_ns);
}

/* ---- refusals ------------------------------------------------------------------------------ */

/* The length of the longest prefix of text (n bytes) that ends on a whole UTF-8 character and
 * takes at most max bytes once written as a JSON string (a quote or a backslash takes two). */
static size_t utf8_prefix(const char *text, size_t n, size_t max)
{
	size_t cut = 0, cost = 0;
	while (cut < n) {
		size_t c = text[cut] == '"' || text[cut] == '\\' ? 2 : 1;
		if (cost + c > max)
			break;
		cost += c;
		cut++;
	}
	while (cut > 0 && cut < n && ((unsigned char)text[cut] & 0xC0) == 0x80)
		cut--; /* never inside a UTF-8 character: the head stays valid text */
	return cut;
}

json_t *metro_guard_bounded_request(const json_t *req, size_t max)
{
	char *text = json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t n = text ? strlen(text) : 0;
	if (text && n <= max) {
		free(text);
		return json_deep_copy(req);
	}
	size_t cut = utf8_prefix(text ? text : "", n, max);
	json_t *o = json_pack("{sIsIso}", "cut_at", (json_int_t)cut, "bytes", (json_int_t)n, "head",
			      json_stringn(text ? text : "", cut));
	free(text);
	return o;
}

/* Record and log the summary of a client's counted refusals, and close its window. */
static void flush_window(struct metro_guard *g, struct metro_store *store, const char *who)
{
	json_t *w = json_object_get(g->windows, who);
	json_int_t n = json_integer_value(json_object_get(w, "n"));
	if (w && n > 0) {
		json_t *summary =
			json_pack("{sIsOsOsOsi}", "count", n, "from", json_object_get(w, "from"),
				  "to", json_object_get(w, "to"), "counts",
				  json_object_get(w, "counts"), "window_s", METRO_REFUSAL_WINDOW_S);
		char *counts = json_dumps(json_object_get(w, "counts"), JSON_COMPACT);
		metro_warn("control: %s: %lld more refused request%s since %s, counted, not "
			   "stored one by one: %s",
			   who, (long long)n, n == 1 ? "" : "s",
			   json_string_value(json_object_get(w, "from")), counts ? counts : "");
		free(counts);
		if (store && metro_store_audit(store, who, "refused.repeats", NULL, NULL, summary,
					       "repeated refusals are counted, not stored one by "
					       "one (docs/records.md)",
					       NULL))
			metro_err("record store: cannot record the refusals of %s: %s", who,
				  metro_store_errmsg(store));
		json_decref(summary);
	}
	json_object_del(g->windows, who);
}

void metro_guard_flush(struct metro_guard *g, struct metro_store *store, const char *who,
		       uint64_t now_ns, int all)
{
	const uint64_t window = (uint64_t)METRO_REFUSAL_WINDOW_S * 1000000000ull;
	const char *names[METRO_REFUSAL_CLIENTS + 1];
	size_t n = 0;
	const char *k;
	json_t *w;
	json_object_foreach (g->windows, k, w) {
		uint64_t start = (uint64_t)json_integer_value(json_object_get(w, "start"));
		if ((!who || !strcmp(k, who)) && (all || now_ns - start >= window) &&
		    n < METRO_ARRAY_SIZE(names))
			names[n++] = k;
	}
	/* (keys stay valid until their window is deleted: copy before flushing) */
	char *copy[METRO_ARRAY_SIZE(names)];
	for (size_t i = 0; i < n; i++)
		copy[i] = metro_strdup(names[i]);
	for (size_t i = 0; i < n; i++) {
		flush_window(g, store, copy[i]);
		free(copy[i]);
	}
}

/* The open window of a client (a new one when it had none), the oldest flushed when there are
 * too many. */
static json_t *window_of(struct metro_guard *g, struct metro_store *store, const char *who,
			 uint64_t now_ns)
{
	metro_guard_flush(g, store, NULL, now_ns, 0); /* windows that ended */
	json_t *w = json_object_get(g->windows, who);
	if (w)
		return w;
	if (json_object_size(g->windows) >= METRO_REFUSAL_CLIENTS) {
		const char *k, *oldest = NULL;
		json_t *v;
		json_int_t t = 0;
		json_object_foreach (g->windows, k, v) {
			json_int_t s = json_integer_value(json_object_get(v, "start"));
			if (!oldest || s < t) {
				oldest = k;
				t = s;
			}
		}
		char *name = metro_strdup(oldest);
		flush_window(g, store, name);
		free(name);
	}
	w = json_pack("{sIs[]s{}sIssss}", "start", (json_int_t)now_ns, "stored", "counts", "n",
		      (json_int_t)0, "from", "", "to", "");
	json_object_set_new(g->windows, who, w);
	return w;
}

void metro_guard_refused(struct metro_guard *g, struct metro_store *store,
			 const struct metro_refusal *r, uint64_t now_ns)
{
	json_t *w = window_of(g, store, r->who, now_ns);
	char kind[160];
	snprintf(kind, sizeof kind, "%s %s", r->cmd, r->code);
	json_t *stored = json_object_get(w, "stored");
	int seen = 0;
	for (size_t i = 0; i < json_array_size(stored); i++)
		seen |= !strcmp(json_string_value(json_array_get(stored, i)), kind);
	if (!seen && json_array_size(stored) < METRO_REFUSAL_STORED_MAX) {
		json_array_append_new(stored, json_string(kind));
		int mlen = (int)utf8_prefix(r->message, strlen(r->message), 300);
		metro_warn("control: %s (%s) refused '%s': %s: %.*s", r->who, r->role, r->cmd,
			   r->code, mlen, r->message);
		json_t *req = metro_guard_bounded_request(r->req, METRO_REFUSAL_TEXT_MAX);
		char *why = metro_asprintf("refused: %s: %.*s", r->code, mlen, r->message);
		if (store &&
		    metro_store_audit(store, r->who, r->action, r->subject, NULL, req, why, NULL))
			metro_err("record store: cannot record the refusal: %s",
				  metro_store_errmsg(store));
		free(why);
		json_decref(req);
		return;
	}
	char now[40];
	wall_iso(now);
	json_t *counts = json_object_get(w, "counts");
	json_object_set_new(counts, kind,
			    json_integer(json_integer_value(json_object_get(counts, kind)) + 1));
	json_object_set_new(w, "n", json_integer(json_integer_value(json_object_get(w, "n")) + 1));
	if (!json_string_length(json_object_get(w, "from")))
		json_object_set_new(w, "from", json_string(now));
	json_object_set_new(w, "to", json_string(now));
}
