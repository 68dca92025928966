/**
 * The map of src/ stays true: every folder's index.ts (or, without one, its first file) opens with the
 * folder's two-line header, "src/<folder>/: what lives there" and "May import: ...", and no file of the
 * folder imports another src/ folder the header does not allow.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { REPO_DIR } from '../helpers.ts';

const SRC = join(REPO_DIR, 'src');
const folders = readdirSync(SRC).filter((f) => statSync(join(SRC, f)).isDirectory());

function headerFile(folder: string): string {
  const files = readdirSync(join(SRC, folder))
    .filter((f) => f.endsWith('.ts'))
    .sort();
  return files.includes('index.ts') ? 'index.ts' : files[0]!;
}

/** Every .ts file of a folder, its subfolders included. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const path = join(dir, f);
    if (statSync(path).isDirectory()) return sources(path);
    return f.endsWith('.ts') ? [path] : [];
  });
}

/** The src/ folders a file imports (relative imports that leave its folder), with `type`-only ones marked. */
function importedFolders(file: string, folder: string): { folder: string; typeOnly: boolean }[] {
  const text = readFileSync(file, 'utf8');
  const out: { folder: string; typeOnly: boolean }[] = [];
  for (const m of text.matchAll(/^(?:import|export)(\s+type)?[^'";]*?from\s+'((?:\.\.\/)+)([a-z-]+)\//gm)) {
    const depth = m[2]!.length / 3;
    const fileDepth = file.slice(SRC.length + 1).split('/').length - 1;
    if (depth !== fileDepth || m[3] === folder) continue;
    out.push({ folder: m[3]!, typeOnly: m[1] !== undefined });
  }
  return out;
}

test('every src/ folder opens with a header naming what lives there and what it may import', (t) => {
  t.true(folders.length >= 15, `found ${folders.length} folders`);
  for (const folder of folders) {
    const file = headerFile(folder);
    const head = readFileSync(join(SRC, folder, file), 'utf8')
      .split('\n')
      .slice(0, 4)
      .join('\n');
    t.regex(
      head,
      new RegExp(`^/\\*\\*\\n \\* src/${folder}/: .+\\n \\* May import: .+\\n \\*/`),
      `src/${folder}/${file}`,
    );
  }
});

test('no src/ folder imports a folder its header does not allow', (t) => {
  const offences: string[] = [];
  for (const folder of folders) {
    const head = readFileSync(join(SRC, folder, headerFile(folder)), 'utf8')
      .split('\n')
      .slice(0, 4)
      .join('\n');
    const rule = /May import: (.+)\.\n/.exec(head)?.[1] ?? '';
    if (rule.startsWith('any folder')) continue;
    // "the types of src/a, src/b": those only as `import type`.
    const [plain, types] = rule.split('the types of ');
    const allowed = new Set([...(plain ?? '').matchAll(/src\/([a-z-]+)/g)].map((m) => m[1]!));
    const typesOnly = new Set([...(types ?? '').matchAll(/src\/([a-z-]+)/g)].map((m) => m[1]!));
    for (const file of sources(join(SRC, folder))) {
      for (const dep of importedFolders(file, folder)) {
        if (allowed.has(dep.folder) || (dep.typeOnly && typesOnly.has(dep.folder))) continue;
        offences.push(
          `${file.slice(SRC.length + 1)} imports src/${dep.folder}${dep.typeOnly ? ' (types)' : ''}`,
        );
      }
    }
  }
  t.deepEqual(offences, []);
});
