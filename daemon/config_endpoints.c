/* config_endpoints.c — the `control` and `publish` sections: each an endpoint and, off
 * loopback, its CURVE keys (a secret key file and a directory of client public keys with their
 * roles).  docs/configuration.md and docs/protocol.md describe them. */
#include "config_int.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "util.h"

static const char *const role_names[] = {"observer", "operator", "manager", "none"};

const char *metro_role_name(enum metro_role r)
{
	return (unsigned)r < 4 ? role_names[r] : "?";
}

int metro_endpoint_check(const char *ep, const char **why)
{
	if (!strncmp(ep, "ipc://", 6)) {
		if (!ep[6]) {
			*why = "ipc:// needs a path";
			return METRO_E_INVAL;
		}
		return METRO_OK;
	}
	if (strncmp(ep, "tcp://", 6) != 0) {
		*why = "must be tcp://HOST:PORT or ipc://PATH";
		return METRO_E_INVAL;
	}
	const char *hp = ep + 6;
	const char *colon = strrchr(hp, ':');
	if (!colon || colon == hp) {
		*why = "tcp:// endpoint needs HOST:PORT";
		return METRO_E_INVAL;
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535) {
		*why = "port must be a number from 1 to 65535";
		return METRO_E_INVAL;
	}
	return METRO_OK;
}

/* A Z85 CURVE key: 40 characters of the Z85 alphabet. */
static int z85_key(const char *s)
{
	static const char alphabet[] =
		"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		".-:+=^!/*?&<>()[]{}@%$#";
	if (strlen(s) != 40)
		return 0;
	for (const char *p = s; *p; p++)
		if (!strchr(alphabet, *p))
			return 0;
	return 1;
}

/* A key file (YAML): `public: Z85` and, for a secret key file, `secret: Z85` (mode 0600);
 * an allowlist entry also has `role:`.  Problems are reported at the key file's position. */
static int key_file(struct loader *L, yaml_node_t *at, const char *name, const char *path,
		    int secret, char pub[41], char sec[41], enum metro_role *role)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		metro_y_error(L->f, at, "%s: key file '%s' does not exist", name, path);
		return -1;
	}
	if (secret && (st.st_mode & 077)) {
		metro_y_error(L->f, at,
			      "%s: secret key file '%s' is readable by others (chmod 600)", name,
			      path);
		return -1;
	}
	struct metro_yfile *kf;
	if (metro_yfile_load(path, L->f->diag, &kf))
		return -1;
	static const struct metro_yfield kfields[] = {{"public", 1}, {"secret", 0}, {"role", 0}};
	yaml_node_t *v[3];
	int bad = metro_y_map(kf, metro_y_root(kf), "", kfields, 3, v) != 0;
	char *text = NULL;
	if (v[0] && !metro_y_str(kf, v[0], "public", 64, &text)) {
		if (!z85_key(text)) {
			metro_y_error(kf, v[0], "public: not a Z85 CURVE key (40 characters)");
			bad = 1;
		} else {
			metro_strlcpy(pub, text, 41);
		}
	}
	free(text);
	text = NULL;
	if (secret && !v[1]) {
		metro_y_error(kf, metro_y_root(kf), "missing required key 'secret'");
		bad = 1;
	} else if (!secret && v[1]) {
		metro_y_error(kf, v[1],
			      "secret: a client allowlist entry must not hold a secret key");
		bad = 1;
	} else if (v[1] && !metro_y_str(kf, v[1], "secret", 64, &text)) {
		if (!z85_key(text)) {
			metro_y_error(kf, v[1], "secret: not a Z85 CURVE key (40 characters)");
			bad = 1;
		} else {
			metro_strlcpy(sec, text, 41);
		}
	}
	free(text);
	if (role) {
		int r;
		if (!v[2]) {
			metro_y_error(kf, metro_y_root(kf), "missing required key 'role'");
			bad = 1;
		} else if (!metro_y_enum(kf, v[2], "role", role_names, 3, &r)) {
			*role = (enum metro_role)r;
		} else {
			bad = 1;
		}
	}
	metro_yfile_destroy(&kf);
	return bad ? -1 : 0;
}

static void curve(struct loader *L, yaml_node_t *n, const char *where, struct metro_curve_conf *cc)
{
	static const struct metro_yfield fields[] = {{"secret_key", 1}, {"clients", 1}};
	yaml_node_t *v[2];
	char *p = NULL;
	metro_y_map(L->f, n, where, fields, 2, v);
	struct metro_ypath name = metro_ykey(where, "secret_key");
	if (v[0] && !metro_y_str(L->f, v[0], name.s, 4096, &p)) {
		char *path = cfg_resolve(L, p);
		if (!key_file(L, v[0], name.s, path, 1, cc->public_z85, cc->secret_z85, NULL))
			cc->enabled = 1;
		free(path);
	}
	free(p);
	p = NULL;
	name = metro_ykey(where, "clients");
	if (v[1] && !metro_y_str(L->f, v[1], name.s, 4096, &p)) {
		char *dir = cfg_resolve(L, p);
		DIR *d = opendir(dir);
		if (!d) {
			metro_y_error(L->f, v[1], "%s: directory '%s' does not exist", name.s, dir);
			cc->enabled = 0;
		} else {
			struct dirent *e;
			while ((e = readdir(d))) {
				size_t len = strlen(e->d_name);
				if (e->d_name[0] == '.' || len < 5 ||
				    strcmp(e->d_name + len - 4, ".pub") != 0)
					continue;
				char *kp = metro_path_join(dir, e->d_name);
				struct metro_curve_client c = {0};
				if (!key_file(L, v[1], name.s, kp, 0, c.public_z85, NULL,
					      &c.role)) {
					c.name = metro_strndup(e->d_name, len - 4);
					cc->clients = metro_realloc(cc->clients,
								    (cc->nclients + 1) * sizeof c);
					cc->clients[cc->nclients++] = c;
				}
				free(kp);
			}
			closedir(d);
		}
		free(dir);
	}
	free(p);
}

const struct metro_curve_client *metro_curve_client_by_key(const struct metro_curve_conf *cc,
							   const char *key)
{
	for (size_t i = 0; key && i < cc->nclients; i++)
		if (!strcmp(cc->clients[i].public_z85, key))
			return &cc->clients[i];
	return NULL;
}

/* Every key of a is in b. */
static int keys_within(const struct metro_curve_conf *a, const struct metro_curve_conf *b)
{
	for (size_t i = 0; i < a->nclients; i++)
		if (!metro_curve_client_by_key(b, a->clients[i].public_z85))
			return 0;
	return 1;
}

int metro_curve_differs(const struct metro_curve_conf *a, const struct metro_curve_conf *b,
			int clients)
{
	if (a->enabled != b->enabled)
		return 1;
	if (!a->enabled)
		return 0;
	if (strcmp(a->secret_z85, b->secret_z85) != 0 || strcmp(a->public_z85, b->public_z85) != 0)
		return 1;
	return clients && !keys_within(a, b);
}

/* Loopback (or a Unix socket) is the only place an endpoint may live without CURVE. */
static int loopback(const char *ep)
{
	if (!strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9))
		return 1;
	const char *h = ep + 6;
	return !strncmp(h, "127.", 4) || !strncmp(h, "localhost:", 10) || !strncmp(h, "[::1]:", 6);
}

/* An endpoint section; with unauth (control only, else NULL) the key `unauthenticated:` is
 * allowed and *unauth receives its node or NULL. */
static void endpoint(struct loader *L, yaml_node_t *n, const char *where, char **out,
		     struct metro_curve_conf *cc, yaml_node_t **unauth)
{
	static const struct metro_yfield fields[] = {
		{"endpoint", 1}, {"curve", 0}, {"unauthenticated", 0}};
	yaml_node_t *v[3] = {NULL, NULL, NULL};
	metro_y_map(L->f, n, where, fields, unauth ? 3 : 2, v);
	if (unauth)
		*unauth = v[2];
	if (v[1])
		curve(L, v[1], metro_ykey(where, "curve").s, cc);
	if (!v[0])
		return;
	struct metro_ypath name = metro_ykey(where, "endpoint");
	char *ep = NULL;
	if (metro_y_str(L->f, v[0], name.s, 256, &ep))
		return;
	const char *why;
	if (metro_endpoint_check(ep, &why)) {
		metro_y_error(L->f, v[0], "%s: '%s': %s", name.s, ep, why);
		free(ep);
		return;
	}
	if (!loopback(ep) && !v[1]) {
		metro_y_error(L->f, v[0],
			      "%s: '%s' is not a loopback address: it needs a `curve:` section "
			      "(CURVE encryption and client keys)",
			      name.s, ep);
		free(ep);
		return;
	}
	*out = ep;
}

/* control.unauthenticated: the role of requests that come with no authenticated identity
 * (docs/operations.md "People"). */
void cfg_control(struct loader *L, yaml_node_t *n)
{
	static const char *const unauth_names[] = {"observer", "operator", "manager", "none"};
	struct metro_config *c = L->c;
	yaml_node_t *unauth = NULL;
	endpoint(L, n, "control", &c->control_endpoint, &c->control_curve, &unauth);
	if (unauth)
		metro_y_enum(L->f, unauth, "control.unauthenticated", unauth_names, 4,
			     &c->unauthenticated_role);
}

/* Validated after control: the two endpoints must differ. */
void cfg_publish(struct loader *L, yaml_node_t *n)
{
	struct metro_config *c = L->c;
	endpoint(L, n, "publish", &c->publish_endpoint, &c->publish_curve, NULL);
	if (c->control_endpoint && c->publish_endpoint &&
	    !strcmp(c->control_endpoint, c->publish_endpoint))
		metro_y_error(L->f, n, "publish.endpoint: same as control.endpoint");
}
