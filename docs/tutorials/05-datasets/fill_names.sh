#!/usr/bin/env bash
# Replace the placeholders <NAME> (the assistant's name) and <ORG> (your organisation) in the identity dataset.
# Usage: bash fill_names.sh "<assistant name>" "<organisation>" [scow_identity.json]
# Any printable characters may be used, quotes and backslashes too (they are escaped as JSON requires);
# control characters (tab, newline, ...) are refused. The result is checked as JSON (with python3 or python)
# before it replaces the file: on any problem the file stays as it was.
set -euo pipefail

if [ "$#" -lt 2 ] || [ -z "$1" ] || [ -z "$2" ]; then
    echo "usage: bash fill_names.sh \"<assistant name>\" \"<organisation>\" [scow_identity.json]" >&2
    exit 2
fi
name="$1"
org="$2"
file="${3:-scow_identity.json}"

for what in "assistant name:$name" "organisation:$org"; do
    case "${what#*:}" in
        *[[:cntrl:]]*)
            echo "error: the ${what%%:*} contains a control character (a tab, a line break, ...): type it on one line, with spaces only" >&2
            exit 2
            ;;
        *"<NAME>"* | *"<ORG>"*)
            echo "error: the ${what%%:*} contains the placeholder <NAME> or <ORG> itself: choose the real name" >&2
            exit 2
            ;;
    esac
done
if [ ! -f "$file" ]; then
    echo "error: $file not found: run this script in the folder that holds it, or give its path as the third argument" >&2
    exit 2
fi
if ! grep -q -e '<NAME>' -e '<ORG>' "$file"; then
    echo "error: $file holds no <NAME> or <ORG>: it was filled in already (download it again to change the names)" >&2
    exit 2
fi
python=""
for candidate in python3 python; do
    if command -v "$candidate" > /dev/null; then python="$candidate"; break; fi
done
if [ -z "$python" ]; then
    echo "error: neither python3 nor python was found, and the result must be checked as JSON: run this script where Python is installed (a login node, or after 'conda activate')" >&2
    exit 2
fi
# A terminal in another encoding (GBK, Latin-1) sends bytes that are not UTF-8: say so before touching the file.
for what in "assistant name:$name" "organisation:$org"; do
    if ! printf '%s' "${what#*:}" | "$python" -c 'import sys; sys.stdin.buffer.read().decode("utf-8")' 2> /dev/null; then
        echo "error: the ${what%%:*} is not valid UTF-8 text (the terminal sends another encoding, e.g. GBK): set the terminal to UTF-8, or run the command in the portal's Shell" >&2
        exit 2
    fi
done

# A name goes into a JSON string: \ and " get a backslash. Then sed's replacement text: \, & and the
# delimiter | get one more.
bs="\\"
quote='"'
amp='&'
bar='|'
for_sed() {
    local s="$1"
    s="${s//"$bs"/"$bs$bs"}"
    s="${s//"$quote"/"$bs$quote"}"
    s="${s//"$bs"/"$bs$bs"}"
    s="${s//"$amp"/"$bs$amp"}"
    s="${s//"$bar"/"$bs$bar"}"
    printf '%s' "$s"
}

tmp="$(mktemp "$file.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
sed -e "s|<NAME>|$(for_sed "$name")|g" -e "s|<ORG>|$(for_sed "$org")|g" "$file" > "$tmp"
if ! answers="$("$python" - "$tmp" <<'PY'
import json
import sys

try:
    with open(sys.argv[1], encoding="utf-8") as f:
        data = json.load(f)
except (ValueError, UnicodeDecodeError) as exc:
    sys.exit(f"{exc}")
print(sum(1 for record in data if isinstance(record, dict) and "output" in record))
PY
)"; then
    echo "error: with these names $file would not be valid UTF-8 JSON (see the line above); it was left unchanged. Check that the file itself is valid: $python -m json.tool $file" >&2
    exit 2
fi
cat "$tmp" > "$file"
echo "filled ${answers} answers in $file: <NAME> -> ${name}, <ORG> -> ${org}"
