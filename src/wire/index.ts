export { SshReader, DEFAULT_MAX_STRING_LENGTH } from './reader.js';
export { SshWriter } from './writer.js';
