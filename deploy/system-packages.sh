#!/usr/bin/env bash
# The machine packages Jingkang needs: a JDK 17 and Maven (Kafka's and Keycloak's jars come from Maven
# Central), PostgreSQL 15 (tests and the PostgreSQL store), Python 3.11 with venv, Chromium and a CJK
# font (the console's browser tests), npm (the console's front-end assets).
# Installs what is missing from Debian's packages when run as root; otherwise says what to install.
set -euo pipefail
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql-15)
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
# The console's browser tests: Debian's Chromium (a browser download cannot work offline) and a CJK font
# so Chinese is readable in the screenshots they keep.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# Keycloak comes as a zip (deploy/keycloak/keycloak.sh unpacks it and polls it with curl).
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-packages.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  # Debian starts a system cluster on install; the project runs its own (deploy/postgres/postgres.sh).
else
  echo "system-packages.sh: please install: ${missing[*]} (Debian package names)" >&2
  exit 1
fi
