//! The seccomp filters: the system calls a sandboxed command is refused.
//!
//! Refused with `EPERM`: debugging other processes (ptrace, process_vm_*, pidfd_getfd),
//! mounting in any form (old and new mount API), changing root, namespaces (setns, unshare,
//! clone with a namespace flag), kernel keyrings, BPF, perf events, modules, kexec,
//! open_by_handle_at, userfaultfd, io_uring (its requests bypass this filter), the kernel log,
//! pushing input into a terminal (TIOCSTI, TIOCLINUX), and making a set-user-ID or
//! set-group-ID file (chmod, open/creat/mknod with those mode bits) that would outlive the
//! sandbox. `clone3` and `openat2` answer `ENOSYS` (their flags sit in memory a filter cannot
//! read), so the C library falls back to `clone` and `openat`, which the filter can check.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition as Cond, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

/// Namespace flags `clone` may not carry.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    0x80, // CLONE_NEWTIME
];

/// Refused whatever their arguments.
const REFUSED: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_setns,
    libc::SYS_unshare,
    libc::SYS_bpf,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_perf_event_open,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_open_by_handle_at,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_syslog,
    libc::SYS_acct,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
];

const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;
const O_TMPFILE_BIT: u64 = 0o20_000_000;
const SETID_BITS: [u64; 2] = [libc::S_ISUID as u64, libc::S_ISGID as u64];

fn cond(arg: u8, len: Len, op: Op, value: u64) -> Result<Cond, seccompiler::BackendError> {
    Cond::new(arg, len, op, value)
}

/// `mode` (argument `mode_arg`) carries a set-id bit.
fn setid_rules(mode_arg: u8) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    SETID_BITS.iter().map(|&bit| SeccompRule::new(vec![cond(mode_arg, Len::Dword, Op::MaskedEq(bit), bit)?])).collect()
}

/// A file is created (`O_CREAT` or `O_TMPFILE` in `flags_arg`) with a set-id bit in `mode_arg`.
fn create_setid_rules(flags_arg: u8, mode_arg: u8) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    let mut rules = Vec::new();
    for create in [libc::O_CREAT as u64, O_TMPFILE_BIT] {
        for bit in SETID_BITS {
            rules.push(SeccompRule::new(vec![
                cond(flags_arg, Len::Dword, Op::MaskedEq(create), create)?,
                cond(mode_arg, Len::Dword, Op::MaskedEq(bit), bit)?,
            ])?);
        }
    }
    Ok(rules)
}

fn refused_rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, seccompiler::BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = REFUSED.iter().map(|&nr| (nr, Vec::new())).collect();
    let clone = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let flag = flag as u64;
            SeccompRule::new(vec![cond(0, Len::Qword, Op::MaskedEq(flag), flag)?])
        })
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone);
    rules.insert(
        libc::SYS_ioctl,
        vec![
            SeccompRule::new(vec![cond(1, Len::Dword, Op::Eq, TIOCSTI)?])?,
            SeccompRule::new(vec![cond(1, Len::Dword, Op::Eq, TIOCLINUX)?])?,
        ],
    );
    rules.insert(libc::SYS_chmod, setid_rules(1)?);
    rules.insert(libc::SYS_fchmod, setid_rules(1)?);
    rules.insert(libc::SYS_fchmodat, setid_rules(2)?);
    rules.insert(452, setid_rules(2)?); // fchmodat2
    rules.insert(libc::SYS_creat, setid_rules(1)?);
    rules.insert(libc::SYS_mknod, setid_rules(1)?);
    rules.insert(libc::SYS_mknodat, setid_rules(2)?);
    rules.insert(libc::SYS_open, create_setid_rules(1, 2)?);
    rules.insert(libc::SYS_openat, create_setid_rules(2, 3)?);
    Ok(rules)
}

/// The filters to install, in order.
pub fn filters() -> Result<Vec<BpfProgram>, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| format!("seccomp: {e}"))?;
    let refused = refused_rules().map_err(|e| format!("seccomp rules: {e}"))?;
    let eperm = SeccompFilter::new(refused, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(|e| format!("seccomp filter: {e}"))?;
    let enosys_rules: BTreeMap<i64, Vec<SeccompRule>> =
        [(libc::SYS_clone3, Vec::new()), (libc::SYS_openat2, Vec::new())].into_iter().collect();
    let enosys =
        SeccompFilter::new(enosys_rules, SeccompAction::Allow, SeccompAction::Errno(libc::ENOSYS as u32), arch)
            .map_err(|e| format!("seccomp filter: {e}"))?;
    let mut programs = vec![
        BpfProgram::try_from(eperm).map_err(|e| format!("seccomp program: {e}"))?,
        BpfProgram::try_from(enosys).map_err(|e| format!("seccomp program: {e}"))?,
    ];
    if cfg!(target_arch = "x86_64") {
        programs.push(no_x32());
    }
    Ok(programs)
}

/// x32 system calls share the x86-64 architecture value but number from 0x40000000, where the
/// filters above look at no number: refuse them all.
fn no_x32() -> BpfProgram {
    const LD_W_ABS: u16 = 0x20;
    const JGE_K: u16 = 0x05 | 0x30;
    const RET_K: u16 = 0x06;
    const X32_BASE: u32 = 0x4000_0000;
    let errno = 0x0005_0000 | (libc::ENOSYS as u32 & 0xffff); // SECCOMP_RET_ERRNO
    let allow = 0x7fff_0000; // SECCOMP_RET_ALLOW
    vec![
        sock_filter { code: LD_W_ABS, jt: 0, jf: 0, k: 0 }, // seccomp_data.nr
        sock_filter { code: JGE_K, jt: 0, jf: 1, k: X32_BASE },
        sock_filter { code: RET_K, jt: 0, jf: 0, k: errno },
        sock_filter { code: RET_K, jt: 0, jf: 0, k: allow },
    ]
}

/// Installs the filters on the calling thread (sets no_new_privs first).
pub fn install(programs: &[BpfProgram]) -> Result<(), String> {
    for program in programs {
        seccompiler::apply_filter(program).map_err(|e| format!("install the seccomp filter: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_filters_compile_for_this_machine() {
        let programs = super::filters().unwrap();
        assert!(programs.len() >= 2);
        assert!(programs.iter().all(|p| !p.is_empty() && p.len() < 4096));
    }
}
