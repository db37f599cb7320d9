#!/bin/sh
# Builds BUILD/snakepit_VERSION-1_ARCH.deb from `make install` with
# dpkg-deb (no debhelper: one binary package, written out in
# packaging/debian/). Depends comes from the libraries the binary links
# (dpkg-shlibdeps). Usage: scripts/mkdeb.sh (make deb calls it).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
version=$(sed -n 's/^#define SP_VERSION "\(.*\)"$/\1/p' src/core/config.h)-1
arch=$(dpkg --print-architecture)
work=$BUILD/deb
root=$work/debian/snakepit
rm -rf "$work"
mkdir -p "$root/DEBIAN"

# Debian 12 puts units in /lib/systemd/system (dh_installsystemd does).
make -s --no-print-directory install BUILD="$BUILD" DESTDIR="$PWD/$root" \
  PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
  "$root/usr/bin/snakepit"
gzip -9n "$root/usr/share/man/man1/snakepit.1"
install -D -m 0644 packaging/debian/copyright "$root/usr/share/doc/snakepit/copyright"

# dpkg-shlibdeps reads debian/control of a source package: a minimal one.
printf 'Source: snakepit\n\nPackage: snakepit\nArchitecture: any\n' >"$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O "-edebian/snakepit/usr/bin/snakepit" \
  2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "mkdeb.sh: dpkg-shlibdeps found no Depends" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$size|" \
  -e "s|@DEPENDS@|$depends|" packaging/debian/control.in >"$root/DEBIAN/control"
echo /etc/snakepit/snakepit.conf >"$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$s" "$root/DEBIAN/$s"
done
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' |
  LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

deb=$BUILD/snakepit_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
