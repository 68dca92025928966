// Build-time check run by binding.gyp: prints the linker flags for libbpf, or
// fails the build with a message naming the package to install.
const { existsSync } = require('node:fs');

const headers = ['/usr/include/bpf/libbpf.h', '/usr/local/include/bpf/libbpf.h'];
if (!headers.some((h) => existsSync(h))) {
  process.stderr.write(
    '\ngreoip: building the native addon needs libbpf (bpf/libbpf.h was not found).\n' +
      '  Debian/Ubuntu: apt-get install libbpf-dev   (Debian 12 ships libbpf 1.1)\n' +
      '  Fedora/RHEL:   dnf install libbpf-devel\n' +
      'then run the install again.\n\n',
  );
  process.exit(1);
}
process.stdout.write('-lbpf');
