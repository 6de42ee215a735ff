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
 */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <string.h>

#include "autocert/autocert_gnutls.h"
#include "cert.h"
#include "log.h"
#include "sni.h"

#define ADAPTER_MAX_BINDINGS 64

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

/* ---- the retrieve callback ---------------------------------------------- */

static autocert_cert *adapter_lookup(gnutls_session_t session,
                                     gnutls_certificate_credentials_t cred)
{
    char name[SNI_MAX_NAME + 2];
    size_t len = sizeof(name);
    unsigned int type = 0;
    autocert_cert *c = NULL;

    /* No SNI, a non-DNS type or a name too long for the buffer (> 253 bytes
     * after normalisation anyway) all count as "no SNI". */
    if (gnutls_server_name_get(session, name, &len, &type, 0) != 0 || type != GNUTLS_NAME_DNS)
        len = 0;
    pthread_rwlock_rdlock(&bindings_lock);
    for (size_t i = 0; i < ADAPTER_MAX_BINDINGS; i++) {
        if (bindings[i].cred == cred) {
            c = autocert_manager_lookup(bindings[i].m, name, len);
            break;
        }
    }
    pthread_rwlock_unlock(&bindings_lock);
    return c;
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
    *ocsp = NULL;
    *ocsp_length = 0;
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
