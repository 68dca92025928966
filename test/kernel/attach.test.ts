/**
 * `gre-keepalive attach|status|detach` on real Debian GRE stacks (each lab kernel): the
 * CLI (the host's node and dist/ over 9p) attaches the right program to gre
 * and ip6gre devices, writes the tunnel's addresses into ka_config, shows the
 * attachment in status, detaches, and refuses what gre devices cannot do.
 */
import { existsSync } from 'node:fs';
import { REPO_DIR } from '../helpers.ts';
import { hostPath, runInGuest } from './lab.ts';
import { guestScript, kernelTest } from './suite.ts';

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

kernelTest('gre-keepalive attach/status/detach on gre and ip6gre devices', async (t, kernel) => {
  if (!existsSync(CLI)) t.fail(`${CLI} missing: run npm run build`);
  const r = await runInGuest({
    kernel,
    script: `NODE=${hostPath(process.execPath)}\nCLI=${hostPath(CLI)}\n${guestScript('attach.sh')}`,
    shareHost: true,
    timeoutMs: 150_000,
    files: { '/lab/topology.sh': guestScript('topology.sh') },
  });
  for (const name of CHECKS) {
    const m = r.results.find((x) => x.name === name);
    t.truthy(m, `marker ${name}; console:\n${r.output.split('\n').slice(-30).join('\n')}`);
    t.true(m?.ok, `${name}: ${m?.detail}`);
  }
  t.is(r.results.filter((x) => !x.ok).length, 0);
});
