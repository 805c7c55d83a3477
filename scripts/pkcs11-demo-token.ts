/**
 * Not an example of the library: a helper that creates a throwaway SoftHSM2
 * token to try the PKCS#11 examples on (with the tests' PKI and token
 * helpers): its own
 * SOFTHSM2_CONF and token directory in a temporary folder (never a system
 * token), a test PKI, a P-256 key generated on the token and an RSA-2048 key
 * imported into it, each with its certificate.
 *
 *   PIN=1234 node --import tsx scripts/pkcs11-demo-token.ts
 *
 * Prints the environment to use with the other examples.
 */
import { createSoftHsm } from '../test/helpers/softhsm.js';

const pin = process.env.PIN ?? '1234';
const hsm = await createSoftHsm([
  {
    label: process.env.TOKEN_LABEL ?? 'ssh-x509 demo',
    pin,
    keys: [
      { name: 'alice-p256', kind: 'p256', id: '01', source: 'generate', label: 'alice (P-256, on-token key)' },
      { name: 'alice-rsa', kind: 'rsa2048', id: '02', source: 'import', label: 'alice (RSA-2048, imported)' },
    ],
  },
]);
console.log(`token "${hsm.tokens[0]!.label}" (serial ${hsm.tokens[0]!.serial}) created with 2 keys and certificates`);
console.log(`SOFTHSM2_CONF=${hsm.conf}`);
console.log(`PKCS11_MODULE=${hsm.module}`);
console.log(`ROOT_CA=${hsm.pki.root.certPath}`);
console.log(`INTERMEDIATE_CA=${hsm.pki.intermediate.certPath}`);
console.log(`# remove with: rm -rf ${hsm.dir}`);
