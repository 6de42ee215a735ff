/* jsonu.c - bounded json-c parsing and typed getters (see jsonu.h). */
#include "jsonu.h"

#include <stdlib.h>
#include <string.h>

#include "textsafe.h"

json_object *jsonu_parse(const char *data, size_t len, const char *what,
                         const char *kind, struct ac_error *e)
{
    json_tokener *tok = NULL;
    json_object *o = NULL;
    enum json_tokener_error jerr;

    if (len > JSONU_MAX_SIZE) {
        ac_error_set(e, kind, "%s: JSON document of %zu bytes exceeds the %d byte limit",
                     what, len, JSONU_MAX_SIZE);
        return NULL;
    }
    if (len == 0) {
        ac_error_set(e, kind, "%s: empty response where JSON was expected", what);
        return NULL;
    }
    tok = json_tokener_new_ex(JSONU_MAX_DEPTH);
    if (tok == NULL) {
        ac_error_set(e, AC_ERR_NOMEM, "%s: out of memory", what);
        return NULL;
    }
    o = json_tokener_parse_ex(tok, data, (int)len);
    jerr = json_tokener_get_error(tok);
    if (o == NULL || jerr != json_tokener_success) {
        if (jerr == json_tokener_continue)
            ac_error_set(e, kind, "%s: truncated JSON", what);
        else
            ac_error_set(e, kind, "%s: malformed JSON: %s", what,
                         json_tokener_error_desc(jerr));
        json_object_put(o);
        o = NULL;
        goto out;
    }
    /* Only whitespace may follow the value. */
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        char c = data[i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            ac_error_set(e, kind, "%s: trailing data after JSON value", what);
            json_object_put(o);
            o = NULL;
            goto out;
        }
    }
out:
    json_tokener_free(tok);
    return o;
}

const char *jsonu_str(json_object *o, const char *key)
{
    json_object *v;

    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static json_object *typed(json_object *o, const char *key, json_type type)
{
    json_object *v;

    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
        return NULL;
    return v;
}

json_object *jsonu_arr(json_object *o, const char *key) { return typed(o, key, json_type_array); }
json_object *jsonu_obj(json_object *o, const char *key) { return typed(o, key, json_type_object); }

int jsonu_int(json_object *o, const char *key, int64_t *out)
{
    json_object *v = typed(o, key, json_type_int);

    if (v == NULL)
        return -1;
    *out = json_object_get_int64(v);
    return 0;
}

int jsonu_bool(json_object *o, const char *key, int def)
{
    json_object *v = typed(o, key, json_type_boolean);

    return v == NULL ? def : json_object_get_boolean(v);
}

const char *jsonu_string(json_object *o)
{
    return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
}

int jsonu_add_str(json_object *o, const char *key, const char *value)
{
    json_object *v = json_object_new_string(value);

    if (v == NULL)
        return -1;
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

int jsonu_add_text(json_object *o, const char *key, const char *value)
{
    json_object *v;
    char *safe = NULL;

    if (value == NULL)
        return json_object_object_add(o, key, NULL) == 0 ? 0 : -1;
    if (ac_text_is_clean(value, strlen(value))) {
        v = json_object_new_string(value);
    } else {
        safe = malloc(JSONU_TEXT_MAX);
        if (safe == NULL)
            return -1;
        ac_text_sanitize(safe, JSONU_TEXT_MAX, value, strlen(value));
        v = json_object_new_string(safe);
        free(safe);
    }
    if (v == NULL)
        return -1;
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}
