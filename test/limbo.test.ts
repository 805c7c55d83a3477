/**
 * x509-limbo (C2SP's path-validation suite) through the public API, as
 * `npm run limbo` runs it (scripts/limbo.ts): every case of
 * test/fixtures/limbo gives its expected result, and so does each case
 * built in test/helpers/limbo-cases.ts (the webpki and cve categories, and
 * rules the fixture does not reach), with the reason expected.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { limboCategory, limboReport, readLimbo, runLimbo, type LimboOutcome } from '../scripts/limbo.js';
import { LIMBO_FILE } from './helpers/fixtures.js';
import { builtLimboCases, type BuiltCase } from './helpers/limbo-cases.js';

const cases = readLimbo(LIMBO_FILE);

describe('x509-limbo, the fixture cases', () => {
  let outcomes: Map<string, LimboOutcome>;
  beforeAll(async () => {
    outcomes = new Map((await runLimbo(cases)).map((o) => [o.id, o]));
  });

  it('has the 149 cases of its README', () => {
    expect(cases).toHaveLength(149);
  });

  it.each(cases.map((c) => [c.id, c.expected_result] as const))('%s: %s', (id, expected) => {
    const o = outcomes.get(id)!;
    // The validator's message rides along, so a failure says what it decided.
    expect({ valid: o.result.valid, message: o.result.message }).toMatchObject({ valid: expected === 'SUCCESS' });
  });
});

describe('x509-limbo, cases built here', () => {
  let built: BuiltCase[];
  let outcomes: Map<string, LimboOutcome>;
  beforeAll(async () => {
    built = await builtLimboCases();
    outcomes = new Map((await runLimbo(built)).map((o) => [o.id, o]));
  }, 120_000);

  it('every built case gives its expected result, with its reason', () => {
    const wrong = built
      .map((c) => ({ c, o: outcomes.get(c.id)! }))
      .filter(({ c, o }) => !o.passed || (c.reason !== undefined && o.result.reason !== c.reason))
      .map(({ c, o }) => `${c.id}: expected ${c.expected_result}${c.reason ? ` (${c.reason})` : ''}, got ${o.result.valid ? 'valid' : `${o.result.reason}: ${o.result.message}`}`);
    expect(wrong).toEqual([]);
    expect(built.length).toBeGreaterThanOrEqual(30);
  });
});

describe('npm run limbo', () => {
  const script = fileURLToPath(new URL('../scripts/limbo.ts', import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8', timeout: 60_000 });

  it('prints the summary line and a table by category, and exits 0 when every case passes', () => {
    const r = run(LIMBO_FILE);
    expect(r.stdout.split('\n')[0]).toBe('limbo: 149 passed, 0 failed of 149');
    expect(r.stdout).toMatch(/^rfc5280::nc\s+48\s+0\s+48$/m);
    expect(r.status).toBe(0);
  });

  it('exits 2 with a message for a file that is not a limbo file', () => {
    const r = run(fileURLToPath(new URL('../package.json', import.meta.url)));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not a limbo file: no "testcases" array/);
  });

  it('lists each failure with what the validator said', () => {
    const report = limboReport([{ id: 'a::b', category: limboCategory('a::b'), expected: 'FAILURE', passed: false, result: { valid: true, message: 'the path is valid' } }]);
    expect(report.split('\n')[0]).toBe('limbo: 0 passed, 1 failed of 1');
    expect(report).toContain('  a::b: expected FAILURE, got valid');
  });
});
