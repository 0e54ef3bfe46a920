#!/bin/sh
# install-deps: the Debian packages msgspool builds, tests and demos with.
# Run as root on a fresh Debian 12 machine; does nothing when all are there.
set -e
PKGS="build-essential autoconf automake libtool pkg-config clang libclang-rt-14-dev
libetpan-dev libidn2-dev libyaml-dev libxml2-dev libgnutls28-dev check libsasl2-modules
python3 python3-aiosmtpd python3-prometheus-client postfix valgrind openssl
libmicrohttpd-dev libcrypt-dev apache2-utils curl chromium chromium-driver python3-selenium
python3-pyfuse3 fuse3 e2fsprogs xfsprogs btrfs-progs util-linux kmod
libemail-mime-perl strace iproute2 systemd"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# postfix asks questions at install time; a local-only answer keeps it quiet.
echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
apt-get install -y -qq --no-install-recommends $missing >/dev/null
