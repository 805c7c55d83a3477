export * from './publickey-blob.js';
export * from './signature.js';
