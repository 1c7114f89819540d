/* config_int.h — shared by the files of the configuration loader, not used outside them.
 *
 * config.c holds the table of the file's top-level sections (one validator each) and the
 * public functions; each larger section has its validator in a file of its own:
 *   config_endpoints.c  control and publish: endpoints, CURVE keys, client allowlists;
 *   config_standards.c  standards: the reference standards (also parsed for `standard-set`);
 *   config_rigs.c       driver_plugins and rigs: drivers, connections, profiles;
 *   config_people.c     people: the person registry.
 * Validators report every problem they find (FILE:LINE:COL, key paths built with metro_ykey)
 * and fill in what is valid; the caller refuses the whole file if anything was reported.
 */
#ifndef METRO_CONFIG_INT_H
#define METRO_CONFIG_INT_H

#include "config.h"
#include "yfile.h"

/* Loader state: the file being read and the configuration being built (NULL when a single
 * standard is parsed on its own). */
struct loader {
	struct metro_yfile *f;
	struct metro_config *c;
};

/* A path from the file, resolved against the file's directory (allocated). */
char *cfg_resolve(struct loader *L, const char *p);

/* One entry of a section given on its own (standard-set, person-set: a YAML or JSON mapping
 * in text[0..len)), validated by entry with the configuration's rules; name and where appear
 * in the messages.  Returns 0, or METRO_E_INVAL with every problem in diag (out is then
 * partly filled: the caller frees it). */
int cfg_parse_entry(const char *name, const char *text, size_t len, const char *where,
		    struct metro_diag *diag,
		    void (*entry)(struct loader *L, yaml_node_t *n, const char *where, void *out),
		    void *out);

/* The section validators. */
void cfg_control(struct loader *L, yaml_node_t *n);
void cfg_publish(struct loader *L, yaml_node_t *n);
void cfg_standards(struct loader *L, yaml_node_t *n);
void cfg_driver_plugins(struct loader *L, yaml_node_t *n);
void cfg_rigs(struct loader *L, yaml_node_t *n);
void cfg_people(struct loader *L, yaml_node_t *n);

#endif
