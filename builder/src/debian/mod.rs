//! strata's pinned Debian package set, one concern a file:
//!
//! - [`version`]: Debian version numbers and their order;
//! - [`relation`]: `Depends`/`Pre-Depends`/`Provides` relation parsing;
//! - [`deb822`]: the one deb822 reader (indexes, `.sources` files, a `.deb`'s `./control`);
//! - [`index`]: a `Packages` index and the packages of one architecture;
//! - [`resolve`]: the dependency resolver;
//! - [`digest`]: the suite reduced to what builds need, every dependency chosen;
//! - [`lock`]: the `strata.lock` format;
//! - [`apt_sources`]: reading the host's apt sources;
//! - [`mirror`]: the one rule for the archive's address;
//! - [`archive`]: fetching the index and the `.deb`s from the archive;
//! - [`unpack`]: unpacking a `.deb` without dpkg.
//!
//! Only [`archive`] touches the network; only [`unpack`] writes files.

pub mod apt_sources;
pub mod archive;
pub mod deb822;
pub mod digest;
pub mod index;
pub mod lock;
pub mod mirror;
pub mod relation;
pub mod resolve;
pub mod unpack;
pub mod version;
