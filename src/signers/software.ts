import { createPublicKey, KeyObject, sign as cryptoSign } from 'node:crypto';
import type { HashName } from '../algorithms.js';
import { chainOf, orderCertificates, type CertificateChain, type ChainOptions } from '../certs/chain.js';
import { parseCertificateModels, readInputFile } from '../certs/load.js';
import type { CertificateInput } from '../certs/load.js';
import { ErrorCodes, SshX509Error } from '../errors.js';
import { isEncryptedPrivateKey, parsePrivateKey } from '../keys/private-key.js';
import type { Signer } from './signer.js';

/** Options for {@link SoftwareSigner.create}. */
export interface SoftwareSignerOptions extends Omit<ChainOptions, 'leaf'> {
  /** The certificate chain: PEM or DER, leaf and intermediates in any order, or a bundle. */
  certificates: CertificateInput;
  /** The private key: PEM (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8), OpenSSH (as `ssh-keygen` writes it, encrypted or not), DER PKCS#8, or a KeyObject. */
  privateKey: string | Uint8Array | KeyObject;
  /** Passphrase of an encrypted key. Used once to decrypt and not kept. */
  passphrase?: string | Uint8Array;
  /** Label for traces; defaults to the leaf's subject. */
  label?: string;
}

/** What a passphrase callback is told about the key that needs it. */
export interface PassphraseRequest {
  /** The key file, when the key comes from one. */
  readonly keyFile?: string;
}

/**
 * Supplies the passphrase of an encrypted private key; called only when the
 * key is encrypted and at most once. Return a string or bytes (UTF-8).
 * {@link ttyPassphrase} asks on a terminal without echo.
 */
export type PassphraseSource = (request: PassphraseRequest) => Promise<string | Uint8Array> | string | Uint8Array;

function loadPrivateKey(key: string | Uint8Array | KeyObject, passphrase: string | Uint8Array | undefined, where = 'the private key'): KeyObject {
  if (key instanceof KeyObject) {
    if (key.type !== 'private') throw new SshX509Error(ErrorCodes.KEY_INVALID, 'the key object is not a private key');
    return key;
  }
  return parsePrivateKey(key, where, passphrase !== undefined ? { passphrase } : {});
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
  /** The key is in memory and signing asks nobody: the client signs its publickey requests at once. */
  readonly signsUnattended = true;
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
    return SoftwareSigner.#build(options);
  }

  /** {@link create}, with the key and certificates named in messages (their files). */
  static #build(options: SoftwareSignerOptions, names: { key?: string; certificates?: string } = {}): SoftwareSigner {
    const key = loadPrivateKey(options.privateKey, options.passphrase, names.key);
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
        const certs = names.certificates ?? 'the certificates given';
        throw new SshX509Error(ErrorCodes.KEY_CERT_MISMATCH, `no certificate in ${certs} matches ${names.key ?? 'the private key'}: give the certificate issued for this key`);
      }
      throw e;
    }
    return new SoftwareSigner(chain, key, options.label);
  }

  /**
   * Reads the certificate and key files and builds a signer. Errors name the
   * file and what it holds instead (`ERR_FILE_UNREADABLE`, `ERR_CERT_INVALID`,
   * `ERR_KEY_INVALID`). `passphrase` may be a {@link PassphraseSource}, asked
   * only when the key is encrypted (for example {@link ttyPassphrase}).
   */
  static async fromFiles(
    options: Omit<SoftwareSignerOptions, 'certificates' | 'privateKey' | 'passphrase'> & { certificateFile: string | readonly string[]; keyFile: string; passphrase?: string | Uint8Array | PassphraseSource },
  ): Promise<SoftwareSigner> {
    const files = typeof options.certificateFile === 'string' ? [options.certificateFile] : options.certificateFile;
    // The key file is read beside the certificate files (not after them); a certificate file's error still comes first.
    const keyRead = readInputFile(options.keyFile, 'key file');
    keyRead.catch(() => undefined);
    // Unless the key file is also a certificate file (a key + chain file): then a missing file is the key's (ssh -i).
    if (files.includes(options.keyFile)) await keyRead;
    const certificates = await Promise.all(
      files.map(async (f) => {
        const bytes = await readInputFile(f, 'certificate file');
        parseCertificateModels(bytes, `certificate file ${f}`); // so that an error names the file and what it holds
        return bytes;
      }),
    );
    const privateKey = await keyRead;
    const { certificateFile: _c, keyFile: _k, passphrase: given, ...rest } = options;
    let passphrase: string | Uint8Array | undefined;
    if (typeof given !== 'function') passphrase = given;
    else if (isEncryptedPrivateKey(privateKey)) passphrase = await given({ keyFile: options.keyFile });
    try {
      return SoftwareSigner.#build({ ...rest, certificates, privateKey, passphrase }, { key: `key file ${options.keyFile}`, certificates: files.join(', ') });
    } finally {
      if (passphrase instanceof Uint8Array && typeof given === 'function') passphrase.fill(0);
    }
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
