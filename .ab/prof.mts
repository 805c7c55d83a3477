import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki } from '../test/helpers/pki.ts';
import { CertificateStore, IssuanceChecker } from '../src/verify/certificates.ts';
import { checkBlobCertificates, validatePath } from '../src/verify/path.ts';
// @ts-ignore
import { validatePath as oldValidatePath } from '/tmp/pkits-base/src/verify/path.ts';
// @ts-ignore
import { CertificateStore as OldStore, IssuanceChecker as OldIss } from '/tmp/pkits-base/src/verify/certificates.ts';
const pki = await createTestPki(join(mkdtempSync(join(tmpdir(), 'p-')), 'pki'));
const N = 400;
const leaves = await Promise.all(Array.from({ length: N * 2 }, (_, i) => pki.issue(`u${i}`, 'p256')));
const at = new Date();
const store = new CertificateStore(); const iss = new IssuanceChecker();
const ostore = new OldStore(); const oiss = new OldIss();
const a = store.get(pki.root.certDer), i1 = store.get(pki.intermediate.certDer);
const oa = ostore.get(pki.root.certDer), oi = ostore.get(pki.intermediate.certDer);
const tNew: number[] = [], tOld: number[] = [], tParse: number[] = [];
for (let k = 0; k < N * 2; k++) {
  const der = leaves[k]!.certDer;
  if (k % 2) { let t = performance.now(); const l = store.get(der); tParse.push(performance.now() - t); t = performance.now(); checkBlobCertificates([l, i1]); await validatePath([l, i1], { anchors: [a], pool: [], at, issuance: iss }); tNew.push(performance.now() - t); }
  else { const l = ostore.get(der); const t = performance.now(); await oldValidatePath([l, oi], { anchors: [oa], pool: [], at, issuance: oiss }); tOld.push(performance.now() - t); }
}
const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)]!.toFixed(3);
console.log('parse', med(tParse), 'old path', med(tOld), 'new path+checks', med(tNew));
