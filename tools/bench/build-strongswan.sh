#!/bin/sh
# Build strongSwan's charon with its load-tester plugin, for the benchmarks
# only (tools/bench/loadtest.py, isakmpd-bench --vs-strongswan).
#
# Debian ships charon without the load-tester plugin, whose fake kernel
# interface is what lets charon set up IPsec SAs as fast as it can negotiate
# them. This script fetches Debian's source package of the installed
# strongSwan version (the Debian patches applied), configures a small charon
# (openssl, gmp, load-tester, socket-default, no starter/stroke/updown) and
# installs it under a cache directory outside the source tree:
#
#   $ISAKMPD_BENCH_CACHE (default /var/cache/isakmpd-bench)/strongswan/prefix
#
# Nothing of strongSwan is kept in this repository. The install prefix is
# compiled into the binaries, so moving the cache means rebuilding.
# Needs (apt): dpkg-dev gcc make pkg-config libssl-dev libgmp-dev, and the
# Debian archive reachable by apt. 2-5 minutes on 2 cores.
#
#   tools/bench/build-strongswan.sh          # builds once, then says where it is
#   FORCE=1 tools/bench/build-strongswan.sh  # rebuilds
set -eu

CACHE=${ISAKMPD_BENCH_CACHE:-/var/cache/isakmpd-bench}/strongswan
PREFIX=$CACHE/prefix
CHARON=$PREFIX/libexec/ipsec/charon
PLUGIN=$PREFIX/lib/ipsec/plugins/libstrongswan-load-tester.so

if [ -x "$CHARON" ] && [ -f "$PLUGIN" ] && [ -z "${FORCE:-}" ]; then
    echo "$CHARON"
    exit 0
fi

for tool in dpkg-source gcc make pkg-config; do
    command -v "$tool" >/dev/null || {
        echo "build-strongswan: $tool missing (apt-get install dpkg-dev gcc make pkg-config libssl-dev libgmp-dev)" >&2
        exit 1
    }
done

# The version of the installed libstrongswan if any, else the candidate.
VERSION=$(dpkg-query -W -f='${Version}' libstrongswan 2>/dev/null || true)
mkdir -p "$CACHE/apt/lists/partial" "$CACHE/src"

# A private deb-src list and apt state: the system's apt setup is untouched.
# The suites of the system's own deb entries are reused.
SUITES=$(grep -hE '^(Suites|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | grep -oE 'bookworm[a-z-]*' | sort -u | tr '\n' ' ')
[ -n "$SUITES" ] || SUITES="bookworm bookworm-updates"
: > "$CACHE/apt/sources.list"
for s in $SUITES; do
    case $s in
        *-security) echo "deb-src http://deb.debian.org/debian-security $s main" ;;
        *) echo "deb-src http://deb.debian.org/debian $s main" ;;
    esac
done >> "$CACHE/apt/sources.list"
APT="-o Dir::Etc::sourcelist=$CACHE/apt/sources.list -o Dir::Etc::sourceparts=-
     -o Dir::State::Lists=$CACHE/apt/lists -o APT::Get::Only-Source=true"

cd "$CACHE/src"
rm -rf strongswan-*/
# shellcheck disable=SC2086
apt-get $APT -q update >"$CACHE/apt.log" 2>&1 || true
# The exact version when the archive still has it, else the newest it has;
# without the Debian patches (a mirror that lacks the .dsc) the upstream
# tarball of the same upstream version is used as it is.
for want in "strongswan=$VERSION" strongswan; do
    [ "$want" = "strongswan=" ] && continue
    # shellcheck disable=SC2086
    apt-get $APT -q source --download-only "$want" >>"$CACHE/apt.log" 2>&1 && break
done
DSC=$(ls -t strongswan_*.dsc 2>/dev/null | head -n 1 || true)
ORIG=$(ls -t strongswan_*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n 1 || true)
if [ -n "$DSC" ]; then
    dpkg-source -x "$DSC" >>"$CACHE/apt.log" 2>&1
elif [ -n "$ORIG" ]; then
    echo "build-strongswan: no Debian source package; using $ORIG as it is" >&2
    tar xf "$ORIG"
fi
SRC=$(find . -maxdepth 1 -type d -name 'strongswan-*' | head -n 1)
[ -n "$SRC" ] || { echo "build-strongswan: no source (see $CACHE/apt.log)" >&2; exit 1; }
cd "$SRC"

echo "build-strongswan: building $SRC into $PREFIX (logs in $CACHE)" >&2
./configure --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" --with-piddir="$PREFIX/run" \
    --enable-openssl --enable-gmp --enable-load-tester \
    --disable-stroke --disable-scepclient --disable-starter --disable-updown \
    --disable-xauth-generic --disable-resolve --disable-attr --disable-pki \
    --disable-charon-systemd --disable-swanctl --disable-vici \
    >"$CACHE/configure.log" 2>&1
make -j"$(nproc)" >"$CACHE/make.log" 2>&1
make install >"$CACHE/install.log" 2>&1
cd .. && rm -rf "$SRC"
mkdir -p "$PREFIX/run"
[ -f "$PLUGIN" ] || { echo "build-strongswan: no load-tester plugin built" >&2; exit 1; }
echo "$CHARON"
