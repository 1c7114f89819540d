/* schema.h — the version of the record store's schema (PRAGMA user_version): store.c migrates
 * to it and writes it, audit.c refuses to inspect a file whose schema is newer.  docs/records.md
 * describes each version.  A header of its own so that the chain code (audit.c) need not know
 * the store (store.h). */
#ifndef METRO_SCHEMA_H
#define METRO_SCHEMA_H

#define METRO_STORE_SCHEMA 5 /* the schema version this code writes (PRAGMA user_version) */

#endif
