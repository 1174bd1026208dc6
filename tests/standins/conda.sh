# STAND-IN for Miniconda's etc/profile.d/conda.sh in the page walk (tests/walk/): it defines the shell
# function conda, whose activate/deactivate change PATH, CONDA_PREFIX and CONDA_DEFAULT_ENV as conda does;
# every other subcommand goes to the stand-in bin/conda.
_WALK_CONDA_ROOT="__PREFIX__"
export CONDA_EXE="$_WALK_CONDA_ROOT/bin/conda"
__walk_conda_path_without() {
    local IFS=: out="" part
    for part in $PATH; do [ "$part" = "$1" ] || out="${out:+$out:}$part"; done
    printf '%s' "$out"
}
conda() {
    case "${1:-}" in
        activate)
            local name="${2:-base}" target
            if [ "$name" = base ]; then target="$_WALK_CONDA_ROOT"; else target="$_WALK_CONDA_ROOT/envs/$name"; fi
            if [ ! -x "$target/bin/python" ]; then
                echo "" >&2
                echo "EnvironmentNameNotFound: Could not find conda environment: $name" >&2
                echo "You can list all discoverable environments with \`conda info --envs\`." >&2
                return 1
            fi
            [ -n "${CONDA_PREFIX:-}" ] && PATH="$(__walk_conda_path_without "$CONDA_PREFIX/bin")"
            export PATH="$target/bin:$PATH" CONDA_PREFIX="$target" CONDA_DEFAULT_ENV="$name"
            export CONDA_SHLVL=$(( ${CONDA_SHLVL:-0} + 1 ))
            hash -r ;;
        deactivate)
            if [ -n "${CONDA_PREFIX:-}" ]; then
                PATH="$(__walk_conda_path_without "$CONDA_PREFIX/bin")"
                export PATH
                unset CONDA_PREFIX CONDA_DEFAULT_ENV
                export CONDA_SHLVL=0
                hash -r
            fi ;;
        *) "$CONDA_EXE" "$@" ;;
    esac
}
