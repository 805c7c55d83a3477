/**
 * RFC 5280 section 6.1 path validation, written from the RFC: the state of
 * 6.1.2, the per-certificate steps of 6.1.3, the preparation for the next
 * certificate of 6.1.4 and the wrap-up of 6.1.5, each a small function
 * named after its step. Paths are built from the leaf up by name (key
 * identifiers order the candidates), and every candidate path is validated
 * in full, so a self-issued certificate (key rollover) is an intermediate
 * like any other, never taken for a root. Revocation (section 6.3) runs at
 * step 6.1.3 (a)(3) when CRLs are given.
 *
 * @module
 */
import type * as pkijs from 'pkijs';
import { ANY_POLICY_OID, EXTENSION_OIDS } from '../../oids.js';
import type { IssuanceChecker, VerifierCertificate } from '../certificates.js';
import { CrlIssuerRevoked, crlStatus, type PreparedCrl } from './crl.js';
import {
  algorithmIdentifierDer,
  authorityKeyId,
  basicConstraints,
  describe,
  extension,
  keyUsage,
  signatureProblem,
  smallInt,
  subjectAltNames,
  subjectAltNamesKnownToDecode,
  subjectKeyId,
  unknownCritical,
  workingKeyOf,
  type KeyLimits,
  type SignaturePolicy,
  type WorkingKey,
} from './facts.js';
import { checkIssuance } from './issuance.js';
import { GN, NameConstraintState, dnEmpty, dnEqual, subjectEmails } from './names.js';
import { checkExtendedKeyUsages, checkPeerNames, type PeerName } from './peer.js';
import { PolicyTree } from './policy-tree.js';
import { PkixFailure, fail, type PathValidationReason } from './result.js';

/** The policy inputs of section 6.1.1 (c), (e), (f), (g). */
export interface PolicyInputs {
  /** user-initial-policy-set; default anyPolicy. */
  readonly initialPolicySet?: readonly string[];
  /** initial-explicit-policy; default false. */
  readonly initialExplicitPolicy?: boolean;
  /** initial-policy-mapping-inhibit; default false. */
  readonly initialPolicyMappingInhibit?: boolean;
  /** initial-any-policy-inhibit; default false. */
  readonly initialAnyPolicyInhibit?: boolean;
}

/** CRL inputs: the CRLs available, and how to use them. */
export interface CrlInputs {
  readonly crls: readonly PreparedCrl[];
  /** Section 6.3.3 (c) use-deltas; default true. */
  readonly useDeltas?: boolean;
  /** Allowance on thisUpdate/nextUpdate, ms (default 0). */
  readonly clockSkewMs?: number;
}

/** Everything one validation needs. */
export interface PkixContext {
  readonly anchors: readonly VerifierCertificate[];
  /** Certificates that may be intermediates (or CRL issuers). */
  readonly pool: readonly VerifierCertificate[];
  readonly at: Date;
  readonly policy?: PolicyInputs;
  /** Section 6.3 CRL checking of every certificate of the path; absent: not checked here. */
  readonly crl?: CrlInputs;
  readonly signaturePolicy?: SignaturePolicy;
  /** Remembers certificate signature checks per (certificate, issuer) pair; its SHA-1 policy must be `signaturePolicy`'s. */
  readonly issuance?: IssuanceChecker;
  readonly limits?: KeyLimits & {
    /** Most certificates in a path, anchor excluded (default 10). */
    readonly maxPathLength?: number;
    /** Most candidate paths validated (default 16). */
    readonly maxCandidatePaths?: number;
    /** Most steps of the path search (default 256). */
    readonly maxPathSearchSteps?: number;
  };
  /**
   * The CA issuance rules of `./issuance.ts` on every certificate of the
   * path, the anchor included (default true).
   */
  readonly issuanceRules?: boolean;
  /**
   * The trust anchor's own constraints (RFC 5937): its validity, its critical
   * extensions, its name constraints and pathLenConstraint (default true).
   */
  readonly anchorConstraints?: boolean;
  /**
   * `rfc5280` (default): RFC 5280 and the issuance rules. `webpki`: also the
   * CA/Browser Forum Baseline Requirements for TLS server certificates.
   */
  readonly profile?: 'rfc5280' | 'webpki';
  /** Most intermediates between the leaf and the anchor, self-issued ones not counted. */
  readonly maxChainDepth?: number;
  /** What the caller asks of the end entity (not of a CRL issuer, whose path is validated with the same context). */
  readonly endEntity?: {
    readonly peerNames?: readonly PeerName[];
    readonly wildcardPeerNames?: boolean;
    readonly extendedKeyUsages?: readonly string[];
  };
  /** Internal: CRL issuer validation depth. */
  readonly depth?: number;
  /** Internal: the CRL issuer certificates whose paths are being validated by an outer call. */
  readonly crlIssuersInProgress?: ReadonlySet<string>;
}

/** A valid path. */
export interface PkixSuccess {
  readonly valid: true;
  /** Leaf first, trust anchor last. */
  readonly path: readonly VerifierCertificate[];
  /** The leaf-level valid policies (section 6.1.6), `anyPolicy` included when the tree allows any. Empty when the tree is NULL (explicit policy not required). */
  readonly policies: readonly string[];
}

/** A path that is not valid, with the certificate at fault (0: leaf). */
export interface PkixFailureResult {
  readonly valid: false;
  readonly reason: PathValidationReason;
  readonly message: string;
  /** The index, leaf = 0, of the certificate at fault in `path`, when known. */
  readonly index?: number;
  /** The candidate path that failed, leaf first, anchor last (absent when no path was found). */
  readonly path?: readonly VerifierCertificate[];
}

/** The outcome of {@link validatePkixPath}. */
export type PkixResult = PkixSuccess | PkixFailureResult;

/** Section 6.1.2: the state variables. */
interface State {
  tree: PolicyTree | undefined;
  readonly nc: NameConstraintState;
  explicitPolicy: number;
  inhibitAnyPolicy: number;
  policyMapping: number;
  workingKey: WorkingKey;
  workingIssuerName: pkijs.RelativeDistinguishedNames;
  maxPathLength: number;
}

/** Section 6.1.2: initialization from the trust anchor and the inputs. */
async function initialize(anchor: VerifierCertificate, n: number, ctx: PkixContext): Promise<State> {
  const p = ctx.policy ?? {};
  const nc = new NameConstraintState();
  let maxPathLength = n;
  if (ctx.anchorConstraints !== false) {
    // RFC 5937 section 3: the anchor's name constraints and path length bound the path it starts.
    const e = extension<pkijs.NameConstraints>(anchor, EXTENSION_OIDS.nameConstraints);
    if (e) nc.add(e.value);
    const len = basicConstraints(anchor)?.pathLen;
    if (len !== undefined && len < maxPathLength) maxPathLength = len;
  }
  return {
    tree: new PolicyTree(),
    nc,
    explicitPolicy: p.initialExplicitPolicy ? 0 : n + 1,
    inhibitAnyPolicy: p.initialAnyPolicyInhibit ? 0 : n + 1,
    policyMapping: p.initialPolicyMappingInhibit ? 0 : n + 1,
    workingKey: await workingKeyOf(anchor, undefined, ctx.limits ?? {}),
    workingIssuerName: anchor.pkijs.subject,
    maxPathLength,
  };
}

/** The parameters of two AlgorithmIdentifiers with the same OID are the same (DER compared only when there are any). */
export function sameAlgorithmParams(a: pkijs.AlgorithmIdentifier, b: pkijs.AlgorithmIdentifier): boolean {
  if (a.algorithmParams === undefined && b.algorithmParams === undefined) return true;
  const x = algorithmIdentifierDer(a);
  const y = algorithmIdentifierDer(b);
  return x === y || (x.length === y.length && x.every((v, i) => v === y[i]));
}

/** Section 4.1.1.2: signatureAlgorithm must equal tbsCertificate.signature. */
function checkSignatureAlgorithmField(cert: VerifierCertificate): void {
  const outer = cert.pkijs.signatureAlgorithm;
  const inner = cert.pkijs.signature;
  const same = outer.algorithmId === inner.algorithmId && sameAlgorithmParams(outer, inner);
  if (!same) fail('signatureAlgorithmMismatch', `${describe(cert)}: signatureAlgorithm differs from tbsCertificate.signature (RFC 5280 section 4.1.1.2)`);
}

/** Section 6.1.3 (a)(1): the signature, with the working public key. */
async function verifySignature(cert: VerifierCertificate, s: State, ctx: PkixContext): Promise<void> {
  checkSignatureAlgorithmField(cert);
  const p = cert.pkijs;
  const from = s.workingKey.from;
  // The remembered answer for this certificate and issuer key, when the key is the issuer's own; the reason is worked out only on failure.
  if (ctx.issuance && !s.workingKey.inherited && (await ctx.issuance.check(cert, from).catch(() => false))) return;
  const problem = await signatureProblem(p.signatureAlgorithm.algorithmId, p.tbsView, p.signatureValue.valueBlock.valueHexView, s.workingKey, ctx.signaturePolicy ?? {}, () =>
    p.verify(from.pkijs),
  );
  if (problem === 'weakSignatureAlgorithm') fail(problem, `${describe(cert)} is signed with SHA-1, which is not allowed`);
  if (problem === 'unsupportedSignatureAlgorithm') fail(problem, `${describe(cert)} is signed with ${p.signatureAlgorithm.algorithmId}, which is not supported`);
  if (problem) fail('badSignature', `the signature on ${describe(cert)} does not verify with the key of ${describe(from)}`);
}

/**
 * The time as certificates can state it: whole seconds (RFC 5280 section
 * 4.1.2.5 encodes no fraction), so a notAfter holds to the end of its second.
 */
export function toTheSecond(at: Date): Date {
  return new Date(Math.floor(at.getTime() / 1000) * 1000);
}

/** Section 6.1.3 (a)(2): the validity period includes the time (to the second). */
function checkValidity(cert: VerifierCertificate, time: Date): void {
  const at = toTheSecond(time);
  if (at < cert.notBefore) fail('notYetValid', `${describe(cert)} is not valid before ${cert.notBefore.toISOString()}`);
  if (at > cert.notAfter) fail('expired', `${describe(cert)} expired at ${cert.notAfter.toISOString()}`);
}

/** Section 6.1.3 (a)(3): not revoked, by section 6.3. */
async function checkRevocation(cert: VerifierCertificate, s: State, anchor: VerifierCertificate, ctx: PkixContext): Promise<void> {
  const crl = ctx.crl;
  if (!crl) return;
  const anchorKey = await workingKeyOf(anchor, undefined, ctx.limits ?? {});
  const depth = ctx.depth ?? 0;
  let st;
  try {
    st = await crlStatus(cert, [s.workingKey, anchorKey], {
      at: ctx.at,
      crls: crl.crls,
      ...(crl.useDeltas !== undefined ? { useDeltas: crl.useDeltas } : {}),
      ...(crl.clockSkewMs !== undefined ? { clockSkewMs: crl.clockSkewMs } : {}),
      signaturePolicy: ctx.signaturePolicy ?? {},
      candidates: ctx.pool,
      validateCrlIssuer: async (candidate) => {
        // A CRL issuer whose own status comes from a CRL it signed (PKITS 4.14.30): the outer call validates its path.
        if (ctx.crlIssuersInProgress?.has(candidate.id)) return workingKeyOf(candidate, undefined, ctx.limits ?? {});
        if (depth >= 3) return { failure: 'CRL issuer paths nest too deeply' };
        const inProgress = new Set(ctx.crlIssuersInProgress ?? []).add(candidate.id);
        const { endEntity: _ee, maxChainDepth: _depth, profile: _profile, ...common } = ctx;
        const r = await validatePkixPath(candidate, { ...common, anchors: [anchor], policy: {}, depth: depth + 1, crlIssuersInProgress: inProgress });
        if (!r.valid) return { failure: r.message, revoked: r.reason === 'revoked' };
        return workingKeyOf(candidate, undefined, ctx.limits ?? {});
      },
    });
  } catch (e) {
    if (e instanceof CrlIssuerRevoked) fail('revoked', `${describe(cert)}: ${e.message}`);
    throw e;
  }
  if (st.status === 'revoked') fail('revoked', `${describe(cert)} is revoked (${st.origins.join(', ')}${st.revocationDate ? `, since ${st.revocationDate.toISOString()}` : ''})`);
  if (st.status === 'undetermined') fail('revocationUndetermined', `the revocation status of ${describe(cert)} cannot be determined: ${st.notes.join('; ')}`);
}

/** Section 6.1.3 (a)(4): the issuer name is the working issuer name. */
function checkNameChaining(cert: VerifierCertificate, s: State): void {
  if (!dnEqual(cert.pkijs.issuer, s.workingIssuerName)) fail('nameChaining', `the issuer name of ${describe(cert)} is not the subject of the certificate above it`);
}

/** Sections 6.1.3 (b), (c): the subject and subjectAltName names against the name constraints. */
function checkNameConstraints(cert: VerifierCertificate, s: State): void {
  // With no constraint in force every name passes; what is left to refuse is a subjectAltName that does not decode.
  if (s.nc.empty && subjectAltNamesKnownToDecode(cert)) return;
  const names: pkijs.GeneralName[] = [];
  const subject = cert.pkijs.subject;
  if (!dnEmpty(subject)) names.push({ type: GN.directoryName, value: subject } as pkijs.GeneralName);
  for (const e of subjectEmails(subject)) names.push({ type: GN.rfc822Name, value: e } as pkijs.GeneralName);
  names.push(...subjectAltNames(cert));
  // Every name against every subtree: a bound on the product keeps a crafted certificate from costing seconds.
  if (names.length * s.nc.size > MAX_NAME_CONSTRAINT_CHECKS) {
    fail('nameConstraints', `${describe(cert)}: ${names.length} names against ${s.nc.size} name constraints is more checking than allowed (${MAX_NAME_CONSTRAINT_CHECKS})`);
  }
  for (const n of names) {
    const why = s.nc.check(n);
    if (why) fail('nameConstraints', `${describe(cert)}: ${why}`);
  }
}

/** The most name-by-subtree comparisons for one certificate (thousands of names against thousands of subtrees is an attack). */
const MAX_NAME_CONSTRAINT_CHECKS = 1 << 20;

/** The certificatePolicies of a certificate, or `undefined` when absent. */
function certificatePolicies(cert: VerifierCertificate): { id: string }[] | undefined {
  const e = extension<pkijs.CertificatePolicies>(cert, EXTENSION_OIDS.certificatePolicies);
  if (!e) return undefined;
  if (!Array.isArray(e.value.certificatePolicies)) fail('malformedCertificate', `${describe(cert)} has corrupt certificatePolicies`);
  const ids = e.value.certificatePolicies.map((p) => ({ id: p.policyIdentifier }));
  if (new Set(ids.map((p) => p.id)).size !== ids.length) fail('malformedCertificate', `${describe(cert)} names a policy twice (RFC 5280 section 4.2.1.4)`);
  return ids;
}

/** Sections 6.1.3 (d), (e), (f): the policy tree at depth i. */
function processPolicies(cert: VerifierCertificate, i: number, n: number, s: State): void {
  const policies = certificatePolicies(cert);
  if (policies && s.tree) {
    const anyAllowed = s.inhibitAnyPolicy > 0 || (i < n && cert.selfIssued);
    if (!s.tree.processPolicies(i, policies, anyAllowed)) s.tree = undefined;
  } else {
    // (e)
    s.tree = undefined;
  }
  // (f)
  if (s.explicitPolicy <= 0 && !s.tree) fail('policy', `${describe(cert)}: no valid policy remains, and an explicit policy is required`);
}

/** Sections 6.1.4 (a), (b): policy mappings. */
function processPolicyMappings(cert: VerifierCertificate, i: number, s: State): void {
  const e = extension<pkijs.PolicyMappings>(cert, EXTENSION_OIDS.policyMappings);
  if (!e) return;
  if (!Array.isArray(e.value.mappings)) fail('malformedCertificate', `${describe(cert)} has corrupt policyMappings`);
  const mappings = e.value.mappings.map((m) => ({ issuerDomainPolicy: m.issuerDomainPolicy, subjectDomainPolicy: m.subjectDomainPolicy }));
  // (a)
  if (mappings.some((m) => m.issuerDomainPolicy === ANY_POLICY_OID || m.subjectDomainPolicy === ANY_POLICY_OID)) {
    fail('policy', `${describe(cert)} maps a policy to or from anyPolicy (RFC 5280 section 6.1.4 (a))`);
  }
  // (b)
  if (s.tree && !s.tree.applyMappings(i, mappings, s.policyMapping > 0)) s.tree = undefined;
}

/** Sections 6.1.4 (h), (i), (j): the policy counters. */
function updatePolicyCounters(cert: VerifierCertificate, s: State): void {
  // (h)
  if (!cert.selfIssued) {
    if (s.explicitPolicy > 0) s.explicitPolicy--;
    if (s.policyMapping > 0) s.policyMapping--;
    if (s.inhibitAnyPolicy > 0) s.inhibitAnyPolicy--;
  }
  // (i)
  const pc = extension<pkijs.PolicyConstraints>(cert, EXTENSION_OIDS.policyConstraints);
  if (pc) {
    const rep = pc.value.requireExplicitPolicy as unknown;
    const ipm = pc.value.inhibitPolicyMapping as unknown;
    if (rep !== undefined && smallInt(rep, cert, 'requireExplicitPolicy') < s.explicitPolicy) s.explicitPolicy = smallInt(rep, cert, 'requireExplicitPolicy');
    if (ipm !== undefined && smallInt(ipm, cert, 'inhibitPolicyMapping') < s.policyMapping) s.policyMapping = smallInt(ipm, cert, 'inhibitPolicyMapping');
  }
  // (j)
  const iap = extension<unknown>(cert, EXTENSION_OIDS.inhibitAnyPolicy);
  if (iap) {
    const v = smallInt(iap.value, cert, 'inhibitAnyPolicy');
    if (v < s.inhibitAnyPolicy) s.inhibitAnyPolicy = v;
  }
}

/** Sections 6.1.4 (k), (l), (m), (n): a CA certificate, within its path length, allowed to sign certificates. */
function checkCaCertificate(cert: VerifierCertificate, s: State): void {
  const bc = basicConstraints(cert);
  // (k)
  if (!bc?.ca) fail('notCA', `${describe(cert)} is used as a CA and is not one (basicConstraints cA)`);
  // (l)
  if (!cert.selfIssued) {
    if (s.maxPathLength <= 0) fail('pathLengthExceeded', `${describe(cert)} exceeds the path length allowed above it (pathLenConstraint)`);
    s.maxPathLength--;
  }
  // (m)
  if (bc.pathLen !== undefined && bc.pathLen < s.maxPathLength) s.maxPathLength = bc.pathLen;
  // (n)
  const ku = keyUsage(cert);
  if (ku && !ku.keyCertSign) fail('keyCertSignMissing', `${describe(cert)} has keyUsage without keyCertSign`);
}

/** Sections 6.1.4 (o), 6.1.5 (f): no critical extension left unprocessed. */
function checkCriticalExtensions(cert: VerifierCertificate): void {
  const oid = unknownCritical(cert);
  if (oid) fail('unknownCriticalExtension', `${describe(cert)} has a critical extension ${oid} that is not processed here`);
}

/** Section 6.1.4: preparation for certificate i+1. */
async function prepareNext(cert: VerifierCertificate, i: number, s: State, ctx: PkixContext): Promise<void> {
  processPolicyMappings(cert, i, s); // (a), (b)
  s.workingIssuerName = cert.pkijs.subject; // (c)
  s.workingKey = await workingKeyOf(cert, s.workingKey, ctx.limits ?? {}); // (d), (e), (f)
  const nc = extension<pkijs.NameConstraints>(cert, EXTENSION_OIDS.nameConstraints); // (g)
  if (nc) s.nc.add(nc.value);
  updatePolicyCounters(cert, s); // (h), (i), (j)
  checkCaCertificate(cert, s); // (k)-(n)
  checkCriticalExtensions(cert); // (o)
}

/** Section 6.1.5: wrap-up at the leaf. Returns the leaf-level policies. */
async function wrapUp(cert: VerifierCertificate, n: number, s: State, ctx: PkixContext): Promise<string[]> {
  // (a)
  if (s.explicitPolicy > 0) s.explicitPolicy--;
  // (b)
  const pc = extension<pkijs.PolicyConstraints>(cert, EXTENSION_OIDS.policyConstraints);
  const rep = pc?.value.requireExplicitPolicy as unknown;
  if (rep !== undefined && smallInt(rep, cert, 'requireExplicitPolicy') === 0) s.explicitPolicy = 0;
  // (c), (d), (e)
  s.workingKey = await workingKeyOf(cert, s.workingKey, ctx.limits ?? {});
  // (f)
  checkCriticalExtensions(cert);
  // (g)
  const user = ctx.policy?.initialPolicySet;
  if (s.tree && user && user.length > 0 && !user.includes(ANY_POLICY_OID)) {
    if (!s.tree.intersect(n, new Set(user))) s.tree = undefined;
  }
  if (s.explicitPolicy <= 0 && !s.tree) fail('policy', `${describe(cert)}: no acceptable policy for the path, and an explicit policy is required`);
  if (!s.tree && user && user.length > 0 && !user.includes(ANY_POLICY_OID) && ctx.policy?.initialExplicitPolicy) {
    fail('policy', 'no policy of the user-initial-policy-set is valid for the path');
  }
  return s.tree ? s.tree.policiesAt(n) : [];
}

/** The trust anchor's own checks (RFC 5937 and the issuance rules), before the path it starts. */
function checkAnchor(anchor: VerifierCertificate, ctx: PkixContext): void {
  if (ctx.anchorConstraints !== false) {
    checkValidity(anchor, ctx.at);
    checkCriticalExtensions(anchor);
  }
  if (ctx.issuanceRules !== false) checkIssuance(anchor, 'anchor', ctx.profile === 'webpki');
}

/**
 * Section 6.1: validates one candidate path. `certs` is in the RFC's order:
 * certs[0] issued by the anchor, certs[n-1] the leaf.
 */
async function validateCandidate(anchor: VerifierCertificate, certs: readonly VerifierCertificate[], ctx: PkixContext): Promise<PkixResult> {
  const n = certs.length;
  const leafFirst = [...certs].reverse().concat(anchor);
  try {
    checkAnchor(anchor, ctx);
    if (ctx.maxChainDepth !== undefined) {
      const depth = certs.slice(0, -1).filter((c) => !c.selfIssued).length;
      if (depth > ctx.maxChainDepth) fail('chainTooDeep', `the path has ${depth} intermediates (self-issued ones not counted), more than the ${ctx.maxChainDepth} allowed (maxChainDepth)`);
    }
  } catch (e) {
    if (e instanceof PkixFailure) return { valid: false, reason: e.reason, message: e.message, index: e.reason === 'chainTooDeep' ? 1 : n, path: leafFirst };
    throw e;
  }
  let i = 0;
  try {
    const s = await initialize(anchor, n, ctx);
    for (i = 1; i <= n; i++) {
      const cert = certs[i - 1]!;
      if (ctx.issuanceRules !== false) checkIssuance(cert, i === n ? 'leaf' : 'intermediate', ctx.profile === 'webpki');
      // 6.1.3
      await verifySignature(cert, s, ctx); // (a)(1)
      checkValidity(cert, ctx.at); // (a)(2)
      checkNameChaining(cert, s); // (a)(4), before revocation: CRLs are looked up by the issuer name
      await checkRevocation(cert, s, anchor, ctx); // (a)(3)
      if (!(cert.selfIssued && i < n)) checkNameConstraints(cert, s); // (b), (c)
      processPolicies(cert, i, n, s); // (d), (e), (f)
      if (i < n) await prepareNext(cert, i, s, ctx); // 6.1.4
    }
    i = n;
    const policies = await wrapUp(certs[n - 1]!, n, s, ctx);
    const wanted = ctx.endEntity?.extendedKeyUsages ?? [];
    if (wanted.length > 0 || (ctx.profile === 'webpki' && ctx.endEntity)) {
      try {
        checkExtendedKeyUsages(leafFirst, wanted, ctx.profile === 'webpki');
      } catch (e) {
        // The certificate at fault is named in the message; the index points at the leaf the purpose was asked of.
        i = n;
        throw e;
      }
    }
    return { valid: true, path: leafFirst, policies };
  } catch (e) {
    if (e instanceof PkixFailure) return { valid: false, reason: e.reason, message: e.message, index: n - Math.min(Math.max(i, 1), n), path: leafFirst };
    throw e;
  }
}

/**
 * Candidate paths from `leaf` to an anchor, by subject/issuer names, each
 * in the RFC's order (anchor-issued first). Issuers whose subject key
 * identifier matches the authority key identifier come first.
 */
function* candidatePaths(leaf: VerifierCertificate, ctx: PkixContext): Generator<{ anchor: VerifierCertificate; certs: VerifierCertificate[] }> {
  const maxLen = ctx.limits?.maxPathLength ?? 10;
  const anchorIds = new Set(ctx.anchors.map((a) => a.id));
  const order = (cur: VerifierCertificate, list: VerifierCertificate[]): VerifierCertificate[] => {
    if (list.length < 2) return list;
    const aki = authorityKeyId(cur);
    if (!aki) return list;
    return [...list].sort((a, b) => Number(subjectKeyId(b) === aki) - Number(subjectKeyId(a) === aki));
  };
  // A bound on the search: certificates that all share one name could otherwise be chained in every order.
  let budget = ctx.limits?.maxPathSearchSteps ?? 256;
  function* walk(chain: VerifierCertificate[]): Generator<{ anchor: VerifierCertificate; certs: VerifierCertificate[] }> {
    if (budget-- <= 0) return;
    const cur = chain[chain.length - 1]!;
    for (const a of order(cur, ctx.anchors.filter((x) => x.id !== cur.id && dnEqual(x.pkijs.subject, cur.pkijs.issuer)))) {
      yield { anchor: a, certs: [...chain].reverse() };
    }
    if (chain.length >= maxLen) return;
    const used = new Set(chain.map((c) => c.id));
    const next = ctx.pool.filter((c) => !used.has(c.id) && !anchorIds.has(c.id) && dnEqual(c.pkijs.subject, cur.pkijs.issuer));
    for (const c of order(cur, next)) yield* walk([...chain, c]);
  }
  yield* walk([leaf]);
}

/** Failures that say a candidate was the wrong certificate rather than a real problem of the right one. */
const WRONG_CANDIDATE: ReadonlySet<PathValidationReason> = new Set(['badSignature', 'nameChaining']);

/**
 * RFC 5280 section 6.1 (and 6.3 with `ctx.crl`): finds and validates a path
 * from `leaf` to one of `ctx.anchors`. Returns the first valid candidate;
 * otherwise the failure of the most plausible one (a candidate whose
 * signatures verify wins over one that is simply the wrong issuer).
 */
export async function validatePkixPath(leaf: VerifierCertificate, ctx: PkixContext): Promise<PkixResult> {
  const maxPaths = ctx.limits?.maxCandidatePaths ?? 16;
  let first: PkixFailureResult | undefined;
  let plausible: PkixFailureResult | undefined;
  let tried = 0;
  try {
    // The names asked for are the leaf's alone: no path can change the answer.
    const ee = ctx.endEntity;
    if (ee && ((ee.peerNames?.length ?? 0) > 0 || ctx.profile === 'webpki')) checkPeerNames(leaf, ee.peerNames ?? [], ee.wildcardPeerNames ?? false, ctx.profile === 'webpki');
    for (const { anchor, certs } of candidatePaths(leaf, ctx)) {
      if (tried++ >= maxPaths) break;
      const r = await validateCandidate(anchor, certs, ctx);
      if (r.valid) return r;
      first ??= r;
      if (!plausible && !WRONG_CANDIDATE.has(r.reason)) plausible = r;
    }
  } catch (e) {
    if (e instanceof PkixFailure) return { valid: false, reason: e.reason, message: e.message, index: 0 };
    throw e;
  }
  if (plausible ?? first) return (plausible ?? first)!;
  return { valid: false, reason: 'noIssuer', message: `no certificate named as the issuer of ${describe(leaf)} is among the certificates given or the trust anchors`, index: 0 };
}
