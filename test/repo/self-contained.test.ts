/**
 * The repository stands on its own: no tracked file names a path outside it (the old ../shared
 * references, a developer's machine), every relative link in the Markdown resolves inside it, and
 * every docs/ page the code cites exists. CI also runs the whole suite from a lone clone (.ci/run).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import test from 'ava';
import { REPO_DIR } from '../helpers.ts';

const ROOT = resolve(REPO_DIR);

/** Tracked text files (git is the source of truth for "the repository"). */
function trackedTextFiles(): string[] {
  const out = execFileSync('git', ['-C', ROOT, 'ls-files', '-z'], { encoding: 'utf8' });
  return out
    .split('\0')
    .filter((f) => f !== '' && f !== 'package-lock.json' && existsSync(join(ROOT, f)))
    .filter((f) => !readFileSync(join(ROOT, f)).subarray(0, 8000).includes(0));
}

/** Names of places outside the repository the project once read, or a machine's own layout. */
const OUTSIDE = [
  { pattern: /\.\.\/shared\b/, why: 'the sibling ../shared directory' },
  { pattern: /\bPROTOCOLS\.md\b/, why: 'the external PROTOCOLS.md (use docs/)' },
  { pattern: /\bKERNEL-LAB\.md\b/, why: 'the external KERNEL-LAB.md (use docs/kernel-lab.md)' },
  { pattern: /(^|[\s'"`(=])\/work\//, why: "a developer machine's /work tree" },
];

// This file names the patterns it looks for; it is the one place allowed to.
const SELF = 'test/repo/self-contained.test.ts';

test('no tracked file refers to a path outside the repository', (t) => {
  const files = trackedTextFiles();
  t.true(files.length > 100, `git ls-files found ${files.length} files`);
  const hits: string[] = [];
  for (const file of files) {
    if (file === SELF) continue;
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const { pattern, why } of OUTSIDE) if (pattern.test(line)) hits.push(`${file}:${i + 1}: ${why}`);
    });
  }
  t.deepEqual(hits, []);
});

test('every relative Markdown link resolves to a file inside the repository', (t) => {
  const markdown = trackedTextFiles().filter((f) => f.endsWith('.md'));
  t.true(markdown.length > 5);
  const bad: string[] = [];
  let checked = 0;
  for (const file of markdown) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!.split('#')[0]!;
      if (target === '' || /^[a-z]+:/i.test(target)) continue; // anchor only, or a URL
      checked++;
      const path = isAbsolute(target) ? target : resolve(ROOT, dirname(file), target);
      const rel = relative(ROOT, path);
      if (rel.startsWith('..') || isAbsolute(rel)) bad.push(`${file}: ${target} leaves the repository`);
      else if (!existsSync(path)) bad.push(`${file}: ${target} does not exist`);
    }
  }
  t.true(checked > 10, `${checked} links checked`);
  t.deepEqual(bad, []);
});

test('every docs/ page cited in code and docs exists', (t) => {
  const cited = new Map<string, string>();
  for (const file of trackedTextFiles()) {
    for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/\bdocs\/([\w.-]+\.md)/g)) {
      cited.set(m[1]!, file);
    }
  }
  t.true(cited.size >= 5, `pages cited: ${[...cited.keys()].join(', ')}`);
  const missing = [...cited]
    .filter(([page]) => !existsSync(join(ROOT, 'docs', page)))
    .map(([p, f]) => `${f}: docs/${p}`);
  t.deepEqual(missing, []);
});

test('relative paths in code comments and strings stay inside the repository', (t) => {
  // A relative path of two or more ../ steps, resolved from the file that writes it, must not climb
  // above the root (that is how ../../../shared/... crept in). Shell scripts resolve paths against
  // their cwd, so those are judged from the script's own directory too: they all cd there first.
  const bad: string[] = [];
  for (const file of trackedTextFiles()) {
    if (file === SELF) continue;
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/(?<![\w./-])((?:\.\.\/){2,}[\w.-]+)/g)) {
      const rel = relative(ROOT, resolve(ROOT, dirname(file), m[1]!));
      if (rel.startsWith('..')) bad.push(`${file}: ${m[1]}`);
    }
  }
  t.deepEqual(bad, []);
});
