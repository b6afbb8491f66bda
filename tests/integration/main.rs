//! Integration tests: the real binary, real HTTP, real storage.

mod common;

mod archive;
mod backup;

mod concurrency;
mod documents;
mod encryption;
mod durability;
mod hostile;
mod memory;
mod parity;
mod people;
mod permissions;
mod routing;
mod s3;
mod search;
mod traces;
mod verify;
