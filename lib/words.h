/*
 * words.h - configuration words every part reads the same way: booleans and
 * "did you mean" suggestions (config keys, DNS provider names, provider
 * option keys).
 *
 * Booleans: "true", "yes", "on", "1" are true; "false", "no", "off", "0" are
 * false; case-insensitive; nothing else (no surrounding blanks). An absent or
 * empty value takes the caller's default.
 *
 * Suggestions: the candidate with the smallest case-insensitive edit
 * distance (Levenshtein) to the word, when that distance is at most 1 for a
 * word under 4 characters, 2 under 9, 3 otherwise, and less than the word's
 * length; the first such candidate wins a tie. Words and candidates of
 * AC_SUGGEST_MAX_LEN characters or more are never matched.
 *
 * Pure, thread-safe, no allocation.
 */
#ifndef AUTOCERT_WORDS_H
#define AUTOCERT_WORDS_H

#include <stdbool.h>
#include <stddef.h>

/* Parses a boolean as above. NULL or "" gives dflt. Returns 0 with *out set,
 * or -1 (*out untouched) for any other spelling. */
int ac_bool_parse(const char *v, bool dflt, bool *out);

#define AC_SUGGEST_MAX_LEN 64

/* An incremental search for the closest candidate (for candidates that are
 * not in one array). Strings are borrowed: they must outlive the search. */
struct ac_suggest {
    const char *word;
    const char *best;
    size_t best_d;
};
void ac_suggest_init(struct ac_suggest *s, const char *word);
void ac_suggest_add(struct ac_suggest *s, const char *cand);
/* The best candidate so far (borrowed), or NULL. */
const char *ac_suggest_best(const struct ac_suggest *s);

/* The best candidate among cands (n entries; n == 0: NULL-terminated), or
 * NULL. Borrowed from cands. */
const char *ac_suggest(const char *word, const char *const *cands, size_t n);

#endif
