/**
 * What the facts of detect.ts mean for a user: each finding has a severity and the commands that fix it.
 * The old out-of-tree project is the main thing in the way: it shipped modules also named eoip
 * registering the same link kinds, and a patched gre.ko that replaced Debian's.
 */

import { join } from 'node:path';
import type { AliasClaim, KindStatus, KmodFacts, ModuleFile } from './detect.ts';
import { KINDS } from './kinds.ts';
import { GREOIP_NOTE, type LoadedModule } from './system.ts';

export type Severity = 'ok' | 'info' | 'warning' | 'error';
/** warning and error need action (exit status 1); ok and info do not. */
export const SEVERITIES: Severity[] = ['ok', 'info', 'warning', 'error'];

export interface Finding {
  /** Stable identifier, e.g. eoip-foreign-loaded (see `greoip kmod status --help`). */
  id: string;
  severity: Severity;
  message: string;
  /** What to do, one command or step per entry; empty when nothing is needed. */
  advice: string[];
}

export function findings(s: KmodFacts): Finding[] {
  const checkLoaded = s.release === s.running;
  if (checkLoaded && !s.moduleSupport) return [noModuleSupport(s)];
  return [
    ...KINDS.flatMap((k) => kindFindings(s.modules[k], s, checkLoaded)),
    ...greFindings(s),
    headersFinding(s),
    ...dkmsFindings(s),
    secureBootFinding(s),
  ];
}

function noModuleSupport(s: KmodFacts): Finding {
  return {
    id: 'modules-unsupported',
    severity: 'error',
    message: `the running kernel ${s.release} cannot load modules (no /proc/modules: built without CONFIG_MODULES)`,
    advice: [
      'use the userland backend, which needs no module: eoip add ... (backend userland is the default)',
      "or boot a kernel with module support, such as Debian's linux-image-amd64",
    ],
  };
}

const kernelArg = (s: KmodFacts) => (s.release === s.running ? '' : ` --kernel ${s.release}`);

function kindFindings(k: KindStatus, s: KmodFacts, checkLoaded: boolean): Finding[] {
  const out: Finding[] = [];
  if (k.file !== null && k.file.greoip === null) out.push(foreignFile(k, k.file, s));
  for (const claim of k.aliasClaims)
    if (!claim.ours && claim.module !== k.kind) out.push(aliasClaimed(k, claim, s));
  if (checkLoaded && k.loaded !== null) out.push(loadedFinding(k, k.loaded, s));
  else if (k.file?.greoip) out.push(installedFinding(k, k.file, checkLoaded));
  else if (k.file === null) out.push(missing(k, s));
  return out;
}

/** Where a foreign module file came from and how to get rid of it. */
function removeFileAdvice(path: string, s: KmodFacts): string[] {
  return [
    `remove ${path}, or the package that installed it (dpkg -S ${path}; for DKMS: dkms status, then dkms remove MODULE/VERSION --all)`,
    `depmod -a ${s.release}`,
  ];
}

function foreignFile(k: KindStatus, file: ModuleFile, s: KmodFacts): Finding {
  const why = file.readable ? `it has no greoip mark (modinfo -F greoip ${file.path})` : 'it cannot be read';
  return {
    id: `${k.kind}-foreign-file`,
    severity: 'error',
    message: `modprobe ${k.kind} would load ${file.path}, which is not greoip's module: ${why}`,
    advice: [...removeFileAdvice(file.path, s), `greoip kmod install${kernelArg(s)}`],
  };
}

function aliasClaimed(k: KindStatus, claim: AliasClaim, s: KmodFacts): Finding {
  const where = claim.path ?? '(no file in modules.dep)';
  return {
    id: `${k.kind}-alias-claimed`,
    severity: 'error',
    message:
      `module ${claim.module} (${where}) declares alias rtnl-link-${k.kind}: "ip link add ... type ${k.kind}" ` +
      `may load it, and it registers link kind ${k.kind} in place of greoip's`,
    advice: claim.path ? removeFileAdvice(claim.path, s) : [`depmod -a ${s.release}`],
  };
}

function loadedFinding(k: KindStatus, loaded: LoadedModule, s: KmodFacts): Finding {
  if (loaded.greoip === null) return foreignLoaded(k, loaded, s);
  const from = k.file?.greoip ? `, installed at ${k.file.path}` : '';
  if (k.file?.greoip && k.file.greoip !== loaded.greoip) {
    return {
      id: `${k.kind}-reload-pending`,
      severity: 'info',
      message: `greoip's ${k.kind} ${loaded.greoip} is loaded; ${k.file.greoip} is installed (${k.file.path})`,
      advice: [`modprobe -r ${k.kind} && modprobe ${k.kind} to use it (this deletes the ${k.kind} devices)`],
    };
  }
  return {
    id: `${k.kind}-loaded`,
    severity: 'ok',
    message: `greoip's ${k.kind} ${loaded.greoip} is loaded (taint ${loaded.taint || 'none'})${from}`,
    advice: [],
  };
}

function foreignLoaded(k: KindStatus, loaded: LoadedModule, s: KmodFacts): Finding {
  const facts = [
    `no ${GREOIP_NOTE} in /sys/module/${k.kind}/notes`,
    ...(loaded.version ? [`version ${loaded.version}`] : []),
    `taint ${loaded.taint || 'none'}`,
  ];
  const file = k.file !== null && k.file.greoip === null ? removeFileAdvice(k.file.path, s) : [];
  return {
    id: `${k.kind}-foreign-loaded`,
    severity: 'error',
    message:
      `the loaded ${k.kind} module is not greoip's (${facts.join(', ')}): it owns link kind ${k.kind}, ` +
      `so greoip's ${k.kind}.ko cannot load (the old out-of-tree eoip project's module has this name)`,
    advice: [
      `rmmod ${[...loaded.holders, k.kind].join(' ')} (this deletes its ${k.kind} devices)`,
      ...file,
      `greoip kmod install${kernelArg(s)}`,
    ],
  };
}

function installedFinding(k: KindStatus, file: ModuleFile, checkLoaded: boolean): Finding {
  return {
    id: `${k.kind}-installed`,
    severity: checkLoaded ? 'info' : 'ok',
    message:
      `greoip's ${k.kind} ${file.greoip} is installed (${file.path})` +
      (checkLoaded ? ` but not loaded; "ip link add ... type ${k.kind}" loads it` : ''),
    advice: checkLoaded ? [`modprobe ${k.kind}`] : [],
  };
}

function missing(k: KindStatus, s: KmodFacts): Finding {
  return {
    id: `${k.kind}-missing`,
    severity: 'warning',
    message: `${k.kind} is not ${s.release === s.running ? 'loaded nor ' : ''}installed for kernel ${s.release}`,
    advice: [
      `greoip kmod install${kernelArg(s)}`,
      `or greoip kmod install --dkms${kernelArg(s)} (DKMS rebuilds it for every new kernel)`,
    ],
  };
}

function greFindings(s: KmodFacts): Finding[] {
  const out: Finding[] = [];
  const restore = [
    `apt-get install --reinstall linux-image-${s.release} (restores Debian's kernel/net/ipv4/gre.ko)`,
  ];
  const file = s.gre.inTree === false ? s.gre.file : null;
  if (s.gre.loaded?.taint.includes('O')) {
    out.push({
      id: 'gre-out-of-tree-loaded',
      severity: 'warning',
      message:
        `the loaded gre module is out of tree (taint ${s.gre.loaded.taint}): a replacement of the kernel's GRE ` +
        "demultiplexer, like the old eoip project's patched gre.ko; greoip needs none, and Debian's gre, " +
        'ip_gre, ip6_gre and pptp work beside it',
      advice: [
        `rmmod ${[...s.gre.loaded.holders, 'gre'].join(' ')}`,
        ...(file ? [`rm ${file}`] : []),
        ...restore,
        `depmod -a ${s.release}`,
        'modprobe gre',
      ],
    });
  }
  if (file !== null) {
    out.push({
      id: 'gre-replaced',
      severity: 'warning',
      message: `modprobe gre would load ${file}, outside ${join(s.dir, 'kernel')}/: a replaced gre.ko`,
      advice: [`rm ${file}`, ...restore, `depmod -a ${s.release}`],
    });
  }
  if (out.length === 0 && (s.gre.inTree || s.gre.builtin)) {
    const where = s.gre.builtin ? 'built in' : s.gre.file;
    out.push({ id: 'gre-stock', severity: 'ok', message: `gre is the kernel's own (${where})`, advice: [] });
  }
  return out;
}

function headersFinding(s: KmodFacts): Finding {
  const h = s.headers;
  if (h.present)
    return {
      id: 'headers',
      severity: 'ok',
      message: `kernel headers for ${s.release}: ${h.path}`,
      advice: [],
    };
  const installed = KINDS.every((k) => s.modules[k].file?.greoip);
  return {
    id: 'headers-missing',
    severity: installed ? 'info' : 'warning',
    message:
      `no kernel headers for ${s.release} (${h.path}): needed to build the modules` +
      (installed ? ' again (not for the installed ones)' : ''),
    advice: [`apt-get install ${h.packages.join(' ')}`],
  };
}

/**
 * With greoip's modules registered in DKMS, every installed kernel should have them installed: a kernel
 * DKMS could not build for (no headers) or has not built for yet would come up without its tunnels.
 */
function dkmsFindings(s: KmodFacts): Finding[] {
  const registered = s.dkms ?? [];
  if (registered.length === 0) return [];
  const version = registered
    .map((e) => e.version)
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))[0]!;
  const out: Finding[] = [];
  for (const k of s.kernels) {
    if (k.dkms?.startsWith('installed')) {
      out.push({
        id: 'dkms-installed',
        severity: 'ok',
        message: `DKMS: greoip-eoip installed for ${k.release}`,
        advice: [],
      });
    } else if (!k.headers) {
      out.push({
        id: 'dkms-no-headers',
        severity: 'warning',
        message: `DKMS cannot build greoip's modules for kernel ${k.release}: no headers (${join(s.dir, '..', k.release, 'build')})`,
        advice: [
          `apt-get install linux-headers-${k.release}`,
          `greoip kmod install --dkms --kernel ${k.release}`,
        ],
      });
    } else {
      out.push({
        id: 'dkms-not-installed',
        severity: 'warning',
        message: `DKMS has greoip-eoip ${version} but not installed for kernel ${k.release} (${k.dkms ?? 'no entry'})`,
        advice: [`greoip kmod install --dkms --kernel ${k.release}`],
      });
    }
  }
  return out;
}

function secureBootFinding(s: KmodFacts): Finding {
  const sb = s.secureBoot;
  const required = sb.state === 'on' || sb.sigEnforce === true;
  const why = sb.state === 'on' ? `Secure Boot is on (${sb.source})` : 'module.sig_enforce is set';
  if (required) return signaturesRequired(s, why);
  if (sb.state === 'unknown') {
    return {
      id: 'secure-boot-unknown',
      severity: 'info',
      message: `cannot tell whether Secure Boot is on (${sb.source}); if it is, modules must be signed`,
      advice: ['apt-get install mokutil; mokutil --sb-state'],
    };
  }
  return {
    id: 'secure-boot-off',
    severity: 'ok',
    message: `Secure Boot is off (${sb.source}): unsigned modules load (the kernel is tainted E)`,
    advice: [],
  };
}

function signaturesRequired(s: KmodFacts, why: string): Finding {
  const files = KINDS.map((k) => s.modules[k].file).filter((f) => f?.greoip);
  const unsigned = files.filter((f) => !f!.signed).map((f) => f!.path);
  const sign = [
    'sign them with a key enrolled as a Machine Owner Key: sign-file sha256 MOK.priv MOK.der FILE ' +
      '(kmod/README.md, "Secure Boot": creating and enrolling the key with mokutil --import)',
    'or install with greoip kmod install --dkms: DKMS signs with /var/lib/dkms/mok.pub; enroll it once ' +
      'with mokutil --import /var/lib/dkms/mok.pub and a reboot',
  ];
  if (unsigned.length > 0) {
    return {
      id: 'secure-boot-unsigned',
      severity: 'error',
      message: `${why}: the kernel refuses unsigned modules, and ${unsigned.join(', ')} ${unsigned.length > 1 ? 'are' : 'is'} unsigned`,
      advice: sign,
    };
  }
  return {
    id: 'secure-boot-on',
    severity: 'info',
    message: `${why}: only modules signed with an enrolled key load`,
    advice: files.length > 0 ? ['check the signing key is enrolled: mokutil --test-key KEY.der'] : sign,
  };
}
