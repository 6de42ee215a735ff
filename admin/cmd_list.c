/*
 * cmd_list.c - `autocert list`: one line per set (name, domains, issuer,
 * expiry, state, next renewal), from the configuration in-process or from a
 * running daemon's /api/v1/cert/status, with its filters (--name, --domain,
 * --state) and pages (--limit, --cursor: the cursor of the next page comes
 * from the answer's Link header and is printed to stderr). Without --limit
 * every page is fetched, 1000 sets at a time, and printed as it comes (the
 * columns then take their caps' widths when there is more than one page).
 *
 * A set whose configuration names no domains (local, pseudo) shows the names
 * of its certificate (from /api/v1/cert/info). Columns are as wide as their
 * widest cell up to a cap (LIST_CAPS); a longer cell is cut and ends in
 * "...". Every cell is outside text (certificate names, CA issuer names):
 * control characters and invalid UTF-8 are escaped (autocert_text_sanitize).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "commands.h"

#define LIST_COLS 6
#define LIST_CELL_MAX 512
#define LIST_ELLIPSIS "..."

/* Widest a column may be (characters) before its cells are cut. */
static const size_t list_caps[LIST_COLS] = {24, 60, 40, 20, 10, 20};
static const char *const list_heads[LIST_COLS] = {"SET",     "DOMAINS", "ISSUER",
                                                  "EXPIRES", "STATE",   "NEXT RENEWAL"};

struct list_row {
    char cell[LIST_COLS][LIST_CELL_MAX];
};

static void usage(FILE *f)
{
    fprintf(f, "usage: autocert list [-c FILE | --admin URL] [--name SET] [--domain D]\n"
               "                     [--state S[,S...]] [--limit N] [--cursor C]\n\n"
               "Lists every certificate set: domains, issuer, expiry, state and the next\n"
               "renewal (or retry) time. A set without configured domains (local, pseudo)\n"
               "shows the names of its certificate.\n\n"
               "options:\n"
               "  -c, --config FILE   configuration file (default autocert.yml)\n"
               "      --admin URL     ask a running daemon (e.g. http://127.0.0.1:8555);\n"
               "                      token from AUTOCERT_ADMIN_TOKEN\n"
               "      --name SET      only that set (main, extra[N], a run-time set's name)\n"
               "      --domain D      only the set that D selects (as a handshake would)\n"
               "      --state S       only sets in state S (pending, bootstrap, valid, due,\n"
               "                      renewing, backoff, expired, unmanaged; several with\n"
               "                      commas)\n"
               "      --limit N       one page of at most N sets (1-1000); the cursor of\n"
               "                      the next page is printed to stderr\n"
               "      --cursor C      start after the page that C came with\n"
               "      --log-format F  text (default) or json\n"
               "  -v, --verbose       debug logging\n\n"
               "Filters combine with AND. Without --limit every matching set is listed\n"
               "(fetched 1000 at a time).\n\n"
               "exit status: 0 success, 1 failure, 2 usage or configuration error\n");
}

static const char *str(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || v == NULL)
        return NULL;
    return json_object_get_string(v);
}

static void time_col(struct json_object *o, const char *key, char *out, size_t n)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || v == NULL || json_object_get_int64(v) == 0) {
        snprintf(out, n, "-");
        return;
    }
    admin_time_format((long long)json_object_get_int64(v), out, n);
}

/* Characters (UTF-8 code points) in s. */
static size_t text_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

/* Byte offset where the first `chars` characters of s end. */
static size_t text_prefix(const char *s, size_t chars)
{
    size_t i = 0;

    while (s[i] != '\0' && chars > 0) {
        i++;
        while (((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        chars--;
    }
    return i;
}

/* Sets a cell: text escaped, then cut to `cap` characters ending in "...". */
static void cell_set(char *cell, const char *text, size_t cap)
{
    size_t cut;

    autocert_text_sanitize(cell, LIST_CELL_MAX, text != NULL ? text : "-",
                           text != NULL ? strlen(text) : 1);
    if (text_width(cell) <= cap)
        return;
    cut = text_prefix(cell, cap - strlen(LIST_ELLIPSIS));
    snprintf(cell + cut, LIST_CELL_MAX - cut, "%s", LIST_ELLIPSIS);
}

/* The strings of array `arr` joined with ",", into out ("" when none). */
static void join_names(struct json_object *arr, char *out, size_t n)
{
    size_t used = 0;

    out[0] = '\0';
    if (arr == NULL || !json_object_is_type(arr, json_type_array))
        return;
    for (size_t k = 0; k < json_object_array_length(arr) && used + 1 < n; k++) {
        int w = snprintf(out + used, n - used, "%s%s", k > 0 ? "," : "",
                         json_object_get_string(json_object_array_get_idx(arr, k)));

        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* The dns_names of set `name` in the /info document, joined; "" if none.
 * Both documents list the sets in the same order (main, then the extras), so
 * the search goes on from *cursor, where the last one ended: one pass over
 * /info for the whole table. */
static void cert_names(struct json_object *info, const char *name, size_t *cursor, char *out,
                       size_t n)
{
    struct json_object *names;
    size_t len;

    out[0] = '\0';
    if (info == NULL || name == NULL || !json_object_is_type(info, json_type_array))
        return;
    len = json_object_array_length(info);
    for (size_t i = *cursor; i < len; i++) {
        struct json_object *c = json_object_array_get_idx(info, i);
        const char *cn = str(c, "name");

        if (cn != NULL && strcmp(cn, name) == 0) {
            *cursor = i + 1;
            if (json_object_object_get_ex(c, "dns_names", &names))
                join_names(names, out, n);
            return;
        }
    }
}

static void row_fill(struct list_row *r, struct json_object *s, struct json_object *info,
                     size_t *cursor)
{
    char domains[LIST_CELL_MAX], t[40];
    struct json_object *d = NULL;
    const char *state = str(s, "state");

    cell_set(r->cell[0], str(s, "name") ? str(s, "name") : "?", list_caps[0]);
    json_object_object_get_ex(s, "domains", &d);
    join_names(d, domains, sizeof domains);
    if (domains[0] == '\0')
        cert_names(info, str(s, "name"), cursor, domains, sizeof domains);
    cell_set(r->cell[1], domains[0] ? domains : "-", list_caps[1]);
    cell_set(r->cell[2], str(s, "issuer") ? str(s, "issuer") : "-", list_caps[2]);
    time_col(s, "not_after", t, sizeof t);
    cell_set(r->cell[3], t, list_caps[3]);
    cell_set(r->cell[4], state != NULL ? state : "?", list_caps[4]);
    if (state != NULL && strcmp(state, "backoff") == 0)
        time_col(s, "next_attempt", t, sizeof t);
    else
        time_col(s, "renews_at", t, sizeof t);
    cell_set(r->cell[5], t, list_caps[5]);
}

static void print_row(const char *const *cells, const size_t *width)
{
    for (int c = 0; c < LIST_COLS; c++) {
        if (c == LIST_COLS - 1) {
            printf("%s\n", cells[c]);
            break;
        }
        printf("%s%*s ", cells[c], (int)(width[c] - text_width(cells[c])), "");
    }
}

/* Measures the columns of the rows of `status` into width. */
static void measure(struct json_object *status, struct json_object *info, struct list_row *row,
                    size_t *width)
{
    size_t n = json_object_array_length(status), cursor = 0;

    for (size_t i = 0; i < n; i++) {
        row_fill(row, json_object_array_get_idx(status, i), info, &cursor);
        for (int c = 0; c < LIST_COLS; c++)
            if (text_width(row->cell[c]) > width[c])
                width[c] = text_width(row->cell[c]);
    }
}

static void print_rows(struct json_object *status, struct json_object *info, struct list_row *row,
                       const size_t *width)
{
    size_t n = json_object_array_length(status), cursor = 0;
    const char *cells[LIST_COLS];

    for (size_t i = 0; i < n; i++) {
        row_fill(row, json_object_array_get_idx(status, i), info, &cursor);
        for (int c = 0; c < LIST_COLS; c++)
            cells[c] = row->cell[c];
        print_row(cells, width);
    }
}

/* True when a row of the page needs the certificate names of /info. */
static bool needs_info(struct json_object *status)
{
    for (size_t i = 0; i < json_object_array_length(status); i++) {
        struct json_object *d = NULL;

        if (!json_object_object_get_ex(json_object_array_get_idx(status, i), "domains", &d) ||
            d == NULL || json_object_array_length(d) == 0)
            return true;
    }
    return false;
}

/* One page: /status (and /info from the same place when a row needs it).
 * Returns 0 with *status_arr (and *info, or NULL) and next, or -1 (printed;
 * *code the exit status). */
static int fetch_page(struct admin_ctx *ctx, const char *query, struct json_object **status_arr,
                      struct json_object **info, char *next, size_t n, int *code)
{
    char *body = NULL, msg_safe[512], info_next[512];
    long status = 0;

    *status_arr = *info = NULL;
    *code = EXIT_FAILED;
    if (admin_ctx_request_page(ctx, "/api/v1/cert/status", query, &status, &body, next, n) != 0)
        return -1;
    *status_arr = json_tokener_parse(body);
    if (status != 200 || *status_arr == NULL ||
        !json_object_is_type(*status_arr, json_type_array)) {
        fprintf(stderr, "autocert: admin API answered %ld: %s\n", status,
                admin_body_message(body, msg_safe, sizeof msg_safe));
        if (status == 400 || admin_body_no_match(body))
            *code = EXIT_USAGE;
        json_object_put(*status_arr);
        *status_arr = NULL;
        free(body);
        return -1;
    }
    free(body);
    body = NULL;
    /* Certificate names for sets without configured domains (optional): the
     * /info page from the same cursor, same limit, holds every set of this
     * page that has a certificate. */
    if (needs_info(*status_arr) &&
        admin_ctx_request_page(ctx, "/api/v1/cert/info", query, &status, &body, info_next,
                               sizeof info_next) == 0 &&
        status == 200)
        *info = json_tokener_parse(body);
    free(body);
    return 0;
}

int cmd_list(int argc, char **argv)
{
    struct cli_opts o;
    struct admin_ctx ctx;
    struct json_object *root = NULL, *info = NULL;
    struct list_row *row = NULL;
    char filters[2048] = "", query[4096], next[512] = "", cursor[512] = "";
    size_t width[LIST_COLS];
    int rc;

    if (cli_parse(argc, argv, "admin filters", &o) != 0)
        return EXIT_USAGE;
    if (o.help) {
        usage(stdout);
        return EXIT_OK;
    }
    if (o.nargs != 0 || (o.limit != NULL && (strspn(o.limit, "0123456789") != strlen(o.limit) ||
                                             o.limit[0] == '\0' || strlen(o.limit) > 4))) {
        if (o.nargs == 0)
            fprintf(stderr, "list: --limit takes a number from 1 to 1000\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if ((o.name != NULL && admin_query_add(filters, sizeof filters, "name", o.name) != 0) ||
        (o.domain != NULL && admin_query_add(filters, sizeof filters, "domain", o.domain) != 0) ||
        (o.state != NULL && admin_query_add(filters, sizeof filters, "state", o.state) != 0) ||
        (o.cursor != NULL && strlen(o.cursor) >= sizeof cursor)) {
        fprintf(stderr, "list: arguments too long\n");
        return EXIT_USAGE;
    }
    if (o.cursor != NULL)
        snprintf(cursor, sizeof cursor, "%s", o.cursor);
    row = malloc(sizeof *row);
    rc = admin_ctx_open(&o, &ctx);
    if (rc == EXIT_OK && row == NULL) {
        fprintf(stderr, "autocert: out of memory\n");
        rc = EXIT_FAILED;
    }
    if (rc != EXIT_OK)
        goto out;
    for (int c = 0; c < LIST_COLS; c++)
        width[c] = text_width(list_heads[c]);
    for (bool first = true;; first = false) {
        snprintf(query, sizeof query, "%s", filters);
        if (admin_query_add(query, sizeof query, "limit", o.limit != NULL ? o.limit : "1000") !=
                0 ||
            (cursor[0] != '\0' && admin_query_add(query, sizeof query, "cursor", cursor) != 0)) {
            fprintf(stderr, "list: arguments too long\n");
            rc = EXIT_USAGE;
            goto out;
        }
        if (fetch_page(&ctx, query, &root, &info, next, sizeof next, &rc) != 0)
            goto out;
        if (first && (o.limit != NULL || next[0] == '\0')) {
            /* everything in one answer: columns as wide as their cells */
            measure(root, info, row, width);
            print_row(list_heads, width);
        } else if (first) {
            /* more than one page: columns as wide as their caps */
            for (int c = 0; c < LIST_COLS; c++)
                if (list_caps[c] > width[c])
                    width[c] = list_caps[c];
            print_row(list_heads, width);
        }
        print_rows(root, info, row, width);
        json_object_put(root);
        json_object_put(info);
        root = info = NULL;
        fflush(stdout);
        if (next[0] == '\0')
            break;
        if (o.limit != NULL) {
            fprintf(stderr, "next cursor: %s\n", next);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", next);
    }
    rc = EXIT_OK;
out:
    json_object_put(root);
    json_object_put(info);
    free(row);
    admin_ctx_close(&ctx);
    return rc;
}
