/**
 * Fault: the state file of a stopped daemon truncated, not JSON, or of the
 * wrong types (issue 12, defect 8). `eoip list` without a daemon says what
 * the file holds or that it is unusable, naming it; the next daemon starts
 * anyway, keeps the bad file for the operator and restores what is sound.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { requireRoot } from '../helpers.ts';
import {
  addNetns,
  daemonLog,
  eoipIn,
  files,
  linkOf,
  runtimeDir,
  runtimeRoot,
  stopDaemonIn,
} from './helpers.ts';

/** A namespace whose stopped daemon left e1 and e2, and the path of its state file. */
async function stopped(
  t: import('ava').ExecutionContext,
): Promise<{ ns: string; root: string; env: NodeJS.ProcessEnv; state: string }> {
  const { root, env } = runtimeRoot(t);
  const ns = addNetns(t, 'corrupt');
  for (const [name, tid] of [
    ['e1', '1'],
    ['e2', '2'],
  ] as const) {
    t.is(eoipIn(ns, env, ['add', 'name', name, 'tid', tid, 'remote', '192.0.2.9']).status, 0);
  }
  await stopDaemonIn(root, ns);
  return { ns, root, env, state: join(runtimeDir(root, ns), 'state.json') };
}

for (const [what, corrupt, reason] of [
  ['truncated', (text: string) => text.slice(0, Math.floor(text.length / 2)), /not JSON/],
  ['not JSON', () => '{"version": 2, tunnels: [', /not JSON/],
  ['of the wrong shape', () => '{"version": 2, "netns": null, "tunnels": {}}', /netns: missing/],
] as const) {
  test.serial(`a state file ${what}: named by eoip list, set aside by the next daemon`, async (t) => {
    requireRoot();
    const { ns, root, env, state } = await stopped(t);
    writeFileSync(state, corrupt(readFileSync(state, 'utf8')));
    const list = eoipIn(ns, env, ['list']);
    t.is(list.status, 1);
    t.true(list.stderr.includes(`no daemon runs, and ${state} is not a usable state file`), list.stderr);
    t.regex(list.stderr, reason);

    const add = eoipIn(ns, env, ['add', 'name', 'e3', 'tid', '3', 'remote', '192.0.2.9']);
    t.is(add.status, 0, add.stderr);
    t.regex(
      daemonLog(root, ns),
      /"msg":"state file unusable: starting without tunnels, its interfaces left alone".*"moved_to":"[^"]*state\.json\.corrupt-/,
    );
    t.true(files(runtimeDir(root, ns)).some((f) => f.startsWith('state.json.corrupt-')));
    const listed = JSON.parse(eoipIn(ns, env, ['list', '--json']).stdout) as { config: { name: string } }[];
    t.deepEqual(
      listed.map((s) => s.config.name),
      ['e3'],
    );
    // What the lost record listed stays, but is not adopted without proof.
    t.not(linkOf(ns, 'e1'), undefined);
    const reuse = eoipIn(ns, env, ['add', 'name', 'e1', 'tid', '1', 'remote', '192.0.2.9']);
    t.is(reuse.status, 1);
    t.regex(reuse.stderr, /name: an interface named e1 exists already and is not a greoip tunnel/);
  });
}

test.serial(
  'entries of the wrong types are named and left out; the sound ones are listed and restored',
  async (t) => {
    requireRoot();
    const { ns, root, env, state } = await stopped(t);
    const record = JSON.parse(readFileSync(state, 'utf8')) as {
      tunnels: { config: Record<string, unknown> }[];
    };
    record.tunnels[0]!.config.tunnelId = 'one';
    writeFileSync(state, JSON.stringify(record));
    const list = eoipIn(ns, env, ['list']);
    t.is(list.status, 1, 'tunnels recorded, no daemon: not a success');
    t.regex(list.stdout, /e2\s+eoip\s+2\s/);
    t.true(
      list.stderr.includes(`${state}: tunnels[0].config: tunnel-id: "one" is not an integer`),
      list.stderr,
    );
    t.regex(
      list.stderr,
      /no greoip daemon runs in this network namespace; .* lists 1 tunnel\(s\), not running/,
    );

    const add = eoipIn(ns, env, ['add', 'name', 'e3', 'tid', '3', 'remote', '192.0.2.9']);
    t.is(add.status, 0, add.stderr);
    t.regex(
      daemonLog(root, ns),
      /"msg":"state entry left out".*"reason":"tunnels\[0\]\.config: tunnel-id: \\"one\\" is not an integer".*"kept_as":"[^"]*corrupt-/,
    );
    const listed = JSON.parse(eoipIn(ns, env, ['list', '--json']).stdout) as { config: { name: string } }[];
    t.deepEqual(
      listed.map((s) => s.config.name),
      ['e2', 'e3'],
    );
  },
);

test.serial('eoip list without a daemon shows the tunnels its state file records, and fails', async (t) => {
  requireRoot();
  const { ns, env, state } = await stopped(t);
  const list = eoipIn(ns, env, ['list', '--json']);
  t.is(list.status, 1);
  t.deepEqual(
    (JSON.parse(list.stdout) as { config: { name: string }; state: string }[]).map((s) => [
      s.config.name,
      s.state,
    ]),
    [
      ['e1', 'down'],
      ['e2', 'down'],
    ],
  );
  t.true(list.stderr.includes(`${state} lists 2 tunnel(s), not running`), list.stderr);
});
