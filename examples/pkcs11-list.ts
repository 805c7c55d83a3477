/**
 * Lists the certificates on the tokens of a PKCS#11 module.
 *
 *   SOFTHSM2_CONF=... PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so [PIN=1234] [PKCS11_URI=pkcs11:token=...] \
 *     node --import tsx examples/pkcs11-list.ts
 *
 * Without PIN the listing needs no login; with it, "private key" is known
 * for keys the token hides until login.
 */
import { listPkcs11Certificates } from 'ssh-x509/pkcs11';

const module = process.env.PKCS11_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
const rows = await listPkcs11Certificates({
  module,
  ...(process.env.PKCS11_URI ? { uri: process.env.PKCS11_URI } : {}),
  ...(process.env.PIN ? { pin: async () => process.env.PIN! } : {}),
});
for (const r of rows) {
  console.log(`${r.uri}`);
  console.log(`  subject:     ${r.subject}`);
  console.log(`  key:         ${r.keyDescription}; algorithms: ${r.algorithms.join(', ') || 'none'}`);
  console.log(`  private key: ${r.hasPrivateKey === null ? 'unknown (log in to see)' : r.hasPrivateKey ? 'yes' : 'no'}`);
  console.log(`  UPN:         ${r.upns.join(', ') || '-'}; email: ${r.emails.join(', ') || '-'}`);
  console.log(`  sha256:      ${r.sha256}`);
}
console.log(`${rows.length} certificate(s)`);
