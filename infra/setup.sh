# Sourced by ./test.sh and ./lvmae: installs what LvMae needs on a fresh Debian 12 machine, once.
# apt: ffmpeg (probe/segment/sample), redis-server (Redis-membership cluster tests), chromium + chromium-driver (web console
# browser tests), patchelf + g++ + binutils
# (TorchSharp GLIBCXX fix, see infra/torchsharp), mariadb-server-core (mariadbd: Azurite's blob metadata in MariaDB,
# `lvmae up --azurite-db mariadb`, src/Storage/LocalMariaDb.cs; the server binaries of Debian's mariadb-server without
# its system service, which would start a server on port 3306 at install); npm: Azurite pinned in infra/azurite/package-lock.json.

lvmae_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

lvmae_apt_install() {
  local missing=()
  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
  command -v patchelf >/dev/null || missing+=(patchelf)
  command -v g++ >/dev/null || missing+=(g++)
  command -v readelf >/dev/null || missing+=(binutils)
  command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
  command -v redis-server >/dev/null || missing+=(redis-server)
  # Headless browser for the web console's tests (tests/LvMae.Grains.Tests/ConsoleBrowserTests.cs, Selenium).
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  { command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; } && [ -f /usr/share/mysql/mysql_system_tables.sql ] || missing+=(mariadb-server-core)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]} (apt)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

lvmae_npm_install() {
  local dir="$lvmae_root/infra/azurite"
  if [ ! -x "$dir/node_modules/.bin/azurite" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "setup: installing Azurite (npm ci in infra/azurite)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

lvmae_setup() {
  command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is required (dotnet not on PATH)" >&2; return 1; }
  lvmae_apt_install
  lvmae_npm_install
  export LVMAE_AZURITE_BIN="$lvmae_root/infra/azurite/node_modules/.bin/azurite"
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
}
