/*
 * config_validate.c - semantic checks of the merged configuration.
 *
 * Every problem is reported (none stops the others), each at the key path
 * where the value was written: an extra that inherits main's value is
 * checked only when its own settings change the verdict, and then reported at
 * main's key with the extra named. Messages never contain secret values.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "config_internal.h"
#include "hostport.h"

static bool is(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

static bool is_local_or_pseudo(const char *provider)
{
    return is(provider, CONFIG_PROVIDER_LOCAL) || is(provider, CONFIG_PROVIDER_PSEUDO);
}

/* local, pseudo and selfsigned: no CA, so no email, challenge or options. */
static bool asks_no_ca(const char *provider)
{
    return is_local_or_pseudo(provider) || is(provider, CONFIG_PROVIDER_SELFSIGNED);
}

static bool checks_domains(const char *provider)
{
    return !asks_no_ca(provider) && !is(provider, CONFIG_PROVIDER_CUSTOM);
}

static bool is_ip(const char *host);

/* http-01 or tls-alpn-01: the challenges provider acme answers itself. */
static bool non_dns_challenge(const char *challenge)
{
    return is(challenge, "http-01") || is(challenge, "tls-alpn-01");
}

static bool str_same(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static void known_providers(char *out, size_t n)
{
    const struct dns_provider_ops *const *list = dns_provider_list();
    size_t o;

    snprintf(out, n, "local, pseudo, selfsigned, custom, acme");
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        o = strlen(out);
        if (o + 1 < n)
            snprintf(out + o, n - o, ", %s", list[i]->name);
    }
}

/* Returns a problem description for a domain name, or NULL when valid: a
 * hostname of LDH labels (letters, digits, '-' not first or last), each 1-63
 * bytes, at most 253 bytes in all, optionally behind one "*." label. */
static const char *domain_problem(const char *d)
{
    size_t len, label = 0, labels = 0;
    const char *p = d;

    for (const char *c = d; *c; c++)
        if ((unsigned char)*c >= 0x80)
            return "an internationalised (IDN) name: use its punycode (xn--...) form, e.g. "
                   "what 'idn2 NAME' prints";
    if (strlen(d) > 253)
        return "longer than 253 characters";
    if (strncmp(p, "*.", 2) == 0)
        p += 2;
    len = strlen(p);
    if (len == 0)
        return "empty name";
    if (p[len - 1] == '.')
        return "trailing dot: remove it";
    for (const char *c = p;; c++) {
        if (*c == '.' || *c == '\0') {
            if (label == 0)
                return "empty label (two dots in a row or a leading dot)";
            if (c[-1] == '-')
                return "a label ends with '-' (labels start and end with a letter or digit)";
            labels++;
            label = 0;
            if (*c == '\0')
                break;
            continue;
        }
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-'))
            return *c == '*' ? "'*' is only allowed as a whole first label ('*.example.com')"
                             : "invalid character: use letters, digits, '-' and '.'";
        if (label == 0 && *c == '-')
            return "a label starts with '-' (labels start and end with a letter or digit)";
        if (++label > 63)
            return "a label is longer than 63 characters";
    }
    if (labels < 2)
        return "a single-label name (like 'localhost') cannot get a public certificate";
    return NULL;
}

static void check_domains(struct cfg_loader *L, const struct config_set *s,
                          const struct cfg_set_src *src)
{
    char p[320];

    for (size_t i = 0; i < s->domains_count; i++) {
        const char *d = s->domains[i];
        const char *why = NULL;
        bool ip = is_ip(d);
        bool wild_bad = !ip && strncmp(d, "*.", 2) == 0 && non_dns_challenge(s->challenge);

        /* the common case (a valid name) costs no message path */
        if (ip ? non_dns_challenge(s->challenge) : !wild_bad && (why = domain_problem(d)) == NULL)
            continue;
        snprintf(p, sizeof p, "%s.domains[%zu]", src->own_domains ? src->prefix : "autocert",
                 i + 1);
        if (ip)
            cfg_diag(L, false, p,
                     "'%s' is an IP address: %s validates with %s, which cannot prove an "
                     "IP address; use provider: acme with challenge: http-01 or "
                     "tls-alpn-01 (RFC 8738)",
                     d, s->name, s->challenge != NULL ? s->challenge : "dns-01");
        else if (wild_bad)
            cfg_diag(L, false, p,
                     "'%s' is a wildcard: %s validates with %s, and a CA accepts only dns-01 "
                     "for a wildcard (RFC 8555 section 7.1.3); give it a set with a DNS "
                     "provider or list the names",
                     d, s->name, s->challenge);
        else
            cfg_diag(L, false, p, "'%s' is not a valid domain name for %s: %s", d, s->name, why);
    }
}

/* A preferred_chain value: 1..CONFIG_PREFERRED_CHAIN_MAX bytes, no control
 * characters. */
static bool chain_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > CONFIG_PREFERRED_CHAIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* selfsigned: any name a certificate can hold (no CA rules: single labels
 * like 'localhost', wildcards and IP addresses are fine). */
static void check_selfsigned_domains(struct cfg_loader *L, const struct config_set *s,
                                     const struct cfg_set_src *src)
{
    char p[320];

    for (size_t i = 0; i < s->domains_count; i++) {
        const char *d = s->domains[i], *why;

        if (is_ip(d) || (why = domain_problem(d)) == NULL ||
            strncmp(why, "a single-label name", 19) == 0)
            continue;
        snprintf(p, sizeof p, "%s.domains[%zu]", src->own_domains ? src->prefix : "autocert",
                 i + 1);
        cfg_diag(L, false, p, "'%s' is not a valid domain name for %s: %s", d, s->name, why);
    }
}

static bool b64url_ok(const char *s)
{
    size_t n = 0;
    unsigned char *d;

    for (const char *c = s; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '='))
            return false;
    d = b64url_decode_alloc(s, strlen(s), &n);
    if (d == NULL)
        return false;
    free(d);
    return n > 0;
}

/* The rule the runtime applies (propagation check, dns_resolvers): hostport.h
 * with port 53 by default. */
static bool valid_resolver(const char *r)
{
    char host[256];

    return ac_hostport_parse(r, 53, host, sizeof host, NULL) == 0;
}

/* Provider, required keys and the options of one set. */
static void check_provider(struct cfg_loader *L, const struct config_set *s,
                           const struct cfg_set_src *src, const struct config_set *main_set,
                           const struct cfg_set_src *main_src)
{
    char p[320], known[1024];
    bool dns = false, main_required = !asks_no_ca(main_set->provider);
    bool required = !asks_no_ca(s->provider);
    struct ac_error e;

    if (asks_no_ca(s->provider) || is(s->provider, CONFIG_PROVIDER_CUSTOM) ||
        is(s->provider, CONFIG_PROVIDER_ACME)) {
        if (s->options_count > 0 && src->own_options)
            cfg_diag(L, true, cfg_field_path(src, true, "options", p, sizeof p),
                     "ignored: provider %s takes no DNS options", s->provider);
    } else if (dns_provider_find(s->provider) != NULL) {
        dns = true;
    } else {
        known_providers(known, sizeof known);
        cfg_diag(L, false, cfg_field_path(src, src->own_provider, "provider", p, sizeof p),
                 "unknown provider '%s' for %s: use one of %s", s->provider, s->name, known);
    }
    /* An extra that inherits a missing value is reported only when main's
     * provider did not already require it. */
    if (required && s->email == NULL && (s == main_set || !main_required))
        cfg_diag(L, false, cfg_field_path(src, true, "email", p, sizeof p),
                 "email is required for provider %s (%s): add the ACME account's email",
                 s->provider, s->name);
    if (is(s->provider, CONFIG_PROVIDER_SELFSIGNED) && s->domains_count == 0 &&
        (s == main_set || src->own_provider || src->own_domains))
        cfg_diag(L, false, cfg_field_path(src, true, "domains", p, sizeof p),
                 "domains are required for provider selfsigned (%s): list the names the "
                 "self-signed certificate covers",
                 s->name);
    if (is(s->provider, CONFIG_PROVIDER_SELFSIGNED) &&
        (s == main_set || src->own_provider || src->own_domains))
        check_selfsigned_domains(L, s, src);
    if (required && s->domains_count == 0 && (s == main_set || !main_required))
        cfg_diag(L, false, cfg_field_path(src, true, "domains", p, sizeof p),
                 "domains are required for provider %s (%s): list the names to certify",
                 s->provider, s->name);
    if (s->email != NULL && (s == main_set || src->own_email) &&
        (strchr(s->email, '@') == NULL || s->email[0] == '@' || strchr(s->email, '@')[1] == '\0' ||
         strchr(s->email, ' ') != NULL))
        cfg_diag(L, false, cfg_field_path(src, src->own_email, "email", p, sizeof p),
                 "'%s' is not an email address", s->email);
    if (checks_domains(s->provider) &&
        (s == main_set || src->own_domains || !checks_domains(main_set->provider) ||
         !str_same(s->challenge, main_set->challenge)))
        check_domains(L, s, src);
    if (is(s->provider, CONFIG_PROVIDER_CUSTOM) && !src->own_ca_dir_url &&
        !(s != main_set && main_src->own_ca_dir_url))
        cfg_diag(L, false, cfg_field_path(src, true, "ca_dir_url", p, sizeof p),
                 "provider custom requires ca_dir_url (the ACME directory of the CA) for %s",
                 s->name);
    if (dns && (s == main_set || src->own_options || src->own_provider)) {
        ac_error_clear(&e);
        if (dns_options_validate(s->provider, s->options, s->options_count, &e) != 0)
            cfg_diag(L, false,
                     cfg_field_path(src, src->own_options || s == main_set, "options", p, sizeof p),
                     "%s (%s%s)", e.message, s->name,
                     s != main_set && !src->own_options && s->options_count > 0
                         ? " inherits main's options: give it its own"
                         : "");
    }
}

/* The challenge goes with the provider: dns-01 with a DNS provider (and the
 * modes custom, local, pseudo), http-01 or tls-alpn-01 with provider acme.
 * An extra that inherits both from main is reported at main only. */
static void check_challenge(struct cfg_loader *L, const struct config_set *s,
                            const struct cfg_set_src *src)
{
    bool main_set = strcmp(src->prefix, "autocert") == 0;
    bool own = main_set || src->own_challenge;
    char p[320];

    if (!main_set && !src->own_challenge && !src->own_provider)
        return;
    cfg_field_path(src, own, "challenge", p, sizeof p);
    if (is(s->provider, CONFIG_PROVIDER_ACME)) {
        if (s->challenge == NULL)
            cfg_diag(L, false,
                     cfg_field_path(src, main_set || src->own_provider, "provider", p, sizeof p),
                     "provider acme needs a challenge (%s): add challenge: http-01 (answered on "
                     "serve.http_listen) or challenge: tls-alpn-01 (answered on serve.listen)",
                     s->name);
        else if (is(s->challenge, "dns-01"))
            cfg_diag(L, false, p,
                     "challenge dns-01 needs a DNS provider, and %s uses provider acme: use "
                     "challenge http-01 or tls-alpn-01, or name a DNS provider",
                     s->name);
        else if (!non_dns_challenge(s->challenge))
            cfg_diag(L, false, p, "unknown challenge '%s' for %s: use http-01 or tls-alpn-01",
                     s->challenge, s->name);
        return;
    }
    if (s->challenge == NULL || is(s->challenge, "dns-01"))
        return;
    if (non_dns_challenge(s->challenge))
        cfg_diag(L, false, p,
                 "challenge %s is answered by provider acme, and %s uses provider %s (which "
                 "%s): set provider: acme, or use challenge dns-01",
                 s->challenge, s->name, s->provider,
                 asks_no_ca(s->provider)                   ? "never asks a CA"
                 : is(s->provider, CONFIG_PROVIDER_CUSTOM) ? "answers no challenge"
                                                           : "publishes dns-01 records");
    else
        cfg_diag(L, false, p,
                 "unknown challenge '%s' for %s: use dns-01 (or http-01 / tls-alpn-01 with "
                 "provider: acme)",
                 s->challenge, s->name);
}

static void check_set(struct cfg_loader *L, const struct config_set *s,
                      const struct cfg_set_src *src, const struct config_set *main_set,
                      const struct cfg_set_src *main_src)
{
    char p[320];
    bool own_or_main = s == main_set;

    check_provider(L, s, src, main_set, main_src);
    if ((own_or_main || src->own_eab) && (s->eab_kid == NULL) != (s->eab_hmac == NULL))
        cfg_diag(L, false,
                 cfg_field_path(src, true, s->eab_kid ? "eab_kid" : "eab_hmac", p, sizeof p),
                 "%s is missing: eab_kid and eab_hmac go together, set both or neither",
                 s->eab_kid ? "eab_hmac" : "eab_kid");
    if ((own_or_main || src->own_eab) && s->eab_hmac != NULL && !b64url_ok(s->eab_hmac))
        cfg_diag(L, false, cfg_field_path(src, true, "eab_hmac", p, sizeof p),
                 "eab_hmac is not base64url (the HMAC key as the CA gave it)");
    if ((own_or_main || src->own_ca_dir_url) && strncmp(s->ca_dir_url, "https://", 8) != 0)
        cfg_diag(L, false, cfg_field_path(src, true, "ca_dir_url", p, sizeof p),
                 "ca_dir_url must be an https:// URL (the ACME directory)");
    check_challenge(L, s, src);
    if (s->order_timeout <= 0)
        cfg_diag(L, false, cfg_field_path(src, true, "order_timeout", p, sizeof p),
                 "order_timeout must be more than 0s");
    if (s->retry_min <= 0)
        cfg_diag(L, false, cfg_field_path(src, true, "retry_min", p, sizeof p),
                 "retry_min must be more than 0s");
    if (s->retry_max < s->retry_min)
        cfg_diag(L, false, cfg_field_path(src, true, "retry_max", p, sizeof p),
                 "retry_max must not be less than retry_min");
    if (s->profile != NULL && strspn(s->profile, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                                                 "QRSTUVWXYZ0123456789-_.") != strlen(s->profile))
        cfg_diag(L, false, cfg_field_path(src, true, "profile", p, sizeof p),
                 "profile must be a profile name (letters, digits, '-', '_', '.')");
    if (s->preferred_chain != NULL && !chain_name_ok(s->preferred_chain))
        cfg_diag(L, false, cfg_field_path(src, true, "preferred_chain", p, sizeof p),
                 "preferred_chain must be the common name (CN) of the issuer of a chain's top "
                 "certificate: 1 to %d bytes, no control characters",
                 CONFIG_PREFERRED_CHAIN_MAX);
    for (size_t i = 0; (own_or_main || s->resolvers_count) && i < s->resolvers_count; i++) {
        if (valid_resolver(s->resolvers[i]))
            continue;
        snprintf(p, sizeof p, "%s.resolvers[%zu]", src->prefix, i + 1);
        cfg_diag(L, false, p, "'%s' is not a resolver: use host, host:port, [v6] or [v6]:port",
                 s->resolvers[i]);
    }
}

/* One path of check_paths: entry `a` is set a / 2's cert_path (even) or
 * key_path (odd). */
struct path_ref {
    const char *path;
    size_t a;
};

static int path_ref_cmp(const void *x, const void *y)
{
    const struct path_ref *p = x, *q = y;
    int c = strcmp(p->path, q->path);

    if (c != 0)
        return c;
    return p->a < q->a ? -1 : p->a > q->a;
}

/* cert_path and key_path of every set share one namespace. Sorted once
 * (O(n log n) for 100,000 sets); each repeated path is reported against its
 * first use, in the order of the file. */
static void check_paths(struct cfg_loader *L, const struct config *cfg,
                        const struct cfg_set_src *src)
{
    size_t n = cfg->sets_count * 2;
    struct path_ref *v = calloc(n + 1, sizeof *v);
    size_t *first = calloc(n + 1, sizeof *first);
    char p[320];

    if (v == NULL || first == NULL) {
        cfg_diag(L, false, NULL, "out of memory checking cert_path and key_path");
        goto out;
    }
    for (size_t a = 0; a < n; a++) {
        const struct config_set *sa = &cfg->sets[a / 2];

        v[a].path = a % 2 ? sa->key_path : sa->cert_path;
        v[a].a = a;
        first[a] = a;
    }
    qsort(v, n, sizeof *v, path_ref_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i].path, v[i - 1].path) == 0)
            first[v[i].a] = first[v[i - 1].a];
    for (size_t a = 0; a < n; a++) {
        const struct config_set *sa = &cfg->sets[a / 2], *sb = &cfg->sets[first[a] / 2];
        size_t b = first[a];

        if (b == a)
            continue;
        snprintf(p, sizeof p, "%s.%s", src[a / 2].prefix, a % 2 ? "key_path" : "cert_path");
        cfg_diag(L, false, p,
                 "%s (%s) is also the %s of %s: every cert_path and key_path must be "
                 "distinct%s",
                 a % 2 ? sa->key_path : sa->cert_path, sa->name, b % 2 ? "key_path" : "cert_path",
                 sb->name,
                 a / 2 > 0 && !(a % 2 ? src[a / 2].own_key_path : src[a / 2].own_cert_path)
                     ? " (an extra needs its own cert_path and key_path)"
                     : "");
    }
out:
    free(v);
    free(first);
}

static bool header_ok(const char *h)
{
    const char *c = strchr(h, ':');
    const char *tchar = "!#$%&'*+-.^_`|~";

    if (c == NULL || c == h || strpbrk(h, "\r\n") != NULL)
        return false;
    for (const char *p = h; p < c; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr(tchar, *p) != NULL))
            return false;
    c++;
    while (*c == ' ' || *c == '\t')
        c++;
    return *c != '\0';
}

static bool is_ip(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

static bool is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* admin.listen and admin.token: the rules `serve` applies before it binds. */
static void check_admin(struct cfg_loader *L, const struct config *cfg)
{
    const char *tok = cfg->admin.token;
    char host[256];
    int port;

    if (config_parse_listen(cfg->admin.listen, host, sizeof host, &port) != 0) {
        cfg_diag(L, false, "admin.listen",
                 "'%s' is not a listen address: use host:port or [v6]:port (port 1-65535)",
                 cfg->admin.listen);
    } else if (!is_ip(host) && strcasecmp(host, "localhost") != 0) {
        cfg_diag(L, false, "admin.listen",
                 "'%s': the host must be an IP address (127.0.0.1, [::1], 0.0.0.0 ...) or "
                 "localhost",
                 cfg->admin.listen);
    } else if (!is_loopback(host) && tok == NULL) {
        cfg_diag(L, false, "admin.listen",
                 "%s is not a loopback address and admin.token is not set: the admin API "
                 "would be open to the network; set admin.token (at least %d characters) or "
                 "listen on 127.0.0.1",
                 cfg->admin.listen, CONFIG_ADMIN_TOKEN_MIN);
    }
    if (tok == NULL)
        return;
    if (isspace((unsigned char)tok[0]) || isspace((unsigned char)tok[strlen(tok) - 1]))
        cfg_diag(L, false, "admin.token",
                 "admin.token begins or ends with whitespace: remove it (clients send the "
                 "token without it)");
    else if (strlen(tok) < CONFIG_ADMIN_TOKEN_MIN)
        cfg_diag(L, false, "admin.token",
                 "admin.token is too short (%zu characters): use at least %d, e.g. the "
                 "output of 'openssl rand -hex 16'",
                 strlen(tok), CONFIG_ADMIN_TOKEN_MIN);
}

static void check_sections(struct cfg_loader *L, const struct config *cfg)
{
    char host[256], p[64];
    int port;

    check_admin(L, cfg);
    if (cfg->serve.listen != NULL &&
        config_parse_listen(cfg->serve.listen, host, sizeof host, &port) != 0)
        cfg_diag(L, false, "serve.listen",
                 "'%s' is not a listen address: use host:port or [v6]:port (port 1-65535)",
                 cfg->serve.listen);
    else if (cfg->serve.listen != NULL && !is_ip(host))
        cfg_diag(L, false, "serve.listen",
                 "'%s': the host must be an IP address (0.0.0.0, 127.0.0.1, [::] ...)",
                 cfg->serve.listen);
    if (cfg->serve.http_listen != NULL &&
        config_parse_listen(cfg->serve.http_listen, host, sizeof host, &port) != 0)
        cfg_diag(L, false, "serve.http_listen",
                 "'%s' is not a listen address: use host:port or [v6]:port (port 1-65535)",
                 cfg->serve.http_listen);
    else if (cfg->serve.http_listen != NULL && !is_ip(host))
        cfg_diag(L, false, "serve.http_listen",
                 "'%s': the host must be an IP address (0.0.0.0, 127.0.0.1, [::] ...)",
                 cfg->serve.http_listen);
    if (cfg->notify.webhook != NULL && strncmp(cfg->notify.webhook, "https://", 8) != 0 &&
        strncmp(cfg->notify.webhook, "http://", 7) != 0)
        cfg_diag(L, false, "notify.webhook", "notify.webhook must be an http:// or https:// URL");
    for (size_t i = 0; i < cfg->notify.headers_count; i++) {
        if (header_ok(cfg->notify.headers[i]))
            continue;
        snprintf(p, sizeof p, "notify.headers[%zu]", i + 1);
        cfg_diag(L, false, p, "a header must read \"Name: value\" (one line, non-empty value)");
    }
}

size_t cfg_validate(struct cfg_loader *L, const struct config *cfg, const struct cfg_set_src *src)
{
    size_t before = L->errors;

    for (size_t i = 0; i < cfg->sets_count; i++)
        check_set(L, &cfg->sets[i], &src[i], &cfg->sets[0], &src[0]);
    check_paths(L, cfg, src);
    check_sections(L, cfg);
    return L->errors - before;
}
