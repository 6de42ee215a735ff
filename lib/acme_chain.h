/*
 * acme_chain.h - choosing among the certificate chains an ACME CA offers for
 * one certificate (RFC 8555 §7.4.2: the default chain at the certificate URL,
 * alternates at the URLs of its Link: rel="alternate" headers) by the
 * `preferred_chain` setting: the Issuer CN of a chain's topmost certificate
 * (certbot's and lego's meaning). Pure: PEM in, a choice out.
 */
#ifndef AUTOCERT_ACME_CHAIN_H
#define AUTOCERT_ACME_CHAIN_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Most alternate chains fetched per certificate (Let's Encrypt offers one or
 * two); the order logs that it looked no further when a CA offers more. */
#define ACME_MAX_ALTERNATES 16

/* The Issuer CN of the topmost (last) certificate of the PEM chain: returns
 * 0 and a new malloc'd string in *cn ("" when that issuer has no CN), or -1
 * with e (the PEM does not parse). */
int acme_chain_top_issuer(const char *pem, size_t len, char **cn, struct ac_error *e);

/* The first of chains[0..n) (PEM, pems[i] of lens[i] bytes; chains[0] the
 * default) whose topmost certificate's Issuer CN equals preferred exactly and
 * whose leaf is chains[0]'s leaf (an alternate with another leaf is never
 * taken). Returns its index, or -1 when none does (also for preferred NULL
 * or empty, n 0, or chains[0] that does not parse; chains that do not parse
 * are passed over). */
ssize_t acme_chain_pick(const char *const *pems, const size_t *lens, size_t n,
                        const char *preferred);

#endif
