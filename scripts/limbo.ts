/**
 * Runs an x509-limbo file (C2SP's path-validation suite, schema version 1)
 * through the public API, `validateCertificatePath`, and prints
 * `limbo: P passed, F failed of N`, a table by category (the id up to its
 * last `::`) and each failure with the validator's answer.
 *
 *   npm run limbo -- test/fixtures/limbo/limbo.json
 *
 * Exits 0 when every case gives the expected result, 1 otherwise, 2 on bad input.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validateCertificatePath, type CertificatePathOptions, type CertificatePathResult, type PeerName } from '../src/index.js';

/** One limbo test case: the fields this runner reads. */
export interface LimboCase {
  readonly id: string;
  readonly description?: string;
  readonly features?: readonly string[] | null;
  readonly validation_kind: 'CLIENT' | 'SERVER';
  readonly trusted_certs: readonly string[];
  readonly untrusted_intermediates: readonly string[];
  readonly peer_certificate: string;
  readonly validation_time: string | null;
  readonly crls?: readonly string[] | null;
  readonly extended_key_usage?: readonly string[] | null;
  readonly expected_peer_name?: { readonly kind: string; readonly value: string } | null;
  readonly expected_peer_names?: ReadonlyArray<{ readonly kind: string; readonly value: string }> | null;
  readonly max_chain_depth?: number | null;
  readonly expected_result: 'SUCCESS' | 'FAILURE';
}

/** The outcome of one case. */
export interface LimboOutcome {
  readonly id: string;
  readonly category: string;
  readonly expected: 'SUCCESS' | 'FAILURE';
  readonly passed: boolean;
  readonly result: CertificatePathResult;
}

const PEER_KINDS: Record<string, PeerName['kind']> = { DNS: 'dns', IP: 'ip', RFC822: 'email' };

/** The DER inside one PEM block (only base64 is decoded here: what the DER holds is the validator's to judge). */
function pemDer(pem: string, label: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`not a PEM ${label}`);
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

const der = (pem: string): Uint8Array => pemDer(pem, 'CERTIFICATE');
const crlDer = (pem: string): Uint8Array => pemDer(pem, 'X509 CRL');

/** The validation a limbo case asks for, as options of `validateCertificatePath`. */
export function limboOptions(c: LimboCase): CertificatePathOptions {
  const names = [...(c.expected_peer_name ? [c.expected_peer_name] : []), ...(c.expected_peer_names ?? [])];
  const peerNames = names.map((n) => {
    const kind = PEER_KINDS[n.kind];
    if (!kind) throw new Error(`${c.id}: unknown peer name kind ${n.kind}`);
    return { kind, value: n.value };
  });
  const crls = c.crls ?? [];
  return {
    certificates: [der(c.peer_certificate), ...c.untrusted_intermediates.map(der)],
    trustAnchors: c.trusted_certs.map(der),
    time: c.validation_time ? new Date(c.validation_time) : new Date(),
    ...(peerNames.length > 0 ? { peerNames } : {}),
    // The Web PKI (limbo's SERVER profile) matches wildcard dNSNames, RFC 6125 section 6.4.3.
    ...(c.validation_kind === 'SERVER' ? { wildcardPeerNames: true } : {}),
    ...(c.extended_key_usage && c.extended_key_usage.length > 0 ? { extendedKeyUsages: c.extended_key_usage } : {}),
    // x509-limbo names each case after the profile whose rules it tests: `webpki::` cases test the CA/Browser Forum's.
    ...(c.id.startsWith('webpki::') ? { profile: 'webpki' as const } : {}),
    ...(c.max_chain_depth !== null && c.max_chain_depth !== undefined ? { maxChainDepth: c.max_chain_depth } : {}),
    ...(crls.length > 0 ? { revocation: { crls: crls.map(crlDer) } } : {}),
  };
}

/** The category of a case: its id up to the last `::` (`rfc5280::nc::x` is `rfc5280::nc`). */
export function limboCategory(id: string): string {
  const i = id.lastIndexOf('::');
  return i < 0 ? id : id.slice(0, i);
}

/** Runs every case of a parsed limbo file. */
export async function runLimbo(cases: readonly LimboCase[]): Promise<LimboOutcome[]> {
  const out: LimboOutcome[] = [];
  for (const c of cases) {
    let result: CertificatePathResult;
    try {
      result = await validateCertificatePath(limboOptions(c));
    } catch (e) {
      // A case this runner cannot set up (a PEM that does not parse) fails, named.
      result = { valid: false, reason: 'malformedCertificate', message: `the case does not load: ${e instanceof Error ? e.message : String(e)}` };
    }
    const passed = result.valid === (c.expected_result === 'SUCCESS');
    out.push({ id: c.id, category: limboCategory(c.id), expected: c.expected_result, passed, result });
  }
  return out;
}

/** Reads a limbo.json (schema version 1). */
export function readLimbo(file: string): LimboCase[] {
  const json = JSON.parse(readFileSync(file, 'utf8')) as { version?: number; testcases?: LimboCase[] };
  if (!Array.isArray(json.testcases)) throw new Error(`${file} is not a limbo file: no "testcases" array`);
  return json.testcases;
}

/** The report: the summary line, the table by category, the failures. */
export function limboReport(outcomes: readonly LimboOutcome[]): string {
  const passed = outcomes.filter((o) => o.passed).length;
  const lines = [`limbo: ${passed} passed, ${outcomes.length - passed} failed of ${outcomes.length}`, ''];
  const byCat = new Map<string, { p: number; n: number }>();
  for (const o of outcomes) {
    const e = byCat.get(o.category) ?? { p: 0, n: 0 };
    e.n++;
    if (o.passed) e.p++;
    byCat.set(o.category, e);
  }
  const width = Math.max(8, ...[...byCat.keys()].map((k) => k.length));
  lines.push(`${'category'.padEnd(width)}  passed  failed  total`);
  for (const [cat, e] of [...byCat].sort((a, b) => a[0].localeCompare(b[0]))) {
    lines.push(`${cat.padEnd(width)}  ${String(e.p).padStart(6)}  ${String(e.n - e.p).padStart(6)}  ${String(e.n).padStart(5)}`);
  }
  const failed = outcomes.filter((o) => !o.passed);
  if (failed.length > 0) {
    lines.push('', 'failures:');
    for (const o of failed) lines.push(`  ${o.id}: expected ${o.expected}, got ${o.result.valid ? 'valid' : `${o.result.reason}: ${o.result.message}`}`);
  }
  return lines.join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.length !== 1) {
    process.stderr.write('usage: npm run limbo -- <limbo.json>\n');
    return 2;
  }
  let cases: LimboCase[];
  try {
    cases = readLimbo(argv[0]!);
  } catch (e) {
    process.stderr.write(`limbo: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const outcomes = await runLimbo(cases);
  process.stdout.write(`${limboReport(outcomes)}\n`);
  return outcomes.every((o) => o.passed) ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
