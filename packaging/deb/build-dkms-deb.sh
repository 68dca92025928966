#!/usr/bin/env bash
# Builds greoip-dkms_VERSION_all.deb: the kernel modules' sources (kmod/) under
# /usr/src/greoip-eoip-VERSION/ for DKMS, made with Debian's own tools (debhelper, dh-dkms,
# dpkg-buildpackage), like other out-of-tree modules ship. Installing it builds eoip.ko and
# eoipv6.ko for the running and the newest kernel that has headers; new kernels get them rebuilt.
#
#   packaging/deb/build-dkms-deb.sh [OUTDIR]      (default build/deb/; prints the .deb's path)
#
# Needs: apt-get install dpkg-dev debhelper dh-dkms (scripts/setup.sh installs them).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "${1:-$root/build/deb}" && cd "${1:-$root/build/deb}" && pwd)

for tool in dpkg-buildpackage dh dh_dkms; do
  command -v "$tool" >/dev/null || {
    echo "build-dkms-deb: $tool not found: apt-get install dpkg-dev debhelper dh-dkms" >&2
    exit 1
  }
done

conf="$root/kmod/dkms.conf"
name=$(sed -n 's/^PACKAGE_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$conf")
version=$(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$conf")
[ -n "$name" ] && [ -n "$version" ] || { echo "build-dkms-deb: no PACKAGE_NAME/VERSION in $conf" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/greoip-dkms-$version"
mkdir -p "$src/kmod" "$src/debian/source"

# What a module build needs, as `greoip kmod install --dkms` copies it (src/module-manager/source.ts):
# the top-level C files and headers, Kbuild, Makefile, dkms.conf and uapi/; no build outputs, tools or tests.
(cd "$root/kmod" && find . -maxdepth 1 -type f \( -name '*.[ch]' -o -name Kbuild -o -name Makefile -o -name dkms.conf \) \
  ! -name '*.mod.c' -exec cp {} "$src/kmod/" \;)
cp -r "$root/kmod/uapi" "$src/kmod/uapi"

maintainer="${DEBFULLNAME:-greoip developers} <${DEBEMAIL:-greoip@localhost}>"
date=$(date -R ${SOURCE_DATE_EPOCH:+-d @$SOURCE_DATE_EPOCH})

cat >"$src/debian/control" <<CONTROL
Source: greoip-dkms
Section: kernel
Priority: optional
Maintainer: $maintainer
Build-Depends: debhelper-compat (= 13), dh-dkms
Standards-Version: 4.6.2
Rules-Requires-Root: no

Package: greoip-dkms
Architecture: all
Depends: \${misc:Depends}
Recommends: linux-headers-amd64 | linux-headers-generic
Description: MikroTik EoIP and EoIPv6 kernel modules for greoip (DKMS)
 eoip.ko and eoipv6.ko: rtnetlink link kinds eoip and eoipv6 that carry
 Ethernet frames to a RouterOS (or another Linux) peer over MikroTik EoIP
 (IP protocol 47) and EoIPv6 (IPv6 next header 97), with RouterOS keepalive
 semantics. They sit beside the stock gre, ip_gre, ip6_gre and pptp modules
 instead of replacing them. greoip's kernel backend
 (eoip add ... backend kernel) drives them.
 .
 This package holds the sources; DKMS builds them for each installed kernel
 that has its headers.
CONTROL

cat >"$src/debian/changelog" <<CHANGELOG
greoip-dkms ($version) unstable; urgency=medium

  * greoip $version: eoip.ko and eoipv6.ko as DKMS source.

 -- $maintainer  $date
CHANGELOG

cat >"$src/debian/rules" <<'RULES'
#!/usr/bin/make -f
# Nothing to compile here: DKMS builds the modules on the target machine.
%:
	dh $@ --with dkms

override_dh_auto_build override_dh_auto_test override_dh_auto_clean:

override_dh_auto_install:
	install -d debian/greoip-dkms/usr/src/$(DKMS_DIR)
	cp -r kmod/. debian/greoip-dkms/usr/src/$(DKMS_DIR)/
	rm -f debian/greoip-dkms/usr/src/$(DKMS_DIR)/dkms.conf

override_dh_dkms:
	dh_dkms -V $(DKMS_VERSION)
RULES
sed -i "1a DKMS_DIR := $name-$version\nDKMS_VERSION := $version" "$src/debian/rules"
chmod +x "$src/debian/rules"
cp "$conf" "$src/debian/greoip-dkms.dkms"
echo "3.0 (native)" >"$src/debian/source/format"
cat >"$src/debian/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: greoip

Files: *
Copyright: greoip developers
License: GPL-2.0-only
 On Debian systems the full text of the GPL version 2 is in
 /usr/share/common-licenses/GPL-2.
COPYRIGHT

(cd "$src" && dpkg-buildpackage --build=binary --no-sign >"$work/build.log" 2>&1) || {
  cat "$work/build.log" >&2
  echo "build-dkms-deb: dpkg-buildpackage failed" >&2
  exit 1
}
deb="greoip-dkms_${version}_all.deb"
mv "$work/$deb" "$out/$deb"
echo "$out/$deb"
