/** `greoip demo`, the README's main job, runs end to end and leaves nothing behind. */
import { execFileSync, spawnSync } from 'node:child_process';
import test from 'ava';
import { requireRoot } from '../helpers.ts';
import { GREOIP } from './harness.ts';

test.serial('greoip demo pings through EoIP and EoIPv6, shows state, and cleans up', (t) => {
  requireRoot();
  const r = spawnSync(process.execPath, [GREOIP, 'demo', '--duration', '4'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  t.is(r.status, 0, r.stderr);
  t.is((r.stdout.match(/ 0% packet loss/g) ?? []).length, 2, 'both pings without loss');
  t.regex(r.stdout, /eoip-demo\s+eoip\s+100\s+192\.0\.2\.1\s+192\.0\.2\.2\s+1500\s+2,3\s+up/);
  t.regex(r.stdout, /eoip6-demo\s+eoipv6\s+1234\s+2001:db8:d0::1\s+2001:db8:d0::2\s+1500\s+2,3\s+up/);
  const namespaces = execFileSync('/usr/sbin/ip', ['netns', 'list'], { encoding: 'utf8' });
  // The names carry the demo's pid (other demos may run meanwhile, such as the npm package test's).
  t.notRegex(namespaces, new RegExp(`greoip-demo-[ab]-${r.pid.toString(36)}\\b`), 'namespaces removed');
});

test.serial('greoip demo refuses a bad --duration naming the option', (t) => {
  const r = spawnSync(process.execPath, [GREOIP, 'demo', '--duration', 'soon'], { encoding: 'utf8' });
  t.is(r.status, 1);
  t.regex(r.stderr, /--duration: soon is not a number of seconds/);
});
