#!/usr/bin/env bash
# Regenerate the expected outputs of the evaluator golden corpus with the
# reference implementation (Nix 2.8, `nix-instantiate` from Debian's nix-bin).
#
#   eval-okay-NAME.nix  -> eval-okay-NAME.exp       (stdout of --eval --strict)
#                          eval-okay-NAME.exp.json  (stdout of --eval --strict --json,
#                                                    only for files whose first line
#                                                    carries the `json` directive)
#   eval-fail-NAME.nix  -> eval-fail-NAME.nix-err   (stderr, corpus path replaced
#                                                    by the literal text $CORPUS)
#                          fail-exit-codes.txt      (manifest: file name, exit code)
#
# Per-file directives: an optional FIRST line of the form
#   # corpus: json read-write
# `json` asks for an .exp.json as well; `read-write` adds --read-write-mode
# (the test needs to write to the store). Every run uses a fresh throw-away
# chroot store (`--store DIR`), so nothing is ever written to the real /nix;
# the logical store directory stays /nix/store.
#
# Usage: lang/tests/eval/regenerate.sh [--check]
#   --check  do not write anything, only report files whose output differs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
CORPUS="$(pwd -P)"
export CORPUS

CHECK=0
if [[ "${1:-}" == "--check" ]]; then CHECK=1; fi

EXPECTED_VERSION="nix-instantiate (Nix) 2.8.0"
if ! command -v nix-instantiate >/dev/null; then
    echo "regenerate.sh: nix-instantiate not found (apt-get install nix-bin)" >&2
    exit 2
fi
VERSION="$(nix-instantiate --version)"
if [[ "$VERSION" != "$EXPECTED_VERSION" ]]; then
    echo "regenerate.sh: expected '$EXPECTED_VERSION', found '$VERSION'" >&2
    echo "regenerate.sh: outputs would not match the committed corpus; set ALLOW_OTHER_NIX=1 to go on" >&2
    [[ "${ALLOW_OTHER_NIX:-}" == 1 ]] || exit 2
fi

WORK="$(mktemp -d /tmp/strata-eval-regen.XXXXXX)"
export WORK
trap 'chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/home" "$WORK/conf" "$WORK/xdg-config" "$WORK/xdg-dirs" "$WORK/out"
# Nix's configuration is ours, not the host's: no build users (nix-bin does not create the
# `nixbld` group, and Nix warns about it on every run when it is missing) and no substituters.
printf 'build-users-group =\nsubstituters =\n' >"$WORK/conf/nix.conf"

# The environment nix-instantiate runs in. Keep in sync with README.md.
run_nix() {
    local store="$1"; shift
    env -i \
        PATH="$PATH" \
        HOME="$WORK/home" \
        NIX_CONF_DIR="$WORK/conf" \
        XDG_CONFIG_HOME="$WORK/xdg-config" \
        XDG_CONFIG_DIRS="$WORK/xdg-dirs" \
        NIX_PATH="fromenv=$CORPUS/search/fromenv" \
        STRATA_TEST_VAR="strata-test-value" \
        TZ=UTC LC_ALL=C.UTF-8 \
        nix-instantiate --eval --strict \
            --store "$store" \
            -I "$CORPUS/search" \
            -I "named=$CORPUS/search/named-root" \
            -I "sub/dir=$CORPUS/search/prefix-target" \
            "$@"
}

# Replace machine-specific absolute paths by placeholders.
scrub() {
    perl -pe 's/\Q$ENV{CORPUS}\E/\$CORPUS/g; s/\Q$ENV{WORK}\E/\$WORK/g'
}

directives() {
    local first
    first="$(head -n 1 "$1")"
    if [[ "$first" =~ ^#\ corpus:\ (.*)$ ]]; then
        echo "${BASH_REMATCH[1]}"
    fi
}

status=0
changed=0
n=0
store_no=0

fresh_store() {
    store_no=$((store_no + 1))
    echo "$WORK/store-$store_no"
}

# Write (or, with --check, compare) a generated file.
emit() {
    local src="$1" dest="$2"
    if [[ $CHECK == 1 ]]; then
        if ! cmp -s "$src" "$dest"; then
            echo "DIFFERS: $dest" >&2
            changed=$((changed + 1))
        fi
    else
        if ! cmp -s "$src" "$dest"; then
            cp "$src" "$dest"
            changed=$((changed + 1))
        fi
    fi
}

leak_check() {
    if grep -q -F -e "$CORPUS" -e "$WORK" -e "/work/" "$1"; then
        echo "LEAK: $1 contains a machine-specific absolute path" >&2
        status=1
    fi
}

for f in eval-okay-*.nix; do
    n=$((n + 1))
    base="${f%.nix}"
    d="$(directives "$f")"
    flags=()
    [[ " $d " == *" read-write "* ]] && flags+=(--read-write-mode)
    out="$WORK/out/$base.exp"
    if ! run_nix "$(fresh_store)" "${flags[@]}" "$CORPUS/$f" >"$out" 2>"$WORK/out/stderr"; then
        echo "FAILED (expected success): $f" >&2
        sed 's/^/    /' "$WORK/out/stderr" >&2
        status=1
        continue
    fi
    leak_check "$out"
    emit "$out" "$base.exp"
    if [[ " $d " == *" json "* ]]; then
        out="$WORK/out/$base.exp.json"
        if ! run_nix "$(fresh_store)" "${flags[@]}" --json "$CORPUS/$f" >"$out" 2>"$WORK/out/stderr"; then
            echo "FAILED (expected success, --json): $f" >&2
            sed 's/^/    /' "$WORK/out/stderr" >&2
            status=1
            continue
        fi
        leak_check "$out"
        emit "$out" "$base.exp.json"
    elif [[ -e "$base.exp.json" ]]; then
        echo "STALE: $base.exp.json exists but $f has no json directive" >&2
        status=1
    fi
done

manifest="$WORK/out/fail-exit-codes.txt"
{
    echo "# Exit code of \`nix-instantiate --eval --strict FILE\` for every eval-fail test."
    echo "# Generated by regenerate.sh; every code must be non-zero."
} >"$manifest"
for f in eval-fail-*.nix; do
    n=$((n + 1))
    base="${f%.nix}"
    d="$(directives "$f")"
    flags=()
    [[ " $d " == *" read-write "* ]] && flags+=(--read-write-mode)
    set +e
    run_nix "$(fresh_store)" "${flags[@]}" "$CORPUS/$f" >"$WORK/out/stdout" 2>"$WORK/out/stderr"
    rc=$?
    set -e
    if [[ $rc == 0 ]]; then
        echo "SUCCEEDED (expected failure): $f" >&2
        status=1
        continue
    fi
    scrub <"$WORK/out/stderr" >"$WORK/out/$base.nix-err"
    leak_check "$WORK/out/$base.nix-err"
    emit "$WORK/out/$base.nix-err" "$base.nix-err"
    echo "$f $rc" >>"$manifest"
done
emit "$manifest" fail-exit-codes.txt

# Outputs whose .nix file is gone.
for f in eval-*.exp eval-*.exp.json eval-*.nix-err; do
    [[ -e "$f" ]] || continue
    b="${f%.exp.json}"; b="${b%.exp}"; b="${b%.nix-err}"
    if [[ ! -e "$b.nix" ]]; then
        echo "STALE: $f has no $b.nix (delete it)" >&2
        status=1
    fi
done

# The list of Nix 2.8's builtins, for reference.
run_nix "$(fresh_store)" -E 'builtins.attrNames builtins' >"$WORK/out/BUILTINS.txt"
emit "$WORK/out/BUILTINS.txt" BUILTINS.txt

if [[ $CHECK == 1 ]]; then
    echo "regenerate.sh: checked $n tests, $changed output file(s) differ"
    [[ $changed == 0 ]] || status=1
else
    echo "regenerate.sh: ran $n tests, $changed output file(s) written"
fi
exit $status
