/*
 * gnutls_adapter.c - the GnuTLS retrieve callback that serves a manager's
 * certificates by SNI.
 *
 * What one handshake receives, and who frees it. We set
 * GNUTLS_CERT_RETR_DEINIT_ALL, so GnuTLS owns and frees everything we return
 * at gnutls_deinit(session):
 *   - the pcert array (gnutls_malloc) with one pcert per chain certificate:
 *     a copy of the handle's DER and a public key imported from the
 *     SubjectPublicKeyInfo the handle keeps (cert_pcert_copy; GnuTLS frees
 *     cert.data and the pubkey of each). Re-parsing each certificate instead
 *     (gnutls_pcert_import_x509_raw) costs ~24 us per certificate, about 7 %
 *     of a whole ECDSA handshake here;
 *   - a fresh privkey made with gnutls_privkey_import_ext4 whose userdata is a
 *     reference to the certificate handle: its sign/decrypt callbacks use the
 *     handle's already parsed key, and its deinit callback (AUTO_RELEASE)
 *     drops the reference. The handle therefore lives exactly until
 *     gnutls_deinit, even when the set's certificate is replaced meanwhile.
 * The alternatives were (a) re-parsing the PKCS#8 key per handshake (an EC
 * private-key import costs a scalar multiplication check; RSA much more) and
 * (b) returning the handle's own objects without DEINIT_ALL, which leaves no
 * hook to drop the reference at gnutls_deinit. bench/handshakes measures the
 * whole path against a static certificate.
 *
 * GnuTLS's retrieve callback has no user pointer, so credentials are mapped to
 * managers in a small table under a rwlock; the lookup runs with the read lock
 * held (no I/O, no allocation), which makes autocert_gnutls_uninstall a
 * barrier: after it returns no callback touches the manager.
 *
 * tls-alpn-01 (RFC 8737) and local addresses (RFC 8738), for hosts that call
 * autocert_gnutls_session_init on each session. The ALPN list is per session
 * and belongs to the host, and GnuTLS parses ALPN and SNI in the same pass,
 * so the choice to offer acme-tls/1 is made before that pass: a
 * GNUTLS_HOOK_PRE ClientHello hook reads the raw ClientHello
 * (gnutls_ext_raw_parse) and sets the host's protocols, plus acme-tls/1 only
 * when the client offers it for a server name with a pending challenge. The
 * protocols are set exactly once per session: GnuTLS 3.7.9's
 * gnutls_alpn_set_protocols adds to the count on every call. The retrieve
 * callback then sees the selected protocol: acme-tls/1 gets the challenge
 * certificate of the server name or a refusal, never a set's certificate,
 * and nothing else ever gets a challenge certificate.
 *
 * The per-session state (the manager, the host's protocols, a local address
 * the host set) hangs on the session as the private data of a session-local
 * extension registered under the private-use ExtensionType 65280
 * (gnutls_session_ext_register): GnuTLS frees it at gnutls_deinit, and the
 * extension itself is never sent. gnutls_session_set_ptr stays the host's.
 *
 * A handshake without SNI is matched to a set's IP certificate by the local
 * address of the connection: the one the host set, else getsockname() on the
 * transport's fd (only in that case: one system call).
 */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "autocert/autocert_gnutls.h"
#include "cert.h"
#include "challenge.h"
#include "log.h"
#include "manager.h"
#include "sni.h"
#include "timeutil.h"

#define ADAPTER_MAX_BINDINGS 64
#define ADAPTER_EXT_ID 65280 /* "Reserved for Private Use" (RFC 8446 §4.2) */
#define ACME_TLS "acme-tls/1"
#define ACME_TLS_LEN 10
/* GnuTLS 3.7.9 (lib/ext/alpn.h): at most 8 protocols of at most 31 bytes */
#define ALPN_MAX_PROTOCOLS 8
#define ALPN_MAX_NAME 31

enum local_mode { LOCAL_FROM_FD = 0, LOCAL_SET, LOCAL_NONE };
/* Whether the client sent status_request; unknown without session_init
 * (then a staple is handed over and GnuTLS sends it only if asked). */
enum ocsp_asked { OCSP_ASKED_UNKNOWN = 0, OCSP_ASKED, OCSP_NOT_ASKED };

/* One session's state (autocert_gnutls_session_init), freed by GnuTLS at
 * gnutls_deinit. Touched only by the thread that drives the session. */
struct session_state {
    autocert_manager *m;
    unsigned char protos[ALPN_MAX_PROTOCOLS - 1][ALPN_MAX_NAME];
    unsigned proto_len[ALPN_MAX_PROTOCOLS - 1];
    unsigned nproto, alpn_flags;
    bool alpn_set; /* the protocols were given to GnuTLS (once only) */
    enum local_mode local_mode;
    unsigned char local[16];
    size_t local_len;           /* 4 or 16 with LOCAL_SET */
    enum ocsp_asked ocsp_asked; /* from the ClientHello hook */
};

struct binding {
    gnutls_certificate_credentials_t cred;
    autocert_manager *m;
};

static pthread_rwlock_t bindings_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct binding bindings[ADAPTER_MAX_BINDINGS];

/* ---- the per-session private key ---------------------------------------- */

static int key_sign_data(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata,
                         unsigned int flags, const gnutls_datum_t *data, gnutls_datum_t *signature)
{
    gnutls_privkey_t real = cert_privkey(userdata); /* NULL: no memory to parse it */

    return real != NULL ? gnutls_privkey_sign_data2(real, algo, flags, data, signature)
                        : GNUTLS_E_MEMORY_ERROR;
}

static int key_sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata,
                         unsigned int flags, const gnutls_datum_t *hash, gnutls_datum_t *signature)
{
    gnutls_privkey_t real = cert_privkey(userdata);

    return real != NULL ? gnutls_privkey_sign_hash2(real, algo, flags, hash, signature)
                        : GNUTLS_E_MEMORY_ERROR;
}

static int key_decrypt(gnutls_privkey_t key, void *userdata, const gnutls_datum_t *ciphertext,
                       gnutls_datum_t *plaintext)
{
    gnutls_privkey_t real = cert_privkey(userdata);

    return real != NULL ? gnutls_privkey_decrypt_data(real, 0, ciphertext, plaintext)
                        : GNUTLS_E_MEMORY_ERROR;
}

static void key_deinit(gnutls_privkey_t key, void *userdata)
{
    autocert_cert_release(userdata);
}

static int key_info(gnutls_privkey_t key, unsigned int flags, void *userdata)
{
    gnutls_privkey_t real = cert_privkey(userdata);
    unsigned int bits = 0;
    int pk;

    if (real == NULL)
        return GNUTLS_E_MEMORY_ERROR;
    pk = gnutls_privkey_get_pk_algorithm(real, &bits);

    if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
        return pk;
    if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
        return (int)bits;
    if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO) {
        gnutls_sign_algorithm_t se = GNUTLS_FLAGS_TO_SIGN_ALGO(flags);
        return gnutls_sign_supports_pk_algorithm(se, (gnutls_pk_algorithm_t)pk) ? 1 : 0;
    }
    return GNUTLS_E_UNKNOWN_PK_ALGORITHM;
}

/* ---- per-session state --------------------------------------------------- */

static int ext_recv(gnutls_session_t session, const unsigned char *data, size_t len)
{
    (void)session;
    (void)data;
    (void)len;
    return 0; /* a client that sends ExtensionType 65280 is ignored */
}

static int ext_send(gnutls_session_t session, gnutls_buffer_t extdata)
{
    (void)session;
    (void)extdata;
    return 0; /* never sent */
}

static void ext_deinit(gnutls_ext_priv_data_t data)
{
    free(data);
}

static struct session_state *state_of(gnutls_session_t session)
{
    gnutls_ext_priv_data_t p = NULL;

    if (gnutls_ext_get_data(session, ADAPTER_EXT_ID, &p) < 0)
        return NULL;
    return p;
}

/* The session's state, made and attached on first use. NULL on ENOMEM or when
 * GnuTLS refuses the registration (logged). */
static struct session_state *state_attach(gnutls_session_t session)
{
    struct session_state *st = state_of(session);
    int rc;

    if (st != NULL)
        return st;
    rc =
        gnutls_session_ext_register(session, "autocert", ADAPTER_EXT_ID, GNUTLS_EXT_TLS, ext_recv,
                                    ext_send, ext_deinit, NULL, NULL, GNUTLS_EXT_FLAG_CLIENT_HELLO);
    if (rc < 0) { /* GNUTLS_E_ALREADY_REGISTERED: the host uses ExtensionType 65280 */
        ac_err(NULL, "autocert_gnutls_session_init: cannot attach to the session: %s",
               gnutls_strerror(rc));
        return NULL;
    }
    st = calloc(1, sizeof *st);
    if (st == NULL) {
        ac_err(NULL, "autocert_gnutls_session_init: out of memory");
        return NULL;
    }
    gnutls_ext_set_data(session, ADAPTER_EXT_ID, st); /* GnuTLS frees it (ext_deinit) */
    return st;
}

/* ---- the ClientHello hook -------------------------------------------------- */

struct hello_scan {
    const unsigned char *sni; /* the first host_name, as sent */
    size_t sni_len;
    bool acme;           /* acme-tls/1 offered */
    bool status_request; /* status_request (5) offered: OCSP stapling */
};

static unsigned get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* gnutls_ext_raw_parse callback: server_name (0) and ALPN (16), and whether
 * status_request (5) is there. Malformed
 * contents are left alone here: GnuTLS refuses them in its own pass. */
static int hello_ext(void *ctx, unsigned tls_id, const unsigned char *d, unsigned n)
{
    struct hello_scan *h = ctx;
    const unsigned char *p, *end;

    if (tls_id == 5)
        h->status_request = true;
    if ((tls_id != 0 && tls_id != 16) || n < 2 || get16(d) > n - 2)
        return 0;
    p = d + 2;
    end = p + get16(d);
    if (tls_id == 0) { /* ServerNameList: {type(1), HostName<1..2^16-1>} */
        while (end - p >= 3) {
            unsigned type = p[0], len = get16(p + 1);
            p += 3;
            if (len > (size_t)(end - p))
                break;
            if (type == 0 && h->sni == NULL) {
                h->sni = p;
                h->sni_len = len;
            }
            p += len;
        }
    } else { /* ProtocolNameList: ProtocolName<1..2^8-1> */
        while (p < end) {
            unsigned len = p[0];
            p++;
            if (len > (size_t)(end - p))
                break;
            if (len == ACME_TLS_LEN && memcmp(p, ACME_TLS, ACME_TLS_LEN) == 0)
                h->acme = true;
            p += len;
        }
    }
    return 0;
}

static int adapter_hook(gnutls_session_t session, unsigned int htype, unsigned when,
                        unsigned int incoming, const gnutls_datum_t *msg)
{
    struct session_state *st;
    struct hello_scan h = {NULL, 0, false, false};
    gnutls_datum_t list[ALPN_MAX_PROTOCOLS];
    unsigned n = 0;
    int rc;

    if (htype != GNUTLS_HANDSHAKE_CLIENT_HELLO || when != GNUTLS_HOOK_PRE || !incoming)
        return 0;
    st = state_of(session);
    if (st == NULL || st->alpn_set) /* a second ClientHello (HRR, renegotiation) */
        return 0;
    st->alpn_set = true;
    for (unsigned i = 0; i < st->nproto; i++) {
        list[n].data = st->protos[i];
        list[n++].size = st->proto_len[i];
    }
    if (msg != NULL && msg->size > 0)
        (void)gnutls_ext_raw_parse(&h, hello_ext, msg,
                                   msg->data[0] == 0xFE ? GNUTLS_EXT_RAW_FLAG_DTLS_CLIENT_HELLO
                                                        : GNUTLS_EXT_RAW_FLAG_TLS_CLIENT_HELLO);
    st->ocsp_asked = h.status_request ? OCSP_ASKED : OCSP_NOT_ASKED;
    if (h.acme && h.sni != NULL &&
        challenge_alpn_pending(manager_challenges(st->m), (const char *)h.sni, h.sni_len)) {
        list[n].data = (unsigned char *)ACME_TLS;
        list[n++].size = ACME_TLS_LEN;
    }
    if (n > 0 && (rc = gnutls_alpn_set_protocols(session, list, n, st->alpn_flags)) < 0) {
        ac_err(NULL, "handshake: cannot set the ALPN protocols: %s", gnutls_strerror(rc));
        return rc;
    }
    return 0;
}

/* ---- the retrieve callback ---------------------------------------------- */

/* The local address of the session's connection: raw bytes in out, returns 4,
 * 16, or 0 when unknown. */
static size_t local_addr(gnutls_session_t session, unsigned char out[16])
{
    const struct session_state *st = state_of(session);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd;

    if (st != NULL && st->local_mode == LOCAL_SET) {
        memcpy(out, st->local, st->local_len);
        return st->local_len;
    }
    if (st != NULL && st->local_mode == LOCAL_NONE)
        return 0;
    fd = gnutls_transport_get_int(session);
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)&ss)->sin_addr, 4);
        return 4;
    }
    if (ss.ss_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        return 16;
    }
    return 0;
}

/* True when the session negotiated acme-tls/1. */
static bool selected_acme(gnutls_session_t session)
{
    gnutls_datum_t p = {NULL, 0};

    return gnutls_alpn_get_selected_protocol(session, &p) == 0 && p.size == ACME_TLS_LEN &&
           memcmp(p.data, ACME_TLS, ACME_TLS_LEN) == 0;
}

static autocert_cert *adapter_lookup(gnutls_session_t session,
                                     gnutls_certificate_credentials_t cred)
{
    char name[SNI_MAX_NAME + 2], norm[SNI_MAX_NAME + 1];
    size_t len = sizeof(name), alen = 0;
    unsigned char addr[16];
    unsigned int type = 0;
    autocert_cert *c = NULL;
    bool acme = selected_acme(session);

    /* No SNI, a non-DNS type or a name too long for the buffer (> 253 bytes
     * after normalisation anyway) all count as "no SNI". */
    if (gnutls_server_name_get(session, name, &len, &type, 0) != 0 || type != GNUTLS_NAME_DNS)
        len = 0;
    /* the local address matters only without a usable server name */
    if (!acme && (len == 0 || sni_normalize(name, len, norm) < 0))
        alen = local_addr(session, addr);
    pthread_rwlock_rdlock(&bindings_lock);
    for (size_t i = 0; i < ADAPTER_MAX_BINDINGS; i++) {
        if (bindings[i].cred == cred) {
            if (acme) /* the challenge certificate or nothing */
                c = challenge_alpn_cert(manager_challenges(bindings[i].m), name, len);
            else
                c = autocert_manager_lookup_addr(bindings[i].m, name, len, alen > 0 ? addr : NULL,
                                                 alen);
            break;
        }
    }
    pthread_rwlock_unlock(&bindings_lock);
    if (acme && c == NULL)
        ac_debug(NULL, "handshake refused: acme-tls/1 without a pending challenge for "
                       "the server name");
    return c;
}

/* ---- OCSP stapling ------------------------------------------------------- */

static void *staple_alloc(size_t n)
{
    return gnutls_malloc(n);
}

/* The staple of c for this handshake, gnutls_malloc'd for GnuTLS to free
 * (DEINIT_ALL): one gnutls_ocsp_data_st for the leaf, or none when the
 * client did not ask (known with session_init), for acme-tls/1, or when c
 * has no valid staple now. */
static void staple_for(gnutls_session_t session, const autocert_cert *c, gnutls_ocsp_data_st **ocsp,
                       unsigned int *ocsp_length)
{
    const struct session_state *st = state_of(session);
    gnutls_ocsp_data_st *d;
    unsigned char *der = NULL;
    size_t len = 0;
    int64_t next_update = 0;

    *ocsp = NULL;
    *ocsp_length = 0;
    if (st != NULL && st->ocsp_asked == OCSP_NOT_ASKED)
        return;
    if (cert_staple_copy(c, ac_now(), staple_alloc, &der, &len, &next_update) != 1)
        return;
    d = gnutls_calloc(1, sizeof *d);
    if (d == NULL) {
        gnutls_free(der);
        return; /* no staple is better than no handshake */
    }
    d->version = 0;
    d->response.data = der;
    d->response.size = (unsigned int)len;
    d->exptime = (time_t)next_update;
    *ocsp = d;
    *ocsp_length = 1;
}

static int adapter_retrieve(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                            gnutls_pcert_st **certs, unsigned int *certs_length,
                            gnutls_ocsp_data_st **ocsp, unsigned int *ocsp_length,
                            gnutls_privkey_t *privkey, unsigned int *flags)
{
    autocert_cert *c = adapter_lookup(session, info->cred);
    gnutls_pcert_st *pcerts = NULL;
    gnutls_privkey_t pk = NULL;
    unsigned int n, done = 0;

    if (c == NULL) {
        if (!selected_acme(session))
            ac_debug(NULL, "handshake refused: main holds no certificate");
        return -1;
    }
    n = (unsigned int)autocert_cert_chain_count(c);
    pcerts = gnutls_malloc(n * sizeof(*pcerts));
    if (pcerts == NULL)
        goto fail;
    for (; done < n; done++)
        if (cert_pcert_copy(c, done, &pcerts[done]) < 0)
            goto fail;
    if (gnutls_privkey_init(&pk) < 0)
        goto fail;
    if (gnutls_privkey_import_ext4(pk, c, key_sign_data, key_sign_hash, key_decrypt, key_deinit,
                                   key_info, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0)
        goto fail;
    /* From here the privkey owns the reference c. */
    *certs = pcerts;
    *certs_length = n;
    if (selected_acme(session)) {
        *ocsp = NULL;
        *ocsp_length = 0;
    } else {
        staple_for(session, c, ocsp, ocsp_length);
    }
    *privkey = pk;
    *flags |= GNUTLS_CERT_RETR_DEINIT_ALL;
    return 0;
fail:
    ac_err(autocert_cert_set_name(c), "handshake: cannot prepare the certificate");
    for (unsigned int i = 0; i < done; i++)
        gnutls_pcert_deinit(&pcerts[i]);
    gnutls_free(pcerts);
    gnutls_privkey_deinit(pk);
    autocert_cert_release(c);
    return -1;
}

int autocert_gnutls_install(autocert_manager *m, gnutls_certificate_credentials_t cred)
{
    int rc = -1;
    size_t slot = ADAPTER_MAX_BINDINGS;

    pthread_rwlock_wrlock(&bindings_lock);
    for (size_t i = 0; i < ADAPTER_MAX_BINDINGS; i++) {
        if (bindings[i].cred == cred) {
            slot = i;
            break;
        }
        if (bindings[i].cred == NULL && slot == ADAPTER_MAX_BINDINGS)
            slot = i;
    }
    if (slot < ADAPTER_MAX_BINDINGS) {
        bindings[slot].cred = cred;
        bindings[slot].m = m;
        rc = 0;
    }
    pthread_rwlock_unlock(&bindings_lock);
    if (rc == 0)
        gnutls_certificate_set_retrieve_function3(cred, adapter_retrieve);
    else
        ac_err(NULL, "autocert_gnutls_install: more than %d credentials bound",
               ADAPTER_MAX_BINDINGS);
    return rc;
}

void autocert_gnutls_uninstall(gnutls_certificate_credentials_t cred)
{
    pthread_rwlock_wrlock(&bindings_lock);
    for (size_t i = 0; i < ADAPTER_MAX_BINDINGS; i++) {
        if (bindings[i].cred == cred) {
            bindings[i].cred = NULL;
            bindings[i].m = NULL;
        }
    }
    pthread_rwlock_unlock(&bindings_lock);
}

/* ---- per-session API ------------------------------------------------------ */

int autocert_gnutls_session_init(autocert_manager *m, gnutls_session_t session,
                                 const gnutls_datum_t *host_alpn, unsigned n, unsigned alpn_flags)
{
    struct session_state *st;

    if (m == NULL || session == NULL || (n > 0 && host_alpn == NULL)) {
        ac_err(NULL, "autocert_gnutls_session_init: no manager or no session");
        return -1;
    }
    if (n > ALPN_MAX_PROTOCOLS - 1) {
        ac_err(NULL,
               "autocert_gnutls_session_init: %u ALPN protocols; at most %d (GnuTLS takes %d, "
               "one is kept for acme-tls/1)",
               n, ALPN_MAX_PROTOCOLS - 1, ALPN_MAX_PROTOCOLS);
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        if (host_alpn[i].data == NULL || host_alpn[i].size == 0 ||
            host_alpn[i].size > ALPN_MAX_NAME) {
            ac_err(NULL,
                   "autocert_gnutls_session_init: ALPN protocol %u is empty or longer than %d "
                   "bytes",
                   i, ALPN_MAX_NAME);
            return -1;
        }
        if (host_alpn[i].size == ACME_TLS_LEN &&
            memcmp(host_alpn[i].data, ACME_TLS, ACME_TLS_LEN) == 0) {
            ac_err(NULL, "autocert_gnutls_session_init: the host's ALPN list names acme-tls/1; "
                         "the adapter offers it only while a challenge is pending");
            return -1;
        }
    }
    st = state_attach(session);
    if (st == NULL)
        return -1;
    if (st->alpn_set) {
        ac_err(NULL, "autocert_gnutls_session_init: called after the handshake started");
        return -1;
    }
    st->m = m;
    st->nproto = n;
    st->alpn_flags = alpn_flags;
    for (unsigned i = 0; i < n; i++) {
        memcpy(st->protos[i], host_alpn[i].data, host_alpn[i].size);
        st->proto_len[i] = host_alpn[i].size;
    }
    gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_PRE,
                                       adapter_hook);
    return 0;
}

int autocert_gnutls_session_set_local_addr(gnutls_session_t session, const struct sockaddr *sa,
                                           socklen_t len)
{
    struct session_state *st = state_of(session);

    if (st == NULL) {
        ac_err(NULL, "autocert_gnutls_session_set_local_addr: call autocert_gnutls_session_init "
                     "first");
        return -1;
    }
    if (sa == NULL) {
        st->local_mode = LOCAL_NONE;
        return 0;
    }
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        memcpy(st->local, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        st->local_len = 4;
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(st->local, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        st->local_len = 16;
    } else {
        ac_err(NULL, "autocert_gnutls_session_set_local_addr: not an IPv4 or IPv6 address");
        return -1;
    }
    st->local_mode = LOCAL_SET;
    return 0;
}

bool autocert_gnutls_session_is_acme(gnutls_session_t session)
{
    return session != NULL && selected_acme(session);
}
