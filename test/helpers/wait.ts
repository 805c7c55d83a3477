/**
 * Resolves with `log()` once it matches `pattern`, or with the log as it is
 * after `timeoutMs`, so that the caller's assertion fails showing it. A
 * server's log arrives through a pipe and can trail the client's view of
 * the same event by a moment.
 */
export async function waitForLog(log: () => string, pattern: RegExp | string | ((log: string) => boolean), timeoutMs = 5_000): Promise<string> {
  const matches = (s: string) => (typeof pattern === 'string' ? s.includes(pattern) : typeof pattern === 'function' ? pattern(s) : pattern.test(s));
  const deadline = Date.now() + timeoutMs;
  while (!matches(log()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return log();
}
