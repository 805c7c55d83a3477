export * from './publickey-blob.js';
export * from './signature.js';
export * from './userauth.js';
