// TypeDoc plugin: files each public symbol under a category a user navigates
// (Client, Signers, PKCS#11, Host keys, Server, Formats, Errors, Low level), by the
// source file that declares it, so that src/ needs no @category tags. A symbol's own
// `@category` tag wins. A public symbol from a file no rule covers is a warning
// (`npm run docs` treats warnings as errors): add a rule here.
import { Comment, CommentTag, Converter, ReflectionKind } from 'typedoc';
import { relative, sep } from 'node:path';

/** First match wins, against `<file>#<symbol>@<entry point>`; paths are relative to the repository, with `/`. */
const RULES = [
  [/^[^@]*(host-?keys?|known-?hosts)/i, 'Host keys'],
  // The terminal prompt for key passphrases lives beside the PIN prompt; from the main entry point it is a signer's.
  [/^src\/signers\/pkcs11\/pin\.ts#(ttyPassphrase|PinPromptInput|PinPromptOutput|PromptOptions)@ssh-x509$/, 'Signers'],
  [/^src\/(pkcs11\.ts|signers\/pkcs11\/)/, 'PKCS#11'],
  // Checks of the client's own certificate before connecting.
  [/^src\/certs\/validity\.ts#/, 'Client'],
  [/^src\/errors\.ts#/, 'Errors'],
  [/^src\/signers\//, 'Signers'],
  [/^src\/(verify\/|adapters\/ssh2\/server\.ts#|adapters\/ssh2\/bridge\/limits\.ts#)/, 'Server'],
  [/^src\/adapters\/ssh2\/compat\.ts#/, 'Low level'],
  [/^src\/adapters\//, 'Client'],
  [/^src\/(certs|keys)\//, 'Formats'],
  [/^src\/(wire\/|rfc6187\/|algorithms\.ts#|oids\.ts#)/, 'Low level'],
];

/** @param {import('typedoc').Application} app */
export function load(app) {
  const files = new Map();
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    if (reflection.kindOf(ReflectionKind.SomeModule) || !reflection.parent?.kindOf(ReflectionKind.SomeModule | ReflectionKind.Project)) return;
    const decl = context.getSymbolFromReflection(reflection)?.declarations?.[0];
    if (decl) files.set(reflection, `${relative(process.cwd(), decl.getSourceFile().fileName).split(sep).join('/')}#${reflection.name}@${reflection.parent.name}`);
  });
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, () => {
    for (const [reflection, where] of files) {
      const tagged = [reflection.comment, ...(reflection.signatures ?? []).map((s) => s.comment)].some((c) => c?.getTag('@category'));
      if (tagged) continue;
      const rule = RULES.find(([re]) => re.test(where));
      if (!rule) {
        app.logger.warn(`typedoc-categories: no category for ${where}; add a rule in scripts/typedoc-categories.mjs`);
        continue;
      }
      reflection.comment ??= new Comment();
      reflection.comment.blockTags.push(new CommentTag('@category', [{ kind: 'text', text: rule[1] }]));
    }
    files.clear();
  });
}
