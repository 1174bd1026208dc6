#!/usr/bin/env bash
# Install Miniconda into your home directory, but only after the installer's SHA-256
# matches the checksum that Anaconda publishes for it.
#
# Usage:
#   bash install_miniconda.sh [PREFIX]        # PREFIX defaults to $HOME/miniconda3
#
# Environment variables (all optional):
#   MINICONDA_SHA256     expected SHA-256 of the installer; if unset, it is read from the
#                        official listing page (MINICONDA_INDEX_URL)
#   MINICONDA_BASE_URL   where the installer is downloaded from (a mirror works, e.g.
#                        https://mirrors.tuna.tsinghua.edu.cn/anaconda/miniconda/)
#   MINICONDA_INDEX_URL  the listing page holding the published checksums
#   MINICONDA_INSTALLER  the installer's file name
#
# Part of the SCOW AI tutorials (Tutorial 0). Run it on a login node: it needs the internet.
set -euo pipefail

INSTALLER="${MINICONDA_INSTALLER:-Miniconda3-py313_25.9.1-1-Linux-x86_64.sh}"
BASE_URL="${MINICONDA_BASE_URL:-https://repo.anaconda.com/miniconda/}"
INDEX_URL="${MINICONDA_INDEX_URL:-https://repo.anaconda.com/miniconda/}"
PREFIX="${1:-${HOME}/miniconda3}"
BASE_URL="${BASE_URL%/}/"

say() { printf '%s\n' "$*"; }
die() {
    printf 'ERROR: %s\n' "$@" >&2
    exit 1
}

case "$PREFIX" in
-h | --help)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
/*) ;;
*) PREFIX="$PWD/$PREFIX" ;;
esac

# --- refuse to touch an existing installation ----------------------------------------------
if [ -e "$PREFIX" ] || [ -L "$PREFIX" ]; then
    die "$PREFIX already exists; nothing was downloaded or changed." \
        "If Miniconda is already installed there, activate it: source \"$PREFIX/bin/activate\"" \
        "To reinstall, remove or rename that folder first, or pass another folder: bash $0 /path/to/new/folder"
fi

case "$INSTALLER" in
*x86_64*)
    if [ "$(uname -m)" != "x86_64" ]; then
        die "$INSTALLER is for x86_64 machines, but this machine is $(uname -m)." \
            "Set MINICONDA_INSTALLER to the installer for this architecture and run again."
    fi
    ;;
esac

# --- tools -----------------------------------------------------------------------------------
if command -v wget >/dev/null 2>&1; then
    fetch() { wget -q -O "$2" "$1"; }
    fetch_progress() { wget --progress=dot:giga -O "$2" "$1"; }
elif command -v curl >/dev/null 2>&1; then
    fetch() { curl -fsSL -o "$2" "$1"; }
    fetch_progress() { curl -fL --progress-bar -o "$2" "$1"; }
else
    die "Neither wget nor curl is installed; one of them is needed to download the installer."
fi

if command -v sha256sum >/dev/null 2>&1; then
    sha256_of() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
    sha256_of() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
    die "Neither sha256sum nor shasum is installed; the installer cannot be verified."
fi

to_lower() { printf '%s' "$1" | tr 'A-F' 'a-f'; }

# Everything downloaded goes to a private temporary folder that is always removed on exit,
# so a download that fails the check never stays behind.
WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/miniconda-install.XXXXXX")"
cleanup() { rm -rf "$WORKDIR"; }
trap cleanup EXIT

# --- 1. the expected checksum ----------------------------------------------------------------
if [ -n "${MINICONDA_SHA256:-}" ]; then
    EXPECTED="$(to_lower "$MINICONDA_SHA256")"
    if ! printf '%s' "$EXPECTED" | grep -Eq '^[0-9a-f]{64}$'; then
        die "MINICONDA_SHA256 must be 64 hexadecimal characters; got: $MINICONDA_SHA256"
    fi
    say "Expected SHA-256 (from MINICONDA_SHA256): $EXPECTED"
else
    say "Reading the published SHA-256 of $INSTALLER from $INDEX_URL"
    listing="$WORKDIR/listing.html"
    if ! fetch "$INDEX_URL" "$listing"; then
        die "Could not download the checksum listing $INDEX_URL" \
            "Check the network (run this on a login node), or copy the SHA-256 of $INSTALLER from" \
            "https://repo.anaconda.com/miniconda/ and run again with: MINICONDA_SHA256=\"<sha256>\" bash $0"
    fi
    # The listing is an HTML table, one <tr> per file: link, size, date, SHA-256.
    # Put each row on one line, keep the row that links exactly this file, take its 64-hex value.
    found="$(tr '\r\n' '  ' <"$listing" |
        awk '{ gsub(/<\/[Tt][Rr]>/, "&\n"); print }' |
        grep -F -e "\"$INSTALLER\"" -e ">$INSTALLER<" |
        grep -oE '[0-9A-Fa-f]{64}' | tr 'A-F' 'a-f' | sort -u)" || found=""
    count="$(printf '%s' "$found" | grep -c . || true)"
    if [ "$count" -eq 0 ]; then
        die "No SHA-256 for $INSTALLER was found in $INDEX_URL; the installer was not downloaded." \
            "Check the file name (MINICONDA_INSTALLER), or copy the SHA-256 from https://repo.anaconda.com/miniconda/" \
            "and run again with: MINICONDA_SHA256=\"<sha256>\" bash $0"
    elif [ "$count" -gt 1 ]; then
        die "The listing $INDEX_URL gives $count different SHA-256 values for $INSTALLER:" \
            "$found" "Copy the right one and run again with: MINICONDA_SHA256=\"<sha256>\" bash $0"
    fi
    EXPECTED="$found"
    say "Expected SHA-256 (published): $EXPECTED"
fi

# --- 2. download ----------------------------------------------------------------------------
installer_path="$WORKDIR/$INSTALLER"
say "Downloading ${BASE_URL}${INSTALLER}"
if ! fetch_progress "${BASE_URL}${INSTALLER}" "$installer_path"; then
    die "Could not download ${BASE_URL}${INSTALLER}" \
        "Check the network and the address (MINICONDA_BASE_URL), then run again."
fi

# --- 3. verify --------------------------------------------------------------------------------
ACTUAL="$(to_lower "$(sha256_of "$installer_path")")"
say "Actual SHA-256 of the download: $ACTUAL"
if [ "$ACTUAL" != "$EXPECTED" ]; then
    rm -f "$installer_path"
    die "SHA-256 mismatch: the download is NOT the published installer, so it was deleted and NOT run." \
        "  expected: $EXPECTED" \
        "  actual:   $ACTUAL" \
        "The download may be incomplete or a mirror may serve another file. Run the script again;" \
        "if it fails again, unset MINICONDA_BASE_URL to download from repo.anaconda.com, and check" \
        "that MINICONDA_SHA256 (if you set it) is the value listed for $INSTALLER."
fi
say "SHA-256 OK: the installer matches the published checksum."

# --- 4. install -------------------------------------------------------------------------------
say "Installing Miniconda into $PREFIX (batch mode, no questions asked)"
if ! bash "$installer_path" -b -p "$PREFIX"; then
    die "The installer failed. Remove the partial installation with: rm -rf \"$PREFIX\"" \
        "then run this script again."
fi

say ""
say "Miniconda installed in $PREFIX"
say "Next steps:"
say "  source \"$PREFIX/bin/activate\""
say "  conda init bash"
