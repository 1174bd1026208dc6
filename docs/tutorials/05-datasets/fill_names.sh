#!/usr/bin/env bash
# Replace the placeholders <NAME> (the assistant's name) and <ORG> (your organisation) in the identity dataset.
# Usage: bash fill_names.sh "<assistant name>" "<organisation>" [scow_identity.json]
set -euo pipefail

if [ "$#" -lt 2 ] || [ -z "$1" ] || [ -z "$2" ]; then
    echo "usage: bash fill_names.sh \"<assistant name>\" \"<organisation>\" [scow_identity.json]" >&2
    exit 2
fi
name="$1"
org="$2"
file="${3:-scow_identity.json}"

if [ ! -f "$file" ]; then
    echo "error: $file not found: run this script in the folder that holds it, or give its path as the third argument" >&2
    exit 2
fi
case "$name$org" in
    *[/\\\&\"\|]*)
        echo "error: names must not contain / \\ & \" or |: choose a plain name" >&2
        exit 2
        ;;
esac
if ! grep -q -e '<NAME>' -e '<ORG>' "$file"; then
    echo "error: $file holds no <NAME> or <ORG>: it was filled in already (download it again to change the names)" >&2
    exit 2
fi

sed -i -e "s|<NAME>|${name}|g" -e "s|<ORG>|${org}|g" "$file"
echo "filled $(grep -c '"output"' "$file") answers in $file: <NAME> -> ${name}, <ORG> -> ${org}"
