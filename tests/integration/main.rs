//! Integration tests: the real binary, real HTTP, real storage, real outside programs.
//!
//! archive (bagit.py validates packages, import round trip, tampering, numbering, disposal),
//! backup (moto S3: incremental, restore), concurrency (races on one head), desk (the web
//! pages in headless Chromium through WebDriver: every journey of a working day), documents,
//! durability (kill -9), encryption (nothing in clear at rest, tampering, rotation,
//! shredding), extraction (scans rendered here read by tesseract, PDFs by
//! poppler, OFD, Word: error rates, search, duplicates, restarts, hostile files), hostile (random and malformed requests), memory (1 GiB in bounded memory),
//! parity (list, search and direct reads agree for every reader), people, permissions (the
//! department and clearance matrix), routing (both template flows, every action, live
//! events), s3 (the store suite on moto), search (recall, permissions, freshness, rebuild),
//! traces (three reviewers, .docx opened by LibreOffice), verify.

mod common;
#[path = "../support/scans.rs"]
mod scans;

mod archive;
mod backup;
mod concurrency;
mod desk;
mod documents;
mod durability;
mod encryption;
mod extraction;
mod faults;
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
mod webdriver;
