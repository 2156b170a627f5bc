//! The structs a host hands in that begin with `struct_size` (`ws_config`, `ws_connect_options`):
//! which sizes each accepts, and the reader that checks a struct against them before reading it.
//!
//! Fields are only ever appended, so every released version of a struct is a prefix of today's,
//! and the fields past an older version's size read as zero, their default. A size that is not
//! one of a released version is refused: it ends inside a field (12 would read half of the `url`
//! pointer), or it is larger than this library knows. Larger is refused rather than read as
//! "newer header, extra fields" (as Linux's `copy_struct_from_user` accepts when the extra bytes
//! are zero): an uninitialised struct has a garbage size, and reading that many bytes could
//! fault; and a host built against a newer header wants fields this library would ignore.

use std::mem::{offset_of, size_of, MaybeUninit};

use super::types::{ws_config, ws_connect_options, ws_dispatcher_options};
use crate::error::{Code, Failure};

/// A `#[repr(C)]` struct whose first field is `struct_size: u32` and for which all-zero bytes are
/// a valid value (the defaults).
///
/// # Safety
///
/// `read_sized` and `zeroed` rely on both: implement it only for such a struct (fields that are
/// integers, bools, raw pointers and `Option`s of function pointers).
pub unsafe trait Versioned: Sized {
    /// The C name, for the errMsg.
    const NAME: &'static str;
    /// `sizeof` of every released version, oldest first; the last is today's. When a field is
    /// appended, keep the old layout as a frozen private copy and add its `size_of` before today's
    /// (and place the new field at or past the old size: bytes inside the old size, its padding
    /// included, are copied as the host left them).
    const SIZES: &'static [usize];

    /// How many bytes of a struct of released size `size` to read: all of them, unless a newer
    /// version's first field starts inside that size's tail padding (then only up to that field,
    /// so the host's padding bytes are not read as the new field).
    fn read_len(size: usize) -> usize {
        size
    }
}

// SAFETY: #[repr(C)], `struct_size: u32` first, and only integers, bools, raw pointers and
// optional function pointers, all valid as zero.
unsafe impl Versioned for ws_config {
    const NAME: &'static str = "ws_config";
    /// The first layout ended with `dangerous_skip_certificate_verification`; the second appended
    /// `connection_attempt_delay_ms` and the resolver.
    /// `connection_attempt_delay_ms` (a u32) starts inside the first layout's tail padding, so
    /// that layout is read only up to it. (`resolver` makes the struct longer.)
    /// The third appended the trust options (`certificate_pins` on).
    const SIZES: &'static [usize] =
        &[FIRST_CONFIG_SIZE, offset_of!(ws_config, certificate_pins), size_of::<ws_config>()];

    fn read_len(size: usize) -> usize {
        if size == FIRST_CONFIG_SIZE {
            offset_of!(ws_config, connection_attempt_delay_ms)
        } else {
            size
        }
    }
}

/// `sizeof(ws_config)` of the first layout: every field up to the last bool, padded to the
/// pointer size (56 bytes on 64-bit targets).
const FIRST_CONFIG_SIZE: usize = (offset_of!(ws_config, dangerous_skip_certificate_verification) + 1)
    .next_multiple_of(std::mem::align_of::<*const u8>());

// SAFETY: as for ws_config.
unsafe impl Versioned for ws_connect_options {
    const NAME: &'static str = "ws_connect_options";
    /// The first layout ended with `per_message_deflate` (144 bytes on 64-bit targets); the
    /// second appended `dispatcher`, which starts exactly at the old size; the third `addresses`
    /// and `address_count`; the fourth the trust options (`certificate_pins` on).
    const SIZES: &'static [usize] = &[
        offset_of!(ws_connect_options, dispatcher),
        offset_of!(ws_connect_options, addresses),
        offset_of!(ws_connect_options, certificate_pins),
        size_of::<ws_connect_options>(),
    ];
}

// SAFETY: as for ws_config.
unsafe impl Versioned for ws_dispatcher_options {
    const NAME: &'static str = "ws_dispatcher_options";
    const SIZES: &'static [usize] = &[size_of::<ws_dispatcher_options>()];
}

/// The all-zero value: every field at its default.
pub fn zeroed<T: Versioned>() -> T {
    // SAFETY: all-zero bytes are a valid `T` (the trait's contract).
    unsafe { MaybeUninit::<T>::zeroed().assume_init() }
}

/// The `struct_size` the caller wrote.
///
/// # Safety
///
/// `ptr` is non-NULL and points to at least 4 readable bytes.
pub unsafe fn declared_size<T: Versioned>(ptr: *const T) -> usize {
    // SAFETY: 4 readable bytes at `ptr` (the contract); `struct_size: u32` is the first field of
    // every Versioned struct, read unaligned since only the bytes are vouched for.
    unsafe { (ptr as *const u32).read_unaligned() as usize }
}

/// Checks a `struct_size` against the released sizes of `T`.
pub fn check_size<T: Versioned>(size: usize) -> Result<(), Failure> {
    if T::SIZES.contains(&size) {
        return Ok(());
    }
    let current = T::SIZES[T::SIZES.len() - 1];
    let why = if size == 0 {
        "unset".to_string()
    } else if size > current {
        format!(
            "larger than the {} bytes of libws {}: the header is newer than the library",
            current,
            env!("CARGO_PKG_VERSION")
        )
    } else {
        format!("not the size of any version of the struct ({} in libws {})", current, env!("CARGO_PKG_VERSION"))
    };
    Err(Failure::new(
        Code::InvalidArgument,
        format!("{}.struct_size is {}, {}: fill the struct with {}_init", T::NAME, size, why, T::NAME),
    ))
}

/// Reads a caller's struct once its `struct_size` checks out; fields past it (an older header)
/// stay zero, their default.
///
/// # Safety
///
/// `ptr` is non-NULL and points to at least `struct_size` readable bytes (at least 4).
pub unsafe fn read_sized<T: Versioned>(ptr: *const T) -> Result<T, Failure> {
    // SAFETY: `ptr` is non-NULL with at least 4 readable bytes (the contract).
    let size = unsafe { declared_size(ptr) };
    check_size::<T>(size)?;
    let mut value = MaybeUninit::<T>::zeroed();
    // SAFETY: `size` is the caller's `struct_size`, so that many bytes are readable at `ptr`, and we
    // copy at most that many and at most `size_of::<T>()` into our own value; the two do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            ptr as *const u8,
            value.as_mut_ptr() as *mut u8,
            T::read_len(size).min(size_of::<T>()),
        )
    };
    // SAFETY: all-zero bytes are a valid `T` (the Versioned contract), and the bytes copied over
    // them are the host's own struct of a released layout, fields of the same C types.
    Ok(unsafe { value.assume_init() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two released versions: 8 bytes, then `b` appended.
    #[repr(C)]
    struct Grown {
        struct_size: u32,
        a: u32,
        b: u64,
    }

    // SAFETY: #[repr(C)], `struct_size: u32` first, integers only.
    unsafe impl Versioned for Grown {
        const NAME: &'static str = "grown";
        const SIZES: &'static [usize] = &[8, 16];
    }

    #[test]
    fn older_versions_read_with_zero_new_fields() {
        let old = Grown { struct_size: 8, a: 7, b: 99 };
        let got = unsafe { read_sized(&old) }.unwrap_or_else(|f| panic!("{}", f.detail));
        assert_eq!((got.a, got.b), (7, 0), "fields past struct_size read as zero");
        let new = Grown { struct_size: 16, ..old };
        assert_eq!(unsafe { read_sized(&new) }.map(|g| g.b).ok(), Some(99));
    }

    #[test]
    fn only_released_sizes_are_accepted() {
        for size in [0, 3, 4, 12, 15, 17, 24, u32::MAX] {
            let g = Grown { struct_size: size, a: 0, b: 0 };
            let f = unsafe { read_sized(&g) }.err().unwrap_or_else(|| panic!("size {} accepted", size));
            assert_eq!(f.code, Code::InvalidArgument);
            assert!(f.detail.starts_with(&format!("grown.struct_size is {}, ", size)), "{}", f.detail);
        }
        assert!(check_size::<Grown>(17).unwrap_err().detail.contains("newer than the library"));
        assert!(check_size::<Grown>(12).unwrap_err().detail.contains("not the size of any version"));
        assert!(check_size::<Grown>(0).unwrap_err().detail.contains("unset"));
    }

    #[test]
    fn an_old_config_padding_is_not_read_as_the_new_field() {
        let mut bytes = [0xffu8; size_of::<ws_config>()];
        bytes[..4].copy_from_slice(&(FIRST_CONFIG_SIZE as u32).to_ne_bytes());
        let got = unsafe { read_sized(bytes.as_ptr() as *const ws_config) }.unwrap_or_else(|f| panic!("{}", f.detail));
        assert_eq!(got.connection_attempt_delay_ms, 0, "the old layout's padding stays unread");
    }

    #[test]
    fn todays_sizes_are_the_released_ones() {
        assert_eq!(ws_config::SIZES.first(), Some(&FIRST_CONFIG_SIZE));
        assert_eq!(ws_config::SIZES.last(), Some(&size_of::<ws_config>()));
        #[cfg(target_pointer_width = "64")]
        assert_eq!(FIRST_CONFIG_SIZE, 56, "the size libws 0.1.0 shipped");
        assert_eq!(ws_connect_options::SIZES.last(), Some(&size_of::<ws_connect_options>()));
        // The first layout: every field up to per_message_deflate, padded to the pointer size.
        let first = offset_of!(ws_connect_options, per_message_deflate) + 1;
        let first = first.next_multiple_of(std::mem::align_of::<*const u8>());
        let second = offset_of!(ws_connect_options, dispatcher) + size_of::<*mut u8>();
        let third = offset_of!(ws_connect_options, certificate_pins);
        assert_eq!(ws_connect_options::SIZES, &[first, second, third, size_of::<ws_connect_options>()]);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(first, 144, "the size libws 0.1.0 shipped");
        assert!(check_size::<ws_connect_options>(12).is_err());
        assert!(check_size::<ws_connect_options>(size_of::<ws_connect_options>()).is_ok());
    }
}
