#!/usr/bin/env bash
# The CUDA check of tinyconv, in two phases (see scripts/README.md):
#
#   scripts/gpu-check.sh build              # here (x86-64, cargo): fills gpu-bundle/
#   scripts/gpu-check.sh device [--dry-run] # on the GPU machine (no cargo), from the repo root
#
# `build` compiles the host binary and the CUDA op-suite test executable with `--features cuda`,
# strips their debug info, and packs them with MNIST and a cats-vs-dogs photo subset into
# gpu-bundle/ (at most 64 MiB). `device` runs the op suite, MNIST training, the benchmark and a
# cats-vs-dogs epoch on CUDA, each under its own timeout, writes $OUT/log.txt and
# $OUT/summary.md (plus three small JSON files), and prints one summary table. A step that fails
# does not stop the others. Without a CUDA device every CUDA step reports "no CUDA device"
# (FAILED, or skipped with --dry-run, which also shortens every step).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUNDLE=$ROOT/gpu-bundle
MIB=1048576
# What travels to the device (working tree + carried paths) is limited to 64 MiB.
BUNDLE_LIMIT_MIB=${GPU_CHECK_BUNDLE_LIMIT_MIB:-64}
# The photo subset is shrunk until binaries + data + photos fit this.
PHOTO_LIMIT_MIB=${GPU_CHECK_PHOTO_LIMIT_MIB:-60}

say() { printf 'gpu-check: %s\n' "$*"; }
die() {
    printf 'gpu-check: error: %s\n' "$*" >&2
    exit 1
}
usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}
# Apparent size in bytes of the given paths together (hard links counted once).
bytes_of() { du -scb "$@" 2>/dev/null | tail -n1 | cut -f1; }
mib_of() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# ---- build (here) --------------------------------------------------------------------------

# Prints the executable of the compiler artifact named $2 of kind $3 in cargo's JSON output $1.
artifact_exe() {
    if command -v jq >/dev/null; then
        jq -r --arg n "$2" --arg k "$3" \
            'select(.reason == "compiler-artifact" and .target.name == $n
                    and (.target.kind | index($k)) and .executable != null) | .executable' \
            "$1" | tail -n1
    else
        python3 - "$1" "$2" "$3" <<'PY'
import json, sys
exe = ""
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    t = m.get("target", {})
    if (m.get("reason") == "compiler-artifact" and t.get("name") == sys.argv[2]
            and sys.argv[3] in t.get("kind", []) and m.get("executable")):
        exe = m["executable"]
print(exe)
PY
    fi
}

# Copies executable $1 to $BUNDLE/bin/$2 without debug info (symbols stay, for backtraces),
# gzip'd unless GPU_CHECK_COMPRESS=0 (the device phase unpacks it).
bundle_exe() {
    local src=$1 name=$2 dst=$BUNDLE/bin/$2
    [ -x "$src" ] || die "executable not found: $src"
    if ! strip --strip-debug -o "$dst" "$src" 2>/dev/null; then
        cp "$src" "$dst"
    fi
    chmod 755 "$dst"
    local plain
    plain=$(bytes_of "$dst")
    if [ "${GPU_CHECK_COMPRESS:-1}" = 1 ]; then
        gzip -9 -n -f "$dst"
        say "bundled bin/$name.gz ($(mib_of "$plain") MiB unpacked, $(mib_of "$(bytes_of "$dst.gz")") MiB gzip'd; built $(mib_of "$(bytes_of "$src")") MiB)"
    else
        say "bundled bin/$name ($(mib_of "$plain") MiB; built $(mib_of "$(bytes_of "$src")") MiB)"
    fi
}

cmd_build() {
    [ "$(uname -m)" = x86_64 ] || die "build for the x86-64 GPU machine on x86-64 (this is $(uname -m))"
    command -v cargo >/dev/null || die "cargo not found"
    cd "$ROOT" || die "cannot cd to $ROOT"
    local data=${TINYCONV_DATA_DIR:-$ROOT/../shared/data}
    [ -d "$data" ] || die "data dir not found: $data (set TINYCONV_DATA_DIR)"
    data=$(cd "$data" && pwd)
    local photos_src=$data/cats-vs-dogs-photos/train
    [ -d "$photos_src" ] || die "photos not found: $photos_src"
    compgen -G "$data/mnist/*.gz" >/dev/null || die "no MNIST files: $data/mnist/*.gz"

    # A target dir of its own (cuda features would rebuild the workspace's target/), CUDA 13.0
    # bindings to match the device's driver (580.x) instead of cudarc's "latest" fallback,
    # release profile: opt-level 3 like dev here, but no debug assertions and fewer codegen
    # units, so the smaller binaries.
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-gpu}
    export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
    local profile=${GPU_CHECK_PROFILE:-release} pflag=()
    case $profile in
        release) pflag=(--release) ;;
        dev) ;;
        *) die "GPU_CHECK_PROFILE must be release or dev" ;;
    esac
    local nice=(nice -n 19)
    local json
    json=$(mktemp "${TMPDIR:-/tmp}/gpu-check-cargo.XXXXXX")
    # shellcheck disable=SC2064 # expand now: the path is fixed
    trap "rm -f '$json'" EXIT

    say "building host (profile $profile, --features cuda, CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION, target dir $CARGO_TARGET_DIR)"
    "${nice[@]}" cargo build "${pflag[@]}" -p host --features cuda \
        --message-format=json-render-diagnostics >"$json" || die "cargo build of host failed"
    local host_exe
    host_exe=$(artifact_exe "$json" host bin)
    [ -n "$host_exe" ] || die "no host executable in cargo's output"

    say "building the op-suite tests (cuda_ops, wgpu_ops)"
    "${nice[@]}" cargo test "${pflag[@]}" -p kernels --features cuda --no-run \
        --test cuda_ops --test wgpu_ops \
        --message-format=json-render-diagnostics >"$json" || die "cargo test --no-run failed"
    local cuda_exe wgpu_exe
    cuda_exe=$(artifact_exe "$json" cuda_ops test)
    wgpu_exe=$(artifact_exe "$json" wgpu_ops test)
    [ -n "$cuda_exe" ] || die "no cuda_ops test executable in cargo's output"

    rm -rf "$BUNDLE"
    mkdir -p "$BUNDLE/bin" "$BUNDLE/data/mnist" || die "cannot create $BUNDLE"
    bundle_exe "$host_exe" host
    bundle_exe "$cuda_exe" cuda_ops
    [ -n "$wgpu_exe" ] && bundle_exe "$wgpu_exe" wgpu_ops

    cp "$data"/mnist/*.gz "$BUNDLE/data/mnist/" || die "copying MNIST failed"
    chmod u+w "$BUNDLE"/data/mnist/*.gz
    say "bundled data/mnist ($(mib_of "$(bytes_of "$BUNDLE/data/mnist")") MiB)"

    # The photo subset: the book's split scaled to this folder, smaller if it does not fit.
    local limit subset="" tr va te total
    limit=$((PHOTO_LIMIT_MIB * MIB))
    for split in "0..1000 1000..1500 1500..2000" "0..500 500..750 750..1000" "0..250 250..375 375..500"; do
        read -r tr va te <<<"$split"
        rm -rf "$BUNDLE/photos"
        "$host_exe" make-subset --src "$photos_src" --dst "$BUNDLE/photos" \
            --train "$tr" --validation "$va" --test "$te" --force >/dev/null ||
            die "host make-subset failed"
        total=$(bytes_of "$BUNDLE")
        if [ "$total" -le "$limit" ]; then
            subset=$split
            break
        fi
        say "photos --train $tr --validation $va --test $te: bundle would be $(mib_of "$total") MiB > $PHOTO_LIMIT_MIB MiB, trying a smaller subset"
    done
    [ -n "$subset" ] || die "even the smallest photo subset does not fit $PHOTO_LIMIT_MIB MiB"
    local nphotos
    nphotos=$(find "$BUNDLE/photos" -type f | wc -l)
    say "bundled photos: --train $tr --validation $va --test $te per class ($nphotos files, $(mib_of "$(bytes_of "$BUNDLE/photos")") MiB)"

    # VGG16 weights, only where a subcommand uses them and they fit (59 MB: they never do
    # with everything else).
    local vgg=$data/pretrained/vgg16-imagenet-notop.safetensors vgg_note
    if ! "$host_exe" --help | grep -Eq '^[[:space:]]+vgg16-features([[:space:]]|$)'; then
        vgg_note="not bundled: host has no vgg16-features subcommand"
    elif [ ! -f "$vgg" ]; then
        vgg_note="not bundled: $vgg not found"
    elif [ $(($(bytes_of "$BUNDLE") + $(bytes_of "$vgg"))) -gt "$limit" ]; then
        vgg_note="not bundled: $(mib_of "$(bytes_of "$vgg")") MiB would take the bundle over $PHOTO_LIMIT_MIB MiB"
    else
        mkdir -p "$BUNDLE/data/pretrained"
        cp "$vgg" "$BUNDLE/data/pretrained/"
        vgg_note="bundled"
    fi
    say "vgg16 weights: $vgg_note"

    total=$(bytes_of "$BUNDLE")
    {
        echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo -dirty)"
        echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
        echo "profile=$profile"
        echo "features=cuda (+ default wgpu)"
        echo "cudarc_cuda_version=$CUDARC_CUDA_VERSION"
        echo "glibc=$(ldd --version 2>/dev/null | head -n1)"
        echo "photos=--train $tr --validation $va --test $te"
        echo "vgg16=$vgg_note"
        echo "bytes=$total"
    } >"$BUNDLE/MANIFEST.txt"
    total=$(bytes_of "$BUNDLE")
    if [ "$total" -gt $((BUNDLE_LIMIT_MIB * MIB)) ]; then
        die "gpu-bundle/ is $(mib_of "$total") MiB, over the $BUNDLE_LIMIT_MIB MiB that can travel"
    fi

    # Everything that travels counts: tracked and untracked-not-ignored files too.
    local tree
    tree=$(git -C "$ROOT" ls-files -z --cached --others --exclude-standard -- . ':!gpu-bundle' 2>/dev/null |
        (cd "$ROOT" && du -cb --files0-from=- 2>/dev/null) | tail -n1 | cut -f1)
    tree=${tree:-0}
    say "gpu-bundle/: $(mib_of "$total") MiB; with the working tree ($(mib_of "$tree") MiB): $(mib_of $((total + tree))) MiB of $BUNDLE_LIMIT_MIB MiB"
    if [ $((total + tree)) -gt $((BUNDLE_LIMIT_MIB * MIB)) ]; then
        die "working tree + gpu-bundle/ is over $BUNDLE_LIMIT_MIB MiB"
    fi
    if ! git -C "$ROOT" check-ignore -q gpu-bundle; then
        say "note: gpu-bundle/ is not git-ignored yet (add '/gpu-bundle/' to .gitignore, then carry it)"
    fi
    say "done: on the GPU machine run 'scripts/gpu-check.sh device' from the repo root"
}

# ---- device (on the GPU machine) -----------------------------------------------------------

ROWS=()
STEP_RC=0
STEP_SECS=0
STEP_LIMIT=0
STEP_OUT=/dev/null

# Seconds left of the whole run.
time_left() { echo $((START + BUDGET - $(date +%s))); }

# run_step NAME CAP CMD...: runs CMD under timeout (CAP seconds, less when the run's budget is
# nearly spent), output in $WORK/NAME.out and appended to the log. STEP_RC is 125 when no time
# was left to start it.
run_step() {
    local name=$1 cap=$2
    shift 2
    STEP_OUT=$WORK/$name.out
    : >"$STEP_OUT"
    local left
    left=$(time_left)
    STEP_LIMIT=$cap
    [ "$left" -lt "$STEP_LIMIT" ] && STEP_LIMIT=$left
    if [ "$STEP_LIMIT" -lt 10 ]; then
        STEP_RC=125
        STEP_SECS=0
        printf '\n==== %s: not started, %ss of the run budget left\n' "$name" "$left" >>"$LOG"
        return
    fi
    printf '\n==== %s (timeout %ss): %s\n' "$name" "$STEP_LIMIT" "$*" >>"$LOG"
    say "$name: running (timeout ${STEP_LIMIT}s)"
    local t0=$SECONDS
    if [ -n "$TIMEOUT" ]; then
        timeout --kill-after=10 "$STEP_LIMIT" "$@" >"$STEP_OUT" 2>&1 </dev/null
    else
        "$@" >"$STEP_OUT" 2>&1 </dev/null
    fi
    STEP_RC=$?
    STEP_SECS=$((SECONDS - t0))
    cat "$STEP_OUT" >>"$LOG"
    printf -- '---- %s: exit %s after %ss\n' "$name" "$STEP_RC" "$STEP_SECS" >>"$LOG"
}

# Last line of the step's output that looks like an error, shortened.
error_line() {
    local l
    l=$(grep -E "error|panicked|Error|FAILED|not found|cannot" "$STEP_OUT" | grep -v '^test .* \.\.\. ok$' | tail -n1)
    [ -n "$l" ] || l=$(tail -n1 "$STEP_OUT")
    printf '%s' "${l:0:160}"
}

# add_row NAME STATUS FIGURE; rewrites summary.md so that a run cut short still reports.
add_row() {
    ROWS+=("$1"$'\t'"$2"$'\t'"$3")
    say "$1: $2 - $3"
    write_summary
}

# Status of the step just run: sets ST and FIG from STEP_RC and the output; $1 is the figure
# when it worked, $2 an extra note for timeouts (partial results).
classify() {
    local okfig=$1 partial=${2:-}
    if [ "$STEP_RC" = 125 ]; then
        ST=skipped
        FIG="no time left in the ${BUDGET}s budget"
    elif grep -q "no CUDA device" "$STEP_OUT"; then
        if [ "$DRY" = 1 ]; then ST=skipped; else ST=FAILED; fi
        FIG="no CUDA device"
    elif [ "$STEP_RC" = 124 ] || [ "$STEP_RC" = 137 ]; then
        ST=FAILED
        FIG="timeout after ${STEP_LIMIT}s${partial:+; $partial}"
    elif [ "$STEP_RC" != 0 ]; then
        ST=FAILED
        FIG="exit $STEP_RC: $(error_line)"
    else
        ST=ok
        FIG=$okfig
    fi
}

write_summary() {
    {
        echo "# gpu-check $([ "$DRY" = 1 ] && echo '(dry run)')"
        echo
        echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -n), $(($(date +%s) - START))s of ${BUDGET}s"
        echo
        echo "| step | status | key figure |"
        echo "| --- | --- | --- |"
        local r a b c
        for r in ${ROWS[@]+"${ROWS[@]}"}; do
            IFS=$'\t' read -r a b c <<<"$r"
            echo "| $a | $b | ${c//|//} |"
        done
        if [ -s "$WORK/details.md" ]; then
            echo
            cat "$WORK/details.md"
        fi
    } >"$SUMMARY"
}

# Appends the lines on stdin as a fenced block to the details section of summary.md (nothing
# when there are none).
detail() {
    local text
    text=$(cat)
    [ -n "$text" ] || return 0
    local fence='```'
    printf '\n## %s\n\n%s\n%s\n%s\n' "$1" "$fence" "$text" "$fence" >>"$WORK/details.md"
}

print_table() {
    echo
    echo "==== gpu-check summary$([ "$DRY" = 1 ] && echo ' (dry run)') - $(($(date +%s) - START))s; log: $LOG"
    printf '%-14s %-8s %s\n' step status "key figure"
    printf '%-14s %-8s %s\n' -------------- -------- ----------
    local r a b c
    for r in ${ROWS[@]+"${ROWS[@]}"}; do
        IFS=$'\t' read -r a b c <<<"$r"
        printf '%-14s %-8s %s\n' "$a" "$b" "$c"
    done
}

# Seconds of each "Epoch i/n - N steps - X.Xs" line of the step's output, one per line.
epoch_seconds() {
    sed -nE 's/^Epoch [0-9]+\/[0-9]+ - [0-9]+ steps - ([0-9.]+)s.*/\1/p' "$STEP_OUT"
}

# "N epochs, first X s, then Y s/epoch" (or "1 epoch, X s") from the epoch lines.
epoch_figure() {
    epoch_seconds | awk '
        NR == 1 { first = $1 }
        NR > 1 { rest += $1; n++ }
        END {
            if (NR == 0) { printf "no epoch finished"; exit }
            if (NR == 1) { printf "1 epoch, %.1f s", first; exit }
            printf "%d epochs, first %.1f s, then %.1f s/epoch", NR, first, rest / n
        }'
}

# Adds the dirs holding the CUDA driver and NVRTC (and NVRTC's builtins) to LD_LIBRARY_PATH:
# the host's detection and cudarc's loader look there.
find_cuda_libs() {
    local d dirs=() found
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/local/cuda/lib64 \
        /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-*/lib64 \
        /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib/wsl/lib \
        /opt/torch/.venv/lib/python3*/site-packages/nvidia/*/lib \
        /usr/local/lib/python3*/dist-packages/nvidia/*/lib; do
        [ -d "$d" ] && dirs+=("$d")
    done
    CUDA_LIB=""
    NVRTC_LIB=""
    for d in ${dirs[@]+"${dirs[@]}"}; do
        if [ -z "$CUDA_LIB" ] && compgen -G "$d/libcuda.so*" >/dev/null; then
            CUDA_LIB=$(compgen -G "$d/libcuda.so*" | head -n1)
            add_lib_dir "$d"
        fi
        if [ -z "$NVRTC_LIB" ] && compgen -G "$d/libnvrtc.so*" >/dev/null; then
            NVRTC_LIB=$(compgen -G "$d/libnvrtc.so*" | head -n1)
            add_lib_dir "$d"
        fi
    done
    if [ -z "$NVRTC_LIB" ] && [ -n "$CUDA_LIB" ] && [ -n "$TIMEOUT" ]; then
        found=$(timeout 20 find / -xdev -name 'libnvrtc.so*' -print -quit 2>/dev/null)
        if [ -n "$found" ]; then
            NVRTC_LIB=$found
            add_lib_dir "$(dirname "$found")"
        fi
    fi
}

add_lib_dir() {
    case ":${LD_LIBRARY_PATH:-}:" in
        *":$1:"*) ;;
        *) export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
    esac
}

# Unpacks bin/NAME(.gz) of the bundle into $WORK/bin; prints the path, or nothing.
unpack_exe() {
    local name=$1 dst=$WORK/bin/$1
    mkdir -p "$WORK/bin"
    if [ -f "$BUNDLE/bin/$name.gz" ]; then
        if command -v gzip >/dev/null; then
            gzip -dc "$BUNDLE/bin/$name.gz" >"$dst" || return
        else
            python3 -c 'import gzip, shutil, sys; shutil.copyfileobj(gzip.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
                "$BUNDLE/bin/$name.gz" "$dst" || return
        fi
    elif [ -f "$BUNDLE/bin/$name" ]; then
        cp "$BUNDLE/bin/$name" "$dst" || return
    else
        return
    fi
    chmod 755 "$dst" && echo "$dst"
}

cmd_device() {
    DRY=0
    case ${1:-} in
        --dry-run) DRY=1 ;;
        "") ;;
        *) usage 2 ;;
    esac
    START=$(date +%s)
    BUDGET=${GPU_CHECK_BUDGET_S:-480}
    local outdir=${OUT:-/tmp/gpu-check-out}
    mkdir -p "$outdir" || die "cannot create $outdir"
    LOG=$outdir/log.txt
    SUMMARY=$outdir/summary.md
    : >"$LOG"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX") || die "mktemp failed"
    # shellcheck disable=SC2064 # expand now: the path is fixed
    trap "rm -rf '$WORK'" EXIT
    : >"$WORK/details.md"
    TIMEOUT=$(command -v timeout || true)
    cd "$ROOT" || die "cannot cd to $ROOT"
    [ -d "$BUNDLE" ] || die "no gpu-bundle/ in $ROOT: run 'scripts/gpu-check.sh build' first and carry gpu-bundle"
    # The real run treats a missing device as a failure, also in the op suite.
    if [ "$DRY" = 1 ]; then unset TINYCONV_REQUIRE_CUDA; else export TINYCONV_REQUIRE_CUDA=1; fi
    export RUST_BACKTRACE=${RUST_BACKTRACE:-1} NO_COLOR=1
    # The backend of the host steps; GPU_CHECK_BACKEND=cpu runs them on the CPU (to try the
    # script itself on a machine without a GPU).
    BK=${GPU_CHECK_BACKEND:-cuda}
    local ST FIG

    # ---- probe: machine, driver, libraries, bundle
    find_cuda_libs
    local node gpu host ops wgpu d res failed tacc ips
    node=""
    for d in /dev/nvidiactl /dev/nvidia0 /dev/dxg; do
        [ -e "$d" ] && node="$node$d "
    done
    gpu=""
    if command -v nvidia-smi >/dev/null; then
        gpu=$(${TIMEOUT:+timeout 15} nvidia-smi --query-gpu=name,driver_version,memory.total \
            --format=csv,noheader 2>/dev/null | head -n1)
    fi
    host=$(unpack_exe host)
    ops=$(unpack_exe cuda_ops)
    wgpu=$(unpack_exe wgpu_ops)
    {
        echo "==== probe"
        echo "uname: $(uname -a)"
        echo "glibc: $(ldd --version 2>/dev/null | head -n1)"
        echo "cpus: $(nproc 2>/dev/null)"
        echo "device nodes: ${node:-none}"
        echo "nvidia-smi: ${gpu:-none}"
        echo "libcuda: ${CUDA_LIB:-not found}"
        echo "libnvrtc: ${NVRTC_LIB:-not found}"
        echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
        echo "bundle manifest:"
        sed 's/^/  /' "$BUNDLE/MANIFEST.txt" 2>/dev/null
        echo "bundle files:"
        (cd "$BUNDLE" && find . -maxdepth 2 -not -path './photos/*/*' | sort | sed 's/^/  /')
        [ -n "$host" ] && echo "host --version: $("$host" --version 2>&1)"
    } >>"$LOG" 2>&1
    local probe_fig
    if [ -z "$node" ]; then
        probe_fig="no CUDA device (no /dev/nvidia* node)"
    elif [ -z "$CUDA_LIB" ]; then
        probe_fig="no CUDA device (libcuda.so not found)"
    elif [ -z "$NVRTC_LIB" ]; then
        probe_fig="no CUDA device (libnvrtc.so not found)"
    else
        probe_fig="${gpu:-NVIDIA device (nvidia-smi gave nothing)}; nvrtc $(basename "$NVRTC_LIB")"
    fi
    if [ -z "$host" ] || ! "$host" --version >/dev/null 2>&1; then
        add_row probe FAILED "bundled host does not run here: $("${host:-$BUNDLE/bin/host}" --version 2>&1 | tail -n1 | cut -c1-120)"
    elif [ -z "$node" ] || [ -z "$CUDA_LIB" ] || [ -z "$NVRTC_LIB" ]; then
        add_row probe "$([ "$DRY" = 1 ] && echo skipped || echo FAILED)" "$probe_fig"
    else
        add_row probe ok "$probe_fig"
    fi
    detail "environment" <<EOF
$(uname -sr), $(nproc 2>/dev/null) CPUs, $(ldd --version 2>/dev/null | head -n1)
GPU: ${gpu:-none}; device nodes: ${node:-none}
libcuda: ${CUDA_LIB:-not found}; libnvrtc: ${NVRTC_LIB:-not found}
$(grep -E '^(commit|profile|cudarc_cuda_version|photos|vgg16)=' "$BUNDLE/MANIFEST.txt" 2>/dev/null)
EOF

    # ---- 1. the op suite on CUDA (and on wgpu where there is a Vulkan driver, last)
    local filter=() kdir=$ROOT
    [ -d "$ROOT/kernels" ] && kdir=$ROOT/kernels
    [ "$DRY" = 1 ] && filter=(cuda_device_is_usable cuda::memory_round_trip)
    if [ -z "$ops" ]; then
        add_row ops-cuda FAILED "no bin/cuda_ops in the bundle"
    else
        # shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
        run_step ops-cuda 110 env RUST_BACKTRACE=0 bash -c 'cd "$1" && shift && exec "$@"' _ "$kdir" \
            "$ops" --show-output ${filter[@]+"${filter[@]}"}
        res=$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed;.*finished in ([0-9.]+)s.*/\1 passed, \2 failed, \3 s/p' "$STEP_OUT" | tail -n1)
        failed=$(sed -nE 's/^test (.*) \.\.\. FAILED$/\1/p' "$STEP_OUT" | sort)
        classify "${res:-no test result line}" "${res:-}"
        if [ "$ST" = FAILED ] && [ -n "$failed" ] && [ "$FIG" != "no CUDA device" ]; then
            FIG="$FIG; failing ($(wc -l <<<"$failed")): $(head -n4 <<<"$failed" | tr '\n' ' ')"
        fi
        if [ "$ST" = ok ] && grep -q 'skipped: no CUDA device' "$STEP_OUT"; then
            ST=skipped
            FIG="no CUDA device"
        fi
        add_row ops-cuda "$ST" "$FIG"
        grep -E '^CUDA backend:|^test result:|FAILED|panicked' "$STEP_OUT" | head -n 20 | detail "op suite (CUDA)"
    fi

    # ---- 2. MNIST training on CUDA
    local train_args=(--epochs 5)
    [ "$DRY" = 1 ] && train_args=(--epochs 1 --limit 4096 --test-limit 1000)
    run_step train-mnist 140 "$host" train --backend "$BK" "${train_args[@]}" \
        --data-dir "$BUNDLE/data" --offline --output "$WORK/mnist"
    local acc efig
    acc=$(sed -nE 's/^Test accuracy: ([0-9.]+).*/\1/p' "$STEP_OUT" | tail -n1)
    efig=$(epoch_figure)
    classify "test accuracy ${acc:-?}; $efig" "$efig"
    add_row train-mnist "$ST" "$FIG"
    grep -E '^(backend:|training on|Epoch|Test)' "$STEP_OUT" | detail "MNIST training ($BK)"
    [ -f "$WORK/mnist/history.json" ] && cp "$WORK/mnist/history.json" "$outdir/mnist-history.json"

    # ---- 3. benchmark: CUDA, then the CPU for comparison
    local b steps
    local benches=("$BK")
    [ "$BK" = cpu ] || benches+=(cpu)
    for b in "${benches[@]}"; do
        if [ "$DRY" = 1 ]; then steps=2; elif [ "$b" = cpu ]; then steps=5; else steps=20; fi
        run_step "bench-$b" "$([ "$b" = cpu ] && echo 45 || echo 60)" \
            "$host" bench --backend "$b" --steps "$steps"
        ips=$(sed -nE 's/^training step: ([0-9.]+) ms, ([0-9]+) images\/s.*/\2 images\/s (\1 ms\/step, batch 64)/p' "$STEP_OUT" | tail -n1)
        classify "${ips:-no throughput line}"
        add_row "bench-$b" "$ST" "$FIG"
        grep -vE '^\s*$' "$STEP_OUT" | head -n 30 | detail "bench --backend $b --steps $steps"
    done

    # ---- 4. one cats-vs-dogs epoch on CUDA
    local size=180
    [ "$DRY" = 1 ] && size=80
    if [ ! -d "$BUNDLE/photos/train" ]; then
        add_row catsdogs FAILED "no photos/ in the bundle"
    else
        run_step catsdogs 120 "$host" train-catsdogs --backend "$BK" --data-dir "$BUNDLE/photos" \
            --image-size "$size" --epochs 1 --output "$WORK/catsdogs"
        local vacc
        tacc=$(sed -nE 's/^Test accuracy: ([0-9.]+).*/\1/p' "$STEP_OUT" | tail -n1)
        vacc=$(sed -nE 's/^Epoch .* val_accuracy: ([0-9.]+).*/\1/p' "$STEP_OUT" | tail -n1)
        efig=$(epoch_figure)
        classify "${size}px: $efig; val_accuracy ${vacc:-?}, test accuracy ${tacc:-?}" "$efig"
        add_row catsdogs "$ST" "$FIG"
        grep -E '^(backend:|Epoch|best epoch|Test)' "$STEP_OUT" | detail "cats vs dogs, 1 epoch at ${size}px ($BK)"
        local f
        for f in report history; do
            [ -f "$WORK/catsdogs/$f.json" ] && cp "$WORK/catsdogs/$f.json" "$outdir/catsdogs-$f.json"
        done
    fi

    # ---- 5. VGG16 base forward throughput (random weights), when `host bench` has --vgg16
    if ! "$host" bench --help 2>/dev/null | grep -q -- '--vgg16'; then
        add_row bench-vgg16 skipped "host bench has no --vgg16"
    else
        local vb=3
        [ "$DRY" = 1 ] && vb=1
        run_step bench-vgg16 60 "$host" bench --backend "$BK" --vgg16 --image-size "$size" \
            --vgg16-batches "$vb"
        ips=$(sed -nE 's/^forward: ([0-9.]+) ms per batch, ([0-9.]+) images\/s, ([0-9.]+) GFLOP\/s.*/\2 images\/s, \3 GFLOP\/s (\1 ms per batch of 32)/p' "$STEP_OUT" | tail -n1)
        classify "${size}px: ${ips:-no throughput line}"
        add_row bench-vgg16 "$ST" "$FIG"
        grep -vE '^\s*$' "$STEP_OUT" | head -n 30 | detail "bench --vgg16 --backend $BK at ${size}px"
    fi

    # ---- 6. VGG16 feature extraction, when the binary has it and the weights came along
    local vggw=$BUNDLE/data/pretrained/vgg16-imagenet-notop.safetensors
    if ! "$host" --help 2>/dev/null | grep -Eq '^[[:space:]]+vgg16-features([[:space:]]|$)'; then
        add_row vgg16 skipped "host has no vgg16-features subcommand"
    elif [ ! -f "$vggw" ]; then
        add_row vgg16 skipped "weights not bundled (59 MB do not fit the 64 MiB carry with the rest)"
    else
        local vhelp vargs=()
        vhelp=$("$host" vgg16-features --help 2>&1)
        grep -q -- '--backend' <<<"$vhelp" && vargs+=(--backend "$BK")
        grep -q -- '--data-dir' <<<"$vhelp" && vargs+=(--data-dir "$BUNDLE/photos")
        grep -q -- '--weights' <<<"$vhelp" && vargs+=(--weights "$vggw")
        grep -q -- '--output' <<<"$vhelp" && vargs+=(--output "$WORK/vgg16")
        grep -q -- '--cache-dir' <<<"$vhelp" && vargs+=(--cache-dir "$WORK/vgg16-cache")
        grep -q -- '--image-size' <<<"$vhelp" && vargs+=(--image-size "$size")
        [ "$DRY" = 1 ] && grep -q -- '--epochs' <<<"$vhelp" && vargs+=(--epochs 1)
        run_step vgg16 90 "$host" vgg16-features ${vargs[@]+"${vargs[@]}"}
        tacc=$(sed -nE 's/^Test accuracy: ([0-9.]+).*/\1/p' "$STEP_OUT" | tail -n1)
        classify "test accuracy ${tacc:-?}; $(epoch_figure)"
        add_row vgg16 "$ST" "$FIG"
    fi

    # ---- 7. the op suite on wgpu (optional): only with a Vulkan loader and an NVIDIA ICD
    local icd=""
    for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d; do
        if [ -z "$icd" ] && compgen -G "$d/nvidia*.json" >/dev/null; then
            icd=$(compgen -G "$d/nvidia*.json" | head -n1)
        fi
    done
    if [ -z "$wgpu" ]; then
        add_row ops-wgpu skipped "no bin/wgpu_ops in the bundle"
    elif ! { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; } &&
        ! compgen -G "/usr/lib/x86_64-linux-gnu/libvulkan.so.1*" >/dev/null; then
        add_row ops-wgpu skipped "no Vulkan loader (libvulkan.so.1)"
    elif [ -z "$icd" ]; then
        add_row ops-wgpu skipped "no NVIDIA Vulkan ICD"
    else
        [ "$DRY" = 1 ] && filter=(wgpu::memory_round_trip) || filter=(wgpu::)
        # shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
        run_step ops-wgpu 60 env RUST_BACKTRACE=0 VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd" \
            bash -c 'cd "$1" && shift && exec "$@"' _ "$kdir" "$wgpu" "${filter[@]}"
        res=$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed;.*finished in ([0-9.]+)s.*/\1 passed, \2 failed, \3 s/p' "$STEP_OUT" | tail -n1)
        classify "${res:-no test result line} (${filter[*]})" "${res:-}"
        add_row ops-wgpu "$ST" "$FIG"
    fi

    write_summary
    print_table
    local r nfail=0
    for r in "${ROWS[@]}"; do
        case $r in *$'\t'FAILED$'\t'*) nfail=$((nfail + 1)) ;; esac
    done
    echo "summary: $SUMMARY"
    [ "$nfail" -eq 0 ]
}

main() {
    case ${1:-} in
        build)
            shift
            [ $# -eq 0 ] || usage 2
            cmd_build
            ;;
        device)
            shift
            cmd_device "$@"
            ;;
        -h | --help | help) usage 0 ;;
        *) usage 2 ;;
    esac
}

# One line, read whole before it runs: editing this file during a run cannot derail it.
main "$@"; exit $?
