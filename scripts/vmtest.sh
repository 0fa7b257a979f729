#!/usr/bin/env bash
# Run a command inside a Debian kernel under QEMU, with this machine's root
# filesystem as the guest's (read-only 9p + tmpfs overlay, so nothing leaks back).
#
#   scripts/vmtest.sh KERNEL [--mem 2G] [--timeout SECONDS] -- CMD [ARGS...]
#   scripts/vmtest.sh --list            kernels known, and the cached version
#   scripts/vmtest.sh --fetch KERNEL    refresh package lists, download newest
#
# CMD runs as root in the caller's cwd, stdin /dev/null, env: the caller's PATH,
# HOME=/root, TERM=dumb. Its stdout+stderr (one stream) are printed and the
# script exits with CMD's status; 124 = --timeout hit, 125 = the guest never
# reported a status, or had not started CMD after NT_VM_BOOT_TIMEOUT seconds
# (default 180; console tail shown). The guest has its own
# tmpfs /run and /dev/shm: host paths there are not visible (/tmp is the host's, writes stay in the guest). Env: NT_VM_CACHE (default /var/cache/neutracer-vm),
# NT_VM_ACCEL=tcg|kvm (default: kvm only with a hardware KVM module loaded),
# NT_VM_LOGLEVEL (guest console loglevel, default 1: only panics interleave).
set -euo pipefail

CACHE=$(realpath -m "${NT_VM_CACHE:-/var/cache/neutracer-vm}")
BEGIN_MARK='@@NT-VMTEST-BEGIN@@' END_MARK='@@NT-VMTEST-END@@'
# virtio_pci/9p/overlay are needed to reach the root; the rest are loaded
# later with the guest's own modprobe (its modules dir is bind-mounted in).
BOOT_MODULES="virtio_pci 9pnet_virtio 9p overlay"
EXTRA_MODULES="veth sch_tbf sch_netem"

die() { echo "vmtest: $*" >&2; exit 125; }
usage() { sed -n '5,7s/^# *//p' "$0" >&2; exit 2; }

# kernel name -> "package-regex suite"
kernel_spec() {
    case $1 in
        6.1)  echo '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$ bookworm' ;;
        6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$ bookworm' ;;
        5.10) echo '^linux-image-5\.10\.0-[0-9]+-amd64-unsigned$ bullseye' ;;
        *) die "unknown kernel '$1' (try --list)" ;;
    esac
}

ensure_host_tools() {
    local p missing=()
    for p in qemu-system-x86 busybox-static kmod xz-utils zstd; do
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
        { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
}

# Bullseye gets private apt state so the host's apt configuration is untouched;
# it uses the same mirror as the host's own security entries.
bullseye_apt_opts() {
    local d=$CACHE/apt-bullseye mirror
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                 /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v '^[[:space:]]*#' |
             grep -oE 'https?://[^[:space:]]+/debian-security' | head -n1) || true
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:-http://deb.debian.org/debian-security} bullseye-security main" >"$d/sources.list"
    APT_OPTS=(-o "Dir::Etc::sourcelist=$d/sources.list" -o Dir::Etc::sourceparts=/nonexistent
              -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o APT::Get::List-Cleanup=0)
}

# Download and unpack the newest package for kernel $1 (no install). The
# symlink $CACHE/<name> names the prepared version; runs only follow it.
fetch() {
    local name=$1 regex suite pkg ver dir dl
    read -r regex suite <<<"$(kernel_spec "$name")"
    APT_OPTS=()
    [[ $suite == bullseye ]] && bullseye_apt_opts
    apt-get "${APT_OPTS[@]}" update >&2 || die "apt-get update failed"
    pkg=$(apt-cache "${APT_OPTS[@]}" search --names-only "$regex" | cut -d' ' -f1 | sort -V | tail -n1)
    [[ $pkg ]] || die "no package matching $regex"
    ver=${pkg#linux-image-}; ver=${ver%-unsigned}; dir=$CACHE/$ver
    if [[ ! -d $dir/root ]]; then
        rm -rf "$dir"; mkdir -p "$dir"; dl=$(mktemp -d "$CACHE/.dl.XXXXXX")
        (cd "$dl" && apt-get "${APT_OPTS[@]}" -o APT::Sandbox::User=root download "$pkg" >&2) || die "download of $pkg failed"
        dpkg -x "$dl"/*.deb "$dir/root.tmp"; rm -rf "$dl"
        depmod -b "$dir/root.tmp" "$ver"
        extract_vmlinux "$dir/root.tmp/boot/vmlinuz-$ver" "$dir/vmlinux" || die "cannot unpack $pkg's bzImage"
        mv "$dir/root.tmp" "$dir/root"
    fi
    ln -sfn "$ver" "$CACHE/$name"
    echo "vmtest: $name = $pkg (cached in $dir)" >&2
}

# Booting the uncompressed ELF (PVH entry point) skips the kernel's
# self-decompression, which takes seconds under TCG for the xz-packed ones.
extract_vmlinux() {
    local bz=$1 out=$2 ss off len d
    read -r ss < <(od -An -tu1 -j 0x1f1 -N1 "$bz")        # setup_sects
    read -r off len < <(od -An -tu4 -j 0x248 -N8 "$bz")   # payload_offset, _length
    for d in "xz -dc" "zstd -qdc" "gzip -dc"; do           # payload ends in a 4-byte size
        dd if="$bz" iflag=skip_bytes,count_bytes skip=$(((ss + 1) * 512 + off)) \
            count=$((len - 4)) bs=1M status=none | $d >"$out.tmp" 2>/dev/null &&
            mv "$out.tmp" "$out" && return 0
    done
    rm -f "$out.tmp"; return 1
}

# Sets KDIR, KVER and INITRD for kernel $1, fetching or building what is
# missing. The initramfs is named after a hash of the code that builds it, so
# editing this script never boots a stale one.
prepare() {
    local name=$1 id
    id=$({ declare -f build_initrd; echo "$BOOT_MODULES"; } | md5sum | cut -c1-12)
    if [[ ! -d $CACHE/$name/root || ! -e $CACHE/$name/initrd-$id.gz ]]; then
        exec 9>"$CACHE/.lock"; flock 9     # one writer; prepared kernels never wait
        [[ -d $CACHE/$name/root ]] || fetch "$name"
    fi
    KDIR=$(readlink -f "$CACHE/$name"); KVER=${KDIR##*/}; INITRD=$KDIR/initrd-$id.gz
    [[ -e $INITRD ]] || build_initrd "$KDIR" "$KVER" "$INITRD"
}

build_initrd() {
    local dir=$1 ver=$2 out=$3 s=$1/initrd.d m base order=""
    rm -rf "$s"; mkdir -p "$s/bin" "$s/mods" "$s/dev" "$s/proc" "$s/sys"
    cp /bin/busybox "$s/bin/busybox"
    # busybox insmod wants plain .ko files, in dependency order.
    for m in $(modprobe -d "$dir/root" -S "$ver" --show-depends -a $BOOT_MODULES |
               awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
        base=$(basename "$m")
        case $m in
            *.xz)  xz -dc "$m" >"$s/mods/${base%.xz}" ;;
            *.zst) zstd -qdc "$m" >"$s/mods/${base%.zst}" ;;
            *)     cp "$m" "$s/mods/" ;;
        esac
        order+=" ${base%.ko*}.ko"
    done
    # Stage 1: reach the host root, build the new root's mounts, switch to it.
    cat >"$s/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "vmtest-init: \$*"; poweroff -f; }
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
for m in $order; do insmod /mods/\$m || fail "insmod \$m"; done
mkdir -p /lower /rw /newroot
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /lower ||
    fail "9p root mount"
mount -t tmpfs -o mode=755 rw /rw && mkdir /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
    fail "overlay mount"
cd /newroot
mount -t proc proc proc; mount -t sysfs sysfs sys; mount -t devtmpfs dev dev
mkdir -p dev/pts dev/shm
mount -t devpts -o mode=620,ptmxmode=666 devpts dev/pts
# /tmp stays the overlay's: the host's files there are seen (a clone under /tmp), writes stay here.
mount -t tmpfs -o mode=1777 shm dev/shm
mount -t tmpfs -o mode=755 run run; mkdir -p run/netns run/nt-vmtest
mount -t tracefs tracefs sys/kernel/tracing; mount -t debugfs debugfs sys/kernel/debug
mount -t bpf bpf sys/fs/bpf; mount -t cgroup2 cgroup2 sys/fs/cgroup
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out run/nt-vmtest || fail "9p out mount"
# The guest kernel's own modules (for modprobe/autoload) and /boot/config-*.
mkdir -p lib/modules/$ver && mount -o bind .$dir/root/lib/modules/$ver lib/modules/$ver
mount -o bind .$dir/root/boot boot
ip link set lo up
umount /proc /sys; umount -l /dev
exec switch_root /newroot /bin/bash /run/nt-vmtest/run.sh
EOF
    chmod +x "$s/init"
    rm -f "$dir"/initrd-*.gz
    (cd "$s" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$out.tmp"
    mv "$out.tmp" "$out"; rm -rf "$s"
}

# Stage 2 (PID 1 after switch_root): run CMD, report its status, power off.
write_run_sh() {
    local out=$1; shift
    {
        printf 'cwd=%q path=%q cmd=%q\n' "$PWD" "$PATH" "$(printf '%q ' "$@")"
        printf 'B=%q E=%q mods=%q\n' "$BEGIN_MARK" "$END_MARK" "$EXTRA_MODULES"
        cat <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo vmtest >/proc/sys/kernel/hostname
modprobe -qa $mods
: >/run/nt-vmtest/started   # for the boot watchdog (the console reaches the host in blocks)
printf '\n%s\n' "$B"
if cd "$cwd" 2>/dev/null; then
    env -i PATH="$path" HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 \
        /bin/bash -c "$cmd" </dev/null
    rc=$?
else
    echo "vmtest: $cwd is not visible in the guest (its /run and /dev/shm are private)"; rc=125
fi
printf '%s\n' "$E"
echo $rc >/run/nt-vmtest/status
# busybox is gone after switch_root; PID 1 must not exit (panic) meanwhile.
echo o >/proc/sysrq-trigger
sleep 60
EOF
    } >"$out/run.sh"
}

run() {
    local name=$1 mem=$2 limit=$3 accel rc=0; shift 3
    prepare "$name"
    accel=(-accel tcg,thread=multi -cpu max)
    # Paravirtual /dev/kvm (kvm_pvm) cannot run stock kernels: only use KVM
    # when a hardware KVM module is loaded.
    case ${NT_VM_ACCEL:-auto} in
        kvm) accel=(-accel kvm -cpu host) ;;
        auto) [[ -w /dev/kvm && ( -d /sys/module/kvm_intel || -d /sys/module/kvm_amd ) ]] &&
                  accel=(-accel kvm -cpu host) ;;
    esac
    TMP=$(mktemp -d /tmp/vmtest.XXXXXX)
    write_run_sh "$TMP" "$@"
    timeout --foreground -k 5 "$limit" qemu-system-x86_64 "${accel[@]}" -smp 2 -m "$mem" \
        -nographic -no-reboot -nic none -pidfile "$TMP/qemu.pid" \
        -kernel "$KDIR/vmlinux" -initrd "$INITRD" \
        -append "console=ttyS0 loglevel=${NT_VM_LOGLEVEL:-1} panic=-1" \
        -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
        -fsdev "local,id=out,path=$TMP,security_model=none" \
        -device virtio-9p-pci,fsdev=out,mount_tag=out </dev/null |
    # Keep the whole console for diagnosis, print only what CMD wrote.
    awk -v logf="$TMP/console.log" -v B="$BEGIN_MARK" -v E="$END_MARK" '
        { print > logf; fflush(logf); sub(/\r$/, "") }
        on && (i = index($0, E)) { printf "%s", substr($0, 1, i - 1); on = 0; next }
        on { print; fflush() }
        $0 == B { on = 1 }' &
    local console_reader=$!
    # A guest that stalls before CMD (seen once under TCG, both vCPUs busy) would
    # otherwise hold the whole --timeout; stop it early so the caller may retry.
    watch_boot "${NT_VM_BOOT_TIMEOUT:-180}" &
    local watchdog=$!
    wait $console_reader || rc=$?    # in the background so that INT/TERM traps run at once
    kill $watchdog 2>/dev/null || true; wait $watchdog 2>/dev/null || true
    if [[ -s $TMP/status ]]; then
        return "$(<"$TMP/status")"
    fi
    if [[ -e $TMP/no-boot ]]; then
        echo "vmtest: the guest did not start CMD within ${NT_VM_BOOT_TIMEOUT:-180}s; console tail:" >&2
        rc=125
    elif [[ $rc == 124 ]]; then
        echo "vmtest: timed out after ${limit}s; console tail:" >&2
    else
        echo "vmtest: guest reported no exit status; console tail:" >&2
        rc=125
    fi
    tail -n 25 "$TMP/console.log" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g; s/\r//g' >&2
    return "$rc"
}

# Kills QEMU when the guest has not reached CMD after $1 seconds.
watch_boot() {
    local deadline=$((SECONDS + $1))
    while ((SECONDS < deadline)); do
        [[ -e $TMP/started ]] && return 0
        sleep 2
    done
    touch "$TMP/no-boot"
    [[ -s $TMP/qemu.pid ]] && kill "$(<"$TMP/qemu.pid")" 2>/dev/null
    return 0
}

cleanup() {
    [[ -n ${TMP:-} ]] || return 0
    [[ -s $TMP/qemu.pid ]] && { kill "$(<"$TMP/qemu.pid")" 2>/dev/null || true; }
    wait    # for the console reader, which still writes into $TMP
    rm -rf "$TMP"
}

main() {
    case ${1:-} in
        --list)
            for k in 6.1 6.12 5.10; do
                printf '%-5s %-9s %s\n' "$k" "$(kernel_spec "$k" | cut -d' ' -f2)" \
                    "$(readlink "$CACHE/$k" 2>/dev/null || echo '(not fetched)')"
            done
            return 0 ;;
        --fetch) [[ $# == 2 ]] || usage; kernel_spec "$2" >/dev/null ;;
        ''|-*) usage ;;
        *) kernel_spec "$1" >/dev/null ;;
    esac
    [[ $EUID == 0 ]] || die "must run as root (QEMU shares / with root's permissions)"
    mkdir -p "$CACHE"
    ensure_host_tools
    local name mem=2G limit=600
    if [[ $1 == --fetch ]]; then
        exec 9>"$CACHE/.lock"; flock 9; fetch "$2"; prepare "$2"; return 0
    fi
    name=$1; shift
    while [[ $# -gt 0 && $1 != -- ]]; do
        case $1 in
            --mem) mem=$2; shift 2 ;;
            --timeout) limit=$2; shift 2 ;;
            *) usage ;;
        esac
    done
    [[ ${1:-} == -- && $# -ge 2 ]] || usage
    shift
    trap cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM
    run "$name" "$mem" "$limit" "$@"
}

main "$@"
