/* registry.c — the drivers metrod knows: the built-in ones, listed explicitly, and those
 * loaded from plugin shared objects named in the configuration (`driver_plugins:`).
 *
 * A plugin exports one symbol, `metro_driver_plugin`, a const struct metro_driver whose
 * abi_version must equal METRO_DRIVER_ABI_VERSION: a plugin built against another layout of the
 * ops table is refused before any of its functions is called.  Plugins are loaded on the main
 * thread before rig actors start and are never unloaded (a driver's code must outlive every
 * device that uses it, and reloads are rare).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "error.h"
#include "util.h"

static const struct metro_driver *const builtin[] = {
	&metro_driver_modbus_tcp,
	&metro_driver_modbus_rtu,
	&metro_driver_serial_line,
};

#define MAX_PLUGINS 32
static const struct metro_driver *plugins[MAX_PLUGINS];
static size_t nplugins;

const struct metro_driver *metro_driver_find(const char *name)
{
	for (size_t i = 0; i < METRO_ARRAY_SIZE(builtin); i++)
		if (!strcmp(builtin[i]->name, name))
			return builtin[i];
	for (size_t i = 0; i < nplugins; i++)
		if (!strcmp(plugins[i]->name, name))
			return plugins[i];
	return NULL;
}

void metro_driver_names(char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < METRO_ARRAY_SIZE(builtin) + nplugins && o < len; i++) {
		const struct metro_driver *d = i < METRO_ARRAY_SIZE(builtin)
						       ? builtin[i]
						       : plugins[i - METRO_ARRAY_SIZE(builtin)];
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", d->name);
	}
}

static int valid_ops(const struct metro_driver *d)
{
	return d->name && d->name[0] && d->transport && d->open && d->close && d->read &&
	       d->write && d->describe && d->last_error &&
	       (!strcmp(d->transport, "modbus") || !strcmp(d->transport, "serial-line"));
}

int metro_driver_load_plugin(const char *path, char *why, size_t whylen)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, whylen, "cannot load: %s", dlerror());
		return METRO_E_NOTFOUND;
	}
	const struct metro_driver *d = dlsym(h, METRO_DRIVER_PLUGIN_SYMBOL);
	if (!d) {
		snprintf(why, whylen, "no symbol '%s' in %s", METRO_DRIVER_PLUGIN_SYMBOL, path);
		dlclose(h);
		return METRO_E_INVAL;
	}
	if (d->abi_version != METRO_DRIVER_ABI_VERSION) {
		snprintf(why, whylen, "driver ABI version %u, metrod needs %u: rebuild the plugin",
			 d->abi_version, METRO_DRIVER_ABI_VERSION);
		dlclose(h);
		return METRO_E_INVAL;
	}
	if (!valid_ops(d)) {
		snprintf(why, whylen,
			 "incomplete ops table (name, transport, open, close, read, "
			 "write, describe and last_error are required)");
		dlclose(h);
		return METRO_E_INVAL;
	}
	const struct metro_driver *existing = metro_driver_find(d->name);
	if (existing == d)
		return METRO_OK; /* the same object loaded again (a reload) */
	if (existing) {
		snprintf(why, whylen, "driver name '%s' is already taken", d->name);
		dlclose(h);
		return METRO_E_EXISTS;
	}
	if (nplugins == MAX_PLUGINS) {
		snprintf(why, whylen, "too many plugins (%d)", MAX_PLUGINS);
		dlclose(h);
		return METRO_E_RANGE;
	}
	plugins[nplugins++] = d;
	return METRO_OK;
}
