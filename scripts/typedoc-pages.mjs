// TypeDoc plugin: the site's pages read as the repository's do. The guides
// (docs/*.md, bench/README.md, CHANGELOG.md) are named by their first heading
// instead of their path, and the front page shows the README without its own
// "# ssh-x509" line, which would repeat the page title above it.
import { Converter } from 'typedoc';

/** The first `# Heading` of a page's text, and the text without it. */
function splitTitle(parts) {
  const first = parts[0];
  if (!first || first.kind !== 'text') return undefined;
  const m = /^# (.+)\n+/.exec(first.text);
  if (!m) return undefined;
  return { title: m[1].trim(), rest: [{ ...first, text: first.text.slice(m[0].length) }, ...parts.slice(1)] };
}

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_CREATE_DOCUMENT, (_context, doc) => {
    const split = splitTitle(doc.content);
    if (split) doc.name = split.title;
  });
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const project = context.project;
    const split = project.readme && splitTitle(project.readme);
    if (split && split.title === project.name) project.readme = split.rest;
  });
}
