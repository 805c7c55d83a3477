import { fileURLToPath } from 'node:url';

/** The test data kept in the repository (test/fixtures/README.md says where each set comes from). */
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
/** NIST PKITS: `certs/`, `crls/`, `cases.json`. */
export const PKITS_DIR = fileURLToPath(new URL('../fixtures/pkits/', import.meta.url));
/** x509-limbo test cases (schema version 1). */
export const LIMBO_FILE = fileURLToPath(new URL('../fixtures/limbo/limbo.json', import.meta.url));
