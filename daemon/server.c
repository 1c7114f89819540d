#include "server.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <zmq.h>

#include "error.h"
#include "log.h"
#include "runs.h"
#include "util.h"

/* Bind, waiting (bounded) while the address is in use when patient: a socket that has just
 * given up the same address closes its listener in a ZeroMQ I/O thread, a moment later. */
static int bind_retry(void *sock, const char *ep, int patient)
{
	for (int i = 0;; i++) {
		if (!zmq_bind(sock, ep))
			return 0;
		if (!patient || zmq_errno() != EADDRINUSE || i == 200)
			return -1;
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
}

/* A socket bound on ep with the endpoint's CURVE settings, or NULL (why says why, logged). */
static void *bind_socket(void *zctx, int type, const char *ep, const struct metro_curve_conf *cc,
			 int patient, char *why, size_t whylen)
{
	void *sock = zmq_socket(zctx, type);
	if (!sock) {
		snprintf(why, whylen, "%s: %s", ep, zmq_strerror(zmq_errno()));
		metro_err("cannot create a socket for %s", why);
		return NULL;
	}
	int linger = 0;
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	if (type == ZMQ_ROUTER) {
		int64_t maxmsg = METRO_CONTROL_MAX_MSG + 1024;
		zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
	}
	if (cc && cc->enabled) {
		/* CURVE: only clients whose public key the ZAP handler finds in the allowlist
		 * get through; the domain tells the handler which allowlist. */
		int one = 1;
		const char *domain = type == ZMQ_ROUTER ? "control" : "publish";
		if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
		    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, cc->secret_z85, 41) ||
		    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain))) {
			snprintf(why, whylen, "%s: cannot enable CURVE: %s", ep,
				 zmq_strerror(zmq_errno()));
			metro_err("%s", why);
			zmq_close(sock);
			return NULL;
		}
	}
	if (bind_retry(sock, ep, patient)) {
		snprintf(why, whylen, "cannot bind %s: %s", ep, zmq_strerror(zmq_errno()));
		metro_err("%s", why);
		zmq_close(sock);
		return NULL;
	}
	return sock;
}

/* The ZAP handler (RFC 27): every CURVE handshake on the control or publish socket asks here.
 * A client is admitted when its public key is in the endpoint's allowlist as it is now; its
 * user id is that public key, which the control socket looks up again in the allowlist for
 * every request (serve_control).  Every refusal is logged with the peer's address. */
static void serve_zap(struct metro_server *s)
{
	zmq_msg_t f[8];
	int n = 0, more = 1;
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s->zap, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			break;
		}
		more = zmq_msg_more(&m);
		if (n < 8)
			f[n++] = m;
		else
			zmq_msg_close(&m);
	}
	if (n < 6) {
		for (int i = 0; i < n; i++)
			zmq_msg_close(&f[i]);
		return;
	}
	char domain[16] = "", address[64] = "", mech[16] = "";
	snprintf(domain, sizeof domain, "%.*s", (int)zmq_msg_size(&f[2]),
		 (char *)zmq_msg_data(&f[2]));
	snprintf(address, sizeof address, "%.*s", (int)zmq_msg_size(&f[3]),
		 (char *)zmq_msg_data(&f[3]));
	snprintf(mech, sizeof mech, "%.*s", (int)zmq_msg_size(&f[5]), (char *)zmq_msg_data(&f[5]));
	const struct metro_curve_conf *cc =
		!strcmp(domain, "publish") ? &s->cfg->publish_curve : &s->cfg->control_curve;
	const char *user = NULL;
	char key[41] = "";
	if (!strcmp(mech, "CURVE") && n >= 7 && zmq_msg_size(&f[6]) == 32) {
		zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
		const struct metro_curve_client *c = metro_curve_client_by_key(cc, key);
		const struct metro_person *p = metro_person_by_curve(s->cfg, key);
		user = c ? c->name : p ? p->id : NULL;
	}
	if (user)
		metro_info("%s: client %s (%s) admitted from %s", domain, user, key, address);
	else
		metro_warn("%s: refused %s client %s from %s: not in the allowlist", domain, mech,
			   key[0] ? key : "(no key)", address);
	const char *code = user ? "200" : "400";
	const char *text = user ? "OK" : "unknown client key";
	zmq_send(s->zap, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(s->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
	zmq_send(s->zap, code, 3, ZMQ_SNDMORE);
	zmq_send(s->zap, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(s->zap, key, user ? strlen(key) : 0, ZMQ_SNDMORE); /* the User-Id */
	zmq_send(s->zap, "", 0, 0);
	for (int i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
}

static void status_line(struct metro_server *s, const char *what)
{
	sd_notifyf(0, "STATUS=%s; %zu rigs; config generation %u", what, s->nrigs, s->generation);
}

static void start_rigs(struct metro_server *s)
{
	s->rigs = metro_calloc(s->cfg->nrigs, sizeof(struct metro_rig *));
	for (size_t i = 0; i < s->cfg->nrigs; i++)
		if (!metro_rig_start(s->zctx, &s->cfg->rigs[i], &s->rigs[s->nrigs]))
			s->nrigs++;
}

int metro_server_new(struct metro_config *cfg, int init_store, struct metro_server **out)
{
	struct metro_server *s = metro_calloc(1, sizeof *s);
	s->cfg = cfg;
	s->sigfd = -1;
	s->start_ns = metro_now_ns();
	s->generation = 1;
	s->runs = metro_runs_new(64);
	s->guard = metro_guard_new();
	metro_log_set_level(cfg->log_level);
	metro_swid_collect(&s->swid, cfg->procedure_dirs, cfg->nprocedure_dirs);

	/* Block the signals before any thread exists, so that every thread inherits the mask
	 * and they are delivered only through the signalfd. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0) {
		metro_err("signalfd: %s", strerror(errno));
		goto fail;
	}
	s->zctx = zmq_ctx_new();
	/* The ZAP handler must be bound before any CURVE socket accepts a peer. */
	s->zap = zmq_socket(s->zctx, ZMQ_REP);
	if (!s->zap || zmq_bind(s->zap, "inproc://zeromq.zap.01")) {
		metro_err("cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
		goto fail;
	}
	char err[1024];
	s->control = bind_socket(s->zctx, ZMQ_ROUTER, cfg->control_endpoint, &cfg->control_curve, 0,
				 err, sizeof err);
	if (!s->control)
		goto fail;
	s->publish = bind_socket(s->zctx, ZMQ_PUB, cfg->publish_endpoint, &cfg->publish_curve, 0,
				 err, sizeof err);
	if (!s->publish)
		goto fail;
	struct metro_store_opts so = {
		.path = cfg->store_path, .station = cfg->station.id, .init_store = init_store};
	char *dir = metro_dirname(cfg->store_path);
	mkdir(dir, 0750); /* the state directory; its parent must exist */
	free(dir);
	if (metro_store_open(&so, &s->store, err, sizeof err)) {
		metro_err("record store %s: %s", cfg->store_path, err);
		goto fail;
	}
	const int64_t *recovered;
	size_t nrec = metro_store_recovered(s->store, &recovered);
	for (size_t i = 0; i < nrec; i++)
		metro_warn("run %lld was interrupted (crash or kill) and is marked incomplete",
			   (long long)recovered[i]);
	if (metro_config_sync_store(cfg, s->store)) {
		metro_err("record store: cannot record the configuration: %s",
			  metro_store_errmsg(s->store));
		goto fail;
	}
	json_t *rep = NULL;
	if (!metro_store_replay(s->store, 0, 1, &rep))
		json_decref(rep);
	s->next_checkpoint_ns = metro_now_ns() + 600000000000ull;
	start_rigs(s);
	*out = s;
	return METRO_OK;
fail:
	metro_server_destroy(&s);
	*out = NULL;
	return METRO_E_IO;
}

static void stop_rigs(struct metro_server *s)
{
	for (size_t i = 0; i < s->nrigs; i++)
		metro_rig_stop(&s->rigs[i]);
	free(s->rigs);
	s->rigs = NULL;
	s->nrigs = 0;
}

void metro_server_destroy(struct metro_server **ps)
{
	struct metro_server *s = *ps;
	if (!s)
		return;
	stop_rigs(s);
	if (s->control)
		zmq_close(s->control);
	if (s->publish)
		zmq_close(s->publish);
	if (s->zap)
		zmq_close(s->zap);
	if (s->zctx)
		zmq_ctx_term(s->zctx);
	if (s->sigfd >= 0)
		close(s->sigfd);
	metro_guard_destroy(&s->guard, s->store); /* counted refusals recorded first */
	metro_store_close(&s->store); /* signs what was recorded since the last checkpoint */
	metro_swid_free(&s->swid);
	metro_stamp_free(&s->stamp);
	metro_config_destroy(&s->cfg);
	metro_runs_destroy(&s->runs);
	free(s->config_path);
	free(s->unrecorded);
	free(s);
	*ps = NULL;
}

/* One endpoint across a reload: the running socket and, when the new configuration needs
 * another one, the socket bound for it. */
struct ep_swap {
	void *running;
	void *fresh;	   /* NULL: the running socket serves the new configuration as it is */
	char gave_up[256]; /* the address the running socket released for fresh ("": none) */
};

/* Prepare an endpoint for the new configuration.  A new address is bound beside the running
 * socket.  The same address with other CURVE settings (metro_curve_differs: CURVE on or off,
 * another key pair, on publish a client key removed) cannot be: the running socket releases the
 * address first, which ends its sessions, and the new socket binds it; clients reconnect and
 * go through the handshake and the new allowlist.  ep_swap_undo gives the address back.
 * Returns 0, or -1 with why set (logged). */
static int ep_swap_prepare(struct metro_server *s, struct ep_swap *w, int type, void *running,
			   const char *old_ep, const struct metro_curve_conf *old_cc,
			   const char *ep, const struct metro_curve_conf *cc, int people_removed,
			   char *why, size_t whylen)
{
	memset(w, 0, sizeof *w);
	w->running = running;
	int moved = strcmp(old_ep, ep) != 0;
	int sessions_revoked = type == ZMQ_PUB && cc->enabled && people_removed;
	if (!moved && !metro_curve_differs(old_cc, cc, type == ZMQ_PUB) && !sessions_revoked)
		return 0;
	if (!moved) {
		size_t len = sizeof w->gave_up;
		if (zmq_getsockopt(running, ZMQ_LAST_ENDPOINT, w->gave_up, &len) ||
		    zmq_unbind(running, w->gave_up)) {
			snprintf(why, whylen,
				 "cannot release %s to bind it with its new CURVE settings: %s", ep,
				 zmq_strerror(zmq_errno()));
			metro_err("%s", why);
			w->gave_up[0] = '\0';
			return -1;
		}
		metro_notice("%s: CURVE settings changed: binding it again (its clients reconnect)",
			     ep);
	}
	w->fresh = bind_socket(s->zctx, type, ep, cc, !moved, why, whylen);
	return w->fresh ? 0 : -1;
}

/* Whether a person's key of a is no longer one of b's: a PUB socket, which cannot check each
 * message against the registry, must then drop its sessions (ep_swap_prepare). */
static int person_keys_removed(const struct metro_config *a, const struct metro_config *b)
{
	for (size_t i = 0; i < a->npeople; i++)
		if (a->people[i].curve_z85[0] && !metro_person_by_curve(b, a->people[i].curve_z85))
			return 1;
	return 0;
}

/* The reload failed: the running socket keeps (or gets back) its address. */
static void ep_swap_undo(struct ep_swap *w)
{
	if (w->fresh)
		zmq_close(w->fresh);
	w->fresh = NULL;
	if (w->gave_up[0] && bind_retry(w->running, w->gave_up, 1))
		metro_err("cannot bind %s again with the running configuration: %s; it serves "
			  "no one until a reload binds it",
			  w->gave_up, zmq_strerror(zmq_errno()));
	w->gave_up[0] = '\0';
}

/* The reload is applied: the socket that serves the new configuration. */
static void *ep_swap_commit(struct ep_swap *w)
{
	if (!w->fresh)
		return w->running;
	zmq_close(w->running);
	return w->fresh;
}

int metro_server_reload(struct metro_server *s)
{
	struct metro_diag diag;
	struct metro_config *next;
	metro_diag_init(&diag);
	metro_notice("reloading configuration from %s", s->cfg->path);
	int err = metro_config_load(s->cfg->path, &diag, &next);
	if (err) {
		for (size_t i = 0; i < diag.n; i++)
			metro_err("%s", diag.msgs[i]);
		s->reloads_failed++;
		snprintf(s->last_reload_error, sizeof s->last_reload_error, "%s",
			 diag.n ? diag.msgs[0] : "invalid configuration");
		metro_err("configuration reload failed with %zu problem(s); keeping generation "
			  "%u",
			  metro_diag_count(&diag), s->generation);
		metro_diag_free(&diag);
		return METRO_E_INVAL;
	}
	metro_diag_free(&diag);

	/* A rig with a run in progress keeps its configuration: refuse the whole reload rather
	 * than restart a rig under a running batch. */
	for (size_t j = 0; j < s->nrigs; j++) {
		const struct metro_rig_conf *oc = metro_rig_conf(s->rigs[j]);
		const char *run = metro_runs_active(s->runs, oc->id);
		const struct metro_rig_conf *nc = metro_config_rig(next, oc->id);
		if (run && (!nc || metro_rig_conf_differs(oc, nc))) {
			s->reloads_failed++;
			snprintf(s->last_reload_error, sizeof s->last_reload_error,
				 "rig %s has run %s in progress: its configuration cannot change "
				 "now",
				 oc->id, run);
			metro_err("configuration reload refused: %s; keeping generation %u",
				  s->last_reload_error, s->generation);
			metro_config_destroy(&next);
			return METRO_E_STATE;
		}
	}

	/* Endpoints: bound for the new configuration before anything else changes (a failure
	 * gives back whatever the reload took); the running sockets are closed only at the end. */
	struct ep_swap control = {0}, publish = {0};
	char why[sizeof s->last_reload_error];
	if (ep_swap_prepare(s, &control, ZMQ_ROUTER, s->control, s->cfg->control_endpoint,
			    &s->cfg->control_curve, next->control_endpoint, &next->control_curve, 0,
			    why, sizeof why))
		goto bind_failed;
	if (ep_swap_prepare(s, &publish, ZMQ_PUB, s->publish, s->cfg->publish_endpoint,
			    &s->cfg->publish_curve, next->publish_endpoint, &next->publish_curve,
			    person_keys_removed(s->cfg, next), why, sizeof why))
		goto bind_failed;
	s->control = ep_swap_commit(&control);
	s->publish = ep_swap_commit(&publish);

	/* Rigs: keep the actors whose configuration did not change; stop the others (safe state
	 * first) before any new actor starts, so that a changed rig's device (a serial line
	 * above all) is never driven by its old and its new actor at once. */
	struct metro_rig **rigs = metro_calloc(next->nrigs, sizeof(struct metro_rig *));
	for (size_t i = 0; i < next->nrigs; i++)
		for (size_t j = 0; j < s->nrigs; j++)
			if (s->rigs[j] &&
			    !metro_rig_conf_differs(metro_rig_conf(s->rigs[j]), &next->rigs[i])) {
				rigs[i] = s->rigs[j];
				s->rigs[j] = NULL;
				break;
			}
	for (size_t j = 0; j < s->nrigs; j++)
		if (s->rigs[j]) {
			metro_notice("rig %s: stopping (removed or changed)",
				     metro_rig_conf(s->rigs[j])->id);
			metro_rig_stop(&s->rigs[j]);
		}
	size_t nrigs = 0;
	for (size_t i = 0; i < next->nrigs; i++)
		if (rigs[i] || !metro_rig_start(s->zctx, &next->rigs[i], &rigs[i]))
			rigs[nrigs++] = rigs[i];
	free(s->rigs);
	s->rigs = rigs;
	s->nrigs = nrigs;
	if (metro_config_sync_store(next, s->store))
		metro_err("record store: cannot record the new configuration: %s",
			  metro_store_errmsg(s->store));
	metro_config_destroy(&s->cfg);
	s->cfg = next;
	s->generation++;
	s->last_reload_error[0] = '\0';
	metro_log_set_level(next->log_level);
	metro_swid_free(&s->swid);
	metro_stamp_free(&s->stamp);
	metro_swid_collect(&s->swid, next->procedure_dirs, next->nprocedure_dirs);
	metro_notice("configuration generation %u applied: %zu rigs", s->generation, s->nrigs);
	s->due_checked_day = 0; /* the standards may have changed: check their due dates again */
	return METRO_OK;

bind_failed:
	ep_swap_undo(&publish);
	ep_swap_undo(&control);
	s->reloads_failed++;
	snprintf(s->last_reload_error, sizeof s->last_reload_error, "%s", why);
	metro_err("configuration reload failed: %s; keeping generation %u", why, s->generation);
	metro_config_destroy(&next);
	return METRO_E_IO;
}

/* The answer to a request whose CURVE key is not in the allowlist (any more: a reload removed
 * it), or that has no key at all.  Logged, at most once a minute with a count. */
static json_t *unauthorised(struct metro_server *s, zmq_msg_t *payload, const char *key)
{
	int keyed = key && *key;
	metro_log_limited(&s->unauthorised_rl, METRO_LOG_WARNING,
			  "control: refused a request from %s: not in the allowlist",
			  keyed ? key : "a client without a CURVE key");
	json_t *req = json_loadb(zmq_msg_data(payload), zmq_msg_size(payload), 0, NULL);
	json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
	char *msg = keyed ? metro_asprintf("CURVE key %s is not in the allowlist (any more: a "
					   "reload removed it)",
					   key)
			  : metro_strdup("this endpoint admits CURVE keys of its allowlist only");
	json_t *r = json_pack("{sOsbs{ssss}}", "id", id ? id : json_null(), "ok", 0, "error",
			      "code", "unauthorised", "message", msg);
	free(msg);
	json_decref(req);
	return r;
}

/* The Unix user of an ipc:// peer from the message's Peer-Address (libzmq appends
 * ":UID:GID:PID" from SO_PEERCRED, which the kernel vouches for), or -1. */
static long peer_uid(zmq_msg_t *payload)
{
	const char *a = zmq_msg_gets(payload, "Peer-Address");
	const char *p = a ? strrchr(a, ':') : NULL; /* :PID */
	int colons = 0;
	while (p && p > a && colons < 2)
		colons += *--p == ':';
	if (!p || colons != 2 || *p != ':')
		return -1;
	char *end;
	long uid = strtol(p + 1, &end, 10);
	return end != p + 1 && *end == ':' && uid >= 0 ? uid : -1;
}

/* Who sent a request (server.h struct metro_identity).  With CURVE, the client's public key
 * (the User-Id the ZAP handler gave at the handshake) must still be a person's or in the
 * allowlist as the configuration is now: else -1 (unauthorised). */
static int identify(struct metro_server *s, zmq_msg_t *payload, struct metro_identity *who)
{
	const struct metro_config *c = s->cfg;
	memset(who, 0, sizeof *who);
	if (c->control_curve.enabled) {
		const char *key = zmq_msg_gets(payload, "User-Id");
		const struct metro_person *p = metro_person_by_curve(c, key);
		const struct metro_curve_client *cl =
			p ? NULL : metro_curve_client_by_key(&c->control_curve, key);
		if (!p && !cl)
			return -1;
		snprintf(who->who, sizeof who->who, "%s", p ? p->id : cl->name);
		who->person = p;
		who->role = p ? metro_person_command_role(p) : cl->role;
		who->how = "curve";
		return 0;
	}
	long uid = !strncmp(c->control_endpoint, "ipc://", 6) ? peer_uid(payload) : -1;
	char user[64] = "";
	if (uid >= 0) {
		char buf[4096];
		struct passwd pw, *res = NULL;
		if (!getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &res) && res)
			snprintf(user, sizeof user, "%s", pw.pw_name);
		else
			snprintf(user, sizeof user, "%ld", uid);
		const struct metro_person *p = metro_person_by_unix_user(c, user);
		if (p) {
			snprintf(who->who, sizeof who->who, "%s", p->id);
			who->person = p;
			who->role = metro_person_command_role(p);
			who->how = "unix";
			return 0;
		}
		snprintf(who->who, sizeof who->who, "unix:%s", user);
	} else {
		snprintf(who->who, sizeof who->who, "unauthenticated");
	}
	who->role = (enum metro_role)c->unauthenticated_role;
	who->how = "none";
	return 0;
}

/* Read one request from the ROUTER socket and answer it.  A REQ client puts an empty delimiter
 * frame between its identity and the payload, a DEALER client need not: the reply mirrors
 * whatever envelope came in. */
static void serve_control(struct metro_server *s)
{
	zmq_msg_t frames[4];
	int n = 0, more = 1;
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s->control, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			break;
		}
		more = zmq_msg_more(&m);
		if (n < 4)
			frames[n++] = m;
		else
			zmq_msg_close(&m);
	}
	if (n < 2) {
		for (int i = 0; i < n; i++)
			zmq_msg_close(&frames[i]);
		return;
	}
	zmq_msg_t *payload = &frames[n - 1];
	struct metro_identity who;
	json_t *reply = NULL;
	if (identify(s, payload, &who))
		reply = unauthorised(s, payload, zmq_msg_gets(payload, "User-Id"));
	else
		reply = metro_control_handle(s, zmq_msg_data(payload), zmq_msg_size(payload), &who,
					     zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]));
	char *text = json_dumps(reply, JSON_COMPACT | JSON_REAL_PRECISION(12));
	json_decref(reply);
	for (int i = 0; i < n - 1; i++)
		zmq_msg_send(&frames[i], s->control, ZMQ_SNDMORE);
	zmq_send(s->control, text, strlen(text), 0);
	free(text);
	zmq_msg_close(payload);
}

static long today_days(void)
{
	struct metro_date d = metro_date_today();
	return metro_date_days(&d);
}

/* One due date of a standard against today: an alarm on every rig that uses the standard. */
static size_t due_alarm(struct metro_server *s, const struct metro_standard_conf *st,
			const char *what, const char *number, const struct metro_date *due,
			long today)
{
	long left = metro_date_days(due) - today;
	size_t n = 0;
	if (left > s->cfg->due_warning_days)
		return 0;
	char date[16];
	snprintf(date, sizeof date, "%04d-%02d-%02d", due->year % 10000, due->month % 100,
		 due->day % 100);
	for (size_t i = 0; i < s->cfg->nrigs; i++) {
		const struct metro_rig_conf *rc = &s->cfg->rigs[i];
		for (size_t k = 0; k < rc->nstandards; k++) {
			if (strcmp(rc->standards[k], st->id) != 0)
				continue;
			char *msg =
				left < 0 ? metro_asprintf("standard %s: %s %s expired on %s: runs "
							  "that need it are refused",
							  st->id, what, number, date)
					 : metro_asprintf("standard %s: %s %s is due on %s, in %ld "
							  "day%s",
							  st->id, what, number, date, left,
							  left == 1 ? "" : "s");
			json_t *doc =
				json_pack("{sssssbsssssssssI}", "alarm", "standard-due", "severity",
					  left < 0 ? "error" : "warning", "active", 1, "message",
					  msg, "standard", st->id, "certificate", number, "due",
					  date, "days_left", (json_int_t)left);
			metro_warn("rig %s: %s", rc->id, msg);
			free(msg);
			metro_server_publish(s, "alarm", rc->id, doc);
			n++;
		}
	}
	return n;
}

size_t metro_server_check_due(struct metro_server *s)
{
	long today = today_days();
	size_t n = 0;
	s->due_checked_day = today;
	for (size_t i = 0; i < s->cfg->nstandards; i++) {
		const struct metro_standard_conf *st = &s->cfg->standards[i];
		n += due_alarm(s, st, "certificate", st->certificate, &st->due, today);
		if (st->assessment_certificate)
			n += due_alarm(s, st, "assessment certificate", st->assessment_certificate,
				       &st->assessment_due, today);
	}
	return n;
}

/* Everything a rig actor has said: readings, health and alarms are published as they are;
 * results go through the store first; state changes are logged and shown by `status`. */
static void drain_rig(struct metro_server *s, struct metro_rig *r)
{
	json_t *doc;
	struct metro_result res;
	const char *kind;
	const char *id = metro_rig_conf(r)->id;
	while ((kind = metro_rig_receive(r, &doc, &res))) {
		if (res.kind != METRO_DOC_KINDS) { /* typed: recorded, then published and shown */
			json_t *published = metro_server_record_result(s, id, &res);
			if (published) /* only what is committed reaches the runs view */
				metro_runs_update(s->runs, id, kind, published);
			else
				metro_server_record_refused(s, r, &res);
			json_decref(published);
			int done = res.kind == METRO_DOC_RUN && res.u.run->state == METRO_RUN_DONE;
			metro_result_free(&res);
			if (done) /* a run's end is signed at once */
				json_decref(metro_server_checkpoint(s));
		} else if (!doc) { /* a reading: its body, sent as it came */
			size_t len;
			const char *body = metro_rig_reading(r, &len);
			if (body)
				metro_server_publish_body(s, kind, id, metro_rig_id_quoted(r), body,
							  len);
		} else if (!strcmp(kind, "state")) {
			metro_info("rig %s: %s", id, metro_rig_state(r));
			json_decref(doc);
		} else if (!strcmp(kind, "alarm")) {
			int active = json_is_true(json_object_get(doc, "active"));
			const char *msg = json_string_value(json_object_get(doc, "message"));
			if (active)
				metro_warn("rig %s: alarm: %s", id, msg ? msg : "");
			else
				metro_notice("rig %s: alarm cleared: %s", id, msg ? msg : "");
			metro_server_publish(s, kind, id, doc);
		} else {
			metro_server_publish(s, kind, id, doc);
		}
	}
}

static void handle_signals(struct metro_server *s)
{
	struct signalfd_siginfo si;
	while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			sd_notify(0, "RELOADING=1");
			metro_server_reload(s);
			sd_notify(0, "READY=1");
			status_line(s, "serving");
		} else {
			metro_notice("signal %d: shutting down", (int)si.ssi_signo);
			s->stopping = 1;
		}
	}
}

int metro_server_run(struct metro_server *s)
{
	uint64_t wd_usec = 0;
	int wd = sd_watchdog_enabled(0, &wd_usec) > 0;
	uint64_t wd_period_ns = wd ? wd_usec * 1000 / 2 : 0;
	uint64_t next_wd = metro_now_ns();
	sd_notify(0, "READY=1");
	status_line(s, "serving");
	metro_notice("metrod %s serving: control %s, publish %s, %zu rigs", METRO_VERSION,
		     s->cfg->control_endpoint, s->cfg->publish_endpoint, s->nrigs);
	while (!s->stopping) {
		size_t nitems = 3 + s->nrigs;
		zmq_pollitem_t *items = metro_calloc(nitems, sizeof *items);
		items[0] = (zmq_pollitem_t){s->control, 0, ZMQ_POLLIN, 0};
		items[1] = (zmq_pollitem_t){NULL, s->sigfd, ZMQ_POLLIN, 0};
		items[2 + s->nrigs] = (zmq_pollitem_t){s->zap, 0, ZMQ_POLLIN, 0};
		for (size_t i = 0; i < s->nrigs; i++)
			items[2 + i] =
				(zmq_pollitem_t){metro_rig_pipe(s->rigs[i]), 0, ZMQ_POLLIN, 0};
		long timeout = 1000;
		if (wd) {
			uint64_t now = metro_now_ns();
			timeout = next_wd > now ? (long)((next_wd - now) / 1000000) : 0;
		}
		int rc = zmq_poll(items, (int)nitems, timeout);
		if (rc < 0 && zmq_errno() != EINTR) {
			metro_err("zmq_poll: %s", zmq_strerror(zmq_errno()));
			free(items);
			break;
		}
		/* due dates: once a day (or when the standards changed), looked at once a minute */
		if (metro_now_ns() >= s->next_due_look_ns || !s->due_checked_day) {
			s->next_due_look_ns = metro_now_ns() + 60000000000ull;
			if (today_days() != s->due_checked_day)
				metro_server_check_due(s);
		}
		/* the store's file: deleted or replaced under us? (every commit looks too); its
		 * file system: below the reserve? */
		if (metro_now_ns() >= s->next_file_look_ns) {
			metro_store_check_file(s->store);
			s->next_file_look_ns = metro_now_ns() + 1000000000ull;
		}
		if (metro_now_ns() >= s->next_space_look_ns) {
			uint64_t free_mb;
			metro_server_check_space(s, &free_mb);
			s->next_space_look_ns = metro_now_ns() + 5000000000ull;
		}
		metro_server_store_failed(s); /* (or a write outside a result failed it) */
		metro_control_tick(s);	      /* refusal windows that ended; the clock */
		if (metro_now_ns() >= s->next_checkpoint_ns) {
			json_decref(metro_server_checkpoint(s));
			s->next_checkpoint_ns = metro_now_ns() + 600000000000ull;
		}
		if (wd && metro_now_ns() >= next_wd) {
			sd_notify(0, "WATCHDOG=1");
			next_wd = metro_now_ns() + wd_period_ns;
		}
		if (rc > 0) {
			for (size_t i = 0; i < s->nrigs; i++)
				if (items[2 + i].revents & ZMQ_POLLIN)
					drain_rig(s, s->rigs[i]);
			if (items[2 + s->nrigs].revents & ZMQ_POLLIN)
				serve_zap(s);
			if (items[0].revents & ZMQ_POLLIN)
				serve_control(s);
			if (items[1].revents & ZMQ_POLLIN)
				handle_signals(s);
		}
		free(items);
	}
	sd_notify(0, "STOPPING=1");
	status_line(s, "stopping: bringing rigs to their safe state");
	stop_rigs(s);
	/* A run cut short by the stop ends `incomplete` now, saying so (its last results were not
	 * recorded: the rigs were stopped first); resume-run continues it. */
	size_t n = 0;
	if (!metro_store_failed(s->store) &&
	    metro_store_interrupt_runs(s->store, "interrupted: metrod was stopped during the run",
				       "metrod was stopped with the run in progress: its rig was "
				       "brought to the safe state; resume-run continues it",
				       &n))
		metro_err("record store: cannot mark the interrupted runs: %s",
			  metro_store_errmsg(s->store));
	metro_notice("stopped%s", n ? " (runs in progress marked incomplete)" : "");
	return 0;
}
