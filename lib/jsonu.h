/*
 * jsonu.h - bounded JSON parsing and typed field access on top of json-c.
 *
 * Everything a CA or a DNS API sends is parsed with jsonu_parse(): explicit
 * length, depth limit, size limit, and an error that names the problem. The
 * getters return borrowed pointers valid while the parsed object lives.
 */
#ifndef AUTOCERT_JSONU_H
#define AUTOCERT_JSONU_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define JSONU_MAX_DEPTH 32
#define JSONU_MAX_SIZE (1024 * 1024)

/* Parses exactly `len` bytes (trailing whitespace allowed). Returns a new
 * object (json_object_put it) or NULL with `e` set to `kind` and a message that
 * includes `what` (e.g. "ACME order"). */
json_object *jsonu_parse(const char *data, size_t len, const char *what,
                         const char *kind, struct ac_error *e);

/* Borrowed string member, or NULL when absent or not a string. */
const char *jsonu_str(json_object *o, const char *key);
/* Borrowed array / object member, or NULL when absent or of another type. */
json_object *jsonu_arr(json_object *o, const char *key);
json_object *jsonu_obj(json_object *o, const char *key);
/* Integer member into *out; -1 when absent or not an integer. */
int jsonu_int(json_object *o, const char *key, int64_t *out);
/* Boolean member; `def` when absent or not a boolean. */
int jsonu_bool(json_object *o, const char *key, int def);

/* Serialises compactly without escaping '/'. Borrowed: valid until `o` is
 * modified or freed. */
const char *jsonu_string(json_object *o);

/* Adds a string member (copies). Returns -1 on ENOMEM. The value goes in as
 * it is: for protocol data. */
int jsonu_add_str(json_object *o, const char *key, const char *value);

/* Adds a string member holding outside text (a CA's issuer name, a value
 * from a request) for people to read: when it is not valid UTF-8 or holds
 * control characters it is escaped first (ac_text_sanitize, at most
 * JSONU_TEXT_MAX bytes after escaping), so the document stays valid JSON and
 * a terminal showing it gets no escape sequence. NULL adds a JSON null.
 * Returns -1 on ENOMEM. */
#define JSONU_TEXT_MAX 4096
int jsonu_add_text(json_object *o, const char *key, const char *value);

#endif
