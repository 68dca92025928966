import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'cli/greoip': 'src/cli/greoip.ts',
    'cli/eoip': 'src/cli/eoip.ts',
    'cli/gre-keepalive': 'src/cli/gre-keepalive.ts',
  },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  splitting: true,
  shims: false,
});
