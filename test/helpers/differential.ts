/**
 * What the differential tests of the pkijs forms (test/pkijs-form.test.ts,
 * test/ocsp-form.test.ts) share: a structural comparison of two pkijs
 * objects, and deterministic mutations of a DER.
 */

/** A structural comparison: same classes, same own enumerable fields, same bytes; cycles followed once. */
export function same(a: unknown, b: unknown, path: string, seen = new Map<object, object>()): string | undefined {
  if (a === b) return undefined;
  if (typeof a !== typeof b) return `${path}: ${typeof a} vs ${typeof b}`;
  if (typeof a !== 'object' || a === null || b === null) {
    if (typeof a === 'number' && Number.isNaN(a) && Number.isNaN(b)) return undefined;
    return typeof a === 'function' ? undefined : `${path}: ${String(a)} vs ${String(b)}`;
  }
  const x = a as object;
  const y = b as object;
  if (seen.get(x) === y) return undefined;
  seen.set(x, y);
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return `${path}: different classes`;
  if (x instanceof ArrayBuffer) return Buffer.from(x).equals(Buffer.from(y as ArrayBuffer)) ? undefined : `${path}: bytes differ`;
  if (ArrayBuffer.isView(x)) {
    const u = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    const v = y as ArrayBufferView;
    return u.equals(Buffer.from(v.buffer, v.byteOffset, v.byteLength)) ? undefined : `${path}: bytes differ`;
  }
  if (x instanceof Date) return x.getTime() === (y as Date).getTime() ? undefined : `${path}: dates differ`;
  // asn1js's embedded decode of a primitive OCTET or BIT STRING's contents (`valueBlock.value`), which the model's
  // decode skips: nothing reads it (pkijs decodes extension values and keys from the octets themselves).
  const embedded = isPrimitiveStringValue(x);
  const kx = Object.keys(x).filter((k) => !(embedded && k === 'value'));
  const ky = Object.keys(y).filter((k) => !(embedded && k === 'value'));
  if (kx.join() !== ky.join()) return `${path}: keys ${kx.join()} vs ${ky.join()}`;
  for (const k of kx) {
    const d = same((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${path}.${k}`, seen);
    if (d) return d;
  }
  return undefined;
}

/** True for the value block of a primitive OCTET STRING or BIT STRING (the only blocks asn1js decodes "embedded" contents in). */
export function isPrimitiveStringValue(x: object): boolean {
  const name = (x.constructor as { NAME?: string }).NAME;
  return (name === 'OctetStringValueBlock' || name === 'BitStringValueBlock') && (x as { isConstructed?: boolean }).isConstructed === false;
}

/** A small deterministic generator (mutations are the same every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function mutations(der: Uint8Array, n: number, seed: number): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const m = new Uint8Array(der);
    const at = Math.floor(r() * m.length);
    switch (k % 5) {
      case 0:
        m[at]! ^= 1 << Math.floor(r() * 8);
        out.push(m);
        break;
      case 1:
        m[at] = Math.floor(r() * 256);
        out.push(m);
        break;
      case 2:
        out.push(m.subarray(0, at));
        break;
      case 3: {
        // A tag edit: one of the tags a certificate uses, anywhere.
        m[at] = [0x02, 0x03, 0x04, 0x05, 0x06, 0x30, 0x31, 0x17, 0x18, 0xa0, 0xa3, 0x81, 0x82, 0x1f][Math.floor(r() * 14)]!;
        out.push(m);
        break;
      }
      default: {
        // An inserted byte (a length now off by one somewhere).
        const ins = new Uint8Array(m.length + 1);
        ins.set(m.subarray(0, at));
        ins[at] = Math.floor(r() * 256);
        ins.set(m.subarray(at), at + 1);
        out.push(ins);
      }
    }
  }
  return out;
}


/** How many embedded decodes pkijs's tree holds that the model's does not (the model's holds none), and whether any other field differs. */
export function embeddedDecodes(c: object): number {
  let n = 0;
  const seen = new Set<object>();
  const visit = (v: unknown) => {
    if (typeof v !== 'object' || v === null || seen.has(v) || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return;
    seen.add(v);
    if (isPrimitiveStringValue(v) && ((v as { value?: unknown[] }).value?.length ?? 0) > 0) n++;
    for (const k of Object.keys(v)) visit((v as Record<string, unknown>)[k]);
  };
  visit(c);
  return n;
}

