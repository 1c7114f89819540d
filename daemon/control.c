/* control.c — the control API: JSON requests in, JSON replies out.
 *
 * A request is {"id": <string or integer>, "cmd": <name>, ...}.  The reply is
 * {"id":..,"ok":true,...} or {"id":..,"ok":false,"error":{"code":..,"message":..}}.  Commands
 * are listed in one table; the protocol is documented in docs/protocol.md.
 */
#include <string.h>

#include "log.h"
#include "server.h"
#include "util.h"

static json_t *error_reply(json_t *id, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static json_t *error_reply(json_t *id, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = metro_vasprintf(fmt, ap);
	va_end(ap);
	json_t *r = json_pack("{sOsbs{ssss}}", "id", id ? id : json_null(), "ok", 0, "error",
			      "code", code, "message", msg);
	free(msg);
	return r;
}

static json_t *ok_reply(json_t *id)
{
	return json_pack("{sOsb}", "id", id, "ok", 1);
}

static json_t *cmd_ping(struct metro_server *s, json_t *req, json_t *id)
{
	(void)s;
	(void)req;
	json_t *r = ok_reply(id);
	json_object_set_new(r, "pong", json_true());
	json_object_set_new(r, "version", json_string(METRO_VERSION));
	return r;
}

static json_t *cmd_status(struct metro_server *s, json_t *req, json_t *id)
{
	(void)req;
	json_t *r = ok_reply(id);
	json_t *rigs = json_array();
	for (size_t i = 0; i < s->nrigs; i++) {
		const struct metro_rig_conf *rc = metro_rig_conf(s->rigs[i]);
		json_array_append_new(rigs,
				      json_pack("{sssssssIss}", "id", rc->id, "kind",
						metro_rig_kind_name(rc->kind), "driver", rc->driver,
						"positions", (json_int_t)rc->positions, "state",
						metro_rig_state(s->rigs[i])));
	}
	json_object_set_new(r, "station", json_string(s->cfg->station.id));
	json_object_set_new(r, "version", json_string(METRO_VERSION));
	json_object_set_new(r, "uptime_s", json_real((double)(metro_now_ns() - s->start_ns) / 1e9));
	json_object_set_new(r, "config", json_string(s->cfg->path));
	json_object_set_new(r, "config_generation", json_integer(s->generation));
	json_object_set_new(r, "reloads_failed", json_integer(s->reloads_failed));
	if (s->last_reload_error[0])
		json_object_set_new(r, "last_reload_error", json_string(s->last_reload_error));
	json_object_set_new(r, "requests", json_integer((json_int_t)s->requests));
	json_object_set_new(r, "seq", json_integer((json_int_t)s->seq));
	json_object_set_new(r, "publish_drops", json_integer((json_int_t)s->publish_drops));
	json_object_set_new(r, "executable_sha256", json_string(s->swid.exe_sha256));
	json_object_set_new(r, "rigs", rigs);
	return r;
}

static const struct {
	const char *name;
	json_t *(*fn)(struct metro_server *s, json_t *req, json_t *id);
} commands[] = {
	{"ping", cmd_ping},
	{"status", cmd_status},
};

json_t *metro_control_handle(struct metro_server *s, const char *msg, size_t len)
{
	s->requests++;
	if (len > METRO_CONTROL_MAX_MSG)
		return error_reply(NULL, "too-large", "request of %zu bytes exceeds %d", len,
				   METRO_CONTROL_MAX_MSG);
	json_error_t jerr;
	json_t *req = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req)
		return error_reply(NULL, "bad-json", "line %d column %d: %s", jerr.line,
				   jerr.column, jerr.text);
	json_t *reply;
	if (!json_is_object(req)) {
		reply = error_reply(NULL, "bad-request", "request must be a JSON object");
		goto out;
	}
	json_t *id = json_object_get(req, "id");
	if (!id || !(json_is_string(id) || json_is_integer(id))) {
		reply = error_reply(NULL, "bad-request", "'id' must be a string or an integer");
		goto out;
	}
	json_t *cmd = json_object_get(req, "cmd");
	if (!json_is_string(cmd)) {
		reply = error_reply(id, "bad-request", "'cmd' must be a string");
		goto out;
	}
	for (size_t i = 0; i < METRO_ARRAY_SIZE(commands); i++) {
		if (!strcmp(commands[i].name, json_string_value(cmd))) {
			reply = commands[i].fn(s, req, id);
			goto out;
		}
	}
	reply = error_reply(id, "unknown-command", "unknown command '%s'", json_string_value(cmd));
out:
	json_decref(req);
	return reply;
}
