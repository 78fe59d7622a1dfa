// build.mjs builds the Better-PaaS web UI into the folder given as its first
// argument, creating it:
//
//   VERSION=v1.2.3 node build.mjs <output-folder>
//   VERSION=v1.2.3 pnpm --dir frontend run build <output-folder>
//   VERSION=v1.2.3 npm --prefix frontend run build -- <output-folder>
//
// It has no dependencies, so a host builds it offline. It stamps the version
// into the page, inlines the minified stylesheet, refuses a script that does
// not parse, and writes the script as a content-hashed asset so a browser
// never runs a stale script after an update. manifest.json records what was
// built, for tools that inspect an install.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const srcDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'src');

// minifyCSS drops comments and the whitespace CSS does not need.
function minifyCSS(css) {
  return css
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s*([{};,>])\s*/g, '$1')
    .replace(/:\s+/g, ':')
    .replace(/;}/g, '}')
    .trim();
}

// minifyJS drops comment lines, indentation and blank lines. It keeps line
// breaks, so automatic semicolon insertion still sees the same code.
function minifyJS(js) {
  return js
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('//'))
    .join('\n');
}

function escapeHTML(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// fill replaces each {{name}} in template; a function replacement keeps "$"
// in values literal.
function fill(template, values) {
  return template.replace(/\{\{(\w+)\}\}/g, (match, name) => {
    if (!(name in values)) throw new Error(`src/index.html uses unknown placeholder ${match}`);
    return values[name];
  });
}

async function build(outArg, env) {
  // npm and pnpm run scripts inside frontend/, so resolve a relative output
  // folder against the folder they were started from (INIT_CWD), as the
  // caller meant.
  const outDir = path.resolve(env.INIT_CWD ?? process.cwd(), outArg);
  const version = env.VERSION || 'dev';

  const [template, script, style] = await Promise.all(
    ['index.html', 'app.js', 'style.css'].map((name) => readFile(path.join(srcDir, name), 'utf8')),
  );

  const js = minifyJS(script.replaceAll('__VERSION__', JSON.stringify(version)));
  // Compile without running, so a syntax error fails the build on the host
  // instead of blanking the page in every browser.
  try {
    new vm.Script(js, { filename: 'src/app.js (minified)' });
  } catch (err) {
    throw new Error(`src/app.js: ${err.message}`);
  }
  const asset = `assets/app.${createHash('sha256').update(js).digest('hex').slice(0, 12)}.js`;
  const html = fill(template, { version: escapeHTML(version), style: minifyCSS(style), script: asset });
  const manifest = { version, files: ['index.html', asset], builtWith: `node ${process.version}` };

  await mkdir(path.join(outDir, 'assets'), { recursive: true });
  await writeFile(path.join(outDir, asset), js + '\n');
  await writeFile(path.join(outDir, 'index.html'), html);
  await writeFile(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  console.log(`built web UI ${version} into ${outDir}`);
}

// `pnpm run build -- <out>` passes the "--" on to the script (npm drops
// it); skip it, so both spellings build into <out>.
if (process.argv[2] === '--') process.argv.splice(2, 1);
const outArg = process.argv[2];
if (!outArg) {
  console.error('build.mjs: missing output folder\nusage: VERSION=v1.2.3 node build.mjs <output-folder>');
  process.exit(2);
}
build(outArg, process.env).catch((err) => {
  console.error(`build.mjs: cannot build web UI: ${err.message}`);
  process.exit(1);
});
