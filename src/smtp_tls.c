/* smtp_tls: the check libetpan does not make: the server's certificate
 * chain against the system trust store (or smtp.ca_file) and the
 * configured host name, with GnuTLS.
 * Owns: GnuTLS (the only module that includes it).
 * Never: accepts a chain it could not read, or a name it did not check.
 * Rules: RFC 6125 (host names), man/msgspool.yaml.5 (smtp.verify, ca_file). */
#include "config.h"
#include "smtp_tls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>

/* Verifies the server's chain against the system trust or ca_file and the
 * configured host name. Returns 0, or -1 with the reason in err. */
int smtp_tls_verify(mailstream *stream, const struct conf *c, char *err, size_t errsz)
{
	carray *chain = mailstream_get_certificate_chain(stream);
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = chain ? carray_count(chain) : 0, got = 0, status = 0;
	int rc = -1;
	if (!n) {
		snprintf(err, errsz, "TLS: the server sent no certificate");
		goto done;
	}
	if (gnutls_x509_trust_list_init(&tl, 0) < 0)
		goto done;
	int added = c->smtp.ca_file
		? gnutls_x509_trust_list_add_trust_file(tl, c->smtp.ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0)
		: gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
	if (added <= 0) {
		snprintf(err, errsz, "TLS: no trusted certificates loaded from %s",
			 c->smtp.ca_file ? c->smtp.ca_file : "the system trust store");
		goto done;
	}
	crts = calloc(n, sizeof *crts);
	for (got = 0; crts && got < n; got++) {
		MMAPString *der = carray_get(chain, got);
		gnutls_datum_t d = {(unsigned char *)der->str, (unsigned)der->len};
		if (gnutls_x509_crt_init(&crts[got]) < 0)
			break;
		if (gnutls_x509_crt_import(crts[got], &d, GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[got]);
			break;
		}
	}
	if (got != n) {
		snprintf(err, errsz, "TLS: cannot read the server's certificate");
		goto done;
	}
	gnutls_typed_vdata_st vd[2] = {
		{GNUTLS_DT_DNS_HOSTNAME, (unsigned char *)c->smtp.host, 0},
		{GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER, 0}};
	if (gnutls_x509_trust_list_verify_crt2(tl, crts, n, vd, 2, 0, &status, NULL) < 0 || status) {
		gnutls_datum_t out = {0};
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
		snprintf(err, errsz, "TLS: certificate of %s not trusted: %s", c->smtp.host,
			 out.data ? (char *)out.data : "verification failed");
		gnutls_free(out.data);
		goto done;
	}
	rc = 0;
done:
	for (unsigned i = 0; crts && i < got; i++)
		gnutls_x509_crt_deinit(crts[i]);
	free(crts);
	if (tl)
		gnutls_x509_trust_list_deinit(tl, 1);
	if (chain)
		mailstream_certificate_chain_free(chain);
	return rc;
}

void smtp_tls_sni(struct mailstream_ssl_context *ctx, void *data)
{
	mailstream_ssl_set_server_name(ctx, data);
}
