import { createPrivateKey, createPublicKey, KeyObject, sign as cryptoSign } from 'node:crypto';
import type { HashName } from '../algorithms.js';
import { chainOf, orderCertificates, type CertificateChain, type ChainOptions } from '../certs/chain.js';
import { parseCertificateModels, readInputFile } from '../certs/load.js';
import type { CertificateInput } from '../certs/load.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import type { Signer } from './signer.js';

/** Options for {@link SoftwareSigner.create}. */
export interface SoftwareSignerOptions extends Omit<ChainOptions, 'leaf'> {
  /** The certificate chain: PEM or DER, leaf and intermediates in any order, or a bundle. */
  certificates: CertificateInput;
  /** The private key: PEM (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8), DER PKCS#8, or a KeyObject. */
  privateKey: string | Uint8Array | KeyObject;
  /** Passphrase of an encrypted key. Used once to decrypt and not kept. */
  passphrase?: string | Uint8Array;
  /** Label for traces; defaults to the leaf's subject. */
  label?: string;
}

function loadPrivateKey(key: string | Uint8Array | KeyObject, passphrase?: string | Uint8Array): KeyObject {
  if (key instanceof KeyObject) {
    if (key.type !== 'private') throw new SshX509Error(ErrorCodes.KEY_INVALID, 'the key object is not a private key');
    return key;
  }
  const buf = Buffer.from(key);
  const isPem = buf.subarray(0, 64).toString('latin1').includes('-----BEGIN');
  const encrypted = isPem && /ENCRYPTED/.test(buf.subarray(0, 100).toString('latin1'));
  if (encrypted && passphrase === undefined) {
    throw new SshX509Error(ErrorCodes.KEY_INVALID, 'the private key is encrypted and no passphrase was given');
  }
  try {
    return createPrivateKey(
      isPem
        ? { key: buf, format: 'pem', ...(passphrase !== undefined ? { passphrase: Buffer.from(passphrase) } : {}) }
        : { key: buf, format: 'der', type: 'pkcs8', ...(passphrase !== undefined ? { passphrase: Buffer.from(passphrase) } : {}) },
    );
  } catch (e) {
    const msg = encrypted ? 'cannot decrypt the private key: wrong passphrase or unsupported encryption' : 'cannot read the private key (expected PEM PKCS#8, PKCS#1 or SEC1, or DER PKCS#8)';
    throw new SshX509Error(ErrorCodes.KEY_INVALID, msg, { cause: e });
  }
}

function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return Buffer.from(a.export({ format: 'der', type: 'spki' })).equals(Buffer.from(b.export({ format: 'der', type: 'spki' })));
}

/**
 * A {@link Signer} over a node:crypto private key (from a file or memory).
 * The leaf is the certificate whose public key matches the private key.
 */
export class SoftwareSigner implements Signer {
  readonly chain: CertificateChain;
  readonly #key: KeyObject;
  #label: string | undefined;

  private constructor(chain: CertificateChain, key: KeyObject, label: string | undefined) {
    this.chain = chain;
    this.#key = key;
    this.#label = label;
  }

  /** The label for traces: the one given, or the leaf's subject. */
  get label(): string {
    return (this.#label ??= this.chain.subject);
  }

  /**
   * Builds a signer from a key and its certificates. Throws
   * `ERR_KEY_INVALID` for an unreadable key and `ERR_KEY_CERT_MISMATCH` when
   * no certificate carries the key's public half.
   */
  static create(options: SoftwareSignerOptions): SoftwareSigner {
    const key = loadPrivateKey(options.privateKey, options.passphrase);
    const pub = createPublicKey(key);
    let chain: CertificateChain;
    try {
      const ordered = orderCertificates(parseCertificateModels(options.certificates), {
        includeRoot: options.includeRoot,
        leaf: (c) => {
          try {
            return samePublicKey(c.publicKey, pub);
          } catch {
            return false;
          }
        },
      });
      chain = chainOf(ordered);
    } catch (e) {
      if (e instanceof SshX509Error && e.code === ErrorCodes.CHAIN_INVALID && /leaf certificate is not among/.test(e.message)) {
        throw new SshX509Error(ErrorCodes.KEY_CERT_MISMATCH, 'no certificate given matches the private key');
      }
      throw e;
    }
    return new SoftwareSigner(chain, key, options.label);
  }

  /** Reads the certificate and key files and builds a signer. */
  static async fromFiles(options: Omit<SoftwareSignerOptions, 'certificates' | 'privateKey'> & { certificateFile: string | readonly string[]; keyFile: string }): Promise<SoftwareSigner> {
    const files = typeof options.certificateFile === 'string' ? [options.certificateFile] : options.certificateFile;
    const certificates = await Promise.all(files.map((f) => readInputFile(f, 'certificate file')));
    const privateKey = await readInputFile(options.keyFile, 'key file');
    const { certificateFile: _c, keyFile: _k, ...rest } = options;
    return SoftwareSigner.create({ ...rest, certificates, privateKey });
  }

  async sign(data: Uint8Array, hash: HashName | null): Promise<Uint8Array> {
    try {
      switch (this.#key.asymmetricKeyType) {
        case 'ed25519':
          return cryptoSign(null, data, this.#key);
        case 'ec':
        case 'dsa':
          return cryptoSign(hash, data, { key: this.#key, dsaEncoding: 'ieee-p1363' });
        default:
          return cryptoSign(hash, data, this.#key);
      }
    } catch (e) {
      throw new SshX509Error(ErrorCodes.SIGN_FAILED, `software signing failed (${this.#key.asymmetricKeyType}, ${hash ?? 'no hash'})`, { cause: e });
    }
  }

  async close(): Promise<void> {}
}
