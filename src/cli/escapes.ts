/**
 * OpenSSH's escape sequences for `connect` on a terminal (ssh(1), ESCAPE
 * CHARACTERS): recognised only right after a newline (or as the first thing
 * typed), the escape character (`~` by default, EscapeChar / -e) then one
 * command character. An unknown command character is sent with the escape
 * character before it, as OpenSSH does; `~~` sends one `~`.
 *
 * @module
 */

/** The escape commands `connect` knows, by command character. */
export type EscapeCommand = '.' | '?' | '#' | '&' | 'suspend' | 'C';

/**
 * What the session does for an escape command; `'.'` ends the input. For
 * `C` (the command line), `rest` is what was typed after it in the same
 * read, which belongs to the command line, not to the remote side.
 */
export type EscapeHandler = (command: EscapeCommand, rest: Buffer) => void;

const COMMANDS: Readonly<Record<number, EscapeCommand>> = { 0x2e: '.', 0x3f: '?', 0x23: '#', 0x26: '&', 0x1a: 'suspend', 0x43: 'C' };

/** How an escape character is shown: `~`, or `^A` for a control character. */
export function showEscape(escape: string): string {
  const c = escape.charCodeAt(0);
  if (c < 0x20) return `^${String.fromCharCode(c + 0x40)}`;
  if (c === 0x7f) return '^?';
  return escape;
}

/** The `~?` help, with the escape character in use, each line ending CR LF (the terminal is raw). */
export function escapeHelp(escape: string): string {
  const e = showEscape(escape);
  return [
    'Supported escape sequences:',
    ` ${e}.   - terminate connection`,
    ` ${e}C   - open a command line (-L, -R, -D forwards)`,
    ` ${e}^Z  - suspend ssh-x509`,
    ` ${e}#   - list forwarded connections`,
    ` ${e}&   - background ssh-x509 (not available: it cannot detach from the terminal)`,
    ` ${e}?   - this message`,
    ` ${e}${e}   - send the escape character by typing it twice`,
    '(Note that escapes are only recognized immediately after newline.)',
    '',
  ].join('\r\n');
}

/**
 * Filters what the user types: escape commands go to `handle` and are not
 * sent; everything else is returned, to be sent to the remote side. After
 * `~.` the rest of the input is dropped; after `~C` the rest of this read
 * goes to the handler.
 */
export function escapeFilter(escape: string, handle: EscapeHandler): (d: Buffer) => Buffer {
  let lineStart = true;
  let pending = false;
  let ended = false;
  const esc = escape.charCodeAt(0);
  return (d) => {
    const out: number[] = [];
    if (ended) return Buffer.alloc(0);
    for (let i = 0; i < d.length; i++) {
      const b = d[i]!;
      if (pending) {
        pending = false;
        const command = COMMANDS[b];
        if (command !== undefined) {
          if (command === '.' || command === 'C') {
            handle(command, d.subarray(i + 1));
            ended = command === '.';
            return Buffer.from(out);
          }
          handle(command, Buffer.alloc(0));
          // As OpenSSH: still at the start of a line, so another escape may follow.
          continue;
        }
        if (b !== esc) out.push(esc);
        out.push(b);
        lineStart = b === 0x0d || b === 0x0a;
        continue;
      }
      if (lineStart && b === esc) {
        pending = true;
        continue;
      }
      out.push(b);
      lineStart = b === 0x0d || b === 0x0a;
    }
    return Buffer.from(out);
  };
}
