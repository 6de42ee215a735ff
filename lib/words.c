/*
 * words.c - booleans and "did you mean" suggestions (words.h).
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "words.h"

int ac_bool_parse(const char *v, bool dflt, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return 0;
    }
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Levenshtein distance of two strings shorter than AC_SUGGEST_MAX_LEN,
 * case-insensitive. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    size_t row[AC_SUGGEST_MAX_LEN + 1];

    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best =
                diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

void ac_suggest_init(struct ac_suggest *s, const char *word)
{
    s->word = word;
    s->best = NULL;
    s->best_d = SIZE_MAX;
}

void ac_suggest_add(struct ac_suggest *s, const char *cand)
{
    size_t lw, lc, limit, d;

    if (s->word == NULL || cand == NULL)
        return;
    lw = strnlen(s->word, AC_SUGGEST_MAX_LEN);
    lc = strnlen(cand, AC_SUGGEST_MAX_LEN);
    if (lw == 0 || lw >= AC_SUGGEST_MAX_LEN || lc >= AC_SUGGEST_MAX_LEN)
        return;
    limit = lw < 4 ? 1 : (lw < 9 ? 2 : 3);
    d = edit_distance(s->word, lw, cand, lc);
    if (d <= limit && d < lw && d < s->best_d) {
        s->best = cand;
        s->best_d = d;
    }
}

const char *ac_suggest_best(const struct ac_suggest *s)
{
    return s->best;
}

const char *ac_suggest(const char *word, const char *const *cands, size_t n)
{
    struct ac_suggest s;

    ac_suggest_init(&s, word);
    for (size_t i = 0; cands != NULL && (n ? i < n : cands[i] != NULL); i++)
        ac_suggest_add(&s, cands[i]);
    return ac_suggest_best(&s);
}
