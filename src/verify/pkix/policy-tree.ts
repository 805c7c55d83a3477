/**
 * The valid_policy_tree of RFC 5280 section 6.1: built by 6.1.3 (d)-(f),
 * mapped by 6.1.4 (a)-(b), and intersected with the user-initial-policy-set
 * by 6.1.5 (g). Qualifiers are carried but not interpreted.
 *
 * @module
 */
import { ANY_POLICY_OID } from '../../oids.js';

/** One node (section 6.1.2 (a)). */
export interface PolicyNode {
  validPolicy: string;
  expected: Set<string>;
  children: PolicyNode[];
  parent: PolicyNode | undefined;
  depth: number;
}

/** A policy of a certificate's certificatePolicies extension. */
export interface CertPolicy {
  readonly id: string;
}

/** A policyMappings pair (section 4.2.1.5). */
export interface PolicyMapping {
  readonly issuerDomainPolicy: string;
  readonly subjectDomainPolicy: string;
}

/** The tree, or `undefined` for NULL. */
export class PolicyTree {
  /** Nodes by depth; level 0 holds the root. */
  private levels: PolicyNode[][];

  /** Section 6.1.2 (a): a single anyPolicy node at depth 0. */
  constructor() {
    this.levels = [[{ validPolicy: ANY_POLICY_OID, expected: new Set([ANY_POLICY_OID]), children: [], parent: undefined, depth: 0 }]];
  }

  private add(parent: PolicyNode, validPolicy: string, expected: Set<string>): void {
    const n: PolicyNode = { validPolicy, expected, children: [], parent, depth: parent.depth + 1 };
    parent.children.push(n);
    (this.levels[n.depth] ??= []).push(n);
  }

  private remove(n: PolicyNode): void {
    const level = this.levels[n.depth];
    if (level) this.levels[n.depth] = level.filter((x) => x !== n);
    if (n.parent) n.parent.children = n.parent.children.filter((x) => x !== n);
    for (const c of [...n.children]) this.remove(c);
  }

  /** Deletes nodes above `depth` that have no children, repeatedly (sections 6.1.3 (d)(3), 6.1.4 (b)(2)). Returns false when the root is gone (NULL tree). */
  prune(depth: number): boolean {
    for (let d = depth - 1; d >= 0; d--) {
      for (const n of [...(this.levels[d] ?? [])]) if (n.children.length === 0) this.remove(n);
    }
    return (this.levels[0]?.length ?? 0) > 0;
  }

  /** Nodes at a depth. */
  at(depth: number): readonly PolicyNode[] {
    return this.levels[depth] ?? [];
  }

  /**
   * Section 6.1.3 (d)(1) and (d)(2): grows depth `i` from the policies of
   * certificate i. `anyAllowed`: inhibit_anyPolicy > 0, or a self-issued
   * intermediate. Returns false when the tree becomes NULL after (d)(3).
   */
  processPolicies(i: number, policies: readonly CertPolicy[], anyAllowed: boolean): boolean {
    const parents = [...this.at(i - 1)];
    // (d)(1)
    for (const p of policies) {
      if (p.id === ANY_POLICY_OID) continue;
      let matched = false;
      for (const n of parents) {
        if (n.expected.has(p.id)) {
          this.add(n, p.id, new Set([p.id]));
          matched = true;
        }
      }
      if (!matched) {
        for (const n of parents) if (n.validPolicy === ANY_POLICY_OID) this.add(n, p.id, new Set([p.id]));
      }
    }
    // (d)(2)
    if (anyAllowed && policies.some((p) => p.id === ANY_POLICY_OID)) {
      for (const n of parents) {
        for (const e of n.expected) {
          if (!n.children.some((c) => c.validPolicy === e)) this.add(n, e, new Set([e]));
        }
      }
    }
    // (d)(3)
    return this.prune(i);
  }

  /**
   * Section 6.1.4 (b): policy mappings at depth `i`. With `mappingAllowed`
   * (policy_mapping > 0) the expected sets are rewritten (and an anyPolicy
   * node stands in for a missing issuer policy); otherwise mapped nodes are
   * deleted. Returns false when the tree becomes NULL.
   */
  applyMappings(i: number, mappings: readonly PolicyMapping[], mappingAllowed: boolean): boolean {
    const byIssuer = new Map<string, Set<string>>();
    for (const m of mappings) {
      const s = byIssuer.get(m.issuerDomainPolicy) ?? new Set<string>();
      s.add(m.subjectDomainPolicy);
      byIssuer.set(m.issuerDomainPolicy, s);
    }
    if (mappingAllowed) {
      // (b)(1)
      for (const [idp, subjects] of byIssuer) {
        const nodes = this.at(i).filter((n) => n.validPolicy === idp);
        if (nodes.length > 0) {
          for (const n of nodes) n.expected = new Set(subjects);
        } else {
          const any = this.at(i).find((n) => n.validPolicy === ANY_POLICY_OID);
          if (any?.parent) this.add(any.parent, idp, new Set(subjects));
        }
      }
      return true;
    }
    // (b)(2)
    for (const idp of byIssuer.keys()) for (const n of this.at(i).filter((x) => x.validPolicy === idp)) this.remove(n);
    return this.prune(i);
  }

  /**
   * Section 6.1.5 (g)(iii): the intersection with a user-initial-policy-set
   * that is not anyPolicy, at final depth `n`. Returns false when it is NULL.
   */
  intersect(n: number, userPolicies: ReadonlySet<string>): boolean {
    // (g)(iii)(1): the valid_policy_node_set: nodes whose parent is an anyPolicy node (all ancestors anyPolicy).
    const validSet: PolicyNode[] = [];
    const walk = (node: PolicyNode): void => {
      for (const c of node.children) {
        validSet.push(c);
        if (c.validPolicy === ANY_POLICY_OID) walk(c);
      }
    };
    for (const root of this.at(0)) walk(root);
    // (g)(iii)(2): delete nodes in that set whose policy is neither anyPolicy nor acceptable.
    for (const node of validSet) {
      if (node.validPolicy !== ANY_POLICY_OID && !userPolicies.has(node.validPolicy)) this.remove(node);
    }
    // (g)(iii)(3): an anyPolicy leaf stands for each acceptable policy not already present at depth n.
    const anyLeaf = this.at(n).find((x) => x.validPolicy === ANY_POLICY_OID);
    if (anyLeaf?.parent) {
      const present = new Set(this.at(n).map((x) => x.validPolicy));
      for (const p of userPolicies) if (!present.has(p)) this.add(anyLeaf.parent, p, new Set([p]));
      this.remove(anyLeaf);
    }
    // (g)(iii)(4)
    return this.prune(n);
  }

  /** The policies of the leaf level (for the result). */
  policiesAt(n: number): string[] {
    return [...new Set(this.at(n).map((x) => x.validPolicy))];
  }
}
