//! Release builds abort on panic, so nothing ever unwinds; yet std, built to unwind,
//! still refers to the unwinder, and that alone made every run load a second shared
//! library, libgcc_s: an extra open and four mappings that cost about 0.2× the time of
//! `/bin/true` on each exec credential call (README, Benchmarks). These definitions
//! satisfy std's references inside the executable, so the linker (`--as-needed`) leaves
//! libgcc_s out. (Linking libgcc's static unwinder instead would tie the binary to
//! glibc 2.35 when built with GCC 12 or newer: it calls `_dl_find_object`.)
//!
//! Nothing calls the unwinding entry points under `panic = "abort"`; should anything
//! ever do, the process aborts. A backtrace (`RUST_BACKTRACE`, anyhow) comes out empty.

use std::ffi::{c_int, c_void};

macro_rules! never_called {
    ($($name:ident),* $(,)?) => {
        $(
            #[unsafe(no_mangle)]
            extern "C" fn $name() -> ! {
                std::process::abort()
            }
        )*
    };
}

never_called!(
    _Unwind_Resume,
    _Unwind_RaiseException,
    _Unwind_DeleteException,
    _Unwind_GetIP,
    _Unwind_GetIPInfo,
    _Unwind_SetIP,
    _Unwind_SetGR,
    _Unwind_GetCFA,
    _Unwind_GetLanguageSpecificData,
    _Unwind_GetRegionStart,
    _Unwind_GetTextRelBase,
    _Unwind_GetDataRelBase,
    _Unwind_FindEnclosingFunction,
);

/// `_URC_END_OF_STACK`: the walk is over before its first frame.
const END_OF_STACK: c_int = 5;

#[unsafe(no_mangle)]
extern "C" fn _Unwind_Backtrace(_trace: *mut c_void, _arg: *mut c_void) -> c_int {
    END_OF_STACK
}
