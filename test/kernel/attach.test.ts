/**
 * `gre-keepalive attach|status|detach` on a real Debian 6.1 GRE stack: the
 * CLI (the host's node and dist/ over 9p) attaches the right program to gre
 * and ip6gre devices, writes the tunnel's addresses into ka_config, shows the
 * attachment in status, detaches, and refuses what gre devices cannot do.
 */
import { existsSync, readFileSync } from 'node:fs';
import test from 'ava';
import { REPO_DIR } from '../helpers.ts';
import { hostPath, runInGuest } from './lab.ts';

const GUEST = new URL('./guest/', import.meta.url);
const CLI = `${REPO_DIR}dist/cli/gre-keepalive.js`;
const CHECKS = [
  'attach-gre',
  'xdp-present',
  'config-local-remote',
  'status',
  'detach',
  'attach-plain',
  'tc-present',
  'attach-gre6',
  'detach-plain',
  'detach-gre6',
  'native-refused',
];

test('gre-keepalive attach/status/detach on gre and ip6gre devices', async (t) => {
  if (!existsSync(CLI)) t.fail(`${CLI} missing: run npm run build`);
  const r = await runInGuest({
    script: `NODE=${hostPath(process.execPath)}\nCLI=${hostPath(CLI)}\n${readFileSync(new URL('attach.sh', GUEST), 'utf8')}`,
    shareHost: true,
    timeoutMs: 150_000,
    files: { '/lab/topology.sh': readFileSync(new URL('topology.sh', GUEST), 'utf8') },
  });
  for (const name of CHECKS) {
    const m = r.results.find((x) => x.name === name);
    t.truthy(m, `marker ${name}; console:\n${r.output.split('\n').slice(-30).join('\n')}`);
    t.true(m?.ok, `${name}: ${m?.detail}`);
  }
  t.is(r.results.filter((x) => !x.ok).length, 0);
});
